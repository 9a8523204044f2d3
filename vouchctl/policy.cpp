// vouchctl policy make|sign|verify|show: offline policy tooling. Loading a
// policy into a running vouchd goes over D-Bus and lives elsewhere.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/file_io.h"
#include "policy/dsse.h"
#include "policy/make.h"
#include "policy/policy.h"
#include "vouchctl/commands.h"

namespace vouch::ctl {

using namespace vouch::policy;

namespace {

Exit fail(const std::string &msg) {
    std::fprintf(stderr, "vouchctl policy: %s\n", msg.c_str());
    return Exit::Failure;
}

Exit write_output(const std::string &out, const std::string &data) {
    if (out.empty() || out == "-") {
        if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size() ||
            std::fflush(stdout) != 0)
            return fail(std::string("writing stdout: ") + std::strerror(errno));
        return Exit::Ok;
    }
    if (auto r = write_file_atomic(out, data, 0644); !r)
        return fail(r.error().message);
    return Exit::Ok;
}

std::string utc_now() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// The policy commands' option ids; -o is also --output.
enum : int {
    kOptOutput = 'o',
    kOptSerial = 300,
    kOptMode,
    kOptAgent,
    kOptThreads,
    kOptDpkg,
    kOptKey,
    kOptKeys,
    kOptJson
};
const Option kOutput = {"output", required_argument, kOptOutput, true};

} // namespace

Exit cmd_policy_make(const Command &self, int argc, char **argv) {
    PolicyInput in;
    in.serial = static_cast<uint64_t>(std::time(nullptr));
    std::string out;
    std::vector<std::string> agents;
    bool dpkg = false;
    unsigned threads = 0;
    auto on_option = [&](int id, const char *v) -> Result<void> {
        switch (id) {
        case kOptSerial: {
            auto n = parse_number("--serial", v, 0, UINT64_MAX);
            if (!n)
                return n.error();
            in.serial = *n;
            break;
        }
        case kOptMode:
            if (std::strcmp(v, "audit") == 0)
                in.mode = VOUCH_MODE_AUDIT;
            else if (std::strcmp(v, "enforce") == 0)
                in.mode = VOUCH_MODE_ENFORCE;
            else
                return bad_usage(std::string("--mode: '") + v + "' is neither audit nor enforce");
            break;
        case kOptAgent:
            agents.push_back(v);
            break;
        case kOptThreads: {
            auto n = parse_number("--threads", v, 1, 1024);
            if (!n)
                return n.error();
            threads = static_cast<unsigned>(*n);
            break;
        }
        case kOptDpkg:
            dpkg = true;
            break;
        case kOptOutput:
            out = v;
            break;
        }
        return {};
    };
    auto p = parse_options(argc, argv,
                           {{"serial", required_argument, kOptSerial},
                            {"mode", required_argument, kOptMode},
                            {"agent", required_argument, kOptAgent},
                            {"threads", required_argument, kOptThreads},
                            {"dpkg", no_argument, kOptDpkg},
                            kOutput},
                           on_option);
    if (!p)
        return usage_error(self, p.error().message);
    if (p->help)
        return print_help(self);
    const std::vector<std::string> &roots = p->args;
    if (roots.empty() && !dpkg && agents.empty())
        return usage_error(self, "no PATH, --dpkg or --agent: the policy would be empty");

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
    if (Exit rc = write_output(out, doc); rc != Exit::Ok)
        return rc;
    std::fprintf(
        stderr,
        "vouchctl policy: %zu files hashed in %.1fs (%zu skipped), serial %llu, mode %s%s%s\n",
        hashed.size() - failed, secs(), failed, static_cast<unsigned long long>(in.serial),
        mode_string(in.mode), out.empty() ? "" : " -> ", out.c_str());
    return Exit::Ok;
}

Exit cmd_policy_sign(const Command &self, int argc, char **argv) {
    std::string key_path, out;
    auto p = parse_options(argc, argv, {{"key", required_argument, kOptKey}, kOutput},
                           [&](int id, const char *v) -> Result<void> {
                               (id == kOptKey ? key_path : out) = v;
                               return {};
                           });
    if (auto e = settle_options(self, p, 0, 1, "more than one POLICY.json"))
        return *e;
    if (key_path.empty() || p->args.empty())
        return usage_error(self, "needs --key KEY.pem and POLICY.json");
    const std::string &input = p->args[0];
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
    if (Exit rc = write_output(out, *env); rc != Exit::Ok)
        return rc;
    std::fprintf(stderr, "vouchctl policy: signed with %s key %s%s%s\n", key_type_name(key->type()),
                 key->keyid().c_str(), out.empty() ? "" : " -> ", out.c_str());
    return Exit::Ok;
}

namespace {

// verify and show share everything up to the output.
Exit verify_show(const Command &self, int argc, char **argv, bool show) {
    std::string keys_dir = TrustStore::kDefaultDir;
    bool as_json = false;
    std::vector<Option> opts = {{"keys", required_argument, kOptKeys}};
    if (show)
        opts.push_back({"json", no_argument, kOptJson});
    auto cl = parse_options(argc, argv, opts, [&](int id, const char *v) -> Result<void> {
        if (id == kOptKeys)
            keys_dir = v;
        else
            as_json = true;
        return {};
    });
    if (!cl)
        return usage_error(self, cl.error().message);
    if (cl->help)
        return print_help(self);
    if (cl->args.size() > 1)
        return usage_error(self, "more than one ENVELOPE");
    if (cl->args.empty())
        return usage_error(self, "needs ENVELOPE");
    const std::string &input = cl->args[0];
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
        return Exit::Ok;
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
        return Exit::Ok;
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
    return Exit::Ok;
}

} // namespace

Exit cmd_policy_verify(const Command &self, int argc, char **argv) {
    return verify_show(self, argc, argv, false);
}

Exit cmd_policy_show(const Command &self, int argc, char **argv) {
    return verify_show(self, argc, argv, true);
}

} // namespace vouch::ctl
