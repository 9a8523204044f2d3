/* SPDX-License-Identifier: Apache-2.0 */
// DSSE envelopes as Keylime writes them, and the keys that sign and verify them.
// Keylime's runtime-policy signing facts this follows (keylime/dsse/):
//  - payloadType "application/vnd.keylime+json", payload and sig in standard base64;
//  - the signature covers PAE = "DSSEv1" SP len(type) SP type SP len(body) SP body;
//  - keyid = lowercase hex SHA-256 of the public key's SubjectPublicKeyInfo PEM text.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/evp.h>

#include "lib/owned.h"
#include "lib/result.h"

namespace vouch::policy {

inline constexpr std::string_view kPayloadType = "application/vnd.keylime+json";
// The largest envelope accepted: a policy of every file of a large distribution
// (~500,000 digests with paths) stays well below it, and it bounds what an
// unauthenticated caller can make vouchd allocate before the signature check.
inline constexpr size_t kMaxEnvelopeBytes = 64u << 20;

using EvpPkeyPtr = Owned<EVP_PKEY, EVP_PKEY_free>;

enum class KeyType { EcdsaP256, Ed25519 };
const char *key_type_name(KeyType t);

std::string base64_encode(std::string_view bytes);
// Standard or URL-safe alphabet, padded or not (DSSE allows either); anything
// else, whitespace included, is refused.
Result<std::string> base64_decode(std::string_view text);
// The same, appending to out.
Result<void> base64_decode_into(std::string_view text, std::string &out);
std::string pae(std::string_view payload_type, std::string_view payload);

// A trust anchor: one public key.
struct PublicKey {
    std::shared_ptr<EVP_PKEY> key;
    KeyType type;
    std::string keyid;  // hex SHA-256 of the SPKI PEM, as Keylime computes it
    std::string source; // file it came from, for messages
    bool verify(std::string_view message, std::string_view signature) const;
    // SubjectPublicKeyInfo PEM, the text the keyid is the hash of.
    std::string pem() const;
};

Result<PublicKey> parse_public_key(std::string_view pem, const std::string &source);

class TrustStore {
  public:
    static constexpr const char *kDefaultDir = "/etc/vouch/keys";
    // Every *.pem in dir (not recursive). A file that is not an EC P-256 or
    // Ed25519 public key makes the load fail, naming the file: a trust anchor
    // that silently does not count is worse than a refusal. An existing empty
    // directory loads as an empty store, which then verifies nothing (ENOKEY).
    static Result<TrustStore> load(const std::string &dir);
    static TrustStore from_keys(std::vector<PublicKey> keys, std::string dir = "");

    const std::vector<PublicKey> &keys() const { return keys_; }
    const std::string &dir() const { return dir_; }

  private:
    std::vector<PublicKey> keys_;
    std::string dir_;
};

// A private key that signs envelopes (vouchctl policy sign, tests, benchmark).
class SigningKey {
  public:
    static Result<SigningKey> load_pem(std::string_view pem, const std::string &source);
    static Result<SigningKey> load_file(const std::string &path);
    const std::string &keyid() const { return keyid_; }
    KeyType type() const { return type_; }
    Result<std::string> sign(std::string_view message) const;
    std::string public_pem() const;

  private:
    EvpPkeyPtr key_;
    KeyType type_ = KeyType::EcdsaP256;
    std::string keyid_;
};

// The envelope, formatted as Keylime's json.dumps writes it, with one
// signature per key, in the order given (several: a key rotation, signed by a
// current key and by a new one).
Result<std::string> sign_envelope(std::string_view payload, const SigningKey &key);
Result<std::string> sign_envelope(std::string_view payload,
                                  const std::vector<const SigningKey *> &keys);

struct VerifiedPayload {
    std::string pae;       // the signed bytes: PAE prefix, then the payload
    size_t payload_offset; // where the payload starts in pae
    std::string keyid;     // of the trusted key whose signature verified
    std::string_view payload() const { return std::string_view(pae).substr(payload_offset); }
};

// Checks the envelope's shape and its signatures against the trust store, and
// returns the payload only if a trusted key's signature verifies. Errors:
// EFBIG over kMaxEnvelopeBytes; EBADMSG malformed (not JSON, not a DSSE
// envelope, wrong payloadType, bad base64); ENOKEY no trusted key, or none whose
// keyid a signature names; EKEYREJECTED a trusted key's signature does not verify.
Result<VerifiedPayload> verify_envelope(std::string_view envelope, const TrustStore &keys);

} // namespace vouch::policy
