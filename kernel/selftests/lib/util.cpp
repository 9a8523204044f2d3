// SPDX-License-Identifier: Apache-2.0
#include "kernel/selftests/lib/util.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "lib/digest.h"
#include "lib/fd.h"

namespace vouch::selftest {

std::string self_dir() {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0)
        return ".";
    std::string p(buf, static_cast<size_t>(n));
    return p.substr(0, p.rfind('/'));
}

std::string helper(const std::string &name) {
    return self_dir() + "/helpers/" + name;
}

TempDir::TempDir() {
    char tmpl[] = "/tmp/vouch-selftest-XXXXXX";
    const char *p = mkdtemp(tmpl);
    path_ = p ? p : "/tmp";
}

TempDir::~TempDir() {
    if (DIR *d = opendir(path_.c_str())) {
        while (dirent *e = readdir(d)) {
            if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, ".."))
                unlink((path_ + "/" + e->d_name).c_str());
        }
        closedir(d);
    }
    rmdir(path_.c_str());
}

bool copy_file(const std::string &src, const std::string &dst, const std::string &salt) {
    std::ifstream in(src, std::ios::binary);
    if (!in)
        return false;
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    data += salt;
    unlink(dst.c_str());
    int fd = open(dst.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    if (fd < 0)
        return false;
    bool ok = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
    return close(fd) == 0 && ok;
}

ExecResult spawn(const std::function<void()> &exec) {
    ExecResult r;
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        r.exec_errno = errno;
        return r;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        exec();
        int e = errno;
        (void)!write(pipefd[1], &e, sizeof(e));
        _exit(127);
    }
    close(pipefd[1]);
    r.pid = pid;
    int e = 0;
    if (read(pipefd[0], &e, sizeof(e)) == sizeof(e))
        r.exec_errno = e;
    close(pipefd[0]);
    waitpid(pid, &r.status, 0);
    return r;
}

ExecResult run(const std::vector<std::string> &argv, const std::vector<std::string> &env) {
    std::vector<char *> av, ev;
    for (const auto &a : argv)
        av.push_back(const_cast<char *>(a.c_str()));
    av.push_back(nullptr);
    for (const auto &e : env)
        ev.push_back(const_cast<char *>(e.c_str()));
    ev.push_back(nullptr);
    return spawn([&] { execve(av[0], av.data(), ev.data()); });
}

int exit_status(const ExecResult &r) {
    return r.exec_errno == 0 && WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1;
}

vouch_digest digest_of(Tap &t, const std::string &path) {
    auto d = sha256_file(path);
    if (!d)
        t.bail(d.error().message);
    vouch_digest out{};
    std::memcpy(out.bytes, d->data(), sizeof(out.bytes));
    return out;
}

EventLog::EventLog(KernelSide &ks) : ks_(ks) {
    auto r = ks_.start_events([this](const vouch_event &ev) { events_.push_back(ev); });
    (void)r.ok();
}

const vouch_event *EventLog::wait_for(const std::function<bool(const vouch_event &)> &pred,
                                      int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    size_t seen = 0;
    for (;;) {
        for (; seen < events_.size(); ++seen)
            if (pred(events_[seen]))
                return &events_[seen];
        if (std::chrono::steady_clock::now() > deadline)
            return nullptr;
        (void)ks_.poll(50);
    }
}

size_t EventLog::count_if(const std::function<bool(const vouch_event &)> &pred) const {
    size_t n = 0;
    for (const auto &e : events_)
        n += pred(e) ? 1 : 0;
    return n;
}

void EventLog::drain() {
    (void)ks_.consume();
}

bool same_inode(const vouch_event &ev, const struct stat &st) {
    // The kernel reports sb->s_dev (MAJOR << 20 | MINOR); stat encodes it
    // differently, so compare major/minor.
    unsigned kmajor = ev.dev >> 20, kminor = ev.dev & 0xfffff;
    return ev.ino == st.st_ino && kmajor == major(st.st_dev) && kminor == minor(st.st_dev);
}

KilledLoader killed_loader(const std::string &pin_dir, const std::vector<vouch_digest> &allowed,
                           vouch_mode mode, const std::vector<vouch_digest> &agents) {
    KilledLoader out;
    int p[2];
    if (pipe(p))
        return out;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        KernelSideOptions o;
        o.pin_dir = pin_dir;
        auto ks = KernelSide::load(o);
        uint32_t allow_id = 0;
        if (UniqueFd m(bpf_obj_get((pin_dir + "/allow_a").c_str())); m) {
            bpf_map_info info{};
            uint32_t len = sizeof(info);
            if (bpf_obj_get_info_by_fd(m.get(), &info, &len) == 0)
                allow_id = info.id;
        }
        // Not pinned: the newest map of that name (map names are not unique).
        uint32_t scratch_id = 0;
        for (uint32_t id = 0; bpf_map_get_next_id(id, &id) == 0;) {
            UniqueFd m(bpf_map_get_fd_by_id(id));
            bpf_map_info info{};
            uint32_t len = sizeof(info);
            if (m && bpf_obj_get_info_by_fd(m.get(), &info, &len) == 0 &&
                std::strcmp(info.name, "path_scratch") == 0)
                scratch_id = id;
        }
        std::vector<uint32_t> ids;
        if (ks && (*ks)->set_policy(allowed, mode, agents))
            ids = (*ks)->prog_ids();
        else if (!ks)
            std::printf("# loader: %s\n", ks.error().message.c_str());
        uint32_t n = static_cast<uint32_t>(ids.size());
        (void)!write(p[1], &allow_id, sizeof(allow_id));
        (void)!write(p[1], &scratch_id, sizeof(scratch_id));
        (void)!write(p[1], &n, sizeof(n));
        (void)!write(p[1], ids.data(), n * sizeof(uint32_t));
        std::fflush(stdout);
        pause();
        _exit(0);
    }
    close(p[1]);
    uint32_t n = 0;
    if (read(p[0], &out.allow_id, sizeof(out.allow_id)) == sizeof(out.allow_id) &&
        read(p[0], &out.scratch_id, sizeof(out.scratch_id)) == sizeof(out.scratch_id) &&
        read(p[0], &n, sizeof(n)) == sizeof(n) && n > 0) {
        out.programs.resize(n);
        if (read(p[0], out.programs.data(), n * sizeof(uint32_t)) !=
            static_cast<ssize_t>(n * sizeof(uint32_t)))
            out.programs.clear();
    }
    close(p[0]);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return out;
}

std::string ima_measure_execs() {
    const char *marker = "/run/vouch-selftest-ima-policy";
    if (access(marker, F_OK) == 0)
        return "";
    // All rules in the one write the kernel allows: execs (vouchd_log); keys
    // added to the keyring kImaBufKeyring (vouchd_records compares the
    // kernel's ima-buf entry for one with vouch's encoding); reads of files
    // owned by kKernelImaOwner only (no other selftest has such files), whose
    // open_writers and ToMToU violations go to PCR 10 whatever pcr= says
    // (vouchd_log).
    const std::string rules = "measure func=BPRM_CHECK pcr=11 template=ima-ng\n"
                              "measure func=KEY_CHECK keyrings=" +
                              std::string(kImaBufKeyring) +
                              " pcr=12 template=ima-buf\n"
                              "measure func=FILE_CHECK mask=MAY_READ fowner=" +
                              std::to_string(kKernelImaOwner) + " pcr=11 template=ima-ng\n";
    std::ofstream pol("/sys/kernel/security/ima/policy");
    pol << rules;
    pol.flush();
    if (!pol)
        return "cannot write the kernel's IMA policy";
    pol.close();
    std::ofstream(marker) << rules;
    return "";
}

std::string load_filesystem(const std::string &name) {
    auto known = [&] {
        std::ifstream in("/proc/filesystems");
        std::string line;
        while (std::getline(in, line)) {
            size_t tab = line.rfind('\t');
            if (line.substr(tab == std::string::npos ? 0 : tab + 1) == name)
                return true;
        }
        return false;
    };
    if (known())
        return "";
    std::string ko = self_dir() + "/modules/" + name + ".ko";
    if (access(ko.c_str(), R_OK) != 0)
        return name + " is neither built in nor a module here (KERNEL= given)";
    int fd = open(ko.c_str(), O_RDONLY | O_CLOEXEC);
    int rc = static_cast<int>(syscall(SYS_finit_module, fd, "", 0));
    int err = errno;
    close(fd);
    if (rc != 0 && err != EEXIST)
        return "load " + name + ".ko: " + strerror(err);
    return "";
}

bool wait_until(const std::function<bool()> &pred, int timeout_ms) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < end) {
        if (pred())
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return pred();
}

pid_t start_private_bus(const std::string &dir) {
    const std::string conf = dir + "/bus.conf", sock = dir + "/bus";
    std::ofstream(conf) << "<busconfig><type>session</type><listen>unix:path=" << sock
                        << "</listen><auth>EXTERNAL</auth><policy context=\"default\">"
                           "<allow send_destination=\"*\"/><allow receive_sender=\"*\"/>"
                           "<allow own=\"*\"/></policy></busconfig>\n";
    pid_t bus = fork();
    if (bus == 0) {
        execl("/usr/bin/dbus-daemon", "dbus-daemon", "--nofork", "--nopidfile",
              ("--config-file=" + conf).c_str(), nullptr);
        _exit(127);
    }
    if (bus < 0)
        return -1;
    setenv("DBUS_SESSION_BUS_ADDRESS", ("unix:path=" + sock).c_str(), 1);
    if (wait_until([&] { return access(sock.c_str(), F_OK) == 0; }, 5000))
        return bus;
    kill(bus, SIGKILL);
    waitpid(bus, nullptr, 0);
    return -1;
}

} // namespace vouch::selftest
