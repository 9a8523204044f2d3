// SPDX-License-Identifier: Apache-2.0
// Writes and executable mappings of the same file (issue #14, items 6 and 8).
// A file mapped PROT_EXEC after vouch measured it and then opened for write
// (the mapping would run bytes nobody measured: IMA's ToMToU), and a file
// mapped while open for write (the writer may change what was just hashed,
// even one closed while the hash runs: IMA's open_writers). Audit mode lets
// both through and reports each as a violation, as the kernel's IMA logs
// them; enforce mode refuses the write open (ETXTBSY, as for a running
// executable) and the mapping (EPERM).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "lib/digest.h"
#include "vouchd/kernel_side.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"

using namespace vouch;
using namespace vouch::selftest;

namespace {

constexpr const char *kBusybox = "/bin/busybox";

// A process that keeps `file` mapped executable until it is stopped.
class Holder {
  public:
    Holder(const std::string &inject, const std::string &file) : marker_(file + ".mapped") {
        unlink(marker_.c_str());
        pid_ = fork();
        if (pid_ == 0) {
            execl(inject.c_str(), "inject", "mapexec", file.c_str(), (char *)nullptr);
            _exit(127);
        }
        struct stat st {};
        for (int i = 0; i < 100 && stat(marker_.c_str(), &st) != 0; ++i)
            usleep(50 * 1000);
        mapped_ = stat(marker_.c_str(), &st) == 0;
    }
    ~Holder() { stop(); }
    bool mapped() const { return mapped_; }
    void stop() {
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
        unlink(marker_.c_str());
    }

  private:
    std::string marker_;
    pid_t pid_ = -1;
    bool mapped_ = false;
};

// open(O_WRONLY): the descriptor, or -errno.
int open_for_write(const std::string &file) {
    int fd = open(file.c_str(), O_WRONLY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

} // namespace

int main() {
    Tap t("tomtou", 10);
    auto loaded = KernelSide::load({});
    if (!loaded)
        t.bail(loaded.error().message);
    KernelSide &ks = **loaded;
    EventLog log(ks);
    TempDir dir;
    const std::string inject = dir.file("inject"), lib = dir.file("lib");
    if (!copy_file(helper("inject"), inject, "tomtou") ||
        !copy_file(helper("true"), lib, "tomtou lib"))
        t.bail("cannot copy the helpers");
    const vouch_digest lib_digest = digest_of(t, lib);
    const std::vector<vouch_digest> listed = {digest_of(t, inject), digest_of(t, kBusybox),
                                              lib_digest};
    auto violation = [&](uint32_t flag, uint16_t hook) {
        return log.wait_for([&](const vouch_event &e) {
            return (e.flags & flag) && e.hook == hook && std::string(e.path) == lib;
        }) != nullptr;
    };

    if (auto s = ks.set_policy(listed, VOUCH_MODE_AUDIT); !s)
        t.bail(s.error().message);
    {
        Holder h(inject, lib);
        if (!h.mapped())
            t.bail("the holder could not map " + lib);
        int fd = open_for_write(lib);
        t.ok(fd >= 0, "audit: a write open of a measured file mapped executable goes through");
        if (fd >= 0)
            close(fd);
        t.ok(violation(VOUCH_EVF_TOMTOU, VOUCH_HOOK_FILE_OPEN),
             "and is reported as a ToMToU violation (hook file_open)");
    }
    {
        int fd = open_for_write(lib);
        int rc = exit_status(run({inject, "mapexec-once", lib}));
        if (fd >= 0)
            close(fd);
        t.ok(fd >= 0 && rc == 0, "audit: mapping a file open for write goes through (exit %d)", rc);
        t.ok(violation(VOUCH_EVF_OPEN_WRITERS, VOUCH_HOOK_MMAP_FILE),
             "and is reported as an open-writers violation (hook mmap_file)");
    }

    if (auto s = ks.set_policy(listed, VOUCH_MODE_ENFORCE); !s)
        t.bail(s.error().message);
    {
        Holder h(inject, lib);
        if (!h.mapped())
            t.bail("the holder could not map " + lib + " under enforce mode");
        int fd = open_for_write(lib);
        bool refused = fd == -ETXTBSY;
        if (t.broken())
            refused = !refused;
        t.ok(refused,
             "enforce: a write open of a measured file mapped executable is refused "
             "(ETXTBSY, got %d)",
             fd);
        if (fd >= 0)
            close(fd);
        int rc = exit_status(run({kBusybox, "sh", "-c", "echo tampered >> " + lib}));
        t.ok(rc != 0, "so is the shell form, `echo >> FILE` from a listed shell (exit %d)", rc);
        auto now = digest_of(t, lib);
        t.ok(std::memcmp(now.bytes, lib_digest.bytes, sizeof(now.bytes)) == 0,
             "the mapped file is unchanged");
        t.ok(violation(VOUCH_EVF_TOMTOU, VOUCH_HOOK_FILE_OPEN), "and the attempt is reported");
    }
    int fd = open_for_write(lib);
    t.ok(fd >= 0, "once nothing maps it, the file may be opened for write again");
    int rc = exit_status(run({inject, "mapexec-once", lib}));
    t.ok(fd >= 0 && rc == 1, "enforce: mapping it while it is open for write is refused (exit %d)",
         rc);
    if (fd >= 0)
        close(fd);

    if (auto s = ks.clear_policy(); !s)
        t.bail(s.error().message);
    return t.finish();
}
