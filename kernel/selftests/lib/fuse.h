/* SPDX-License-Identifier: Apache-2.0 */
// The fusefile helper (helpers/fusefile.c) for the selftests that need a
// FUSE file system (load_filesystem("fuse") first, in util.h).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "kernel/selftests/lib/util.h"

namespace vouch::selftest {

// The fusefile helper, mounted at `mnt` and serving `a`, then `b` after switch_content().
class FuseFile {
  public:
    // env: for the helper, e.g. "FUSEFILE_HANG_GETXATTR=1".
    bool start(const std::string &mnt, const std::string &a, const std::string &b,
               std::vector<std::string> env = {}) {
        int p[2];
        if (pipe2(p, O_CLOEXEC))
            return false;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
        std::string bin = helper("fusefile");
        char *argv[] = {bin.data(), const_cast<char *>(mnt.c_str()), const_cast<char *>(a.c_str()),
                        const_cast<char *>(b.c_str()), nullptr};
        std::vector<char *> envp;
        for (auto &e : env)
            envp.push_back(e.data());
        envp.push_back(nullptr);
        int rc = posix_spawn(&pid_, bin.c_str(), &fa, nullptr, argv, envp.data());
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

} // namespace vouch::selftest
