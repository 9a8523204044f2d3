// SPDX-License-Identifier: Apache-2.0
// make bench's driver, run inside the instruction-counted VM by
// kernel/vm/guest-bench: the cost of vfork+execve+waitpid with no vouch, with
// vouch (audit, enforce) and with the kernel's IMA measuring, in one boot.
// Two more configurations split vouch's cost: its object loaded but not
// attached (nothing on the exec path: what this boot's noise looks like) and
// empty programs on vouch's hooks (what the kernel charges for calling BPF
// LSM programs at all, the floor under any of them).
//
// Under QEMU's `-icount shift=0,sleep=off` the guest clock advances one
// nanosecond per guest instruction, so every figure printed is a count of
// guest instructions, not a time.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bench_hooks.skel.h"
#include "lib/digest.h"
#include "lib/fd.h"
#include "vouchd/kernel_side.h"
#include "kernel/selftests/lib/verity.h"
#include "lib/owned.h"
#include "vouch.skel.h"

using namespace vouch;

namespace {

constexpr const char *kImaPolicy = "/sys/kernel/security/ima/policy";
constexpr const char *kImaLog = "/sys/kernel/security/ima/ascii_runtime_measurements";

enum class Config { Base, Detached, Hooks, Audit, Enforce, Ima };
constexpr Config kConfigs[] = {Config::Base,  Config::Detached, Config::Hooks,
                               Config::Audit, Config::Enforce,  Config::Ima};
// Interleaved in every round, in rotating order.
constexpr Config kRoundConfigs[] = {Config::Base, Config::Detached, Config::Hooks, Config::Audit,
                                    Config::Enforce};
constexpr int kRoundConfigCount = sizeof(kRoundConfigs) / sizeof(kRoundConfigs[0]);

const char *config_name(Config c) {
    switch (c) {
    case Config::Base:
        return "no vouch";
    case Config::Detached:
        return "vouch loaded, not attached";
    case Config::Hooks:
        return "vouch's hooks, empty programs";
    case Config::Audit:
        return "vouch audit";
    case Config::Enforce:
        return "vouch enforce";
    case Config::Ima:
        return "IMA measure";
    }
    return "?";
}

struct BigFile {
    unsigned mib = 0;
    std::string tmpl; // the static helper padded with random bytes to `mib` MiB
    // Non-empty: fresh copies go to this fs-verity capable directory and get
    // fs-verity enabled (untimed) before their first exec.
    std::string verity_dir;
};

struct Options {
    std::string static_prog;
    std::string dyn_prog;
    std::string workdir = "/tmp/vouch-bench";
    std::vector<BigFile> big;
    int rounds = 16;    // interleaved rounds of the cached rows
    int execs = 50;     // timed execs per cached row, configuration and round
    int big_rounds = 5; // fresh files per size and configuration
    int ima_rounds = 5; // rounds of the cached rows under IMA
    bool ima = true;
    bool aslr = false;
    bool raw = false;    // also print every sample
    bool profile = true; // per-program cost of cached execs, in a separate pass
};

Error errno_error(const std::string &what) {
    return make_error(errno, what + ": " + std::strerror(errno));
}

uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// One vfork+execve+waitpid of `path` with an empty environment, timed from
// before the vfork to after the reap.
Result<uint64_t> timed_exec_here(const std::string &path) {
    char *const argv[] = {const_cast<char *>(path.c_str()), nullptr};
    char *const envp[] = {nullptr};
    int status = 0;
    const uint64_t start = now_ns();
    const pid_t pid = vfork();
    if (pid == 0) {
        execve(argv[0], argv, envp);
        _exit(127);
    }
    if (pid < 0)
        return errno_error("vfork");
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return errno_error("waitpid");
    }
    const uint64_t elapsed = now_ns() - start;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        // 127 is the child's own report that execve failed, e.g. a denial.
        return make_error(EPERM, path + (WIFEXITED(status) && WEXITSTATUS(status) == 127
                                             ? ": execve failed"
                                             : ": did not exit 0"));
    }
    return elapsed;
}

// The execs run in a process forked before anything is loaded: a vfork child
// inherits its parent's descriptor table and closes the close-on-exec ones at
// execve, so execs from the driver itself, which holds vouch's map, program
// and link descriptors, would also time closing those. No ordinary process on
// a vouch system holds them.
class Runner {
  public:
    Result<void> start() {
        int req[2], rep[2];
        if (pipe2(req, O_CLOEXEC) || pipe2(rep, O_CLOEXEC))
            return errno_error("pipe");
        pid_ = fork();
        if (pid_ < 0)
            return errno_error("fork");
        if (pid_ == 0) {
            close(req[1]);
            close(rep[0]);
            serve(req[0], rep[1]);
            _exit(0);
        }
        close(req[0]);
        close(rep[1]);
        req_.reset(req[1]);
        rep_.reset(rep[0]);
        return {};
    }
    ~Runner() {
        req_.reset();
        if (pid_ > 0)
            waitpid(pid_, nullptr, 0);
    }

    Result<uint64_t> exec(const std::string &path) {
        uint32_t len = static_cast<uint32_t>(path.size());
        if (write(req_.get(), &len, sizeof(len)) != sizeof(len) ||
            write(req_.get(), path.data(), len) != static_cast<ssize_t>(len))
            return errno_error("runner request");
        Reply r{};
        if (read(rep_.get(), &r, sizeof(r)) != sizeof(r))
            return errno_error("runner reply");
        if (r.err)
            return make_error(r.err, path + (r.err == EPERM ? ": execve failed or did not exit 0"
                                                            : ": " + std::string(strerror(r.err))));
        return r.elapsed;
    }

  private:
    struct Reply {
        int32_t err;
        uint32_t pad;
        uint64_t elapsed;
    };

    static void serve(int in, int out) {
        for (;;) {
            uint32_t len = 0;
            if (read(in, &len, sizeof(len)) != sizeof(len) || len > 4096)
                return;
            std::string path(len, '\0');
            if (read(in, path.data(), len) != static_cast<ssize_t>(len))
                return;
            auto t = timed_exec_here(path);
            Reply r{t ? 0 : t.error().code, 0, t ? *t : 0};
            if (write(out, &r, sizeof(r)) != sizeof(r))
                return;
        }
    }

    pid_t pid_ = -1;
    UniqueFd req_, rep_;
};

Runner runner;

Result<uint64_t> timed_exec(const std::string &path) {
    return runner.exec(path);
}

// A new inode holding a template's bytes with a unique salt in the last 8
// bytes (inside the padding), removed on destruction: neither vouch's nor
// IMA's per-inode state, nor IMA's digest-keyed log, has seen it.
class FreshFile {
  public:
    static Result<FreshFile> create(const std::string &tmpl, const std::string &path,
                                    uint64_t salt) {
        UniqueFd in(open(tmpl.c_str(), O_RDONLY | O_CLOEXEC));
        if (!in)
            return errno_error("open " + tmpl);
        struct stat st {};
        if (fstat(in.get(), &st) != 0)
            return errno_error("stat " + tmpl);
        unlink(path.c_str());
        UniqueFd out(open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755));
        if (!out)
            return errno_error("create " + path);
        FreshFile f(path);
        std::vector<char> buf;
        for (off_t left = st.st_size; left > 0;) {
            ssize_t n = copy_file_range(in.get(), nullptr, out.get(), nullptr,
                                        static_cast<size_t>(left), 0);
            if (n < 0 && (errno == EXDEV || errno == EOPNOTSUPP)) {
                // Another file system (the fs-verity ext4): copy through memory.
                buf.resize(1 << 20);
                n = read(in.get(), buf.data(), std::min<off_t>(left, buf.size()));
                if (n > 0 && write(out.get(), buf.data(), n) != n)
                    return errno_error("write " + path);
            }
            if (n <= 0)
                return n < 0 ? errno_error("copy to " + path)
                             : make_error(EIO, "short copy to " + path);
            left -= n;
        }
        if (st.st_size < static_cast<off_t>(sizeof(salt)) ||
            pwrite(out.get(), &salt, sizeof(salt), st.st_size - static_cast<off_t>(sizeof(salt))) !=
                static_cast<ssize_t>(sizeof(salt)))
            return errno_error("salt " + path);
        // An fd still open for write would make the exec fail with ETXTBSY.
        if (close(out.release()) != 0)
            return errno_error("close " + path);
        return f;
    }

    FreshFile(FreshFile &&o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
    FreshFile &operator=(FreshFile &&) = delete;
    FreshFile(const FreshFile &) = delete;
    ~FreshFile() {
        if (!path_.empty())
            unlink(path_.c_str());
    }
    const std::string &path() const { return path_; }

  private:
    explicit FreshFile(std::string path) : path_(std::move(path)) {}
    std::string path_;
};

struct Row {
    std::string name;
    bool cached = true; // false: first exec of a fresh file
    unsigned mib = 0;
    std::map<Config, std::vector<uint64_t>> samples;
};

struct Summary {
    uint64_t median = 0;
    uint64_t min = 0;
    size_t n = 0;
};

Summary summarize(std::vector<uint64_t> v) {
    Summary s;
    s.n = v.size();
    if (v.empty())
        return s;
    std::sort(v.begin(), v.end());
    s.min = v.front();
    s.median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    return s;
}

std::string grouped(uint64_t n) {
    std::string digits = std::to_string(n), out;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i && (digits.size() - i) % 3 == 0)
            out.push_back(',');
        out.push_back(digits[i]);
    }
    return out;
}

// a - b with its sign, for differences of unsigned counts.
std::string signed_grouped(uint64_t a, uint64_t b) {
    return a >= b ? "+" + grouped(a - b) : "-" + grouped(b - a);
}

// What cached execs under vouch did on the kernel side: the claim is that an
// unchanged, already reported file costs a cache lookup and nothing else.
struct CachedCheck {
    uint64_t execs = 0;
    uint64_t events = 0;   // delivered through the ring buffer
    uint64_t measured = 0; // vouch_stats.measured
    uint64_t hashes = 0;
    uint64_t cache_hits = 0;
    uint64_t drops = 0;
};

class Bench {
  public:
    explicit Bench(Options opts) : opts_(std::move(opts)) {
        rows_.push_back({"static, cached", true, 0, {}});
        rows_.push_back({"dynamic, cached", true, 0, {}});
        for (const auto &b : opts_.big)
            rows_.push_back({"static " + std::to_string(b.mib) + " MiB" +
                                 (b.verity_dir.empty() ? "" : " with fs-verity") + ", first exec",
                             false,
                             b.mib,
                             {}});
    }

    Result<void> run() {
        if (auto r = build_allow_list(); !r)
            return r;
        for (int round = 0; round < opts_.rounds; ++round) {
            std::fprintf(stderr, "# exec_bench: round %d/%d\n", round + 1, opts_.rounds);
            // Rotating the order spreads any drift across the configurations.
            for (int i = 0; i < kRoundConfigCount; ++i) {
                const Config c = kRoundConfigs[(round + i) % kRoundConfigCount];
                if (auto r = run_config(c, true, round < opts_.big_rounds); !r)
                    return r;
            }
        }
        if (opts_.profile) {
            if (auto r = profile(); !r)
                return r;
        }
        if (opts_.ima) {
            if (auto r = load_ima_policy(); !r)
                return r;
            const int ima_rounds = std::max(opts_.ima_rounds, opts_.big_rounds);
            for (int round = 0; round < ima_rounds; ++round) {
                std::fprintf(stderr, "# exec_bench: IMA round %d/%d\n", round + 1, ima_rounds);
                if (auto r =
                        run_config(Config::Ima, round < opts_.ima_rounds, round < opts_.big_rounds);
                    !r)
                    return r;
            }
            ima_logged_ = count_ima_entries();
        }
        print();
        return {};
    }

  private:
    // Enforce must allow the helpers and what the dynamic one maps: the loader
    // and libc, the same files this program was loaded with.
    Result<void> build_allow_list() {
        std::set<std::string> files = {opts_.static_prog, opts_.dyn_prog};
        std::ifstream maps("/proc/self/maps");
        for (std::string line; std::getline(maps, line);) {
            std::istringstream in(line);
            std::string range, perms, offset, dev, inode, path;
            in >> range >> perms >> offset >> dev >> inode >> path;
            if (perms.size() > 2 && perms[2] == 'x' && !path.empty() && path[0] == '/')
                files.insert(path);
        }
        for (const auto &f : files) {
            auto d = sha256_file(f);
            if (!d)
                return d.error();
            vouch_digest vd{};
            std::memcpy(vd.bytes, d->data(), sizeof(vd.bytes));
            allow_.push_back(vd);
        }
        return {};
    }

    Result<void> run_config(Config c, bool with_cached, bool with_big) {
        if (auto r = enter(c); !r)
            return r;
        if (with_cached) {
            if (auto r = cached_row(rows_[0], c, opts_.static_prog); !r)
                return r;
            if (auto r = cached_row(rows_[1], c, opts_.dyn_prog); !r)
                return r;
        }
        // First execs: vouch measures the same way in both modes.
        if (with_big && (c == Config::Base || c == Config::Audit || c == Config::Ima)) {
            for (size_t i = 0; i < opts_.big.size(); ++i) {
                if (auto r = first_exec_row(rows_[2 + i], c, opts_.big[i]); !r)
                    return r;
            }
        }
        leave();
        return {};
    }

    Result<void> enter(Config c) {
        if (c == Config::Detached) {
            // Both objects attach what KernelSide::load() attaches on this kernel.
            detached_.reset(vouch_bpf__open());
            if (!detached_)
                return errno_error("open vouch.bpf.o");
            choose_programs(detached_.get());
            if (vouch_bpf__load(detached_.get()))
                return errno_error("load vouch.bpf.o");
        } else if (c == Config::Hooks) {
            hooks_.reset(bench_hooks_bpf__open());
            if (!hooks_)
                return errno_error("open bench_hooks.bpf.o");
            bpf_program__set_autoload(hooks_->progs.empty_execve_check, kernel_has_execve_check());
            bpf_program__set_autoload(hooks_->progs.empty_inode_setattr,
                                      kernel_setattr_has_idmap());
            bpf_program__set_autoload(hooks_->progs.empty_inode_setattr_6_1,
                                      !kernel_setattr_has_idmap());
            bpf_program__set_autoload(hooks_->progs.empty_inode_set_acl, kernel_has_acl_hooks());
            bpf_program__set_autoload(hooks_->progs.empty_inode_remove_acl, kernel_has_acl_hooks());
            if (bench_hooks_bpf__load(hooks_.get()))
                return errno_error("load bench_hooks.bpf.o");
            if (bench_hooks_bpf__attach(hooks_.get()))
                return errno_error("attach bench_hooks.bpf.o");
        } else if (c == Config::Audit || c == Config::Enforce) {
            auto ks = KernelSide::load({});
            if (!ks)
                return ks.error();
            ks_ = std::move(*ks);
            if (auto r = ks_->start_events([this](const vouch_event &) { ++events_; }); !r)
                return r;
            if (c == Config::Enforce) {
                if (auto r = ks_->set_policy(allow_, VOUCH_MODE_ENFORCE); !r)
                    return r;
            }
        }
        settle();
        return {};
    }

    void leave() {
        ks_.reset();
        detached_.reset();
        hooks_.reset();
        settle();
    }

    // Loading and unloading leave deferred work (RCU callbacks, map and
    // trampoline frees): let it run now rather than inside a timed exec. With
    // sleep=off an idle guest skips ahead, so this costs no wall time.
    static void settle() { usleep(1000 * 1000); }

    Result<void> drain() {
        if (!ks_)
            return {};
        for (;;) {
            auto n = ks_->poll(0);
            if (!n)
                return n.error();
            if (*n == 0)
                return {};
        }
    }

    Result<void> cached_row(Row &row, Config c, const std::string &prog) {
        // The first exec in a configuration measures (vouch after a load, IMA
        // once per boot); only the ones after it are the cached case.
        if (auto t = timed_exec(prog); !t)
            return make_error(t.error().code,
                              std::string(config_name(c)) + ": " + t.error().message);
        if (auto r = drain(); !r)
            return r;
        vouch_stats before{};
        if (ks_) {
            auto st = ks_->stats();
            if (!st)
                return st.error();
            before = *st;
        }
        const uint64_t events_before = events_;
        auto &out = row.samples[c];
        for (int i = 0; i < opts_.execs; ++i) {
            auto t = timed_exec(prog);
            if (!t)
                return make_error(t.error().code,
                                  std::string(config_name(c)) + ": " + t.error().message);
            out.push_back(*t);
        }
        if (ks_) {
            if (auto r = drain(); !r)
                return r;
            auto after = ks_->stats();
            if (!after)
                return after.error();
            check_.execs += static_cast<uint64_t>(opts_.execs);
            check_.events += events_ - events_before;
            check_.measured += after->measured - before.measured;
            check_.hashes += after->hashes - before.hashes;
            check_.cache_hits += after->cache_hits - before.cache_hits;
            check_.drops += after->ringbuf_drops - before.ringbuf_drops;
        }
        return {};
    }

    Result<void> first_exec_row(Row &row, Config c, const BigFile &big) {
        const char *tag = c == Config::Base ? "base" : c == Config::Ima ? "ima" : "vouch";
        std::string path = (big.verity_dir.empty() ? opts_.workdir : big.verity_dir) + "/fresh-" +
                           tag + "-" + std::to_string(big.mib) + "-" + std::to_string(++fresh_);
        auto f = FreshFile::create(big.tmpl, path, fresh_);
        if (!f)
            return f.error();
        if (!big.verity_dir.empty()) {
            if (auto r = selftest::enable_verity(path); !r)
                return r;
        }
        // Copying a large file leaves dirty-page and LRU work behind.
        settle();
        auto t = timed_exec(f->path());
        if (!t)
            return make_error(t.error().code,
                              std::string(config_name(c)) + ": " + t.error().message);
        row.samples[c].push_back(*t);
        if (c == Config::Ima)
            ima_fresh_.push_back(path);
        return drain();
    }

    struct ProgCount {
        std::string name;
        uint64_t runs = 0;
        uint64_t ns = 0;
    };

    Result<std::map<uint32_t, ProgCount>> prog_counts() const {
        std::map<uint32_t, ProgCount> out;
        for (uint32_t id : ks_->prog_ids()) {
            UniqueFd fd(bpf_prog_get_fd_by_id(id));
            if (!fd)
                return errno_error("bpf_prog_get_fd_by_id");
            bpf_prog_info info{};
            uint32_t len = sizeof(info);
            if (bpf_obj_get_info_by_fd(fd.get(), &info, &len))
                return errno_error("bpf_obj_get_info_by_fd");
            out[id] = {info.name, info.run_cnt, info.run_time_ns};
        }
        return out;
    }

    // The rows say what vouch costs; this says where, per program. Run-time
    // statistics add clock reads to every run, so they are on only here.
    Result<void> profile() {
        std::fprintf(stderr, "# exec_bench: profile\n");
        if (auto r = enter(Config::Audit); !r)
            return r;
        UniqueFd stats(bpf_enable_stats(BPF_STATS_RUN_TIME));
        if (!stats)
            return errno_error("bpf_enable_stats");
        const std::string *progs[] = {&opts_.static_prog, &opts_.dyn_prog};
        for (size_t i = 0; i < 2; ++i) {
            if (auto t = timed_exec(*progs[i]); !t)
                return t.error();
            // Reading the counters is itself a bpf() call that vouch's hook
            // on bpf() sees: two reads in a row measure that, to subtract.
            auto first = prog_counts();
            auto before = prog_counts();
            if (!first || !before)
                return (first ? before : first).error();
            for (int n = 0; n < opts_.execs; ++n) {
                if (auto t = timed_exec(*progs[i]); !t)
                    return t.error();
            }
            auto after = prog_counts();
            if (!after)
                return after.error();
            auto delta = [](uint64_t run, uint64_t self) { return run > self ? run - self : 0; };
            for (const auto &[id, a] : *after) {
                auto &p = profile_[a.name];
                const ProgCount &b = (*before)[id], &f = (*first)[id];
                p[i].runs = delta(a.runs - b.runs, b.runs - f.runs);
                p[i].ns = delta(a.ns - b.ns, b.ns - f.ns);
            }
        }
        stats.reset();
        leave();
        return {};
    }

    Result<void> load_ima_policy() {
        // Without CONFIG_IMA_WRITE_POLICY the policy file disappears once
        // written, so this works once per boot: both rules in one open.
        const std::string rules = "measure func=BPRM_CHECK\nmeasure func=MMAP_CHECK\n";
        UniqueFd fd(open(kImaPolicy, O_WRONLY | O_CLOEXEC));
        if (!fd)
            return errno_error(std::string("open ") + kImaPolicy + " (already written this boot?)");
        // IMA parses one rule per write() and returns the length of that rule.
        for (size_t off = 0; off < rules.size();) {
            ssize_t n = write(fd.get(), rules.data() + off, rules.size() - off);
            if (n <= 0)
                return errno_error(std::string("write ") + kImaPolicy);
            off += static_cast<size_t>(n);
        }
        // The rules take effect when the file is closed.
        if (close(fd.release()) != 0)
            return errno_error(std::string("close ") + kImaPolicy);
        settle();
        return {};
    }

    size_t count_ima_entries() const {
        std::ifstream log(kImaLog);
        std::set<std::string> seen;
        for (std::string line; std::getline(log, line);) {
            for (const auto &p : ima_fresh_) {
                if (line.find(" " + p + " ") != std::string::npos || line.ends_with(" " + p))
                    seen.insert(p);
            }
        }
        return seen.size();
    }

    // The row of opts_.big[i].
    const Row *big_row(size_t i) const { return i + 2 < rows_.size() ? &rows_[i + 2] : nullptr; }

    void print() const {
        utsname u{};
        uname(&u);
        std::printf("\n## vouch exec benchmark\n\n");
        std::printf("kernel %s, QEMU TCG -icount shift=0,sleep=off, 1 vCPU\n", u.release);
        std::printf("unit: guest instructions, not time. With icount the guest clock advances\n"
                    "1 ns per guest instruction, so clock_gettime(CLOCK_MONOTONIC) around\n"
                    "vfork+execve+waitpid counts the instructions executed (plus virtual time\n"
                    "the guest spends waiting for a device, e.g. the TPM).\n");
        std::printf("cached rows: %d rounds x %d execs per configuration, the five\n"
                    "configurations above IMA interleaved (order rotated per round), each after\n"
                    "one untimed exec that measures; first-exec rows: %d fresh files per size\n"
                    "and configuration, vouch in audit mode.%s\n",
                    opts_.rounds, opts_.execs, opts_.big_rounds,
                    opts_.aslr ? "" : " ASLR off for the exec'd programs in every configuration.");
        if (opts_.ima)
            std::printf("IMA rows: after all vouch rounds, vouch unloaded, IMA policy\n"
                        "'measure func=BPRM_CHECK' + 'measure func=MMAP_CHECK' (%d rounds of\n"
                        "cached execs); ratios are to the same boot's no-vouch rows. IMA's first\n"
                        "measurement includes extending PCR 10 in the TPM (swtpm).\n",
                        opts_.ima_rounds);
        std::printf("\n| exec | configuration | median | min | n | vs no vouch |\n"
                    "|---|---|---:|---:|---:|---:|\n");
        for (const auto &row : rows_) {
            auto base_it = row.samples.find(Config::Base);
            const uint64_t base =
                base_it == row.samples.end() ? 0 : summarize(base_it->second).median;
            for (Config c : kConfigs) {
                auto it = row.samples.find(c);
                if (it == row.samples.end())
                    continue;
                Summary s = summarize(it->second);
                char ratio[32] = "";
                if (base)
                    std::snprintf(ratio, sizeof(ratio), "%.4fx", double(s.median) / double(base));
                std::printf("| %s | %s | %s | %s | %zu | %s |\n", row.name.c_str(), config_name(c),
                            grouped(s.median).c_str(), grouped(s.min).c_str(), s.n, ratio);
            }
        }
        print_targets();
        print_split();
        print_profile();
        if (opts_.raw) {
            std::printf("\nsamples:\n");
            for (const auto &row : rows_)
                for (const auto &[c, v] : row.samples) {
                    std::printf("%s | %s |", row.name.c_str(), config_name(c));
                    for (uint64_t x : v)
                        std::printf(" %" PRIu64, x);
                    std::printf("\n");
                }
        }
        std::fflush(stdout);
    }

    void print_targets() const {
        std::printf("\ntargets (reported, not enforced):\n");
        for (size_t i = 0; i < 2; ++i) {
            const Row &row = rows_[i];
            const uint64_t base = median(row, Config::Base);
            for (Config c : {Config::Audit, Config::Enforce}) {
                const uint64_t m = median(row, c);
                if (!base || !m)
                    continue;
                double over = (double(m) / double(base) - 1.0) * 100.0;
                std::printf("  %s  %s exec, %s: %+.2f%% over no vouch (target <= +0.5%%)\n",
                            over <= 0.5 ? "PASS" : "FAIL", row.name.c_str(), config_name(c), over);
            }
        }
        for (size_t i = 0; i < opts_.big.size(); ++i) {
            const BigFile &b = opts_.big[i];
            const Row *row = big_row(i);
            if (!b.verity_dir.empty()) {
                print_verity_target(i);
                continue;
            }
            const uint64_t v = row ? median(*row, Config::Audit) : 0;
            const uint64_t ima = row ? median(*row, Config::Ima) : 0;
            if (!v || !ima) {
                std::printf("  SKIP  first exec %u MiB: no IMA rows\n", b.mib);
                continue;
            }
            std::printf("  %s  first exec %u MiB: vouch %s vs IMA %s, vouch - IMA = %s (target "
                        "vouch <= IMA)\n",
                        v <= ima ? "PASS" : "FAIL", b.mib, grouped(v).c_str(), grouped(ima).c_str(),
                        signed_grouped(v, ima).c_str());
        }
        const bool quiet = check_.events == 0 && check_.measured == 0 && check_.hashes == 0 &&
                           check_.drops == 0 && check_.cache_hits > 0;
        std::printf("  %s  cached execs under vouch emit no event: %" PRIu64 " execs -> %" PRIu64
                    " ring-buffer events, vouch_stats: measured +%" PRIu64 ", hashes +%" PRIu64
                    ", ringbuf_drops +%" PRIu64 ", cache_hits +%" PRIu64 "\n",
                    quiet ? "PASS" : "FAIL", check_.execs, check_.events, check_.measured,
                    check_.hashes, check_.drops, check_.cache_hits);
        if (opts_.ima)
            std::printf("  %s  IMA measured the fresh files: %zu of %zu in %s\n",
                        ima_logged_ == ima_fresh_.size() ? "PASS" : "FAIL", ima_logged_,
                        ima_fresh_.size(), kImaLog);
    }

    // fs-verity: what vouch adds to a first exec of such a file, against what
    // it adds to the first exec of a file of the same size that it hashes.
    void print_verity_target(size_t i) const {
        const BigFile &b = opts_.big[i];
        const Row *hashed = nullptr;
        for (size_t j = 0; j < opts_.big.size(); ++j)
            if (opts_.big[j].verity_dir.empty() && opts_.big[j].mib == b.mib)
                hashed = big_row(j);
        const Row *row = big_row(i);
        const uint64_t vb = row ? median(*row, Config::Base) : 0,
                       va = row ? median(*row, Config::Audit) : 0;
        const uint64_t hb = hashed ? median(*hashed, Config::Base) : 0,
                       ha = hashed ? median(*hashed, Config::Audit) : 0;
        if (!vb || !va || !hb || !ha || ha <= hb) {
            std::printf("  SKIP  first exec %u MiB with fs-verity: no hashed row of that size\n",
                        b.mib);
            return;
        }
        const double added = double(va) - double(vb), hashing = double(ha) - double(hb);
        const double pct = 100.0 * added / hashing;
        const bool kfunc = kernel_has_fsverity_kfunc();
        std::printf(
            "  %s  first exec %u MiB with fs-verity: vouch adds %s, %.3f%% of the %s it adds "
            "when it hashes a %u MiB file (target <= 1%%%s)\n",
            !kfunc       ? "N/A "
            : pct <= 1.0 ? "PASS"
                         : "FAIL",
            b.mib, signed_grouped(va, vb).c_str(), pct, grouped(ha - hb).c_str(), b.mib,
            kfunc ? "" : "; no bpf_get_fsverity_digest before 6.8: vouch hashes it");
    }

    // Differences of medians from this boot, in instructions and in percent of
    // the no-vouch median.
    void print_split() const {
        std::printf("\nwhere a cached exec's cost goes (differences of medians, this boot):\n\n"
                    "| exec | loaded, not attached - no vouch (noise) | empty programs - no vouch "
                    "(kernel's BPF LSM calls) | audit - empty programs (vouch's programs) | "
                    "enforce - empty programs (vouch's programs) |\n|---|---:|---:|---:|---:|\n");
        for (size_t i = 0; i < 2; ++i) {
            const Row &row = rows_[i];
            const uint64_t base = median(row, Config::Base);
            const uint64_t hooks = median(row, Config::Hooks);
            if (!base || !hooks)
                continue;
            auto cell = [&](Config c, uint64_t from) {
                const uint64_t m = median(row, c);
                if (!m)
                    return std::string("-");
                char pct[32];
                std::snprintf(pct, sizeof(pct), " (%+.2f%%)",
                              (double(m) - double(from)) / double(base) * 100.0);
                return signed_grouped(m, from) + pct;
            };
            std::printf("| %s | %s | %s | %s | %s |\n", row.name.c_str(),
                        cell(Config::Detached, base).c_str(), cell(Config::Hooks, base).c_str(),
                        cell(Config::Audit, hooks).c_str(), cell(Config::Enforce, hooks).c_str());
        }
    }

    void print_profile() const {
        if (profile_.empty())
            return;
        std::printf("\nwhere vouch's cost of a cached exec goes (audit, separate pass with\n"
                    "kernel.bpf_stats_enabled; instructions inside each program, without the\n"
                    "trampoline around it; per exec, %d execs):\n\n"
                    "| program | static: runs | static: instructions | dynamic: runs | "
                    "dynamic: instructions |\n|---|---:|---:|---:|---:|\n",
                    opts_.execs);
        const double n = opts_.execs;
        uint64_t total[2] = {0, 0};
        for (const auto &[name, p] : profile_) {
            if (!p[0].runs && !p[1].runs)
                continue;
            std::printf("| %s | %.1f | %s | %.1f | %s |\n", name.c_str(), double(p[0].runs) / n,
                        grouped(uint64_t(double(p[0].ns) / n)).c_str(), double(p[1].runs) / n,
                        grouped(uint64_t(double(p[1].ns) / n)).c_str());
            total[0] += p[0].ns;
            total[1] += p[1].ns;
        }
        std::printf("| all programs | | %s | | %s |\n",
                    grouped(uint64_t(double(total[0]) / n)).c_str(),
                    grouped(uint64_t(double(total[1]) / n)).c_str());
        for (size_t i = 0; i < 2; ++i) {
            const uint64_t base = median(rows_[i], Config::Base);
            const uint64_t audit = median(rows_[i], Config::Audit);
            if (base && audit)
                std::printf("%s: vouch audit - no vouch = %s instructions (medians)\n",
                            rows_[i].name.c_str(), signed_grouped(audit, base).c_str());
        }
        std::printf("The run-time statistics add their own clock reads to every run, so these\n"
                    "read higher than the programs cost with statistics off (compare the audit -\n"
                    "empty programs column above).\n");
    }

    static uint64_t median(const Row &row, Config c) {
        auto it = row.samples.find(c);
        return it == row.samples.end() ? 0 : summarize(it->second).median;
    }

    Options opts_;
    std::vector<Row> rows_;
    std::vector<vouch_digest> allow_;
    std::unique_ptr<KernelSide> ks_;
    Owned<vouch_bpf, vouch_bpf__destroy> detached_;
    Owned<bench_hooks_bpf, bench_hooks_bpf__destroy> hooks_;
    uint64_t events_ = 0;
    uint64_t fresh_ = 0;
    CachedCheck check_;
    std::vector<std::string> ima_fresh_;
    // program name -> {static, dynamic} counts over opts_.execs execs
    std::map<std::string, std::array<ProgCount, 2>> profile_;
    size_t ima_logged_ = 0;
};

void usage(FILE *to) {
    std::fprintf(to,
                 "Usage: exec_bench --static PATH --dyn PATH [--big MIB=TEMPLATE]...\n"
                 "                  [--verity-big MIB=TEMPLATE:DIR]\n"
                 "                  [--rounds N] [--execs N] [--big-rounds N] [--ima-rounds N]\n"
                 "                  [--no-ima] [--no-profile] [--aslr] [--raw] [--workdir DIR]\n"
                 "Run as root in a VM booted with bpf in lsm= and no IMA policy yet: it loads\n"
                 "vouch's BPF programs and writes the IMA policy (once per boot).\n"
                 "TEMPLATE: an executable padded to MIB MiB; its last 8 bytes are overwritten\n"
                 "in each fresh copy. --verity-big: fresh copies in DIR (a file system with\n"
                 "fs-verity) get fs-verity enabled before their first exec.\n");
}

bool parse_int(const char *s, int &out) {
    char *end = nullptr;
    long v = std::strtol(s, &end, 10);
    if (!*s || *end || v < 1 || v > 100000)
        return false;
    out = static_cast<int>(v);
    return true;
}

bool parse_args(int argc, char **argv, Options &o) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> const char * { return i + 1 < argc ? argv[++i] : nullptr; };
        const char *v = nullptr;
        if (a == "--no-ima") {
            o.ima = false;
        } else if (a == "--aslr") {
            o.aslr = true;
        } else if (a == "--raw") {
            o.raw = true;
        } else if (a == "--no-profile") {
            o.profile = false;
        } else if (a == "-h" || a == "--help") {
            usage(stdout);
            std::exit(0);
        } else if (!(v = value())) {
            return false;
        } else if (a == "--static") {
            o.static_prog = v;
        } else if (a == "--dyn") {
            o.dyn_prog = v;
        } else if (a == "--workdir") {
            o.workdir = v;
        } else if (a == "--big") {
            std::string s = v;
            auto eq = s.find('=');
            int mib = 0;
            if (eq == std::string::npos || !parse_int(s.substr(0, eq).c_str(), mib))
                return false;
            o.big.push_back({static_cast<unsigned>(mib), s.substr(eq + 1), {}});
        } else if (a == "--verity-big") {
            // MIB=TEMPLATE:DIR, DIR on a file system with fs-verity
            std::string s = v;
            auto eq = s.find('='), colon = s.rfind(':');
            int mib = 0;
            if (eq == std::string::npos || colon == std::string::npos || colon < eq ||
                !parse_int(s.substr(0, eq).c_str(), mib))
                return false;
            o.big.push_back({static_cast<unsigned>(mib), s.substr(eq + 1, colon - eq - 1),
                             s.substr(colon + 1)});
        } else if (a == "--rounds") {
            if (!parse_int(v, o.rounds))
                return false;
        } else if (a == "--execs") {
            if (!parse_int(v, o.execs))
                return false;
        } else if (a == "--big-rounds") {
            if (!parse_int(v, o.big_rounds))
                return false;
        } else if (a == "--ima-rounds") {
            if (!parse_int(v, o.ima_rounds))
                return false;
        } else {
            return false;
        }
    }
    return !o.static_prog.empty() && !o.dyn_prog.empty();
}

} // namespace

int main(int argc, char **argv) {
    Options opts;
    if (!parse_args(argc, argv, opts)) {
        usage(stderr);
        return 2;
    }
    // A randomized layout changes how many page tables an exec allocates,
    // which is noise next to the differences measured here. The setting is
    // inherited by every child the driver execs, in every configuration.
    if (!opts.aslr && personality(personality(0xffffffff) | ADDR_NO_RANDOMIZE) < 0) {
        std::perror("exec_bench: personality");
        return 1;
    }
    if (auto r = runner.start(); !r) {
        std::fprintf(stderr, "exec_bench: %s\n", r.error().message.c_str());
        return 1;
    }
    Bench bench(std::move(opts));
    if (auto r = bench.run(); !r) {
        std::fprintf(stderr, "exec_bench: %s\n", r.error().message.c_str());
        return 1;
    }
    return 0;
}
