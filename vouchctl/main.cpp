// vouchctl: the command-line client.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "lib/kernel_check.h"
#include "lib/pins.h"
#include "vouchctl/bus.h"

int vouchctl_log(int argc, char **argv);
int vouchctl_policy(int argc, char **argv);

namespace {

void usage(FILE *out) {
    std::fputs("Usage: vouchctl [--help] [--version] COMMAND\n"
               "\n"
               "Commands:\n"
               "  check-kernel   compare the running kernel with what vouch needs\n"
               "                 (kernel options, `bpf` in the active LSM list, BTF, IMA)\n"
               "  log [--json]   print the measurement log (--file PATH: another log file)\n"
               "  log verify     replay the log against the TPM's PCRs; names the first entry\n"
               "                 that disagrees (--tcti SPEC, default device:/dev/tpmrm0)\n"
               "  unpin [DIR]    remove vouch's pins (default /sys/fs/bpf/vouch): the hooks\n"
               "                 detach once vouchd is stopped; refused while enforcing\n"
               "  policy make|sign|verify|show\n"
               "                 build, sign and check signed allow-lists\n"
               "                 (vouchctl policy --help)\n",
               out);
    vouch::ctl::bus_usage(out);
}

int check_kernel(int argc, char **argv) {
    bool quiet = argc > 1 && std::strcmp(argv[1], "--quiet") == 0;
    auto contract = vouch::parse_kernel_contract(vouch::builtin_kernel_contract());
    if (!contract) {
        std::fprintf(stderr, "vouchctl: %s\n", contract.error().message.c_str());
        return 1;
    }
    auto facts = vouch::probe_running_kernel();
    auto findings = vouch::check_kernel(*contract, facts);
    if (findings.empty()) {
        if (!quiet)
            std::printf("kernel %s: everything vouch needs is present (%zu options, bpf LSM "
                        "active, BTF, IMA)\n",
                        facts.release.c_str(), contract->size());
        return 0;
    }
    std::printf("kernel %s: vouch cannot run, %zu problem(s):\n", facts.release.c_str(),
                findings.size());
    for (const auto &f : findings)
        std::printf("  - %s\n    fix: %s\n", f.what.c_str(), f.fix.c_str());
    return 1;
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    // tpm2-tss would log to stderr by itself; vouchctl reports TPM errors once.
    setenv("TSS2_LOG", "all+none", 0);
    std::string cmd = argv[1];
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
        usage(stdout);
        return 0;
    }
    if (cmd == "--version") {
        std::printf("vouchctl %s\n", VOUCH_VERSION);
        return 0;
    }
    if (vouch::ctl::is_bus_command(argc - 1, argv + 1))
        return vouch::ctl::bus_main(argc - 1, argv + 1);
    if (cmd == "check-kernel")
        return check_kernel(argc - 1, argv + 1);
    if (cmd == "log")
        return vouchctl_log(argc - 1, argv + 1);
    if (cmd == "policy")
        return vouchctl_policy(argc - 1, argv + 1);
    if (cmd == "unpin") {
        std::string dir = argc > 2 ? argv[2] : vouch::kDefaultPinDir;
        if (auto r = vouch::unpin(dir); !r) {
            std::fprintf(stderr, "vouchctl: %s%s\n", r.error().message.c_str(),
                         r.error().code == EPERM ? " (vouch is enforcing: only vouchd may)" : "");
            return 1;
        }
        return 0;
    }
    std::fprintf(stderr, "vouchctl: unknown command '%s'\n", cmd.c_str());
    usage(stderr);
    return 2;
}
