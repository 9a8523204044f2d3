// SPDX-License-Identifier: Apache-2.0
// The D-Bus service against a real private dbus-daemon: a test backend is
// served through the real BusService, and read and called with sd-bus,
// busctl and the built vouchctl as clients. vouchd itself needs a BPF LSM
// kernel and is covered by the VM tests.
#include "vouchd/bus.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <variant>

#include <nlohmann/json.hpp>

#include "bpf/vouch_abi.h"
#include "lib/digest.h"
#include "lib/ima_log.h"
#include "lib/log_record.h"
#include "policy/compose.h"
#include "policy/dsse.h"
#include "tests/vouchd/bus_client.h"
#include "tests/vouchd/dbus_daemon.h"

namespace {

using namespace vouch;
using vouch::testing::DbusDaemon;
using vouch::testing::EventThread;
using namespace vouch::testing::bus;

constexpr uid_t kNobody = 65534;

// Accepts "SERIAL <n>\n..." above the active serial, and answers
// "ERRNO <n>" with that error; anything else is malformed.
class TestBackend : public ServiceBackend {
  public:
    TestBackend() {
        st_.mode = "audit";
        st_.pcr_index = 10;
        st_.pcr_banks = {"sha1", "sha256"};
        st_.tpm_state = "ok";
        st_.kernel_support = {"bprm_check", "mmap_file", "file_mprotect"};
        st_.version = "0.1.0-test";
        st_.measurements = 3;
        for (uint64_t i = 0; i < 5; i++) {
            LogRecord r;
            r.index = i;
            r.pcr = i == 2 ? 9 : 10; // "%2u" in the ASCII form
            r.template_name = i == 4 ? "ima-sig" : "ima-ng";
            r.template_hash = std::vector<uint8_t>(20, uint8_t(0x10 + i));
            r.file_digest = "sha256:" + std::string(64, char('a' + i));
            r.path = "/usr/bin/prog" + std::to_string(i);
            if (i == 4)
                r.signature = {0x03, 0x02, 0x01};
            if (i == 3) {
                r.violation = true;
                r.template_hash.assign(20, 0);
            }
            log_.push_back(r);
        }
    }
    ServiceStatus status() const override {
        std::lock_guard lk(mu_);
        return st_;
    }
    Result<uint64_t> update_policy(std::string_view env) override {
        std::lock_guard lk(mu_);
        calls_++;
        std::string s(env.substr(0, 32));
        // A real envelope (policy check --local-key signs one): its serial
        // and mode, and CheckDigests answers from its lists.
        if (s.starts_with("{")) {
            auto d = vouch::policy::read_document(env);
            if (!d)
                return make_error(EBADMSG, d.error().message);
            if (d->serial <= st_.policy_serial)
                return make_error(ESTALE, "serial " + std::to_string(d->serial) + " is not above");
            st_.policy_serial = d->serial;
            st_.mode = d->mode == VOUCH_MODE_ENFORCE ? "enforce" : "audit";
            envelope_ = std::string(env);
            doc_ = std::move(*d);
            return st_.policy_serial;
        }
        if (s.starts_with("ERRNO "))
            return make_error(std::stoi(s.substr(6)), "backend refused with " + s.substr(6));
        if (!s.starts_with("SERIAL "))
            return make_error(EBADMSG, "not a policy envelope");
        uint64_t serial = std::stoull(s.substr(7));
        if (serial <= st_.policy_serial)
            return make_error(ESTALE, "serial " + std::to_string(serial) +
                                          " is not above the active " +
                                          std::to_string(st_.policy_serial));
        auto d = sha256_bytes(std::span(reinterpret_cast<const uint8_t *>(env.data()), env.size()));
        st_.policy_serial = serial;
        st_.policy_digest = "sha256:" + to_hex(d);
        st_.policy_keyid = "test-key";
        st_.policy_entries = env.size();
        st_.mode = "enforce";
        envelope_ = std::string(env);
        return serial;
    }
    // Flags: from the active real envelope's lists, else the digest's first
    // byte, low three bits.
    Result<std::vector<uint32_t>> check_digests(const std::vector<Sha256> &digests) const override {
        std::lock_guard lk(mu_);
        auto listed = [](const vouch::policy::PathDigests &m, const std::string &hex) {
            for (const auto &[path, list] : m)
                if (std::find(list.begin(), list.end(), hex) != list.end())
                    return true;
            return false;
        };
        std::vector<uint32_t> out;
        for (const auto &d : digests) {
            if (!doc_) {
                out.push_back(d[0] & 7);
                continue;
            }
            std::string hex = to_hex(d);
            out.push_back((listed(doc_->digests, hex) ? VOUCH_ALLOW_EXEC : 0) |
                          (listed(doc_->agents, hex) ? VOUCH_ALLOW_AGENT : 0));
        }
        return out;
    }
    Result<std::string> active_policy() const override {
        std::lock_guard lk(mu_);
        if (envelope_.empty())
            return make_error(ENOENT, "no policy is active");
        return envelope_;
    }
    std::vector<LogRecord> log(uint64_t first, uint32_t count) const override {
        std::lock_guard lk(mu_);
        std::vector<LogRecord> out;
        for (uint64_t i = first; i < log_.size() && out.size() < count; i++)
            out.push_back(log_[i]);
        return out;
    }

    void set_log_size(size_t n) {
        std::lock_guard lk(mu_);
        while (log_.size() < n) {
            LogRecord r = log_[0];
            r.index = log_.size();
            r.path = "/opt/f" + std::to_string(r.index);
            log_.push_back(r);
        }
    }
    void set_log(std::vector<LogRecord> records) {
        std::lock_guard lk(mu_);
        log_ = std::move(records);
    }
    void edit(const std::function<void(ServiceStatus &)> &fn) {
        std::lock_guard lk(mu_);
        fn(st_);
    }
    int calls() const {
        std::lock_guard lk(mu_);
        return calls_;
    }

  private:
    mutable std::mutex mu_;
    ServiceStatus st_;
    std::vector<LogRecord> log_;
    int calls_ = 0;
    std::string envelope_;
    std::optional<vouch::policy::Document> doc_;
};

// Runs `fn` in a child that dropped to nobody/nogroup and returns what it
// returned (or why it could not run).
std::string as_nobody(const std::function<std::string()> &fn) {
    int p[2];
    if (::pipe(p) < 0)
        return "pipe failed";
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(p[0]);
        std::string out;
        if (::setgroups(0, nullptr) < 0 || ::setgid(kNobody) < 0 || ::setuid(kNobody) < 0)
            out = "cannot become nobody";
        else
            out = fn();
        (void)!::write(p[1], out.data(), out.size());
        ::_exit(0);
    }
    ::close(p[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(p[0], buf, sizeof(buf))) > 0)
        out.append(buf, size_t(n));
    ::close(p[0]);
    ::waitpid(pid, nullptr, 0);
    return out;
}

BusOptions test_options(const std::string &address) {
    BusOptions o;
    o.kind = BusKind::Address;
    o.address = address;
    o.read_group = "nogroup"; // nobody's primary group: nobody may read
    o.denied_burst = 50;
    o.denied_rate = 10;
    o.changed_interval_usec = 300'000;
    o.max_envelope_bytes = 1u << 20;
    o.exit_on_disconnect = false;
    return o;
}

class BusTest : public ::testing::Test {
  protected:
    void SetUp() override { start_bus(""); }
    void TearDown() override { stop_service(); }

    void start_bus(const std::string &extra_policy) {
        stop_service();
        daemon.reset();
        daemon = std::make_unique<DbusDaemon>(extra_policy);
        std::string why = daemon->start();
        ASSERT_EQ(why, "");
        start_service(test_options(daemon->address()));
    }
    void start_service(const BusOptions &o) {
        stop_service();
        std::string err;
        loop.run([&] {
            auto s = BusService::start(loop.event(), backend, o);
            if (s)
                svc = std::move(*s);
            else
                err = s.error().message;
        });
        ASSERT_EQ(err, "");
        ASSERT_TRUE(svc);
    }
    void stop_service() {
        loop.run([&] { svc.reset(); });
    }
    void on_loop(const std::function<void(BusService &)> &fn) {
        loop.run([&] { fn(*svc); });
    }

    TestBackend backend;
    EventThread loop;
    std::unique_ptr<DbusDaemon> daemon;
    std::unique_ptr<BusService> svc;
};

TEST_F(BusTest, EveryPropertyReadsTheBackend) {
    backend.edit([](ServiceStatus &s) {
        s.policy_serial = 7;
        s.policy_digest = "sha256:" + std::string(64, 'd');
        s.policy_keyid = "k1";
        s.policy_entries = 1234;
        s.measurements = 99;
        s.denials = 5;
        s.would_denials = 6;
        s.lost_events = 2;
        s.pcr_index = 11;
        s.tpm_message = "";
        s.pending_extends = 4;
        s.protection = {{"trust-state", "none: audit mode protects nothing"},
                        {"serial", "tpm-nv 0x013a5e12 serial 7, owner password set"}};
    });
    Client c(daemon->address());
    auto all = c.get_all();
    ASSERT_TRUE(all.ok()) << all.error;
    std::map<std::string, Value> want = {
        {"Mode", std::string("audit")},
        {"PolicySerial", uint64_t(7)},
        {"PolicyDigest", "sha256:" + std::string(64, 'd')},
        {"PolicyKeyId", std::string("k1")},
        {"PolicyEntries", uint64_t(1234)},
        {"Measurements", uint64_t(99)},
        {"Denials", uint64_t(5)},
        {"LostEvents", uint64_t(2)},
        {"DeniedSignalsDropped", uint64_t(0)},
        {"WouldDenials", uint64_t(6)},
        {"WouldDenySignalsDropped", uint64_t(0)},
        {"PcrIndex", uint32_t(11)},
        {"PcrBanks", std::vector<std::string>{"sha1", "sha256"}},
        {"TpmState", std::string("ok")},
        {"TpmMessage", std::string("")},
        {"PendingExtends", uint64_t(4)},
        {"KernelSupport", std::vector<std::string>{"bprm_check", "mmap_file", "file_mprotect"}},
        {"Protection", Pairs{{"trust-state", "none: audit mode protects nothing"},
                             {"serial", "tpm-nv 0x013a5e12 serial 7, owner password set"}}},
        {"Version", std::string("0.1.0-test")},
    };
    EXPECT_EQ(all.value, want);

    // Status() is the same dictionary in one call.
    auto st = c.status();
    ASSERT_TRUE(st.ok()) << st.error;
    EXPECT_EQ(st.value, want);

    // And an independent client reads the same, one property at a time.
    for (const auto &[name, v] : want) {
        auto out = run_capture({"busctl", "--address=" + daemon->address(), "get-property",
                                dbus::kName, dbus::kPath, dbus::kInterface, name});
        EXPECT_EQ(out.rc, 0) << name << ": " << out.err;
        EXPECT_EQ(out.out, busctl_format(v) + "\n") << name;
    }
}

TEST_F(BusTest, NonUtf8PathIsEscaped) {
    Client c(daemon->address());
    backend.edit([](ServiceStatus &s) {
        s.mode = std::string("a\xff"
                             "b\xc3");
    });
    auto mode = c.get_all();
    ASSERT_TRUE(mode.ok()) << mode.error;
    EXPECT_EQ(std::get<std::string>(mode.value["Mode"]), "a\\xffb\\xc3");
}

TEST_F(BusTest, UpdatePolicyReturnsTheSerialAndSignalsWhatChanged) {
    Client c(daemon->address());
    ASSERT_TRUE(c.watch_properties());
    std::string env = "SERIAL 42\n" + std::string(100, 'x');
    auto r = c.update_policy(env);
    ASSERT_EQ(r.error_name, "") << r.error_message;
    EXPECT_EQ(r.serial, 42u);
    c.drain();
    ASSERT_EQ(c.changes.size(), 1u);
    auto &ch = c.changes[0];
    auto d = sha256_bytes(std::span(reinterpret_cast<const uint8_t *>(env.data()), env.size()));
    std::map<std::string, Value> want = {
        {"Mode", std::string("enforce")},        {"PolicySerial", uint64_t(42)},
        {"PolicyDigest", "sha256:" + to_hex(d)}, {"PolicyKeyId", std::string("test-key")},
        {"PolicyEntries", uint64_t(env.size())},
    };
    EXPECT_EQ(ch, want);
    EXPECT_EQ(std::get<uint64_t>(c.get_all().value["PolicySerial"]), 42u);
}

TEST_F(BusTest, RefusedUpdateSignalsNothing) {
    Client c(daemon->address());
    ASSERT_TRUE(c.watch_properties());
    ASSERT_EQ(c.update_policy("SERIAL 5\n").error_name, "");
    c.drain();
    ASSERT_EQ(c.changes.size(), 1u);
    c.changes.clear();
    auto r = c.update_policy("SERIAL 4\n");
    EXPECT_EQ(r.error_name, dbus::kErrorRollback);
    EXPECT_EQ(r.error_message, "serial 4 is not above the active 5");
    // The service signals before it replies, so anything it sent is here now.
    c.drain();
    EXPECT_TRUE(c.changes.empty());
    EXPECT_EQ(std::get<uint64_t>(c.get_all().value["PolicySerial"]), 5u);
}

TEST_F(BusTest, EveryErrorNameCarriesTheBackendsMessage) {
    Client c(daemon->address());
    const std::pair<int, const char *> cases[] = {
        {EBADMSG, "org.vouch.Vouch1.Error.Malformed"},
        {EKEYREJECTED, "org.vouch.Vouch1.Error.BadSignature"},
        {ENOKEY, "org.vouch.Vouch1.Error.UnknownKey"},
        {ESTALE, "org.vouch.Vouch1.Error.Rollback"},
        {EFBIG, "org.vouch.Vouch1.Error.TooLarge"},
        {EPERM, "org.freedesktop.DBus.Error.AccessDenied"},
        {EIO, "org.vouch.Vouch1.Error.Failed"},
        {ENOSPC, "org.vouch.Vouch1.Error.Failed"},
    };
    for (auto [code, name] : cases) {
        auto r = c.update_policy("ERRNO " + std::to_string(code));
        EXPECT_EQ(r.error_name, name) << code;
        EXPECT_EQ(r.error_message, "backend refused with " + std::to_string(code));
        EXPECT_EQ(dbus::policy_error_name(code), std::string(name));
    }
    auto r = c.update_policy("garbage");
    EXPECT_EQ(r.error_name, dbus::kErrorMalformed);
    EXPECT_EQ(r.error_message, "not a policy envelope");
}

TEST_F(BusTest, UpdatePolicyFdReadsAFileFromItsStart) {
    Client c(daemon->address());
    // Larger than one read, under the limit (1 MiB in these tests).
    std::string env = "SERIAL 9\n" + std::string(900'000, 'p');
    int fd = ::memfd_create("envelope", MFD_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, env.data(), env.size()), ssize_t(env.size()));
    // The file position is at the end; the service reads from offset 0.
    auto r = c.update_policy_fd(fd);
    ASSERT_EQ(r.error_name, "") << r.error_message;
    EXPECT_EQ(r.serial, 9u);
    EXPECT_EQ(std::get<uint64_t>(c.get_all().value["PolicyEntries"]), env.size());

    // Over the limit: refused before the backend sees it.
    int calls = backend.calls();
    std::string big = "SERIAL 10\n" + std::string(1u << 20, 'p');
    ASSERT_EQ(::pwrite(fd, big.data(), big.size(), 0), ssize_t(big.size()));
    r = c.update_policy_fd(fd);
    EXPECT_EQ(r.error_name, dbus::kErrorTooLarge);
    r = c.update_policy(big);
    EXPECT_EQ(r.error_name, dbus::kErrorTooLarge);
    EXPECT_EQ(backend.calls(), calls);
    ::close(fd);

    // A pipe could stall the loop: refused.
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    r = c.update_policy_fd(p[0]);
    EXPECT_EQ(r.error_name, "org.freedesktop.DBus.Error.InvalidArgs");
    ::close(p[0]);
    ::close(p[1]);
    EXPECT_EQ(backend.calls(), calls);
}

TEST_F(BusTest, GetLogReturnsRanges) {
    Client c(daemon->address());
    auto all = c.get_log(0, 100);
    ASSERT_EQ(all.error_name, "") << all.error_message;
    ASSERT_EQ(all.entries.size(), 5u);
    auto ref = backend.log(0, 100);
    for (size_t i = 0; i < 5; i++) {
        EXPECT_EQ(all.entries[i].index, ref[i].index);
        EXPECT_EQ(all.entries[i].pcr, ref[i].pcr);
        EXPECT_EQ(all.entries[i].template_hash, ref[i].template_hash);
        EXPECT_EQ(all.entries[i].template_name, ref[i].template_name);
        EXPECT_EQ(all.entries[i].file_digest, ref[i].file_digest);
        EXPECT_EQ(all.entries[i].path, ref[i].path);
        EXPECT_EQ(all.entries[i].signature, ref[i].signature);
        EXPECT_EQ(all.entries[i].violation, ref[i].violation);
    }
    auto mid = c.get_log(2, 2);
    ASSERT_EQ(mid.entries.size(), 2u);
    EXPECT_EQ(mid.entries[0].index, 2u);
    EXPECT_EQ(mid.entries[1].index, 3u);
    EXPECT_TRUE(c.get_log(5, 10).entries.empty());
    EXPECT_TRUE(c.get_log(UINT64_MAX, 10).entries.empty());
    EXPECT_TRUE(c.get_log(0, 0).entries.empty());
    EXPECT_EQ(c.get_log(0, dbus::kMaxLogCount).entries.size(), 5u);
}

TEST_F(BusTest, CheckDigestsAnswersPerDigestInOrder) {
    Client c(daemon->address());
    std::vector<Sha256> ds(5);
    for (size_t i = 0; i < ds.size(); ++i)
        ds[i].fill(uint8_t(i + 1));
    auto r = c.check_digests(ds);
    ASSERT_EQ(r.error_name, "") << r.error_message;
    EXPECT_EQ(r.flags, (std::vector<uint32_t>{1, 2, 3, 4, 5}));
    EXPECT_TRUE(c.check_digests({}).flags.empty());
    // Not a SHA-256, and over the per-call limit: refused, named.
    auto bad = c.check_digests_raw({std::vector<uint8_t>(32, 2), std::vector<uint8_t>(20, 2)});
    EXPECT_EQ(bad.error_name, "org.freedesktop.DBus.Error.InvalidArgs");
    EXPECT_NE(bad.error_message.find("digest 1 is 20 bytes"), std::string::npos)
        << bad.error_message;
    auto many = c.check_digests(std::vector<Sha256>(dbus::kMaxCheckDigests + 1));
    EXPECT_EQ(many.error_name, "org.freedesktop.DBus.Error.InvalidArgs");
    EXPECT_EQ(c.check_digests(std::vector<Sha256>(dbus::kMaxCheckDigests)).flags.size(),
              dbus::kMaxCheckDigests);
}

TEST_F(BusTest, GetPolicyReturnsTheActiveEnvelope) {
    Client c(daemon->address());
    auto none = c.get_policy();
    EXPECT_EQ(none.error_name, "org.vouch.Vouch1.Error.NoPolicy");
    std::string env = "SERIAL 9\n" + std::string(100000, 'x') + std::string(1, '\0') + "end";
    ASSERT_EQ(c.update_policy(env).serial, 9u);
    auto got = c.get_policy();
    ASSERT_EQ(got.error_name, "") << got.error_message;
    EXPECT_EQ(got.envelope, env);
}

TEST_F(BusTest, MalformedArgumentsAreRejectedAndTheServiceGoesOn) {
    Client c(daemon->address());
    auto huge = c.get_log(0, UINT32_MAX);
    EXPECT_EQ(huge.error_name, "org.freedesktop.DBus.Error.InvalidArgs");
    EXPECT_NE(huge.error_message.find("limit"), std::string::npos) << huge.error_message;
    EXPECT_EQ(c.get_log(0, dbus::kMaxLogCount + 1).error_name,
              "org.freedesktop.DBus.Error.InvalidArgs");

    // Wrong signatures, missing and extra arguments, an unknown method.
    EXPECT_EQ(c.call_raw("GetLog", "s", "zero"), "org.freedesktop.DBus.Error.InvalidArgs");
    EXPECT_EQ(c.call_raw("GetLog", "t", uint64_t(0)), "org.freedesktop.DBus.Error.InvalidArgs");
    EXPECT_EQ(c.call_raw("UpdatePolicy", "s", "SERIAL 3"),
              "org.freedesktop.DBus.Error.InvalidArgs");
    EXPECT_EQ(c.call_raw("UpdatePolicyFd", "u", 3u), "org.freedesktop.DBus.Error.InvalidArgs");
    EXPECT_EQ(c.call_raw("Status", "u", 1u), "org.freedesktop.DBus.Error.InvalidArgs");
    EXPECT_EQ(c.call_raw("NoSuchMethod", ""), "org.freedesktop.DBus.Error.UnknownMethod");
    EXPECT_EQ(backend.calls(), 0);

    // Still answering, with the same state.
    auto st = c.status();
    ASSERT_TRUE(st.ok()) << st.error;
    EXPECT_EQ(std::get<uint64_t>(st.value["PolicySerial"]), 0u);
    EXPECT_EQ(c.get_log(0, 2).entries.size(), 2u);
}

TEST_F(BusTest, UnprivilegedCallerCannotUpdatePolicy) {
    std::string addr = daemon->address();
    std::string out = as_nobody([&] {
        Client c(addr);
        auto a = c.update_policy("SERIAL 77\n");
        int fd = ::memfd_create("envelope", MFD_CLOEXEC);
        (void)!::write(fd, "SERIAL 78\n", 10);
        auto b = c.update_policy_fd(fd);
        // Reading is allowed: nobody is in this test's read group.
        auto st = c.status();
        return a.error_name + "|" + a.error_message + "|" + b.error_name + "|" +
               (st.ok() ? "read-ok" : st.error);
    });
    EXPECT_EQ(out, "org.freedesktop.DBus.Error.AccessDenied|only root may change vouch's policy|"
                   "org.freedesktop.DBus.Error.AccessDenied|read-ok");
    EXPECT_EQ(backend.calls(), 0);
    // Root may.
    Client c(daemon->address());
    EXPECT_EQ(c.update_policy("SERIAL 77\n").serial, 77u);
}

TEST_F(BusTest, NonMemberCannotRead) {
    auto o = test_options(daemon->address());
    o.read_group = "vouch-test-no-such-group";
    start_service(o);
    std::string addr = daemon->address();
    std::string out = as_nobody([&] {
        Client c(addr);
        auto st = c.status();
        auto all = c.get_all();
        auto log = c.get_log(0, 1);
        auto check = c.check_digests({Sha256{}});
        auto pol = c.get_policy();
        auto intro = c.introspect();
        return st.error + "|" + all.error + "|" + log.error_name + "|" + check.error_name + "|" +
               pol.error_name + "|" + (intro.ok() ? "introspect-ok" : intro.error);
    });
    EXPECT_EQ(out, "org.freedesktop.DBus.Error.AccessDenied|"
                   "org.freedesktop.DBus.Error.AccessDenied|"
                   "org.freedesktop.DBus.Error.AccessDenied|"
                   "org.freedesktop.DBus.Error.AccessDenied|"
                   "org.freedesktop.DBus.Error.AccessDenied|introspect-ok");
    // A missing group leaves root.
    Client c(daemon->address());
    EXPECT_TRUE(c.status().ok());
}

TEST_F(BusTest, DeniedFloodIsRateLimited) {
    Client c(daemon->address());
    ASSERT_TRUE(c.watch_denied());
    ASSERT_TRUE(c.watch_properties());
    constexpr int kFlood = 10'000;
    Denial d;
    d.path = "/tmp/evil";
    d.digest = std::vector<uint8_t>(32, 0xee);
    d.pid = 4242;
    d.uid = 1000;
    d.hook = "bprm_check";
    auto t0 = std::chrono::steady_clock::now();
    on_loop([&](BusService &s) {
        for (int i = 0; i < kFlood; i++)
            s.denied(d);
    });
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    c.drain();
    auto opts = test_options("");
    size_t got = c.denials.size();
    EXPECT_GE(got, opts.denied_burst);
    EXPECT_LE(got, opts.denied_burst + size_t(opts.denied_rate * secs) + 1) << secs << " s";
    auto all = c.get_all();
    EXPECT_EQ(std::get<uint64_t>(all.value["DeniedSignalsDropped"]), kFlood - got);
    ASSERT_FALSE(c.denials.empty());
    EXPECT_EQ(c.denials[0].path, "/tmp/evil");
    EXPECT_EQ(c.denials[0].digest, d.digest);
    EXPECT_EQ(c.denials[0].pid, 4242u);
    EXPECT_EQ(c.denials[0].uid, 1000u);
    EXPECT_EQ(c.denials[0].hook, "bprm_check");

    // The drop count is signalled once, about a second later, not per drop.
    c.wait_for([&] { return !c.changes.empty(); }, 3000);
    ASSERT_EQ(c.changes.size(), 1u);
    std::map<std::string, Value> want = {{"DeniedSignalsDropped", uint64_t(kFlood - got)}};
    EXPECT_EQ(c.changes[0], want);

    // The bucket refills: one denial a second later goes through.
    c.denials.clear();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    on_loop([&](BusService &s) { s.denied(d); });
    c.drain();
    EXPECT_EQ(c.denials.size(), 1u);
}

// WouldDeny: Denied's arguments, never confused with it, and a bucket of its
// own, so that audit findings cannot crowd out a real denial.
TEST_F(BusTest, WouldDenyIsASignalOfItsOwnWithItsOwnLimit) {
    Client c(daemon->address());
    ASSERT_TRUE(c.watch_denied());
    ASSERT_TRUE(c.watch_would_deny());
    Denial d;
    d.path = "/opt/new-tool";
    d.digest = std::vector<uint8_t>(32, 0xab);
    d.pid = 77;
    d.uid = 1001;
    d.hook = "mmap_file";
    auto opts = test_options("");
    const int flood = int(opts.denied_burst) * 4;
    on_loop([&](BusService &s) {
        for (int i = 0; i < flood; i++)
            s.would_deny(d);
        s.denied(d);
    });
    c.drain();
    ASSERT_GE(c.would_denials.size(), size_t(opts.denied_burst));
    EXPECT_LT(c.would_denials.size(), size_t(flood));
    EXPECT_EQ(c.would_denials[0].path, "/opt/new-tool");
    EXPECT_EQ(c.would_denials[0].digest, d.digest);
    EXPECT_EQ(c.would_denials[0].pid, 77u);
    EXPECT_EQ(c.would_denials[0].uid, 1001u);
    EXPECT_EQ(c.would_denials[0].hook, "mmap_file");
    EXPECT_EQ(c.denials.size(), 1u) << "the WouldDeny flood held back a Denied signal";
    auto all = c.get_all();
    EXPECT_EQ(std::get<uint64_t>(all.value["WouldDenySignalsDropped"]),
              uint64_t(flood) - c.would_denials.size());
    EXPECT_EQ(std::get<uint64_t>(all.value["DeniedSignalsDropped"]), 0u);
}

TEST_F(BusTest, DeniedPathThatIsNotUtf8IsEscaped) {
    Client c(daemon->address());
    ASSERT_TRUE(c.watch_denied());
    Denial d;
    d.path = std::string("/tmp/caf\xe9\\x");
    d.hook = "mmap_file";
    on_loop([&](BusService &s) { s.denied(d); });
    c.drain();
    ASSERT_EQ(c.denials.size(), 1u);
    EXPECT_EQ(c.denials[0].path, "/tmp/caf\\xe9\\x");
    EXPECT_TRUE(c.denials[0].digest.empty());
}

TEST_F(BusTest, ChangedBatchesAndSignalsOnlyDifferences) {
    Client c(daemon->address());
    ASSERT_TRUE(c.watch_properties());
    // Nothing differs: no signal.
    on_loop([](BusService &s) { s.changed(); });
    c.drain();
    EXPECT_TRUE(c.changes.empty());

    // A burst of changes: the first goes out at once, the rest in one batch
    // after the interval, with the newest values. All in one loop iteration,
    // so that a slow machine cannot stretch the burst past the interval.
    on_loop([&](BusService &svc) {
        for (uint64_t i = 1; i <= 20; i++) {
            backend.edit([&](ServiceStatus &s) {
                s.measurements = 100 + i;
                if (i == 10)
                    s.tpm_state = "failing";
            });
            svc.changed();
        }
    });
    c.wait_for([&] { return c.changes.size() >= 2; }, 3000);
    ASSERT_EQ(c.changes.size(), 2u);
    std::map<std::string, Value> first = {{"Measurements", uint64_t(101)}};
    std::map<std::string, Value> batch = {{"Measurements", uint64_t(120)},
                                          {"TpmState", std::string("failing")}};
    EXPECT_EQ(c.changes[0], first);
    EXPECT_EQ(c.changes[1], batch);
}

// Protection is a dictionary: a change of one entry signals the whole
// property, with the new value.
TEST_F(BusTest, ProtectionChangeIsSignalled) {
    Client c(daemon->address());
    ASSERT_TRUE(c.watch_properties());
    Pairs p = {{"trust-state", "kernel: serial 5"},
               {"serial", "tpm-nv 0x013a5e12 serial 5, owner password not set: root can reset "
                          "the index"}};
    on_loop([&](BusService &svc) {
        backend.edit([&](ServiceStatus &s) { s.protection = p; });
        svc.changed();
    });
    c.wait_for([&] { return !c.changes.empty(); }, 3000);
    ASSERT_EQ(c.changes.size(), 1u);
    std::map<std::string, Value> want = {{"Protection", p}};
    EXPECT_EQ(c.changes[0], want);
    auto out = run_capture({"busctl", "--address=" + daemon->address(), "get-property", dbus::kName,
                            dbus::kPath, dbus::kInterface, "Protection"});
    EXPECT_EQ(out.out, busctl_format(p) + "\n") << out.err;
}

TEST_F(BusTest, IntrospectionMatchesTheDocumentedXml) {
    std::ifstream in("packaging/dbus/org.vouch.Vouch1.xml");
    ASSERT_TRUE(in) << "run from the source tree's top";
    std::string doc{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    Client c(daemon->address());
    auto live = c.introspect();
    ASSERT_TRUE(live.ok()) << live.error;
    std::string want = normalized_interface(doc, dbus::kInterface);
    std::string got = normalized_interface(live.value, dbus::kInterface);
    ASSERT_FALSE(want.empty()) << "no interface in the XML file";
    EXPECT_EQ(want, got);
}

TEST_F(BusTest, SecondInstanceIsRefused) {
    TestBackend other;
    std::string err;
    loop.run([&] {
        auto s = BusService::start(loop.event(), other, test_options(daemon->address()));
        if (!s)
            err = s.error().message;
    });
    EXPECT_NE(err.find("already owned"), std::string::npos) << err;
    EXPECT_TRUE(Client(daemon->address()).status().ok());
}

// The shipped bus policy, in a dbus-daemon that includes it, with the read
// group renamed to one that exists here (the host has no group vouch).
class BusPolicyFileTest : public BusTest {
  protected:
    void SetUp() override {}
    std::string policy(const std::string &group) {
        std::ifstream in("packaging/dbus/org.vouch.Vouch1.conf");
        std::string s{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
        return std::regex_replace(s, std::regex("group=\"vouch\""), "group=\"" + group + "\"");
    }
};

TEST_F(BusPolicyFileTest, RootOwnsAndChangesGroupReadsOthersNothing) {
    ASSERT_NE(policy("x").find("org.vouch.Vouch1"), std::string::npos);
    start_bus(policy("nogroup"));
    ASSERT_TRUE(svc);
    std::string addr = daemon->address();
    std::string out = as_nobody([&] {
        Client c(addr);
        auto st = c.status();
        auto log = c.get_log(0, 1);
        auto up = c.update_policy("SERIAL 5\n");
        auto own = c.request_name(dbus::kName);
        return (st.ok() ? std::string("status-ok") : st.error) + "|" +
               (log.error_name.empty() ? "log-ok" : log.error_name) + "|" + up.error_name + "|" +
               own;
    });
    EXPECT_EQ(out, "status-ok|log-ok|org.freedesktop.DBus.Error.AccessDenied|"
                   "org.freedesktop.DBus.Error.AccessDenied");
    EXPECT_EQ(backend.calls(), 0); // the bus refused it, not the service
    Client c(addr);
    EXPECT_EQ(c.update_policy("SERIAL 5\n").serial, 5u);
}

TEST_F(BusPolicyFileTest, NonMemberGetsNothing) {
    start_bus(policy("vouch-test-no-such-group"));
    ASSERT_TRUE(svc);
    std::string addr = daemon->address();
    std::string out = as_nobody([&] {
        Client c(addr);
        c.watch_denied();
        auto st = c.status();
        auto all = c.get_all();
        return st.error + "|" + all.error;
    });
    EXPECT_EQ(out, "org.freedesktop.DBus.Error.AccessDenied|"
                   "org.freedesktop.DBus.Error.AccessDenied");
}

// The built vouchctl against the test service.
class BusVouchctlTest : public BusTest {
  protected:
    static std::string vouchctl() {
        auto exe = std::filesystem::read_symlink("/proc/self/exe");
        return (exe.parent_path().parent_path() / "vouchctl").string();
    }
    Captured ctl(std::vector<std::string> args, int uid = -1, const std::string &in = "") {
        args.insert(args.begin(), vouchctl());
        args.push_back("--bus-address=" + daemon->address());
        return run_capture(args, uid, in);
    }
    std::string write_file(const std::string &name, const std::string &data) {
        std::string p = daemon->dir() + "/" + name;
        std::ofstream(p, std::ios::binary) << data;
        ::chmod(p.c_str(), 0644);
        return p;
    }
};

TEST_F(BusVouchctlTest, StatusJsonHasEveryProperty) {
    backend.edit([](ServiceStatus &s) {
        s.policy_serial = 3;
        s.measurements = 77;
    });
    auto r = ctl({"status", "--json"});
    ASSERT_EQ(r.rc, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["Mode"], "audit");
    EXPECT_EQ(j["PolicySerial"], 3);
    EXPECT_EQ(j["Measurements"], 77);
    EXPECT_EQ(j["PcrIndex"], 10);
    EXPECT_EQ(j["PcrBanks"], nlohmann::json({"sha1", "sha256"}));
    EXPECT_EQ(j["Version"], "0.1.0-test");
    EXPECT_EQ(j["Protection"], nlohmann::json::object());
    backend.edit([](ServiceStatus &s) {
        s.protection = {{"trust-state", "none: audit mode protects nothing"},
                        {"serial", "disk only: no TPM (tpm = no)"}};
    });
    r = ctl({"status", "--json"});
    ASSERT_EQ(r.rc, 0) << r.err;
    j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["Protection"], nlohmann::json({{"trust-state", "none: audit mode protects nothing"},
                                               {"serial", "disk only: no TPM (tpm = no)"}}));
    Client c(daemon->address());
    EXPECT_EQ(j.size(), c.status().value.size());
}

TEST_F(BusVouchctlTest, StatusFitsAnEightyColumnTerminal) {
    backend.edit([](ServiceStatus &s) {
        s.mode = "enforce";
        s.policy_serial = 12;
        s.policy_entries = 4001;
        s.policy_keyid = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        s.policy_digest = "sha256:" + std::string(64, 'e');
        s.tpm_state = "failing";
        s.tpm_message = "the TPM answered TPM_RC_LOCKOUT to PCR_Extend; retrying every two "
                        "seconds until it accepts extends again";
        s.kernel_support = {"bprm_check", "mmap_file",        "file_mprotect",
                            "file_open",  "kernel_read_file", "bpf",
                            "bpf_map",    "path_unlink",      "ptrace"};
        s.protection = {{"trust-state", "kernel: serial 12, its envelope and the trusted keys "
                                        "held until reboot; only the agent may change them"},
                        {"serial", "tpm-nv 0x013a5e12 serial 12, owner password set"}};
    });
    auto r = ctl({"status"});
    ASSERT_EQ(r.rc, 0) << r.err;
    std::istringstream in(r.out);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        EXPECT_LE(line.size(), 80u) << line;
        n++;
    }
    EXPECT_GE(n, 8);
    EXPECT_NE(r.out.find("Mode          enforce\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\n  sha256:" + std::string(64, 'e') + "\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("serial 12, 4001 entries"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("ptrace"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\nProtection    trust-state: kernel: serial 12,"), std::string::npos)
        << r.out;
    EXPECT_NE(
        r.out.find("\n              serial: tpm-nv 0x013a5e12 serial 12, owner password set\n"),
        std::string::npos)
        << r.out;
}

TEST_F(BusVouchctlTest, LogIsImaAscii) {
    auto r = ctl({"log"});
    ASSERT_EQ(r.rc, 0) << r.err;
    std::string want;
    for (auto &e : backend.log(0, 100)) {
        char pcr[8];
        std::snprintf(pcr, sizeof(pcr), "%2u ", e.pcr);
        want += pcr + to_hex(e.template_hash) + " " + e.template_name + " " + e.file_digest + " " +
                e.path + (e.template_name == "ima-sig" ? " " + to_hex(e.signature) : "") + "\n";
    }
    EXPECT_EQ(r.out, want);
    EXPECT_NE(r.out.find(" ima-sig sha256:eeee"), std::string::npos);
    EXPECT_NE(r.out.find("/usr/bin/prog4 030201\n"), std::string::npos);
    EXPECT_NE(r.out.find("\n 9 1212"), std::string::npos) << r.out;

    r = ctl({"log", "--first", "1", "--count", "2"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2);
    EXPECT_EQ(r.out.substr(r.out.size() - 15), "/usr/bin/prog2\n");

    r = ctl({"log", "--json", "--first=4"});
    ASSERT_EQ(r.rc, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.size(), 1u);
    EXPECT_EQ(j[0]["index"], 4);
    EXPECT_EQ(j[0]["template"], "ima-sig");
    EXPECT_EQ(j[0]["digest"], "sha256:" + std::string(64, 'e'));
    EXPECT_EQ(j[0]["path"], "/usr/bin/prog4");
    EXPECT_EQ(j[0]["signature"], "030201");
    EXPECT_EQ(j[0]["violation"], false);
    EXPECT_EQ(nlohmann::json::parse(ctl({"log", "--json", "--first=99"}).out).size(), 0u);
}

TEST_F(BusVouchctlTest, LogPagesThroughLargeLogs) {
    backend.set_log_size(2 * dbus::kMaxLogCount + 17);
    auto r = ctl({"log"});
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2 * dbus::kMaxLogCount + 17);
    EXPECT_NE(r.out.find("/opt/f2064\n"), std::string::npos);
    r = ctl({"log", "--json", "--first", "900", "--count", "1100"});
    ASSERT_EQ(r.rc, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.size(), 1100u);
    EXPECT_EQ(j[1099]["index"], 1999);
}

// `vouchctl log` from vouchd (through the real BusService) and `vouchctl log
// --file` from the log file vouchd keeps print alike; in JSON also a path
// that is not UTF-8, which both write as vouchd escapes it for D-Bus.
TEST_F(BusVouchctlTest, LogFromBusAndFromFilePrintTheSame) {
    std::vector<uint8_t> d(32, 0xcd), sig = {1, 2};
    std::vector<ima::Entry> entries = {
        ima::make_entry(10, ima::kImaNg, "sha256", d, "/usr/bin/plain"),
        ima::make_entry(10, ima::kImaSig, "sha256", d, "/tmp/caf\xe9\\x \"q\"", sig),
        ima::make_violation(10, ima::kImaNg, "vouch:lost-events:1"),
        ima::make_entry(10, ima::kImaSigV2, ima::kVeritySha256, d, "/usr/lib/v"),
    };
    std::string bin;
    std::vector<LogRecord> records;
    for (size_t i = 0; i < entries.size(); i++) {
        auto b = ima::encode_binary(entries[i]);
        bin.append(b.begin(), b.end());
        records.push_back(log_record(entries[i], i));
    }
    backend.set_log(records);
    std::string file = write_file("log.bin", bin);

    auto bus = ctl({"log", "--json"});
    ASSERT_EQ(bus.rc, 0) << bus.err;
    auto local = run_capture({vouchctl(), "log", "--json", "--file", file});
    ASSERT_EQ(local.rc, 0) << local.err;
    EXPECT_EQ(bus.out, local.out);
    auto j = nlohmann::json::parse(local.out);
    ASSERT_EQ(j.size(), entries.size());
    // The space is logged as '_', as the kernel's IMA logs it.
    EXPECT_EQ(j[1]["path"], "/tmp/caf\\xe9\\x_\"q\"");

    // The ASCII form: the same lines but the one that is not UTF-8 (the file
    // has its bytes, D-Bus the \xNN text).
    bus = ctl({"log"});
    local = run_capture({vouchctl(), "log", "--file", file});
    ASSERT_EQ(bus.rc, 0) << bus.err;
    ASSERT_EQ(local.rc, 0) << local.err;
    auto lines = [](const std::string &s) {
        std::vector<std::string> v;
        std::istringstream in(s);
        for (std::string l; std::getline(in, l);)
            v.push_back(l);
        return v;
    };
    auto a = lines(bus.out), b = lines(local.out);
    ASSERT_EQ(a.size(), 4u) << bus.out;
    ASSERT_EQ(b.size(), 4u) << local.out;
    for (size_t i : {0, 2, 3})
        EXPECT_EQ(a[i], b[i]) << i;
    EXPECT_NE(a[1], b[1]);
    EXPECT_TRUE(a[3].ends_with("/usr/lib/v ")) << "ima-sigv2 has a (here empty) signature field";
}

// A file content whose SHA-256 starts with a byte b with (b & 7) == flags:
// the test backend answers CheckDigests with those bits.
std::string content_with_flags(uint32_t flags) {
    for (int i = 0;; ++i) {
        std::string s = "content " + std::to_string(i) + "\n";
        if ((sha256_bytes(std::span(reinterpret_cast<const uint8_t *>(s.data()), s.size()))[0] &
             7) == flags)
            return s;
    }
}

TEST_F(BusVouchctlTest, PolicyCheckExitCodesFollowModeAndAnswers) {
    std::string ok = write_file("ok", content_with_flags(VOUCH_ALLOW_EXEC));
    std::string agent =
        write_file("agent", content_with_flags(VOUCH_ALLOW_EXEC | VOUCH_ALLOW_AGENT));
    std::string no = write_file("no", content_with_flags(0));
    // No policy: nothing is enforced, the unlisted file is reported as such.
    auto r = ctl({"policy", "check", ok, no});
    EXPECT_EQ(r.rc, 7) << r.out << r.err;
    EXPECT_NE(r.out.find("no policy is active"), std::string::npos) << r.out;

    ASSERT_EQ(Client(daemon->address()).update_policy("SERIAL 5\n").serial, 5u); // enforce
    r = ctl({"policy", "check", ok, agent});
    EXPECT_EQ(r.rc, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("all 2 executable files are allowed by policy 5 (enforce mode)"),
              std::string::npos)
        << r.out;
    r = ctl({"policy", "check", ok, no});
    EXPECT_EQ(r.rc, 6) << r.out << r.err;
    std::string hex = to_hex(
        sha256_bytes(std::span(reinterpret_cast<const uint8_t *>(content_with_flags(0).data()),
                               content_with_flags(0).size())));
    EXPECT_NE(r.out.find(no + " (sha256:" + hex + ")"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find(ok + " (sha256:"), std::string::npos) << "allowed files are not listed";
    EXPECT_NE(r.out.find("vouchctl policy get -o active.dsse"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("vouchctl policy make  --base active.dsse -o next.json " + ok + " " + no),
              std::string::npos)
        << r.out;
    // An agent path needs the agent flag, not only the exec one.
    r = ctl({"policy", "check", "--agent", ok, ok});
    EXPECT_EQ(r.rc, 6) << r.out;
    EXPECT_NE(r.out.find("allowed to run, but not as vouch's agent"), std::string::npos) << r.out;
    EXPECT_EQ(ctl({"policy", "check", "--agent", agent, agent}).rc, 0);
    r = ctl({"policy", "check", "--json", ok, no});
    EXPECT_EQ(r.rc, 6);
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["mode"], "enforce");
    EXPECT_EQ(j["checked"], 2);
    ASSERT_EQ(j["not_allowed"].size(), 1u);
    EXPECT_EQ(j["not_allowed"][0]["path"], no);

    // Audit mode: reported, exit 7.
    backend.edit([](ServiceStatus &s) { s.mode = "audit"; });
    r = ctl({"policy", "check", no});
    EXPECT_EQ(r.rc, 7) << r.out;
    EXPECT_NE(r.out.find("vouch is not enforcing"), std::string::npos) << r.out;
    // Readers only; missing files are bad input.
    EXPECT_EQ(ctl({"policy", "check", ok}, kNobody).rc, 0) << "nobody is a reader in this test";
    EXPECT_EQ(ctl({"policy", "check", daemon->dir() + "/missing"}).rc, 5);
    EXPECT_EQ(ctl({"policy", "check"}).rc, 2);
}

TEST_F(BusVouchctlTest, PolicyCheckLocalKeySignsAndLoadsTheExtendedPolicy) {
    // An enforcing policy (serial 5) that lists nothing of the package.
    vouch::policy::Document base;
    base.serial = 5;
    base.mode = VOUCH_MODE_ENFORCE;
    vouch::policy::add_digest(base.digests, "/usr/bin/other", std::string(64, 'a'));
    auto key = vouch::policy::SigningKey::load_file("policy/test-keys/ecdsa-p256.key");
    ASSERT_TRUE(key.ok()) << key.error().message;
    auto env = vouch::policy::sign_envelope(vouch::policy::write_document(base, "now"), *key);
    ASSERT_TRUE(env.ok());
    ASSERT_EQ(Client(daemon->address()).update_policy(*env).serial, 5u);

    std::string dir = daemon->dir() + "/pkg";
    std::filesystem::create_directories(dir + "/DEBIAN");
    std::filesystem::create_directories(dir + "/usr/bin");
    std::filesystem::copy_file("/usr/bin/true", dir + "/usr/bin/vt-local");
    std::ofstream(dir + "/DEBIAN/control") << "Package: vt-local\nVersion: 3.0\nArchitecture: "
                                              "amd64\nMaintainer: t <t@example.org>\n"
                                              "Description: t\n";
    std::string deb = daemon->dir() + "/vt-local_3.0_amd64.deb";
    ASSERT_EQ(
        std::system(
            ("dpkg-deb --root-owner-group --build " + dir + " " + deb + " >/dev/null").c_str()),
        0);
    std::string keyfile = daemon->dir() + "/local.key";
    std::filesystem::copy_file("policy/test-keys/ecdsa-p256.key", keyfile);
    ::chmod(keyfile.c_str(), 0600);
    std::string conf = write_file("vouch.conf", "local_signing_key = " + keyfile + "\n");

    // Without --local-key: refused (6), nothing changes.
    auto r = ctl({"policy", "check", "--deb", "--config", conf, deb});
    EXPECT_EQ(r.rc, 6) << r.out << r.err;
    // A key others may read is not the owner's alone: refused, named.
    ::chmod(keyfile.c_str(), 0640);
    r = ctl({"policy", "check", "--deb", "--local-key", "--config", conf, deb});
    EXPECT_EQ(r.rc, 1) << r.out << r.err;
    EXPECT_NE(r.err.find("no one else may read or write (it is uid 0, mode 0640)"),
              std::string::npos)
        << r.err;
    EXPECT_EQ(std::get<uint64_t>(Client(daemon->address()).status().value["PolicySerial"]), 5u);
    ::chmod(keyfile.c_str(), 0600);
    r = ctl({"policy", "check", "--deb", "--local-key", "--config", conf, deb});
    EXPECT_EQ(r.rc, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("signed with the local key (" + keyfile + "): policy 6 is active"),
              std::string::npos)
        << r.out;
    auto got = Client(daemon->address()).get_policy();
    auto doc = vouch::policy::read_document(got.envelope);
    ASSERT_TRUE(doc.ok()) << doc.error().message;
    EXPECT_EQ(doc->serial, 6u);
    EXPECT_EQ(doc->mode, VOUCH_MODE_ENFORCE);
    EXPECT_TRUE(doc->digests.count("/usr/bin/vt-local"));
    EXPECT_TRUE(doc->digests.count("/usr/bin/other")) << "the base's entries stay";
    // No key configured: --local-key changes nothing.
    std::string none = write_file("none.conf", "");
    r = ctl({"policy", "check", "--deb", "--local-key", "--config", none, deb});
    EXPECT_EQ(r.rc, 0) << "now allowed";
}

TEST_F(BusVouchctlTest, PolicyGetWritesTheActiveEnvelope) {
    auto r = ctl({"policy", "get"});
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.err.find("no policy is active"), std::string::npos) << r.err;
    std::string env = "SERIAL 8\n{\"payload\": \"x\"}";
    ASSERT_EQ(Client(daemon->address()).update_policy(env).serial, 8u);
    r = ctl({"policy", "get"});
    EXPECT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.out, env);
    std::string out = daemon->dir() + "/active.dsse";
    r = ctl({"policy", "get", "-o", out});
    EXPECT_EQ(r.rc, 0) << r.err;
    std::ifstream in(out, std::ios::binary);
    std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(got, env);
}

TEST_F(BusVouchctlTest, PolicyUpdateExitCodes) {
    auto o = test_options(daemon->address());
    o.max_envelope_bytes = 4u << 20;
    start_service(o);
    auto r = ctl({"policy", "update", write_file("p12", "SERIAL 12\n{}")});
    EXPECT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.out, "vouchd accepted the policy: serial 12 is active\n");
    EXPECT_EQ(std::get<uint64_t>(Client(daemon->address()).status().value["PolicySerial"]), 12u);

    // Rollback, malformed, a bad signature: bad input.
    r = ctl({"policy", "update", write_file("p11", "SERIAL 11\n")});
    EXPECT_EQ(r.rc, 5);
    EXPECT_NE(r.err.find("Rollback"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("serial 11 is not above the active 12"), std::string::npos) << r.err;
    EXPECT_EQ(ctl({"policy", "update", write_file("junk", "junk")}).rc, 5);
    EXPECT_EQ(
        ctl({"policy", "update", write_file("sig", "ERRNO " + std::to_string(EKEYREJECTED))}).rc,
        5);
    EXPECT_EQ(ctl({"policy", "update", daemon->dir() + "/no-such-file"}).rc, 5);
    // The backend failing: other failure.
    EXPECT_EQ(ctl({"policy", "update", write_file("eio", "ERRNO " + std::to_string(EIO))}).rc, 1);

    // From stdin, and a large file that goes by descriptor.
    r = ctl({"policy", "update", "-", "--json"}, -1, "SERIAL 13\n");
    EXPECT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["serial"], 13);
    std::string big = "SERIAL 14\n" + std::string(3u << 20, ' ');
    r = ctl({"policy", "update", write_file("big", big)});
    EXPECT_EQ(r.rc, 0) << r.err;
    auto st = Client(daemon->address()).status();
    EXPECT_EQ(std::get<uint64_t>(st.value["PolicySerial"]), 14u);
    EXPECT_EQ(std::get<uint64_t>(st.value["PolicyEntries"]), big.size());
    r = ctl({"policy", "update", "-"}, -1, "SERIAL 15\n" + std::string(2u << 20, ' '));
    EXPECT_EQ(r.rc, 0) << r.err;
    r = ctl({"policy", "update", write_file("huge", "SERIAL 16\n" + std::string(5u << 20, ' '))});
    EXPECT_EQ(r.rc, 5);
    EXPECT_NE(r.err.find("TooLarge"), std::string::npos) << r.err;

    // Not root: denied, before the backend sees it.
    int calls = backend.calls();
    r = ctl({"policy", "update", write_file("p20", "SERIAL 20\n")}, kNobody);
    EXPECT_EQ(r.rc, 4) << r.err;
    EXPECT_NE(r.err.find("only root may change vouch's policy"), std::string::npos) << r.err;
    EXPECT_EQ(backend.calls(), calls);

    // Usage errors.
    EXPECT_EQ(ctl({"policy", "update"}).rc, 2);
    EXPECT_EQ(ctl({"status", "--bogus"}).rc, 2);
    EXPECT_EQ(ctl({"log", "--count", "x"}).rc, 2);
}

TEST_F(BusVouchctlTest, DaemonNotRunning) {
    stop_service(); // the bus runs, no one owns the name
    std::string f = write_file("p", "SERIAL 1\n");
    for (auto args : std::vector<std::vector<std::string>>{
             {"status"}, {"log"}, {"watch"}, {"policy", "update", f}, {"status", "--json"}}) {
        auto r = ctl(args);
        EXPECT_EQ(r.rc, 3) << args[0] << ": " << r.err;
        EXPECT_NE(r.err.find("vouchd is not running"), std::string::npos) << r.err;
    }
    // No bus at all.
    auto r = run_capture({vouchctl(), "status", "--bus-address=unix:path=" + daemon->dir() + "/x"});
    EXPECT_EQ(r.rc, 3) << r.err;
}

TEST_F(BusVouchctlTest, ReadDeniedToNonMembers) {
    auto o = test_options(daemon->address());
    o.read_group = "vouch-test-no-such-group";
    start_service(o);
    auto r = ctl({"status"}, kNobody);
    EXPECT_EQ(r.rc, 4) << r.err;
    EXPECT_EQ(ctl({"log"}, kNobody).rc, 4);
    EXPECT_EQ(ctl({"status"}).rc, 0);
}

TEST_F(BusVouchctlTest, WatchPrintsDenialsAndChanges) {
    Spawned w(
        {vouchctl(), "watch", "--json", "--count", "3", "--bus-address=" + daemon->address()});
    ASSERT_TRUE(w.wait_err([](const std::string &e) { return e.find("watching") != e.npos; }, 5000))
        << w.err();
    Denial d;
    d.path = "/tmp/evil";
    d.digest = std::vector<uint8_t>(32, 0xab);
    d.pid = 4242;
    d.uid = 1000;
    d.hook = "bprm_check";
    on_loop([&](BusService &s) { s.denied(d); });
    backend.edit([](ServiceStatus &s) { s.measurements = 500; });
    on_loop([](BusService &s) { s.changed(); });
    EXPECT_EQ(Client(daemon->address()).update_policy("SERIAL 8\n").serial, 8u);
    ASSERT_EQ(w.wait_exit(5000), 0) << w.err();

    std::istringstream in(w.out());
    std::vector<nlohmann::json> ev;
    std::string line;
    while (std::getline(in, line))
        ev.push_back(nlohmann::json::parse(line));
    ASSERT_EQ(ev.size(), 3u) << w.out();
    EXPECT_EQ(ev[0]["event"], "denied");
    EXPECT_EQ(ev[0]["path"], "/tmp/evil");
    EXPECT_EQ(ev[0]["digest"], "sha256:" + to_hex(d.digest));
    EXPECT_EQ(ev[0]["pid"], 4242);
    EXPECT_EQ(ev[0]["uid"], 1000);
    EXPECT_EQ(ev[0]["hook"], "bprm_check");
    EXPECT_EQ(ev[1]["event"], "changed");
    EXPECT_EQ(ev[1]["properties"], nlohmann::json({{"Measurements", 500}}));
    EXPECT_EQ(ev[2]["properties"]["PolicySerial"], 8);
    EXPECT_EQ(ev[2]["properties"]["Mode"], "enforce");
}

TEST_F(BusVouchctlTest, WatchHumanOutputStopsOnSigint) {
    Spawned w({vouchctl(), "watch", "--bus-address=" + daemon->address()});
    ASSERT_TRUE(w.wait_err([](const std::string &e) { return e.find("watching") != e.npos; }, 5000))
        << w.err();
    Denial d;
    d.path = "/usr/local/bin/tool";
    d.digest = std::vector<uint8_t>(32, 0x5a);
    d.pid = 7;
    d.uid = 0;
    d.hook = "mmap_file";
    on_loop([&](BusService &s) { s.denied(d); });
    Client(daemon->address()).drain();
    // Give the watcher a moment to print, then stop it as a user would.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (w.out().find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    w.signal(SIGINT);
    EXPECT_EQ(w.wait_exit(5000), 0);
    std::string out = w.out();
    EXPECT_NE(out.find(" denied mmap_file pid 7 uid 0 /usr/local/bin/tool\n         sha256:" +
                       to_hex(d.digest) + "\n"),
              std::string::npos)
        << out;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line))
        EXPECT_LE(line.size(), 80u) << line;
}

} // namespace
