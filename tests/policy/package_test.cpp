// SPDX-License-Identifier: Apache-2.0
// policy make --deb/--rpm: the digests read out of package archives must be
// those of the files the package manager installs, so each test extracts the
// same archive with the distribution's own tool (dpkg-deb -x, rpm2cpio | cpio)
// and compares with sha256sum of what landed on disk.
#include "policy/package.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include "tests/policy/helpers.h"

namespace {

using namespace vouch::policy;
using namespace vouch::policy::test;
namespace fs = std::filesystem;

using Digests = std::map<std::string, std::string>; // "/usr/bin/x" -> hex

// sha256sum of every regular file under `root`, keyed by its path below it.
Digests extracted(const std::string &root) {
    int st = 0;
    std::string out =
        run("cd '" + root + "' && find . -type f -print0 | xargs -0 -r sha256sum", &st);
    EXPECT_EQ(st, 0);
    Digests m;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
        if (line.size() < 67)
            continue;
        // "HEX  ./path": paths may hold spaces, so split by position.
        m[line.substr(66)] = line.substr(0, 64);
    }
    return m;
}

Digests digests_of(const Package &p) {
    Digests m;
    for (const auto &f : p.files)
        m[f.path] = vouch::to_hex(f.digest);
    return m;
}

std::string sq(const std::string &s) {
    return "'" + s + "'";
}

// A package tree: two executables that are hard links of each other, a
// library, a symlink (not a file: not listed), an empty file, a name with a
// space, a script.
void populate(const std::string &root) {
    for (auto d : {"usr/bin", "usr/lib/vouchtest", "usr/share/vouchtest"})
        fs::create_directories(root + "/" + d);
    fs::copy_file("/usr/bin/true", root + "/usr/bin/vt-true");
    ASSERT_EQ(::link((root + "/usr/bin/vt-true").c_str(), (root + "/usr/bin/vt-true2").c_str()), 0);
    ASSERT_EQ(::symlink("vt-true", (root + "/usr/bin/vt-link").c_str()), 0);
    fs::copy_file(fs::canonical("/lib/x86_64-linux-gnu/libc.so.6"),
                  root + "/usr/lib/vouchtest/libcopy.so");
    spit(root + "/usr/share/vouchtest/with space", "x y\n");
    spit(root + "/usr/share/vouchtest/empty", "");
    spit(root + "/usr/bin/vt-script", "#!/bin/sh\necho hi\n");
    ::chmod((root + "/usr/bin/vt-script").c_str(), 0755);
}

class DebCompression : public ::testing::TestWithParam<const char *> {};

TEST_P(DebCompression, DigestsEqualDpkgDebExtraction) {
    TempDir dir;
    std::string tree = dir / "tree";
    populate(tree);
    fs::create_directories(tree + "/DEBIAN");
    spit(tree + "/DEBIAN/control", "Package: vouch-test-pkg\nVersion: 2:1.0-3\n"
                                   "Architecture: amd64\nMaintainer: t <t@example.org>\n"
                                   "Description: test\n");
    std::string deb = dir / "t.deb";
    int st = 0;
    std::string out = run(std::string("dpkg-deb -Z") + GetParam() + " --root-owner-group --build " +
                              sq(tree) + " " + sq(deb) + " 2>&1",
                          &st);
    ASSERT_EQ(st, 0) << out;
    run("dpkg-deb -x " + sq(deb) + " " + sq(dir / "x"), &st);
    ASSERT_EQ(st, 0);
    Digests want;
    for (auto &[path, hex] : extracted(dir / "x"))
        want[path.substr(1)] = hex; // "./usr/..." -> "/usr/..."

    std::atomic<uint64_t> bytes{0};
    auto p = read_package(deb, PackageKind::Deb, &bytes);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->name, "vouch-test-pkg");
    EXPECT_EQ(p->version, "2:1.0-3");
    EXPECT_EQ(digests_of(*p), want);
    EXPECT_EQ(want.size(), 6u); // the symlink is not a file
    EXPECT_EQ(want["/usr/bin/vt-true"], want["/usr/bin/vt-true2"]);
    EXPECT_GT(bytes.load(), 0u);
    // What policy check asks about: ELF files and files with an execute bit.
    std::map<std::string, bool> exec;
    for (const auto &f : p->files)
        exec[f.path] = f.executable();
    EXPECT_TRUE(exec["/usr/bin/vt-true"]);
    EXPECT_TRUE(exec["/usr/bin/vt-true2"]);
    EXPECT_TRUE(exec["/usr/bin/vt-script"]);
    EXPECT_TRUE(exec["/usr/lib/vouchtest/libcopy.so"]);
    EXPECT_FALSE(exec["/usr/share/vouchtest/with space"]);
    EXPECT_FALSE(exec["/usr/share/vouchtest/empty"]);
}

INSTANTIATE_TEST_SUITE_P(PolicyPackage, DebCompression,
                         ::testing::Values("gzip", "xz", "zstd", "none"));

// Packages from Debian's archive (tests/policy/fetch-debs, run by make check),
// as they are, with hard links (bzip2), merged-/usr paths (coreutils' /bin)
// and large static binaries (busybox-static).
TEST(PolicyPackage, RealDebianPackagesEqualDpkgDebExtraction) {
    const char *dir = std::getenv("VOUCH_TEST_DEBS");
    if (!dir)
        GTEST_SKIP() << "VOUCH_TEST_DEBS is not set (make check sets it; or run "
                        "tests/policy/fetch-debs DIR)";
    std::vector<std::string> debs;
    for (const auto &e : fs::directory_iterator(dir))
        if (e.path().extension() == ".deb")
            debs.push_back(e.path());
    ASSERT_GE(debs.size(), 4u) << dir << ": tests/policy/fetch-debs did not fetch the packages";
    bool hard_links = false;
    for (const auto &deb : debs) {
        TempDir x;
        int st = 0;
        run("dpkg-deb -x " + sq(deb) + " " + sq(x.path()), &st);
        ASSERT_EQ(st, 0) << deb;
        Digests want;
        for (auto &[path, hex] : extracted(x.path()))
            want[path.substr(1)] = hex;
        auto p = read_package(deb, PackageKind::Deb);
        ASSERT_TRUE(p.ok()) << p.error().message;
        EXPECT_EQ(digests_of(*p), want) << deb;
        EXPECT_FALSE(p->name.empty());
        EXPECT_NE(deb.find(p->name + "_"), std::string::npos) << deb << " named " << p->name;
        st = 0;
        std::string listing = run("dpkg-deb -c " + sq(deb) + " | grep -c ' link to '", &st);
        hard_links = hard_links || std::atoi(listing.c_str()) > 0;
    }
    EXPECT_TRUE(hard_links) << "no package with hard links was read";
}

class RpmCompression : public ::testing::TestWithParam<const char *> {};

TEST_P(RpmCompression, DigestsEqualRpm2cpioExtraction) {
    TempDir dir;
    // rpmbuild copies from a tree we populate: the same files as the .deb.
    populate(dir / "tree");
    spit(dir / "t.spec", "Name: vouchtest\nVersion: 1.2\nRelease: 3\nEpoch: 4\n"
                         "Summary: t\nLicense: Apache-2.0\n%description\nt\n"
                         "%install\ncp -a " +
                             dir / "tree" +
                             "/. %{buildroot}/\n"
                             "%files\n/usr/bin/vt-true\n/usr/bin/vt-true2\n/usr/bin/vt-link\n"
                             "/usr/bin/vt-script\n/usr/lib/vouchtest\n/usr/share/vouchtest\n");
    int st = 0;
    std::string out = run("rpmbuild -bb --quiet --define '_topdir " + dir / "top" +
                              "' --define '__os_install_post %{nil}' --define 'debug_package "
                              "%{nil}' --define '_binary_payload " +
                              GetParam() + "' " + sq(dir / "t.spec") + " 2>&1",
                          &st);
    ASSERT_EQ(st, 0) << out;
    std::string rpm = run("find " + sq(dir / "top/RPMS") + " -name '*.rpm' | head -n1", &st);
    while (!rpm.empty() && rpm.back() == '\n')
        rpm.pop_back();
    ASSERT_FALSE(rpm.empty());
    fs::create_directories(dir / "x");
    out = run("cd " + sq(dir / "x") + " && rpm2cpio " + sq(rpm) + " | cpio -idm --quiet 2>&1", &st);
    ASSERT_EQ(st, 0) << out;
    Digests want;
    for (auto &[path, hex] : extracted(dir / "x"))
        want[path.substr(1)] = hex;

    auto p = read_package(rpm, PackageKind::Rpm);
    ASSERT_TRUE(p.ok()) << p.error().message;
    EXPECT_EQ(p->name, "vouchtest");
    EXPECT_EQ(p->version, "4:1.2-3");
    EXPECT_EQ(digests_of(*p), want);
    EXPECT_EQ(want["/usr/bin/vt-true"], want["/usr/bin/vt-true2"]);
    EXPECT_EQ(want["/usr/bin/vt-true"], vouch::to_hex(*vouch::sha256_file("/usr/bin/true")));
}

INSTANTIATE_TEST_SUITE_P(PolicyPackage, RpmCompression,
                         ::testing::Values("w9.gzdio", "w6.xzdio", "w19.zstdio", "w0.ufdio"));

TEST(PolicyPackage, RefusesWhatIsNotThatKindOfPackage) {
    TempDir dir;
    spit(dir / "text", "hello, not a package\n");
    auto k = package_kind(dir / "text");
    ASSERT_FALSE(k.ok());
    EXPECT_NE(k.error().message.find("neither a .deb"), std::string::npos);

    // An ar archive that is not a Debian package.
    int st = 0;
    run("cd " + sq(dir.path()) + " && ar rc plain.deb text", &st);
    ASSERT_EQ(st, 0);
    auto p = read_package(dir / "plain.deb", PackageKind::Deb);
    ASSERT_FALSE(p.ok());
    EXPECT_NE(p.error().message.find("not a Debian binary package"), std::string::npos)
        << p.error().message;
    auto r = read_package(dir / "plain.deb", PackageKind::Rpm);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("is a .deb, not an RPM"), std::string::npos)
        << r.error().message;
}

TEST(PolicyPackage, TruncatedArchivesAreErrorsNotPartialLists) {
    TempDir dir;
    populate(dir / "tree");
    fs::create_directories(dir / "tree/DEBIAN");
    spit(dir / "tree/DEBIAN/control", "Package: t\nVersion: 1\nArchitecture: amd64\n"
                                      "Maintainer: t <t@example.org>\nDescription: t\n");
    int st = 0;
    run("dpkg-deb -Zxz --build " + sq(dir / "tree") + " " + sq(dir / "t.deb") + " >/dev/null 2>&1",
        &st);
    ASSERT_EQ(st, 0);
    auto size = fs::file_size(dir / "t.deb");
    for (auto keep : {size / 2, size - 40}) {
        fs::copy_file(dir / "t.deb", dir / "cut.deb", fs::copy_options::overwrite_existing);
        fs::resize_file(dir / "cut.deb", keep);
        auto p = read_package(dir / "cut.deb", PackageKind::Deb);
        EXPECT_FALSE(p.ok()) << "cut at " << keep << " of " << size;
    }
}

TEST(PolicyPackage, InstalledPathResolvesMergedUsrParents) {
    TempDir root;
    fs::create_directories(root / "usr/bin");
    fs::create_directory_symlink("usr/bin", root / "bin");
    EXPECT_EQ(installed_path("./bin/ls", root.path()), "/usr/bin/ls");
    EXPECT_EQ(installed_path("./usr/bin/ls", root.path()), "/usr/bin/ls");
    EXPECT_EQ(installed_path("bin/ls", root.path()), "/usr/bin/ls");
    // Not on this system (yet): kept as the package writes it.
    EXPECT_EQ(installed_path("./opt/new/tool", root.path()), "/opt/new/tool");
    EXPECT_EQ(installed_path("./top-level", root.path()), "/top-level");
    // A parent that is a symlink out of the root is not followed.
    fs::create_directory_symlink("/usr", root / "escape");
    EXPECT_EQ(installed_path("./escape/bin/ls", root.path()), "/escape/bin/ls");
    EXPECT_EQ(installed_path("./", root.path()), "");
    EXPECT_EQ(installed_path("../etc/passwd", root.path()), "");
}

} // namespace
