// vouchctl policy make|sign|verify|show: offline policy tooling. Loading a
// policy into a running vouchd goes over D-Bus and lives elsewhere.
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/dsse.h"
#include "lib/file_io.h"
#include "policy/make.h"
#include "policy/policy.h"

namespace {

using namespace vouch;
using namespace vouch::policy;

constexpr const char *kUsage =
    "Usage: vouchctl policy COMMAND ...\n"
    "  make [--serial N] [--mode audit|enforce] [--agent FILE]... [--dpkg] [--threads N]\n"
    "       [-o OUT] [PATH...]\n"
    "      hash regular files (directories recursively, --dpkg: every file of the installed\n"
    "      packages) into a Keylime runtime policy; serial defaults to the Unix time, mode\n"
    "      to audit; --agent FILE is allowed and may manage vouch (vouchd itself)\n"
    "  sign --key KEY.pem [-o OUT] POLICY.json\n"
    "      wrap the policy in a DSSE envelope signed with an EC P-256 or Ed25519 key\n"
    "  verify [--keys DIR] ENVELOPE\n"
    "      check the signature against trusted keys (default /etc/vouch/keys) and the content\n"
    "  show [--keys DIR] [--json] ENVELOPE\n"
    "      verify, then print serial, mode, entries, signer keyid, release\n";

int usage_error(const std::string &msg) {
    std::fprintf(stderr, "vouchctl policy: %s\n%s", msg.c_str(), kUsage);
    return 2;
}

int fail(const std::string &msg) {
    std::fprintf(stderr, "vouchctl policy: %s\n", msg.c_str());
    return 1;
}

// Parses "--opt VALUE" / "--opt=VALUE"; advances i past the value.
bool take_value(int argc, char **argv, int &i, const char *opt, std::string &out) {
    std::string a = argv[i];
    std::string o = opt;
    if (a == o) {
        if (i + 1 >= argc)
            return false;
        out = argv[++i];
        return true;
    }
    if (a.rfind(o + "=", 0) == 0) {
        out = a.substr(o.size() + 1);
        return true;
    }
    return false;
}

bool parse_u64(const std::string &s, uint64_t &v) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

int write_output(const std::string &out, const std::string &data) {
    if (out.empty() || out == "-") {
        if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size() ||
            std::fflush(stdout) != 0)
            return fail(std::string("writing stdout: ") + std::strerror(errno));
        return 0;
    }
    if (auto r = write_file_atomic(out, data, 0644); !r)
        return fail(r.error().message);
    return 0;
}

std::string utc_now() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

int cmd_make(int argc, char **argv) {
    PolicyInput in;
    in.serial = static_cast<uint64_t>(std::time(nullptr));
    std::string out, v;
    std::vector<std::string> roots, agents;
    bool dpkg = false;
    unsigned threads = 0;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (take_value(argc, argv, i, "--serial", v)) {
            if (!parse_u64(v, in.serial))
                return usage_error("--serial: '" + v + "' is not a non-negative integer");
        } else if (take_value(argc, argv, i, "--mode", v)) {
            if (v == "audit")
                in.mode = VOUCH_MODE_AUDIT;
            else if (v == "enforce")
                in.mode = VOUCH_MODE_ENFORCE;
            else
                return usage_error("--mode: '" + v + "' is neither audit nor enforce");
        } else if (take_value(argc, argv, i, "--agent", v)) {
            agents.push_back(v);
        } else if (take_value(argc, argv, i, "--threads", v)) {
            uint64_t n = 0;
            if (!parse_u64(v, n) || n == 0 || n > 1024)
                return usage_error("--threads: '" + v + "' is not a number from 1 to 1024");
            threads = static_cast<unsigned>(n);
        } else if (take_value(argc, argv, i, "-o", v) || take_value(argc, argv, i, "--output", v)) {
            out = v;
        } else if (a == "--dpkg") {
            dpkg = true;
        } else if (a.size() > 1 && a[0] == '-') {
            return usage_error("make: unknown or incomplete option '" + a + "'");
        } else {
            roots.push_back(a);
        }
    }
    if (roots.empty() && !dpkg && agents.empty())
        return usage_error("make: no PATH, --dpkg or --agent: the policy would be empty");

    auto collected = collect_files(roots);
    if (dpkg) {
        auto d = collect_dpkg_files();
        if (!d)
            return fail("--dpkg: " + d.error().message);
        collected.files.insert(collected.files.end(), d->files.begin(), d->files.end());
        collected.errors.insert(collected.errors.end(), d->errors.begin(), d->errors.end());
    }
    // An agent that cannot be hashed would make an enforcing policy lock vouchd
    // out of its own maps: refuse rather than warn.
    auto agent_files = collect_files(agents);
    if (!agent_files.errors.empty())
        return fail("--agent: " + agent_files.errors.front());
    for (const auto &e : collected.errors)
        std::fprintf(stderr, "vouchctl policy: warning: %s\n", e.c_str());

    std::vector<std::string> files = collected.files;
    files.insert(files.end(), agent_files.files.begin(), agent_files.files.end());
    bool tty = ::isatty(STDERR_FILENO);
    bool shown = false;
    auto start = std::chrono::steady_clock::now();
    auto secs = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    auto hashed = hash_files(
        files, threads,
        [&](const Progress &p) {
            double mb = static_cast<double>(p.bytes_done) / 1e6;
            std::fprintf(stderr, "%svouchctl policy: hashed %zu/%zu files, %.0f MB, %.0f MB/s%s",
                         tty ? "\r" : "", p.files_done, p.files_total, mb, mb / secs(),
                         tty ? "" : "\n");
            shown = true;
        },
        tty ? 1000 : 5000);
    if (shown && tty)
        std::fputc('\n', stderr);

    size_t failed = 0;
    for (size_t i = 0; i < hashed.size(); ++i) {
        auto &h = hashed[i];
        bool is_agent = i >= collected.files.size();
        if (!h.digest) {
            if (is_agent)
                return fail("--agent: " + h.digest.error().message);
            if (++failed <= 20)
                std::fprintf(stderr, "vouchctl policy: warning: skipped %s\n",
                             h.digest.error().message.c_str());
            continue;
        }
        std::string hex = vouch::to_hex(*h.digest);
        auto &list = in.digests[h.path];
        if (list.empty())
            list.push_back(hex);
        if (is_agent)
            in.agents[h.path] = {hex};
        // The kernel side knows a file with fs-verity by that digest (6.8+):
        // list it too, so the policy holds on every kernel.
        if (h.verity)
            in.verity[h.path] = {vouch::to_hex(*h.verity)};
    }
    if (failed > 20)
        std::fprintf(stderr, "vouchctl policy: warning: %zu more files skipped\n", failed - 20);
    in.timestamp = utc_now();
    std::string doc = serialize(in);
    if (int rc = write_output(out, doc); rc)
        return rc;
    std::fprintf(
        stderr,
        "vouchctl policy: %zu files hashed in %.1fs (%zu skipped), serial %llu, mode %s%s%s\n",
        hashed.size() - failed, secs(), failed, static_cast<unsigned long long>(in.serial),
        mode_string(in.mode), out.empty() ? "" : " -> ", out.c_str());
    return 0;
}

int cmd_sign(int argc, char **argv) {
    std::string key_path, out, input, v;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (take_value(argc, argv, i, "--key", v))
            key_path = v;
        else if (take_value(argc, argv, i, "-o", v) || take_value(argc, argv, i, "--output", v))
            out = v;
        else if (a.size() > 1 && a[0] == '-')
            return usage_error("sign: unknown or incomplete option '" + a + "'");
        else if (input.empty())
            input = a;
        else
            return usage_error("sign: more than one POLICY.json");
    }
    if (key_path.empty() || input.empty())
        return usage_error("sign: needs --key KEY.pem and POLICY.json");
    auto key = SigningKey::load_file(key_path);
    if (!key)
        return fail(key.error().message);
    auto payload = read_file(input, kMaxEnvelopeBytes);
    if (!payload)
        return fail(payload.error().message);
    // Signing a document vouchd would refuse only moves the error to the fleet.
    if (auto p = parse_payload(*payload); !p)
        return fail(input + ": " + p.error().message);
    auto env = sign_envelope(*payload, *key);
    if (!env)
        return fail(env.error().message);
    if (env->size() > kMaxEnvelopeBytes)
        return fail("the envelope would be " + std::to_string(env->size()) +
                    " bytes, over vouchd's limit of " + std::to_string(kMaxEnvelopeBytes));
    if (int rc = write_output(out, *env); rc)
        return rc;
    std::fprintf(stderr, "vouchctl policy: signed with %s key %s%s%s\n", key_type_name(key->type()),
                 key->keyid().c_str(), out.empty() ? "" : " -> ", out.c_str());
    return 0;
}

// verify and show share everything up to the output.
int cmd_verify_show(int argc, char **argv, bool show) {
    std::string keys_dir = TrustStore::kDefaultDir, input, v;
    bool as_json = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (take_value(argc, argv, i, "--keys", v))
            keys_dir = v;
        else if (show && a == "--json")
            as_json = true;
        else if (a.size() > 1 && a[0] == '-')
            return usage_error(std::string(argv[0]) + ": unknown or incomplete option '" + a + "'");
        else if (input.empty())
            input = a;
        else
            return usage_error(std::string(argv[0]) + ": more than one ENVELOPE");
    }
    if (input.empty())
        return usage_error(std::string(argv[0]) + ": needs ENVELOPE");
    auto keys = TrustStore::load(keys_dir);
    if (!keys)
        return fail(keys.error().message);
    auto env = read_file(input, kMaxEnvelopeBytes);
    if (!env)
        return fail(env.error().message);
    auto p = verify_and_parse(*env, *keys);
    if (!p)
        return fail(input + ": refused: " + p.error().message);
    std::string signer = p->keyid;
    for (const auto &k : keys->keys())
        if (k.keyid == p->keyid)
            signer += " (" + k.source + ", " + key_type_name(k.type) + ")";
    if (!show) {
        std::printf("%s: verified: serial %llu, mode %s, %zu digests, signed by %s\n",
                    input.c_str(), static_cast<unsigned long long>(p->serial), mode_string(p->mode),
                    p->entries, signer.c_str());
        return 0;
    }
    if (as_json) {
        nlohmann::json agents = nlohmann::json::array();
        for (const auto &a : p->agents)
            agents.push_back(digest_hex(a));
        nlohmann::json j = {{"digest", p->digest},   {"keyid", p->keyid},
                            {"serial", p->serial},   {"mode", mode_string(p->mode)},
                            {"entries", p->entries}, {"paths", p->paths},
                            {"agents", agents},      {"excludes", p->excludes},
                            {"release", p->release}, {"timestamp", p->timestamp}};
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    std::printf("policy    %s\n"
                "signer    %s\n"
                "serial    %llu\n"
                "mode      %s\n"
                "entries   %zu digests over %zu paths\n"
                "agents    %zu digest(s)\n",
                p->digest.c_str(), signer.c_str(), static_cast<unsigned long long>(p->serial),
                mode_string(p->mode), p->entries, p->paths, p->agents.size());
    for (const auto &a : p->agents)
        std::printf("          %s\n", digest_hex(a).c_str());
    std::printf("release   %llu\n", static_cast<unsigned long long>(p->release));
    if (!p->timestamp.empty())
        std::printf("created   %s\n", p->timestamp.c_str());
    if (p->excludes)
        std::printf("excludes  %zu Keylime exclude pattern(s), not applied by vouch\n",
                    p->excludes);
    return 0;
}

} // namespace

int vouchctl_policy(int argc, char **argv) {
    if (argc < 2)
        return usage_error("missing command");
    std::string cmd = argv[1];
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
        std::fputs(kUsage, stdout);
        return 0;
    }
    if (cmd == "make")
        return cmd_make(argc - 1, argv + 1);
    if (cmd == "sign")
        return cmd_sign(argc - 1, argv + 1);
    if (cmd == "verify")
        return cmd_verify_show(argc - 1, argv + 1, false);
    if (cmd == "show")
        return cmd_verify_show(argc - 1, argv + 1, true);
    return usage_error("unknown command '" + cmd + "'");
}
