// SPDX-License-Identifier: Apache-2.0
// vouch's own records as ima-buf entries, against golden/vouch-records.*,
// which tests/lib/golden/make-records wrote from the kernel IMA's format
// alone (not from vouch's encoder).
#include "lib/vouch_records.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "lib/digest.h"
#include "lib/ima_log.h"
#include "lib/measurement_log.h"

namespace {

using namespace vouch;

std::string golden(const char *name) {
    std::ifstream in(std::string("tests/lib/golden/") + name, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::span<const uint8_t> bytes(const std::string &s) {
    return {reinterpret_cast<const uint8_t *>(s.data()), s.size()};
}

std::vector<ima::Entry> golden_records() {
    const std::string env = "an envelope";
    return {
        records::entry(10, records::kMeasureStart, records::measure_start("vouchd")),
        records::entry(10, records::kMeasureStart, records::measure_start("initramfs")),
        records::entry(10, records::kVouchdStart, records::vouchd_start()),
        records::entry(10, records::kPolicy,
                       records::policy(7, "enforce", sha256_bytes(bytes(env)))),
        records::entry(10, records::kVouchdStop, records::vouchd_stop()),
    };
}

TEST(VouchRecords, EncodeAsTheGoldenImaBufEntries) {
    std::string bin = golden("vouch-records.bin"), ascii = golden("vouch-records.ascii");
    ASSERT_FALSE(bin.empty());
    ASSERT_FALSE(ascii.empty());
    std::string my_bin, my_ascii;
    for (const auto &e : golden_records()) {
        auto b = ima::encode_binary(e);
        my_bin.append(b.begin(), b.end());
        my_ascii += ima::encode_ascii(e);
    }
    EXPECT_EQ(my_bin, bin);
    EXPECT_EQ(my_ascii, ascii);
}

TEST(VouchRecords, GoldenEntriesParseBackFromBothForms) {
    auto want = golden_records();
    for (const char *name : {"vouch-records.bin", "vouch-records.ascii"}) {
        auto parsed = ima::parse_any(bytes(golden(name)));
        ASSERT_TRUE(parsed.ok()) << name << ": " << parsed.error().message;
        ASSERT_EQ(parsed->size(), want.size()) << name;
        for (size_t i = 0; i < want.size(); ++i) {
            const auto &p = (*parsed)[i];
            EXPECT_EQ(p.template_name, "ima-buf") << name;
            EXPECT_EQ(p.algo, "sha256");
            EXPECT_EQ(p.path, want[i].path) << name;
            EXPECT_EQ(p.buf, want[i].buf) << name;
            EXPECT_EQ(p.file_digest, want[i].file_digest) << name;
            EXPECT_EQ(p.template_data, want[i].template_data) << name;
            EXPECT_EQ(p.template_sha1, want[i].template_sha1) << name;
            EXPECT_FALSE(p.violation);
        }
    }
}

TEST(VouchRecords, ContentsAreFixedAsDocumented) {
    Sha256 env{};
    env.fill(0xab);
    EXPECT_EQ(records::measure_start("vouchd"), "stage=vouchd");
    EXPECT_EQ(records::measure_start("initramfs"), "stage=initramfs");
    EXPECT_EQ(records::vouchd_start(), "start");
    EXPECT_EQ(records::vouchd_stop(), "stop");
    std::string hex;
    for (int i = 0; i < 32; ++i)
        hex += "ab";
    EXPECT_EQ(records::policy(12, "audit", env), "serial=12 mode=audit envelope=sha256:" + hex);
    // The digest a verifier lists is the d-ng field's.
    auto e = records::entry(10, records::kVouchdStart, "start");
    EXPECT_EQ(records::digest_hex("start"), to_hex(e.file_digest));
    auto fixed = records::fixed();
    ASSERT_EQ(fixed.size(), 4u);
    EXPECT_EQ(fixed[0].first, "vouch-measure-start");
    EXPECT_EQ(fixed[1].second, "stage=initramfs");
}

// Records are appended however often they recur (the order of restarts is
// the information); other entries keep IMA's dedupe.
TEST(VouchRecords, AreNeverDeduplicatedInTheLog) {
    char tmpl[] = "/tmp/vouch-records-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    std::string dir = tmpl;
    {
        auto log = MeasurementLog::open(dir);
        ASSERT_TRUE(log.ok()) << log.error().message;
        auto start = records::entry(10, records::kVouchdStart, records::vouchd_start());
        EXPECT_TRUE(*log->append(start, false));
        EXPECT_TRUE(*log->append(start, false));
        std::vector<uint8_t> d(32, 1);
        auto file = ima::make_entry(10, "ima-ng", "sha256", d, "/bin/x");
        EXPECT_TRUE(*log->append(file));
        EXPECT_FALSE(*log->append(file));
        EXPECT_EQ(log->entries().size(), 3u);
    }
    auto reopened = MeasurementLog::open(dir);
    ASSERT_TRUE(reopened.ok());
    EXPECT_EQ(reopened->entries().size(), 3u);
    EXPECT_EQ(reopened->entries()[1].path, "vouchd-start");
    EXPECT_EQ(reopened->entries()[1].buf, std::vector<uint8_t>({'s', 't', 'a', 'r', 't'}));
    std::string cmd = "rm -rf " + dir;
    (void)!std::system(cmd.c_str());
}

} // namespace
