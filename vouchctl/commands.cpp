// SPDX-License-Identifier: Apache-2.0
#include "vouchctl/commands.h"

#include <cstring>
#include <string>

namespace vouch::ctl {

namespace {

Exit cmd_help(const Command &, int argc, char **argv);

// The options every command that talks to vouchd takes.
#define BUS_OPTIONS                                                                                \
    "Bus options:\n"                                                                               \
    "  --user-bus        the session bus (DBUS_SESSION_BUS_ADDRESS), not the system\n"             \
    "                    bus (DBUS_SYSTEM_BUS_ADDRESS or the default)\n"                           \
    "  --system          the system bus (the default)\n"                                           \
    "  --bus-address ADDR\n"                                                                       \
    "                    the bus at ADDR, e.g. unix:path=/run/test/bus\n"

#define DEFAULT_LOG "/run/vouch/binary_runtime_measurements"

constexpr Command kCommands[] = {
    {"check-kernel", "", "[--quiet]", "compare the running kernel with what vouch needs",
     "Checks the kernel options, `bpf` in the active LSM list, BTF and IMA, and names\n"
     "what is missing and how to enable it (exit status 1).\n"
     "\n"
     "Options:\n"
     "  --quiet           print nothing when everything is present\n",
     cmd_check_kernel},
    {"status", "", "[--json] [BUS OPTIONS]", "vouchd's state: mode, policy, log, TPM, kernel hooks",
     "Options:\n"
     "  --json            one JSON object with every property\n" BUS_OPTIONS,
     cmd_status},
    {"log", "", "[--file PATH] [--json] [--first N] [--count N] [BUS OPTIONS]",
     "print the measurement log, from vouchd or from a log file",
     "Prints the log in the form of the kernel's ascii_runtime_measurements, or as\n"
     "JSON. Without --file it comes from vouchd over D-Bus, and the output is the\n"
     "same either way; but D-Bus carries only UTF-8, so a byte of a path that is not\n"
     "UTF-8 comes from vouchd as the text \\xNN. JSON writes such a byte as \\xNN\n"
     "whichever way the entry came. A path is printed byte for byte, as the kernel\n"
     "does (a newline in a name continues the entry on the next line), except on a\n"
     "terminal: there control characters are written as \\xNN too.\n"
     "\n"
     "Options:\n"
     "  --file PATH       read the binary log PATH; vouch's is\n"
     "                    " DEFAULT_LOG "\n"
     "  --json            a JSON array with one object per entry\n"
     "  --first N         start at entry N (the first is 0)\n"
     "  --count N         print at most N entries\n" BUS_OPTIONS "\n"
     "`vouchctl log verify` replays the log against the TPM.\n",
     cmd_log},
    {"log", "verify",
     "[--file LOG] [--foreign PATH] [--tcti SPEC] [--pcr N]\n       [--envelope FILE] [--json]",
     "replay the log against the TPM's PCRs",
     "Replays the log's entries on one PCR and compares the result with that PCR in\n"
     "every bank the TPM has, then names the first entry that disagrees (exit\n"
     "status 1). Reads the file, so vouchd need not run. Extends of the kernel's\n"
     "IMA that vouchd recorded as foreign (it could not put them into the log in\n"
     "their place) are replayed where they fell and listed (exit status 0). When\n"
     "the log replays, says what vouch's own records in it prove: \"policy serial N\n"
     "(mode) active from entry K\" for each policy activation, and where vouchd\n"
     "started and stopped.\n"
     "\n"
     "Options:\n"
     "  --file LOG        the binary log (default\n"
     "                    " DEFAULT_LOG ")\n"
     "  --foreign PATH    the foreign extends (default: foreign_extends beside\n"
     "                    the log; none when it does not exist)\n"
     "  --tcti SPEC       the TPM (default device:/dev/tpmrm0)\n"
     "  --pcr N           the PCR, 0 to 23 (default: the first entry's, or 10)\n"
     "  --envelope FILE   also require the last policy activated in the log to be\n"
     "                    this signed envelope (exit status 1 if it is not)\n"
     "  --json            one JSON object: verified, pcr, entries, banks (each\n"
     "                    with replays, and where it disagrees), foreign,\n"
     "                    records, envelope; same exit status\n",
     cmd_log_verify},
    {"watch", "", "[--json] [--count N] [BUS OPTIONS]",
     "print denials and state changes as they happen",
     "Options:\n"
     "  --json            one JSON object per line\n"
     "  --count N         exit after N events\n" BUS_OPTIONS,
     cmd_watch},
    {"denials", "", "[--since TIME] [--json]",
     "denials and would-be denials from the journal, by file",
     "Reads vouchd's denied and would-deny records from the system journal and\n"
     "prints one line per (kind, path, digest): count, first and last time, uids,\n"
     "hooks; oldest last time first. Kinds: denied (enforce mode), would-deny\n"
     "(audit mode).\n"
     "\n"
     "Options:\n"
     "  --since TIME      only records from TIME on: \"YYYY-MM-DD [HH:MM[:SS]]\"\n"
     "                    (local time), \"-1h\", \"-30m\", \"-2d\", \"-90s\" (ago),\n"
     "                    \"@SECONDS\", \"today\", \"yesterday\", or \"boot\" (this boot)\n"
     "  --json            one JSON object per group, one a line\n",
     cmd_denials},
    {"policy", "make",
     "[--serial N] [--mode audit|enforce]\n"
     "       [--agent FILE]... [--base POLICY [--keys DIR]] [-o OUT]\n"
     "       [--boot-aggregate kernel|LOG|HEX]...\n"
     "       { [--dpkg [--allow-modified] [--admindir DIR]] [--threads N] [PATH...]\n"
     "       | --deb PACKAGE.deb... | --rpm PACKAGE.rpm... | --from-log [LOG...] }",
     "hash files, packages or logs into a Keylime runtime policy",
     "Hashes regular files (directories recursively) into a Keylime runtime policy;\n"
     "with --deb or --rpm the files inside packages, before they are installed;\n"
     "with --from-log takes the digests of measurement logs.\n"
     "\n"
     "Options:\n"
     "  --serial N        the policy's serial (default: the Unix time; with --base\n"
     "                    the base's + 1, and N must be above the base's)\n"
     "  --mode MODE       audit or enforce (default: the base's, else audit)\n"
     "  --agent FILE      FILE is allowed and may manage vouch (vouchd itself);\n"
     "                    may be given more than once; with --deb/--rpm, a path a\n"
     "                    package installs names that packaged file\n"
     "  --dpkg            every file of the installed packages; refused if one\n"
     "                    differs from dpkg's md5sums (modified after install)\n"
     "  --allow-modified  with --dpkg: list modified files anyway, with a warning\n"
     "  --admindir DIR    dpkg's database (default /var/lib/dpkg)\n"
     "  --deb, --rpm      the arguments are .deb or RPM packages: every regular\n"
     "                    file inside, under the path it installs to (parent\n"
     "                    directories resolved on this system: merged /usr)\n"
     "  --threads N       hash on N threads, 1 to 1024 (default: one per core)\n"
     "  --from-log        the arguments are measurement logs, not files to hash:\n"
     "                    vouch's or the kernel IMA's, binary or ASCII (detected);\n"
     "                    default " DEFAULT_LOG "\n"
     "                    Taken: SHA-256 file digests (fs-verity ones as verity\n"
     "                    entries), the boot_aggregate. Skipped and counted:\n"
     "                    violations, vouch: records, other algorithms, unknown\n"
     "                    templates.\n"
     "  --boot-aggregate SOURCE\n"
     "                    list a boot_aggregate value (Keylime checks the log's\n"
     "                    first entry against it; vouch does not enforce it):\n"
     "                    kernel (the running kernel's IMA log, else vouch's),\n"
     "                    a log file, or the hex value; may be given more than once\n"
     "  --base POLICY     extend POLICY (envelope or payload): its entries and\n"
     "                    settings are kept, the new entries added\n"
     "  --keys DIR        the --base envelope must verify against the keys in DIR\n"
     "                    (default: its signature is not checked)\n"
     "  --trust-key PEM   rotate keys: once the policy is active, vouchd trusts\n"
     "                    exactly the public keys given (may be given more than\n"
     "                    once); sign it with a current key and a new one\n"
     "  -o, --output OUT  write OUT, atomically (default, or -: stdout)\n",
     cmd_policy_make},
    {"policy", "sign", "--key KEY.pem... [-o OUT] POLICY.json",
     "sign a policy into a DSSE envelope (EC P-256 or Ed25519 key)",
     "Options:\n"
     "  --key KEY.pem     the private key, PEM; more than once for one signature\n"
     "                    each (a key rotation needs a current key and a new one)\n"
     "  -o, --output OUT  write OUT, atomically (default, or -: stdout)\n",
     cmd_policy_sign},
    {"policy", "verify", "[--keys DIR] ENVELOPE",
     "check an envelope's signature (trusted keys) and content",
     "Options:\n"
     "  --keys DIR        the trusted public keys (default /etc/vouch/keys)\n",
     cmd_policy_verify},
    {"policy", "show", "[--keys DIR] [--json] ENVELOPE",
     "verify, then print serial, mode, entries, signer, release",
     "Options:\n"
     "  --keys DIR        the trusted public keys (default /etc/vouch/keys)\n"
     "  --json            one JSON object\n",
     cmd_policy_show},
    {"policy", "diff", "[--json] [--keys DIR] A B",
     "what differs between two policies (exit 1: they differ)",
     "A and B are envelopes or payloads. Prints the fields that differ (serial,\n"
     "mode, then others by their JSON path, values as JSON), then the digests only\n"
     "B allows (+), those only A allows (-), and the paths whose digests changed\n"
     "(~, old -> new). Kinds: digest, agent (meta.vouch.agents), verity\n"
     "(meta.vouch.verity). Exit status 0: equal, 1: different, 2 or 5: trouble.\n"
     "\n"
     "Options:\n"
     "  --json            one JSON object: equal, fields, added, removed, paths\n"
     "  --keys DIR        A and B must be envelopes that verify against DIR's keys\n"
     "                    (default: signatures are not checked)\n",
     cmd_policy_diff},
    {"policy", "merge",
     "[--serial N] [--mode audit|enforce] [--keys DIR]\n"
     "       [-o OUT] BASE OTHER...",
     "the union of policies' entries, as a payload to sign",
     "Every digest, agent and fs-verity digest of every input, under its paths (a\n"
     "path may then list an old and a new digest); the other fields come from BASE.\n"
     "Sign the result with `vouchctl policy sign`.\n"
     "\n"
     "Options:\n"
     "  --serial N        the serial, above every input's (default: the highest + 1)\n"
     "  --mode MODE       audit or enforce (default: BASE's)\n"
     "  --keys DIR        the inputs must be envelopes that verify against DIR's keys\n"
     "                    (default: signatures are not checked)\n"
     "  -o, --output OUT  write OUT, atomically (default, or -: stdout)\n",
     cmd_policy_merge},
    {"policy", "keylime", "[--keys DIR] [-o OUT] ENVELOPE...",
     "the Keylime runtime policy for a fleet running these policies",
     "The payload of the newest ENVELOPE (highest serial), with Keylime's \"ima-buf\"\n"
     "listing the digests of vouch's own log records: the vouch-policy record of\n"
     "every ENVELOPE (so machines still on an older serial pass during a rollout)\n"
     "and the fixed ones (vouch-measure-start, vouchd-start, vouchd-stop). Give it to\n"
     "keylime_tenant as the runtime policy. Inputs must be signed envelopes: the\n"
     "record names the SHA-256 of the envelope vouchd activated.\n"
     "\n"
     "Options:\n"
     "  --keys DIR        the envelopes must verify against DIR's keys\n"
     "                    (default: signatures are not checked)\n"
     "  -o, --output OUT  write OUT, atomically (default, or -: stdout)\n",
     cmd_policy_keylime},
    {"policy", "update", "FILE [--json] [BUS OPTIONS]",
     "hand a signed policy envelope to vouchd; print the new serial",
     "vouchd verifies the envelope (signature, content, a serial not below the one\n"
     "it holds) and activates it atomically; a refused policy leaves the active one\n"
     "in force. FILE - reads standard input.\n"
     "\n"
     "Options:\n"
     "  --json            {\"serial\": N}\n" BUS_OPTIONS,
     cmd_policy_update},
    {"policy", "check",
     "[--json] [--agent PATH]... [--local-key] [--apt]\n"
     "       [BUS OPTIONS] { --deb PKG.deb... | --rpm PKG.rpm... | FILE... }",
     "would the active policy let these files (or packages) run?",
     "Asks the running vouchd, for each executable file (ELF or with an execute bit)\n"
     "inside the packages, or for each FILE, whether the allow-list the kernel\n"
     "enforces holds its digest. Lists those it does not and, in enforce mode, the\n"
     "commands that authorize them. What the apt hook runs before dpkg unpacks.\n"
     "Exit status: 0 all allowed; 6 some are not and vouch enforces; 7 some are not\n"
     "but vouch is in audit mode or has no policy; 3 vouchd is not running.\n"
     "\n"
     "Options:\n"
     "  --deb, --rpm      the arguments are .deb or RPM packages\n"
     "  --agent PATH      the file installed at PATH (vouchd) must also be allowed\n"
     "                    to manage vouch; may be given more than once\n"
     "  --apt             word the advice for apt's hook\n"
     "  --local-key       with --deb/--rpm: if vouch.conf sets local_signing_key and\n"
     "                    files are not allowed while enforcing, extend the active\n"
     "                    policy with the packages, sign it with that key, load it\n"
     "  --config FILE     vouch.conf to read (default /etc/vouch/vouch.conf)\n"
     "  --json            {mode, serial, checked, skipped, allowed, not_allowed}\n" BUS_OPTIONS,
     cmd_policy_check},
    {"policy", "get", "[-o OUT] [BUS OPTIONS]",
     "the envelope of the policy vouchd enforces, to extend it",
     "Writes the active policy's DSSE envelope, byte for byte as vouchd activated it\n"
     "(the --base for `policy make`). Exit status 1 when no policy is active.\n"
     "\n"
     "Options:\n"
     "  -o, --output OUT  write OUT, atomically (default, or -: stdout)\n" BUS_OPTIONS,
     cmd_policy_get},
    {"unpin", "", "[DIR]", "remove vouch's pins; refused while enforcing",
     "Removes vouch's pins (default /sys/fs/bpf/vouch): the hooks detach once vouchd\n"
     "is stopped.\n",
     cmd_unpin},
    {"help", "", "[COMMAND [SUB]]", "this text, or a command's options", "", cmd_help},
};

#undef BUS_OPTIONS
#undef DEFAULT_LOG

// A command name ("policy") whose rows all have a sub-command.
bool is_group(std::string_view name) {
    bool any = false;
    for (const auto &c : kCommands) {
        if (c.name != name)
            continue;
        if (c.sub.empty())
            return false;
        any = true;
    }
    return any;
}

// The row argv names (argv[0] a name, argv[1] maybe its sub-command), and how
// many of argv's words it took.
const Command *find(int argc, char **argv, int *words) {
    std::string_view name = argv[0];
    if (argc > 1)
        for (const auto &c : kCommands)
            if (c.name == name && !c.sub.empty() && c.sub == argv[1]) {
                *words = 2;
                return &c;
            }
    for (const auto &c : kCommands)
        if (c.name == name && c.sub.empty()) {
            *words = 1;
            return &c;
        }
    return nullptr;
}

// `vouchctl policy --help`: the group's commands with their synopses.
void print_group(std::FILE *out, std::string_view name) {
    std::fprintf(out, "Usage: vouchctl %.*s COMMAND ...\n", int(name.size()), name.data());
    for (const auto &c : kCommands)
        if (c.name == name)
            std::fprintf(out, "  %.*s %.*s\n      %.*s\n", int(c.sub.size()), c.sub.data(),
                         int(c.synopsis.size()), c.synopsis.data(), int(c.summary.size()),
                         c.summary.data());
    std::fprintf(out, "`vouchctl %.*s COMMAND --help` shows a command's options.\n",
                 int(name.size()), name.data());
}

Exit group_error(std::string_view name, const std::string &msg) {
    std::fprintf(stderr, "vouchctl %.*s: %s\n", int(name.size()), name.data(), msg.c_str());
    print_group(stderr, name);
    return Exit::Usage;
}

Exit unknown_command(const std::string &name) {
    std::fprintf(stderr, "vouchctl: unknown command '%s'\n", name.c_str());
    print_usage(stderr);
    return Exit::Usage;
}

// argv[0] names a command; the rest are its words, options and arguments.
Exit dispatch(int argc, char **argv) {
    std::string name = argv[0];
    if (is_group(name)) {
        if (argc < 2)
            return group_error(name, "missing command");
        std::string_view sub = argv[1];
        if (sub == "--help" || sub == "-h" || sub == "help") {
            print_group(stdout, name);
            return Exit::Ok;
        }
    }
    int words = 0;
    const Command *cmd = find(argc, argv, &words);
    if (!cmd)
        return is_group(name) ? group_error(name, "unknown command '" + std::string(argv[1]) + "'")
                              : unknown_command(name);
    return cmd->run(*cmd, argc - (words - 1), argv + (words - 1));
}

Exit cmd_help(const Command &self, int argc, char **argv) {
    auto p = parse_options(argc, argv, {}, [](int, const char *) { return Result<void>(); });
    if (!p)
        return usage_error(self, p.error().message);
    if (p->help)
        return print_help(self);
    if (p->args.empty()) {
        print_usage(stdout);
        return Exit::Ok;
    }
    std::vector<char *> words;
    for (auto &a : p->args)
        words.push_back(a.data());
    if (is_group(words[0]) && words.size() == 1) {
        print_group(stdout, words[0]);
        return Exit::Ok;
    }
    int used = 0;
    const Command *cmd = find(int(words.size()), words.data(), &used);
    if (!cmd || size_t(used) != words.size())
        return usage_error(self, "no command '" + std::string(words[0]) +
                                     (words.size() > 1 ? " " + std::string(words[1]) : "") + "'");
    return print_help(*cmd);
}

} // namespace

std::span<const Command> commands() {
    return kCommands;
}

void print_usage(std::FILE *out) {
    std::fputs("Usage: vouchctl [--help] [--version] COMMAND [ARGS]\n"
               "\n"
               "Commands:\n",
               out);
    for (const auto &c : kCommands) {
        std::string name = c.full_name();
        std::fprintf(out, "  %-16s%s%.*s\n", name.c_str(), name.size() >= 16 ? " " : "",
                     int(c.summary.size()), c.summary.data());
    }
    std::fputs("\n"
               "`vouchctl COMMAND --help` shows a command's options.\n"
               "\n"
               "Exit status:\n"
               "  0  success\n"
               "  1  failure (the reason is on stderr); log verify: the log does not\n"
               "     replay; check-kernel: something vouch needs is missing; policy diff:\n"
               "     the policies differ (its failures are 2 or 5)\n"
               "  2  usage error\n"
               "  3  vouchd is not running (no one owns org.vouch.Vouch1), or no bus\n"
               "  4  access denied: changing policy needs root, reading root or group vouch\n"
               "  5  bad input: unreadable file, or vouchd refused the policy (malformed,\n"
               "     bad signature, unknown key, rollback, too large)\n",
               out);
}

Exit run(int argc, char **argv) {
    static const option opts[] = {
        {"help", no_argument, nullptr, 'h'},
        {"version", no_argument, nullptr, 'V'},
        {nullptr, 0, nullptr, 0},
    };
    optind = 0;
    opterr = 0;
    int c;
    // '+': the options end at the command's name; the rest is the command's.
    while ((c = getopt_long(argc, argv, "+:h", opts, nullptr)) != -1) {
        switch (c) {
        case 'h':
            print_usage(stdout);
            return Exit::Ok;
        case 'V':
            std::printf("vouchctl %s\n", VOUCH_VERSION);
            return Exit::Ok;
        default:
            std::fprintf(stderr, "vouchctl: unknown option '%s'\n", argv[optind - 1]);
            print_usage(stderr);
            return Exit::Usage;
        }
    }
    if (optind >= argc) {
        print_usage(stderr);
        return Exit::Usage;
    }
    return dispatch(argc - optind, argv + optind);
}

} // namespace vouch::ctl
