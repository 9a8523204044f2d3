// SPDX-License-Identifier: Apache-2.0
// make bench, in the VM: vouchd under a burst of distinct new executable
// files. Each file is mapped PROT_EXEC (the mmap_file hook measures it, as it
// does every shared library); vouchd logs them and extends the TPM (the VM's
// swtpm) from its queue. Shows that no measurement is lost and that execs do
// not wait for the TPM: the exec rate while thousands of extends are pending
// equals the rate once the queue is empty.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "lib/ima_log.h"
#include "vouchd/kernel_side.h"
#include "lib/measurement_log.h"
#include "lib/tpm.h"

namespace {

const char *kPins = "/sys/fs/bpf/vouch-bench";
const char *kLogDir = "/run/vouch-bench";
const char *kTcti = "device:/dev/tpmrm0";
constexpr uint32_t kPcr = 16; // the kernel's IMA policy of the exec bench uses 10

uint64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

std::vector<vouch::ima::Entry> read_log() {
    auto e = vouch::read_binary_log(std::string(kLogDir) + "/binary_runtime_measurements");
    return e ? *e : std::vector<vouch::ima::Entry>{};
}

// How many log entries the TPM holds (replay of the sha256 bank).
long tpm_holds(const std::vector<vouch::ima::Entry> &log) {
    auto tpm = vouch::Tpm::open(kTcti);
    if (!tpm)
        return -1;
    auto v = (*tpm)->read_pcr(kPcr, vouch::kTpmAlgSha256);
    return v ? vouch::matching_prefix(log, kPcr, "sha256", *v) : -1;
}

// Instructions (icount) per posix_spawn (vfork+exec) + wait of a cached static binary.
double exec_cost(const std::string &prog, int n) {
    std::vector<uint64_t> t;
    for (int i = 0; i < n; ++i) {
        uint64_t a = now_ns();
        pid_t p;
        char *args[] = {const_cast<char *>(prog.c_str()), nullptr};
        if (posix_spawn(&p, prog.c_str(), nullptr, nullptr, args, environ) == 0)
            waitpid(p, nullptr, 0);
        t.push_back(now_ns() - a);
    }
    std::sort(t.begin(), t.end());
    return double(t[t.size() / 2]);
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: log_load STATIC_PROGRAM COUNT\n");
        return 2;
    }
    std::string prog = argv[1];
    int n = std::atoi(argv[2]);
    std::string dir = "/tmp/vouch-log-load";
    mkdir(dir.c_str(), 0755);
    // Distinct content per file: a new digest, so a new log entry each.
    std::vector<std::string> files;
    for (int i = 0; i < n; ++i) {
        files.push_back(dir + "/f" + std::to_string(i));
        int fd = open(files.back().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0755);
        char buf[4096];
        std::memset(buf, 0, sizeof(buf));
        std::snprintf(buf, sizeof(buf), "vouch log bench file %d\n", i);
        if (fd < 0 || write(fd, buf, sizeof(buf)) != sizeof(buf)) {
            std::fprintf(stderr, "log_load: cannot write %s\n", files.back().c_str());
            return 1;
        }
        close(fd);
    }

    pid_t d = fork();
    if (d == 0) {
        int fd = open("/tmp/vouchd-bench.out", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execl("/usr/bin/vouchd", "vouchd", "--no-bus", "--pin-dir", kPins, "--log-dir", kLogDir,
              "--policy", "", "--tcti", kTcti, "--pcr", "16", nullptr);
        _exit(127);
    }
    // Up when the log exists and it measured its own start.
    for (int i = 0; i < 600 && read_log().empty(); ++i)
        usleep(100000);
    size_t before = read_log().size();
    (void)exec_cost(prog, 5); // measure and cache prog before timing it
    while (read_log().size() == before)
        usleep(100000);
    before = read_log().size();

    uint64_t t0 = now_ns();
    for (const auto &f : files) {
        int fd = open(f.c_str(), O_RDONLY);
        void *p = mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
        if (p != MAP_FAILED)
            munmap(p, 4096);
        close(fd);
    }
    uint64_t t1 = now_ns();
    // With vouchd stopped and its queue full, an exec costs what it costs
    // with the queue empty: the exec path has no part in extending.
    kill(d, SIGSTOP);
    double frozen = exec_cost(prog, 100);
    kill(d, SIGCONT);
    // Exec rounds while the queue drains, then with it empty: each round is
    // tagged with the extends pending just before it.
    std::vector<double> busy_rounds;
    size_t pending_max = 0;
    std::vector<vouch::ima::Entry> log;
    long held = -1;
    uint64_t deadline = now_ns() + 600ull * 1000000000ull;
    for (;;) {
        log = read_log();
        held = tpm_holds(log);
        size_t logged = 0;
        for (const auto &e : log)
            logged += e.path.rfind(dir + "/f", 0) == 0;
        size_t pending = (log.size() - size_t(std::max(held, 0L))) + (size_t(n) - logged);
        if (pending == 0 || now_ns() > deadline)
            break;
        pending_max = std::max(pending_max, pending);
        busy_rounds.push_back(exec_cost(prog, 10));
    }
    uint64_t t2 = now_ns();
    double idle = exec_cost(prog, 100);
    double busy = busy_rounds.empty() ? 0 : busy_rounds[busy_rounds.size() / 2];
    std::sort(busy_rounds.begin(), busy_rounds.end());
    if (!busy_rounds.empty())
        busy = busy_rounds[busy_rounds.size() / 2];
    size_t found = 0;
    for (const auto &e : log)
        found += e.path.rfind(dir + "/f", 0) == 0;
    size_t pending_at = pending_max;

    vouch::KernelSideOptions o;
    o.pin_dir = kPins;
    auto ks = vouch::KernelSide::load(o);
    unsigned long long drops = ks ? (*ks)->stats()->ringbuf_drops : ~0ull;
    ks = vouch::make_error(0, "");
    kill(d, SIGTERM);
    waitpid(d, nullptr, 0);
    (void)vouch::unpin(kPins);

    std::printf("\n## vouchd under %d new executable files (VM, swtpm, icount)\n\n", n);
    std::printf("unit: guest instructions, not time (icount). Each file mapped PROT_EXEC once;\n"
                "vouchd logs it and extends PCR %u of the VM's TPM from its queue.\n\n",
                kPcr);
    std::printf("| metric | value |\n|---|---:|\n");
    std::printf("| files mapped | %d |\n", n);
    std::printf("| log entries for them | %zu |\n", found);
    std::printf("| events lost (ring buffer) | %llu |\n", drops);
    std::printf("| mapping all files (instructions per file) | %.0f |\n", double(t1 - t0) / n);
    std::printf("| most measurements queued (not yet in the TPM) | %zu |\n", pending_at);
    std::printf("| exec, cached static, while extends pending (median of %zu rounds) | %.0f |\n",
                busy_rounds.size(), busy);
    std::printf("| exec, cached static, extends pending, vouchd stopped | %.0f |\n", frozen);
    std::printf("| exec, cached static, queue empty | %.0f |\n", idle);
    std::printf("| TPM caught up (instructions from the burst's end) | %llu |\n",
                (unsigned long long)(t2 - t1));
    std::printf("| TPM holds the whole log | %s |\n", held == long(log.size()) ? "yes" : "no");
    bool ok = found == size_t(n) && drops == 0 && held == long(log.size());
    std::printf("\n  %s  %d distinct new files: %zu logged, %llu lost, TPM %s\n",
                ok ? "PASS" : "FAIL", n, found, drops,
                held == long(log.size()) ? "holds all" : "behind");
    std::printf("  INFO  exec with the queue full and vouchd stopped: %.0f vs %.0f with the queue "
                "empty (%+.2f%%): the exec path does not wait for the TPM\n",
                frozen, idle, 100.0 * (frozen - idle) / idle);
    if (!busy_rounds.empty())
        std::printf("  INFO  exec while up to %zu extends pending: %.0f vs %.0f with the queue "
                    "empty (%+.1f%%): the one vCPU is shared with vouchd extending\n",
                    pending_at, busy, idle, 100.0 * (busy - idle) / idle);
    else
        std::printf("  INFO  the TPM kept up: no extends were pending after the burst\n");
    return ok ? 0 : 1;
}
