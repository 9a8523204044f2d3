/* SPDX-License-Identifier: Apache-2.0 */
// Policies as documents, for the tools that build, compare and combine them
// (`vouchctl policy make --from-log/--base`, `policy diff`, `policy merge`):
// path -> digests maps as the JSON holds them, where Policy (policy.h) is the
// set of digests the kernel side enforces.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "lib/abi.h"
#include "lib/ima_log.h"
#include "lib/result.h"
#include "policy/dsse.h"

namespace vouch::policy {

// path -> lowercase hex digests, each list unique, in the order first seen.
using PathDigests = std::map<std::string, std::vector<std::string>>;

struct Document {
    uint64_t serial = 0;
    vouch_mode mode = VOUCH_MODE_AUDIT;
    PathDigests digests; // `digests`
    PathDigests agents;  // meta.vouch.agents
    PathDigests verity;  // meta.vouch.verity
    // PEM public keys to write as meta.vouch.keys (a key rotation); empty
    // keeps whatever the payload below has.
    std::vector<std::string> trust_keys;
    // Keylime's "ima-buf": record name -> digests of the buffers accepted
    // under it. write_document() adds vouch_record_digests() to it.
    PathDigests ima_buf;
    // The JSON payload it was read from; empty for a new document. Fields
    // vouch does not interpret (release, excludes, Keylime's) come from it
    // when the document is written again.
    std::string payload;
};

// A payload, or a DSSE envelope around one. With `keys`, an envelope must
// verify against them (a bare payload is then refused); without, its
// signature is not looked at. The payload must pass parse_payload_content()
// (the error is that parser's): all vouchd checks except
// check_keylime_agreement(), so an enforce-mode document with Keylime's
// excludes or verification-keys is read; a caller that writes a document
// checks it with parse_payload(). Digests are read in their canonical form
// (lowercase hex, no "sha256:" prefix).
Result<Document> read_document(std::string_view bytes, const TrustStore *keys = nullptr);

// The payload text of `d`: d.payload's document (serialize()'s when empty)
// with d's serial, mode and entries, and `timestamp` as meta.timestamp unless
// it is empty. One line, as serialize() writes it.
std::string write_document(const Document &d, const std::string &timestamp);

// Adds `hex` to the digests of `path` unless it is listed there already.
void add_digest(PathDigests &m, const std::string &path, const std::string &hex);
// Adds every entry of `from` (digests, agents, fs-verity digests, ima-buf) to `into`:
// a path keeps its digests and gains the new ones after them, so a path may
// list an old and a new digest while a fleet moves from one to the other.
void add_entries(Document &into, const Document &from);

// What differs between two documents.
struct FieldChange {
    std::string field;         // "serial", "mode", or the JSON path ("release", "meta.timestamp")
    std::string before, after; // JSON text; "(none)" when the field is absent
};
// A digest allowed by one document and not by the other, with the paths that
// list it there. kind: "digest" (digests), "boot_aggregate"
// (digests["boot_aggregate"], which allows no file), "agent"
// (meta.vouch.agents) or "verity" (meta.vouch.verity).
struct DigestChange {
    std::string kind, digest;
    std::vector<std::string> paths;
};
// A path whose digests differ; `before` empty: the path is new, `after`
// empty: it is gone.
struct PathChange {
    std::string kind, path;
    std::vector<std::string> before, after;
};
struct Diff {
    std::vector<FieldChange> fields; // serial, mode, then the others by name
    std::vector<DigestChange> added, removed;
    std::vector<PathChange> paths;
    bool empty() const {
        return fields.empty() && added.empty() && removed.empty() && paths.empty();
    }
};
Diff diff(const Document &a, const Document &b);

// The hex of a boot_aggregate entry's digest as a Keylime runtime policy
// lists it; empty when `e` is no such entry or its digest has no IMA hash
// length.
std::string boot_aggregate_hex(const ima::Entry &e);

// A policy's entries from a measurement log (vouch's or the kernel IMA's), the
// way Keylime builds a runtime policy from an IMA measurement list.
struct FromLog {
    PathDigests digests; // SHA-256 content digests
    PathDigests verity;  // fs-verity digests ("verity:sha256" in an ima-ngv2 entry)
    size_t entries = 0;
    size_t violations = 0; // all-zero digest or template hash: skipped
    // The boot_aggregate entries' digests (hex, any of SHA-1..SHA-512), for
    // digests["boot_aggregate"]: what a verifier checks the log's first
    // entry against. Not a file: never among `digests`.
    std::vector<std::string> boot_aggregates;
    size_t boot_aggregate = 0; // boot_aggregate entries (taken)
    size_t vouch_records = 0;  // vouch's own "vouch:..." entries: skipped
    size_t buffers = 0;        // ima-buf entries (vouch's records, keys, ...): not files, skipped
    size_t unknown = 0;        // a template without a file digest field: skipped
    std::map<std::string, size_t> other_algos; // not SHA-256 ("sha1", ...): skipped, counted
    size_t unique_digests = 0;                 // distinct digests taken (both kinds)
};
FromLog from_log(const std::vector<ima::Entry> &entries);

} // namespace vouch::policy
