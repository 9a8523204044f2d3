// SPDX-License-Identifier: Apache-2.0
// The TPM extender against a real swtpm, and the result checked by evmctl
// (ima-evm-utils), the verifier Keylime and admins use.
#include "vouchd/extender.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <thread>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>

#include <fcntl.h>
#include <unistd.h>

#include "lib/digest.h"
#include "lib/file_io.h"
#include "lib/kernel_log.h"
#include "lib/measurement_log.h"
#include "lib/tpm.h"
#include "tests/lib/swtpm.h"

namespace {

using vouch::Extender;
using vouch::TpmState;
using vouch::testing::Swtpm;

constexpr uint32_t kPcr = 10;

vouch::ima::Entry entry(int i) {
    std::vector<uint8_t> d(32, static_cast<uint8_t>(i));
    if (i % 3 == 2)
        return vouch::ima::make_entry(kPcr, "ima-sig", "sha256", d, "/sig/" + std::to_string(i),
                                      std::vector<uint8_t>{3, 2, 1});
    // A file known by its fs-verity digest: the v2 template, as the kernel's IMA writes it.
    if (i % 3 == 1)
        return vouch::ima::make_entry(kPcr, vouch::ima::kImaNgV2, vouch::ima::kVeritySha256, d,
                                      "/verity/" + std::to_string(i));
    return vouch::ima::make_entry(kPcr, "ima-ng", "sha256", d, "/bin/f" + std::to_string(i));
}

class ExtenderTest : public ::testing::Test {
  protected:
    void SetUp() override {
        setenv("TSS2_LOG", "all+none", 0);
        char t[] = "/tmp/vouch-extender-XXXXXX";
        dir = mkdtemp(t);
        auto l = vouch::MeasurementLog::open(dir);
        ASSERT_TRUE(l.ok()) << l.error().message;
        log.emplace(std::move(*l));
    }
    void TearDown() override {
        if (HasFailure())
            std::cerr << "evmctl said:\n" << slurp(dir + "/evmctl.out");
        std::filesystem::remove_all(dir);
    }
    static std::string slurp(const std::string &p) {
        std::ifstream in(p);
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }

    void append(Extender &x, const vouch::ima::Entry &e) {
        auto r = log->append(e);
        ASSERT_TRUE(r.ok());
        if (*r)
            x.push(e);
    }

    std::vector<uint8_t> pcr(const std::string &tcti, uint16_t bank) {
        auto t = vouch::Tpm::open(tcti);
        EXPECT_TRUE(t.ok());
        if (!t)
            return {};
        auto v = (*t)->read_pcr(kPcr, bank);
        return v ? *v : std::vector<uint8_t>{};
    }

    // evmctl ima_measurement with the PCR values given as files.
    int evmctl(const std::string &tcti, bool corrupt = false) {
        std::string args;
        for (auto [bank, name] :
             {std::pair{vouch::kTpmAlgSha1, "sha1"}, std::pair{vouch::kTpmAlgSha256, "sha256"}}) {
            auto v = pcr(tcti, bank);
            if (corrupt)
                v[0] ^= 1;
            // evmctl reads all 24 PCRs, one "PCR-NN: hex" line each, in order.
            std::string f = dir + "/pcrs-" + name;
            std::ofstream out(f);
            for (int i = 0; i < 24; ++i) {
                char label[16];
                std::snprintf(label, sizeof(label), "PCR-%02d: ", i);
                out << label
                    << (i == static_cast<int>(kPcr) ? vouch::to_hex(v)
                                                    : std::string(v.size() * 2, '0'))
                    << "\n";
            }
            args += std::string(" --pcrs ") + name + "," + f;
        }
        // --ignore-violations makes evmctl replay a violation as all-ones, what
        // the kernel (and vouch) extend; it is needed for the kernel's own logs
        // with violations too.
        std::string cmd = "evmctl ima_measurement --ignore-violations" + args + " " +
                          log->binary_path() + " >" + dir + "/evmctl.out 2>&1";
        return std::system(cmd.c_str());
    }

    // The kernel's IMA as the extender sees it: an entry in its log (a file
    // here), then the PCR extended in every bank.
    void kernel_adds(const std::string &tcti, const vouch::ima::Entry &e) {
        int fd = ::open((dir + "/kernel_log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        ASSERT_GE(fd, 0);
        ASSERT_TRUE(vouch::write_all(fd, vouch::ima::encode_binary(e), "kernel log").ok());
        ::close(fd);
        auto t = vouch::Tpm::open(tcti);
        ASSERT_TRUE(t.ok());
        std::vector<vouch::BankDigest> d;
        for (auto [bank, md] :
             {std::pair{vouch::kTpmAlgSha1, "sha1"}, std::pair{vouch::kTpmAlgSha256, "sha256"},
              std::pair{vouch::kTpmAlgSha384, "sha384"}, std::pair{vouch::kTpmAlgSha512, "sha512"}})
            d.emplace_back(bank, vouch::ima::bank_template_hash(e, md));
        ASSERT_TRUE((*t)->extend(kPcr, d).ok());
    }

    // Follows the kernel log file; appends placed entries to `log` as vouchd
    // does (under the lock its own appends take).
    vouch::ExtenderOptions follow(uint64_t seen = 0, int idle_poll_ms = 50) {
        vouch::ExtenderOptions o;
        o.kernel_log = dir + "/kernel_log";
        o.kernel_seen = seen;
        o.seen_file = dir + "/kernel_log_seen";
        o.foreign_file = dir + "/foreign_extends";
        o.idle_poll_ms = idle_poll_ms;
        auto f = vouch::read_foreign(o.foreign_file);
        EXPECT_TRUE(f.ok());
        if (f)
            o.foreign = *f;
        o.place = [this](Extender &x, const vouch::ima::Entry &e, size_t logged) {
            std::lock_guard lk(mu);
            if (x.logged() != logged)
                return false;
            EXPECT_TRUE(log->append(e, false).ok());
            x.push_extended(e);
            return true;
        };
        // The kernel's log exists from boot.
        ::close(::open(o.kernel_log.c_str(), O_WRONLY | O_CREAT, 0600));
        return o;
    }
    void locked_append(Extender &x, const vouch::ima::Entry &e) {
        std::lock_guard lk(mu);
        append(x, e);
    }
    size_t log_size() {
        std::lock_guard lk(mu);
        return log->entries().size();
    }
    bool wait_log_size(size_t n) {
        for (int i = 0; i < 500 && log_size() < n; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        return log_size() == n;
    }
    // The PCR against vouch's log with the recorded foreign extends in place,
    // in every bank.
    void expect_replays(const std::string &tcti) {
        auto f = vouch::read_foreign(dir + "/foreign_extends");
        ASSERT_TRUE(f.ok());
        std::vector<vouch::ima::Entry> all;
        {
            std::lock_guard lk(mu);
            all = vouch::with_foreign(log->entries(), *f);
        }
        for (auto [bank, md] :
             {std::pair{vouch::kTpmAlgSha1, "sha1"}, std::pair{vouch::kTpmAlgSha256, "sha256"},
              std::pair{vouch::kTpmAlgSha384, "sha384"}, std::pair{vouch::kTpmAlgSha512, "sha512"}})
            EXPECT_EQ(pcr(tcti, bank), vouch::replay(all, kPcr, md, all.size())) << md;
    }

    std::string dir;
    std::optional<vouch::MeasurementLog> log;
    std::mutex mu;
};

vouch::ima::Entry kernel_violation(const std::string &path) {
    return vouch::ima::make_violation(kPcr, "ima-ng", path);
}

TEST_F(ExtenderTest, ExtendsEveryBankInLogOrderAndEvmctlValidates) {
    Swtpm tpm;
    ASSERT_EQ(tpm.start(), "");
    Extender x(tpm.tcti(), kPcr);
    for (int i = 0; i < 6; ++i)
        append(x, entry(i));
    append(x, vouch::ima::make_violation(kPcr, "ima-ng", "vouch: 3 measurements lost"));
    append(x, entry(1)); // a duplicate: not logged, not extended
    ASSERT_TRUE(x.wait_idle(10000));
    auto st = x.status();
    EXPECT_EQ(st.state, TpmState::Ok) << st.message;
    EXPECT_EQ(st.extended, 7u);
    EXPECT_EQ(st.pending(), 0u);
    EXPECT_EQ(st.banks.size(), 4u);
    for (auto [bank, md] :
         {std::pair{vouch::kTpmAlgSha1, "sha1"}, std::pair{vouch::kTpmAlgSha256, "sha256"},
          std::pair{vouch::kTpmAlgSha384, "sha384"}, std::pair{vouch::kTpmAlgSha512, "sha512"}})
        EXPECT_EQ(pcr(tpm.tcti(), bank), vouch::replay(log->entries(), kPcr, md, 99)) << md;
    EXPECT_EQ(evmctl(tpm.tcti()), 0) << "evmctl ima_measurement rejected vouch's log";
    EXPECT_NE(evmctl(tpm.tcti(), true), 0) << "evmctl accepted wrong PCR values";
}

TEST_F(ExtenderTest, MissingTpmIsAStateAndPendingExtendsCatchUp) {
    Swtpm tpm;
    Extender x(tpm.tcti(), kPcr);
    x.set_retry_ms(100);
    for (int i = 0; i < 3; ++i)
        append(x, entry(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto st = x.status();
    EXPECT_EQ(st.state, TpmState::Missing);
    EXPECT_NE(st.message.find(tpm.tcti()), std::string::npos) << st.message;
    EXPECT_EQ(st.pending(), 3u);
    ASSERT_EQ(tpm.start(), "");
    ASSERT_TRUE(x.wait_idle(10000));
    EXPECT_EQ(x.status().state, TpmState::Ok);
    EXPECT_EQ(x.status().extended, 3u);
    EXPECT_EQ(evmctl(tpm.tcti()), 0);
}

TEST_F(ExtenderTest, RestartedExtenderContinuesWithoutExtendingTwice) {
    Swtpm tpm;
    ASSERT_EQ(tpm.start(), "");
    {
        Extender x(tpm.tcti(), kPcr);
        for (int i = 0; i < 3; ++i)
            append(x, entry(i));
        ASSERT_TRUE(x.wait_idle(10000));
    }
    // Logged but not yet extended when the daemon stopped.
    log->append(entry(3)).ok();
    // As vouchd starts one: with the continued log in place before the
    // thread first replays it against the PCR.
    Extender y(tpm.tcti(), kPcr, {}, log->entries());
    append(y, entry(4));
    ASSERT_TRUE(y.wait_idle(10000));
    EXPECT_EQ(y.status().extended, 5u);
    EXPECT_EQ(pcr(tpm.tcti(), vouch::kTpmAlgSha256),
              vouch::replay(log->entries(), kPcr, "sha256", 99));
    EXPECT_EQ(evmctl(tpm.tcti()), 0);
}

TEST_F(ExtenderTest, ForeignExtendStopsExtendingAndSaysWhy) {
    Swtpm tpm;
    ASSERT_EQ(tpm.start(), "");
    {
        auto t = vouch::Tpm::open(tpm.tcti());
        ASSERT_TRUE(t.ok());
        ASSERT_TRUE((*t)->extend(kPcr, {{vouch::kTpmAlgSha256, std::vector<uint8_t>(32, 9)}}));
    }
    auto before = pcr(tpm.tcti(), vouch::kTpmAlgSha256);
    Extender x(tpm.tcti(), kPcr);
    append(x, entry(1));
    x.wait_idle(5000);
    auto st = x.status();
    EXPECT_EQ(st.state, TpmState::Mismatch);
    EXPECT_NE(st.message.find("does not replay to PCR 10"), std::string::npos) << st.message;
    EXPECT_EQ(pcr(tpm.tcti(), vouch::kTpmAlgSha256), before) << "extended after a mismatch";
}

TEST_F(ExtenderTest, TpmUnpluggedMidRunCatchesUpWhenBack) {
    Swtpm tpm;
    ASSERT_EQ(tpm.start(), "");
    Extender x(tpm.tcti(), kPcr);
    x.set_retry_ms(100);
    append(x, entry(0));
    ASSERT_TRUE(x.wait_idle(10000));
    tpm.stop();
    for (int i = 1; i < 4; ++i)
        append(x, entry(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    auto st = x.status();
    EXPECT_TRUE(st.state == TpmState::Failing || st.state == TpmState::Missing)
        << vouch::tpm_state_name(st.state);
    EXPECT_EQ(st.pending(), 3u);
    // A restarted swtpm has its PCRs reset: the whole log is extended again.
    ASSERT_EQ(tpm.start(), "");
    ASSERT_TRUE(x.wait_idle(10000));
    EXPECT_EQ(x.status().state, TpmState::Ok) << x.status().message;
    EXPECT_EQ(evmctl(tpm.tcti()), 0);
}

TEST_F(ExtenderTest, KernelExtendWhileIdleIsAppendedToTheLogInPlace) {
    Swtpm tpm;
    ASSERT_EQ(tpm.start(), "");
    Extender x(tpm.tcti(), kPcr, {}, {}, follow());
    for (int i = 0; i < 3; ++i)
        locked_append(x, entry(i));
    ASSERT_TRUE(x.wait_idle(10000));
    kernel_adds(tpm.tcti(), kernel_violation("/tmp/open-writers"));
    ASSERT_TRUE(wait_log_size(4)) << log_size() << " " << x.status().message;
    {
        std::lock_guard lk(mu);
        EXPECT_TRUE(log->entries()[3].violation);
        EXPECT_EQ(log->entries()[3].path, "/tmp/open-writers");
    }
    locked_append(x, entry(3));
    ASSERT_TRUE(x.wait_idle(10000));
    auto st = x.status();
    EXPECT_EQ(st.state, TpmState::Ok) << st.message;
    EXPECT_EQ(st.extended, 5u);
    EXPECT_TRUE(st.foreign.empty());
    auto seen = vouch::read_file(dir + "/kernel_log_seen", 64);
    ASSERT_TRUE(seen.ok());
    EXPECT_EQ(*seen, "1\n");
    expect_replays(tpm.tcti());
    EXPECT_EQ(evmctl(tpm.tcti()), 0) << "evmctl ima_measurement rejected the log";
}

TEST_F(ExtenderTest, KernelExtendBeforeAnExtendVouchHadLoggedIsRecordedAndReplays) {
    Swtpm tpm;
    ASSERT_EQ(tpm.start(), "");
    // No idle polling: the kernel's entry is first seen after the next extend.
    Extender x(tpm.tcti(), kPcr, {}, {}, follow(0, 600000));
    for (int i = 0; i < 3; ++i)
        locked_append(x, entry(i));
    ASSERT_TRUE(x.wait_idle(10000));
    kernel_adds(tpm.tcti(), kernel_violation("/tmp/tomtou"));
    locked_append(x, entry(3));
    ASSERT_TRUE(x.wait_idle(10000));
    auto st = x.status();
    EXPECT_EQ(st.state, TpmState::Foreign) << st.message;
    ASSERT_EQ(st.foreign.size(), 1u) << "extended " << st.extended << ", logged " << log_size();
    EXPECT_EQ(st.foreign[0].after, 3u) << "the PCR saw it before vouch's entry 3";
    EXPECT_EQ(st.foreign[0].kernel_index, 0u);
    EXPECT_NE(st.message.find("kernel IMA entry 0 (ima-ng violation /tmp/tomtou) after vouch's "
                              "entry 3"),
              std::string::npos)
        << st.message;
    EXPECT_EQ(log_size(), 4u) << "a foreign extend that came before a logged entry was appended";
    auto f = vouch::read_foreign(dir + "/foreign_extends");
    ASSERT_TRUE(f.ok());
    ASSERT_EQ(f->size(), 1u);
    EXPECT_EQ((*f)[0].after, 3u);
    EXPECT_EQ((*f)[0].entry.path, "/tmp/tomtou");
    expect_replays(tpm.tcti());
    // Extending goes on.
    locked_append(x, entry(4));
    ASSERT_TRUE(x.wait_idle(10000));
    EXPECT_EQ(x.status().extended, 5u);
    expect_replays(tpm.tcti());
}

TEST_F(ExtenderTest, KernelExtendsWhileStoppedArePlacedOrRecordedAndResyncKeepsThem) {
    Swtpm tpm;
    ASSERT_EQ(tpm.start(), "");
    {
        Extender x(tpm.tcti(), kPcr, {}, {}, follow());
        for (int i = 0; i < 3; ++i)
            locked_append(x, entry(i));
        ASSERT_TRUE(x.wait_idle(10000));
    }
    // Stopped with everything extended: the kernel's entry is the log's next.
    kernel_adds(tpm.tcti(), kernel_violation("/tmp/a"));
    {
        Extender y(tpm.tcti(), kPcr, {}, log->entries(), follow(0));
        ASSERT_TRUE(y.wait_idle(10000));
        EXPECT_EQ(y.status().state, TpmState::Ok) << y.status().message;
        ASSERT_EQ(log_size(), 4u);
        EXPECT_EQ(log->entries()[3].path, "/tmp/a");
        // Stopped with entry 4 logged but not extended: the kernel's next
        // entry cannot go after it, so it is recorded.
        log->append(entry(4)).ok();
    }
    kernel_adds(tpm.tcti(), kernel_violation("/tmp/b"));
    {
        Extender z(tpm.tcti(), kPcr, {}, log->entries(), follow(1));
        ASSERT_TRUE(z.wait_idle(10000));
        auto st = z.status();
        EXPECT_EQ(st.state, TpmState::Foreign) << st.message;
        ASSERT_EQ(st.foreign.size(), 1u);
        EXPECT_EQ(st.foreign[0].after, 4u);
        EXPECT_EQ(st.foreign[0].kernel_index, 1u);
        EXPECT_EQ(st.extended, 5u);
        expect_replays(tpm.tcti());
    }
    // A restart replays with the recorded extend in its place: nothing is
    // extended twice, and extending goes on.
    Extender w(tpm.tcti(), kPcr, {}, log->entries(), follow(2));
    ASSERT_TRUE(w.wait_checked(10000));
    EXPECT_EQ(w.status().state, TpmState::Foreign) << w.status().message;
    EXPECT_EQ(w.status().extended, 5u);
    locked_append(w, entry(5));
    ASSERT_TRUE(w.wait_idle(10000));
    EXPECT_EQ(w.status().extended, 6u);
    expect_replays(tpm.tcti());
}

TEST_F(ExtenderTest, ExtendsOfNoKnownOriginStillStopExtending) {
    Swtpm tpm;
    ASSERT_EQ(tpm.start(), "");
    Extender x(tpm.tcti(), kPcr, {}, {}, follow(0, 600000));
    locked_append(x, entry(0));
    ASSERT_TRUE(x.wait_idle(10000));
    // In the kernel's log, but the PCR got something else as well.
    kernel_adds(tpm.tcti(), kernel_violation("/tmp/c"));
    {
        auto t = vouch::Tpm::open(tpm.tcti());
        ASSERT_TRUE(t.ok());
        ASSERT_TRUE((*t)->extend(kPcr, {{vouch::kTpmAlgSha256, std::vector<uint8_t>(32, 9)}}));
    }
    locked_append(x, entry(1));
    x.wait_idle(10000);
    auto st = x.status();
    EXPECT_EQ(st.state, TpmState::Mismatch);
    EXPECT_NE(st.message.find("no order of its entries and vouch's replays"), std::string::npos)
        << st.message;
}

} // namespace
