// SPDX-License-Identifier: Apache-2.0
// vouchctl policy make --deb/--rpm/--dpkg, run in-process: packages read
// before installation become policy entries under their installed paths, and
// an installed file edited after installation is refused by name.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>

#include "lib/digest.h"
#include "policy/compose.h"
#include "tests/policy/helpers.h"
#include "tests/vouchctl/run.h"

namespace {

using vouch::ctl::Exit;
using vouch::ctl::test::vouchctl;
using namespace vouch::policy;
using namespace vouch::policy::test;
namespace fs = std::filesystem;

std::string build_deb(const TempDir &dir, const std::string &name, const std::string &version) {
    std::string tree = dir / (name + "-tree");
    fs::create_directories(tree + "/DEBIAN");
    fs::create_directories(tree + "/usr/bin");
    fs::copy_file("/usr/bin/true", tree + "/usr/bin/" + name);
    spit(tree + "/DEBIAN/control", "Package: " + name + "\nVersion: " + version +
                                       "\nArchitecture: amd64\nMaintainer: t <t@example.org>\n"
                                       "Description: t\n");
    std::string deb = dir / (name + "_" + version + "_amd64.deb");
    int st = 0;
    run("dpkg-deb --root-owner-group --build '" + tree + "' '" + deb + "' >/dev/null 2>&1", &st);
    EXPECT_EQ(st, 0);
    return deb;
}

TEST(VouchctlPolicyMake, DebListsPackagedFilesUnderInstalledPaths) {
    TempDir dir;
    std::string a = build_deb(dir, "vt-one", "1.0"), b = build_deb(dir, "vt-two", "2.0");
    auto r = vouchctl({"policy", "make", "--deb", "--serial", "5", "-o", dir / "p.json", a, b});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    EXPECT_TRUE(contains(r.err, "2 packages read (2 files)")) << r.err;
    auto d = read_document(slurp(dir / "p.json"));
    ASSERT_TRUE(d.ok()) << d.error().message;
    std::string want = vouch::to_hex(*vouch::sha256_file("/usr/bin/true"));
    EXPECT_EQ(d->digests.at("/usr/bin/vt-one"), std::vector<std::string>{want});
    EXPECT_EQ(d->digests.at("/usr/bin/vt-two"), std::vector<std::string>{want});
    EXPECT_EQ(d->digests.size(), 2u);

    // The upgrade path: extend the active policy, serial above it.
    r = vouchctl({"policy", "make", "--deb", "--base", dir / "p.json", "-o", dir / "q.json", a});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    d = read_document(slurp(dir / "q.json"));
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->serial, 6u);
}

TEST(VouchctlPolicyMake, DebAgentNamesThePackagedFileNotTheDisk) {
    TempDir dir;
    std::string a = build_deb(dir, "vt-agentd", "2.0");
    ASSERT_FALSE(fs::exists("/usr/bin/vt-agentd"));
    auto r = vouchctl(
        {"policy", "make", "--deb", "--agent", "/usr/bin/vt-agentd", "-o", dir / "p.json", a});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    auto d = read_document(slurp(dir / "p.json"));
    ASSERT_TRUE(d.ok()) << d.error().message;
    std::string want = vouch::to_hex(*vouch::sha256_file("/usr/bin/true"));
    EXPECT_EQ(d->agents.at("/usr/bin/vt-agentd"), std::vector<std::string>{want});
    EXPECT_EQ(d->digests.at("/usr/bin/vt-agentd"), std::vector<std::string>{want});
    // An --agent that is in no package is hashed from disk, as without --deb.
    r = vouchctl({"policy", "make", "--deb", "--agent", dir / "missing", "-o", dir / "q.json", a});
    EXPECT_EQ(r.rc, Exit::Failure);
    EXPECT_TRUE(contains(r.err, "--agent")) << r.err;
}

TEST(VouchctlPolicyMake, BadPackagesFailTheWholeRunNamingTheFile) {
    TempDir dir;
    std::string a = build_deb(dir, "vt-one", "1.0");
    spit(dir / "junk.deb", "not an archive\n");
    auto r = vouchctl({"policy", "make", "--deb", "-o", dir / "p.json", a, dir / "junk.deb"});
    EXPECT_EQ(r.rc, Exit::BadInput);
    EXPECT_TRUE(contains(r.err, dir / "junk.deb")) << r.err;
    EXPECT_FALSE(fs::exists(dir / "p.json")) << "no partial policy";
    r = vouchctl({"policy", "make", "--rpm", "-o", dir / "p.json", a});
    EXPECT_EQ(r.rc, Exit::BadInput);
    EXPECT_TRUE(contains(r.err, "is a .deb, not an RPM")) << r.err;
    EXPECT_EQ(vouchctl({"policy", "make", "--deb"}).rc, Exit::Usage);
    EXPECT_EQ(vouchctl({"policy", "make", "--deb", "--rpm", a}).rc, Exit::Usage);
    EXPECT_EQ(vouchctl({"policy", "make", "--deb", "--from-log", a}).rc, Exit::Usage);
    EXPECT_EQ(vouchctl({"policy", "make", "--allow-modified", a}).rc, Exit::Usage);
}

TEST(VouchctlPolicyMake, DpkgRefusesAModifiedFileUnlessAllowed) {
    TempDir dir, admin;
    fs::create_directories(admin / "info");
    spit(dir / "tool", "edited\n");
    spit(dir / "lib.so", "intact\n");
    auto md5 = [](const std::string &s) {
        vouch::Md5 m{};
        unsigned int len = 0;
        EVP_Digest(s.data(), s.size(), m.data(), &len, EVP_md5(), nullptr);
        return vouch::to_hex(m);
    };
    spit(admin / "info/vt-pkg.list", dir / "tool" + "\n" + dir / "lib.so" + "\n");
    spit(admin / "info/vt-pkg.md5sums", md5("shipped\n") + "  " + (dir / "tool").substr(1) + "\n" +
                                            md5("intact\n") + "  " + (dir / "lib.so").substr(1) +
                                            "\n");
    auto r =
        vouchctl({"policy", "make", "--dpkg", "--admindir", admin.path(), "-o", dir / "p.json"});
    EXPECT_EQ(r.rc, Exit::Failure);
    std::string tool = fs::canonical(dir / "tool");
    EXPECT_TRUE(contains(r.err, "modified: vt-pkg: " + tool + " (MD5 expected " + md5("shipped\n") +
                                    ", found " + md5("edited\n") + ")"))
        << r.err;
    EXPECT_TRUE(contains(r.err, "--allow-modified")) << r.err;
    EXPECT_FALSE(fs::exists(dir / "p.json"));

    r = vouchctl({"policy", "make", "--dpkg", "--allow-modified", "--admindir", admin.path(), "-o",
                  dir / "p.json"});
    ASSERT_EQ(r.rc, Exit::Ok) << r.err;
    EXPECT_TRUE(contains(r.err, "warning: modified, listed anyway: vt-pkg: " + tool)) << r.err;
    auto d = read_document(slurp(dir / "p.json"));
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->digests.at(tool), std::vector<std::string>{vouch::to_hex(
                                       vouch::sha256_bytes({(const uint8_t *)"edited\n", 7}))});
}

} // namespace
