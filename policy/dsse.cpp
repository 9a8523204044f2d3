#include "dsse.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "digest.h"
#include "io.h"

namespace vouch::policy {

void EvpPkeyDeleter::operator()(EVP_PKEY *k) const {
    EVP_PKEY_free(k);
}

namespace {

struct BioDeleter {
    void operator()(BIO *b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
struct MdCtxDeleter {
    void operator()(EVP_MD_CTX *c) const { EVP_MD_CTX_free(c); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

// OpenSSL's error queue is per thread; leaving entries behind would make a
// later, unrelated failure report a stale cause.
std::string openssl_error() {
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0)
        return "unknown OpenSSL error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    return buf;
}

Result<KeyType> classify(EVP_PKEY *key, const std::string &source) {
    int id = EVP_PKEY_get_base_id(key);
    if (id == EVP_PKEY_ED25519)
        return KeyType::Ed25519;
    if (id == EVP_PKEY_EC) {
        char group[64] = {};
        size_t len = 0;
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                           &len) == 1 &&
            std::strcmp(group, "prime256v1") == 0)
            return KeyType::EcdsaP256;
        ERR_clear_error();
        return make_error(EBADMSG, source + ": EC key on curve '" + std::string(group) +
                                       "' is not supported (only P-256 and Ed25519)");
    }
    return make_error(EBADMSG, source + ": key type " + std::string(EVP_PKEY_get0_type_name(key)) +
                                   " is not supported (only EC P-256 and Ed25519)");
}

// Keylime's keyid hashes the PEM text of the SubjectPublicKeyInfo as its
// crypto library writes it (64-column base64, LF line ends), not the file's
// bytes; re-serializing makes the id independent of how the file is wrapped.
Result<std::string> keyid_of(EVP_PKEY *key) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1)
        return make_error(ENOMEM, "serializing public key: " + openssl_error());
    char *data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    auto d = sha256_bytes({reinterpret_cast<const uint8_t *>(data), static_cast<size_t>(n)});
    return to_hex(d);
}

int b64_value(char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

} // namespace

const char *key_type_name(KeyType t) {
    return t == KeyType::Ed25519 ? "Ed25519" : "ECDSA P-256";
}

std::string base64_encode(std::string_view bytes) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    size_t i = 0;
    auto u = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(bytes[k])); };
    for (; i + 3 <= bytes.size(); i += 3) {
        uint32_t v = u(i) << 16 | u(i + 1) << 8 | u(i + 2);
        out += tbl[v >> 18];
        out += tbl[(v >> 12) & 63];
        out += tbl[(v >> 6) & 63];
        out += tbl[v & 63];
    }
    size_t rest = bytes.size() - i;
    if (rest) {
        uint32_t v = u(i) << 16 | (rest == 2 ? u(i + 1) << 8 : 0);
        out += tbl[v >> 18];
        out += tbl[(v >> 12) & 63];
        out += rest == 2 ? tbl[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

Result<std::string> base64_decode(std::string_view text) {
    size_t len = text.size();
    size_t pad = 0;
    while (pad < 2 && len > 0 && text[len - 1] == '=') {
        --len;
        ++pad;
    }
    // With padding the length is a multiple of 4; without it, a remainder of 1
    // can never be produced by an encoder.
    if ((pad && (len + pad) % 4 != 0) || len % 4 == 1)
        return make_error(EBADMSG, "invalid base64 length " + std::to_string(text.size()));
    std::string out;
    out.reserve(len / 4 * 3 + 2);
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; ++i) {
        int v = b64_value(text[i]);
        if (v < 0)
            return make_error(EBADMSG, "invalid base64 character at offset " + std::to_string(i));
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    return out;
}

std::string pae(std::string_view payload_type, std::string_view payload) {
    std::string s = "DSSEv1 ";
    s += std::to_string(payload_type.size());
    s += ' ';
    s += payload_type;
    s += ' ';
    s += std::to_string(payload.size());
    s += ' ';
    s += payload;
    return s;
}

bool PublicKey::verify(std::string_view message, std::string_view signature) const {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    const EVP_MD *md = type == KeyType::Ed25519 ? nullptr : EVP_sha256();
    bool ok =
        ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key.get()) == 1 &&
        EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char *>(signature.data()),
                         signature.size(), reinterpret_cast<const unsigned char *>(message.data()),
                         message.size()) == 1;
    ERR_clear_error();
    return ok;
}

Result<PublicKey> parse_public_key(std::string_view pem, const std::string &source) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio)
        return make_error(ENOMEM, "BIO for " + source);
    EVP_PKEY *raw = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
    if (!raw)
        return make_error(EBADMSG, source + ": not a PEM public key (" + openssl_error() + ")");
    std::shared_ptr<EVP_PKEY> key(raw, EvpPkeyDeleter{});
    auto type = classify(raw, source);
    if (!type)
        return type.error();
    auto id = keyid_of(raw);
    if (!id)
        return id.error();
    return PublicKey{std::move(key), *type, std::move(*id), source};
}

Result<TrustStore> TrustStore::load(const std::string &dir) {
    std::unique_ptr<DIR, int (*)(DIR *)> d(::opendir(dir.c_str()), ::closedir);
    if (!d)
        return make_error(errno, "trusted keys directory " + dir + ": " + std::strerror(errno));
    std::vector<std::string> names;
    while (dirent *e = ::readdir(d.get())) {
        std::string n = e->d_name;
        if (n.size() > 4 && n.compare(n.size() - 4, 4, ".pem") == 0)
            names.push_back(n);
    }
    std::sort(names.begin(), names.end());
    std::vector<PublicKey> keys;
    for (const auto &n : names) {
        std::string path = dir + "/" + n;
        auto text = read_file(path, 1 << 20);
        if (!text)
            return text.error();
        auto k = parse_public_key(*text, path);
        if (!k)
            return k.error();
        keys.push_back(std::move(*k));
    }
    return from_keys(std::move(keys), dir);
}

TrustStore TrustStore::from_keys(std::vector<PublicKey> keys, std::string dir) {
    TrustStore t;
    t.keys_ = std::move(keys);
    t.dir_ = std::move(dir);
    return t;
}

Result<SigningKey> SigningKey::load_pem(std::string_view pem, const std::string &source) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio)
        return make_error(ENOMEM, "BIO for " + source);
    EVP_PKEY *raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    if (!raw)
        return make_error(EBADMSG, source + ": not a PEM private key (" + openssl_error() + ")");
    SigningKey k;
    k.key_.reset(raw);
    auto type = classify(raw, source);
    if (!type)
        return type.error();
    k.type_ = *type;
    auto id = keyid_of(raw);
    if (!id)
        return id.error();
    k.keyid_ = std::move(*id);
    return k;
}

Result<SigningKey> SigningKey::load_file(const std::string &path) {
    auto text = read_file(path, 1 << 20);
    if (!text)
        return text.error();
    return load_pem(*text, path);
}

Result<std::string> SigningKey::sign(std::string_view message) const {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    const EVP_MD *md = type_ == KeyType::Ed25519 ? nullptr : EVP_sha256();
    size_t len = 0;
    auto msg = reinterpret_cast<const unsigned char *>(message.data());
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key_.get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, msg, message.size()) != 1)
        return make_error(EINVAL, "signing: " + openssl_error());
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char *>(sig.data()), &len, msg,
                       message.size()) != 1)
        return make_error(EINVAL, "signing: " + openssl_error());
    sig.resize(len);
    return sig;
}

std::string SigningKey::public_pem() const {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1)
        return {};
    char *data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(n));
}

Result<std::string> sign_envelope(std::string_view payload, const SigningKey &key) {
    auto sig = key.sign(pae(kPayloadType, payload));
    if (!sig)
        return sig.error();
    // base64, hex and the payload type need no JSON escaping, so the text is
    // exactly what Keylime's json.dumps() produces for the same envelope.
    std::string out = "{\"payload\": \"";
    out += base64_encode(payload);
    out += "\", \"payloadType\": \"";
    out += kPayloadType;
    out += "\", \"signatures\": [{\"keyid\": \"";
    out += key.keyid();
    out += "\", \"sig\": \"";
    out += base64_encode(*sig);
    out += "\"}]}";
    return out;
}

Result<VerifiedPayload> verify_envelope(std::string_view envelope, const TrustStore &keys) {
    if (envelope.size() > kMaxEnvelopeBytes)
        return make_error(EFBIG, "envelope is " + std::to_string(envelope.size()) +
                                     " bytes, over the limit of " +
                                     std::to_string(kMaxEnvelopeBytes));
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(envelope);
    } catch (const nlohmann::json::exception &e) {
        return make_error(EBADMSG, std::string("envelope is not JSON: ") + e.what());
    }
    if (!doc.is_object())
        return make_error(EBADMSG, "envelope is not a DSSE envelope: not a JSON object");
    auto str_field = [&](const nlohmann::json &obj, const char *name,
                         const char *where) -> Result<std::string> {
        auto it = obj.find(name);
        if (it == obj.end())
            return make_error(EBADMSG, std::string(where) + ": field '" + name + "' missing");
        if (!it->is_string())
            return make_error(EBADMSG,
                              std::string(where) + ": field '" + name + "' is not a string");
        return it->get<std::string>();
    };
    auto type = str_field(doc, "payloadType", "envelope");
    if (!type)
        return type.error();
    if (*type != kPayloadType)
        return make_error(EBADMSG, "envelope payloadType is '" + *type + "', expected '" +
                                       std::string(kPayloadType) + "'");
    auto payload_b64 = str_field(doc, "payload", "envelope");
    if (!payload_b64)
        return payload_b64.error();
    auto payload = base64_decode(*payload_b64);
    if (!payload)
        return make_error(EBADMSG, "envelope payload: " + payload.error().message);
    auto sigs = doc.find("signatures");
    if (sigs == doc.end() || !sigs->is_array() || sigs->empty())
        return make_error(EBADMSG, "envelope: field 'signatures' missing, not an array or empty");

    // Decode every signature before checking any, so a malformed envelope is
    // reported as such whatever keys are trusted.
    struct Sig {
        std::string keyid, bytes;
    };
    std::vector<Sig> parsed;
    for (size_t i = 0; i < sigs->size(); ++i) {
        const auto &s = (*sigs)[i];
        std::string where = "envelope signatures[" + std::to_string(i) + "]";
        if (!s.is_object())
            return make_error(EBADMSG, where + ": not an object");
        auto sig_b64 = str_field(s, "sig", where.c_str());
        if (!sig_b64)
            return sig_b64.error();
        auto bytes = base64_decode(*sig_b64);
        if (!bytes)
            return make_error(EBADMSG, where + ".sig: " + bytes.error().message);
        std::string keyid;
        if (s.contains("keyid")) {
            auto k = str_field(s, "keyid", where.c_str());
            if (!k)
                return k.error();
            keyid = *k;
        }
        parsed.push_back({std::move(keyid), std::move(*bytes)});
    }

    std::string dir = keys.dir().empty() ? "" : " in " + keys.dir();
    if (keys.keys().empty())
        return make_error(ENOKEY, "no trusted keys" + dir + ": no policy can be accepted");

    const std::string message = pae(*type, *payload);
    std::string rejected;
    std::string unknown;
    for (const auto &s : parsed) {
        bool matched = false;
        for (const auto &k : keys.keys()) {
            // DSSE makes keyid optional: without one, every trusted key is tried.
            if (!s.keyid.empty() && s.keyid != k.keyid)
                continue;
            matched = true;
            if (k.verify(message, s.bytes))
                return VerifiedPayload{std::move(*payload), k.keyid};
        }
        std::string &list = matched ? rejected : unknown;
        list += (list.empty() ? "" : ", ") + (s.keyid.empty() ? "(no keyid)" : s.keyid);
    }
    if (!rejected.empty())
        return make_error(EKEYREJECTED,
                          "signature does not verify with trusted key " + rejected + dir);
    std::string trusted;
    for (const auto &k : keys.keys())
        trusted += (trusted.empty() ? "" : ", ") + k.keyid + " (" + k.source + ")";
    return make_error(ENOKEY, "no trusted key matches keyid " + unknown + "; trusted" + dir + ": " +
                                  trusted);
}

} // namespace vouch::policy
