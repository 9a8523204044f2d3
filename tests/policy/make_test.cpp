// SPDX-License-Identifier: Apache-2.0
#include "policy/make.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <sstream>

#include "tests/policy/helpers.h"

namespace {

using namespace vouch::policy;
using namespace vouch::policy::test;

// path -> hex, from `sha256sum` over the same files.
std::map<std::string, std::string> sha256sum(const std::vector<std::string> &files) {
    std::string cmd = "sha256sum";
    for (const auto &f : files)
        cmd += " '" + f + "'";
    int st = 0;
    std::string out = run(cmd, &st);
    EXPECT_EQ(st, 0);
    std::map<std::string, std::string> m;
    std::istringstream in(out);
    std::string hex, path;
    while (in >> hex >> path)
        m[path] = hex;
    return m;
}

TEST(PolicyMake, DigestsEqualSha256sum) {
    TempDir dir;
    auto real = [&](const std::string &p) {
        char *r = ::realpath(p.c_str(), nullptr);
        std::string s = r ? r : "";
        std::free(r);
        return s;
    };
    std::string root = real(dir.path());
    ASSERT_EQ(::mkdir((root + "/sub").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((root + "/sub/deeper").c_str(), 0755), 0);
    spit(root + "/empty", "");
    spit(root + "/small", "hello\n");
    std::string big(3 << 20, '\0');
    for (size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<char>(i * 131 + (i >> 9));
    spit(root + "/sub/big", big);
    spit(root + "/sub/deeper/x", "x");
    ASSERT_EQ(::symlink("small", (root + "/link").c_str()), 0);
    ASSERT_EQ(::mkfifo((root + "/fifo").c_str(), 0600), 0);

    auto c = collect_files({root});
    EXPECT_TRUE(c.errors.empty());
    std::vector<std::string> expect = {root + "/empty", root + "/small", root + "/sub/big",
                                       root + "/sub/deeper/x"};
    EXPECT_EQ(c.files, expect) << "regular files only: no symlink, no fifo";

    auto hashed = hash_files(c.files, 3);
    auto ref = sha256sum(expect);
    ASSERT_EQ(hashed.size(), expect.size());
    for (const auto &h : hashed) {
        ASSERT_TRUE(h.digest.ok()) << h.digest.error().message;
        EXPECT_EQ(vouch::to_hex(*h.digest), ref[h.path]) << h.path;
    }
}

TEST(PolicyMake, ExplicitSymlinkIsResolvedAndMissingPathReported) {
    TempDir dir;
    spit(dir / "target", "t");
    ASSERT_EQ(::symlink((dir / "target").c_str(), (dir / "alias").c_str()), 0);
    auto c = collect_files({dir / "alias", dir / "target", dir / "missing"});
    ASSERT_EQ(c.files.size(), 1u) << "one file under two names";
    char *r = ::realpath((dir / "target").c_str(), nullptr);
    EXPECT_EQ(c.files[0], r);
    std::free(r);
    ASSERT_EQ(c.errors.size(), 1u);
    EXPECT_TRUE(contains(c.errors[0], dir / "missing"));
}

TEST(PolicyMake, UnreadableFileIsAnErrorForThatFileOnly) {
    TempDir dir;
    spit(dir / "ok", "ok");
    auto hashed = hash_files({dir / "ok", dir / "gone"}, 2);
    ASSERT_EQ(hashed.size(), 2u);
    EXPECT_TRUE(hashed[0].digest.ok());
    ASSERT_FALSE(hashed[1].digest.ok());
    EXPECT_EQ(hashed[1].digest.error().code, ENOENT);
}

TEST(PolicyMake, ReportsProgressOnLongRuns) {
    TempDir dir;
    std::vector<std::string> files;
    for (int i = 0; i < 40; ++i) {
        files.push_back(dir / std::to_string(i));
        spit(files.back(), std::string(1 << 20, static_cast<char>(i)));
    }
    size_t calls = 0;
    Progress last{};
    hash_files(
        files, 1,
        [&](const Progress &p) {
            ++calls;
            last = p;
        },
        1);
    EXPECT_GT(calls, 0u);
    EXPECT_EQ(last.files_total, 40u);
    EXPECT_LE(last.files_done, 40u);
}

TEST(PolicyMake, DpkgListsResolveToRegularFiles) {
    TempDir dir;
    TempDir info;
    spit(dir / "bin-file", "b");
    ASSERT_EQ(::mkdir((dir / "d").c_str(), 0755), 0);
    ASSERT_EQ(::symlink("bin-file", (dir / "l").c_str()), 0);
    spit(info / "pkg.list", "/.\n" + dir.path() + "/d\n" + dir / "bin-file" + "\n" + dir / "l" +
                                "\n" + dir / "removed" + "\n");
    spit(info / "pkg.md5sums", dir / "not-a-list\n");
    auto c = collect_dpkg_files(info.path());
    ASSERT_TRUE(c.ok()) << c.error().message;
    char *r = ::realpath((dir / "bin-file").c_str(), nullptr);
    EXPECT_EQ(c->files, std::vector<std::string>{r});
    std::free(r);

    TempDir none;
    auto e = collect_dpkg_files(none.path());
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().code, ENOENT);
}

} // namespace
