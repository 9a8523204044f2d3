/* SPDX-License-Identifier: Apache-2.0 */
// A private dbus-daemon for host tests, and an sd-event loop on a thread of
// its own to run a BusService on while the test thread acts as the client.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

namespace vouch::testing {

// dbus-daemon in the foreground as our child (PR_SET_PDEATHSIG kills it if
// the test binary dies), listening on a socket in a world-traversable temp
// dir so that a client running under another uid can connect.
class DbusDaemon {
  public:
    // `extra_policy`: a bus configuration fragment (<busconfig>...) that the
    // daemon includes after its own allow-everything policy.
    explicit DbusDaemon(const std::string &extra_policy = "") {
        std::string tmpl = "/tmp/vouch-dbus-XXXXXX";
        if (!::mkdtemp(tmpl.data()))
            return;
        dir_ = tmpl;
        ::chmod(dir_.c_str(), 0755);
        std::string include;
        if (!extra_policy.empty()) {
            std::ofstream(dir_ + "/extra.conf") << extra_policy;
            include = "  <include>" + dir_ + "/extra.conf</include>\n";
        }
        // Anyone may connect, own and send: the tests decide who is refused,
        // through the service's own checks or the included policy.
        std::ofstream(dir_ + "/bus.conf")
            << "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus Configuration "
               "1.0//EN\"\n \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
               "<busconfig>\n"
               "  <type>session</type>\n"
               "  <listen>unix:path="
            << dir_
            << "/bus</listen>\n"
               "  <auth>EXTERNAL</auth>\n"
               "  <policy context=\"default\">\n"
               "    <allow user=\"*\"/>\n"
               "    <allow own=\"*\"/>\n"
               "    <allow send_destination=\"*\"/>\n"
               "    <allow receive_sender=\"*\"/>\n"
               "  </policy>\n"
            << include << "</busconfig>\n";
    }
    ~DbusDaemon() {
        stop();
        if (!dir_.empty())
            std::filesystem::remove_all(dir_);
    }

    const std::string &address() const { return address_; }
    const std::string &dir() const { return dir_; }

    // Empty on success, else why the daemon did not come up.
    std::string start() {
        if (dir_.empty())
            return "mkdtemp failed";
        int p[2];
        if (::pipe2(p, O_CLOEXEC) < 0)
            return "pipe failed";
        pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent)
                ::_exit(127);
            ::dup2(p[1], 3);
            int null = ::open("/dev/null", O_RDWR);
            ::dup2(null, 0);
            // Its warnings (e.g. that it cannot raise the fd limit) would
            // clutter the test output; they stay in the temp dir.
            int log = ::open((dir_ + "/daemon.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            ::dup2(log, 2);
            std::string cfg = "--config-file=" + dir_ + "/bus.conf";
            ::execlp("dbus-daemon", "dbus-daemon", cfg.c_str(), "--print-address=3", "--nofork",
                     "--nopidfile", (char *)nullptr);
            ::_exit(127);
        }
        ::close(p[1]);
        if (pid_ < 0) {
            ::close(p[0]);
            return "fork failed";
        }
        // The address is printed once the daemon listens.
        std::string line;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (line.find('\n') == std::string::npos) {
            pollfd pfd{p[0], POLLIN, 0};
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || ::poll(&pfd, 1, int(left.count())) <= 0)
                break;
            char buf[512];
            ssize_t n = ::read(p[0], buf, sizeof(buf));
            if (n <= 0)
                break;
            line.append(buf, size_t(n));
        }
        ::close(p[0]);
        auto nl = line.find('\n');
        if (nl == std::string::npos)
            return "dbus-daemon did not print its address (is dbus-daemon installed?)";
        address_ = line.substr(0, nl);
        return "";
    }

    void stop() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
    }

  private:
    std::string dir_;
    std::string address_;
    pid_t pid_ = -1;
};

// An sd-event loop on its own thread. Everything that touches the loop or
// what is attached to it runs there, through run().
class EventThread {
  public:
    EventThread() {
        std::promise<void> ready;
        auto f = ready.get_future();
        thread_ = std::thread([this, &ready] {
            sd_event_new(&ev_);
            efd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
            sd_event_add_io(ev_, &src_, efd_, EPOLLIN, &EventThread::on_wake, this);
            ready.set_value();
            sd_event_loop(ev_);
            // Jobs that still hold loop resources are released here, on
            // this thread.
            run_pending();
            sd_event_source_disable_unref(src_);
            sd_event_unref(ev_);
            ::close(efd_);
        });
        f.wait();
    }
    ~EventThread() {
        run([this] { sd_event_exit(ev_, 0); });
        thread_.join();
    }

    sd_event *event() const { return ev_; }

    // Runs `fn` on the loop's thread and waits for it.
    void run(std::function<void()> fn) {
        std::promise<void> done;
        auto f = done.get_future();
        {
            std::lock_guard lk(mu_);
            jobs_.push_back([&] {
                fn();
                done.set_value();
            });
        }
        uint64_t one = 1;
        (void)!::write(efd_, &one, sizeof(one));
        f.wait();
    }

  private:
    static int on_wake(sd_event_source *, int fd, uint32_t, void *userdata) {
        uint64_t v;
        (void)!::read(fd, &v, sizeof(v));
        static_cast<EventThread *>(userdata)->run_pending();
        return 0;
    }
    void run_pending() {
        for (;;) {
            std::function<void()> job;
            {
                std::lock_guard lk(mu_);
                if (jobs_.empty())
                    return;
                job = std::move(jobs_.front());
                jobs_.pop_front();
            }
            job();
        }
    }

    sd_event *ev_ = nullptr;
    sd_event_source *src_ = nullptr;
    int efd_ = -1;
    std::mutex mu_;
    std::deque<std::function<void()>> jobs_;
    std::thread thread_;
};

} // namespace vouch::testing
