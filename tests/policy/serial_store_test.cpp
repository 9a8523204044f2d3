// SPDX-License-Identifier: Apache-2.0
#include "policy/serial_store.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include "tests/policy/helpers.h"

namespace {

using namespace vouch::policy;
using namespace vouch::policy::test;

TEST(PolicySerialStore, FreshStateStartsAtZeroAndCreatesItsDirectory) {
    TempDir dir;
    std::string state = dir / "var/lib/vouch";
    ASSERT_EQ(::mkdir((dir / "var").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((dir / "var/lib").c_str(), 0755), 0);
    auto s = SerialStore::open(state);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->highest(), 0u);
    ASSERT_TRUE(s->commit(5).ok());
    EXPECT_EQ(slurp(state + "/policy-serial"), "5\n");
    struct stat st {};
    ASSERT_EQ(::stat(state.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST(PolicySerialStore, PersistsAndRefusesRollbackNamingBothSerials) {
    TempDir dir;
    {
        auto s = SerialStore::open(dir.path());
        ASSERT_TRUE(s.ok());
        ASSERT_TRUE(s->commit(7).ok());
        ASSERT_TRUE(s->commit(9).ok());
    }
    auto s = SerialStore::open(dir.path());
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->highest(), 9u);
    EXPECT_TRUE(s->check(9).ok()) << "reloading the same policy is not a rollback";
    EXPECT_TRUE(s->check(10).ok());
    auto r = s->check(8);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ESTALE);
    EXPECT_TRUE(contains(r.error().message, "policy serial 8 is lower than 9"))
        << r.error().message;
    EXPECT_TRUE(contains(r.error().message, dir / "policy-serial"));

    auto c = s->commit(3);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code, ESTALE);
    EXPECT_EQ(s->highest(), 9u);
    EXPECT_EQ(slurp(dir / "policy-serial"), "9\n");
}

TEST(PolicySerialStore, HandlesFullRange) {
    TempDir dir;
    auto s = SerialStore::open(dir.path());
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(s->commit(UINT64_MAX).ok());
    auto again = SerialStore::open(dir.path());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->highest(), UINT64_MAX);
}

// A crash between writing the tmp file and the rename leaves the tmp file
// behind; the committed serial must survive it, and the next commit must work.
TEST(PolicySerialStore, CrashMidWriteNeitherLosesNorCorruptsTheSerial) {
    TempDir dir;
    {
        auto s = SerialStore::open(dir.path());
        ASSERT_TRUE(s.ok());
        ASSERT_TRUE(s->commit(12).ok());
    }
    spit(dir / "policy-serial.tmp", "1"); // a torn write of "13\n"... or garbage
    auto s = SerialStore::open(dir.path());
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(s->highest(), 12u);
    EXPECT_FALSE(s->check(11).ok());
    ASSERT_TRUE(s->commit(13).ok());
    EXPECT_EQ(slurp(dir / "policy-serial"), "13\n");
    struct stat st {};
    EXPECT_NE(::stat((dir / "policy-serial.tmp").c_str(), &st), 0) << "tmp renamed away";
}

TEST(PolicySerialStore, CorruptFileIsRefusedNotReset) {
    TempDir dir;
    for (const char *bad : {"", "abc\n", "12x\n", "-1\n", "99999999999999999999999\n"}) {
        spit(dir / "policy-serial", bad);
        auto s = SerialStore::open(dir.path());
        ASSERT_FALSE(s.ok()) << bad;
        EXPECT_EQ(s.error().code, EBADMSG) << bad;
        EXPECT_TRUE(contains(s.error().message, dir / "policy-serial"));
    }
}

// Only a missing file means "never accepted a policy"; any other failure to
// read the state is an error, never a silent reset to 0.
TEST(PolicySerialStore, UnreadableStateIsAnError) {
    TempDir dir;
    spit(dir / "not-a-dir", "x");
    auto s = SerialStore::open(dir / "not-a-dir");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ENOTDIR);
    EXPECT_TRUE(contains(s.error().message, dir / "not-a-dir/policy-serial"));
}

} // namespace
