/* SPDX-License-Identifier: Apache-2.0 */
// A private swtpm for host tests (tpm2-tss's swtpm TCTI talks to it).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace vouch::testing {

using Clock = std::chrono::steady_clock;

inline bool can_connect(const std::string &path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) == 0;
    ::close(fd);
    return ok;
}

// A private swtpm, run in the foreground as our child rather than with
// --daemon: we then hold its pid without a pid file, and PR_SET_PDEATHSIG
// kills it even if the test binary dies without tearing down.
class Swtpm {
  public:
    Swtpm() {
        std::string tmpl = ::testing::TempDir() + "vouch-tpm-XXXXXX";
        if (::mkdtemp(tmpl.data()))
            dir_ = tmpl;
    }
    ~Swtpm() {
        stop();
        if (!dir_.empty())
            std::filesystem::remove_all(dir_);
    }

    std::string sock() const { return dir_ + "/sock"; }
    // The swtpm TCTI finds the control channel at the data socket's path plus
    // ".ctrl"; tpm2-tss 3.2 needs it to set the locality when it connects.
    std::string tcti() const { return "swtpm:path=" + sock(); }

    // Empty on success, else why swtpm did not come up.
    std::string start() {
        if (dir_.empty())
            return "mkdtemp failed";
        // A SIGKILLed swtpm leaves its sockets behind.
        std::filesystem::remove(sock());
        std::filesystem::remove(sock() + ".ctrl");
        std::string log = dir_ + "/swtpm.log";
        // not-need-init,startup-clear: ready without an INIT on the control
        // channel or a TPM2_Startup, the state the kernel leaves a real TPM in.
        std::vector<std::string> args = {"swtpm",
                                         "socket",
                                         "--tpm2",
                                         "--tpmstate",
                                         "dir=" + dir_,
                                         "--server",
                                         "type=unixio,path=" + sock(),
                                         "--ctrl",
                                         "type=unixio,path=" + sock() + ".ctrl",
                                         "--flags",
                                         "not-need-init,startup-clear"};
        std::vector<char *> argv;
        for (auto &a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ < 0)
            return std::string("fork: ") + std::strerror(errno);
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent)
                ::_exit(126);
            // swtpm reports every client disconnect on stderr.
            int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
            }
            ::execvp("swtpm", argv.data());
            ::_exit(127);
        }
        auto deadline = Clock::now() + std::chrono::seconds(5);
        while (Clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                    return "swtpm not found (it is in packaging/deps.sh: make deps)";
                return "swtpm exited (status " + std::to_string(status) + "): " + slurp(log);
            }
            if (can_connect(sock()) && can_connect(sock() + ".ctrl"))
                return "";
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return "swtpm not listening on " + sock() + " after 5 s: " + slurp(log);
    }

    // SIGKILL, as a TPM that disappears gives no notice either.
    void stop() {
        if (pid_ <= 0)
            return;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

  private:
    static std::string slurp(const std::string &path) {
        std::ifstream f(path);
        std::stringstream s;
        s << f.rdbuf();
        return s.str();
    }

    std::string dir_;
    pid_t pid_ = -1;
};

} // namespace vouch::testing
