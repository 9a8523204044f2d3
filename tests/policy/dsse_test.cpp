// SPDX-License-Identifier: Apache-2.0
#include "policy/dsse.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "lib/digest.h"
#include "policy/policy.h"
#include "tests/policy/helpers.h"

namespace {

using namespace vouch::policy;
using namespace vouch::policy::test;

std::string sha256_hex(const std::string &s) {
    return vouch::to_hex(
        vouch::sha256_bytes({reinterpret_cast<const uint8_t *>(s.data()), s.size()}));
}

TrustStore trusted() {
    auto t = TrustStore::load(kTrusted);
    EXPECT_TRUE(t.ok()) << t.error().message;
    return t.ok() ? *t : TrustStore{};
}

SigningKey key(const std::string &name) {
    auto k = SigningKey::load_file(kKeys + "/" + name);
    EXPECT_TRUE(k.ok()) << k.error().message;
    return std::move(k.value());
}

std::string envelope(const std::string &payload_b64, const std::string &type,
                     const std::string &keyid, const std::string &sig_b64) {
    return "{\"payload\": \"" + payload_b64 + "\", \"payloadType\": \"" + type +
           "\", \"signatures\": [{\"keyid\": \"" + keyid + "\", \"sig\": \"" + sig_b64 + "\"}]}";
}

TEST(PolicyDsse, Base64RoundTripsAndKnownVectors) {
    EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
    EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
    std::string bytes;
    for (int i = 0; i < 300; ++i) {
        auto d = base64_decode(base64_encode(bytes));
        ASSERT_TRUE(d.ok()) << i;
        EXPECT_EQ(*d, bytes);
        bytes += static_cast<char>(i * 37 + 11);
    }
    // DSSE allows URL-safe and unpadded encodings.
    EXPECT_EQ(*base64_decode("Zm9vYg"), "foob");
    EXPECT_EQ(*base64_decode("-_8="), *base64_decode("+/8="));
}

TEST(PolicyDsse, Base64RefusesMalformed) {
    for (const char *bad : {"Zm9v YmFy", "Zm9vY", "Zm9=vYmFy", "Zm9vYg=", "Zm9vYmFy\n", "@@@@"}) {
        auto d = base64_decode(bad);
        ASSERT_FALSE(d.ok()) << bad;
        EXPECT_EQ(d.error().code, EBADMSG) << bad;
    }
}

TEST(PolicyDsse, PaeIsDsseV1) {
    EXPECT_EQ(pae("a/b", "hello"), "DSSEv1 3 a/b 5 hello");
    EXPECT_EQ(pae(kPayloadType, ""), "DSSEv1 28 application/vnd.keylime+json 0 ");
}

TEST(PolicyDsse, KeyidIsSha256OfPublicKeyPem) {
    auto store = trusted();
    ASSERT_EQ(store.keys().size(), 2u);
    for (const auto &k : store.keys())
        EXPECT_EQ(k.keyid, sha256_hex(slurp(k.source))) << k.source;
    // The signer derives the same id from the private key.
    EXPECT_EQ(key("ecdsa-p256.key").keyid(), sha256_hex(slurp(kTrusted + "/ecdsa-p256.pem")));
    EXPECT_EQ(key("ed25519.key").keyid(), sha256_hex(slurp(kTrusted + "/ed25519.pem")));
}

TEST(PolicyDsse, TrustStoreRefusesMissingDirAndBadKeys) {
    auto missing = TrustStore::load("/nonexistent/vouch-keys");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, ENOENT);
    EXPECT_TRUE(contains(missing.error().message, "/nonexistent/vouch-keys"));

    TempDir dir;
    spit(dir / "garbage.pem", "not a key\n");
    auto garbage = TrustStore::load(dir.path());
    ASSERT_FALSE(garbage.ok());
    EXPECT_EQ(garbage.error().code, EBADMSG);
    EXPECT_TRUE(contains(garbage.error().message, dir / "garbage.pem"));

    TempDir dir2;
    int st = 0;
    run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 2>/dev/null | "
        "openssl pkey -pubout -out " +
            (dir2 / "p384.pem"),
        &st);
    ASSERT_EQ(st, 0);
    auto p384 = TrustStore::load(dir2.path());
    ASSERT_FALSE(p384.ok());
    EXPECT_EQ(p384.error().code, EBADMSG);
    EXPECT_TRUE(contains(p384.error().message, "secp384r1")) << p384.error().message;
    EXPECT_TRUE(contains(p384.error().message, "p384.pem"));
}

TEST(PolicyDsse, EmptyTrustStoreVerifiesNothing) {
    TempDir dir;
    auto store = TrustStore::load(dir.path());
    ASSERT_TRUE(store.ok()) << store.error().message;
    auto r = verify_envelope(slurp(kGolden + "/policy.p256.dsse"), *store);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ENOKEY);
    EXPECT_TRUE(contains(r.error().message, "no trusted keys in " + dir.path()))
        << r.error().message;
}

// An envelope written by Keylime's own DSSE signer verifies: same PAE, same
// keyid, same base64 and DER signature.
TEST(PolicyDsse, KeylimeSignedEnvelopeVerifies) {
    auto k = parse_public_key(slurp(kGolden + "/keylime/runtime-policy-pubkey.pem"), "keylime");
    ASSERT_TRUE(k.ok()) << k.error().message;
    auto store = TrustStore::from_keys({*k});
    auto env = slurp(kGolden + "/keylime/runtime-policy-test-signed.json");
    auto v = verify_envelope(env, store);
    ASSERT_TRUE(v.ok()) << v.error().message;
    EXPECT_EQ(v->keyid, "8114198dd64f6b1e07bd392274824d7adca5af8bfdc2fd2cf93a18db8f589e05");
    EXPECT_EQ(v->payload().rfind("{\"meta\": {\"version\": 1", 0), 0u);
    // Its payload is a SHA-1 Keylime policy without serial or mode: vouch
    // verifies the signature, then refuses the content.
    auto p = verify_and_parse(env, store);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.error().code, EBADMSG);
    EXPECT_TRUE(contains(p.error().message, "has 40 hex digits; vouch enforces SHA-256"))
        << p.error().message;
}

// Interop, not self-consistency: the signature comes from the openssl tool.
void openssl_signed_envelope_verifies(const std::string &keyname, const std::string &pubname) {
    TempDir dir;
    std::string payload = slurp(kGolden + "/policy.json");
    // PAE spelled out here, not from pae(): the bytes openssl signs must not
    // depend on the code under test.
    spit(dir / "pae.bin", "DSSEv1 28 application/vnd.keylime+json " +
                              std::to_string(payload.size()) + " " + payload);
    std::string digest_opt = keyname == "ed25519.key" ? "" : " -digest sha256";
    int st = 0;
    run("openssl pkeyutl -sign -rawin" + digest_opt + " -inkey " + kKeys + "/" + keyname + " -in " +
            (dir / "pae.bin") + " -out " + (dir / "sig.bin"),
        &st);
    ASSERT_EQ(st, 0);
    std::string keyid = sha256_hex(slurp(kTrusted + "/" + pubname));
    std::string env = envelope(base64_encode(payload), std::string(kPayloadType), keyid,
                               base64_encode(slurp(dir / "sig.bin")));
    auto p = verify_and_parse(env, trusted());
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->keyid, keyid);
    EXPECT_EQ(p->serial, 42u);
}

TEST(PolicyDsse, OpensslCliEcdsaSignatureVerifies) {
    openssl_signed_envelope_verifies("ecdsa-p256.key", "ecdsa-p256.pem");
}

TEST(PolicyDsse, OpensslCliEd25519SignatureVerifies) {
    openssl_signed_envelope_verifies("ed25519.key", "ed25519.pem");
}

// The other direction: what vouch signs, the openssl tool verifies.
TEST(PolicyDsse, VouchSignatureVerifiesWithOpensslCli) {
    TempDir dir;
    auto k = key("ecdsa-p256.key");
    std::string message = pae(kPayloadType, "{}");
    auto sig = k.sign(message);
    ASSERT_TRUE(sig.ok());
    spit(dir / "pae.bin", message);
    spit(dir / "sig.bin", *sig);
    int st = 0;
    std::string out =
        run("openssl pkeyutl -verify -rawin -digest sha256 -pubin -inkey " + kTrusted +
                "/ecdsa-p256.pem -in " + (dir / "pae.bin") + " -sigfile " + (dir / "sig.bin"),
            &st);
    EXPECT_EQ(st, 0) << out;
}

// Other JSON writers: pretty-printed, fields reordered, characters escaped,
// a key spelled with an escape. All the same envelope.
TEST(PolicyDsse, AcceptsAnyJsonSpellingOfTheEnvelope) {
    auto k = key("ecdsa-p256.key");
    std::string payload = slurp(kGolden + "/policy.json");
    auto sig = k.sign(pae(kPayloadType, payload));
    ASSERT_TRUE(sig.ok());
    std::string b64 = base64_encode(payload), sig64 = base64_encode(*sig);
    // "\u0065" is "e": any character may be written as an escape.
    std::string escaped = "\\u0065" + b64.substr(1);
    ASSERT_EQ(b64[0], 'e');
    std::string sigs = "[{\"sig\": \"" + sig64 + "\", \"keyid\": \"" + k.keyid() + "\"}]";
    for (const std::string &env : {
             "{\n  \"signatures\": " + sigs + ",\n  \"payloadType\": \"" +
                 std::string(kPayloadType) + "\",\n  \"payload\": \"" + b64 + "\"\n}\n",
             "{\"payloadType\":\"" + std::string(kPayloadType) + "\",\"payload\":\"" + escaped +
                 "\",\"signatures\":" + sigs + "}",
             "{\"pay\\u006coad\": \"" + b64 + "\", \"payloadType\": \"" +
                 std::string(kPayloadType) + "\", \"signatures\": " + sigs + "}",
         }) {
        auto p = verify_and_parse(env, trusted());
        ASSERT_TRUE(p.ok()) << p.error().message << "\n" << env.substr(0, 120);
        EXPECT_EQ(p->serial, 42u);
    }
}

TEST(PolicyDsse, RefusesDuplicatePayload) {
    std::string env = slurp(kGolden + "/policy.p256.dsse");
    env.insert(1, "\"payload\": \"e30=\", ");
    auto r = verify_and_parse(env, trusted());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EBADMSG);
    EXPECT_TRUE(contains(r.error().message, "'payload' appears twice")) << r.error().message;
}

TEST(PolicyDsse, RefusesNonJson) {
    auto r = verify_and_parse("{\"payload\": ", trusted());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EBADMSG);
    EXPECT_TRUE(contains(r.error().message, "envelope is not JSON")) << r.error().message;
}

TEST(PolicyDsse, RefusesNonDsse) {
    auto r = verify_and_parse("{\"payloadType\": \"application/vnd.keylime+json\"}", trusted());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EBADMSG);
    EXPECT_TRUE(contains(r.error().message, "'payload' missing")) << r.error().message;

    auto s = verify_and_parse(
        "{\"payload\": \"e30=\", \"payloadType\": \"application/vnd.keylime+json\", "
        "\"signatures\": []}",
        trusted());
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, EBADMSG);
    EXPECT_TRUE(contains(s.error().message, "signatures")) << s.error().message;
}

TEST(PolicyDsse, RefusesWrongPayloadType) {
    auto k = key("ecdsa-p256.key");
    // Even correctly signed over its own type: vouch takes Keylime policies only.
    std::string type = "application/vnd.in-toto+json";
    auto sig = k.sign(pae(type, "{}"));
    ASSERT_TRUE(sig.ok());
    auto r = verify_and_parse(envelope(base64_encode("{}"), type, k.keyid(), base64_encode(*sig)),
                              trusted());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EBADMSG);
    EXPECT_TRUE(contains(r.error().message, "payloadType is 'application/vnd.in-toto+json'"))
        << r.error().message;
    EXPECT_TRUE(contains(r.error().message, "application/vnd.keylime+json"));
}

TEST(PolicyDsse, RefusesBadBase64) {
    auto k = key("ecdsa-p256.key");
    auto r = verify_and_parse(envelope("e30=!", std::string(kPayloadType), k.keyid(), "AAAA"),
                              trusted());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EBADMSG);
    EXPECT_TRUE(contains(r.error().message, "payload")) << r.error().message;
    auto s =
        verify_and_parse(envelope("e30=", std::string(kPayloadType), k.keyid(), "AA*A"), trusted());
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, EBADMSG);
    EXPECT_TRUE(contains(s.error().message, "signatures[0].sig")) << s.error().message;
}

TEST(PolicyDsse, RefusesTamperedPayload) {
    std::string env = slurp(kGolden + "/policy.p256.dsse");
    std::string payload = slurp(kGolden + "/policy.json");
    std::string tampered = payload;
    tampered.replace(tampered.find("\"enforce\""), 9, "\"audit\"  ");
    auto pos = env.find(base64_encode(payload));
    ASSERT_NE(pos, std::string::npos);
    env.replace(pos, base64_encode(payload).size(), base64_encode(tampered));
    auto r = verify_and_parse(env, trusted());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EKEYREJECTED);
    EXPECT_TRUE(contains(r.error().message, key("ecdsa-p256.key").keyid())) << r.error().message;
    EXPECT_TRUE(contains(r.error().message, "does not verify"));
}

TEST(PolicyDsse, RefusesUnknownKey) {
    auto k = key("untrusted-p256.key");
    auto env = sign_envelope(slurp(kGolden + "/policy.json"), k);
    ASSERT_TRUE(env.ok());
    auto r = verify_and_parse(*env, trusted());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ENOKEY);
    EXPECT_TRUE(contains(r.error().message, "no trusted key matches keyid " + k.keyid()))
        << r.error().message;
    EXPECT_TRUE(contains(r.error().message, kTrusted + "/ed25519.pem"));
}

// An untrusted key's keyid put on a trusted key's signature gains nothing, and
// a forged keyid naming a trusted key is caught by the signature.
TEST(PolicyDsse, KeyidIsOnlyAHint) {
    auto untrusted = key("untrusted-p256.key");
    auto trusted_key = key("ecdsa-p256.key");
    std::string payload = slurp(kGolden + "/policy.json");
    auto sig = untrusted.sign(pae(kPayloadType, payload));
    ASSERT_TRUE(sig.ok());
    auto r = verify_and_parse(envelope(base64_encode(payload), std::string(kPayloadType),
                                       trusted_key.keyid(), base64_encode(*sig)),
                              trusted());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EKEYREJECTED);
}

TEST(PolicyDsse, AnyTrustedSignatureSuffices) {
    auto untrusted = key("untrusted-p256.key");
    auto ed = key("ed25519.key");
    std::string payload = slurp(kGolden + "/policy.json");
    auto s1 = untrusted.sign(pae(kPayloadType, payload));
    auto s2 = ed.sign(pae(kPayloadType, payload));
    ASSERT_TRUE(s1.ok() && s2.ok());
    std::string env = "{\"payload\": \"" + base64_encode(payload) + "\", \"payloadType\": \"" +
                      std::string(kPayloadType) + "\", \"signatures\": [{\"keyid\": \"" +
                      untrusted.keyid() + "\", \"sig\": \"" + base64_encode(*s1) +
                      "\"}, {\"sig\": \"" + base64_encode(*s2) + "\"}]}";
    auto r = verify_and_parse(env, trusted());
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->keyid, ed.keyid());
}

TEST(PolicyDsse, SignsWithSeveralKeysOneSignatureEach) {
    auto p256 = key("ecdsa-p256.key");
    auto untrusted = key("untrusted-p256.key");
    std::string payload = slurp(kGolden + "/policy.json");
    auto env = sign_envelope(payload, {&untrusted, &p256});
    ASSERT_TRUE(env.ok()) << env.error().message;
    auto j = nlohmann::json::parse(*env);
    ASSERT_EQ(j["signatures"].size(), 2u);
    EXPECT_EQ(j["signatures"][0]["keyid"], untrusted.keyid());
    EXPECT_EQ(j["signatures"][1]["keyid"], p256.keyid());
    // Each signature verifies on its own: with only one of the keys trusted.
    auto r = verify_and_parse(*env, trusted());
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->keyid, p256.keyid());
    auto pub = parse_public_key(slurp(kKeys + "/untrusted/untrusted-p256.pem"), "u");
    ASSERT_TRUE(pub.ok());
    auto r2 = verify_and_parse(*env, TrustStore::from_keys({*pub}));
    ASSERT_TRUE(r2.ok()) << r2.error().message;
    EXPECT_EQ(r2->keyid, untrusted.keyid());
    EXPECT_FALSE(sign_envelope(payload, std::vector<const SigningKey *>{}).ok());
}

TEST(PolicyDsse, RefusesOverLargeEnvelope) {
    std::string huge(kMaxEnvelopeBytes + 1, ' ');
    auto r = verify_and_parse(huge, trusted());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EFBIG);
    EXPECT_TRUE(contains(r.error().message, std::to_string(kMaxEnvelopeBytes)))
        << r.error().message;
}

} // namespace
