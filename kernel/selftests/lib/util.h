/* SPDX-License-Identifier: Apache-2.0 */
// Shared plumbing for the VM selftests.
#pragma once

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "vouchd/kernel_side.h"
#include "kernel/selftests/lib/tap.h"

namespace vouch::selftest {

// Directory of the running selftest binary; helpers live in ./helpers/.
std::string self_dir();
std::string helper(const std::string &name);

// A fresh directory under /tmp, removed with its files at destruction.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    const std::string &path() const { return path_; }
    std::string file(const std::string &name) const { return path_ + "/" + name; }

  private:
    std::string path_;
};

// Copies src to dst (mode 0755), appending `salt` so the digest is new.
bool copy_file(const std::string &src, const std::string &dst, const std::string &salt = "");

// fork + execve(argv); returns the exit status as from waitpid, or -errno of
// the execve (reported back through a pipe).
struct ExecResult {
    pid_t pid = -1;
    int exec_errno = 0; // non-zero: execve failed with this errno
    int status = 0;     // waitpid status when exec succeeded
};
ExecResult run(const std::vector<std::string> &argv, const std::vector<std::string> &env = {});
// The same around `exec`, which runs in the child and must call an exec
// function (returning only when it failed, with errno set).
ExecResult spawn(const std::function<void()> &exec);
// The exit code of a program that ran, -1 if it did not run or did not exit.
int exit_status(const ExecResult &r);

// SHA-256 of a file as the kernel side's key; bails the test if unreadable.
vouch_digest digest_of(Tap &t, const std::string &path);

// Collects events from the kernel side.
class EventLog {
  public:
    explicit EventLog(KernelSide &ks);
    // Polls until pred matches an event or timeout; returns it.
    const vouch_event *wait_for(const std::function<bool(const vouch_event &)> &pred,
                                int timeout_ms = 5000);
    size_t count_if(const std::function<bool(const vouch_event &)> &pred) const;
    void drain();

  private:
    KernelSide &ks_;
    std::vector<vouch_event> events_;
};

bool same_inode(const vouch_event &ev, const struct stat &st);

// Polls pred every 100 ms until it holds or timeout_ms passed; the last
// answer of pred.
bool wait_until(const std::function<bool()> &pred, int timeout_ms);

// Starts a private dbus-daemon (session type, everyone may own and send)
// listening on dir/bus and points DBUS_SESSION_BUS_ADDRESS at it, for
// selftests that talk to vouchd over a real bus. Its pid once the socket is
// there (within 5 s), else -1.
pid_t start_private_bus(const std::string &dir);

// Has the kernel's IMA measure every exec from now on (ima-ng, into PCR 11 so
// that PCR 10 holds only boot_aggregate and vouch's log), for selftests that
// compare vouch's log with IMA's, and reads of files owned by
// kKernelImaOwner (also PCR 11: but their violations go to PCR 10). The
// policy can be written once a boot, so a marker under /run tells later
// selftests that an earlier one wrote it. Empty on success, else why not. It
// also has IMA measure every asymmetric key added to a keyring named
// kImaBufKeyring (template ima-buf, PCR 12).
inline constexpr const char *kImaBufKeyring = "vouch_selftest_ima";
inline constexpr unsigned kKernelImaOwner = 4242;
std::string ima_measure_execs();

// A file system the kernel may have as a module (fuse, overlay): empty when it
// is usable (built in, or modules/NAME.ko loaded now); otherwise why not,
// starting "load " when loading failed (an error), else a reason to skip.
std::string load_filesystem(const std::string &name);

// A loader in a child process that pins under pin_dir, sets the policy and is
// then killed, so that only the pins hold the hooks (as with vouchd stopped).
// programs: the IDs of the programs it attached, empty if it failed.
// allow_id: the allow-list map's ID, looked up before the policy was set,
// while anyone could.
struct KilledLoader {
    std::vector<uint32_t> programs;
    uint32_t allow_id = 0;
    uint32_t scratch_id = 0; // the path scratch map's ID, looked up the same way
};
KilledLoader killed_loader(const std::string &pin_dir, const std::vector<vouch_digest> &allowed,
                           vouch_mode mode, const std::vector<vouch_digest> &agents);

} // namespace vouch::selftest
