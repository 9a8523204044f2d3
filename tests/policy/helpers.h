/* SPDX-License-Identifier: Apache-2.0 */
// Shared by the policy tests: fixture paths (the test binary runs from the
// repository root), temp directories and running the openssl tool.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace vouch::policy::test {

inline const std::string kKeys = "policy/test-keys";
inline const std::string kTrusted = "policy/test-keys/trusted";
inline const std::string kGolden = "tests/policy/golden";

inline std::string slurp(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    EXPECT_TRUE(in.good()) << path;
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline void spit(const std::string &path, const std::string &data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << data;
    ASSERT_TRUE(out.good()) << path;
}

// A fresh directory, removed with everything in it when the test ends.
class TempDir {
  public:
    TempDir() {
        std::string tmpl = ::testing::TempDir() + "vouch-policy-XXXXXX";
        char *p = ::mkdtemp(tmpl.data());
        EXPECT_NE(p, nullptr);
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::string &path() const { return path_; }
    std::string operator/(const std::string &name) const { return path_ + "/" + name; }

  private:
    std::string path_;
};

// stdout of a shell command; exit status in *status.
inline std::string run(const std::string &cmd, int *status) {
    std::string out;
    FILE *f = ::popen(cmd.c_str(), "r");
    if (!f) {
        *status = -1;
        return out;
    }
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0)
        out.append(buf, n);
    *status = ::pclose(f);
    return out;
}

inline bool contains(const std::string &haystack, const std::string &needle) {
    return haystack.find(needle) != std::string::npos;
}

} // namespace vouch::policy::test
