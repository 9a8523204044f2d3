// SPDX-License-Identifier: Apache-2.0
// vouchctl check-kernel and unpin: the kernel, without vouchd.
#include <cerrno>
#include <cstdio>
#include <string>

#include "lib/kernel_check.h"
#include "lib/pins.h"
#include "vouchctl/commands.h"

namespace vouch::ctl {

Exit cmd_check_kernel(const Command &self, int argc, char **argv) {
    bool quiet = false;
    auto p = parse_options(argc, argv, {{"quiet", no_argument, 'q'}},
                           [&](int, const char *) -> Result<void> {
                               quiet = true;
                               return {};
                           });
    if (auto e = settle_options(self, p, 0, 0, "takes no arguments"))
        return *e;

    auto contract = parse_kernel_contract(builtin_kernel_contract());
    if (!contract) {
        std::fprintf(stderr, "vouchctl: %s\n", contract.error().message.c_str());
        return Exit::Failure;
    }
    auto facts = probe_running_kernel();
    auto findings = check_kernel(*contract, facts);
    if (findings.empty()) {
        if (!quiet)
            std::printf("kernel %s: everything vouch needs is present (%zu options, bpf LSM "
                        "active, BTF, IMA)\n",
                        facts.release.c_str(), contract->size());
        return Exit::Ok;
    }
    std::printf("kernel %s: vouch cannot run, %zu problem(s):\n", facts.release.c_str(),
                findings.size());
    for (const auto &f : findings)
        std::printf("  - %s\n    fix: %s\n", f.what.c_str(), f.fix.c_str());
    return Exit::Failure;
}

Exit cmd_unpin(const Command &self, int argc, char **argv) {
    auto p = parse_options(argc, argv, {}, [](int, const char *) { return Result<void>(); });
    if (auto e = settle_options(self, p, 0, 1, "takes at most one DIR"))
        return *e;
    std::string dir = p->args.empty() ? kDefaultPinDir : p->args[0];
    if (auto r = unpin(dir); !r) {
        std::fprintf(stderr, "vouchctl: %s%s\n", r.error().message.c_str(),
                     r.error().code == EPERM ? " (vouch is enforcing: only vouchd may)" : "");
        return Exit::Failure;
    }
    return Exit::Ok;
}

} // namespace vouch::ctl
