// SPDX-License-Identifier: Apache-2.0
// The policy serial's floor in a TPM NV index (vouchd/nv_serial.h) against a
// real swtpm: defined when absent, verified before it is trusted, refused
// (and left alone) when it is not vouch's, unavailable with the reason when
// the owner has a password and no index is defined.
#include "vouchd/nv_serial.h"
#include "tests/lib/swtpm.h"

#include <sys/wait.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

using vouch::NvSerial;
using vouch::Tpm;
using vouch::testing::Swtpm;

int shell(const std::string &cmd, std::string *out = nullptr) {
    FILE *p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (!p)
        return -1;
    char buf[512];
    size_t n;
    std::string o;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0)
        o.append(buf, n);
    if (out)
        *out = o;
    int st = ::pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

class NvSerialTest : public ::testing::Test {
  protected:
    void SetUp() override {
        setenv("TSS2_LOG", "all+none", 0);
        ASSERT_EQ(swtpm_.start(), "");
    }
    std::unique_ptr<Tpm> tpm() {
        auto t = Tpm::open(swtpm_.tcti());
        EXPECT_TRUE(t.ok());
        return t ? std::move(*t) : nullptr;
    }
    Swtpm swtpm_;
};

TEST_F(NvSerialTest, DefinedOnFirstUseRaisedNeverLowered) {
    NvSerial nv;
    nv.connect(swtpm_.tcti());
    ASSERT_TRUE(nv.active()) << nv.why();
    EXPECT_EQ(nv.serial(), 0u);
    EXPECT_EQ(nv.report(),
              "tpm-nv 0x013a5e12 serial 0, owner password not set: root can reset the index");
    auto pub = tpm()->nv_read_public(vouch::kNvSerialIndex);
    ASSERT_TRUE(pub.ok());
    EXPECT_EQ(pub->size, 8);
    EXPECT_EQ(pub->attributes & ~vouch::kTpmaNvStateBits, vouch::kNvSerialAttributes);

    ASSERT_TRUE(nv.raise(5).ok());
    auto bytes = tpm()->nv_read(vouch::kNvSerialIndex, 8);
    ASSERT_TRUE(bytes.ok());
    EXPECT_EQ(*bytes, std::vector<uint8_t>({0, 0, 0, 0, 0, 0, 0, 5}));
    ASSERT_TRUE(nv.raise(4).ok());
    EXPECT_EQ(nv.serial(), 5u);
    EXPECT_TRUE(nv.check(5).ok());
    EXPECT_TRUE(nv.check(6).ok());
    auto old = nv.check(3);
    ASSERT_FALSE(old.ok());
    EXPECT_EQ(old.error().code, ESTALE);
    EXPECT_EQ(old.error().message,
              "policy serial 3 is older than serial 5 recorded in TPM NV index 0x013a5e12: "
              "rolled back?");

    // A restarted vouchd finds it again.
    NvSerial again;
    again.connect(swtpm_.tcti());
    ASSERT_TRUE(again.active()) << again.why();
    EXPECT_EQ(again.serial(), 5u);
    ASSERT_TRUE(again.raise(0x0102030405060708ull).ok());
    bytes = tpm()->nv_read(vouch::kNvSerialIndex, 8);
    EXPECT_EQ(*bytes, std::vector<uint8_t>({1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST_F(NvSerialTest, SomeoneElsesIndexIsReportedNotOverwritten) {
    ASSERT_TRUE(
        tpm()
            ->nv_define(vouch::kNvSerialIndex, 16, vouch::kTpmaNvAuthRead | vouch::kTpmaNvAuthWrite)
            .ok());
    NvSerial nv;
    nv.connect(swtpm_.tcti());
    EXPECT_EQ(nv.state(), NvSerial::State::Unavailable);
    EXPECT_FALSE(nv.retry());
    EXPECT_EQ(nv.report(), "disk only: TPM NV index 0x013a5e12 is defined with size 16, "
                           "attributes authwrite|authread, nameAlg sha256, not vouch's (size 8, "
                           "authwrite|authread|no_da, sha256): not used and not overwritten");
    EXPECT_TRUE(nv.check(0).ok());
    EXPECT_TRUE(nv.raise(9).ok()); // nothing to raise
    auto pub = tpm()->nv_read_public(vouch::kNvSerialIndex);
    ASSERT_TRUE(pub.ok());
    EXPECT_EQ(pub->size, 16);
    EXPECT_FALSE(pub->attributes & vouch::kTpmaNvWritten);
}

TEST_F(NvSerialTest, OwnerPasswordNeedsTheAdministratorsIndex) {
    std::string out;
    ASSERT_EQ(shell("tpm2_changeauth -T '" + swtpm_.tcti() + "' -c o s3cret", &out), 0) << out;
    NvSerial nv;
    nv.connect(swtpm_.tcti());
    EXPECT_EQ(nv.state(), NvSerial::State::Unavailable);
    EXPECT_FALSE(nv.retry());
    EXPECT_EQ(nv.report(),
              "disk only: the TPM's owner hierarchy has a password and TPM NV index 0x013a5e12 "
              "is not defined: define it as the owner (tpm2_nvdefine 0x013a5e12 -C o -P "
              "OWNER_PASSWORD -s 8 -g sha256 -a \"authwrite|authread|no_da\") and restart vouchd");
    EXPECT_EQ(tpm()->nv_read_public(vouch::kNvSerialIndex).error().code, ENOENT);

    // The documented command, as the owner runs it.
    std::string cmd = vouch::nv_define_command("s3cret");
    cmd.insert(std::string("tpm2_nvdefine").size(), " -T '" + swtpm_.tcti() + "'");
    ASSERT_EQ(shell(cmd, &out), 0) << cmd << ": " << out;
    NvSerial again;
    again.connect(swtpm_.tcti());
    ASSERT_TRUE(again.active()) << again.why();
    EXPECT_TRUE(again.owner_auth_set());
    ASSERT_TRUE(again.raise(5).ok());
    EXPECT_EQ(again.report(), "tpm-nv 0x013a5e12 serial 5, owner password set");
}

TEST_F(NvSerialTest, NoTpmIsDiskOnlyAndRetried) {
    NvSerial nv;
    nv.connect("swtpm:path=/nonexistent/vouch-test-sock");
    EXPECT_EQ(nv.state(), NvSerial::State::Unavailable);
    EXPECT_TRUE(nv.retry());
    EXPECT_EQ(nv.report().rfind("disk only: no TPM: ", 0), 0u) << nv.report();
    NvSerial off;
    off.disable("no TPM (tpm = no)");
    EXPECT_EQ(off.report(), "disk only: no TPM (tpm = no)");
    EXPECT_FALSE(off.retry());
}

TEST_F(NvSerialTest, FailedWriteIsReportedAndTheOldValueKept) {
    NvSerial nv;
    nv.connect(swtpm_.tcti());
    ASSERT_TRUE(nv.active());
    ASSERT_TRUE(nv.raise(5).ok());
    // Root resets the index under a running vouchd.
    ASSERT_TRUE(tpm()->nv_undefine(vouch::kNvSerialIndex).ok());
    auto r = nv.raise(7);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ENOENT) << r.error().message;
    EXPECT_EQ(nv.serial(), 5u);
    EXPECT_NE(nv.report().find("serial 5, owner password not set: root can reset the index; "
                               "raising it to 7 failed: "),
              std::string::npos)
        << nv.report();
}

} // namespace
