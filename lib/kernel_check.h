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

struct KernelFacts {
    std::string release;                                       // uname -r
    std::optional<std::map<std::string, std::string>> kconfig; // if found
    std::string kconfig_source;                                // where it was read
    std::optional<std::string> lsm_list; // /sys/kernel/security/lsm, if readable
    bool btf = false;                    // /sys/kernel/btf/vmlinux exists
    bool ima_securityfs = false;         // /sys/kernel/security/ima exists
    std::string cmdline;                 // /proc/cmdline
};

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
