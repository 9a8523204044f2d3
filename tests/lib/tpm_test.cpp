// SPDX-License-Identifier: Apache-2.0
// The TPM interface against a real swtpm that each suite starts privately on a
// Unix socket ("swtpm:path=..."): a socket in the suite's own temporary folder
// needs no free port and cannot reach another test's TPM.
#include "lib/tpm.h"
#include "tests/lib/swtpm.h"

#include "lib/digest.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {

using vouch::Tpm;
using vouch::testing::Swtpm;
using Bytes = std::vector<uint8_t>;
using Clock = std::chrono::steady_clock;

// tpm2-tss logs its errors to stderr, and the tests provoke many on purpose;
// the Error messages carry the decoded codes. TSS2_LOG=all+debug still wins.
void quiet_tss() {
    setenv("TSS2_LOG", "all+none", 0);
}

const EVP_MD *md_of(uint16_t alg) {
    switch (alg) {
    case vouch::kTpmAlgSha1:
        return EVP_sha1();
    case vouch::kTpmAlgSha256:
        return EVP_sha256();
    case vouch::kTpmAlgSha384:
        return EVP_sha384();
    case vouch::kTpmAlgSha512:
        return EVP_sha512();
    default:
        return nullptr;
    }
}

Bytes hash(uint16_t alg, const Bytes &data) {
    Bytes out(EVP_MAX_MD_SIZE);
    unsigned int n = 0;
    EVP_Digest(data.data(), data.size(), out.data(), &n, md_of(alg), nullptr);
    out.resize(n);
    return out;
}

Bytes hash(uint16_t alg, const std::string &s) {
    return hash(alg, Bytes(s.begin(), s.end()));
}

// What the TPM computes on extend: new = H(old || digest).
Bytes replay(uint16_t alg, const std::vector<Bytes> &digests) {
    Bytes pcr(vouch::digest_size(alg), 0);
    for (const auto &d : digests) {
        Bytes in = pcr;
        in.insert(in.end(), d.begin(), d.end());
        pcr = hash(alg, in);
    }
    return pcr;
}

// The digest of `label` in every bank given, as one extend's argument.
std::vector<vouch::BankDigest> digests_of(const std::string &label,
                                          const std::vector<uint16_t> &banks) {
    std::vector<vouch::BankDigest> v;
    for (uint16_t b : banks)
        v.emplace_back(b, hash(b, label));
    return v;
}

const std::vector<uint16_t> kSwtpmBanks = {vouch::kTpmAlgSha1, vouch::kTpmAlgSha256,
                                           vouch::kTpmAlgSha384, vouch::kTpmAlgSha512};

// One swtpm for the suite; each test uses PCRs of its own, so none depends on
// another's extends or on the order the tests run in. PCRs 0-15 start at zero
// after TPM2_Startup(CLEAR) (17-22 start at all ones).
class TpmSwtpm : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        quiet_tss();
        swtpm_ = new Swtpm;
        start_error_ = swtpm_->start();
        if (!start_error_.empty())
            return;
        auto t = Tpm::open(swtpm_->tcti());
        if (!t) {
            start_error_ = "open: " + t.error().message;
            return;
        }
        tpm_ = t->release();
    }
    static void TearDownTestSuite() {
        delete tpm_;
        tpm_ = nullptr;
        delete swtpm_;
        swtpm_ = nullptr;
    }
    void SetUp() override { ASSERT_TRUE(start_error_.empty()) << start_error_; }

    void expect_pcr(uint32_t pcr, uint16_t bank, const Bytes &want) {
        auto v = tpm_->read_pcr(pcr, bank);
        ASSERT_TRUE(v.ok()) << v.error().message;
        EXPECT_EQ(vouch::to_hex(*v), vouch::to_hex(want))
            << "PCR " << pcr << " " << vouch::bank_name(bank);
    }

    static Swtpm *swtpm_;
    static Tpm *tpm_;
    static std::string start_error_;
};
Swtpm *TpmSwtpm::swtpm_;
Tpm *TpmSwtpm::tpm_;
std::string TpmSwtpm::start_error_;

TEST(TpmBanks, NamesAndSizes) {
    EXPECT_STREQ(vouch::bank_name(vouch::kTpmAlgSha1), "sha1");
    EXPECT_STREQ(vouch::bank_name(vouch::kTpmAlgSha256), "sha256");
    EXPECT_STREQ(vouch::bank_name(vouch::kTpmAlgSha384), "sha384");
    EXPECT_STREQ(vouch::bank_name(vouch::kTpmAlgSha512), "sha512");
    EXPECT_STREQ(vouch::bank_name(vouch::kTpmAlgSm3_256), "sm3_256");
    EXPECT_STREQ(vouch::bank_name(0x0027), "unknown");
    EXPECT_EQ(vouch::digest_size(vouch::kTpmAlgSha1), 20u);
    EXPECT_EQ(vouch::digest_size(vouch::kTpmAlgSha256), 32u);
    EXPECT_EQ(vouch::digest_size(vouch::kTpmAlgSha384), 48u);
    EXPECT_EQ(vouch::digest_size(vouch::kTpmAlgSha512), 64u);
    EXPECT_EQ(vouch::digest_size(vouch::kTpmAlgSm3_256), 32u);
    EXPECT_EQ(vouch::digest_size(0x0027), 0u);
}

// A swtpm that swtpm_setup did not provision gets libtpms' own manufacturing
// defaults: every bank it implements, all 24 PCRs in each. (swtpm_setup would
// allocate only what --pcr-banks asks for, by default sha256.)
TEST_F(TpmSwtpm, AllocatedBanksOfUnprovisionedSwtpm) {
    for (uint32_t pcr : {0u, 10u, 16u, 23u}) {
        auto banks = tpm_->allocated_banks(pcr);
        ASSERT_TRUE(banks.ok()) << banks.error().message;
        EXPECT_EQ(*banks, kSwtpmBanks) << "PCR " << pcr;
    }
    // A PCR the TPM does not have is in no bank.
    auto none = tpm_->allocated_banks(24);
    ASSERT_TRUE(none.ok()) << none.error().message;
    EXPECT_TRUE(none->empty());
    EXPECT_EQ(tpm_->allocated_banks(32).error().code, EINVAL);
}

TEST_F(TpmSwtpm, ExtendEveryBankMatchesReplay) {
    const uint32_t pcr = 10;
    auto banks = tpm_->allocated_banks(pcr);
    ASSERT_TRUE(banks.ok()) << banks.error().message;
    for (uint16_t b : *banks)
        expect_pcr(pcr, b, Bytes(vouch::digest_size(b), 0));
    const std::vector<std::string> events = {"/usr/bin/true", "/usr/lib/libc.so.6", "boot"};
    for (const auto &e : events) {
        auto r = tpm_->extend(pcr, digests_of(e, *banks));
        ASSERT_TRUE(r.ok()) << r.error().message;
    }
    for (uint16_t b : *banks) {
        std::vector<Bytes> ds;
        for (const auto &e : events)
            ds.push_back(hash(b, e));
        expect_pcr(pcr, b, replay(b, ds));
    }
}

TEST_F(TpmSwtpm, OrderMatters) {
    // The same two extends in both orders, into two PCRs that start equal.
    const uint32_t ab = 11, ba = 12;
    for (auto [pcr, first, second] : {std::tuple{ab, "a", "b"}, std::tuple{ba, "b", "a"}}) {
        ASSERT_TRUE(tpm_->extend(pcr, digests_of(first, kSwtpmBanks)).ok());
        ASSERT_TRUE(tpm_->extend(pcr, digests_of(second, kSwtpmBanks)).ok());
    }
    for (uint16_t b : kSwtpmBanks) {
        Bytes a = hash(b, "a"), bb = hash(b, "b");
        expect_pcr(ab, b, replay(b, {a, bb}));
        expect_pcr(ba, b, replay(b, {bb, a}));
        EXPECT_NE(replay(b, {a, bb}), replay(b, {bb, a}));
    }
}

TEST_F(TpmSwtpm, ExtendOfSomeBanksLeavesTheOthers) {
    const uint32_t pcr = 13;
    ASSERT_TRUE(tpm_->extend(pcr, digests_of("x", {vouch::kTpmAlgSha256})).ok());
    expect_pcr(pcr, vouch::kTpmAlgSha256,
               replay(vouch::kTpmAlgSha256, {hash(vouch::kTpmAlgSha256, "x")}));
    for (uint16_t b : {vouch::kTpmAlgSha1, vouch::kTpmAlgSha384, vouch::kTpmAlgSha512})
        expect_pcr(pcr, b, Bytes(vouch::digest_size(b), 0));
}

TEST_F(TpmSwtpm, BadArgumentsNeverReachTheTpm) {
    const uint32_t pcr = 14;
    auto good = digests_of("y", kSwtpmBanks);
    auto short_digest = good;
    short_digest[1].second.pop_back();
    auto twice = good;
    twice.push_back(good[0]);
    auto unknown = good;
    unknown.emplace_back(0x0027, Bytes(32, 1));
    for (const auto &[why, r] : std::vector<std::pair<std::string, vouch::Result<void>>>{
             {"short digest", tpm_->extend(pcr, short_digest)},
             {"bank twice", tpm_->extend(pcr, twice)},
             {"unknown bank", tpm_->extend(pcr, unknown)},
             {"no digests", tpm_->extend(pcr, {})},
             {"PCR 32", tpm_->extend(32, good)}}) {
        ASSERT_FALSE(r.ok()) << why;
        EXPECT_EQ(r.error().code, EINVAL) << why << ": " << r.error().message;
        EXPECT_FALSE(Tpm::transient(r.error())) << why;
    }
    EXPECT_NE(tpm_->extend(pcr, short_digest).error().message.find("sha256 digest is 31 bytes"),
              std::string::npos);
    for (uint16_t b : kSwtpmBanks)
        expect_pcr(pcr, b, Bytes(vouch::digest_size(b), 0));
}

TEST_F(TpmSwtpm, TpmRefusalIsFatalAndTheConnectionGoesOn) {
    // PCR 24 has an ESAPI handle but no PCR in a PC client TPM.
    auto r = tpm_->extend(24, digests_of("z", kSwtpmBanks));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EPROTO) << r.error().message;
    EXPECT_FALSE(Tpm::transient(r.error()));
    EXPECT_NE(r.error().message.find("PCR_Extend of PCR 24"), std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find(swtpm_->tcti()), std::string::npos) << r.error().message;

    // libtpms implements no SM3, so the TPM rejects that bank outright.
    auto sm3 = tpm_->read_pcr(15, vouch::kTpmAlgSm3_256);
    ASSERT_FALSE(sm3.ok());
    EXPECT_FALSE(Tpm::transient(sm3.error())) << sm3.error().message;
    EXPECT_NE(sm3.error().message.find("sm3_256"), std::string::npos) << sm3.error().message;

    ASSERT_TRUE(tpm_->extend(15, digests_of("z", kSwtpmBanks)).ok());
    expect_pcr(15, vouch::kTpmAlgSha256,
               replay(vouch::kTpmAlgSha256, {hash(vouch::kTpmAlgSha256, "z")}));
}

TEST(TpmUnplugged, KilledSwtpmFailsFastThenReconnects) {
    quiet_tss();
    Swtpm swtpm;
    std::string err = swtpm.start();
    ASSERT_TRUE(err.empty()) << err;
    auto tpm = Tpm::open(swtpm.tcti());
    ASSERT_TRUE(tpm.ok()) << tpm.error().message;
    const uint32_t pcr = 10;
    const uint16_t sha256 = vouch::kTpmAlgSha256;
    ASSERT_TRUE((*tpm)->extend(pcr, digests_of("before", kSwtpmBanks)).ok());

    swtpm.stop();
    for (int i = 0; i < 2; ++i) { // the first drops the connection, the second reconnects
        auto t0 = Clock::now();
        auto r = (*tpm)->extend(pcr, digests_of("while gone", kSwtpmBanks));
        auto took = Clock::now() - t0;
        ASSERT_FALSE(r.ok());
        EXPECT_TRUE(Tpm::transient(r.error())) << r.error().message;
        EXPECT_EQ(r.error().code, EIO) << r.error().message;
        EXPECT_NE(r.error().message.find(swtpm.tcti()), std::string::npos) << r.error().message;
        EXPECT_LT(took, std::chrono::seconds(3));
    }
    auto read = (*tpm)->read_pcr(pcr, sha256);
    ASSERT_FALSE(read.ok());
    EXPECT_TRUE(Tpm::transient(read.error())) << read.error().message;

    // The same Tpm works again once a TPM answers. A restarted swtpm went
    // through TPM2_Startup(CLEAR) like a rebooted machine: the extends made
    // before are gone, which is the caller's to notice.
    err = swtpm.start();
    ASSERT_TRUE(err.empty()) << err;
    auto r = (*tpm)->extend(pcr, digests_of("after", kSwtpmBanks));
    ASSERT_TRUE(r.ok()) << r.error().message;
    auto v = (*tpm)->read_pcr(pcr, sha256);
    ASSERT_TRUE(v.ok()) << v.error().message;
    EXPECT_EQ(*v, replay(sha256, {hash(sha256, "after")}));
}

void expect_open_fails_naming(const std::string &tcti) {
    quiet_tss();
    auto t0 = Clock::now();
    auto t = Tpm::open(tcti);
    ASSERT_FALSE(t.ok()) << tcti;
    EXPECT_LT(Clock::now() - t0, std::chrono::seconds(3));
    EXPECT_EQ(t.error().code, ENODEV) << t.error().message;
    EXPECT_FALSE(Tpm::transient(t.error()));
    EXPECT_NE(t.error().message.find("\"" + tcti + "\""), std::string::npos) << t.error().message;
}

TEST(TpmOpen, MissingDeviceNamesTheTcti) {
    expect_open_fails_naming("device:/nonexistent/tpmrm0");
}

TEST(TpmOpen, NoSwtpmListeningNamesTheTcti) {
    expect_open_fails_naming("swtpm:path=/nonexistent/vouch-swtpm.sock");
}

TEST(TpmOpen, UnknownTctiNamesIt) {
    expect_open_fails_naming("vouch-no-such-tcti:x");
}

TEST(TpmOpen, DefaultDeviceWhenAbsent) {
    if (std::filesystem::exists("/dev/tpmrm0"))
        GTEST_SKIP() << "this machine has /dev/tpmrm0";
    expect_open_fails_naming(Tpm::kDefaultTcti);
}

} // namespace

namespace {

// tpm2-tools against the test's swtpm, as an administrator would run them:
// exit status and output.
std::pair<int, std::string> tpm2_tool(const std::string &tcti, std::vector<std::string> args) {
    args.insert(args.begin() + 1, {"-T", tcti});
    std::string cmd;
    for (const auto &a : args)
        cmd += "'" + a + "' ";
    cmd += "2>&1";
    FILE *p = ::popen(cmd.c_str(), "r");
    if (!p)
        return {-1, "popen failed"};
    std::string out;
    char buf[512];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0)
        out.append(buf, n);
    int st = ::pclose(p);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

constexpr uint32_t kIndex = 0x01300001;
constexpr uint32_t kAttrs = vouch::kTpmaNvAuthRead | vouch::kTpmaNvAuthWrite | vouch::kTpmaNvNoDa;

// NV tests change the TPM's owner state: each gets a fresh swtpm.
class TpmNv : public ::testing::Test {
  protected:
    void SetUp() override {
        quiet_tss();
        std::string why = swtpm_.start();
        ASSERT_EQ(why, "");
        auto t = Tpm::open(swtpm_.tcti());
        ASSERT_TRUE(t.ok()) << t.error().message;
        tpm_ = std::move(*t);
    }
    Swtpm swtpm_;
    std::unique_ptr<Tpm> tpm_;
};

TEST_F(TpmNv, DefineReadPublicWriteRead) {
    auto none = tpm_->nv_read_public(kIndex);
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(none.error().code, ENOENT) << none.error().message;
    EXPECT_NE(none.error().message.find("0x01300001"), std::string::npos) << none.error().message;

    ASSERT_TRUE(tpm_->nv_define(kIndex, 8, kAttrs).ok());
    auto again = tpm_->nv_define(kIndex, 8, kAttrs);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code, EEXIST) << again.error().message;

    auto pub = tpm_->nv_read_public(kIndex);
    ASSERT_TRUE(pub.ok()) << pub.error().message;
    EXPECT_EQ(pub->index, kIndex);
    EXPECT_EQ(pub->size, 8);
    EXPECT_EQ(pub->name_alg, vouch::kTpmAlgSha256);
    EXPECT_EQ(pub->attributes, kAttrs); // not written yet

    auto unwritten = tpm_->nv_read(kIndex, 8);
    ASSERT_FALSE(unwritten.ok());
    EXPECT_EQ(unwritten.error().code, ENODATA) << unwritten.error().message;

    Bytes v = {0, 0, 0, 0, 0, 0, 0x01, 0x05};
    ASSERT_TRUE(tpm_->nv_write(kIndex, v).ok());
    auto got = tpm_->nv_read(kIndex, 8);
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(*got, v);
    pub = tpm_->nv_read_public(kIndex);
    ASSERT_TRUE(pub.ok());
    EXPECT_EQ(pub->attributes, kAttrs | vouch::kTpmaNvWritten);

    // Another connection (a restarted vouchd) reads the same.
    auto other = Tpm::open(swtpm_.tcti());
    ASSERT_TRUE(other.ok());
    got = (*other)->nv_read(kIndex, 8);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, v);

    // What the TPM stores is what tpm2-tools reads (big-endian as written).
    auto [rc, out] = tpm2_tool(swtpm_.tcti(), {"tpm2_nvread", "0x01300001", "-s", "8"});
    ASSERT_EQ(rc, 0) << out;
    EXPECT_EQ(Bytes(out.begin(), out.end()), v);

    ASSERT_TRUE(tpm_->nv_undefine(kIndex).ok());
    EXPECT_EQ(tpm_->nv_read_public(kIndex).error().code, ENOENT);
}

TEST_F(TpmNv, BadArgumentsNeverReachTheTpm) {
    EXPECT_EQ(tpm_->nv_define(0x81000001, 8, kAttrs).error().code, EINVAL);
    EXPECT_EQ(tpm_->nv_define(kIndex, 8, kAttrs | vouch::kTpmaNvWritten).error().code, EINVAL);
    EXPECT_EQ(tpm_->nv_write(kIndex, {}).error().code, EINVAL);
    EXPECT_EQ(tpm_->nv_read(kIndex, 0).error().code, EINVAL);
    EXPECT_EQ(tpm_->nv_read_public(kIndex).error().code, ENOENT);
}

TEST_F(TpmNv, OwnerPasswordRefusesDefineClearly) {
    auto set = tpm_->owner_auth_set();
    ASSERT_TRUE(set.ok()) << set.error().message;
    EXPECT_FALSE(*set);
    auto [rc, out] = tpm2_tool(swtpm_.tcti(), {"tpm2_changeauth", "-c", "o", "s3cret"});
    ASSERT_EQ(rc, 0) << out;
    set = tpm_->owner_auth_set();
    ASSERT_TRUE(set.ok()) << set.error().message;
    EXPECT_TRUE(*set);
    auto d = tpm_->nv_define(kIndex, 8, kAttrs);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code, EACCES) << d.error().message;
    EXPECT_NE(d.error().message.find("NV_DefineSpace of 0x01300001"), std::string::npos)
        << d.error().message;
    // Without the password nothing was defined; with it, the owner can.
    EXPECT_EQ(tpm_->nv_read_public(kIndex).error().code, ENOENT);
    std::tie(rc, out) =
        tpm2_tool(swtpm_.tcti(), {"tpm2_nvdefine", "0x01300001", "-C", "o", "-P", "s3cret", "-s",
                                  "8", "-a", "authread|authwrite|no_da"});
    ASSERT_EQ(rc, 0) << out;
    auto pub = tpm_->nv_read_public(kIndex);
    ASSERT_TRUE(pub.ok()) << pub.error().message;
    EXPECT_EQ(pub->attributes, kAttrs);
    // The index's own empty password still reads and writes it.
    ASSERT_TRUE(tpm_->nv_write(kIndex, Bytes(8, 7)).ok());
    EXPECT_EQ(*tpm_->nv_read(kIndex, 8), Bytes(8, 7));
}

} // namespace
