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
    TempDir admin;
    ASSERT_EQ(::mkdir((admin / "info").c_str(), 0755), 0);
    spit(dir / "bin-file", "b");
    ASSERT_EQ(::mkdir((dir / "d").c_str(), 0755), 0);
    ASSERT_EQ(::symlink("bin-file", (dir / "l").c_str()), 0);
    spit(admin / "info/pkg.list", "/.\n" + dir.path() + "/d\n" + dir / "bin-file" + "\n" +
                                      dir / "l" + "\n" + dir / "removed" + "\n");
    spit(admin / "info/pkg.md5sums", dir / "not-a-list\n");
    auto c = collect_dpkg_files(admin.path());
    ASSERT_TRUE(c.ok()) << c.error().message;
    char *r = ::realpath((dir / "bin-file").c_str(), nullptr);
    EXPECT_EQ(c->files, std::vector<std::string>{r});
    // Listed twice (the file and the symlink to it), owned by pkg both times.
    ASSERT_EQ(c->dpkg.count(r), 1u);
    EXPECT_EQ(c->dpkg.at(r).front().package, "pkg");
    std::free(r);

    TempDir none;
    auto e = collect_dpkg_files(none.path());
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().code, ENOENT);
}

// md5 hex of `data`, as md5sum prints it.
std::string md5_hex(const std::string &data) {
    vouch::Md5 m{};
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), m.data(), &len, EVP_md5(), nullptr);
    return vouch::to_hex(m);
}

// dpkg's md5sums name each file relative to /, without the leading slash.
std::string md5sums_line(const std::string &content, const std::string &path) {
    return md5_hex(content) + "  " + path.substr(1) + "\n";
}

TEST(PolicyMake, DpkgModifiedFilesAreNamedWithTheirPackage) {
    TempDir dir;
    TempDir admin;
    ASSERT_EQ(::mkdir((admin / "info").c_str(), 0755), 0);
    auto real = [&](const std::string &p) {
        char *r = ::realpath(p.c_str(), nullptr);
        std::string s = r ? r : "";
        std::free(r);
        return s;
    };
    spit(dir / "intact", "as shipped\n");
    spit(dir / "edited", "changed by someone\n");
    spit(dir / "conffile", "the admin's\n");
    spit(admin / "info/tools:amd64.list",
         dir / "intact" + "\n" + dir / "edited" + "\n" + dir / "conffile" + "\n");
    // conffile has no md5sums line (dpkg keeps those in its status file).
    spit(admin / "info/tools:amd64.md5sums", md5sums_line("as shipped\n", dir / "intact") +
                                                 md5sums_line("as shipped\n", dir / "edited"));
    auto c = collect_dpkg_files(admin.path());
    ASSERT_TRUE(c.ok()) << c.error().message;
    ASSERT_EQ(c->files.size(), 3u);
    auto hashed = hash_files(c->files, 1, {}, 1000, true);
    for (const auto &h : hashed)
        ASSERT_TRUE(h.md5.has_value()) << h.path;
    auto modified = dpkg_modified(*c, hashed);
    ASSERT_EQ(modified.size(), 1u);
    EXPECT_EQ(modified[0], "tools: " + real(dir / "edited") + " (MD5 expected " +
                               md5_hex("as shipped\n") + ", found " +
                               md5_hex("changed by someone\n") + ")");
    // Without MD5s hashed there is nothing to compare: nothing is reported.
    EXPECT_TRUE(dpkg_modified(*c, hash_files(c->files, 1)).empty());
}

TEST(PolicyMake, DpkgDivertedFilesAreCheckedWhereTheDiversionPutThem) {
    TempDir dir;
    TempDir admin;
    ASSERT_EQ(::mkdir((admin / "info").c_str(), 0755), 0);
    // orig ships /x/tool; diverter moved it to /x/tool.distrib and installs
    // its own /x/tool.
    spit(dir / "tool", "diverter's tool\n");
    spit(dir / "tool.distrib", "orig's tool\n");
    spit(admin / "info/orig.list", dir / "tool" + "\n");
    spit(admin / "info/orig.md5sums", md5sums_line("orig's tool\n", dir / "tool"));
    spit(admin / "info/diverter.list", dir / "tool" + "\n");
    spit(admin / "info/diverter.md5sums", md5sums_line("diverter's tool\n", dir / "tool"));
    spit(admin / "diversions", dir / "tool" + "\n" + dir / "tool.distrib" + "\ndiverter\n");
    auto c = collect_dpkg_files(admin.path());
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->files.size(), 2u);
    EXPECT_TRUE(dpkg_modified(*c, hash_files(c->files, 1, {}, 1000, true)).empty());
    // Without the diversions file, orig's MD5 for /x/tool does not match
    // the diverter's file, but the diverter's does: one owner matching is
    // enough. orig's own file then goes unlisted.
    ASSERT_EQ(::unlink((admin / "diversions").c_str()), 0);
    c = collect_dpkg_files(admin.path());
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->files.size(), 1u);
    EXPECT_TRUE(dpkg_modified(*c, hash_files(c->files, 1, {}, 1000, true)).empty());
}

} // namespace
