// SPDX-License-Identifier: Apache-2.0
#include "policy/compose.h"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "lib/digest.h"
#include "lib/utf8.h"
#include "policy/policy.h"

namespace vouch::policy {

namespace {

using json = nlohmann::json;

Error bad(std::string msg) {
    return make_error(EBADMSG, "policy: " + std::move(msg));
}

// {path: [digest, ...]} as parse_payload() accepted it; digests canonical.
PathDigests read_map(const json &obj) {
    PathDigests m;
    if (!obj.is_object())
        return m;
    for (const auto &[path, list] : obj.items())
        for (const auto &d : list) {
            std::string hex = d.get<std::string>();
            if (hex.starts_with("sha256:"))
                hex.erase(0, 7);
            add_digest(m, path, hex);
        }
    return m;
}

// The envelope's payload, if `text` is an envelope (an object with
// payloadType and signatures, and no meta, which every policy has); the text
// itself otherwise.
Result<std::string> unwrap(std::string_view text, const TrustStore *keys) {
    json doc = json::parse(text.begin(), text.end(), nullptr, false);
    bool envelope = doc.is_object() && doc.contains("payloadType") && doc.contains("signatures") &&
                    !doc.contains("meta");
    if (keys) {
        if (!envelope)
            return bad("not a DSSE envelope, and a signed one is required here");
        auto v = verify_envelope(text, *keys);
        if (!v)
            return v.error();
        return std::string(v->payload());
    }
    if (!envelope)
        return std::string(text);
    auto type = doc.find("payloadType");
    if (!type->is_string() || type->get<std::string>() != kPayloadType)
        return bad("envelope payloadType is " + type->dump() + ", expected \"" +
                   std::string(kPayloadType) + "\"");
    auto payload = doc.find("payload");
    if (payload == doc.end() || !payload->is_string())
        return bad("envelope: field 'payload' missing or not a string");
    auto decoded = base64_decode(payload->get<std::string>());
    if (!decoded)
        return bad("envelope payload: " + decoded.error().message);
    return *decoded;
}

// The fields diff() compares one by one: everything but the entries, keyed
// by a name (serial and mode by theirs, the rest by their JSON path).
std::map<std::string, json> header_fields(const json &doc) {
    std::map<std::string, json> f;
    for (const auto &[k, v] : doc.items()) {
        if (k == "digests")
            continue;
        if (k != "meta" || !v.is_object()) {
            f[k] = v;
            continue;
        }
        for (const auto &[mk, mv] : v.items()) {
            if (mk != "vouch" || !mv.is_object()) {
                f["meta." + mk] = mv;
                continue;
            }
            for (const auto &[vk, vv] : mv.items()) {
                if (vk == "agents" || vk == "verity")
                    continue;
                f[vk == "serial" || vk == "mode" ? vk : "meta.vouch." + vk] = vv;
            }
        }
    }
    return f;
}

void diff_entries(const char *kind, const PathDigests &a, const PathDigests &b, Diff &out) {
    // digest -> paths that list it
    auto by_digest = [](const PathDigests &m) {
        std::map<std::string, std::vector<std::string>> r;
        for (const auto &[path, list] : m)
            for (const auto &d : list)
                r[d].push_back(path);
        return r;
    };
    auto da = by_digest(a), db = by_digest(b);
    for (const auto &[d, paths] : db)
        if (!da.count(d))
            out.added.push_back({kind, d, paths});
    for (const auto &[d, paths] : da)
        if (!db.count(d))
            out.removed.push_back({kind, d, paths});
    std::set<std::string> paths;
    for (const auto &[p, _] : a)
        paths.insert(p);
    for (const auto &[p, _] : b)
        paths.insert(p);
    for (const auto &p : paths) {
        auto ia = a.find(p), ib = b.find(p);
        std::vector<std::string> before = ia == a.end() ? std::vector<std::string>{} : ia->second;
        std::vector<std::string> after = ib == b.end() ? std::vector<std::string>{} : ib->second;
        // The order within a path's list carries no meaning.
        std::vector<std::string> sa = before, sb = after;
        std::sort(sa.begin(), sa.end());
        std::sort(sb.begin(), sb.end());
        if (sa != sb)
            out.paths.push_back({kind, p, sa, sb});
    }
}

} // namespace

Result<Document> read_document(std::string_view bytes, const TrustStore *keys) {
    auto payload = unwrap(bytes, keys);
    if (!payload)
        return payload.error();
    // Not parse_payload(): a document that enforces Keylime's excludes or
    // verification-keys must still be readable to be compared (diff) or
    // turned into one vouchd accepts (make --base --mode audit); what the
    // tools write is checked with parse_payload().
    if (auto p = parse_payload_content(*payload); !p)
        return p.error();
    json doc = json::parse(*payload);
    const json &v = doc["meta"]["vouch"];
    Document d;
    d.serial = v["serial"].get<uint64_t>();
    d.mode = v["mode"] == "enforce" ? VOUCH_MODE_ENFORCE : VOUCH_MODE_AUDIT;
    d.digests = read_map(doc["digests"]);
    if (auto a = v.find("agents"); a != v.end())
        d.agents = read_map(*a);
    if (auto a = v.find("verity"); a != v.end())
        d.verity = read_map(*a);
    if (auto b = doc.find("ima-buf"); b != doc.end())
        d.ima_buf = read_map(*b);
    d.payload = std::move(*payload);
    return d;
}

std::string write_document(const Document &d, const std::string &timestamp) {
    json doc = json::parse(d.payload.empty() ? serialize(PolicyInput{}) : d.payload);
    json &meta = doc["meta"];
    json &v = meta["vouch"];
    v["serial"] = d.serial;
    v["mode"] = mode_string(d.mode);
    // JSON text is UTF-8, a path need not be (a log's name field holds the
    // kernel's bytes): such a path is written as utf8_safe() writes it, as
    // vouchd's D-Bus strings and vouchctl's JSON do. Its digests stay.
    auto as_json = [](const PathDigests &m) {
        PathDigests safe;
        for (const auto &[path, list] : m)
            for (const auto &hex : list)
                add_digest(safe, utf8_safe(path), hex);
        return safe;
    };
    auto set_map = [&](json &obj, const char *key, const PathDigests &m) {
        if (m.empty())
            obj.erase(key);
        else
            obj[key] = as_json(m);
    };
    set_map(v, "agents", d.agents);
    set_map(v, "verity", d.verity);
    if (!d.trust_keys.empty())
        v["keys"] = d.trust_keys;
    doc["digests"] = as_json(d.digests);
    // vouch's own records (lib/vouch_records.h), so Keylime accepts a log
    // holding them; what the document listed stays.
    PathDigests buf = d.ima_buf;
    for (const auto &[name, list] : vouch_record_digests())
        for (const auto &hex : list)
            add_digest(buf, name, hex);
    doc["ima-buf"] = buf;
    if (!timestamp.empty())
        meta["timestamp"] = timestamp;
    return doc.dump() + "\n";
}

void add_digest(PathDigests &m, const std::string &path, const std::string &hex) {
    auto &list = m[path];
    if (std::find(list.begin(), list.end(), hex) == list.end())
        list.push_back(hex);
}

void add_entries(Document &into, const Document &from) {
    for (auto [dst, src] :
         {std::pair{&into.digests, &from.digests}, std::pair{&into.agents, &from.agents},
          std::pair{&into.verity, &from.verity}, std::pair{&into.ima_buf, &from.ima_buf}})
        for (const auto &[path, list] : *src)
            for (const auto &hex : list)
                add_digest(*dst, path, hex);
}

Diff diff(const Document &a, const Document &b) {
    Diff out;
    json ja = json::parse(a.payload.empty() ? write_document(a, "") : a.payload);
    json jb = json::parse(b.payload.empty() ? write_document(b, "") : b.payload);
    auto fa = header_fields(ja), fb = header_fields(jb);
    std::vector<std::string> names;
    for (const char *first : {"serial", "mode"})
        if (fa.count(first) || fb.count(first))
            names.push_back(first);
    std::set<std::string> rest;
    for (const auto &[k, _] : fa)
        rest.insert(k);
    for (const auto &[k, _] : fb)
        rest.insert(k);
    for (const auto &k : rest)
        if (k != "serial" && k != "mode")
            names.push_back(k);
    for (const auto &k : names) {
        auto ia = fa.find(k), ib = fb.find(k);
        std::string before = ia == fa.end() ? "(none)" : ia->second.dump();
        std::string after = ib == fb.end() ? "(none)" : ib->second.dump();
        if (before != after)
            out.fields.push_back({k, before, after});
    }
    // A boot aggregate allows no file: its changes are told apart.
    auto split = [](const PathDigests &m, bool boot) {
        PathDigests r;
        for (const auto &[path, list] : m)
            if ((path == kBootAggregate) == boot)
                r[path] = list;
        return r;
    };
    diff_entries("digest", split(a.digests, false), split(b.digests, false), out);
    diff_entries(kBootAggregate, split(a.digests, true), split(b.digests, true), out);
    diff_entries("agent", a.agents, b.agents, out);
    diff_entries("verity", a.verity, b.verity, out);
    return out;
}

std::string boot_aggregate_hex(const ima::Entry &e) {
    size_t n = e.file_digest.size();
    if (e.path != kBootAggregate || e.violation || (n != 20 && n != 32 && n != 48 && n != 64))
        return "";
    return to_hex(e.file_digest);
}

FromLog from_log(const std::vector<ima::Entry> &entries) {
    FromLog out;
    std::set<std::string> unique;
    for (const auto &e : entries) {
        ++out.entries;
        bool zero = std::all_of(e.file_digest.begin(), e.file_digest.end(),
                                [](uint8_t b) { return b == 0; });
        if (e.violation || (zero && !e.file_digest.empty())) {
            ++out.violations;
        } else if (e.path == kBootAggregate) {
            ++out.boot_aggregate;
            if (std::string hex = boot_aggregate_hex(e);
                !hex.empty() && std::find(out.boot_aggregates.begin(), out.boot_aggregates.end(),
                                          hex) == out.boot_aggregates.end())
                out.boot_aggregates.push_back(hex);
        } else if (e.path.starts_with("vouch:")) {
            ++out.vouch_records;
        } else if (e.template_name == ima::kImaBuf) {
            // A measured buffer (vouch's own records, the kernel's keys or
            // critical data), not a file: never a digest that allows one.
            ++out.buffers;
        } else if (e.file_digest.empty()) {
            ++out.unknown;
        } else if ((e.algo == "sha256" || e.algo == "ima:sha256") && e.file_digest.size() == 32) {
            std::string hex = to_hex(e.file_digest);
            add_digest(out.digests, e.path, hex);
            unique.insert(hex);
        } else if (e.algo == ima::kVeritySha256 && e.file_digest.size() == 32) {
            std::string hex = to_hex(e.file_digest);
            add_digest(out.verity, e.path, hex);
            unique.insert("verity:" + hex);
        } else {
            ++out.other_algos[e.algo];
        }
    }
    out.unique_digests = unique.size();
    return out;
}

} // namespace vouch::policy
