/* SPDX-License-Identifier: Apache-2.0 */
// vouch's allow-list: a Keylime runtime policy (format in policy/README.md)
// with vouch's fields in meta.vouch, signed in a DSSE envelope.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "lib/abi.h"
#include "policy/dsse.h"
#include "lib/result.h"

namespace vouch::policy {

// The Keylime runtime-policy format version this parser understands
// (Keylime's RUNTIME_POLICY_CURRENT_VERSION).
inline constexpr int64_t kKeylimeVersion = 1;
// Keys a policy may name in meta.vouch.keys: a rotation, not a key database.
inline constexpr size_t kMaxTrustKeys = 64;

// The `digests` key under which a Keylime runtime policy lists the values the
// IMA log's first entry (the boot aggregate over PCRs 0-9) may have. It is
// not a file: vouch checks its values and never enforces them.
inline constexpr const char *kBootAggregate = "boot_aggregate";

struct Policy {
    uint64_t serial = 0;
    vouch_mode mode = VOUCH_MODE_AUDIT;
    // Every digest the policy allows, sorted and unique; the agent digests are
    // among them (an agent must be allowed to run before it can manage vouch).
    std::vector<vouch_digest> digests;
    // Digests whose executables may manage vouch (VOUCH_ALLOW_AGENT), sorted, unique.
    std::vector<vouch_digest> agents;
    // fs-verity digests (meta.vouch.verity): they allow a file the kernel
    // side identified by fs-verity, and nothing else; sorted, unique.
    std::vector<vouch_digest> verity;
    // digests["boot_aggregate"]: lowercase hex of 40, 64, 96 or 128 digits
    // (SHA-1 to SHA-512, whatever the log's boot_aggregate entry holds),
    // sorted, unique. Not among `digests`: no file has them.
    std::vector<std::string> boot_aggregates;
    // meta.vouch.keys: the trusted key set from this policy on (key rotation
    // while enforcing); empty if the policy leaves the keys as they are.
    std::vector<PublicKey> trust_keys;
    size_t entries = 0;  // digests.size() + verity.size()
    size_t paths = 0;    // path keys in `digests` other than boot_aggregate (informational)
    size_t excludes = 0; // Keylime exclude regexes (vouch does not apply them)
    // A non-empty Keylime 'verification-keys' (vouch checks no file signatures).
    bool verification_keys = false;
    uint64_t release = 0;
    std::string timestamp; // meta.timestamp, if any
    std::string keyid;     // of the trusted key that verified it; empty if unsigned
    std::string digest;    // "sha256:<hex>" of the envelope bytes as received
};

// The payload alone, without any signature check: for the fuzzer, for
// `policy sign` (to refuse signing a document vouchd would refuse) and tests.
// EBADMSG names the offending field (and path, for a digest). It includes
// check_keylime_agreement().
Result<Policy> parse_payload(std::string_view json);

// Refuses (EBADMSG) an enforce-mode policy with a Keylime field by which
// Keylime accepts files that vouch, which allows by digest only, would deny:
// a non-empty `excludes` (Keylime skips a path that matches) or
// `verification-keys` (Keylime accepts a file whose ima-sig signature
// verifies). Enforcing it would silently differ from the verifier; vouch
// applies neither (a path pattern is not a digest, and a signature check has
// no place in the kernel path). In audit mode nothing is denied, so both are
// accepted.
Result<void> check_keylime_agreement(const Policy &p);

// parse_payload() without check_keylime_agreement(): for the offline tools
// that read a document to compare or extend it (compose.h), never to enforce
// or sign it. Whatever they write is checked with parse_payload().
Result<Policy> parse_payload_content(std::string_view json);

// Verifies the envelope against the trusted keys first and parses the payload
// only once a signature verified. Returns a new Policy and changes nothing
// else, so a refusal leaves whatever the caller holds untouched.
Result<Policy> verify_and_parse(std::string_view envelope, const TrustStore &keys);

// What `policy make` writes.
struct PolicyInput {
    uint64_t serial = 0;
    vouch_mode mode = VOUCH_MODE_AUDIT;
    std::map<std::string, std::vector<std::string>> digests; // path -> hex SHA-256
    std::map<std::string, std::vector<std::string>> agents;  // path -> hex SHA-256
    std::map<std::string, std::vector<std::string>> verity;  // path -> hex fs-verity digest
    std::vector<std::string> trust_keys;                     // PEM public keys (meta.vouch.keys)
    std::string timestamp;                                   // ISO 8601, may be empty
};
// Keylime-complete document (every field Keylime's schema requires), one line.
// Its "ima-buf" holds vouch_record_digests().
std::string serialize(const PolicyInput &in);
// name -> hex SHA-256 of vouch's records whose content does not depend on the
// policy (lib/vouch_records.h: vouch-measure-start of both stages,
// vouchd-start, vouchd-stop): what a Keylime runtime policy's "ima-buf" must
// list for Keylime to accept a log holding them.
std::map<std::string, std::vector<std::string>> vouch_record_digests();

bool parse_hex_digest(std::string_view hex, vouch_digest &out);
std::string digest_hex(const vouch_digest &d);
const char *mode_string(vouch_mode m);

} // namespace vouch::policy
