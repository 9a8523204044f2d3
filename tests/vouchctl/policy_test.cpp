// SPDX-License-Identifier: Apache-2.0
// vouchctl policy diff | merge | make --from-log/--base, run in-process
// against checked-in policies (tests/vouchctl/golden) and the kernel's golden
// IMA log; the expected diff output is checked in too.
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "lib/ima_log.h"
#include "policy/compose.h"
#include "policy/policy.h"
#include "tests/policy/helpers.h"
#include "tests/vouchctl/run.h"

namespace {

using vouch::ctl::Exit;
using vouch::ctl::test::vouchctl;
using namespace vouch::policy;
using namespace vouch::policy::test;

const std::string kHere = "tests/vouchctl/golden";
const std::string kKernelAscii = "tests/lib/golden/kernel-6.1-ima.ascii";
const std::string kGoldenBootAggregate =
    "2bed5bc42c0a46bf17b171523cb960e99373bd16edff3408b64bb2dfee3f590a";

TEST(VouchctlPolicyDiff, GoldenOutputAndExitStatus) {
    auto r = vouchctl({"policy", "diff", kHere + "/a.json", kHere + "/b.json"});
    EXPECT_EQ(r.rc, Exit::Differ) << r.err;
    EXPECT_EQ(int(r.rc), 1);
    EXPECT_EQ(r.out, slurp(kHere + "/a-b.diff"));
    r = vouchctl({"policy", "diff", "--json", kHere + "/a.json", kHere + "/b.json"});
    EXPECT_EQ(r.rc, Exit::Differ) << r.err;
    EXPECT_EQ(r.out, slurp(kHere + "/a-b.diff.json"));
}

TEST(VouchctlPolicyDiff, EqualIsZeroWhateverTheWrapping) {
    // The same payload, bare and in a signed envelope.
    auto r = vouchctl({"policy", "diff", kGolden + "/policy.json", kGolden + "/policy.p256.dsse"});
    EXPECT_EQ(r.rc, Exit::Ok) << r.out << r.err;
    EXPECT_EQ(r.out, "");
    r = vouchctl({"policy", "diff", "--keys", kTrusted, kGolden + "/policy.ed25519.dsse",
                  kGolden + "/policy.p256.dsse"});
    EXPECT_EQ(r.rc, Exit::Ok) << r.out << r.err;
    r = vouchctl({"policy", "diff", "--json", kHere + "/a.json", kHere + "/a.json"});
    EXPECT_EQ(r.rc, Exit::Ok);
    EXPECT_TRUE(contains(r.out, "\"equal\": true")) << r.out;
}

TEST(VouchctlPolicyDiff, TroubleIsNotOne) {
    auto r = vouchctl({"policy", "diff", kHere + "/a.json", kHere + "/missing.json"});
    EXPECT_EQ(r.rc, Exit::BadInput);
    EXPECT_TRUE(contains(r.err, "missing.json")) << r.err;
    r = vouchctl({"policy", "diff", "--keys", kTrusted, kHere + "/a.json", kHere + "/b.json"});
    EXPECT_EQ(r.rc, Exit::BadInput) << "--keys wants envelopes";
    r = vouchctl({"policy", "diff", kHere + "/a.json"});
    EXPECT_EQ(r.rc, Exit::Usage);
}

TEST(VouchctlPolicyMerge, UnionAboveEverySerialModeFromBase) {
    TempDir dir;
    auto r =
        vouchctl({"policy", "merge", "-o", dir / "m.json", kHere + "/a.json", kHere + "/b.json"});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    auto p = parse_payload(slurp(dir / "m.json"));
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->serial, 44u) << "above b's 43";
    EXPECT_EQ(p->mode, VOUCH_MODE_ENFORCE) << "a's mode";
    EXPECT_EQ(p->excludes, 0u) << "a's excludes";
    // 1..7 content digests, 8 an fs-verity digest.
    EXPECT_EQ(p->digests.size(), 7u);
    EXPECT_EQ(p->verity.size(), 1u);
    auto m = read_document(slurp(dir / "m.json"));
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->digests.at("/usr/bin/env"),
              (std::vector<std::string>{std::string(64, '3'), std::string(64, '4'),
                                        std::string(64, '5')}))
        << "old and new digests of one path";
    // Nothing of either input is lost: diffing each input against the merge
    // removes nothing.
    for (const char *in : {"/a.json", "/b.json"}) {
        auto d = diff(*read_document(slurp(kHere + in)), *m);
        EXPECT_TRUE(d.removed.empty()) << in;
    }

    r = vouchctl({"policy", "merge", "--serial", "43", "--mode", "audit", "-o", dir / "n.json",
                  kHere + "/a.json", kHere + "/b.json"});
    EXPECT_EQ(r.rc, Exit::Failure);
    EXPECT_TRUE(contains(r.err, "not above the highest serial of the inputs, 43")) << r.err;
    r = vouchctl({"policy", "merge", "--serial", "100", "--mode", "audit", "-o", dir / "n.json",
                  kHere + "/a.json", kHere + "/b.json"});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    p = parse_payload(slurp(dir / "n.json"));
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->serial, 100u);
    EXPECT_EQ(p->mode, VOUCH_MODE_AUDIT);
    r = vouchctl({"policy", "merge", kHere + "/a.json"});
    EXPECT_EQ(r.rc, Exit::Usage);
}

TEST(VouchctlPolicyMake, FromKernelLogAsciiAndBinary) {
    TempDir dir;
    for (const char *ext : {"ascii", "bin"}) {
        std::string log = std::string("tests/lib/golden/kernel-6.1-ima.") + ext;
        auto r =
            vouchctl({"policy", "make", "--from-log", "--serial", "9", "-o", dir / "p.json", log});
        ASSERT_EQ(r.rc, Exit::Ok) << r.err;
        EXPECT_TRUE(contains(r.err, "8 entries, 7 distinct digests taken, 1 boot_aggregate "
                                    "taken"))
            << r.err;
        auto d = read_document(slurp(dir / "p.json"));
        ASSERT_TRUE(d.ok()) << d.error().message;
        EXPECT_EQ(d->serial, 9u);
        EXPECT_EQ(d->mode, VOUCH_MODE_AUDIT);
        EXPECT_EQ(d->digests.size(), 8u) << ext;
        EXPECT_EQ(d->digests.at("boot_aggregate"), std::vector<std::string>{kGoldenBootAggregate})
            << "as Keylime's policy tool takes it: bare hex";
        auto p = parse_payload(slurp(dir / "p.json"));
        ASSERT_TRUE(p.ok()) << p.error().message;
        EXPECT_EQ(p->entries, 7u) << "the boot aggregate is not enforced";
        EXPECT_EQ(d->digests.at("/tmp/golden/exec-me"),
                  std::vector<std::string>{
                      "0fa0ac1ccf8b3f739d85df5097e06cf0be537d847d2c93a65d8d5531a926a7df"});
    }
    auto r = vouchctl({"policy", "make", "--from-log", "--dpkg"});
    EXPECT_EQ(r.rc, Exit::Usage);
    r = vouchctl({"policy", "make", "--from-log", "-o", dir / "x.json", kHere + "/a.json"});
    EXPECT_EQ(r.rc, Exit::BadInput) << "a policy is not a log";
}

// The kernel's log with names holding a newline, a tab, control bytes and
// bytes that are not UTF-8: the ASCII form gives the same policy as the binary.
TEST(VouchctlPolicyMake, FromKernelLogWithOddNames) {
    TempDir dir;
    std::vector<PathDigests> made;
    for (const char *ext : {"ascii", "bin"}) {
        auto r = vouchctl({"policy", "make", "--from-log", "--serial", "9", "-o",
                           dir / (std::string("p.") + ext),
                           std::string("tests/lib/golden/kernel-6.1-ima-names.") + ext});
        ASSERT_EQ(r.rc, Exit::Ok) << r.err;
        auto d = read_document(slurp(dir / (std::string("p.") + ext)));
        ASSERT_TRUE(d.ok()) << d.error().message;
        made.push_back(d->digests);
    }
    EXPECT_EQ(made[0], made[1]);
    for (const char *name :
         {"/tmp/golden/nl\nname", "/tmp/golden/tab\tname", "/tmp/golden/ctl\x01\x1b[1mname",
          "/tmp/golden/ends\n", "/tmp/golden/with_space"})
        EXPECT_TRUE(made[0].count(name)) << name;
    // JSON is UTF-8: a name that is not is written as utf8_safe() writes it.
    EXPECT_TRUE(made[0].count("/tmp/golden/bad\\xff\\xfeutf8"));
}

TEST(VouchctlPolicyMake, BootAggregateFromLogOrHex) {
    TempDir dir;
    std::string sha1(40, 'a');
    auto r =
        vouchctl({"policy", "make", "--serial", "5", "--agent", kHere + "/a.json",
                  "--boot-aggregate", kKernelAscii, "--boot-aggregate",
                  std::string("tests/lib/golden/kernel-6.1-ima.bin"), "--boot-aggregate",
                  "sha1:" + sha1, "--boot-aggregate", std::string(64, 'B'), "-o", dir / "p.json"});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    auto d = read_document(slurp(dir / "p.json"));
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_EQ(d->digests.at("boot_aggregate"),
              (std::vector<std::string>{kGoldenBootAggregate, sha1, std::string(64, 'b')}))
        << "binary and ASCII give one value; hex lowercased, prefix dropped";
    auto p = parse_payload(slurp(dir / "p.json"));
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->entries, 1u) << "only the agent is allowed to run";
    EXPECT_EQ(p->boot_aggregates.size(), 3u);

    // A source without a boot_aggregate is refused before anything is done.
    r = vouchctl({"policy", "make", "--boot-aggregate", kHere + "/a.json", "-o", dir / "q.json",
                  kHere + "/a.json"});
    EXPECT_EQ(r.rc, Exit::BadInput);
    EXPECT_TRUE(contains(r.err, "--boot-aggregate " + kHere + "/a.json")) << r.err;
    r = vouchctl({"policy", "make", "--boot-aggregate", std::string(50, 'a'), "-o", dir / "q.json",
                  kHere + "/a.json"});
    EXPECT_EQ(r.rc, Exit::BadInput) << "50 hex digits is no hash, so it is read as a file";
    EXPECT_FALSE(std::filesystem::exists(dir / "q.json"));
    // A kernel without a TPM logs an all-zero boot aggregate: nothing to attest.
    {
        auto e = vouch::ima::make_entry(10, "ima-ng", "sha256", std::vector<uint8_t>(32, 0),
                                        "boot_aggregate");
        auto b = vouch::ima::encode_binary(e);
        std::ofstream(dir / "notpm.bin", std::ios::binary)
            .write(reinterpret_cast<const char *>(b.data()), std::streamsize(b.size()));
    }
    r = vouchctl({"policy", "make", "--boot-aggregate", dir / "notpm.bin", "-o", dir / "q.json",
                  kHere + "/a.json"});
    EXPECT_EQ(r.rc, Exit::BadInput);
    EXPECT_TRUE(contains(r.err, "all zeros: the kernel found no TPM")) << r.err;
}

TEST(VouchctlPolicyMake, FromLogWithBaseKeepsTheBase) {
    TempDir dir;
    auto r = vouchctl({"policy", "make", "--from-log", "--base", kGolden + "/policy.p256.dsse",
                       "--keys", kTrusted, "-o", dir / "p.json", kKernelAscii});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    auto base = read_document(slurp(kGolden + "/policy.json"));
    auto made = read_document(slurp(dir / "p.json"));
    ASSERT_TRUE(made.ok()) << made.error().message;
    EXPECT_EQ(made->serial, 43u) << "the base's serial + 1";
    EXPECT_EQ(made->mode, VOUCH_MODE_ENFORCE) << "the base's mode";
    Diff d = diff(*base, *made);
    EXPECT_TRUE(d.removed.empty());
    ASSERT_EQ(d.added.size(), 8u);
    EXPECT_EQ(d.added[7].kind, "boot_aggregate") << "told apart from what may run";
    auto p = parse_payload(slurp(dir / "p.json"));
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->agents.size(), 1u);
    EXPECT_EQ(p->excludes, 0u);

    r = vouchctl({"policy", "make", "--from-log", "--base", kGolden + "/policy.json", "--serial",
                  "42", "-o", dir / "q.json", kKernelAscii});
    EXPECT_EQ(r.rc, Exit::Failure);
    EXPECT_TRUE(contains(r.err, "--serial 42 is not above the --base policy's serial 42")) << r.err;
    r = vouchctl({"policy", "make", "--from-log", "--base", kGolden + "/policy.json", "--serial",
                  "50", "--mode", "audit", "-o", dir / "q.json", kKernelAscii});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    made = read_document(slurp(dir / "q.json"));
    ASSERT_TRUE(made.ok());
    EXPECT_EQ(made->serial, 50u);
    EXPECT_EQ(made->mode, VOUCH_MODE_AUDIT);
    // --keys refuses a base that is not signed by a trusted key.
    r = vouchctl({"policy", "make", "--from-log", "--base", kGolden + "/policy.json", "--keys",
                  kTrusted, "-o", dir / "r.json", kKernelAscii});
    EXPECT_EQ(r.rc, Exit::BadInput);
}

// The golden enforce payload with Keylime's excludes, as policies signed
// before vouch refused them in enforce mode had it.
std::string enforce_with_excludes(const TempDir &dir) {
    auto j = nlohmann::json::parse(slurp(kGolden + "/policy.json"));
    j["excludes"] = {"/tmp/.*"};
    std::string path = dir / "excl.json";
    spit(path, j.dump());
    return path;
}

// sign refuses what vouchd refuses; verify and show are vouchd's parser too.
TEST(VouchctlPolicySign, RefusesKeylimeExcludesInEnforceMode) {
    TempDir dir;
    std::string excl = enforce_with_excludes(dir);
    auto r =
        vouchctl({"policy", "sign", "--key", kKeys + "/ed25519.key", "-o", dir / "e.dsse", excl});
    EXPECT_EQ(r.rc, Exit::Failure);
    EXPECT_TRUE(contains(r.err, excl + ": policy: enforce mode with 1 Keylime 'excludes' "
                                       "pattern(s): Keylime does not check a file whose path "
                                       "matches one, but vouch would still deny that file"))
        << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "e.dsse"));

    // The same in audit mode signs, verifies and shows the patterns.
    auto j = nlohmann::json::parse(slurp(excl));
    j["meta"]["vouch"]["mode"] = "audit";
    spit(dir / "audit.json", j.dump());
    r = vouchctl({"policy", "sign", "--key", kKeys + "/ed25519.key", "-o", dir / "a.dsse",
                  dir / "audit.json"});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    r = vouchctl({"policy", "verify", "--keys", kTrusted, dir / "a.dsse"});
    EXPECT_EQ(r.rc, Exit::Ok) << r.err;
    r = vouchctl({"policy", "show", "--keys", kTrusted, dir / "a.dsse"});
    EXPECT_EQ(r.rc, Exit::Ok) << r.err;
    EXPECT_TRUE(contains(r.out, "excludes  1 Keylime exclude pattern(s), not applied by vouch"))
        << r.out;

    // An envelope signed elsewhere (or by an older vouchctl) is refused by
    // verify and show as vouchd refuses it.
    auto key = SigningKey::load_file(kKeys + "/ed25519.key");
    ASSERT_TRUE(key.ok());
    auto env = sign_envelope(slurp(excl), *key);
    ASSERT_TRUE(env.ok());
    spit(dir / "old.dsse", *env);
    for (const char *cmd : {"verify", "show"}) {
        r = vouchctl({"policy", cmd, "--keys", kTrusted, dir / "old.dsse"});
        EXPECT_EQ(r.rc, Exit::Failure) << cmd;
        EXPECT_TRUE(contains(r.err, "refused: policy: enforce mode with 1 Keylime 'excludes'"))
            << r.err;
    }
}

// diff reads such a document (to review the change that fixes it) and says
// vouchd would refuse it; make --base and merge never write one.
TEST(VouchctlPolicyMake, BaseWithKeylimeExcludesInEnforceMode) {
    TempDir dir;
    std::string excl = enforce_with_excludes(dir);
    auto r = vouchctl({"policy", "diff", excl, kGolden + "/policy.json"});
    EXPECT_EQ(r.rc, Exit::Differ) << r.err;
    EXPECT_EQ(r.out, "excludes: [\"/tmp/.*\"] -> []\n");
    EXPECT_TRUE(contains(r.err, "note: " + excl +
                                    ": vouchd would refuse it: policy: enforce "
                                    "mode with 1 Keylime 'excludes'"))
        << r.err;

    r = vouchctl(
        {"policy", "make", "--from-log", "--base", excl, "-o", dir / "p.json", kKernelAscii});
    EXPECT_EQ(r.rc, Exit::Failure);
    EXPECT_TRUE(contains(r.err, "not written: vouchd and `policy sign` would refuse it: policy: "
                                "enforce mode with 1 Keylime 'excludes'"))
        << r.err;
    EXPECT_TRUE(contains(r.err, "(its other fields come from --base " + excl + ")")) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "p.json"));

    r = vouchctl({"policy", "make", "--from-log", "--base", excl, "--mode", "audit", "-o",
                  dir / "p.json", kKernelAscii});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    auto p = parse_payload(slurp(dir / "p.json"));
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->mode, VOUCH_MODE_AUDIT);
    EXPECT_EQ(p->excludes, 1u) << "kept for Keylime";
    EXPECT_EQ(p->serial, 43u);

    // merge: BASE's fields, so BASE's excludes; b.json is audit with one.
    r = vouchctl({"policy", "merge", "--mode", "enforce", "-o", dir / "m.json", kHere + "/b.json",
                  kHere + "/a.json"});
    EXPECT_EQ(r.rc, Exit::Failure);
    EXPECT_TRUE(contains(r.err, "(its other fields come from BASE " + kHere + "/b.json)")) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "m.json"));
    r = vouchctl({"policy", "merge", "-o", dir / "m.json", kHere + "/b.json", excl});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    p = parse_payload(slurp(dir / "m.json"));
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->mode, VOUCH_MODE_AUDIT);
    EXPECT_EQ(p->excludes, 1u);
}

} // namespace

namespace {

// make --trust-key writes the key set; sign wants a new key among its keys;
// show names the rotation.
TEST(VouchctlPolicySign, KeyRotationNeedsASignatureByANewKey) {
    TempDir dir;
    const std::string new_pub = kKeys + "/untrusted/untrusted-p256.pem";
    auto r = vouchctl({"policy", "make", "--base", kGolden + "/policy.json", "--trust-key", new_pub,
                       "-o", dir / "rot.json"});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    auto j = nlohmann::json::parse(slurp(dir / "rot.json"));
    ASSERT_EQ(j["meta"]["vouch"]["keys"].size(), 1u);
    EXPECT_EQ(j["meta"]["vouch"]["keys"][0], slurp(new_pub));

    r = vouchctl({"policy", "make", "--base", kGolden + "/policy.json", "--trust-key",
                  kKeys + "/ecdsa-p256.key", "-o", dir / "bad.json"});
    EXPECT_NE(r.rc, Exit::Ok);
    EXPECT_TRUE(contains(r.err, "ecdsa-p256.key")) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "bad.json"));

    r = vouchctl({"policy", "sign", "--key", kKeys + "/ecdsa-p256.key", "-o", dir / "rot.dsse",
                  dir / "rot.json"});
    EXPECT_EQ(r.rc, Exit::Failure);
    EXPECT_TRUE(contains(r.err, "sets the trusted keys (meta.vouch.keys) but no --key is one"))
        << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "rot.dsse"));

    r = vouchctl({"policy", "sign", "--key", kKeys + "/ecdsa-p256.key", "--key",
                  kKeys + "/untrusted-p256.key", "-o", dir / "rot.dsse", dir / "rot.json"});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    EXPECT_EQ(nlohmann::json::parse(slurp(dir / "rot.dsse"))["signatures"].size(), 2u);
    r = vouchctl({"policy", "show", "--keys", kTrusted, dir / "rot.dsse"});
    EXPECT_EQ(r.rc, Exit::Ok) << r.err;
    EXPECT_TRUE(contains(r.out, "keys      sets the trusted keys to 1 key(s)")) << r.out;
}

} // namespace
