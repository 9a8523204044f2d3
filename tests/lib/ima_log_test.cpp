// SPDX-License-Identifier: Apache-2.0
// The log format against the kernel's own output: golden/kernel-6.1-ima.*
// was written by Linux 6.1's IMA (tests/lib/golden/capture), so byte
// equality here means byte compatibility with the kernel.
#include "lib/ima_log.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "lib/digest.h"

namespace {

std::string golden(const char *name) {
    std::ifstream in(std::string("tests/lib/golden/") + name, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::span<const uint8_t> bytes(const std::string &s) {
    return {reinterpret_cast<const uint8_t *>(s.data()), s.size()};
}

class KernelGolden : public ::testing::Test {
  protected:
    void SetUp() override {
        bin = golden("kernel-6.1-ima.bin");
        ascii = golden("kernel-6.1-ima.ascii");
        ASSERT_FALSE(bin.empty());
        auto parsed = vouch::ima::parse_binary(bytes(bin));
        ASSERT_TRUE(parsed.ok()) << parsed.error().message;
        entries = *parsed;
    }
    std::string bin, ascii;
    std::vector<vouch::ima::Entry> entries;
};

TEST_F(KernelGolden, ParsesEveryEntryOfBothTemplates) {
    ASSERT_EQ(entries.size(), 8u);
    EXPECT_EQ(entries[0].path, "boot_aggregate");
    EXPECT_EQ(entries[1].template_name, "ima-ng");
    EXPECT_EQ(entries[1].path, "/tmp/golden/exec-me");
    EXPECT_EQ(entries[5].template_name, "ima-sig");
    EXPECT_EQ(entries[5].path, "/tmp/golden/libsigned.so");
    EXPECT_EQ(vouch::to_hex(entries[5].sig), "030204aabbccdd0008000102030405060708");
    EXPECT_TRUE(entries[6].sig.empty());
    for (const auto &e : entries) {
        EXPECT_EQ(e.pcr, 10u);
        EXPECT_EQ(e.algo, "sha256");
        EXPECT_EQ(e.file_digest.size(), 32u);
        EXPECT_FALSE(e.violation);
    }
}

TEST_F(KernelGolden, EncodingFromFieldsIsByteIdentical) {
    std::vector<uint8_t> out;
    for (const auto &k : entries) {
        auto e =
            vouch::ima::make_entry(k.pcr, k.template_name, k.algo, k.file_digest, k.path, k.sig);
        EXPECT_EQ(vouch::to_hex(e.template_sha1), vouch::to_hex(k.template_sha1))
            << "template hash of " << k.path;
        auto b = vouch::ima::encode_binary(e);
        out.insert(out.end(), b.begin(), b.end());
    }
    EXPECT_EQ(std::string(out.begin(), out.end()), bin);
}

TEST_F(KernelGolden, AsciiIsByteIdentical) {
    std::string out;
    for (const auto &k : entries)
        out += vouch::ima::encode_ascii(
            vouch::ima::make_entry(k.pcr, k.template_name, k.algo, k.file_digest, k.path, k.sig));
    EXPECT_EQ(out, ascii);
}

TEST_F(KernelGolden, AsciiParsesToTheSameEntriesAsBinary) {
    auto parsed = vouch::ima::parse_ascii(ascii);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    ASSERT_EQ(parsed->size(), entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
        const auto &a = (*parsed)[i], &b = entries[i];
        EXPECT_EQ(a.pcr, b.pcr) << i;
        EXPECT_EQ(a.template_name, b.template_name) << i;
        EXPECT_EQ(a.algo, b.algo) << i;
        EXPECT_EQ(a.file_digest, b.file_digest) << i;
        EXPECT_EQ(a.path, b.path) << i;
        EXPECT_EQ(a.sig, b.sig) << i;
        EXPECT_EQ(a.template_sha1, b.template_sha1) << i;
        // Rebuilt from the ASCII fields, the template data is the kernel's.
        EXPECT_EQ(a.template_data, b.template_data) << i;
        EXPECT_EQ(a.violation, b.violation) << i;
    }
}

TEST_F(KernelGolden, ParseAnyTellsBinaryFromAscii) {
    auto from_bin = vouch::ima::parse_any(bytes(bin));
    auto from_ascii = vouch::ima::parse_any(bytes(ascii));
    ASSERT_TRUE(from_bin.ok()) << from_bin.error().message;
    ASSERT_TRUE(from_ascii.ok()) << from_ascii.error().message;
    ASSERT_EQ(from_bin->size(), 8u);
    ASSERT_EQ(from_ascii->size(), 8u);
    for (size_t i = 0; i < 8; ++i)
        EXPECT_EQ((*from_bin)[i].template_data, (*from_ascii)[i].template_data) << i;
    auto empty = vouch::ima::parse_any({});
    ASSERT_TRUE(empty.ok());
    EXPECT_TRUE(empty->empty());
}

// golden/kernel-6.1-ima-names.*: the same kernel's IMA after execs of files
// whose names hold a space, a newline, a tab, control bytes and bytes that
// are not UTF-8 (kernel/vm/guest-golden).
TEST(KernelGoldenNames, VouchWritesTheKernelsEntriesByteForByte) {
    std::string bin = golden("kernel-6.1-ima-names.bin");
    std::string ascii = golden("kernel-6.1-ima-names.ascii");
    ASSERT_FALSE(bin.empty());
    auto entries = vouch::ima::parse_binary(bytes(bin));
    ASSERT_TRUE(entries.ok()) << entries.error().message;
    // The names as created in the guest, and as the kernel logged them.
    const std::vector<std::pair<std::string, std::string>> names = {
        {"/tmp/golden/with space", "/tmp/golden/with_space"},
        {"/tmp/golden/nl\nname", "/tmp/golden/nl\nname"},
        {"/tmp/golden/tab\tname", "/tmp/golden/tab\tname"},
        {"/tmp/golden/ctl\x01\x1b[1mname", "/tmp/golden/ctl\x01\x1b[1mname"},
        {"/tmp/golden/bad\xff\xfeutf8", "/tmp/golden/bad\xff\xfeutf8"},
        {"/tmp/golden/ends\n", "/tmp/golden/ends\n"},
    };
    std::string out_bin, out_ascii;
    size_t found = 0;
    for (const auto &k : *entries) {
        std::string on_disk = k.path;
        for (const auto &[disk, logged] : names)
            if (k.path == logged) {
                on_disk = disk;
                ++found;
            }
        auto e =
            vouch::ima::make_entry(k.pcr, k.template_name, k.algo, k.file_digest, on_disk, k.sig);
        EXPECT_EQ(e.template_data, k.template_data) << vouch::to_hex(k.template_sha1);
        EXPECT_EQ(e.template_sha1, k.template_sha1) << vouch::to_hex(k.template_sha1);
        auto b = vouch::ima::encode_binary(e);
        out_bin.append(reinterpret_cast<const char *>(b.data()), b.size());
        out_ascii += vouch::ima::encode_ascii(e);
    }
    EXPECT_EQ(found, names.size());
    EXPECT_EQ(out_bin, bin);
    EXPECT_EQ(out_ascii, ascii) << "the kernel prints a name as it is";
    EXPECT_NE(ascii.find("/tmp/golden/nl\nname\n"), std::string::npos);

    auto parsed = vouch::ima::parse_ascii(ascii);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    ASSERT_EQ(parsed->size(), entries->size()) << "continuation lines joined, not entries";
    for (size_t i = 0; i < entries->size(); ++i) {
        EXPECT_EQ((*parsed)[i].path, (*entries)[i].path) << i;
        EXPECT_EQ((*parsed)[i].template_data, (*entries)[i].template_data) << i;
    }
}

TEST(ImaLogAscii, PathsWithSpacesViolationsV2AndLegacy) {
    std::vector<uint8_t> d(32, 0xab), v(32, 0xcd), sig = {3, 2, 1};
    std::string text =
        vouch::ima::encode_ascii(vouch::ima::make_entry(10, "ima-ng", "sha256", d, "/a b/c d")) +
        vouch::ima::encode_ascii(vouch::ima::make_entry(10, "ima-sig", "sha256", d, "/s p", sig)) +
        vouch::ima::encode_ascii(vouch::ima::make_entry(10, "ima-sig", "sha256", d, "/no sig")) +
        vouch::ima::encode_ascii(vouch::ima::make_violation(10, "ima-ng", "vouch:lost-events:3")) +
        vouch::ima::encode_ascii(
            vouch::ima::make_entry(3, "ima-ngv2", "verity:sha256", v, "/verity")) +
        " 9 " + std::string(40, '1') + " ima " + std::string(40, 'e') + " /legacy path\n" + "10 " +
        std::string(40, '2') + " other-template whatever it says\n";
    auto p = vouch::ima::parse_ascii(text);
    ASSERT_TRUE(p.ok()) << p.error().message;
    ASSERT_EQ(p->size(), 7u);
    // make_entry wrote each space as '_', as the kernel does.
    EXPECT_EQ((*p)[0].path, "/a_b/c_d");
    EXPECT_EQ((*p)[1].path, "/s_p");
    EXPECT_EQ((*p)[1].sig, sig);
    EXPECT_EQ((*p)[2].path, "/no_sig");
    EXPECT_TRUE((*p)[2].sig.empty());
    EXPECT_TRUE((*p)[3].violation);
    EXPECT_EQ((*p)[3].path, "vouch:lost-events:3");
    EXPECT_EQ((*p)[4].pcr, 3u);
    EXPECT_EQ((*p)[4].algo, "verity:sha256");
    EXPECT_EQ((*p)[4].file_digest, v);
    EXPECT_EQ((*p)[5].pcr, 9u);
    EXPECT_EQ((*p)[5].algo, "sha1");
    EXPECT_EQ((*p)[5].file_digest.size(), 20u);
    EXPECT_EQ((*p)[5].path, "/legacy path");
    EXPECT_EQ((*p)[6].template_name, "other-template");
    EXPECT_TRUE((*p)[6].file_digest.empty());
    // Each ima-ng-family entry's rebuilt template data hashes to its template hash.
    for (size_t i : {0, 1, 2, 4}) {
        auto e = vouch::ima::make_entry((*p)[i].pcr, (*p)[i].template_name, (*p)[i].algo,
                                        (*p)[i].file_digest, (*p)[i].path, (*p)[i].sig);
        EXPECT_EQ(e.template_sha1, (*p)[i].template_sha1) << i;
    }
}

// The kernel's IMA changes nothing in a name but ' ' -> '_': a newline, a
// tab, a control byte or a byte that is not UTF-8 stay in the template data
// and are printed as they are in the ASCII log, so an entry's text may span
// lines. The template hash tells how far (a violation: up to the next line
// that begins as an entry does).
TEST(ImaLogAscii, NamesWithNewlinesAndControlBytesReadBackExactly) {
    std::vector<uint8_t> d(32, 0xab), sig = {3, 2, 1};
    std::string forged =
        "10 " + std::string(40, '1') + " ima-ng sha256:" + std::string(64, 'a') + " /forged";
    std::vector<vouch::ima::Entry> entries = {
        vouch::ima::make_entry(10, "ima-ng", "sha256", d, "/tmp/nl\nname"),
        vouch::ima::make_entry(10, "ima-ng", "sha256", d, "/tmp/tab\tname and space"),
        vouch::ima::make_entry(10, "ima-ng", "sha256", d, std::string("/tmp/ctl\x01\x1b[1m\x7f")),
        vouch::ima::make_entry(10, "ima-ng", "sha256", d, "/tmp/bad\xff\xfeutf8"),
        vouch::ima::make_entry(10, "ima-sig", "sha256", d, "/tmp/sig\n\nname", sig),
        vouch::ima::make_entry(10, "ima-ng", "sha256", d, "/tmp/ends\n"),
        vouch::ima::make_entry(10, "ima-ng", "sha256", d, "/tmp/x\n" + forged),
        vouch::ima::make_violation(10, "ima-ng", "/tmp/tomtou\nname"),
        vouch::ima::make_entry(10, "ima-ng", "sha256", d, "/after"),
    };
    EXPECT_EQ(entries[1].path, "/tmp/tab\tname_and_space") << "only spaces change";
    EXPECT_EQ(entries[2].path, "/tmp/ctl\x01\x1b[1m\x7f");
    std::string text;
    for (const auto &e : entries)
        text += vouch::ima::encode_ascii(e);
    EXPECT_NE(text.find("/tmp/nl\nname\n"), std::string::npos) << "printed as it is";
    auto p = vouch::ima::parse_ascii(text);
    ASSERT_TRUE(p.ok()) << p.error().message;
    ASSERT_EQ(p->size(), entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
        EXPECT_EQ((*p)[i].path, entries[i].path) << i;
        EXPECT_EQ((*p)[i].template_sha1, entries[i].template_sha1) << i;
        EXPECT_EQ((*p)[i].violation, entries[i].violation) << i;
        if (!entries[i].violation) {
            EXPECT_EQ((*p)[i].template_data, entries[i].template_data) << i;
            EXPECT_EQ((*p)[i].sig, entries[i].sig) << i;
        }
    }
    // Byte for byte the binary log's entries.
    std::string bin;
    for (const auto &e : entries) {
        auto b = vouch::ima::encode_binary(e);
        bin.append(reinterpret_cast<const char *>(b.data()), b.size());
    }
    auto pb = vouch::ima::parse_binary(bytes(bin));
    ASSERT_TRUE(pb.ok()) << pb.error().message;
    for (size_t i = 0; i < entries.size(); ++i)
        EXPECT_EQ((*pb)[i].path, entries[i].path) << i;
}

TEST(ImaLogAscii, ErrorsNameTheLine) {
    std::string good =
        "10 " + std::string(40, '1') + " ima-ng sha256:" + std::string(64, 'a') + " /x\n";
    for (std::string bad : {"x0 " + std::string(40, '1') + " ima-ng sha256:aa /x\n",
                            "10 " + std::string(39, '1') + " ima-ng sha256:aa /x\n",
                            "10 " + std::string(40, '1') + " ima-ng sha256:zz /x\n",
                            "10 " + std::string(40, '1') + " ima-ng nocolon /x\n",
                            "10 " + std::string(40, '1') + " ima-sig sha256:aa\n"}) {
        auto p = vouch::ima::parse_ascii(good + bad);
        ASSERT_FALSE(p.ok()) << bad;
        EXPECT_NE(p.error().message.find("line 2"), std::string::npos) << p.error().message;
    }
}

TEST(ImaLog, Sha256BankHashIsOverTemplateData) {
    std::vector<uint8_t> d(32, 0x11);
    auto e = vouch::ima::make_entry(10, "ima-ng", "sha256", d, "/bin/x");
    auto h = vouch::ima::bank_template_hash(e, "sha256");
    auto want = vouch::sha256_bytes(e.template_data);
    EXPECT_EQ(h, std::vector<uint8_t>(want.begin(), want.end()));
    EXPECT_EQ(vouch::ima::bank_template_hash(e, "sha1").size(), 20u);
    EXPECT_TRUE(vouch::ima::bank_template_hash(e, "no-such-md").empty());
}

TEST(ImaLog, ViolationIsZeroInLogAndOnesInTpm) {
    auto v = vouch::ima::make_violation(10, "ima-ng", "vouch-lost-events");
    EXPECT_TRUE(v.violation);
    EXPECT_EQ(v.template_sha1, (std::array<uint8_t, 20>{}));
    EXPECT_EQ(v.file_digest, std::vector<uint8_t>(32, 0));
    EXPECT_EQ(vouch::ima::bank_template_hash(v, "sha256"), std::vector<uint8_t>(32, 0xff));
    EXPECT_EQ(vouch::ima::bank_template_hash(v, "sha1"), std::vector<uint8_t>(20, 0xff));
    auto parsed = vouch::ima::parse_binary(vouch::ima::encode_binary(v));
    ASSERT_TRUE(parsed.ok());
    EXPECT_TRUE((*parsed)[0].violation);
}

TEST(ImaLog, RejectsTruncatedAndOversizedInput) {
    auto e = vouch::ima::make_entry(10, "ima-sig", "sha256", std::vector<uint8_t>(32, 1), "/x",
                                    std::vector<uint8_t>{3, 2});
    auto b = vouch::ima::encode_binary(e);
    for (size_t cut = 1; cut < b.size(); ++cut) {
        auto r = vouch::ima::parse_binary(std::span<const uint8_t>(b.data(), cut));
        EXPECT_FALSE(r.ok()) << "accepted a log cut at " << cut;
    }
    auto big = b;
    uint32_t huge = 0x7fffffff;
    std::memcpy(big.data() + 24, &huge, 4); // template name length
    auto r = vouch::ima::parse_binary(big);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("template name length"), std::string::npos);
}

} // namespace

// A file identified by its fs-verity digest is logged as the kernel's IMA
// logs one under digest_type=verity: template ima-ngv2 (ima-sigv2 with a sig
// field), d-ngv2 = "verity:sha256:" NUL digest, printed "verity:sha256:<hex>".
TEST(ImaLog, VerityDigestUsesTheV2Template) {
    EXPECT_EQ(vouch::ima::v2_template("ima-ng"), "ima-ngv2");
    EXPECT_EQ(vouch::ima::v2_template("ima-sig"), "ima-sigv2");
    std::vector<uint8_t> d(32, 0xab);
    auto e = vouch::ima::make_entry(10, "ima-ngv2", vouch::ima::kVeritySha256, d, "/v/prog");
    const std::string field = std::string("verity:sha256:") + '\0' + std::string(32, '\xab');
    std::vector<uint8_t> want;
    auto put = [&](const std::string &s) {
        uint32_t n = s.size();
        want.insert(want.end(), reinterpret_cast<uint8_t *>(&n),
                    reinterpret_cast<uint8_t *>(&n) + 4);
        want.insert(want.end(), s.begin(), s.end());
    };
    put(field);
    put(std::string("/v/prog") + '\0');
    EXPECT_EQ(e.template_data, want);
    EXPECT_EQ(vouch::ima::encode_ascii(e), "10 " + vouch::to_hex(e.template_sha1) +
                                               " ima-ngv2 verity:sha256:" + vouch::to_hex(d) +
                                               " /v/prog\n");
    auto parsed = vouch::ima::parse_binary(vouch::ima::encode_binary(e));
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ((*parsed)[0].algo, "verity:sha256");
    EXPECT_EQ((*parsed)[0].file_digest, d);
    EXPECT_EQ((*parsed)[0].path, "/v/prog");

    auto s = vouch::ima::make_entry(10, "ima-sigv2", vouch::ima::kVeritySha256, d, "/v/prog",
                                    std::vector<uint8_t>{3, 2});
    auto ps = vouch::ima::parse_binary(vouch::ima::encode_binary(s));
    ASSERT_TRUE(ps.ok()) << ps.error().message;
    EXPECT_EQ((*ps)[0].sig, (std::vector<uint8_t>{3, 2}));
}

// The kernel's IMA writes '_' for each space of a name field before hashing
// (ima_write_template_field_data): same template data and hash as for the
// name with underscores, one field in the ASCII line.
TEST(ImaLog, SpacesInNamesAreWrittenAsUnderscoresAsTheKernelDoes) {
    std::vector<uint8_t> d(32, 7);
    auto spaced = vouch::ima::make_entry(10, "ima-ng", "sha256", d, "/opt/my app/run me");
    auto under = vouch::ima::make_entry(10, "ima-ng", "sha256", d, "/opt/my_app/run_me");
    EXPECT_EQ(spaced.path, "/opt/my_app/run_me");
    EXPECT_EQ(spaced.template_data, under.template_data);
    EXPECT_EQ(spaced.template_sha1, under.template_sha1);
    std::string line = vouch::ima::encode_ascii(spaced);
    EXPECT_EQ(std::count(line.begin(), line.end(), ' '), 4) << line;
}
