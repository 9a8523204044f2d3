// SPDX-License-Identifier: Apache-2.0
// vouch's own log records seen by the policy tools and a verifier: policy
// make writes the fixed records' digests into Keylime's "ima-buf"; policy
// keylime adds every envelope's vouch-policy record; Keylime's rule for an
// ima-buf entry, applied here to a log with records, accepts it with that
// policy (and not a record of an envelope it was not given); log verify
// states from which entry each policy was active.
#include <fstream>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "lib/digest.h"
#include "lib/ima_log.h"
#include "lib/measurement_log.h"
#include "lib/tpm.h"
#include "lib/vouch_records.h"
#include "policy/compose.h"
#include "policy/policy.h"
#include "tests/policy/helpers.h"
#include "tests/vouchctl/run.h"
// After run.h, whose ::testing would otherwise resolve to vouch::testing.
#include "tests/lib/swtpm.h"

namespace {

using nlohmann::json;
using vouch::ctl::Exit;
using vouch::ctl::test::vouchctl;
using namespace vouch;
using namespace vouch::policy::test;

const std::string kKernelAscii = "tests/lib/golden/kernel-6.1-ima.ascii";

std::span<const uint8_t> bytes_of(const std::string &s) {
    return {reinterpret_cast<const uint8_t *>(s.data()), s.size()};
}

std::string policy_record(const std::string &envelope) {
    auto d = policy::read_document(envelope);
    EXPECT_TRUE(d.ok());
    return records::policy(d->serial, policy::mode_string(d->mode),
                           sha256_bytes(bytes_of(envelope)));
}

// keylime/ima/ima.py for an ima-buf entry that is neither a key nor a
// device-mapper event: accepted when the runtime policy's "ima-buf" lists
// the entry's d-ng digest under its exact name (vouch never uses excludes
// for them). Returns the names of the entries Keylime would refuse.
std::vector<std::string> keylime_refuses(const std::vector<ima::Entry> &log, const json &rp) {
    std::vector<std::string> refused;
    for (const auto &e : log) {
        if (e.template_name != ima::kImaBuf)
            continue;
        auto sec = rp.find("ima-buf");
        bool ok = false;
        if (sec != rp.end() && sec->contains(e.path)) {
            std::string hex = to_hex(e.file_digest);
            for (const auto &d : (*sec)[e.path])
                ok |= d.get<std::string>() == hex;
        }
        if (!ok)
            refused.push_back(e.path + " " + std::string(e.buf.begin(), e.buf.end()));
    }
    return refused;
}

class Records : public ::testing::Test {
  protected:
    void SetUp() override {
        // Two signed policies of a rollout, serial 7 then 8.
        json p = json::parse(slurp(kGolden + "/policy.json"));
        p["meta"]["vouch"]["serial"] = 7;
        spit(dir / "p7.json", p.dump());
        p["meta"]["vouch"]["serial"] = 8;
        p["digests"]["/usr/bin/new"] = {std::string(64, 'e')};
        spit(dir / "p8.json", p.dump());
        for (const char *n : {"p7", "p8"}) {
            auto r = vouchctl({"policy", "sign", "--key", kKeys + "/ecdsa-p256.key", "-o",
                               dir / (std::string(n) + ".dsse"), dir / (std::string(n) + ".json")});
            ASSERT_EQ(r.rc, Exit::Ok) << r.err;
        }
        env7 = slurp(dir / "p7.dsse");
        env8 = slurp(dir / "p8.dsse");
    }
    TempDir dir;
    std::string env7, env8;
};

TEST(RecordsPolicyMake, WritesTheFixedRecordsIntoImaBuf) {
    TempDir dir;
    auto r = vouchctl(
        {"policy", "make", "--from-log", kKernelAscii, "--serial", "1", "-o", dir / "p.json"});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    json doc = json::parse(slurp(dir / "p.json"));
    for (const auto &[name, content] : records::fixed()) {
        ASSERT_TRUE(doc["ima-buf"].contains(name)) << name;
        std::vector<std::string> list = doc["ima-buf"][name];
        EXPECT_NE(std::find(list.begin(), list.end(), records::digest_hex(content)), list.end())
            << name << " " << content;
    }
    EXPECT_EQ(doc["ima-buf"]["vouch-measure-start"].size(), 2u) << "both stages";
    // Still a policy vouchd takes, and one policy diff calls equal to itself.
    EXPECT_TRUE(policy::parse_payload(slurp(dir / "p.json")).ok());
}

TEST(RecordsPolicyMake, BaseKeepsItsImaBufAndGainsTheRecords) {
    TempDir dir;
    json p = json::parse(slurp(kGolden + "/policy.json"));
    p["meta"]["vouch"]["mode"] = "audit";
    p["ima-buf"] = {{"kernel_version", {std::string(64, 'a')}}};
    spit(dir / "base.json", p.dump());
    auto r = vouchctl({"policy", "make", "--from-log", kKernelAscii, "--base", dir / "base.json",
                       "-o", dir / "p.json"});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    json doc = json::parse(slurp(dir / "p.json"));
    EXPECT_EQ(doc["ima-buf"]["kernel_version"], json::array({std::string(64, 'a')}));
    EXPECT_TRUE(doc["ima-buf"].contains("vouchd-start"));
    // merge unions ima-buf too.
    p["ima-buf"] = {{"other", {std::string(64, 'b')}}};
    spit(dir / "other.json", p.dump());
    r = vouchctl({"policy", "merge", "-o", dir / "m.json", dir / "p.json", dir / "other.json"});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    doc = json::parse(slurp(dir / "m.json"));
    EXPECT_TRUE(doc["ima-buf"].contains("kernel_version"));
    EXPECT_TRUE(doc["ima-buf"].contains("other"));
}

TEST(RecordsPolicyParse, RefusesAnImaBufThatIsNotListsOfStrings) {
    json p = json::parse(slurp(kGolden + "/policy.json"));
    p["ima-buf"] = {{"vouchd-start", "not a list"}};
    auto r = policy::parse_payload(p.dump());
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(contains(r.error().message, "'ima-buf' entry 'vouchd-start'")) << r.error().message;
}

TEST(RecordsPolicyMake, FromLogSkipsImaBufEntries) {
    TempDir dir;
    std::string log;
    for (const auto &[name, content] : records::fixed()) {
        auto b = ima::encode_binary(records::entry(10, name, content));
        log.append(b.begin(), b.end());
    }
    auto f = ima::encode_binary(
        ima::make_entry(10, "ima-ng", "sha256", std::vector<uint8_t>(32, 0x11), "/usr/bin/x"));
    log.append(f.begin(), f.end());
    spit(dir / "log", log);
    auto r = vouchctl(
        {"policy", "make", "--from-log", dir / "log", "--serial", "1", "-o", dir / "p.json"});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    json doc = json::parse(slurp(dir / "p.json"));
    EXPECT_EQ(doc["digests"].size(), 1u) << doc["digests"].dump();
    EXPECT_TRUE(contains(r.err, "4 ima-buf entries")) << r.err;
}

TEST_F(Records, KeylimePolicyIsTheNewestPayloadWithEveryEnvelopesRecord) {
    auto r = vouchctl({"policy", "keylime", "--keys", kTrusted, "-o", dir / "rp.json",
                       dir / "p8.dsse", dir / "p7.dsse"});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    json rp = json::parse(slurp(dir / "rp.json"));
    EXPECT_EQ(rp["meta"]["vouch"]["serial"], 8);
    EXPECT_TRUE(rp["digests"].contains("/usr/bin/new"));
    std::vector<std::string> pol = rp["ima-buf"]["vouch-policy"];
    std::sort(pol.begin(), pol.end());
    std::vector<std::string> want = {records::digest_hex(policy_record(env7)),
                                     records::digest_hex(policy_record(env8))};
    std::sort(want.begin(), want.end());
    EXPECT_EQ(pol, want);
    for (const auto &[name, content] : records::fixed())
        EXPECT_TRUE(rp["ima-buf"].contains(name)) << name;
    EXPECT_TRUE(contains(r.err, "p8.dsse (serial 8")) << r.err;
}

TEST_F(Records, KeylimeRefusesWhatIsNotAnEnvelope) {
    auto r = vouchctl({"policy", "keylime", dir / "p8.dsse", dir / "p7.json"});
    EXPECT_EQ(r.rc, Exit::BadInput);
    EXPECT_TRUE(contains(r.err, "p7.json: not a DSSE envelope")) << r.err;
    r = vouchctl({"policy", "keylime", dir / "missing.dsse"});
    EXPECT_EQ(r.rc, Exit::BadInput);
    EXPECT_TRUE(contains(r.err, "missing.dsse")) << r.err;
    r = vouchctl({"policy", "keylime"});
    EXPECT_EQ(r.rc, Exit::Usage);
    // With --keys an envelope must verify.
    r = vouchctl({"policy", "keylime", "--keys", kKeys + "/untrusted", dir / "p8.dsse"});
    EXPECT_EQ(r.rc, Exit::BadInput) << r.err;
}

// A machine's log across a rollout: started on serial 7, restarted, moved to
// 8, stopped. Keylime's rule accepts every record with `policy keylime`'s
// output; without p7.dsse the serial 7 record is refused.
TEST_F(Records, KeylimeRuleAcceptsALogWithRecords) {
    std::vector<ima::Entry> log = {
        records::entry(10, records::kMeasureStart, records::measure_start("initramfs")),
        records::entry(10, records::kVouchdStart, records::vouchd_start()),
        records::entry(10, records::kPolicy, policy_record(env7)),
        ima::make_entry(10, "ima-ng", "sha256", std::vector<uint8_t>(32, 0x11), "/usr/bin/x"),
        records::entry(10, records::kVouchdStop, records::vouchd_stop()),
        records::entry(10, records::kVouchdStart, records::vouchd_start()),
        records::entry(10, records::kPolicy, policy_record(env7)),
        records::entry(10, records::kPolicy, policy_record(env8)),
    };
    // Through the log files, as a verifier reads them.
    std::string bin;
    for (const auto &e : log) {
        auto b = ima::encode_binary(e);
        bin.append(b.begin(), b.end());
    }
    auto parsed = ima::parse_binary(bytes_of(bin));
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;

    auto r =
        vouchctl({"policy", "keylime", "-o", dir / "rp.json", dir / "p7.dsse", dir / "p8.dsse"});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    auto refused = keylime_refuses(*parsed, json::parse(slurp(dir / "rp.json")));
    EXPECT_TRUE(refused.empty()) << refused.front();

    r = vouchctl({"policy", "keylime", "-o", dir / "rp8.json", dir / "p8.dsse"});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    refused = keylime_refuses(*parsed, json::parse(slurp(dir / "rp8.json")));
    ASSERT_EQ(refused.size(), 2u);
    EXPECT_TRUE(contains(refused[0], "vouch-policy serial=7")) << refused[0];
    // A policy without the section (made before records existed) refuses all.
    json bare = json::parse(slurp(dir / "p8.json"));
    bare.erase("ima-buf");
    EXPECT_EQ(keylime_refuses(*parsed, bare).size(), 7u);
}

// log verify against a TPM that holds the log: the records' statements.
TEST_F(Records, LogVerifyStatesFromWhichEntryEachPolicyWasActive) {
    vouch::testing::Swtpm swtpm;
    std::string why = swtpm.start();
    ASSERT_TRUE(why.empty()) << why;
    auto tpm = Tpm::open(swtpm.tcti());
    ASSERT_TRUE(tpm.ok()) << tpm.error().message;
    auto banks = (*tpm)->allocated_banks(10);
    ASSERT_TRUE(banks.ok());
    auto log = MeasurementLog::open(dir / "log");
    ASSERT_TRUE(log.ok()) << log.error().message;
    std::vector<ima::Entry> entries = {
        records::entry(10, records::kMeasureStart, records::measure_start("vouchd")),
        records::entry(10, records::kVouchdStart, records::vouchd_start()),
        ima::make_entry(10, "ima-ng", "sha256", std::vector<uint8_t>(32, 0x11), "/usr/bin/x"),
        records::entry(10, records::kPolicy, policy_record(env7)),
        ima::make_entry(10, "ima-ng", "sha256", std::vector<uint8_t>(32, 0x22), "/usr/bin/y"),
        records::entry(10, records::kPolicy, policy_record(env8)),
        records::entry(10, records::kVouchdStop, records::vouchd_stop()),
    };
    for (const auto &e : entries) {
        ASSERT_TRUE(log->append(e, false).ok());
        std::vector<BankDigest> d;
        for (uint16_t b : *banks)
            if (const char *md = bank_md_name(b))
                d.push_back({b, ima::bank_template_hash(e, md)});
        ASSERT_TRUE((*tpm)->extend(10, d).ok());
    }
    auto r = vouchctl({"log", "verify", "--file", log->binary_path(), "--tcti", swtpm.tcti()});
    ASSERT_EQ(r.rc, Exit::Ok) << r.out << r.err;
    Sha256 e7 = sha256_bytes(bytes_of(env7)), e8 = sha256_bytes(bytes_of(env8));
    EXPECT_TRUE(contains(r.out, "log verified: 7 entries on PCR 10")) << r.out;
    EXPECT_TRUE(contains(r.out, "entry 0: measuring started (stage=vouchd)\n")) << r.out;
    EXPECT_TRUE(contains(r.out, "entry 1: vouchd started\n")) << r.out;
    EXPECT_TRUE(contains(r.out, "policy serial 7 (enforce) active from entry 3 (envelope sha256:" +
                                    to_hex(e7) + ")\n"))
        << r.out;
    EXPECT_TRUE(contains(r.out, "policy serial 8 (enforce) active from entry 5 (envelope sha256:" +
                                    to_hex(e8) + ")\n"))
        << r.out;
    EXPECT_TRUE(contains(r.out, "entry 6: vouchd stopped\n")) << r.out;

    // --envelope: the last policy activated must be that envelope.
    r = vouchctl({"log", "verify", "--file", log->binary_path(), "--tcti", swtpm.tcti(),
                  "--envelope", dir / "p8.dsse"});
    EXPECT_EQ(r.rc, Exit::Ok) << r.out << r.err;
    EXPECT_TRUE(contains(r.out, "p8.dsse is the last policy activated (entry 5)\n")) << r.out;
    r = vouchctl({"log", "verify", "--file", log->binary_path(), "--tcti", swtpm.tcti(),
                  "--envelope", dir / "p7.dsse"});
    EXPECT_EQ(r.rc, Exit::Failure) << r.out << r.err;
    EXPECT_TRUE(contains(r.out, "is not the last policy activated: entry 5 names envelope "
                                "sha256:" +
                                    to_hex(e8)))
        << r.out;
    r = vouchctl({"log", "verify", "--file", log->binary_path(), "--tcti", swtpm.tcti(),
                  "--envelope", dir / "missing.dsse"});
    EXPECT_EQ(r.rc, Exit::BadInput) << r.out << r.err;

    // The same statements as JSON.
    r = vouchctl({"log", "verify", "--json", "--file", log->binary_path(), "--tcti", swtpm.tcti(),
                  "--envelope", dir / "p7.dsse"});
    EXPECT_EQ(r.rc, Exit::Failure) << r.out << r.err;
    json v = json::parse(r.out, nullptr, false);
    ASSERT_FALSE(v.is_discarded()) << r.out;
    EXPECT_EQ(v["entries"], 7);
    ASSERT_EQ(v["records"].size(), 5u) << r.out;
    EXPECT_EQ(v["records"][0]["record"], "measure-start");
    EXPECT_EQ(v["records"][0]["detail"], "stage=vouchd");
    EXPECT_EQ(v["records"][2]["record"], "policy");
    EXPECT_EQ(v["records"][2]["entry"], 3);
    EXPECT_EQ(v["records"][2]["serial"], "7");
    EXPECT_EQ(v["records"][3]["envelope"], "sha256:" + to_hex(e8));
    EXPECT_EQ(v["records"][4]["record"], "vouchd-stop");
    EXPECT_EQ(v["envelope"]["last_activated"], false);
    EXPECT_EQ(v["envelope"]["last_policy_entry"], 5);
    // The log replays; only the envelope check failed.
    EXPECT_EQ(v["verified"], false);
    for (const auto &b : v["banks"])
        EXPECT_EQ(b["replays"], true) << b.dump();

    // `log` prints the records' buffers: hex as the kernel does (not a
    // terminal here), text in --json.
    r = vouchctl({"log", "--file", log->binary_path()});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    EXPECT_TRUE(contains(r.out, " ima-buf sha256:" + records::digest_hex("start") +
                                    " vouchd-start 7374617274\n"))
        << r.out;
    r = vouchctl({"log", "--json", "--file", log->binary_path()});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    json j = json::parse(r.out);
    EXPECT_EQ(j[6]["path"], "vouchd-stop");
    EXPECT_EQ(j[6]["buffer"], "stop");
    EXPECT_EQ(j[6]["buffer_hex"], "73746f70");
}

} // namespace
