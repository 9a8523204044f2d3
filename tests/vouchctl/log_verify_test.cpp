// SPDX-License-Identifier: Apache-2.0
// vouchctl log verify against a real swtpm whose PCR also holds an extend of
// the kernel's IMA that vouchd recorded as foreign.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "lib/kernel_log.h"
#include "lib/measurement_log.h"
#include "lib/tpm.h"
// Before swtpm.h: it refers to ::testing unqualified, and swtpm.h declares
// vouch::testing.
#include "tests/vouchctl/run.h"

#include "tests/lib/swtpm.h"

namespace {

using vouch::ctl::Exit;
using vouch::ctl::test::vouchctl;

constexpr uint32_t kPcr = 10;

void extend(vouch::Tpm &tpm, const vouch::ima::Entry &e) {
    std::vector<vouch::BankDigest> d;
    auto banks = tpm.allocated_banks(kPcr);
    ASSERT_TRUE(banks.ok());
    for (uint16_t b : *banks)
        if (const char *md = vouch::bank_md_name(b))
            d.emplace_back(b, vouch::ima::bank_template_hash(e, md));
    ASSERT_TRUE(tpm.extend(kPcr, d).ok());
}

TEST(LogVerify, ReplaysRecordedForeignExtendsInPlaceAndNamesThem) {
    setenv("TSS2_LOG", "all+none", 0);
    vouch::testing::Swtpm sw;
    ASSERT_EQ(sw.start(), "");
    char t[] = "/tmp/vouch-verify-XXXXXX";
    std::string dir = mkdtemp(t);
    auto log = vouch::MeasurementLog::open(dir);
    ASSERT_TRUE(log.ok());
    auto tpm = vouch::Tpm::open(sw.tcti());
    ASSERT_TRUE(tpm.ok());
    vouch::ForeignExtend f{2, 5, vouch::ima::make_violation(kPcr, "ima-ng", "/tmp/x")};
    for (int i = 0; i < 3; ++i) {
        auto e = vouch::ima::make_entry(kPcr, "ima-ng", "sha256",
                                        std::vector<uint8_t>(32, static_cast<uint8_t>(i)),
                                        "/bin/f" + std::to_string(i));
        ASSERT_TRUE(log->append(e).ok());
        if (i == 2)
            extend(**tpm, f.entry);
        extend(**tpm, e);
    }
    std::string bin = log->binary_path();
    auto plain = vouchctl({"log", "verify", "--file", bin, "--tcti", sw.tcti()});
    EXPECT_EQ(plain.rc, Exit::Failure) << plain.out;
    EXPECT_NE(plain.out.find("disagrees"), std::string::npos) << plain.out;

    std::ofstream(dir + "/foreign_extends") << vouch::encode_foreign(f);
    auto with = vouchctl({"log", "verify", "--file", bin, "--tcti", sw.tcti()});
    EXPECT_EQ(with.rc, Exit::Ok) << with.out << with.err;
    EXPECT_NE(with.out.find("log verified with 1 foreign extend: 3 entries on PCR 10"),
              std::string::npos)
        << with.out;
    EXPECT_NE(with.out.find("kernel IMA entry 5 (ima-ng violation /tmp/x) after vouch's entry 2"),
              std::string::npos)
        << with.out;

    auto as_json = vouchctl({"log", "verify", "--json", "--file", bin, "--tcti", sw.tcti()});
    EXPECT_EQ(as_json.rc, Exit::Ok) << as_json.out << as_json.err;
    auto j = nlohmann::json::parse(as_json.out, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << as_json.out;
    EXPECT_EQ(j["verified"], true);
    EXPECT_EQ(j["pcr"], kPcr);
    EXPECT_EQ(j["entries"], 3);
    ASSERT_EQ(j["foreign"].size(), 1u) << as_json.out;
    EXPECT_NE(j["foreign"][0].get<std::string>().find("kernel IMA entry 5"), std::string::npos);
    ASSERT_FALSE(j["banks"].empty());
    for (const auto &b : j["banks"])
        EXPECT_EQ(b["replays"], true) << b.dump();

    // Recorded in the wrong place, it does not verify.
    f.after = 1;
    std::ofstream(dir + "/wrong") << vouch::encode_foreign(f);
    auto wrong = vouchctl(
        {"log", "verify", "--file", bin, "--foreign", dir + "/wrong", "--tcti", sw.tcti()});
    EXPECT_EQ(wrong.rc, Exit::Failure) << wrong.out;
    auto wrong_json = vouchctl({"log", "verify", "--json", "--file", bin, "--foreign",
                                dir + "/wrong", "--tcti", sw.tcti()});
    EXPECT_EQ(wrong_json.rc, Exit::Failure) << wrong_json.out;
    j = nlohmann::json::parse(wrong_json.out, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << wrong_json.out;
    EXPECT_EQ(j["verified"], false);
    ASSERT_FALSE(j["banks"].empty());
    // The PCR holds all four extends in another order: no prefix of the
    // replay reaches its value.
    EXPECT_EQ(j["banks"][0]["replays"], false) << wrong_json.out;
    EXPECT_EQ(j["banks"][0]["matching_prefix"], -1) << wrong_json.out;
    EXPECT_EQ(j["foreign"].size(), 1u) << wrong_json.out;
    std::filesystem::remove_all(dir);
}

} // namespace
