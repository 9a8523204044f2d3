// SPDX-License-Identifier: Apache-2.0
#include "lib/measurement_log.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include <openssl/evp.h>

#include "lib/digest.h"

namespace {

std::string slurp(const std::string &p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class LogDir : public ::testing::Test {
  protected:
    void SetUp() override {
        char t[] = "/tmp/vouch-log-test-XXXXXX";
        dir = mkdtemp(t);
    }
    void TearDown() override { (void)!system(("rm -rf " + dir).c_str()); }
    std::string dir;
};

vouch::ima::Entry entry(uint8_t fill, const std::string &path, uint32_t pcr = 10) {
    return vouch::ima::make_entry(pcr, "ima-ng", "sha256", std::vector<uint8_t>(32, fill), path);
}

TEST_F(LogDir, AppendsDedupesAndWritesBothForms) {
    auto log = vouch::MeasurementLog::open(dir);
    ASSERT_TRUE(log.ok()) << log.error().message;
    EXPECT_TRUE(*log->append(entry(1, "/a")));
    EXPECT_TRUE(*log->append(entry(2, "/b")));
    EXPECT_FALSE(*log->append(entry(1, "/a"))) << "IMA logs an identical template once";
    EXPECT_TRUE(*log->append(entry(1, "/a", 11))) << "but once per PCR";
    EXPECT_TRUE(*log->append(entry(1, "/a-renamed")));
    auto v = vouch::ima::make_violation(10, "ima-ng", "lost");
    EXPECT_TRUE(*log->append(v));
    EXPECT_TRUE(*log->append(v)) << "violations are always logged";
    EXPECT_EQ(log->entries().size(), 6u);

    std::string bin;
    std::string ascii;
    for (const auto &e : log->entries()) {
        auto b = vouch::ima::encode_binary(e);
        bin.append(b.begin(), b.end());
        ascii += vouch::ima::encode_ascii(e);
    }
    EXPECT_EQ(slurp(log->binary_path()), bin);
    EXPECT_EQ(slurp(log->ascii_path()), ascii);
    struct stat st {};
    stat(log->binary_path().c_str(), &st);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << "root only by default";
}

TEST_F(LogDir, ReopenContinuesTheSameLog) {
    {
        auto log = vouch::MeasurementLog::open(dir);
        ASSERT_TRUE(log.ok());
        ASSERT_TRUE(*log->append(entry(1, "/a")));
        ASSERT_TRUE(*log->append(entry(2, "/b")));
    }
    auto log = vouch::MeasurementLog::open(dir);
    ASSERT_TRUE(log.ok()) << log.error().message;
    EXPECT_EQ(log->entries().size(), 2u);
    EXPECT_FALSE(*log->append(entry(2, "/b"))) << "dedupe state survives a restart";
    EXPECT_TRUE(*log->append(entry(3, "/c")));
    auto parsed = vouch::ima::parse_binary([&] {
        auto s = slurp(log->binary_path());
        return std::vector<uint8_t>(s.begin(), s.end());
    }());
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->size(), 3u);
    EXPECT_EQ(slurp(log->ascii_path()).size(), [&] {
        size_t n = 0;
        for (const auto &e : *parsed)
            n += vouch::ima::encode_ascii(e).size();
        return n;
    }());
}

// An attestation agent keeps the ASCII log open across vouchd restarts and
// reads on from its offset: a reopen must not truncate or rewrite it.
TEST_F(LogDir, ReopenOnlyAppendsToTheAsciiLogUnderAReader) {
    std::string first;
    {
        auto log = vouch::MeasurementLog::open(dir);
        ASSERT_TRUE(log.ok());
        ASSERT_TRUE(*log->append(entry(1, "/a")));
        ASSERT_TRUE(*log->append(entry(2, "/b")));
        first = slurp(log->ascii_path());
    }
    std::string ascii = dir + "/ascii_runtime_measurements";
    int reader = ::open(ascii.c_str(), O_RDONLY);
    ASSERT_GE(reader, 0);
    std::string got(first.size(), '\0');
    ASSERT_EQ(::read(reader, got.data(), got.size()), static_cast<ssize_t>(first.size()));
    struct stat before {};
    fstat(reader, &before);

    auto log = vouch::MeasurementLog::open(dir);
    ASSERT_TRUE(log.ok()) << log.error().message;
    EXPECT_FALSE(log->ascii_rebuilt());
    struct stat after {};
    stat(ascii.c_str(), &after);
    EXPECT_EQ(after.st_ino, before.st_ino) << "the same file, not a replacement";
    EXPECT_EQ(after.st_size, before.st_size) << "a reopen writes nothing when both forms agree";
    ASSERT_TRUE(*log->append(entry(3, "/c")));
    char buf[4096];
    ssize_t n = ::read(reader, buf, sizeof(buf));
    ::close(reader);
    ASSERT_GT(n, 0) << "the reader goes on from its offset";
    EXPECT_EQ(std::string(buf, static_cast<size_t>(n)),
              vouch::ima::encode_ascii(log->entries().back()));
}

// A crash between the binary and the ASCII write of an entry: the ASCII file
// lacks the last line; the reopen appends it instead of rewriting the file.
TEST_F(LogDir, ReopenAppendsWhatTheAsciiLogLacks) {
    std::string full;
    {
        auto log = vouch::MeasurementLog::open(dir);
        ASSERT_TRUE(log.ok());
        ASSERT_TRUE(*log->append(entry(1, "/a")));
        ASSERT_TRUE(*log->append(entry(2, "/b")));
        full = slurp(log->ascii_path());
    }
    std::string ascii = dir + "/ascii_runtime_measurements";
    size_t cut = full.find('\n') + 1;
    ASSERT_EQ(truncate(ascii.c_str(), static_cast<off_t>(cut)), 0);
    struct stat before {};
    stat(ascii.c_str(), &before);
    auto log = vouch::MeasurementLog::open(dir);
    ASSERT_TRUE(log.ok()) << log.error().message;
    EXPECT_FALSE(log->ascii_rebuilt());
    struct stat after {};
    stat(ascii.c_str(), &after);
    EXPECT_EQ(after.st_ino, before.st_ino);
    EXPECT_EQ(slurp(ascii), full);
}

// An ASCII file that the binary log does not explain is replaced by a new
// file: a reader's descriptor keeps the bytes it had, unchanged.
TEST_F(LogDir, AMismatchedAsciiLogIsReplacedNotRewrittenInPlace) {
    std::string full;
    {
        auto log = vouch::MeasurementLog::open(dir);
        ASSERT_TRUE(log.ok());
        ASSERT_TRUE(*log->append(entry(1, "/a")));
        full = slurp(log->ascii_path());
    }
    std::string ascii = dir + "/ascii_runtime_measurements";
    std::ofstream(ascii) << "10 edited by hand\n";
    int reader = ::open(ascii.c_str(), O_RDONLY);
    ASSERT_GE(reader, 0);
    auto log = vouch::MeasurementLog::open(dir);
    ASSERT_TRUE(log.ok()) << log.error().message;
    EXPECT_TRUE(log->ascii_rebuilt());
    EXPECT_EQ(slurp(ascii), full);
    char buf[64];
    ssize_t n = ::pread(reader, buf, sizeof(buf), 0);
    ::close(reader);
    EXPECT_EQ(std::string(buf, static_cast<size_t>(std::max<ssize_t>(n, 0))),
              "10 edited by hand\n");
}

TEST_F(LogDir, RefusesToContinueACorruptLog) {
    std::ofstream(dir + "/binary_runtime_measurements") << "garbage!";
    auto log = vouch::MeasurementLog::open(dir);
    ASSERT_FALSE(log.ok());
    EXPECT_NE(log.error().message.find("cannot be continued"), std::string::npos);
}

TEST(Replay, MatchesHandComputedExtends) {
    std::vector<vouch::ima::Entry> es = {entry(1, "/a"), entry(2, "/b", 11), entry(3, "/c")};
    // PCR10 sha256 = H(H(0^32 || th(a)) || th(c))
    std::vector<uint8_t> v(32, 0);
    for (int i : {0, 2}) {
        auto th = vouch::ima::bank_template_hash(es[i], "sha256");
        std::vector<uint8_t> buf(v);
        buf.insert(buf.end(), th.begin(), th.end());
        auto h = vouch::sha256_bytes(buf);
        v.assign(h.begin(), h.end());
    }
    EXPECT_EQ(vouch::replay(es, 10, "sha256", es.size()), v);
    EXPECT_EQ(vouch::matching_prefix(es, 10, "sha256", v), 3);
    EXPECT_EQ(vouch::matching_prefix(es, 10, "sha256", vouch::replay(es, 10, "sha256", 1)), 1);
    EXPECT_EQ(vouch::matching_prefix(es, 10, "sha256", std::vector<uint8_t>(32, 0)), 0);
    EXPECT_EQ(vouch::matching_prefix(es, 10, "sha256", std::vector<uint8_t>(32, 7)), -1);
}

} // namespace

namespace {

void write_bin(const std::string &path, const std::vector<vouch::ima::Entry> &entries) {
    std::ofstream out(path, std::ios::binary);
    for (const auto &e : entries) {
        auto b = vouch::ima::encode_binary(e);
        out.write(reinterpret_cast<const char *>(b.data()), static_cast<std::streamsize>(b.size()));
    }
}

} // namespace

TEST_F(LogDir, KernelBootAggregateSeedsTheLog) {
    // The golden kernel log starts with boot_aggregate on PCR 10, then the
    // files IMA measured there.
    auto bytes = slurp("tests/lib/golden/kernel-6.1-ima.bin");
    auto all =
        vouch::ima::parse_binary({reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size()});
    ASSERT_TRUE(all.ok());
    ASSERT_GT(all->size(), 1u);
    ASSERT_EQ((*all)[0].path, "boot_aggregate");

    std::string only_ba = dir + "/ba", more = dir + "/more";
    write_bin(only_ba, {(*all)[0]});
    write_bin(more, *all);
    auto seed = vouch::kernel_ima_seed(only_ba, 10);
    ASSERT_TRUE(seed.ok()) << seed.error().message;
    ASSERT_EQ(seed->size(), 1u);
    EXPECT_EQ((*seed)[0].template_data, (*all)[0].template_data);

    auto refused = vouch::kernel_ima_seed(more, 10);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, EEXIST);
    EXPECT_NE(refused.error().message.find("the kernel's IMA measures into PCR 10"),
              std::string::npos)
        << refused.error().message;
    EXPECT_NE(refused.error().message.find((*all)[1].path), std::string::npos);

    // Violations go to PCR 10 whatever the kernel policy's pcr=: with
    // boot_aggregate they start the log, in the kernel's order; a restarted
    // vouchd (continued) is not refused for the kernel's entries.
    std::string viol = dir + "/viol";
    auto v1 = vouch::ima::make_violation(10, "ima-ng", "/tmp/ow");
    auto v2 = vouch::ima::make_violation(10, "ima-ng", "/tmp/tomtou");
    write_bin(viol, {(*all)[0], v1, v2});
    uint64_t count = 0;
    auto with_v = vouch::kernel_ima_seed(viol, 10, false, &count);
    ASSERT_TRUE(with_v.ok()) << with_v.error().message;
    ASSERT_EQ(with_v->size(), 3u);
    EXPECT_EQ((*with_v)[2].path, "/tmp/tomtou");
    EXPECT_EQ(count, 3u);
    auto continued = vouch::kernel_ima_seed(more, 10, true, &count);
    ASSERT_TRUE(continued.ok()) << continued.error().message;
    ASSERT_EQ(continued->size(), 1u);
    EXPECT_EQ((*continued)[0].path, "boot_aggregate");
    EXPECT_EQ(count, all->size());

    // Another PCR is free, and a kernel without an IMA log seeds nothing.
    auto other = vouch::kernel_ima_seed(more, 11);
    ASSERT_TRUE(other.ok());
    EXPECT_TRUE(other->empty());
    auto none = vouch::kernel_ima_seed(dir + "/absent", 10);
    ASSERT_TRUE(none.ok());
    EXPECT_TRUE(none->empty());
}

TEST(Replay, BootAggregateMayBeZeroPaddedSha1InWideBanks) {
    auto ba = vouch::ima::make_entry(10, "ima-ng", "sha256", std::vector<uint8_t>(32, 7),
                                     "boot_aggregate");
    auto e1 = entry(1, "/bin/a");
    std::vector<vouch::ima::Entry> log = {ba, e1};
    // What the kernel does for a SHA-384 bank it cannot hash at boot:
    // extend with the SHA-1 template hash padded to 48 bytes.
    std::vector<uint8_t> padded(ba.template_sha1.begin(), ba.template_sha1.end());
    padded.resize(48, 0);
    std::vector<uint8_t> pcr(48, 0);
    auto ext = [&](const std::vector<uint8_t> &v) {
        std::vector<uint8_t> buf = pcr;
        buf.insert(buf.end(), v.begin(), v.end());
        unsigned int len = 0;
        EVP_Digest(buf.data(), buf.size(), pcr.data(), &len, EVP_sha384(), nullptr);
    };
    ext(padded);
    EXPECT_EQ(vouch::matching_prefix(log, 10, "sha384", pcr), 1);
    ext(vouch::ima::bank_template_hash(e1, "sha384"));
    EXPECT_EQ(vouch::matching_prefix(log, 10, "sha384", pcr), 2);
    // Only the boot_aggregate may be padded: a PCR that also took a padded
    // later entry matches no prefix of the log.
    std::vector<uint8_t> p1(e1.template_sha1.begin(), e1.template_sha1.end());
    p1.resize(48, 0);
    pcr.assign(48, 0);
    ext(padded);
    ext(p1);
    EXPECT_EQ(vouch::matching_prefix(log, 10, "sha384", pcr), -1);
}
