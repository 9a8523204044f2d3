// SPDX-License-Identifier: Apache-2.0
#include "policy/policy.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include <nlohmann/json.hpp>

#include "lib/digest.h"
#include "lib/vouch_records.h"

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

// One digest. Keylime accepts 40 to 128 hex digits (SHA-1 to SHA-512); the
// kernel side only ever produces SHA-256, so any other length would be a
// digest that can never match, and the document is refused instead of
// half-applied.
// A "sha256:<hex>" is accepted (the log's own spelling; Keylime compares
// bare hex, so policy make never writes it), any other algorithm prefix fails
// as non-hex.
Result<vouch_digest> parse_one_digest(const std::string &text, const std::string &at) {
    std::string_view hex = text;
    if (hex.starts_with("sha256:"))
        hex.remove_prefix(7);
    bool is_hex = std::all_of(hex.begin(), hex.end(), [](char c) { return hex_value(c) >= 0; });
    if (!is_hex)
        return bad(at + " '" + text.substr(0, 140) + "' is not lowercase hex");
    vouch_digest d{};
    if (!parse_hex_digest(hex, d))
        return bad(at + " has " + std::to_string(hex.size()) +
                   " hex digits; vouch enforces SHA-256 digests only (64 hex digits)");
    return d;
}

// A Keylime digests object: {path: [hex, ...]} with at least one digest per
// path (what Keylime's schema requires).
Result<size_t> parse_digests(const json &obj, const std::string &field,
                             std::vector<vouch_digest> &out) {
    if (!obj.is_object())
        return bad("'" + field + "' is not an object {path: [digest, ...]}");
    for (const auto &[path, list] : obj.items()) {
        std::string where = field + "[\"" + path + "\"]";
        // Only `digests` may list a boot aggregate; here it would allow its
        // value as a file digest.
        if (path == kBootAggregate)
            return bad(where + ": boot_aggregate belongs in 'digests'");
        if (!list.is_array() || list.empty())
            return bad(where + " is not a non-empty array of digests");
        for (size_t i = 0; i < list.size(); ++i) {
            std::string at = where + "[" + std::to_string(i) + "]";
            if (!list[i].is_string())
                return bad(at + " is not a string");
            auto d = parse_one_digest(list[i].get_ref<const std::string &>(), at);
            if (!d)
                return d.error();
            out.push_back(*d);
        }
    }
    return obj.size();
}

// A value of digests["boot_aggregate"]: Keylime compares the hex of the log's
// boot_aggregate digest, whose algorithm is the kernel's IMA hash (SHA-1 on
// older setups), so any of IMA's usual lengths is valid; the "sha256:" prefix
// is accepted as for other digests and dropped.
Result<std::string> parse_boot_aggregate(const std::string &text, const std::string &at) {
    std::string_view hex = text;
    if (hex.starts_with("sha256:"))
        hex.remove_prefix(7);
    bool is_hex = std::all_of(hex.begin(), hex.end(), [](char c) { return hex_value(c) >= 0; });
    if (!is_hex)
        return bad(at + " '" + text.substr(0, 140) +
                   "' is not lowercase hex (a boot aggregate is listed as the hex digits of "
                   "the log's boot_aggregate digest, without its algorithm)");
    if (hex.size() != 40 && hex.size() != 64 && hex.size() != 96 && hex.size() != 128)
        return bad(at + " has " + std::to_string(hex.size()) +
                   " hex digits; a boot aggregate is a SHA-1, SHA-256, SHA-384 or SHA-512 "
                   "digest (40, 64, 96 or 128)");
    return std::string(hex);
}

// Builds a DOM of the payload except its top-level `digests`, which is
// validated and converted as it streams by: a DOM of 100,000 paths costs
// about 35 MB, the converted digests 3 MB.
class PayloadSax final : public json::json_sax_t {
  public:
    json root;
    std::vector<vouch_digest> digests;
    std::vector<std::string> boot_aggregates;
    size_t paths = 0;
    bool has_digests = false;
    std::optional<Error> error;

    bool null() override { return value(nullptr); }
    bool boolean(bool v) override { return value(v); }
    bool number_integer(number_integer_t v) override { return value(v); }
    bool number_unsigned(number_unsigned_t v) override { return value(v); }
    bool number_float(number_float_t v, const string_t &) override { return value(v); }
    bool binary(binary_t &) override { return value(nullptr); }
    bool string(string_t &v) override {
        if (state_ == InList) {
            std::string at = where() + "[" + std::to_string(index_) + "]";
            ++index_;
            if (path_ == kBootAggregate) {
                auto b = parse_boot_aggregate(v, at);
                if (!b)
                    return fail(b.error());
                boot_aggregates.push_back(std::move(*b));
                return true;
            }
            auto d = parse_one_digest(v, at);
            if (!d)
                return fail(d.error());
            digests.push_back(*d);
            return true;
        }
        return value(v);
    }
    bool key(string_t &k) override {
        if (state_ == InDigests) {
            path_ = k;
            return true;
        }
        if (stack_.size() == 1 && k == "digests") {
            if (has_digests)
                return fail(bad("'digests' appears twice"));
            has_digests = true;
            state_ = DigestsNext;
            return true;
        }
        key_ = k;
        return true;
    }
    bool start_object(std::size_t) override {
        if (state_ == DigestsNext) {
            state_ = InDigests;
            return true;
        }
        if (state_ != Dom)
            return fail(list_error());
        return open(json::object());
    }
    bool start_array(std::size_t) override {
        if (state_ == InDigests) {
            state_ = InList;
            index_ = 0;
            return true;
        }
        if (state_ != Dom)
            return fail(list_error());
        return open(json::array());
    }
    bool end_object() override {
        if (state_ == InDigests) {
            state_ = Dom;
            return true;
        }
        stack_.pop_back();
        return true;
    }
    bool end_array() override {
        if (state_ == InList) {
            if (index_ == 0)
                return fail(bad(where() + " is not a non-empty array of digests"));
            if (path_ != kBootAggregate)
                ++paths;
            state_ = InDigests;
            return true;
        }
        stack_.pop_back();
        return true;
    }
    bool parse_error(std::size_t, const std::string &,
                     const nlohmann::detail::exception &e) override {
        return fail(bad(std::string("not JSON: ") + e.what()));
    }

  private:
    enum State { Dom, DigestsNext, InDigests, InList } state_ = Dom;
    std::vector<json *> stack_;
    std::string key_, path_;
    size_t index_ = 0;

    bool fail(Error e) {
        if (!error)
            error = std::move(e);
        return false;
    }
    std::string where() const { return "digests[\"" + path_ + "\"]"; }
    // A value where a digests object, a digest list or a digest belongs.
    Error list_error() const {
        if (state_ == DigestsNext)
            return bad("'digests' is not an object {path: [digest, ...]}");
        if (state_ == InDigests)
            return bad(where() + " is not a non-empty array of digests");
        return bad(where() + "[" + std::to_string(index_) + "] is not a string");
    }
    json *place(json &&v) {
        if (stack_.empty()) {
            root = std::move(v);
            return &root;
        }
        json &top = *stack_.back();
        if (top.is_array()) {
            top.push_back(std::move(v));
            return &top.back();
        }
        // Duplicate keys: the last one wins, as in nlohmann's and Python's parsers.
        return &(top[key_] = std::move(v));
    }
    template <class T> bool value(T &&v) {
        if (state_ != Dom)
            return fail(list_error());
        place(json(std::forward<T>(v)));
        return true;
    }
    bool open(json &&container) {
        stack_.push_back(place(std::move(container)));
        return true;
    }
};

Result<Policy> from_json(PayloadSax &sax) {
    const json &doc = sax.root;
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
    if (auto a = v->find("verity"); a != v->end()) {
        auto n = parse_digests(*a, "meta.vouch.verity", p.verity);
        if (!n)
            return n.error();
    }
    if (auto k = v->find("keys"); k != v->end()) {
        if (!k->is_array() || k->empty() || k->size() > kMaxTrustKeys)
            return bad("'meta.vouch.keys' is not an array of 1 to " +
                       std::to_string(kMaxTrustKeys) + " PEM public keys");
        for (size_t i = 0; i < k->size(); ++i) {
            const std::string where = "'meta.vouch.keys[" + std::to_string(i) + "]'";
            if (!(*k)[i].is_string())
                return bad(where + " is not a string");
            auto key = parse_public_key((*k)[i].get_ref<const std::string &>(), where);
            if (!key)
                return make_error(EBADMSG, key.error().message);
            for (const auto &other : p.trust_keys)
                if (other.keyid == key->keyid)
                    return bad(where + " repeats key " + key->keyid);
            p.trust_keys.push_back(std::move(*key));
        }
    }

    if (auto r = doc.find("release"); r != doc.end()) {
        if (!r->is_number_unsigned())
            return bad("'release' is not a non-negative integer");
        p.release = r->get<uint64_t>();
    }

    if (!sax.has_digests)
        return bad("'digests' missing");
    p.digests = std::move(sax.digests);
    p.boot_aggregates = std::move(sax.boot_aggregates);
    std::sort(p.boot_aggregates.begin(), p.boot_aggregates.end());
    p.boot_aggregates.erase(std::unique(p.boot_aggregates.begin(), p.boot_aggregates.end()),
                            p.boot_aggregates.end());
    p.paths = sax.paths;

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
    // ima-buf: name -> digests of the buffers Keylime accepts under that name
    // (vouch's own records among them); kept as it is by the tools.
    if (auto it = doc.find("ima-buf"); it != doc.end())
        for (const auto &[name, list] : it->items())
            if (!list.is_array() ||
                !std::all_of(list.begin(), list.end(), [](const json &x) { return x.is_string(); }))
                return bad("'ima-buf' entry '" + name + "' is not an array of strings");
    if (auto k = doc.find("verification-keys"); k != doc.end()) {
        if (!k->is_string())
            return bad("'verification-keys' is not a string");
        p.verification_keys = !k->get_ref<const std::string &>().empty();
    }

    p.digests.insert(p.digests.end(), p.agents.begin(), p.agents.end());
    sort_unique(p.digests);
    sort_unique(p.agents);
    sort_unique(p.verity);
    p.entries = p.digests.size() + p.verity.size();
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

Result<void> check_keylime_agreement(const Policy &p) {
    if (p.mode != VOUCH_MODE_ENFORCE)
        return {};
    // Keylime joins the patterns into one regex and matches it at the start
    // of each path: any non-empty list changes its verdict, even [""].
    if (p.excludes)
        return bad("enforce mode with " + std::to_string(p.excludes) +
                   " Keylime 'excludes' pattern(s): Keylime does not check a file whose "
                   "path matches one, but vouch would still deny that file unless its digest "
                   "is listed (vouch allows by digest, never by path); remove 'excludes' "
                   "(list the files' digests instead), or use \"mode\": \"audit\"");
    if (p.verification_keys)
        return bad("enforce mode with Keylime 'verification-keys': Keylime accepts a file "
                   "whose ima-sig signature verifies with those keys even if its digest is "
                   "not listed, but vouch enforces digests only and would deny it; remove "
                   "'verification-keys' (list the files' digests instead), or use "
                   "\"mode\": \"audit\"");
    return {};
}

Result<Policy> parse_payload(std::string_view text) {
    auto p = parse_payload_content(text);
    if (!p)
        return p.error();
    if (auto ok = check_keylime_agreement(*p); !ok)
        return ok.error();
    return p;
}

Result<Policy> parse_payload_content(std::string_view text) {
    PayloadSax sax;
    bool parsed = json::sax_parse(text.data(), text.data() + text.size(), &sax);
    if (sax.error)
        return *sax.error;
    if (!parsed)
        return bad("not JSON");
    return from_json(sax);
}

Result<Policy> verify_and_parse(std::string_view envelope, const TrustStore &keys) {
    auto verified = verify_envelope(envelope, keys);
    if (!verified)
        return verified.error();
    auto p = parse_payload(verified->payload());
    if (!p)
        return p.error();
    p->keyid = verified->keyid;
    p->digest =
        "sha256:" +
        to_hex(sha256_bytes({reinterpret_cast<const uint8_t *>(envelope.data()), envelope.size()}));
    return p;
}

std::map<std::string, std::vector<std::string>> vouch_record_digests() {
    std::map<std::string, std::vector<std::string>> out;
    for (const auto &[name, content] : records::fixed()) {
        auto &list = out[name];
        std::string hex = records::digest_hex(content);
        if (std::find(list.begin(), list.end(), hex) == list.end())
            list.push_back(hex);
    }
    return out;
}

std::string serialize(const PolicyInput &in) {
    json vouch = {{"serial", in.serial}, {"mode", mode_string(in.mode)}};
    if (!in.agents.empty())
        vouch["agents"] = in.agents;
    if (!in.verity.empty())
        vouch["verity"] = in.verity;
    if (!in.trust_keys.empty())
        vouch["keys"] = in.trust_keys;
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
        {"ima-buf", vouch_record_digests()},
        {"verification-keys", ""},
    };
    return doc.dump() + "\n";
}

} // namespace vouch::policy
