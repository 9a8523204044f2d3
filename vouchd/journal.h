/* SPDX-License-Identifier: Apache-2.0 */
// vouchd's structured journal records (MESSAGE_IDs and fields in
// lib/journal_fields.h, explained by packaging/systemd/vouch.catalog): what
// a SIEM or `journalctl MESSAGE_ID=...` matches on, where stderr lines would
// need parsing. Each kind is rate-limited on its own, so a flood of one (a
// user exec'ing thousands of unlisted files) neither floods journald nor
// hides the records of another kind.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vouchd/service.h"

namespace vouch {

// One record: its MESSAGE_ID, syslog priority, MESSAGE and VOUCH_* fields.
struct JournalRecord {
    const char *id = nullptr;
    int priority = 6; // LOG_INFO
    std::string message;
    std::vector<std::pair<std::string, std::string>> fields;

    // "MESSAGE_ID=...", "PRIORITY=...", "MESSAGE=...", then the fields in
    // order: what sd_journal_sendv() takes, one iovec each.
    std::vector<std::string> entries() const;
};

// The records, built from what the daemon knows (pure: unit-tested).
namespace journal_record {
// verdict: an enforce-mode denial (enforce) or an audit finding (!enforce).
// why: the reason after the colon, e.g. "not in policy serial 5".
JournalRecord denial(const Denial &d, bool enforce, uint64_t serial, std::string_view why);
JournalRecord policy_activated(uint64_t serial, std::string_view mode, std::string_view digest,
                               std::string_view source);
// what: "reload refused", "policy update over D-Bus refused", ...; serial 0
// when the refused policy's serial is not known (it did not parse).
JournalRecord policy_refused(std::string_view what, std::string_view cause, uint64_t serial);
// state: tpm_state_name(); "log-mismatch" gets a kind of its own.
JournalRecord tpm_state(std::string_view state, std::string_view message);
JournalRecord lost_events(uint64_t n);
// A change of what protects against rollback (Protection's `entry`):
// `warning` for one that weakens it (NV unavailable, a failed NV write, an
// active policy below the NV serial), notice otherwise.
JournalRecord protection(std::string_view entry, std::string_view message, bool warning);
JournalRecord suppressed(const char *id, uint64_t n);
// A kind's short name in messages: "denied", "would-deny", ...
const char *kind_name(const char *id);
} // namespace journal_record

// At most `burst` records per `interval_usec` window per kind; the rest are
// counted. Fixed windows: a window opens with the first record after the
// last one closed. Pure (the caller passes the time).
class JournalRateLimit {
  public:
    struct Options {
        uint32_t burst = 10;
        uint64_t interval_usec = 10'000'000;
    };
    explicit JournalRateLimit(Options o) : o_(o) {}
    JournalRateLimit() : JournalRateLimit(Options{}) {}

    struct Admit {
        bool write = false;
        // Records of this kind suppressed in the window that just closed,
        // to report before this one (0: nothing to report).
        uint64_t suppressed = 0;
    };
    Admit admit(const char *id, uint64_t now_usec);
    // Kinds whose window closed with records suppressed and no record since:
    // (id, count) each, once. Called periodically so that a flood that
    // stops is still reported.
    std::vector<std::pair<const char *, uint64_t>> expired(uint64_t now_usec);

  private:
    struct Window {
        const char *id = nullptr;
        uint64_t start = 0;
        uint32_t written = 0;
        uint64_t suppressed = 0;
    };
    Options o_;
    std::map<std::string, Window, std::less<>> windows_;
};

class Journal {
  public:
    // sink: where a record's entries go (default: sd_journal_sendv, and
    // stderr too unless stderr is already the journal). clock: monotonic
    // microseconds (default CLOCK_MONOTONIC).
    using Sink = std::function<void(const JournalRecord &)>;
    using Clock = std::function<uint64_t()>;
    explicit Journal(Sink sink = {}, Clock clock = {}, JournalRateLimit::Options limit = {});

    // Writes `r` within its kind's rate limit.
    void write(const JournalRecord &r);
    // Reports the floods that stopped (call about once a second).
    void tick();

  private:
    Sink sink_;
    Clock clock_;
    JournalRateLimit limit_;
};

} // namespace vouch
