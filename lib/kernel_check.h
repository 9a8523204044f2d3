/* SPDX-License-Identifier: Apache-2.0 */
// Compare a kernel against the contract in kernel/config and name what is
// missing. Pure functions over text, so they are testable on any host; the
// probing of the running kernel is in probe_running_kernel().
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/result.h"

namespace vouch {

struct KernelRequirement {
    std::string option; // CONFIG_FOO
    std::string value;  // y
    std::string why;    // the comment above it
};

// The contract compiled into the binary (kernel/config).
std::string_view builtin_kernel_contract();
Result<std::vector<KernelRequirement>> parse_kernel_contract(std::string_view text);

// CONFIG_FOO=value lines; "# CONFIG_FOO is not set" maps to "n".
std::map<std::string, std::string> parse_kconfig(std::string_view text);

// How this machine's kernel command line is configured, so that a fix can
// name the steps that apply here.
struct BootConfig {
    bool update_grub = false;       // /usr/sbin/update-grub (Debian's GRUB)
    bool vouch_grub_dropin = false; // /etc/default/grub.d/vouch.cfg (the package's)
    bool kernel_cmdline = false;    // /etc/kernel/cmdline (kernel-install: systemd-boot, UKI)
    bool grubby = false;            // /usr/sbin/grubby (Fedora-like)
    std::string kernel_image;       // the running kernel's image, for kernel-install
};

struct KernelFacts {
    std::string release;                                       // uname -r
    std::optional<std::map<std::string, std::string>> kconfig; // if found
    std::string kconfig_source;                                // where it was read
    std::optional<std::string> lsm_list; // /sys/kernel/security/lsm, if readable
    bool btf = false;                    // /sys/kernel/btf/vmlinux exists
    bool ima_securityfs = false;         // /sys/kernel/security/ima exists
    std::string cmdline;                 // /proc/cmdline
    BootConfig boot;
};

// The lsm= list that adds `bpf` and drops no LSM:
// - when `cmdline` has lsm= (the kernel uses the last one), that list plus
//   bpf: it is what the machine was told to run;
// - otherwise the active list (/sys/kernel/security/lsm) plus what IMA needs
//   on `release` (`integrity` before 6.9, which the active list never shows
//   but IMA needs; `ima` since) plus bpf.
// bpf is never listed twice. Empty when neither list is known. The package's
// grub drop-in computes the same (packaging/grub/lsm-cmdline).
std::string lsm_list_with_bpf(std::string_view active, std::string_view cmdline,
                              const std::string &release);

struct KernelFinding {
    std::string what; // what is missing
    std::string fix;  // how to enable it
};

// Only what can be seen on the running kernel: `bpf` in the LSM list, BTF,
// IMA, version. What the loader checks before loading.
std::vector<KernelFinding> live_kernel_findings(const KernelFacts &facts);

std::vector<KernelFinding> check_kernel(const std::vector<KernelRequirement> &contract,
                                        const KernelFacts &facts);

// Reads the running kernel's facts; `root` prefixes every path (tests).
KernelFacts probe_running_kernel(const std::string &root = "");

} // namespace vouch
