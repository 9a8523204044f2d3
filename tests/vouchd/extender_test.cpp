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

#include "lib/digest.h"
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

    std::string dir;
    std::optional<vouch::MeasurementLog> log;
};

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

} // namespace
