// SPDX-License-Identifier: Apache-2.0
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

// lsm_list_with_bpf: bpf is added, nothing the machine runs is dropped.
TEST(KernelCheckLsmList, DebianDefaultWithoutLsmParameter) {
    // Debian 12 runs CONFIG_LSM; the active list never shows `integrity`,
    // which IMA needs before 6.9, so it is added back.
    EXPECT_EQ(vouch::lsm_list_with_bpf(
                  "lockdown,capability,landlock,yama,apparmor\n",
                  "BOOT_IMAGE=/boot/vmlinuz-6.1.0-57-amd64 root=UUID=x ro quiet", "6.1.0-57-amd64"),
              "lockdown,capability,landlock,yama,apparmor,integrity,bpf");
}

TEST(KernelCheckLsmList, DebianDefaultListConfigured) {
    EXPECT_EQ(vouch::lsm_list_with_bpf(
                  "lockdown,capability,landlock,yama,apparmor",
                  "root=/dev/vda ro quiet lsm=landlock,lockdown,yama,integrity,apparmor",
                  "6.1.0-57-amd64"),
              "landlock,lockdown,yama,integrity,apparmor,bpf");
}

TEST(KernelCheckLsmList, SelinuxIsKept) {
    EXPECT_EQ(vouch::lsm_list_with_bpf("lockdown,capability,yama,selinux", "ro", "6.1.0-57-amd64"),
              "lockdown,capability,yama,selinux,integrity,bpf");
    EXPECT_EQ(vouch::lsm_list_with_bpf("lockdown,capability,yama,selinux",
                                       "ro lsm=lockdown,yama,integrity,selinux rhgb",
                                       "6.1.0-57-amd64"),
              "lockdown,yama,integrity,selinux,bpf");
}

TEST(KernelCheckLsmList, BpfIsNeverListedTwice) {
    EXPECT_EQ(vouch::lsm_list_with_bpf("lockdown,capability,yama,apparmor,ima,evm,bpf", "",
                                       "6.12.117+deb13-amd64"),
              "lockdown,capability,yama,apparmor,ima,evm,bpf");
    EXPECT_EQ(vouch::lsm_list_with_bpf("", "quiet lsm=landlock,bpf,apparmor", "6.1.0-57-amd64"),
              "landlock,bpf,apparmor");
}

// Since 6.9 IMA and EVM are LSMs and show in the active list.
TEST(KernelCheckLsmList, ImaAndEvmAsLsmsOnSixNineAndNewer) {
    EXPECT_EQ(vouch::lsm_list_with_bpf("capability,landlock,lockdown,yama,apparmor,ima,evm", "",
                                       "6.12.117+deb13-amd64"),
              "capability,landlock,lockdown,yama,apparmor,ima,evm,bpf");
    // Not active: IMA is added as `ima`, never as `integrity`.
    EXPECT_EQ(vouch::lsm_list_with_bpf("capability,landlock,lockdown,yama,apparmor", "",
                                       "7.2.13+deb14-amd64"),
              "capability,landlock,lockdown,yama,apparmor,ima,bpf");
}

TEST(KernelCheckLsmList, TheLastLsmParameterCounts) {
    EXPECT_EQ(vouch::lsm_list_with_bpf("lockdown,capability,yama",
                                       "lsm=yama quiet lsm=lockdown,yama", "6.1.0-57-amd64"),
              "lockdown,yama,bpf");
    EXPECT_EQ(vouch::lsm_list_with_bpf("", "lsmx=a xlsm=b", "6.1.0-57-amd64"), "");
}

TEST(KernelCheckLsmList, EmptyWhenNothingIsKnown) {
    EXPECT_EQ(vouch::lsm_list_with_bpf("", "", "6.1.0-57-amd64"), "");
    EXPECT_EQ(vouch::lsm_list_with_bpf(" \n", "ro quiet", "6.1.0-57-amd64"), "");
}

// The fix names the steps for the boot setup the machine has.
TEST_F(CheckKernel, BpfFixNamesThisMachinesBootSetup) {
    auto f = good_facts(contract);
    f.lsm_list = "lockdown,capability,landlock,yama,apparmor";
    f.cmdline = "BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 root=/dev/sda1 ro quiet";
    f.boot.update_grub = true;
    f.boot.vouch_grub_dropin = true;
    auto fs = vouch::check_kernel(contract, f);
    ASSERT_EQ(fs.size(), 1u);
    const std::string list = "lsm=lockdown,capability,landlock,yama,apparmor,integrity,bpf ";
    EXPECT_NE(fs[0].fix.find(list), std::string::npos) << fs[0].fix;
    EXPECT_NE(fs[0].fix.find("/etc/default/grub.d/vouch.cfg"), std::string::npos) << fs[0].fix;
    EXPECT_NE(fs[0].fix.find("run update-grub"), std::string::npos) << fs[0].fix;
    EXPECT_EQ(fs[0].fix.find("grubby"), std::string::npos) << fs[0].fix;

    f.boot = {};
    f.boot.update_grub = true;
    fs = vouch::check_kernel(contract, f);
    EXPECT_NE(fs[0].fix.find("GRUB_CMDLINE_LINUX in /etc/default/grub"), std::string::npos)
        << fs[0].fix;

    f.boot = {};
    f.boot.kernel_cmdline = true;
    f.boot.kernel_image = "/usr/lib/modules/6.1.0-56-amd64/vmlinuz";
    fs = vouch::check_kernel(contract, f);
    EXPECT_NE(fs[0].fix.find("/etc/kernel/cmdline"), std::string::npos) << fs[0].fix;
    EXPECT_NE(fs[0].fix.find("kernel-install add 6.1.0-56-amd64 "
                             "/usr/lib/modules/6.1.0-56-amd64/vmlinuz"),
              std::string::npos)
        << fs[0].fix;

    f.boot = {};
    f.boot.grubby = true;
    f.cmdline = "ro rhgb lsm=lockdown,yama,integrity,selinux";
    f.lsm_list = "lockdown,capability,yama,selinux";
    fs = vouch::check_kernel(contract, f);
    EXPECT_NE(fs[0].fix.find("grubby --update-kernel=ALL "
                             "--args=lsm=lockdown,yama,integrity,selinux,bpf "),
              std::string::npos)
        << fs[0].fix;

    f.boot = {};
    fs = vouch::check_kernel(contract, f);
    EXPECT_NE(fs[0].fix.find("boot loader's configuration"), std::string::npos) << fs[0].fix;
}

} // namespace
