// SPDX-License-Identifier: Apache-2.0
#include "lib/config.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

namespace {

class ConfigFile : public ::testing::Test {
  protected:
    void SetUp() override {
        char t[] = "/tmp/vouch-conf-XXXXXX";
        int fd = mkstemp(t);
        close(fd);
        path = t;
    }
    void TearDown() override { unlink(path.c_str()); }
    void write(const std::string &text) { std::ofstream(path) << text; }
    std::string path;
};

TEST_F(ConfigFile, EveryKeyOverridesItsDefault) {
    write("# comment\n"
          "pin_dir =\n"
          "log_dir = /run/x   # trailing comment\n"
          "state_dir=/var/lib/x\n"
          "policy = /etc/x/p.dsse\n"
          "keys_dir = /etc/x/keys\n"
          "tcti = swtpm:port=2321\n"
          "tpm = no\n"
          "pcr = 11\n"
          "template = ima-sig\n"
          "cache = off\n"
          "verity = no\n"
          "ringbuf_size = 65536\n");
    vouch::DaemonConfig c;
    auto r = vouch::load_config_file(c, path, false);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(c.pin_dir, "");
    EXPECT_EQ(c.log_dir, "/run/x");
    EXPECT_EQ(c.state_dir, "/var/lib/x");
    EXPECT_EQ(c.policy, "/etc/x/p.dsse");
    EXPECT_EQ(c.keys_dir, "/etc/x/keys");
    EXPECT_EQ(c.tcti, "swtpm:port=2321");
    EXPECT_FALSE(c.tpm);
    EXPECT_EQ(c.pcr, 11u);
    EXPECT_EQ(c.template_name, "ima-sig");
    EXPECT_FALSE(c.cache);
    EXPECT_FALSE(c.verity);
    EXPECT_EQ(c.ringbuf_bytes, 65536u);
}

TEST_F(ConfigFile, ErrorsNameFileLineAndValue) {
    struct Case {
        const char *text, *want;
    } cases[] = {
        {"pcr = 24\n", ":1: pcr must be a PCR index from 0 to 23, not '24'"},
        {"\n\ntemplate = ima\n", ":3: template must be ima-ng or ima-sig, not 'ima'"},
        {"pcr_index = 10\n", ":1: unknown setting 'pcr_index'"},
        {"log_dir = run/vouch\n", "log_dir must be an absolute path"},
        {"tpm = maybe\n", "'maybe' is not a boolean"},
        {"just words\n", "expected 'key = value'"},
        {"ringbuf_size = 5000\n", "ringbuf_size must be a power of two"},
    };
    for (const auto &c : cases) {
        write(c.text);
        vouch::DaemonConfig cfg;
        auto r = vouch::load_config_file(cfg, path, false);
        ASSERT_FALSE(r.ok()) << c.text;
        EXPECT_NE(r.error().message.find(path), std::string::npos) << r.error().message;
        EXPECT_NE(r.error().message.find(c.want), std::string::npos) << r.error().message;
    }
}

TEST(Config, MissingFileIsFineOnlyWhenOptional) {
    vouch::DaemonConfig c;
    EXPECT_TRUE(vouch::load_config_file(c, "/nonexistent/vouch.conf", true).ok());
    auto r = vouch::load_config_file(c, "/nonexistent/vouch.conf", false);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ENOENT);
    EXPECT_EQ(c.pcr, 10u);
}

} // namespace
