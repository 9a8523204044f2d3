// SPDX-License-Identifier: Apache-2.0
// vouchd logs a file under the name the kernel's IMA gives it (ima_d_path():
// d_absolute_path(), else the file's name alone), byte for byte IMA's entry
// for the same exec: the path from the root of the file's mount namespace
// for a program run in a chroot or after pivot_root (not the path seen from
// the process's root), no " (deleted)" for an unlinked file, and the bare
// name for a memfd and for a file on a lazily unmounted mount.
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

#include "lib/digest.h"
#include "lib/ima_log.h"
#include "lib/measurement_log.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"
#include "kernel/selftests/lib/vouchd.h"

using namespace vouch;
using namespace vouch::selftest;

namespace {

const std::string kPins = "/sys/fs/bpf/vouch-path";
const std::string kLogDir = "/run/vouch-path";
const std::string kKernelLog = "/sys/kernel/security/ima/binary_runtime_measurements";

std::vector<ima::Entry> read_log(const std::string &path) {
    auto e = read_binary_log(path);
    return e ? *e : std::vector<ima::Entry>{};
}

const ima::Entry *find_digest(const std::vector<ima::Entry> &log, const Sha256 &d) {
    for (const auto &e : log)
        if (e.file_digest == std::vector<uint8_t>(d.begin(), d.end()))
            return &e;
    return nullptr;
}

std::string read_bytes(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A program with content of its own (so both logs have a new entry for it)
// at `path`; returns its SHA-256.
Sha256 make_prog(Tap &t, const std::string &path, const std::string &salt) {
    if (!copy_file(helper("true"), path, "vouchd_path " + salt + " " + std::to_string(getpid())))
        t.bail("cannot create " + path);
    auto d = sha256_file(path);
    if (!d)
        t.bail(d.error().message);
    return *d;
}

bool mkdirs(const std::string &path) {
    for (size_t i = 1; i <= path.size(); ++i)
        if ((i == path.size() || path[i] == '/') && mkdir(path.substr(0, i).c_str(), 0755) &&
            errno != EEXIST)
            return false;
    return true;
}

// In a new mount namespace: a tmpfs on `ct` holding bin/prog (`bytes`), made
// the root by pivot_root from /tmp's mount, then bin/prog run from there.
// Returns (with errno) only when a step fails.
void pivot_and_exec(const std::string &ct, const std::string &bytes) {
    std::string in_tmp = ct.substr(std::string("/tmp").size());
    if (unshare(CLONE_NEWNS) || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) ||
        mount("tmpfs", ct.c_str(), "tmpfs", 0, nullptr) || !mkdirs(ct + "/bin") ||
        !mkdirs(ct + "/old"))
        return;
    {
        std::ofstream out(ct + "/bin/prog", std::ios::binary);
        if (!(out << bytes).flush())
            return;
    }
    if (chmod((ct + "/bin/prog").c_str(), 0755) || chroot("/tmp") || chdir("/") ||
        syscall(SYS_pivot_root, in_tmp.c_str(), (in_tmp + "/old").c_str()) || chdir("/") ||
        umount2("/old", MNT_DETACH))
        return;
    execl("/bin/prog", "prog", (char *)nullptr);
}

} // namespace

int main() {
    Tap t("vouchd_path", 7);
    (void)vouch::unpin(kPins);
    if (std::string why = ima_measure_execs(); !why.empty())
        t.bail(why);
    TempDir dir;
    Vouchd d({"--no-bus", "--no-tpm", "--pin-dir", kPins, "--log-dir", kLogDir, "--policy", ""});
    if (!t.ok(d.start({}), "vouchd starts")) {
        t.diag("%s", d.output().c_str());
        t.bail("vouchd did not start");
    }

    struct Case {
        std::string what, want; // what IMA logs
        Sha256 digest;
        ExecResult r;
    };
    std::vector<Case> cases;

    // Control: what bpf_d_path already gave right.
    std::string plain = dir.file("plain");
    Sha256 dg = make_prog(t, plain, "plain");
    cases.push_back({"a program outside any chroot", plain, dg, run({plain})});

    // chroot: IMA ignores the process's root.
    std::string croot = dir.file("chroot");
    if (!mkdirs(croot + "/bin"))
        t.bail("mkdir " + croot);
    dg = make_prog(t, croot + "/bin/prog", "chroot");
    cases.push_back({"a program run in a chroot", croot + "/bin/prog", dg, spawn([&] {
                         if (chroot(croot.c_str()) == 0 && chdir("/") == 0)
                             execl("/bin/prog", "prog", (char *)nullptr);
                     })});

    // pivot_root in a new mount namespace onto a tmpfs that only that
    // namespace has. The root it pivots from is /tmp's mount (pivot_root
    // needs a root that is mounted on something; the initramfs is not), so
    // the new root takes /tmp's place: IMA logs /tmp/bin/prog, the process
    // sees /bin/prog.
    std::string src = dir.file("pivot-src"), ct = dir.file("ct");
    dg = make_prog(t, src, "pivot");
    if (!mkdirs(ct))
        t.bail("mkdir " + ct);
    cases.push_back({"a program run after pivot_root in a mount namespace", "/tmp/bin/prog", dg,
                     spawn([&] { pivot_and_exec(ct, read_bytes(src)); })});

    // Unlinked before it runs: d_path would add " (deleted)", IMA does not.
    std::string gone = dir.file("unlinked");
    dg = make_prog(t, gone, "unlinked");
    int gone_fd = open(gone.c_str(), O_RDONLY | O_CLOEXEC);
    unlink(gone.c_str());
    cases.push_back({"an unlinked program (fexecve)", gone, dg, spawn([&] {
                         char *argv[] = {const_cast<char *>("unlinked"), nullptr};
                         char *envp[] = {nullptr};
                         fexecve(gone_fd, argv, envp);
                     })});
    close(gone_fd);

    // A memfd has no absolute path (its dentry is its own parent): the name.
    std::string mem_src = dir.file("memfd-src");
    dg = make_prog(t, mem_src, "memfd");
    cases.push_back({"a memfd (fexecve)", "memfd:vouch-path", dg, spawn([&] {
                         std::string bytes = read_bytes(mem_src);
                         int m = memfd_create("vouch-path", MFD_CLOEXEC);
                         if (m < 0 || write(m, bytes.data(), bytes.size()) !=
                                          static_cast<ssize_t>(bytes.size()))
                             return;
                         char *argv[] = {const_cast<char *>("memfd"), nullptr};
                         char *envp[] = {nullptr};
                         fexecve(m, argv, envp);
                     })});

    // A mount lazily unmounted while the file is open: no longer in any
    // namespace, so d_absolute_path() fails and IMA logs the name.
    std::string mnt = dir.file("detach");
    if (!mkdirs(mnt) || mount("tmpfs", mnt.c_str(), "tmpfs", 0, nullptr))
        t.bail("cannot mount a tmpfs on " + mnt);
    dg = make_prog(t, mnt + "/detached-prog", "detached");
    int det_fd = open((mnt + "/detached-prog").c_str(), O_RDONLY | O_CLOEXEC);
    umount2(mnt.c_str(), MNT_DETACH);
    cases.push_back(
        {"a program on a lazily unmounted tmpfs (fexecve)", "detached-prog", dg, spawn([&] {
             char *argv[] = {const_cast<char *>("detached-prog"), nullptr};
             char *envp[] = {nullptr};
             fexecve(det_fd, argv, envp);
         })});
    close(det_fd);

    std::vector<ima::Entry> log, klog;
    auto all_logged = [&] {
        log = read_log(kLogDir + "/binary_runtime_measurements");
        klog = read_log(kKernelLog);
        for (const auto &c : cases)
            if (!find_digest(log, c.digest) || !find_digest(klog, c.digest))
                return false;
        return true;
    };
    for (int i = 0; i < 100 && !all_logged(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));

    for (auto &c : cases) {
        const ima::Entry *ve = find_digest(log, c.digest), *ke = find_digest(klog, c.digest);
        std::string want = c.want;
        if (t.broken())
            want += "x";
        bool same = exit_status(c.r) == 0 && ve && ke && ke->path == want && ve->path == want &&
                    ve->template_data == ke->template_data;
        if (!t.ok(same, "%s: logged as \"%s\", as the kernel's IMA logs it", c.what.c_str(),
                  want.c_str()))
            t.diag("exit %d (exec errno %d); vouch: %s; IMA: %s", exit_status(c.r), c.r.exec_errno,
                   ve ? ("\"" + ve->path + "\"").c_str() : "no entry",
                   ke ? ("\"" + ke->path + "\"").c_str() : "no entry");
    }

    d.kill_it(SIGTERM);
    (void)vouch::unpin(kPins);
    rmdir(mnt.c_str());
    run({"/bin/rm", "-rf", croot, ct});
    return t.finish();
}
