#include "agent/measurement_log.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "agent/digest.h"

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
