// SPDX-License-Identifier: Apache-2.0
// Policies as documents: reading envelopes and payloads, writing them back,
// combining and comparing them, and building entries from measurement logs
// (the kernel's golden IMA log and a log vouch's MeasurementLog writes).
#include "policy/compose.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "lib/digest.h"
#include "lib/measurement_log.h"
#include "policy/policy.h"
#include "tests/policy/helpers.h"

namespace {

using namespace vouch::policy;
using namespace vouch::policy::test;

std::span<const uint8_t> bytes(const std::string &s) {
    return {reinterpret_cast<const uint8_t *>(s.data()), s.size()};
}

// path -> digests of the golden kernel log's file entries, read from the ASCII
// file with nothing but string splitting: no boot_aggregate, no violation.
PathDigests expected_from_ascii(const std::string &ascii) {
    PathDigests m;
    std::istringstream in(ascii);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::string pcr, hash, tmpl, digest, path;
        f >> pcr >> hash >> tmpl >> digest >> path;
        EXPECT_EQ(digest.substr(0, 7), "sha256:") << line;
        std::string hex = digest.substr(7);
        if (path == "boot_aggregate" || hex == std::string(64, '0'))
            continue;
        m[path].push_back(hex);
    }
    return m;
}

TEST(PolicyFromLog, KernelGoldenLogBothFormsGiveTheFileDigests) {
    std::string ascii = slurp("tests/lib/golden/kernel-6.1-ima.ascii");
    std::string bin = slurp("tests/lib/golden/kernel-6.1-ima.bin");
    PathDigests want = expected_from_ascii(ascii);
    ASSERT_EQ(want.size(), 7u);
    for (const std::string *text : {&ascii, &bin}) {
        auto entries = vouch::ima::parse_any(bytes(*text));
        ASSERT_TRUE(entries.ok()) << entries.error().message;
        FromLog f = from_log(*entries);
        EXPECT_EQ(f.digests, want);
        EXPECT_TRUE(f.verity.empty());
        EXPECT_EQ(f.entries, 8u);
        EXPECT_EQ(f.boot_aggregate, 1u);
        EXPECT_EQ(f.boot_aggregates,
                  std::vector<std::string>{
                      "2bed5bc42c0a46bf17b171523cb960e99373bd16edff3408b64bb2dfee3f590a"});
        EXPECT_EQ(f.violations, 0u);
        EXPECT_EQ(f.unique_digests, 7u);
        EXPECT_TRUE(f.other_algos.empty());
    }
}

TEST(PolicyFromLog, VouchLogSkipsWhatIsNotAFileAndKeepsVerityApart) {
    TempDir dir;
    auto log = vouch::MeasurementLog::open(dir.path());
    ASSERT_TRUE(log.ok()) << log.error().message;
    std::vector<uint8_t> a(32, 0xaa), b(32, 0xbb), v(32, 0xcc), sha1(20, 0x11);
    std::vector<uint8_t> ba(32, 0x42);
    for (const auto &e : {
             vouch::ima::make_entry(10, "ima-ng", "sha256", ba, "boot_aggregate"),
             vouch::ima::make_entry(10, "ima-ng", "sha256", a, "/usr/bin/a"),
             vouch::ima::make_entry(10, "ima-ng", "sha256", a, "/usr/bin/a-copy"),
             vouch::ima::make_entry(10, "ima-ng", "sha256", b, "/usr/bin/a"),
             vouch::ima::make_violation(10, "ima-ng", "/tmp/tomtou"),
             vouch::ima::make_violation(10, "ima-ng", "vouch:lost-events:7"),
             vouch::ima::make_entry(10, "ima-ng", "sha256", b, "vouch:policy:42"),
             vouch::ima::make_entry(10, "ima-ngv2", "verity:sha256", v, "/usr/bin/verity"),
             vouch::ima::make_entry(10, "ima-ng", "sha1", sha1, "/usr/bin/old"),
         })
        ASSERT_TRUE(log->append(e).ok());
    for (const std::string &path : {log->binary_path(), log->ascii_path()}) {
        auto bytes_read = slurp(path);
        auto entries = vouch::ima::parse_any(bytes(bytes_read));
        ASSERT_TRUE(entries.ok()) << path << ": " << entries.error().message;
        FromLog f = from_log(*entries);
        PathDigests want = {{"/usr/bin/a", {vouch::to_hex(a), vouch::to_hex(b)}},
                            {"/usr/bin/a-copy", {vouch::to_hex(a)}}};
        EXPECT_EQ(f.digests, want) << path;
        EXPECT_EQ(f.verity, (PathDigests{{"/usr/bin/verity", {vouch::to_hex(v)}}})) << path;
        EXPECT_EQ(f.entries, 9u);
        EXPECT_EQ(f.boot_aggregate, 1u);
        EXPECT_EQ(f.boot_aggregates, std::vector<std::string>{vouch::to_hex(ba)});
        EXPECT_EQ(f.violations, 2u);
        EXPECT_EQ(f.vouch_records, 1u);
        EXPECT_EQ(f.other_algos, (std::map<std::string, size_t>{{"sha1", 1}}));
        EXPECT_EQ(f.unique_digests, 3u); // a, b and the fs-verity digest
    }
}

TEST(PolicyDocument, EnvelopeAndPayloadReadAlike) {
    auto json = read_document(slurp(kGolden + "/policy.json"));
    auto env = read_document(slurp(kGolden + "/policy.p256.dsse"));
    ASSERT_TRUE(json.ok()) << json.error().message;
    ASSERT_TRUE(env.ok()) << env.error().message;
    EXPECT_EQ(json->serial, 42u);
    EXPECT_EQ(json->mode, VOUCH_MODE_ENFORCE);
    EXPECT_EQ(json->digests.at("/usr/bin/env"),
              (std::vector<std::string>{std::string(64, '3'), std::string(64, '4')}));
    EXPECT_EQ(json->agents.at("/usr/sbin/vouchd"), std::vector<std::string>{std::string(64, '1')});
    EXPECT_EQ(env->digests, json->digests);
    EXPECT_EQ(env->agents, json->agents);
    EXPECT_TRUE(diff(*json, *env).empty());
}

TEST(PolicyDocument, KeysMakeTheSignatureCount) {
    auto trusted = TrustStore::load(kTrusted);
    ASSERT_TRUE(trusted.ok()) << trusted.error().message;
    auto env = read_document(slurp(kGolden + "/policy.p256.dsse"), &*trusted);
    EXPECT_TRUE(env.ok()) << env.error().message;
    auto bare = read_document(slurp(kGolden + "/policy.json"), &*trusted);
    ASSERT_FALSE(bare.ok());
    EXPECT_TRUE(contains(bare.error().message, "not a DSSE envelope"));
    auto none = TrustStore::from_keys({});
    auto refused = read_document(slurp(kGolden + "/policy.p256.dsse"), &none);
    EXPECT_FALSE(refused.ok());
}

TEST(PolicyDocument, RefusesWhatVouchdWouldRefuse) {
    auto r = read_document(R"({"meta": {"version": 1, "generator": 0}, "digests": {}})");
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(contains(r.error().message, "meta.vouch")) << r.error().message;
    r = read_document(R"({"payloadType": "text/plain", "payload": "e30=", "signatures": []})");
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(contains(r.error().message, "payloadType")) << r.error().message;
}

TEST(PolicyDocument, WriteKeepsTheOtherFieldsAndAddsEntries) {
    auto base = read_document(slurp(kGolden + "/policy.json"));
    ASSERT_TRUE(base.ok());
    Document other;
    add_digest(other.digests, "/usr/bin/env", std::string(64, '5')); // a new version
    add_digest(other.digests, "/usr/bin/env", std::string(64, '4')); // already listed
    add_digest(other.digests, "/usr/bin/new", std::string(64, '6'));
    add_digest(other.agents, "/usr/sbin/vouchd", std::string(64, '7'));
    add_digest(other.verity, "/usr/bin/v", std::string(64, '8'));
    Document merged = *base;
    add_entries(merged, other);
    merged.serial = 43;
    merged.mode = VOUCH_MODE_AUDIT;
    std::string text = write_document(merged, "2026-12-02T19:00:00Z");
    auto p = parse_payload(text);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->serial, 43u);
    EXPECT_EQ(p->mode, VOUCH_MODE_AUDIT);
    EXPECT_EQ(p->release, 3u) << "release comes from the base";
    EXPECT_EQ(p->excludes, 0u) << "excludes come from the base";
    EXPECT_EQ(p->timestamp, "2026-12-02T19:00:00Z");
    // 1..4 (base), 5, 6, 7 (agent) allowed; 8 is an fs-verity digest.
    EXPECT_EQ(p->digests.size(), 7u);
    EXPECT_EQ(p->agents.size(), 2u);
    EXPECT_EQ(p->verity.size(), 1u);
    auto again = read_document(text);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->digests.at("/usr/bin/env"),
              (std::vector<std::string>{std::string(64, '3'), std::string(64, '4'),
                                        std::string(64, '5')}))
        << "a path keeps its digests and gains the new one after them";
    EXPECT_EQ(again->agents.at("/usr/sbin/vouchd"),
              (std::vector<std::string>{std::string(64, '1'), std::string(64, '7')}));
}

// An enforce document with Keylime's excludes is read (to be compared, or
// turned into an audit one); written back in enforce mode, vouchd's parser
// refuses it, in audit mode it accepts it with the excludes kept.
TEST(PolicyDocument, ReadsKeylimeExcludesInEnforceModeWriterChecks) {
    auto j = nlohmann::json::parse(slurp(kGolden + "/policy.json"));
    j["excludes"] = {"/tmp/.*"};
    auto d = read_document(j.dump());
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_EQ(d->mode, VOUCH_MODE_ENFORCE);
    auto enforce = parse_payload(write_document(*d, ""));
    ASSERT_FALSE(enforce.ok());
    EXPECT_TRUE(contains(enforce.error().message, "'excludes'")) << enforce.error().message;
    d->mode = VOUCH_MODE_AUDIT;
    auto audit = parse_payload(write_document(*d, ""));
    ASSERT_TRUE(audit.ok()) << audit.error().message;
    EXPECT_EQ(audit->excludes, 1u);
}

TEST(PolicyDocument, NewDocumentIsAKeylimeCompleteOne) {
    Document d;
    d.serial = 7;
    add_digest(d.digests, "/x", std::string(64, 'a'));
    std::string text = write_document(d, "");
    auto p = parse_payload(text);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->serial, 7u);
    EXPECT_EQ(p->entries, 1u);
    for (const char *field : {"\"excludes\"", "\"keyrings\"", "\"ima-buf\"", "\"release\""})
        EXPECT_TRUE(contains(text, field)) << field;
    EXPECT_FALSE(contains(text, "\"agents\"")) << "no empty agents object";
}

TEST(PolicyDiff, NamesFieldsDigestsAndPaths) {
    auto a = read_document(slurp(kGolden + "/policy.json"));
    ASSERT_TRUE(a.ok());
    Document b = *a;
    b.serial = 43;
    b.digests["/usr/bin/env"] = {std::string(64, '4'), std::string(64, '5')};
    b.digests.erase("/usr/bin/dup"); // its digest stays listed under /usr/bin/true
    b = *read_document(write_document(b, "2026-12-02T19:00:00Z"));
    Diff d = diff(*a, b);
    // write_document() adds vouch's record digests to ima-buf, which the
    // golden policy (written before records existed) has empty.
    ASSERT_EQ(d.fields.size(), 3u);
    EXPECT_EQ(d.fields[0].field, "serial");
    EXPECT_EQ(d.fields[0].before, "42");
    EXPECT_EQ(d.fields[0].after, "43");
    EXPECT_EQ(d.fields[1].field, "ima-buf");
    EXPECT_EQ(d.fields[1].before, "{}");
    EXPECT_EQ(d.fields[2].field, "meta.timestamp");
    ASSERT_EQ(d.added.size(), 1u);
    EXPECT_EQ(d.added[0].digest, std::string(64, '5'));
    EXPECT_EQ(d.added[0].paths, std::vector<std::string>{"/usr/bin/env"});
    ASSERT_EQ(d.removed.size(), 1u);
    EXPECT_EQ(d.removed[0].digest, std::string(64, '3'));
    ASSERT_EQ(d.paths.size(), 2u);
    EXPECT_EQ(d.paths[0].path, "/usr/bin/dup");
    EXPECT_TRUE(d.paths[0].after.empty());
    EXPECT_EQ(d.paths[1].path, "/usr/bin/env");
    EXPECT_EQ(d.paths[1].before.size(), 2u);
    EXPECT_TRUE(diff(*a, *a).empty());
}

} // namespace
