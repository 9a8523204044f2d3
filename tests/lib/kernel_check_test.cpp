#include "lib/kernel_check.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace {

using vouch::KernelFacts;

// Facts of a kernel that has everything: every option of the contract set.
KernelFacts good_facts(const std::vector<vouch::KernelRequirement> &contract) {
    KernelFacts f;
    f.release = "6.1.0-56-amd64";
    std::map<std::string, std::string> cfg;
    for (const auto &r : contract)
        cfg[r.option] = r.value;
    f.kconfig = cfg;
    f.kconfig_source = "/boot/config-6.1.0-56-amd64";
    f.lsm_list = "lockdown,capability,landlock,yama,integrity,bpf";
    f.btf = true;
    f.ima_securityfs = true;
    return f;
}

bool mentions(const std::vector<vouch::KernelFinding> &fs, const std::string &needle) {
    return std::any_of(fs.begin(), fs.end(), [&](const auto &f) {
        return f.what.find(needle) != std::string::npos || f.fix.find(needle) != std::string::npos;
    });
}

TEST(KernelContract, BuiltinParsesAndExplainsEveryOption) {
    auto c = vouch::parse_kernel_contract(vouch::builtin_kernel_contract());
    ASSERT_TRUE(c.ok()) << c.error().message;
    ASSERT_GE(c->size(), 8u);
    for (const auto &r : *c) {
        EXPECT_EQ(r.option.rfind("CONFIG_", 0), 0u) << r.option;
        EXPECT_FALSE(r.why.empty()) << r.option << " has no reason";
    }
    auto has = [&](const char *o) {
        return std::any_of(c->begin(), c->end(), [&](const auto &r) { return r.option == o; });
    };
    EXPECT_TRUE(has("CONFIG_BPF_LSM"));
    EXPECT_TRUE(has("CONFIG_IMA"));
    EXPECT_TRUE(has("CONFIG_DEBUG_INFO_BTF"));
}

TEST(KernelContract, RejectsGarbage) {
    auto c = vouch::parse_kernel_contract("# why\nBPF_LSM=y\n");
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message.find("line 2"), std::string::npos);
}

TEST(Kconfig, ParsesSetUnsetAndQuoted) {
    auto m = vouch::parse_kconfig("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"sha256\"\n"
                                  "# comment\nCONFIG_D=m\n");
    EXPECT_EQ(m["CONFIG_A"], "y");
    EXPECT_EQ(m["CONFIG_B"], "n");
    EXPECT_EQ(m["CONFIG_C"], "sha256");
    EXPECT_EQ(m["CONFIG_D"], "m");
    EXPECT_EQ(m.count("comment"), 0u);
}

class CheckKernel : public ::testing::Test {
  protected:
    void SetUp() override {
        auto c = vouch::parse_kernel_contract(vouch::builtin_kernel_contract());
        ASSERT_TRUE(c.ok());
        contract = *c;
    }
    std::vector<vouch::KernelRequirement> contract;
};

TEST_F(CheckKernel, GoodKernelHasNoFindings) {
    auto fs = vouch::check_kernel(contract, good_facts(contract));
    EXPECT_TRUE(fs.empty()) << fs.front().what;
}

TEST_F(CheckKernel, NamesMissingBpfLsmOption) {
    auto f = good_facts(contract);
    (*f.kconfig)["CONFIG_BPF_LSM"] = "n";
    auto fs = vouch::check_kernel(contract, f);
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_NE(fs[0].what.find("CONFIG_BPF_LSM is not set"), std::string::npos) << fs[0].what;
    EXPECT_NE(fs[0].fix.find("CONFIG_BPF_LSM=y"), std::string::npos);
}

TEST_F(CheckKernel, NamesBpfAbsentFromActiveLsmList) {
    auto f = good_facts(contract);
    f.lsm_list = "lockdown,capability,landlock,yama,apparmor\n";
    auto fs = vouch::check_kernel(contract, f);
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_NE(fs[0].what.find("`bpf` is not in the active LSM list"), std::string::npos);
    EXPECT_NE(fs[0].fix.find("lsm=lockdown,capability,landlock,yama,apparmor,integrity,bpf"),
              std::string::npos)
        << fs[0].fix;
}

// Since 6.9 IMA is an LSM of its own: the active list shows "ima" and "evm",
// and lsm= needs "ima" (not "integrity") for IMA to run at all.
TEST_F(CheckKernel, SuggestsImaNotIntegrityOnSixNineAndNewer) {
    auto f = good_facts(contract);
    f.release = "6.12.117+deb13-amd64";
    f.lsm_list = "lockdown,capability,landlock,yama,apparmor,ima,evm";
    auto fs = vouch::check_kernel(contract, f);
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_NE(fs[0].fix.find("lsm=lockdown,capability,landlock,yama,apparmor,ima,evm,bpf "),
              std::string::npos)
        << fs[0].fix;
    EXPECT_EQ(fs[0].fix.find("integrity"), std::string::npos) << fs[0].fix;
}

TEST_F(CheckKernel, NamesImaAbsentFromActiveLsmListOnSixNineAndNewer) {
    auto f = good_facts(contract);
    f.release = "7.2.13+deb14-amd64";
    f.lsm_list = "lockdown,capability,landlock,yama,selinux,bpf";
    f.ima_securityfs = false;
    auto fs = vouch::check_kernel(contract, f);
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_NE(fs[0].what.find("`ima` is not in the active LSM list"), std::string::npos)
        << fs[0].what;
    EXPECT_NE(fs[0].fix.find("lsm=lockdown,capability,landlock,yama,selinux,bpf,ima "),
              std::string::npos)
        << fs[0].fix;
}

TEST_F(CheckKernel, LsmNameMustMatchWholeEntry) {
    auto f = good_facts(contract);
    f.lsm_list = "lockdown,bpfx";
    EXPECT_TRUE(mentions(vouch::check_kernel(contract, f), "`bpf` is not in"));
}

TEST_F(CheckKernel, NamesMissingBtfImaAndOldKernel) {
    auto f = good_facts(contract);
    f.btf = false;
    f.ima_securityfs = false;
    f.release = "5.15.0-1-amd64";
    auto fs = vouch::check_kernel(contract, f);
    EXPECT_EQ(fs.size(), 3u);
    EXPECT_TRUE(mentions(fs, "/sys/kernel/btf/vmlinux"));
    EXPECT_TRUE(mentions(fs, "IMA is not active"));
    EXPECT_TRUE(mentions(fs, "older than 5.18"));
}

TEST_F(CheckKernel, ImaHashOnCommandLineSatisfiesDefaultHash) {
    auto f = good_facts(contract);
    f.kconfig->erase("CONFIG_IMA_DEFAULT_HASH_SHA256");
    EXPECT_EQ(vouch::check_kernel(contract, f).size(), 1u);
    f.cmdline = "console=ttyS0 ima_hash=sha256";
    EXPECT_TRUE(vouch::check_kernel(contract, f).empty());
}

TEST_F(CheckKernel, UnreadableConfigIsReported) {
    auto f = good_facts(contract);
    f.kconfig.reset();
    auto fs = vouch::check_kernel(contract, f);
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_NE(fs[0].what.find("not readable"), std::string::npos);
}

} // namespace
