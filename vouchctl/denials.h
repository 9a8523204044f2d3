/* SPDX-License-Identifier: Apache-2.0 */
// vouchctl denials: vouchd's denied and would-deny journal records
// (lib/journal_fields.h), grouped by file. The grouping, the --since parser and
// the output are pure functions over records, tested without a journal.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lib/result.h"

namespace vouch::ctl {

// One journal record, as far as `denials` reads it.
struct DenialRecord {
    bool would = false;          // would-deny (audit mode), not denied (enforce)
    std::string path;            // VOUCH_PATH
    std::string digest;          // VOUCH_DIGEST, "sha256:<hex>"
    std::string hook;            // VOUCH_HOOK
    std::optional<uint32_t> uid; // VOUCH_UID, if it is a number
    uint64_t usec = 0;           // the record's realtime timestamp (µs since the epoch)
};

// The records of one (kind, path, digest).
struct DenialGroup {
    bool would = false;
    std::string path, digest;
    size_t count = 0;
    uint64_t first_usec = 0, last_usec = 0;
    std::vector<uint32_t> uids;     // sorted, unique
    std::vector<std::string> hooks; // sorted, unique
};

// Groups records by (kind, path, digest), in any order; the groups come
// sorted by their last record's time, oldest first (the newest last, next to
// the prompt), ties by path, digest, kind.
std::vector<DenialGroup> group_denials(const std::vector<DenialRecord> &records);

// --since TIME: a realtime bound in µs, or "the current boot".
struct Since {
    bool boot = false;
    uint64_t usec = 0;
};
// "YYYY-MM-DD", "YYYY-MM-DD HH:MM", "YYYY-MM-DD HH:MM:SS" (local time, as
// journalctl reads them), "@SECONDS" (since the epoch), "-N" + s|m|h|d (that
// long before now_usec), "today", "yesterday" (local midnight), "boot".
Result<Since> parse_since(const std::string &text, uint64_t now_usec);

// "2026-12-02 18:00:01" in local time, as journalctl prints.
std::string local_time(uint64_t usec);
// One line per group: kind, count, first .. last, uids, hooks, path, digest.
std::string denial_line(const DenialGroup &g);
// One compact JSON object: kind, path, digest, count, first, last (ISO 8601
// UTC), first_usec, last_usec, uids, hooks.
std::string denial_json(const DenialGroup &g);

} // namespace vouch::ctl
