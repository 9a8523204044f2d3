// SPDX-License-Identifier: Apache-2.0
// vouchctl denials without a journal: grouping, --since, the output forms.
#include "vouchctl/denials.h"

#include <gtest/gtest.h>

#include <ctime>

#include <nlohmann/json.hpp>

#include "tests/vouchctl/run.h"

namespace {

using namespace vouch::ctl;

constexpr uint64_t kSec = 1000000;

DenialRecord rec(bool would, const std::string &path, const std::string &digest, uint64_t sec,
                 std::optional<uint32_t> uid, const std::string &hook) {
    DenialRecord r;
    r.would = would;
    r.path = path;
    r.digest = digest;
    r.usec = sec * kSec;
    r.uid = uid;
    r.hook = hook;
    return r;
}

TEST(Denials, GroupsByKindPathAndDigestSortedByLastTime) {
    std::string d1 = "sha256:" + std::string(64, 'a'), d2 = "sha256:" + std::string(64, 'b');
    std::vector<DenialRecord> in = {
        rec(false, "/tmp/x", d1, 300, 0, "bprm_check_security"),
        rec(true, "/tmp/y", d2, 100, 1000, "mmap_file"),
        rec(false, "/tmp/x", d1, 200, 1000, "mmap_file"),
        rec(false, "/tmp/x", d2, 150, 0, "bprm_check_security"), // new content, own group
        rec(true, "/tmp/x", d1, 50, 0, "bprm_check_security"),   // audit, own group
        rec(true, "/tmp/y", d2, 120, 1000, "mmap_file"),
        rec(false, "/tmp/x", d1, 250, std::nullopt, ""),
    };
    auto g = group_denials(in);
    ASSERT_EQ(g.size(), 4u);
    // Oldest last time first.
    EXPECT_TRUE(g[0].would);
    EXPECT_EQ(g[0].path, "/tmp/x");
    EXPECT_EQ(g[0].count, 1u);
    EXPECT_EQ(g[1].path, "/tmp/y");
    EXPECT_EQ(g[1].count, 2u);
    EXPECT_EQ(g[1].first_usec, 100 * kSec);
    EXPECT_EQ(g[1].last_usec, 120 * kSec);
    EXPECT_EQ(g[1].uids, std::vector<uint32_t>{1000});
    EXPECT_EQ(g[2].digest, d2);
    EXPECT_EQ(g[2].count, 1u);
    EXPECT_FALSE(g[3].would);
    EXPECT_EQ(g[3].digest, d1);
    EXPECT_EQ(g[3].count, 3u);
    EXPECT_EQ(g[3].first_usec, 200 * kSec);
    EXPECT_EQ(g[3].last_usec, 300 * kSec);
    EXPECT_EQ(g[3].uids, (std::vector<uint32_t>{0, 1000}));
    EXPECT_EQ(g[3].hooks, (std::vector<std::string>{"bprm_check_security", "mmap_file"}));
    EXPECT_TRUE(group_denials({}).empty());
}

TEST(Denials, JsonAndLineSayWhatTheGroupHolds) {
    auto g = group_denials({rec(true, "/tmp/a\xff", "sha256:ab", 1796234400, 7, "mmap_file"),
                            rec(true, "/tmp/a\xff", "sha256:ab", 1796234460, 8, "mmap_file")});
    ASSERT_EQ(g.size(), 1u);
    auto j = nlohmann::json::parse(denial_json(g[0]));
    EXPECT_EQ(j["kind"], "would-deny");
    EXPECT_EQ(j["path"], "/tmp/a\\xff");
    EXPECT_EQ(j["digest"], "sha256:ab");
    EXPECT_EQ(j["count"], 2);
    EXPECT_EQ(j["first"], "2026-12-02T18:00:00Z");
    EXPECT_EQ(j["last"], "2026-12-02T18:01:00Z");
    EXPECT_EQ(j["last_usec"], uint64_t(1796234460) * kSec);
    EXPECT_EQ(j["uids"], nlohmann::json::array({7, 8}));
    EXPECT_EQ(j["hooks"], nlohmann::json::array({"mmap_file"}));
    EXPECT_EQ(denial_json(g[0]).find('\n'), std::string::npos) << "one object a line";
    std::string line = denial_line(g[0]);
    EXPECT_EQ(line, "would-deny 2x " + local_time(1796234400 * kSec) + " .. " +
                        local_time(1796234460 * kSec) +
                        " uid=7,8 hook=mmap_file /tmp/a\\xff sha256:ab\n")
        << "one group a line: the name as printable() writes it";
    g = group_denials({rec(false, "/tmp/a\nb\x1b[2J", "sha256:ab", 1796234400, 7, "mmap_file")});
    ASSERT_EQ(g.size(), 1u);
    line = denial_line(g[0]);
    EXPECT_NE(line.find(" /tmp/a\\x0ab\\x1b[2J sha256:ab\n"), std::string::npos) << line;
}

TEST(Denials, SinceTakesJournalctlsCommonForms) {
    const uint64_t now = 1796234400 * kSec + 123;
    auto s = parse_since("-1h", now);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->usec, now - 3600 * kSec);
    EXPECT_FALSE(s->boot);
    EXPECT_EQ(parse_since("-30m", now)->usec, now - 1800 * kSec);
    EXPECT_EQ(parse_since("-90s", now)->usec, now - 90 * kSec);
    EXPECT_EQ(parse_since("-2d", now)->usec, now - 2 * 86400 * kSec);
    EXPECT_EQ(parse_since("@1700000000", now)->usec, 1700000000 * kSec);
    EXPECT_TRUE(parse_since("boot", now)->boot);

    std::tm tm{};
    tm.tm_year = 2026 - 1900;
    tm.tm_mon = 11;
    tm.tm_mday = 1;
    tm.tm_hour = 13;
    tm.tm_min = 14;
    tm.tm_sec = 15;
    tm.tm_isdst = -1;
    std::tm t2 = tm;
    EXPECT_EQ(parse_since("2026-12-01 13:14:15", now)->usec, uint64_t(std::mktime(&t2)) * kSec);
    t2 = tm;
    t2.tm_sec = 0;
    EXPECT_EQ(parse_since("2026-12-01 13:14", now)->usec, uint64_t(std::mktime(&t2)) * kSec);
    t2 = tm;
    t2.tm_hour = t2.tm_min = t2.tm_sec = 0;
    EXPECT_EQ(parse_since("2026-12-01", now)->usec, uint64_t(std::mktime(&t2)) * kSec);

    time_t n = time_t(now / kSec);
    std::tm today{};
    localtime_r(&n, &today);
    today.tm_hour = today.tm_min = today.tm_sec = 0;
    today.tm_isdst = -1;
    std::tm yesterday = today;
    yesterday.tm_mday -= 1;
    EXPECT_EQ(parse_since("today", now)->usec, uint64_t(std::mktime(&today)) * kSec);
    EXPECT_EQ(parse_since("yesterday", now)->usec, uint64_t(std::mktime(&yesterday)) * kSec);

    for (const char *bad : {"", "-", "-1", "-1y", "1h", "-h", "2026-13-01", "2026-12-01 25:00",
                            "2026-12-01x", "tomorrow", "@", "@1x"}) {
        auto r = parse_since(bad, now);
        ASSERT_FALSE(r.ok()) << "'" << bad << "'";
        EXPECT_NE(r.error().message.find("--since"), std::string::npos);
    }
}

TEST(Denials, CommandLine) {
    using vouch::ctl::test::vouchctl;
    auto r = vouchctl({"denials", "--since", "tomorrow"});
    EXPECT_EQ(r.rc, Exit::Usage);
    EXPECT_NE(r.err.find("--since: 'tomorrow'"), std::string::npos) << r.err;
    r = vouchctl({"denials", "extra"});
    EXPECT_EQ(r.rc, Exit::Usage);
    r = vouchctl({"denials", "--help"});
    EXPECT_EQ(r.rc, Exit::Ok);
    EXPECT_NE(r.out.find("--since TIME"), std::string::npos);
}

} // namespace
