/* SPDX-License-Identifier: Apache-2.0 */
// vouchd run by a selftest the way systemd runs it: READY=1 arrives on
// NOTIFY_SOCKET; its stdout and stderr go to a file the test can read.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <string>
#include <vector>

#include "vouchd/kernel_side.h"

namespace vouch::selftest {

// For a test process that is agent in the policies it had vouchd load: back
// to audit without a policy, then unpin, so the tests after it run. Returns
// what failed, empty on success.
inline std::string switch_off(const std::string &pins) {
    KernelSideOptions o;
    o.pin_dir = pins;
    auto ks = KernelSide::load(o);
    if (!ks)
        return "reattach: " + ks.error().message;
    if (auto r = (*ks)->clear_policy(); !r)
        return "clear policy: " + r.error().message;
    ks = make_error(0, "");
    if (auto r = vouch::unpin(pins); !r)
        return "unpin: " + r.error().message;
    return "";
}

class Vouchd {
  public:
    explicit Vouchd(std::vector<std::string> base) : base_(std::move(base)) {}
    pid_t pid = -1;
    std::string out;
    // Run it in a mount namespace of its own, a slave of the test's, as
    // systemd runs it under ProtectSystem=.
    bool own_mount_ns = false;
    bool start(const std::vector<std::string> &extra, int timeout_ms = 60000) {
        std::string sock = "/tmp/vouchd-notify-" + std::to_string(getpid());
        unlink(sock.c_str());
        int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, sock.c_str(), sizeof(a.sun_path) - 1);
        if (s < 0 || bind(s, reinterpret_cast<sockaddr *>(&a), sizeof(a)))
            return false;
        out = "/tmp/vouchd-" + std::to_string(getpid()) + ".out";
        pid = fork();
        if (pid == 0) {
            int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
            dup2(fd, 1);
            dup2(fd, 2);
            setenv("NOTIFY_SOCKET", sock.c_str(), 1);
            if (own_mount_ns && (unshare(CLONE_NEWNS) != 0 ||
                                 mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0)) {
                std::fprintf(stderr, "mount namespace: %s\n", std::strerror(errno));
                _exit(126);
            }
            std::vector<std::string> args = {"/usr/bin/vouchd"};
            args.insert(args.end(), base_.begin(), base_.end());
            args.insert(args.end(), extra.begin(), extra.end());
            std::vector<char *> argv;
            for (auto &x : args)
                argv.push_back(x.data());
            argv.push_back(nullptr);
            execv(argv[0], argv.data());
            _exit(127);
        }
        bool ready = false;
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        while (!ready && std::chrono::steady_clock::now() < end) {
            timeval tv{1, 0};
            setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            char buf[512];
            ssize_t n = recv(s, buf, sizeof(buf) - 1, 0);
            if (n > 0) {
                buf[n] = 0;
                ready = std::strstr(buf, "READY=1") != nullptr;
            }
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                pid = -1;
                break;
            }
        }
        close(s);
        unlink(sock.c_str());
        return ready;
    }
    void kill_it(int sig) {
        if (pid > 0) {
            kill(pid, sig);
            waitpid(pid, nullptr, 0);
            pid = -1;
        }
    }
    std::string output() const {
        std::ifstream in(out);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

  private:
    std::vector<std::string> base_;
};

// Waits up to 10 s for `needle` in vouchd's output after offset `from`.
inline bool wait_for_output(Vouchd &d, const std::string &needle, size_t from) {
    for (int i = 0; i < 100; ++i) {
        std::string out = d.output();
        if (out.size() > from && out.find(needle, from) != std::string::npos)
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

} // namespace vouch::selftest
