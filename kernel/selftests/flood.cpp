// SPDX-License-Identifier: Apache-2.0
// An unprivileged flood of the ring buffer (issue #14, item 9). Four loops
// run by an unprivileged user create new files and exec them (each one a new
// measurement, denied in enforce mode); once the flood has filled the buffer
// past half, another unprivileged user runs 10 and root 50 listed programs
// neither has run before. All their execs must succeed: past half the buffer
// each user gets at most an eighth, and the last quarter is root's.
// The consumer does not drain at all meanwhile (a stuck vouchd).
// Every flood exec is either delivered or counted as lost. And a loop of
// execs of one denied file is reported once, not once per try.
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

#include "lib/digest.h"
#include "vouchd/kernel_side.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"

using namespace vouch;
using namespace vouch::selftest;

namespace {

constexpr uid_t kNobody = 65534, kUser = 1000;
constexpr int kLoops = 4, kTries = 250, kRootPrograms = 50, kUserPrograms = 10;

std::string slurp(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// As kNobody: `tries` times, write a new file and exec it. Returns how many
// execs were attempted.
int flood_loop(const std::string &dir, int loop, const std::string &bytes, int tries) {
    if (setresgid(kNobody, kNobody, kNobody) || setresuid(kNobody, kNobody, kNobody))
        return 0;
    int n = 0;
    for (int i = 0; i < tries; ++i) {
        std::string f = dir + "/f" + std::to_string(loop) + "-" + std::to_string(i);
        int fd = open(f.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
        if (fd < 0 || write(fd, bytes.data(), bytes.size()) != (ssize_t)bytes.size())
            break;
        close(fd);
        char *argv[] = {f.data(), nullptr};
        char *envp[] = {nullptr};
        pid_t pid;
        if (posix_spawn(&pid, f.c_str(), nullptr, nullptr, argv, envp) == 0)
            waitpid(pid, nullptr, 0);
        ++n; // posix_spawn's exec failure (EPERM) is the expected outcome
        unlink(f.c_str());
    }
    return n;
}

} // namespace

int main() {
    Tap t("flood", 6);
    KernelSideOptions o;
    // A quarter of it holds all of root's 50 measurements, an eighth the
    // other user's 10, with none consumed.
    o.ringbuf_bytes = 1024 * 1024;
    auto loaded = KernelSide::load(o);
    if (!loaded)
        t.bail(loaded.error().message);
    KernelSide &ks = **loaded;

    TempDir dir;
    chmod(dir.path().c_str(), 0755);
    const std::string flood_dir = dir.file("flood");
    if (mkdir(flood_dir.c_str(), 0777) || chmod(flood_dir.c_str(), 01777))
        t.bail("mkdir " + flood_dir);
    std::vector<std::string> programs;
    std::vector<vouch_digest> listed;
    for (int i = 0; i < kRootPrograms; ++i) {
        programs.push_back(dir.file("root" + std::to_string(i)));
        if (!copy_file(helper("true"), programs.back(), "flood root " + std::to_string(i)))
            t.bail("cannot create test files");
        listed.push_back(digest_of(t, programs.back()));
    }
    std::vector<std::string> user_programs;
    for (int i = 0; i < kUserPrograms; ++i) {
        user_programs.push_back(dir.file("user" + std::to_string(i)));
        if (!copy_file(helper("true"), user_programs.back(), "flood user " + std::to_string(i)))
            t.bail("cannot create test files");
        listed.push_back(digest_of(t, user_programs.back()));
    }
    const std::string unlisted = dir.file("unlisted");
    if (!copy_file(helper("true"), unlisted, "flood unlisted"))
        t.bail("cannot create test files");
    const std::string bytes = slurp(unlisted);
    if (auto s = ks.set_policy(listed, VOUCH_MODE_ENFORCE); !s)
        t.bail(s.error().message);

    // The consumer stands still during the flood, as a vouchd that is stuck
    // or stopped: the flood must not take the room root's measurements need
    // however slowly they are drained.
    std::atomic<uint64_t> from_nobody{0}, repeated{0};
    std::atomic<bool> stop{false}, paused{true};
    if (auto r = ks.start_events([&](const vouch_event &e) {
            if (e.uid == kNobody)
                ++from_nobody;
            if (std::string(e.path) == unlisted)
                ++repeated;
        });
        !r)
        t.bail(r.error().message);
    std::thread consumer([&] {
        while (!stop) {
            if (paused)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            else
                (void)ks.poll(20);
        }
    });

    auto before = ks.stats();
    int p[2];
    if (pipe(p))
        t.bail("pipe");
    std::vector<pid_t> loops;
    for (int l = 0; l < kLoops; ++l) {
        pid_t pid = fork();
        if (pid == 0) {
            int n = flood_loop(flood_dir, l, bytes, kTries);
            (void)!write(p[1], &n, sizeof(n));
            _exit(0);
        }
        loops.push_back(pid);
    }
    close(p[1]);
    // Only once the flood is being dropped is the buffer past half full.
    for (int i = 0; i < 600; ++i) {
        auto s = ks.stats();
        if (s && before && s->ringbuf_drops > before->ringbuf_drops)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    auto crowded = ks.stats();
    const bool was_crowded = crowded && before && crowded->ringbuf_drops > before->ringbuf_drops;
    int q[2];
    if (pipe(q))
        t.bail("pipe");
    pid_t user = fork();
    if (user == 0) {
        int denied = kUserPrograms;
        if (setresgid(kUser, kUser, kUser) == 0 && setresuid(kUser, kUser, kUser) == 0) {
            denied = 0;
            for (const auto &prog : user_programs)
                denied += exit_status(run({prog})) != 0;
        }
        (void)!write(q[1], &denied, sizeof(denied));
        _exit(0);
    }
    close(q[1]);
    int user_denied = kUserPrograms;
    if (read(q[0], &user_denied, sizeof(user_denied)) != sizeof(user_denied))
        user_denied = kUserPrograms;
    close(q[0]);
    waitpid(user, nullptr, 0);
    int root_denied = 0;
    for (const auto &prog : programs)
        root_denied += exit_status(run({prog})) != 0;
    int attempts = 0;
    for (pid_t pid : loops) {
        int n = 0;
        if (read(p[0], &n, sizeof(n)) == sizeof(n))
            attempts += n;
        waitpid(pid, nullptr, 0);
    }
    close(p[0]);
    // Now drain what is queued.
    paused = false;
    std::this_thread::sleep_for(std::chrono::seconds(3));
    auto after = ks.stats();
    if (!before || !after)
        t.bail("cannot read the kernel side's counters");
    const uint64_t drops = after->ringbuf_drops - before->ringbuf_drops;

    bool root_ok = root_denied == 0;
    if (t.broken())
        root_ok = !root_ok;
    t.ok(was_crowded && user_denied == 0,
         "another user's %d new, listed programs all ran while the flood was being dropped "
         "(%d denied)",
         kUserPrograms, user_denied);
    t.ok(root_ok, "root's %d new, listed programs all ran during the flood (%d denied)",
         kRootPrograms, root_denied);
    t.ok(drops > 0, "the flood did fill the buffer: %llu of its %d measurements dropped",
         (unsigned long long)drops, attempts);
    t.ok(attempts == kLoops * kTries && from_nobody + drops == (uint64_t)attempts,
         "every flood exec is accounted for: %llu delivered + %llu counted lost = %d tries",
         (unsigned long long)from_nobody.load(), (unsigned long long)drops, attempts);

    // One denied file, 100 times, by the unprivileged user.
    before = ks.stats();
    pid_t pid = fork();
    if (pid == 0) {
        if (setresgid(kNobody, kNobody, kNobody) || setresuid(kNobody, kNobody, kNobody))
            _exit(1);
        for (int i = 0; i < 100; ++i)
            (void)run({unlisted});
        _exit(0);
    }
    waitpid(pid, nullptr, 0);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    after = ks.stats();
    stop = true;
    consumer.join();
    if (!before || !after)
        t.bail("cannot read the kernel side's counters");
    t.ok(repeated == 1, "100 execs of one denied file: reported once (%llu events)",
         (unsigned long long)repeated.load());
    t.ok(after->denied - before->denied >= 100, "and each denial counted (%llu)",
         (unsigned long long)(after->denied - before->denied));

    if (auto s = ks.clear_policy(); !s)
        t.bail(s.error().message);
    return t.finish();
}
