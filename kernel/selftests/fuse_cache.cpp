// A FUSE daemon can change what a file reads as without anything in the
// kernel's inode changing (no write, no new timestamp or size). vouch must not
// serve such a file's digest from its cache: an allowed program's bytes could
// otherwise be swapped for unlisted ones and still run under enforce.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "lib/digest.h"
#include "vouchd/kernel_side.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"

using namespace vouch;
using namespace vouch::selftest;

namespace {

// The fusefile helper, mounted at `mnt` and serving `a`, then `b` after switch_content().
class FuseFile {
  public:
    bool start(const std::string &mnt, const std::string &a, const std::string &b) {
        int p[2];
        if (pipe2(p, O_CLOEXEC))
            return false;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
        std::string bin = helper("fusefile");
        char *argv[] = {bin.data(), const_cast<char *>(mnt.c_str()), const_cast<char *>(a.c_str()),
                        const_cast<char *>(b.c_str()), nullptr};
        char *envp[] = {nullptr};
        int rc = posix_spawn(&pid_, bin.c_str(), &fa, nullptr, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        out_ = p[0];
        mnt_ = mnt;
        return rc == 0 && expect('r');
    }
    bool switch_content() { return kill(pid_, SIGUSR1) == 0 && expect('s'); }
    ~FuseFile() {
        if (!mnt_.empty())
            umount2(mnt_.c_str(), MNT_DETACH);
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        if (out_ >= 0)
            close(out_);
    }

  private:
    bool expect(char c) {
        char got = 0;
        return read(out_, &got, 1) == 1 && got == c;
    }
    pid_t pid_ = -1;
    int out_ = -1;
    std::string mnt_;
};

// Is @name in /proc/filesystems (built in, or its module loaded)?
bool filesystem_known(const std::string &name) {
    std::ifstream in("/proc/filesystems");
    std::string line;
    while (std::getline(in, line))
        if (line.size() > name.size() &&
            line.compare(line.size() - name.size(), name.size(), name) == 0 &&
            (line[line.size() - name.size() - 1] == '\t'))
            return true;
    return false;
}

} // namespace

int main() {
    Tap t("fuse_cache", 4);
    const char *names[] = {"an allowed program on FUSE runs",
                           "an unchanged program on FUSE is hashed again at its next exec",
                           "content swapped behind an unchanged inode is denied",
                           "and its event carries the new content's digest"};
    // FUSE is a module on Debian 12's kernel and built in on newer ones.
    if (!filesystem_known("fuse")) {
        std::string ko = self_dir() + "/modules/fuse.ko";
        if (access(ko.c_str(), R_OK) != 0) {
            for (const char *n : names)
                t.skip(n, "FUSE is neither built in nor a module here (KERNEL= given)");
            return t.finish();
        }
        int kfd = open(ko.c_str(), O_RDONLY | O_CLOEXEC);
        if (syscall(SYS_finit_module, kfd, "", 0) != 0 && errno != EEXIST)
            t.bail(std::string("load fuse.ko: ") + strerror(errno));
        close(kfd);
    }

    // Two programs of the same size that differ only in their padding.
    TempDir dir;
    std::string a = dir.file("a"), b = dir.file("b"), mnt = dir.file("mnt");
    if (!copy_file(helper("true"), a, "fuse_cache content A") ||
        !copy_file(helper("true"), b, "fuse_cache content B") || mkdir(mnt.c_str(), 0755))
        t.bail("prepare files");
    vouch_digest da = digest_of(t, a), db = digest_of(t, b);

    FuseFile fuse;
    if (!fuse.start(mnt, a, b))
        t.bail("start the fusefile helper");
    std::string prog = mnt + "/prog";

    auto ks = KernelSide::load({});
    if (!ks)
        t.bail(ks.error().message);
    EventLog log(**ks);
    if (auto r = (*ks)->set_policy({da}, VOUCH_MODE_ENFORCE); !r)
        t.bail(r.error().message);

    auto r1 = run({prog});
    t.ok(exit_status(r1) == 0, "%s (exec errno %d)", names[0], r1.exec_errno);

    auto before = (*ks)->stats();
    auto r2 = run({prog});
    auto after = (*ks)->stats();
    if (!before || !after)
        t.bail("cannot read stats");
    uint64_t hashes = after->hashes - before->hashes;
    if (t.broken())
        hashes = 0;
    t.ok(exit_status(r2) == 0 && hashes >= 1, "%s (%llu hashes)", names[1],
         (unsigned long long)hashes);

    if (!fuse.switch_content())
        t.bail("switch the served content");
    auto r3 = run({prog});
    bool denied = r3.exec_errno == EPERM;
    if (!t.ok(denied, "%s", names[2]))
        t.diag("exec errno %d, exit status %d", r3.exec_errno, exit_status(r3));
    auto ev = log.wait_for([&](const vouch_event &e) {
        return e.hook == VOUCH_HOOK_BPRM_CHECK && e.verdict == VOUCH_VERDICT_DENY &&
               std::memcmp(e.digest, db.bytes, sizeof(db.bytes)) == 0;
    });
    t.ok(ev != nullptr, "%s", names[3]);
    (void)(*ks)->clear_policy();
    return t.finish();
}
