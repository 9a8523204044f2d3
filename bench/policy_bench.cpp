// SPDX-License-Identifier: Apache-2.0
// make bench-policy: the host half of the policy benchmark.
//  1. A 100,000-digest policy: serialize, sign, and verify + parse (the work
//     vouchd does before loading the kernel map) in a fresh process, with that
//     process's peak RSS. Targets: under 1 s, under 64 MiB.
//  2. `vouchctl policy make` over a directory set against `sha256sum` over the
//     same files, both with a warm page cache.
// Usage: policy_bench [--vouchctl PATH] [--entries N] [--dirs "DIR DIR..."]
//        policy_bench --verify-child ENVELOPE KEYDIR   (internal)
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <thread>
#include <string>
#include <vector>

#include "policy/dsse.h"
#include "lib/file_io.h"
#include "policy/make.h"
#include "policy/policy.h"

namespace {

using namespace vouch;
using namespace vouch::policy;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

long peak_rss_kib() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

// Runs in a process of its own so that its peak RSS is vouchd's cost of a
// policy load and nothing of the generator's.
int verify_child(const char *envelope_path, const char *key_dir) {
    long base = peak_rss_kib();
    auto keys = TrustStore::load(key_dir);
    if (!keys)
        return std::fprintf(stderr, "%s\n", keys.error().message.c_str()), 1;
    double best = 1e9;
    size_t entries = 0;
    for (int round = 0; round < 3; ++round) {
        auto t = Clock::now();
        auto env = read_file(envelope_path, kMaxEnvelopeBytes);
        if (!env)
            return std::fprintf(stderr, "%s\n", env.error().message.c_str()), 1;
        auto p = verify_and_parse(*env, *keys);
        if (!p)
            return std::fprintf(stderr, "%s\n", p.error().message.c_str()), 1;
        best = std::min(best, since(t));
        entries = p->entries;
    }
    std::printf("%zu %.4f %ld %ld\n", entries, best, base, peak_rss_kib());
    return 0;
}

std::string self_exe() {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "policy_bench";
}

double run_timed(const std::string &cmd) {
    auto t = Clock::now();
    int rc = std::system(cmd.c_str());
    double s = since(t);
    if (rc != 0) {
        std::fprintf(stderr, "policy_bench: '%s' exited %d\n", cmd.c_str(), rc);
        std::exit(1);
    }
    return s;
}

} // namespace

int main(int argc, char **argv) {
    if (argc == 4 && std::string(argv[1]) == "--verify-child")
        return verify_child(argv[2], argv[3]);
    std::string vouchctl = "build/vouchctl", dirs = "/usr/bin /usr/lib/x86_64-linux-gnu";
    size_t n = 100000;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--vouchctl")
            vouchctl = argv[i + 1];
        else if (a == "--entries")
            n = std::stoul(argv[i + 1]);
        else if (a == "--dirs")
            dirs = argv[i + 1];
    }
    char tmpl[] = "/tmp/vouch-policy-bench-XXXXXX";
    if (!mkdtemp(tmpl))
        return 1;
    std::string tmp = tmpl;

    // 1. The 100,000-digest policy. Paths are the length of real library paths.
    std::mt19937_64 rng(2026);
    PolicyInput in;
    in.serial = 1;
    in.mode = VOUCH_MODE_ENFORCE;
    for (size_t i = 0; i < n; ++i) {
        char path[96], hex[65];
        std::snprintf(path, sizeof(path), "/usr/lib/x86_64-linux-gnu/pkg%05zu/libbench%06zu.so.1",
                      i / 20, i);
        for (int k = 0; k < 4; ++k)
            std::snprintf(hex + 16 * k, 17, "%016" PRIx64, rng());
        in.digests[path] = {hex};
    }
    auto t = Clock::now();
    std::string payload = serialize(in);
    double t_serialize = since(t);
    auto key = SigningKey::load_file("policy/test-keys/ecdsa-p256.key");
    if (!key)
        return std::fprintf(stderr, "%s\n", key.error().message.c_str()), 1;
    t = Clock::now();
    auto env = sign_envelope(payload, *key);
    double t_sign = since(t);
    if (!env)
        return 1;
    std::string env_path = tmp + "/policy.dsse";
    if (!write_file_atomic(env_path, *env, 0644))
        return 1;

    std::string out;
    {
        FILE *f = popen(
            (self_exe() + " --verify-child " + env_path + " policy/test-keys/trusted").c_str(),
            "r");
        char buf[256];
        while (f && fgets(buf, sizeof(buf), f))
            out += buf;
        if (!f || pclose(f) != 0)
            return std::fprintf(stderr, "policy_bench: verify child failed\n"), 1;
    }
    size_t entries = 0;
    double t_verify = 0;
    long base_kib = 0, peak_kib = 0;
    std::istringstream(out) >> entries >> t_verify >> base_kib >> peak_kib;

    std::printf("\npolicy benchmark (host), %zu digests, ECDSA P-256\n", entries);
    std::printf("  %-40s %10.1f MB\n", "payload size", static_cast<double>(payload.size()) / 1e6);
    std::printf("  %-40s %10.1f MB\n", "envelope size", static_cast<double>(env->size()) / 1e6);
    std::printf("  %-40s %10.0f ms\n", "serialize", t_serialize * 1e3);
    std::printf("  %-40s %10.0f ms\n", "sign", t_sign * 1e3);
    std::printf("  %-40s %10.0f ms   (target < 1000 ms) %s\n", "read + verify + parse (best of 3)",
                t_verify * 1e3, t_verify < 1.0 ? "ok" : "MISSED");
    std::printf("  %-40s %10.1f MiB  (target < 64 MiB) %s\n", "peak RSS of the verifying process",
                static_cast<double>(peak_kib) / 1024, peak_kib < 64 * 1024 ? "ok" : "MISSED");
    std::printf("  %-40s %10.1f MiB\n", "  of which before loading",
                static_cast<double>(base_kib) / 1024);

    // 2. policy make against sha256sum over the same regular files.
    std::vector<std::string> roots;
    std::istringstream ds(dirs);
    for (std::string d; ds >> d;)
        roots.push_back(d);
    auto files = collect_files(roots);
    uint64_t bytes = 0;
    for (const auto &f : files.files) {
        struct stat st {};
        if (stat(f.c_str(), &st) == 0)
            bytes += static_cast<uint64_t>(st.st_size);
    }
    std::string list = tmp + "/files";
    std::string nul;
    for (const auto &f : files.files)
        nul += f + '\0';
    if (!write_file_atomic(list, nul, 0644))
        return 1;
    std::string sums = "xargs -0 -a " + list + " sha256sum > /dev/null 2>&1";
    run_timed("xargs -0 -a " + list + " cat > /dev/null 2>&1"); // warm the page cache
    double t_sum = run_timed(sums);
    std::string cores = std::to_string(std::max(1u, std::thread::hardware_concurrency()));
    double t_sum_par =
        run_timed("xargs -0 -a " + list + " -P " + cores + " -n 64 sha256sum > /dev/null 2>&1");
    double t_make = run_timed(vouchctl + " policy make --serial 1 -o " + tmp + "/usr.json " + dirs +
                              " 2>/dev/null");
    double mb = static_cast<double>(bytes) / 1e6;
    std::printf("\npolicy make over %s: %zu files, %.0f MB, warm page cache, %s cores\n",
                dirs.c_str(), files.files.size(), mb, cores.c_str());
    std::printf("  %-40s %8.2f s %8.0f MB/s\n", "vouchctl policy make (all cores)", t_make,
                mb / t_make);
    std::printf("  %-40s %8.2f s %8.0f MB/s\n", "sha256sum (one process)", t_sum, mb / t_sum);
    std::printf("  %-40s %8.2f s %8.0f MB/s\n", ("xargs -P " + cores + " sha256sum").c_str(),
                t_sum_par, mb / t_sum_par);
    std::system(("rm -rf " + tmp).c_str());
    return 0;
}
