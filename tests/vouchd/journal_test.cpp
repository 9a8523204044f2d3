// SPDX-License-Identifier: Apache-2.0
// vouchd's journal records: the fields each kind carries and the per-kind
// rate limit, with a fake clock and a sink that collects instead of
// journald.
#include "vouchd/journal.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "lib/journal_fields.h"

namespace {

using namespace vouch;

constexpr uint64_t kSec = 1'000'000;

std::string field(const JournalRecord &r, const std::string &name) {
    for (const auto &[k, v] : r.fields)
        if (k == name)
            return v;
    return "<absent>";
}

Denial sample_denial() {
    Denial d;
    d.path = "/tmp/x";
    d.digest = std::vector<uint8_t>(32, 0xab);
    d.pid = 4242;
    d.uid = 1000;
    d.hook = "bprm_check";
    return d;
}

TEST(JournalRecord, DeniedCarriesEveryField) {
    auto r = journal_record::denial(sample_denial(), true, 5, "not in policy serial 5");
    std::string hex;
    for (int i = 0; i < 32; i++)
        hex += "ab";
    EXPECT_STREQ(r.id, journal::kDenied);
    EXPECT_EQ(r.priority, 4); // warning
    EXPECT_EQ(r.message, "denied exec of /tmp/x (sha256:" + hex + "): not in policy serial 5");
    std::vector<std::string> want = {
        std::string("MESSAGE_ID=") + journal::kDenied,
        "PRIORITY=4",
        "MESSAGE=" + r.message,
        "VOUCH_PATH=/tmp/x",
        "VOUCH_DIGEST=sha256:" + hex,
        "VOUCH_PID=4242",
        "VOUCH_UID=1000",
        "VOUCH_HOOK=bprm_check",
        "VOUCH_SERIAL=5",
        "VOUCH_MODE=enforce",
    };
    EXPECT_EQ(r.entries(), want);
}

// A name with a newline or an escape sequence: MESSAGE stays one printable
// line, VOUCH_PATH holds the exact bytes.
TEST(JournalRecord, DenialMessageEscapesTheNameThePathFieldKeepsIt) {
    Denial d = sample_denial();
    d.path = "/tmp/a\nb\x1b[2J\xff";
    auto r = journal_record::denial(d, true, 5, "not in policy serial 5");
    EXPECT_NE(r.message.find("of /tmp/a\\x0ab\\x1b[2J\\xff ("), std::string::npos) << r.message;
    EXPECT_EQ(r.message.find('\n'), std::string::npos);
    auto e = r.entries();
    EXPECT_NE(std::find(e.begin(), e.end(), "VOUCH_PATH=" + d.path), e.end());
}

TEST(JournalRecord, WouldDenyIsANoticeInAuditMode) {
    Denial d = sample_denial();
    d.hook = "mmap_file";
    auto r = journal_record::denial(d, false, 7, "not in policy serial 7");
    EXPECT_STREQ(r.id, journal::kWouldDeny);
    EXPECT_EQ(r.priority, 5); // notice
    EXPECT_EQ(field(r, journal::kMode), "audit");
    EXPECT_EQ(field(r, journal::kSerial), "7");
    EXPECT_EQ(field(r, journal::kHook), "mmap_file");
    EXPECT_NE(r.message.find("would deny executable mapping of /tmp/x"), std::string::npos)
        << r.message;
}

TEST(JournalRecord, PolicyRecords) {
    auto a = journal_record::policy_activated(5, "enforce", "sha256:00ff", "D-Bus UpdatePolicy");
    EXPECT_STREQ(a.id, journal::kPolicyActivated);
    EXPECT_EQ(a.message, "D-Bus UpdatePolicy: policy serial 5 active, enforce mode");
    EXPECT_EQ(field(a, journal::kSerial), "5");
    EXPECT_EQ(field(a, journal::kMode), "enforce");
    EXPECT_EQ(field(a, journal::kDigest), "sha256:00ff");

    auto r = journal_record::policy_refused("reload refused", "serial 3 is lower than 5", 3);
    EXPECT_STREQ(r.id, journal::kPolicyRefused);
    EXPECT_EQ(r.message, "reload refused, the active policy stays: serial 3 is lower than 5");
    EXPECT_EQ(field(r, journal::kCause), "serial 3 is lower than 5");
    EXPECT_EQ(field(r, journal::kSerial), "3");
    // A policy that did not even parse has no serial to report.
    auto u = journal_record::policy_refused("reload refused", "not JSON", 0);
    EXPECT_EQ(field(u, journal::kSerial), "<absent>");
}

TEST(JournalRecord, TpmStateAndLogMismatch) {
    auto ok = journal_record::tpm_state("ok", "");
    EXPECT_STREQ(ok.id, journal::kTpmState);
    EXPECT_EQ(ok.message, "TPM ok");
    EXPECT_EQ(field(ok, journal::kTpm), "ok");
    auto missing = journal_record::tpm_state("missing", "no /dev/tpmrm0");
    EXPECT_STREQ(missing.id, journal::kTpmState);
    EXPECT_EQ(missing.message, "TPM missing: no /dev/tpmrm0");
    EXPECT_EQ(missing.priority, 4);
    auto mm = journal_record::tpm_state("log-mismatch", "the log does not replay");
    EXPECT_STREQ(mm.id, journal::kLogMismatch);
    EXPECT_EQ(mm.priority, 3); // err
    EXPECT_EQ(field(mm, journal::kTpm), "log-mismatch");
}

TEST(JournalRecord, Protection) {
    auto w = journal_record::protection("serial", "disk only: no TPM (tpm = no)", true);
    EXPECT_STREQ(w.id, journal::kProtection);
    EXPECT_EQ(w.priority, 4); // warning
    EXPECT_EQ(w.message, "rollback protection (serial): disk only: no TPM (tpm = no)");
    EXPECT_EQ(field(w, journal::kProtectionEntry), "serial");
    EXPECT_EQ(field(w, journal::kCause), "disk only: no TPM (tpm = no)");
    EXPECT_EQ(journal_record::protection("serial", "tpm-nv", false).priority, 5); // notice
    EXPECT_STREQ(journal_record::kind_name(journal::kProtection), "protection");
}

TEST(JournalRecord, LostAndSuppressed) {
    auto l = journal_record::lost_events(12);
    EXPECT_STREQ(l.id, journal::kLostEvents);
    EXPECT_EQ(field(l, journal::kLost), "12");
    auto s = journal_record::suppressed(journal::kWouldDeny, 990);
    EXPECT_STREQ(s.id, journal::kSuppressed);
    EXPECT_EQ(s.message, "990 would-deny records suppressed (rate limit)");
    EXPECT_EQ(field(s, journal::kSuppressedCount), "990");
    EXPECT_EQ(field(s, journal::kSuppressedId), journal::kWouldDeny);
}

TEST(JournalRateLimit, BurstThenSuppressedUntilTheWindowReopens) {
    JournalRateLimit rl({3, 10 * kSec});
    uint64_t t = 100 * kSec;
    for (int i = 0; i < 3; i++) {
        auto a = rl.admit(journal::kDenied, t + uint64_t(i));
        EXPECT_TRUE(a.write);
        EXPECT_EQ(a.suppressed, 0u);
    }
    for (int i = 0; i < 5; i++)
        EXPECT_FALSE(rl.admit(journal::kDenied, t + kSec).write);
    // Still the same window.
    EXPECT_FALSE(rl.admit(journal::kDenied, t + 10 * kSec - 1).write);
    // The window reopens: this record goes out, and reports the 6 before it.
    auto a = rl.admit(journal::kDenied, t + 10 * kSec);
    EXPECT_TRUE(a.write);
    EXPECT_EQ(a.suppressed, 6u);
    // Reported once.
    EXPECT_EQ(rl.admit(journal::kDenied, t + 10 * kSec + 1).suppressed, 0u);
}

TEST(JournalRateLimit, KindsAreLimitedApart) {
    JournalRateLimit rl({2, 10 * kSec});
    for (int i = 0; i < 10; i++)
        (void)rl.admit(journal::kWouldDeny, kSec);
    EXPECT_TRUE(rl.admit(journal::kDenied, kSec).write);
    EXPECT_TRUE(rl.admit(journal::kPolicyRefused, kSec).write);
    EXPECT_FALSE(rl.admit(journal::kWouldDeny, kSec).write);
}

TEST(JournalRateLimit, AFloodThatStopsIsReportedByExpired) {
    JournalRateLimit rl({1, 10 * kSec});
    (void)rl.admit(journal::kWouldDeny, kSec);
    (void)rl.admit(journal::kWouldDeny, 2 * kSec);
    (void)rl.admit(journal::kWouldDeny, 3 * kSec);
    (void)rl.admit(journal::kDenied, 3 * kSec); // written, nothing suppressed
    EXPECT_TRUE(rl.expired(10 * kSec).empty()) << "the window is still open";
    auto e = rl.expired(11 * kSec);
    ASSERT_EQ(e.size(), 1u);
    EXPECT_STREQ(e[0].first, journal::kWouldDeny);
    EXPECT_EQ(e[0].second, 2u);
    EXPECT_TRUE(rl.expired(30 * kSec).empty()) << "reported once";
    // And the next record opens a fresh window with nothing to report.
    auto a = rl.admit(journal::kWouldDeny, 31 * kSec);
    EXPECT_TRUE(a.write);
    EXPECT_EQ(a.suppressed, 0u);
}

// The writer end to end: a thousand would-be denials in one window are ten
// records and one summary, in that order.
TEST(Journal, ThousandRecordsAreTenAndOneSummary) {
    uint64_t now = 50 * kSec;
    std::vector<JournalRecord> got;
    Journal j([&](const JournalRecord &r) { got.push_back(r); }, [&] { return now; });
    auto d = journal_record::denial(sample_denial(), false, 7, "not in policy serial 7");
    for (int i = 0; i < 1000; i++) {
        j.write(d);
        now += 1000; // 1 ms apart: all in one 10 s window
    }
    j.tick();
    ASSERT_EQ(got.size(), 10u);
    now += 10 * kSec;
    j.tick();
    ASSERT_EQ(got.size(), 11u);
    EXPECT_STREQ(got.back().id, journal::kSuppressed);
    EXPECT_EQ(field(got.back(), journal::kSuppressedCount), "990");
    EXPECT_EQ(field(got.back(), journal::kSuppressedId), journal::kWouldDeny);
    EXPECT_TRUE(std::all_of(got.begin(), got.begin() + 10, [](const JournalRecord &r) {
        return std::string_view(r.id) == journal::kWouldDeny;
    }));
}

} // namespace

namespace {

// Every MESSAGE_ID has its entry in the catalog journalctl -x reads, and the
// catalog explains no ID vouchd does not write. Run from the top of the tree.
TEST(JournalCatalog, OneEntryPerMessageId) {
    std::ifstream in("packaging/systemd/vouch.catalog");
    ASSERT_TRUE(in) << "run from the top of the source tree";
    std::multiset<std::string> headers;
    for (std::string line; std::getline(in, line);)
        if (line.starts_with("-- "))
            headers.insert(line.substr(3));
    std::multiset<std::string> ids;
    for (const char *id : {journal::kDenied, journal::kWouldDeny, journal::kPolicyActivated,
                           journal::kPolicyRefused, journal::kTpmState, journal::kLogMismatch,
                           journal::kLostEvents, journal::kSuppressed, journal::kProtection})
        ids.insert(id);
    EXPECT_EQ(headers, ids);
}

} // namespace
