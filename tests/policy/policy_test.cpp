// SPDX-License-Identifier: Apache-2.0
#include "policy/policy.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "lib/digest.h"
#include "tests/policy/helpers.h"

namespace {

using namespace vouch::policy;
using namespace vouch::policy::test;

TrustStore trusted() {
    auto t = TrustStore::load(kTrusted);
    EXPECT_TRUE(t.ok()) << t.error().message;
    return t.ok() ? *t : TrustStore{};
}

std::string signed_by_p256(const std::string &payload) {
    auto k = SigningKey::load_file(kKeys + "/ecdsa-p256.key");
    EXPECT_TRUE(k.ok());
    auto env = sign_envelope(payload, *k);
    EXPECT_TRUE(env.ok());
    return *env;
}

// The golden payload with one field replaced, as a signed envelope.
std::string golden_with(const std::function<void(nlohmann::json &)> &edit) {
    auto doc = nlohmann::json::parse(slurp(kGolden + "/policy.json"));
    edit(doc);
    return signed_by_p256(doc.dump());
}

vouch_digest d(char c) {
    vouch_digest out{};
    EXPECT_TRUE(parse_hex_digest(std::string(64, c), out));
    return out;
}

void expect_refused(const std::string &envelope, const std::string &what) {
    auto r = verify_and_parse(envelope, trusted());
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.error().code, EBADMSG) << r.error().message;
    EXPECT_TRUE(contains(r.error().message, what)) << r.error().message;
}

void expect_golden(const std::string &file, const std::string &pub) {
    std::string env = slurp(kGolden + "/" + file);
    auto p = verify_and_parse(env, trusted());
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->serial, 42u);
    EXPECT_EQ(p->mode, VOUCH_MODE_ENFORCE);
    EXPECT_EQ(p->entries, 4u);
    EXPECT_EQ(p->paths, 4u);
    EXPECT_EQ(p->release, 3u);
    EXPECT_EQ(p->excludes, 0u);
    EXPECT_FALSE(p->verification_keys);
    EXPECT_EQ(p->timestamp, "2026-11-25T09:00:00Z");
    ASSERT_EQ(p->digests.size(), 4u);
    for (int i = 0; i < 4; ++i)
        EXPECT_EQ(digest_hex(p->digests[i]), std::string(64, static_cast<char>('1' + i)));
    ASSERT_EQ(p->agents.size(), 1u);
    EXPECT_EQ(digest_hex(p->agents[0]), std::string(64, '1'));
    auto pem = slurp(kTrusted + "/" + pub);
    EXPECT_EQ(p->keyid, vouch::to_hex(vouch::sha256_bytes(
                            {reinterpret_cast<const uint8_t *>(pem.data()), pem.size()})));
    EXPECT_EQ(p->digest,
              "sha256:" + vouch::to_hex(vouch::sha256_bytes(
                              {reinterpret_cast<const uint8_t *>(env.data()), env.size()})));
}

TEST(PolicyParse, GoldenEcdsaEnvelope) {
    expect_golden("policy.p256.dsse", "ecdsa-p256.pem");
}

TEST(PolicyParse, GoldenEd25519Envelope) {
    expect_golden("policy.ed25519.dsse", "ed25519.pem");
}

// Ed25519 is deterministic: signing the golden payload again must give the
// checked-in bytes, which pins the envelope's exact text.
TEST(PolicyParse, Ed25519EnvelopeIsReproducible) {
    auto k = SigningKey::load_file(kKeys + "/ed25519.key");
    ASSERT_TRUE(k.ok());
    auto env = sign_envelope(slurp(kGolden + "/policy.json"), *k);
    ASSERT_TRUE(env.ok());
    EXPECT_EQ(*env, slurp(kGolden + "/policy.ed25519.dsse"));
}

TEST(PolicyParse, RefusesWrongLengthDigest) {
    // SHA-1 and SHA-512 digests are valid Keylime, but can never match what the
    // kernel side computes.
    expect_refused(
        golden_with([](auto &j) { j["digests"]["/usr/bin/sha1"] = {std::string(40, 'a')}; }),
        "digests[\"/usr/bin/sha1\"][0] has 40 hex digits; vouch enforces SHA-256");
    expect_refused(
        golden_with([](auto &j) { j["meta"]["vouch"]["agents"]["/x"] = {std::string(128, 'a')}; }),
        "meta.vouch.agents[\"/x\"][0] has 128 hex digits");
}

TEST(PolicyParse, AcceptsSha256PrefixOnly) {
    auto p = verify_and_parse(golden_with([](auto &j) {
                                  j["digests"]["/usr/bin/x"] = {"sha256:" + std::string(64, '7')};
                              }),
                              trusted());
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->entries, 5u);
    expect_refused(
        golden_with([](auto &j) { j["digests"]["/usr/bin/x"] = {"sha1:" + std::string(40, '7')}; }),
        "digests[\"/usr/bin/x\"][0] 'sha1:");
}

// Keylime lists the log's boot_aggregate digest (any IMA hash) under
// digests["boot_aggregate"]; it is checked, kept apart and never allowed to run.
TEST(PolicyParse, BootAggregateIsCheckedButNotEnforced) {
    auto p = verify_and_parse(golden_with([](auto &j) {
                                  j["digests"]["boot_aggregate"] = {
                                      std::string(40, 'a'), "sha256:" + std::string(64, 'b'),
                                      std::string(64, 'b'), std::string(128, 'c')};
                              }),
                              trusted());
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->entries, 4u) << "no allow-list entry";
    EXPECT_EQ(p->paths, 4u) << "boot_aggregate is not a path";
    EXPECT_EQ(p->boot_aggregates,
              (std::vector<std::string>{std::string(40, 'a'), std::string(64, 'b'),
                                        std::string(128, 'c')}))
        << "sorted, unique, prefix dropped";
    vouch_digest two{};
    ASSERT_TRUE(parse_hex_digest(std::string(64, 'b'), two));
    for (const auto &d : p->digests)
        EXPECT_NE(digest_hex(d), digest_hex(two)) << "a boot aggregate allows no file";

    expect_refused(
        golden_with([](auto &j) { j["digests"]["boot_aggregate"] = {std::string(50, 'a')}; }),
        "digests[\"boot_aggregate\"][0] has 50 hex digits; a boot aggregate is");
    expect_refused(golden_with([](auto &j) {
                       j["digests"]["boot_aggregate"] = {"sha1:" + std::string(40, 'a')};
                   }),
                   "digests[\"boot_aggregate\"][0] 'sha1:");
    expect_refused(golden_with([](auto &j) {
                       j["meta"]["vouch"]["agents"]["boot_aggregate"] = {std::string(64, 'a')};
                   }),
                   "meta.vouch.agents[\"boot_aggregate\"]: boot_aggregate belongs in 'digests'");
}

TEST(PolicyParse, RefusesNonHexDigest) {
    expect_refused(
        golden_with([](auto &j) { j["digests"]["/usr/bin/env"][1] = std::string(64, 'A'); }),
        "digests[\"/usr/bin/env\"][1] '" + std::string(64, 'A') + "' is not lowercase hex");
    expect_refused(golden_with([](auto &j) { j["digests"]["/a"] = {42}; }),
                   "digests[\"/a\"][0] is not a string");
    expect_refused(golden_with([](auto &j) { j["digests"]["/a"] = nlohmann::json::array(); }),
                   "digests[\"/a\"] is not a non-empty array");
}

TEST(PolicyParse, RefusesBadVouchFields) {
    expect_refused(golden_with([](auto &j) { j["meta"].erase("vouch"); }), "'meta.vouch' missing");
    expect_refused(golden_with([](auto &j) { j["meta"]["vouch"]["mode"] = "permissive"; }),
                   "'meta.vouch.mode' is \"permissive\"");
    expect_refused(golden_with([](auto &j) { j["meta"]["vouch"]["serial"] = -1; }),
                   "'meta.vouch.serial' missing or not a non-negative integer");
    expect_refused(golden_with([](auto &j) { j["meta"]["vouch"]["serial"] = "42"; }),
                   "'meta.vouch.serial'");
    expect_refused(golden_with([](auto &j) { j["meta"]["vouch"]["serial"] = 1.5; }),
                   "'meta.vouch.serial'");
}

TEST(PolicyParse, TrustKeysAreAKeyRotation) {
    const std::string a = slurp(kTrusted + "/ecdsa-p256.pem");
    const std::string b = slurp(kKeys + "/untrusted/untrusted-p256.pem");
    auto r = verify_and_parse(golden_with([&](auto &j) {
                                  j["meta"]["vouch"]["keys"] = {a, b};
                              }),
                              trusted());
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->trust_keys.size(), 2u);
    auto ka = parse_public_key(a, "a"), kb = parse_public_key(b, "b");
    ASSERT_TRUE(ka.ok() && kb.ok());
    EXPECT_EQ(r->trust_keys[0].keyid, ka->keyid);
    EXPECT_EQ(r->trust_keys[1].keyid, kb->keyid);
    // The PEM vouchd writes is the text the keyid is the hash of.
    EXPECT_EQ(parse_public_key(r->trust_keys[1].pem(), "pem")->keyid, kb->keyid);

    auto none = verify_and_parse(slurp(kGolden + "/policy.p256.dsse"), trusted());
    ASSERT_TRUE(none.ok()) << none.error().message;
    EXPECT_TRUE(none->trust_keys.empty());

    expect_refused(
        golden_with([](auto &j) { j["meta"]["vouch"]["keys"] = nlohmann::json::array(); }),
        "'meta.vouch.keys' is not an array of 1 to 64");
    expect_refused(golden_with([&](auto &j) { j["meta"]["vouch"]["keys"] = a; }),
                   "'meta.vouch.keys' is not an array");
    expect_refused(golden_with([&](auto &j) {
                       j["meta"]["vouch"]["keys"] = {a, 7};
                   }),
                   "'meta.vouch.keys[1]' is not a string");
    expect_refused(golden_with([&](auto &j) { j["meta"]["vouch"]["keys"] = {"not a key"}; }),
                   "'meta.vouch.keys[0]'");
    expect_refused(golden_with([&](auto &j) {
                       j["meta"]["vouch"]["keys"] = {b, a, b};
                   }),
                   "'meta.vouch.keys[2]' repeats key " + kb->keyid);
    // A private key where a public one belongs is refused, not published.
    expect_refused(golden_with([&](auto &j) {
                       j["meta"]["vouch"]["keys"] = {slurp(kKeys + "/ecdsa-p256.key")};
                   }),
                   "'meta.vouch.keys[0]'");
}

TEST(PolicyParse, SerializeWritesTrustKeys) {
    PolicyInput in;
    in.serial = 3;
    in.digests["/bin/x"] = {std::string(64, 'a')};
    in.trust_keys = {slurp(kTrusted + "/ed25519.pem")};
    auto p = parse_payload(serialize(in));
    ASSERT_TRUE(p.ok()) << p.error().message;
    ASSERT_EQ(p->trust_keys.size(), 1u);
    EXPECT_EQ(p->trust_keys[0].type, KeyType::Ed25519);
}

TEST(PolicyParse, RefusesBadKeylimeFields) {
    expect_refused(golden_with([](auto &j) { j["meta"]["version"] = 2; }),
                   "'meta.version' is 2; vouch understands version 1");
    expect_refused(golden_with([](auto &j) { j.erase("digests"); }), "'digests' missing");
    expect_refused(golden_with([](auto &j) { j["digests"] = nlohmann::json::array(); }),
                   "'digests' is not an object");
    expect_refused(golden_with([](auto &j) { j["excludes"] = "x"; }),
                   "'excludes' is not an array of strings");
    expect_refused(golden_with([](auto &j) { j["release"] = -3; }), "'release'");
    expect_refused(golden_with([](auto &j) { j["ima"] = 1; }), "'ima' is not an object");
}

// Keylime's excludes and verification-keys make Keylime accept files whose
// digest is not listed; vouch allows by digest only, so an enforce policy
// with them would deny what the verifier accepts. Refused, saying why.
TEST(PolicyParse, RefusesKeylimeExcludesInEnforceMode) {
    expect_refused(golden_with([](auto &j) {
                       j["excludes"] = {"/tmp/.*", "/var/tmp/.*"};
                   }),
                   "enforce mode with 2 Keylime 'excludes' pattern(s): Keylime does not check a "
                   "file whose path matches one, but vouch would still deny that file unless its "
                   "digest is listed");
    expect_refused(golden_with([](auto &j) { j["excludes"] = {"/tmp/.*"}; }),
                   "remove 'excludes' (list the files' digests instead), or use \"mode\": "
                   "\"audit\"");
    // Keylime joins the patterns into one regex: an empty pattern matches
    // every path.
    expect_refused(golden_with([](auto &j) { j["excludes"] = {""}; }),
                   "enforce mode with 1 Keylime 'excludes' pattern(s)");
}

TEST(PolicyParse, RefusesKeylimeVerificationKeysInEnforceMode) {
    expect_refused(golden_with([](auto &j) { j["verification-keys"] = "{\"keyids\": []}"; }),
                   "enforce mode with Keylime 'verification-keys': Keylime accepts a file whose "
                   "ima-sig signature verifies with those keys even if its digest is not listed, "
                   "but vouch enforces digests only");
    expect_refused(golden_with([](auto &j) {
                       j["excludes"] = {"/tmp/.*"};
                       j["verification-keys"] = "k";
                   }),
                   "'excludes'");
    expect_refused(golden_with([](auto &j) { j["verification-keys"] = 1; }),
                   "'verification-keys' is not a string");
}

// In audit mode nothing is denied: vouch's would-deny reports then also name
// files Keylime skips, which is documented, not a silent difference.
TEST(PolicyParse, AcceptsKeylimeExcludesAndKeysInAuditMode) {
    auto p = verify_and_parse(golden_with([](auto &j) {
                                  j["meta"]["vouch"]["mode"] = "audit";
                                  j["excludes"] = {"/tmp/.*", "/var/tmp/.*"};
                                  j["verification-keys"] = "{\"keyids\": []}";
                              }),
                              trusted());
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->mode, VOUCH_MODE_AUDIT);
    EXPECT_EQ(p->excludes, 2u);
    EXPECT_TRUE(p->verification_keys);
    EXPECT_EQ(p->entries, 4u);
}

TEST(PolicyParse, AcceptsEmptyOrMissingKeylimeFieldsInEnforceMode) {
    for (auto edit :
         std::vector<std::function<void(nlohmann::json &)>>{[](auto &j) {
                                                                j["excludes"] =
                                                                    nlohmann::json::array();
                                                                j["verification-keys"] = "";
                                                            },
                                                            [](auto &j) {
                                                                j.erase("excludes");
                                                                j.erase("verification-keys");
                                                            }}) {
        auto p = verify_and_parse(golden_with(edit), trusted());
        ASSERT_TRUE(p.ok()) << p.error().message;
        EXPECT_EQ(p->mode, VOUCH_MODE_ENFORCE);
        EXPECT_EQ(p->excludes, 0u);
        EXPECT_FALSE(p->verification_keys);
    }
}

// The offline reader (policy diff, make --base) takes what vouchd refuses
// for Keylime's fields alone, and nothing else.
TEST(PolicyParse, ContentParserSkipsOnlyTheKeylimeAgreement) {
    auto doc = nlohmann::json::parse(slurp(kGolden + "/policy.json"));
    doc["excludes"] = {"/tmp/.*"};
    auto strict = parse_payload(doc.dump());
    ASSERT_FALSE(strict.ok());
    EXPECT_EQ(strict.error().code, EBADMSG);
    auto content = parse_payload_content(doc.dump());
    ASSERT_TRUE(content.ok()) << content.error().message;
    EXPECT_EQ(content->excludes, 1u);
    EXPECT_FALSE(check_keylime_agreement(*content).ok());
    content->mode = VOUCH_MODE_AUDIT;
    EXPECT_TRUE(check_keylime_agreement(*content).ok());
    doc["digests"]["/x"] = {std::string(40, 'a')};
    EXPECT_FALSE(parse_payload_content(doc.dump()).ok()) << "every other check stays";
}

TEST(PolicyParse, RefusesSignedNonJsonPayload) {
    expect_refused(signed_by_p256("{\"meta\": "), "policy: not JSON");
    expect_refused(signed_by_p256("[1,2]"), "policy: not a JSON object");
}

// Keylime accepts unknown fields; so does vouch, so newer Keylime fields pass.
TEST(PolicyParse, AcceptsUnknownFields) {
    auto p = verify_and_parse(golden_with([](auto &j) {
                                  j["future-field"] = {1, 2};
                                  j["meta"]["extra"] = true;
                              }),
                              trusted());
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->entries, 4u);
}

TEST(PolicyParse, AgentsAreAlsoAllowed) {
    auto p =
        verify_and_parse(golden_with([](auto &j) {
                             j["meta"]["vouch"]["agents"]["/opt/agent"] = {std::string(64, '9')};
                         }),
                         trusted());
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->agents.size(), 2u);
    EXPECT_EQ(p->entries, 5u);
    EXPECT_TRUE(std::binary_search(p->digests.begin(), p->digests.end(), d('9'),
                                   [](const vouch_digest &a, const vouch_digest &b) {
                                       return std::memcmp(a.bytes, b.bytes, 32) < 0;
                                   }));
}

// A refusal returns an error and nothing else: the caller's active policy
// cannot have been touched, whatever the failure.
TEST(PolicyParse, RefusalLeavesHeldPolicyAlone) {
    auto active = verify_and_parse(slurp(kGolden + "/policy.p256.dsse"), trusted());
    ASSERT_TRUE(active.ok());
    Policy held = *active;
    auto next = verify_and_parse(
        golden_with([](auto &j) { j["digests"]["/x"] = {std::string(40, 'a')}; }), trusted());
    ASSERT_FALSE(next.ok());
    EXPECT_EQ(held.serial, 42u);
    EXPECT_EQ(held.entries, 4u);
}

TEST(PolicyParse, SerializedDocumentIsKeylimeCompleteAndRoundTrips) {
    PolicyInput in;
    in.serial = 1234567890123ull;
    in.mode = VOUCH_MODE_ENFORCE;
    in.digests["/usr/bin/a b\"c"] = {std::string(64, 'a')};
    in.digests["/usr/sbin/vouchd"] = {std::string(64, 'b')};
    in.agents["/usr/sbin/vouchd"] = {std::string(64, 'b')};
    in.timestamp = "2026-11-25T00:00:00Z";
    std::string text = serialize(in);
    auto doc = nlohmann::json::parse(text);
    // Every field Keylime's RUNTIME_POLICY_SCHEMA requires, with its type.
    EXPECT_EQ(doc["meta"]["version"], 1);
    EXPECT_TRUE(doc["meta"]["generator"].is_number_integer());
    EXPECT_TRUE(doc["release"].is_number_integer());
    EXPECT_TRUE(doc["excludes"].is_array());
    EXPECT_TRUE(doc["keyrings"].is_object());
    EXPECT_TRUE(doc["ima-buf"].is_object());
    EXPECT_TRUE(doc["verification-keys"].is_string());
    EXPECT_TRUE(doc["ima"]["ignored_keyrings"].is_array());
    EXPECT_EQ(doc["ima"]["log_hash_alg"], "sha1");
    EXPECT_TRUE(doc["ima"]["dm_policy"].is_null());

    auto p = parse_payload(text);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->serial, in.serial);
    EXPECT_EQ(p->mode, VOUCH_MODE_ENFORCE);
    EXPECT_EQ(p->entries, 2u);
    EXPECT_EQ(p->paths, 2u);
    ASSERT_EQ(p->agents.size(), 1u);
    EXPECT_EQ(digest_hex(p->agents[0]), std::string(64, 'b'));
    EXPECT_EQ(p->keyid, "");
}

} // namespace

// fs-verity digests live in meta.vouch.verity, apart from the content
// digests: the kernel side allows a file by the kind of digest it found.
TEST(PolicyParse, VerityDigestsAreTheirOwnList) {
    auto p = verify_and_parse(golden_with([](auto &j) {
                                  j["meta"]["vouch"]["verity"]["/opt/v"] = {std::string(64, '7')};
                              }),
                              trusted());
    ASSERT_TRUE(p.ok()) << p.error().message;
    ASSERT_EQ(p->verity.size(), 1u);
    EXPECT_EQ(std::memcmp(p->verity[0].bytes, d('7').bytes, 32), 0);
    EXPECT_FALSE(std::binary_search(p->digests.begin(), p->digests.end(), d('7'),
                                    [](const vouch_digest &a, const vouch_digest &b) {
                                        return std::memcmp(a.bytes, b.bytes, 32) < 0;
                                    }));
    auto bad = verify_and_parse(
        golden_with([](auto &j) { j["meta"]["vouch"]["verity"]["/opt/v"] = {"xyz"}; }), trusted());
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("meta.vouch.verity"), std::string::npos)
        << bad.error().message;
}
