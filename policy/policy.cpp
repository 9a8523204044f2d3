#include "policy.h"

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "digest.h"

namespace vouch::policy {

namespace {

using json = nlohmann::json;

Error bad(std::string msg) {
    return make_error(EBADMSG, "policy: " + std::move(msg));
}

int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

bool digest_less(const vouch_digest &a, const vouch_digest &b) {
    return std::memcmp(a.bytes, b.bytes, sizeof(a.bytes)) < 0;
}
bool digest_equal(const vouch_digest &a, const vouch_digest &b) {
    return std::memcmp(a.bytes, b.bytes, sizeof(a.bytes)) == 0;
}
void sort_unique(std::vector<vouch_digest> &v) {
    std::sort(v.begin(), v.end(), digest_less);
    v.erase(std::unique(v.begin(), v.end(), digest_equal), v.end());
}

// A Keylime digests object: {path: [hex, ...]} with at least one digest per
// path. Keylime accepts 40 to 128 hex digits (SHA-1 to SHA-512); the kernel
// side only ever produces SHA-256, so any other length would be a digest that
// can never match, and the document is refused instead of half-applied.
Result<size_t> parse_digests(const json &obj, const std::string &field,
                             std::vector<vouch_digest> &out) {
    if (!obj.is_object())
        return bad("'" + field + "' is not an object {path: [digest, ...]}");
    for (const auto &[path, list] : obj.items()) {
        std::string where = field + "[\"" + path + "\"]";
        if (!list.is_array() || list.empty())
            return bad(where + " is not a non-empty array of digests");
        for (size_t i = 0; i < list.size(); ++i) {
            std::string at = where + "[" + std::to_string(i) + "]";
            if (!list[i].is_string())
                return bad(at + " is not a string");
            const auto &hex = list[i].get_ref<const std::string &>();
            bool is_hex =
                std::all_of(hex.begin(), hex.end(), [](char c) { return hex_value(c) >= 0; });
            if (!is_hex)
                return bad(at + " '" + hex.substr(0, 140) + "' is not lowercase hex");
            vouch_digest d{};
            if (!parse_hex_digest(hex, d))
                return bad(at + " has " + std::to_string(hex.size()) +
                           " hex digits; vouch enforces SHA-256 digests only (64 hex digits)");
            out.push_back(d);
        }
    }
    return obj.size();
}

Result<Policy> from_json(const json &doc) {
    if (!doc.is_object())
        return bad("not a JSON object");
    Policy p;

    auto meta = doc.find("meta");
    if (meta == doc.end() || !meta->is_object())
        return bad("'meta' missing or not an object");
    auto version = meta->find("version");
    if (version == meta->end() || !version->is_number_integer())
        return bad("'meta.version' missing or not an integer");
    if (version->get<int64_t>() != kKeylimeVersion)
        return bad("'meta.version' is " + version->dump() + "; vouch understands version " +
                   std::to_string(kKeylimeVersion));
    if (auto g = meta->find("generator"); g != meta->end() && !g->is_number_integer())
        return bad("'meta.generator' is not an integer");
    if (auto t = meta->find("timestamp"); t != meta->end()) {
        if (!t->is_string())
            return bad("'meta.timestamp' is not a string");
        p.timestamp = t->get<std::string>();
    }

    auto v = meta->find("vouch");
    if (v == meta->end() || !v->is_object())
        return bad("'meta.vouch' missing or not an object: not a vouch policy (it carries the "
                   "serial and mode)");
    auto serial = v->find("serial");
    if (serial == v->end() || !serial->is_number_unsigned())
        return bad("'meta.vouch.serial' missing or not a non-negative integer below 2^64");
    p.serial = serial->get<uint64_t>();
    auto mode = v->find("mode");
    if (mode == v->end() || !mode->is_string())
        return bad("'meta.vouch.mode' missing or not a string (\"audit\" or \"enforce\")");
    if (*mode == "audit")
        p.mode = VOUCH_MODE_AUDIT;
    else if (*mode == "enforce")
        p.mode = VOUCH_MODE_ENFORCE;
    else
        return bad("'meta.vouch.mode' is " + mode->dump() + ", expected \"audit\" or \"enforce\"");
    if (auto a = v->find("agents"); a != v->end()) {
        auto n = parse_digests(*a, "meta.vouch.agents", p.agents);
        if (!n)
            return n.error();
    }

    if (auto r = doc.find("release"); r != doc.end()) {
        if (!r->is_number_unsigned())
            return bad("'release' is not a non-negative integer");
        p.release = r->get<uint64_t>();
    }

    auto digests = doc.find("digests");
    if (digests == doc.end())
        return bad("'digests' missing");
    auto n = parse_digests(*digests, "digests", p.digests);
    if (!n)
        return n.error();
    p.paths = *n;

    if (auto e = doc.find("excludes"); e != doc.end()) {
        if (!e->is_array() ||
            !std::all_of(e->begin(), e->end(), [](const json &x) { return x.is_string(); }))
            return bad("'excludes' is not an array of strings");
        p.excludes = e->size();
    }
    // Keylime's own fields, unused by vouch, are type-checked so that a
    // document vouch accepts is not one Keylime refuses for its shape.
    for (const char *f : {"keyrings", "ima-buf", "ima"})
        if (auto it = doc.find(f); it != doc.end() && !it->is_object())
            return bad(std::string("'") + f + "' is not an object");
    if (auto k = doc.find("verification-keys"); k != doc.end() && !k->is_string())
        return bad("'verification-keys' is not a string");

    p.digests.insert(p.digests.end(), p.agents.begin(), p.agents.end());
    sort_unique(p.digests);
    sort_unique(p.agents);
    p.entries = p.digests.size();
    return p;
}

} // namespace

bool parse_hex_digest(std::string_view hex, vouch_digest &out) {
    if (hex.size() != 2 * VOUCH_DIGEST_SIZE)
        return false;
    for (size_t i = 0; i < VOUCH_DIGEST_SIZE; ++i) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    return true;
}

std::string digest_hex(const vouch_digest &d) {
    return to_hex(d.bytes);
}

const char *mode_string(vouch_mode m) {
    return m == VOUCH_MODE_ENFORCE ? "enforce" : "audit";
}

Result<Policy> parse_payload(std::string_view text) {
    json doc;
    try {
        doc = json::parse(text);
    } catch (const json::exception &e) {
        return bad(std::string("not JSON: ") + e.what());
    }
    return from_json(doc);
}

Result<Policy> verify_and_parse(std::string_view envelope, const TrustStore &keys) {
    auto verified = verify_envelope(envelope, keys);
    if (!verified)
        return verified.error();
    auto p = parse_payload(verified->payload);
    if (!p)
        return p.error();
    p->keyid = verified->keyid;
    p->digest =
        "sha256:" +
        to_hex(sha256_bytes({reinterpret_cast<const uint8_t *>(envelope.data()), envelope.size()}));
    return p;
}

std::string serialize(const PolicyInput &in) {
    json vouch = {{"serial", in.serial}, {"mode", mode_string(in.mode)}};
    if (!in.agents.empty())
        vouch["agents"] = in.agents;
    // generator 0 is Keylime's "Unknown": vouch is none of its generators.
    json meta = {{"version", kKeylimeVersion}, {"generator", 0}, {"vouch", std::move(vouch)}};
    if (!in.timestamp.empty())
        meta["timestamp"] = in.timestamp;
    json doc = {
        {"meta", std::move(meta)},
        {"release", 0},
        {"digests", in.digests},
        {"excludes", json::array()},
        {"keyrings", json::object()},
        {"ima",
         {{"ignored_keyrings", json::array()}, {"log_hash_alg", "sha1"}, {"dm_policy", nullptr}}},
        {"ima-buf", json::object()},
        {"verification-keys", ""},
    };
    return doc.dump() + "\n";
}

} // namespace vouch::policy
