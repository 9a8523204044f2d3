// SPDX-License-Identifier: Apache-2.0
#include "policy/dsse.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "lib/digest.h"
#include "lib/file_io.h"

namespace vouch::policy {

namespace {

using BioPtr = Owned<BIO, BIO_free>;

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
// The SubjectPublicKeyInfo PEM text; empty if it cannot be written.
std::string public_key_pem(EVP_PKEY *key) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1)
        return {};
    char *data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(n));
}

Result<std::string> keyid_of(EVP_PKEY *key) {
    std::string pem = public_key_pem(key);
    if (pem.empty())
        return make_error(ENOMEM, "serializing public key: " + openssl_error());
    return to_hex(sha256_bytes({reinterpret_cast<const uint8_t *>(pem.data()), pem.size()}));
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

Result<void> base64_decode_into(std::string_view text, std::string &out) {
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
    out.reserve(out.size() + len / 4 * 3 + 2);
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
    return {};
}

Result<std::string> base64_decode(std::string_view text) {
    std::string out;
    if (auto r = base64_decode_into(text, out); !r)
        return r.error();
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

std::string PublicKey::pem() const {
    return public_key_pem(key.get());
}

bool PublicKey::verify(std::string_view message, std::string_view signature) const {
    EvpMdCtxPtr ctx(EVP_MD_CTX_new());
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
    std::shared_ptr<EVP_PKEY> key(raw, ReleaseWith<EVP_PKEY_free>{});
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
    EvpMdCtxPtr ctx(EVP_MD_CTX_new());
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
    return public_key_pem(key_.get());
}

Result<std::string> sign_envelope(std::string_view payload, const SigningKey &key) {
    return sign_envelope(payload, std::vector<const SigningKey *>{&key});
}

Result<std::string> sign_envelope(std::string_view payload,
                                  const std::vector<const SigningKey *> &keys) {
    if (keys.empty())
        return make_error(EINVAL, "signing: no key");
    // base64, hex and the payload type need no JSON escaping, so the text is
    // exactly what Keylime's json.dumps() produces for the same envelope.
    std::string out = "{\"payload\": \"";
    out += base64_encode(payload);
    out += "\", \"payloadType\": \"";
    out += kPayloadType;
    out += "\", \"signatures\": [";
    const std::string message = pae(kPayloadType, payload);
    for (size_t i = 0; i < keys.size(); ++i) {
        auto sig = keys[i]->sign(message);
        if (!sig)
            return sig.error();
        out += i ? ", {\"keyid\": \"" : "{\"keyid\": \"";
        out += keys[i]->keyid();
        out += "\", \"sig\": \"";
        out += base64_encode(*sig);
        out += "\"}";
    }
    out += "]}";
    return out;
}

namespace {

using json = nlohmann::json;

size_t skip_ws(std::string_view t, size_t i) {
    while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
        ++i;
    return i;
}

// Index after the JSON string starting at t[i] == '"', or npos.
size_t skip_string(std::string_view t, size_t i) {
    for (++i; i < t.size(); ++i) {
        if (t[i] == '\\')
            ++i;
        else if (t[i] == '"')
            return i + 1;
    }
    return std::string_view::npos;
}

// Index after the JSON value starting at t[i], or npos. It only delimits the
// value; the JSON parser that then reads the document judges its validity.
size_t skip_value(std::string_view t, size_t i) {
    if (i >= t.size())
        return std::string_view::npos;
    if (t[i] == '"')
        return skip_string(t, i);
    if (t[i] == '{' || t[i] == '[') {
        size_t depth = 0;
        while (i < t.size()) {
            char c = t[i];
            if (c == '"') {
                i = skip_string(t, i);
                if (i == std::string_view::npos)
                    return i;
                continue;
            }
            if (c == '{' || c == '[')
                ++depth;
            else if ((c == '}' || c == ']') && --depth == 0)
                return i + 1;
            ++i;
        }
        return std::string_view::npos;
    }
    while (i < t.size() && !std::strchr(",}] \t\r\n", t[i]))
        ++i;
    return i;
}

// Where the top-level "payload" string sits in the raw envelope, quotes
// included; nullopt if it cannot be found this simply (the parser then reads
// it the ordinary way, or reports what is wrong).
std::optional<std::pair<size_t, size_t>> find_payload(std::string_view t) {
    size_t i = skip_ws(t, 0);
    if (i >= t.size() || t[i] != '{')
        return std::nullopt;
    i = skip_ws(t, i + 1);
    while (i < t.size() && t[i] == '"') {
        size_t key_end = skip_string(t, i);
        if (key_end == std::string_view::npos)
            return std::nullopt;
        std::string_view key = t.substr(i + 1, key_end - i - 2);
        i = skip_ws(t, key_end);
        if (i >= t.size() || t[i] != ':')
            return std::nullopt;
        size_t start = skip_ws(t, i + 1);
        size_t end = skip_value(t, start);
        if (end == std::string_view::npos)
            return std::nullopt;
        if (key == "payload" && t[start] == '"')
            return std::make_pair(start, end);
        i = skip_ws(t, end);
        if (i >= t.size() || t[i] != ',')
            return std::nullopt;
        i = skip_ws(t, i + 1);
    }
    return std::nullopt;
}

// Reads the envelope without building a DOM. The payload, nearly all of a
// large envelope, is cut out before the JSON parser runs (which would copy it
// into a token buffer that doubles as it grows) and base64-decoded straight
// from the caller's bytes into the buffer that becomes the PAE. The parser
// still reads the rest of the envelope, with "" where the payload was.
class EnvelopeSax final : public json::json_sax_t {
  public:
    struct Sig {
        std::string keyid, sig_b64;
        bool has_sig = false;
    };
    std::string pae; // PAE prefix for kPayloadType, then the decoded payload
    size_t payload_offset = 0;
    std::string type;
    std::vector<Sig> sigs;
    bool has_payload = false, has_type = false, has_sigs = false;
    std::optional<Error> error;
    std::string_view raw_payload; // the cut-out payload string, quotes included

    bool null() override { return scalar(nullptr); }
    bool boolean(bool) override { return scalar(nullptr); }
    bool number_integer(number_integer_t) override { return scalar(nullptr); }
    bool number_unsigned(number_unsigned_t) override { return scalar(nullptr); }
    bool number_float(number_float_t, const string_t &) override { return scalar(nullptr); }
    bool string(string_t &v) override { return scalar(&v); }
    bool binary(binary_t &) override { return scalar(nullptr); }
    bool start_object(std::size_t) override { return open(true); }
    bool start_array(std::size_t) override { return open(false); }
    bool end_object() override { return close(); }
    bool end_array() override { return close(); }
    bool key(string_t &k) override {
        (stack_.back() == 'R' ? key1_ : key3_) = k;
        return true;
    }
    bool parse_error(std::size_t, const std::string &,
                     const nlohmann::detail::exception &e) override {
        return fail(std::string("envelope is not JSON: ") + e.what());
    }

  private:
    std::string stack_; // open containers: R root, S signatures, G one signature, X ignored
    std::string key1_, key3_;

    bool fail(std::string m) {
        if (!error)
            error = make_error(EBADMSG, std::move(m));
        return false;
    }
    std::string sig_where() const {
        return "envelope signatures[" + std::to_string(sigs.size() - 1) + "]";
    }
    bool once(bool &seen, const std::string &name) {
        if (seen)
            return fail("envelope: field '" + name + "' appears twice");
        seen = true;
        return true;
    }
    bool open(bool object) {
        char ctx = stack_.empty() ? 0 : stack_.back();
        char push = 'X';
        if (ctx == 0) {
            if (!object)
                return fail("envelope is not a DSSE envelope: not a JSON object");
            push = 'R';
        } else if (ctx == 'R') {
            if (key1_ == "signatures") {
                if (!object && !once(has_sigs, key1_))
                    return false;
                if (object)
                    return fail("envelope: field 'signatures' is not an array");
                push = 'S';
            } else if (key1_ == "payload" || key1_ == "payloadType") {
                return fail("envelope: field '" + key1_ + "' is not a string");
            }
        } else if (ctx == 'S') {
            sigs.emplace_back();
            if (!object)
                return fail(sig_where() + ": not an object");
            push = 'G';
        } else if (ctx == 'G' && (key3_ == "sig" || key3_ == "keyid")) {
            return fail(sig_where() + ": field '" + key3_ + "' is not a string");
        }
        stack_ += push;
        return true;
    }
    bool close() {
        if (stack_.back() == 'G' && !sigs.back().has_sig)
            return fail(sig_where() + ": field 'sig' missing");
        stack_.pop_back();
        return true;
    }
    bool scalar(std::string *s) {
        char ctx = stack_.empty() ? 0 : stack_.back();
        if (ctx == 0)
            return fail("envelope is not a DSSE envelope: not a JSON object");
        if (ctx == 'S') {
            sigs.emplace_back();
            return fail(sig_where() + ": not an object");
        }
        if (ctx == 'R') {
            if (key1_ == "signatures")
                return fail("envelope: field 'signatures' is not an array");
            if (key1_ != "payload" && key1_ != "payloadType")
                return true;
            if (!s)
                return fail("envelope: field '" + key1_ + "' is not a string");
            if (key1_ == "payloadType") {
                type = *s;
                return once(has_type, key1_);
            }
            if (!once(has_payload, key1_))
                return false;
            // The PAE is built for Keylime's type: any other type is refused
            // once payloadType has been read, whatever order the fields come in.
            std::string_view b64 = *s;
            std::string unescaped;
            if (!raw_payload.empty()) {
                b64 = raw_payload.substr(1, raw_payload.size() - 2);
                // Escapes (some JSON writers send "\\/") need the real parser;
                // base64 has none, so this copy is the rare case.
                if (b64.find('\\') != std::string_view::npos) {
                    try {
                        unescaped = json::parse(raw_payload).get<std::string>();
                    } catch (const json::exception &e) {
                        return fail(std::string("envelope is not JSON: ") + e.what());
                    }
                    b64 = unescaped;
                }
                raw_payload = {};
            }
            size_t len = b64.size();
            while (len > 0 && b64[len - 1] == '=')
                --len;
            pae = "DSSEv1 " + std::to_string(kPayloadType.size()) + " " +
                  std::string(kPayloadType) + " " + std::to_string(len * 6 / 8) + " ";
            payload_offset = pae.size();
            if (auto r = base64_decode_into(b64, pae); !r)
                return fail("envelope payload: " + r.error().message);
            return true;
        }
        if (ctx == 'G') {
            auto &sig = sigs.back();
            if (key3_ != "sig" && key3_ != "keyid")
                return true;
            if (!s)
                return fail(sig_where() + ": field '" + key3_ + "' is not a string");
            if (key3_ == "sig") {
                sig.sig_b64 = *s;
                sig.has_sig = true;
            } else {
                sig.keyid = *s;
            }
        }
        return true;
    }
};

} // namespace

Result<VerifiedPayload> verify_envelope(std::string_view envelope, const TrustStore &keys) {
    if (envelope.size() > kMaxEnvelopeBytes)
        return make_error(EFBIG, "envelope is " + std::to_string(envelope.size()) +
                                     " bytes, over the limit of " +
                                     std::to_string(kMaxEnvelopeBytes));
    EnvelopeSax sax;
    std::string reduced;
    std::string_view text = envelope;
    if (auto at = find_payload(envelope)) {
        sax.raw_payload = envelope.substr(at->first, at->second - at->first);
        reduced.reserve(envelope.size() - sax.raw_payload.size() + 2);
        reduced.append(envelope.substr(0, at->first))
            .append("\"\"")
            .append(envelope.substr(at->second));
        text = reduced;
    }
    bool parsed = json::sax_parse(text.data(), text.data() + text.size(), &sax);
    if (sax.error)
        return *sax.error;
    if (!parsed)
        return make_error(EBADMSG, "envelope is not JSON");
    if (!sax.has_type)
        return make_error(EBADMSG, "envelope: field 'payloadType' missing");
    if (sax.type != kPayloadType)
        return make_error(EBADMSG, "envelope payloadType is '" + sax.type + "', expected '" +
                                       std::string(kPayloadType) + "'");
    if (!sax.has_payload)
        return make_error(EBADMSG, "envelope: field 'payload' missing");
    if (!sax.has_sigs || sax.sigs.empty())
        return make_error(EBADMSG, "envelope: field 'signatures' missing, not an array or empty");

    // Decode every signature before checking any, so a malformed envelope is
    // reported as such whatever keys are trusted.
    std::vector<std::string> sig_bytes;
    for (size_t i = 0; i < sax.sigs.size(); ++i) {
        auto bytes = base64_decode(sax.sigs[i].sig_b64);
        if (!bytes)
            return make_error(EBADMSG, "envelope signatures[" + std::to_string(i) +
                                           "].sig: " + bytes.error().message);
        sig_bytes.push_back(std::move(*bytes));
    }

    std::string dir = keys.dir().empty() ? "" : " in " + keys.dir();
    if (keys.keys().empty())
        return make_error(ENOKEY, "no trusted keys" + dir + ": no policy can be accepted");

    std::string rejected;
    std::string unknown;
    for (size_t i = 0; i < sax.sigs.size(); ++i) {
        const std::string &keyid = sax.sigs[i].keyid;
        bool matched = false;
        for (const auto &k : keys.keys()) {
            // DSSE makes keyid optional: without one, every trusted key is tried.
            if (!keyid.empty() && keyid != k.keyid)
                continue;
            matched = true;
            if (k.verify(sax.pae, sig_bytes[i]))
                return VerifiedPayload{std::move(sax.pae), sax.payload_offset, k.keyid};
        }
        std::string &list = matched ? rejected : unknown;
        list += (list.empty() ? "" : ", ") + (keyid.empty() ? "(no keyid)" : keyid);
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
