// SPDX-License-Identifier: Apache-2.0
#include "lib/digest.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace {

TEST(Digest, KnownVectors) {
    // FIPS 180-2 test vector "abc".
    const std::string abc = "abc";
    auto d = vouch::sha256_bytes({reinterpret_cast<const uint8_t *>(abc.data()), abc.size()});
    EXPECT_EQ(vouch::to_hex(d), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Digest, FileMatchesBytesAcrossReadChunks) {
    std::string data(200000, '\0');
    for (size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<char>(i * 7 + 3);
    std::string path = ::testing::TempDir() + "vouch-digest-test";
    std::ofstream(path, std::ios::binary) << data;
    auto f = vouch::sha256_file(path);
    ASSERT_TRUE(f.ok()) << f.error().message;
    EXPECT_EQ(*f,
              vouch::sha256_bytes({reinterpret_cast<const uint8_t *>(data.data()), data.size()}));
    std::remove(path.c_str());
}

TEST(Digest, MissingFileNamesPath) {
    auto f = vouch::sha256_file("/nonexistent/vouch");
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.error().code, ENOENT);
    EXPECT_NE(f.error().message.find("/nonexistent/vouch"), std::string::npos);
}

} // namespace
