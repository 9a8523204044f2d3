// SPDX-License-Identifier: Apache-2.0
// vouchctl policy make|sign|verify|show: offline policy tooling. Loading a
// policy into a running vouchd goes over D-Bus and lives elsewhere.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/file_io.h"
#include "lib/digest.h"
#include "lib/ima_log.h"
#include "lib/vouch_records.h"
#include "policy/compose.h"
#include "policy/dsse.h"
#include "policy/make.h"
#include "policy/package.h"
#include "policy/policy.h"
#include "vouchctl/commands.h"

namespace vouch::ctl {

using namespace vouch::policy;

namespace {

Exit fail(const std::string &msg) {
    std::fprintf(stderr, "vouchctl policy: %s\n", msg.c_str());
    return Exit::Failure;
}

// Input that cannot be read or is not a policy (or a log).
Exit bad_input(const std::string &msg) {
    fail(msg);
    return Exit::BadInput;
}

Exit write_output(const std::string &out, const std::string &data) {
    return vouch::ctl::write_output(out, data, "vouchctl policy");
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
    kOptJson,
    kOptFromLog,
    kOptBase,
    kOptDeb,
    kOptRpm,
    kOptAllowModified,
    kOptAdmindir,
    kOptBootAggregate,
    kOptTrustKey
};
const Option kOutput = {"output", required_argument, kOptOutput, true};

// A log file in either form (binary or ASCII, vouch's or the kernel's).
Result<std::vector<ima::Entry>> read_any_log(const std::string &path) {
    // securityfs reports size 0: read_file() reads to the end whatever it says.
    auto bytes = read_file(path, size_t(1) << 30);
    if (!bytes)
        return bytes.error();
    auto entries =
        ima::parse_any({reinterpret_cast<const uint8_t *>(bytes->data()), bytes->size()});
    if (!entries)
        return make_error(entries.error().code, path + ": " + entries.error().message);
    return entries;
}

// The policy file (envelope or payload) at `path`, checked against `keys`
// when they are given.
Result<Document> load_document(const std::string &path, const TrustStore *keys) {
    auto bytes = read_file(path, kMaxEnvelopeBytes);
    if (!bytes)
        return bytes.error();
    auto d = read_document(*bytes, keys);
    if (!d)
        return make_error(d.error().code, path + ": " + d.error().message);
    return d;
}

// A document make or merge is about to write must be one vouchd (and
// `policy sign`) accepts: its fields other than the entries come from an
// input, which the offline reader takes even when vouchd would refuse it
// (Keylime's excludes in enforce mode), and --mode may change the mode.
Result<void> check_written(const std::string &text, const std::string &fields_from) {
    auto p = parse_payload(text);
    if (p)
        return {};
    return make_error(
        p.error().code,
        "not written: vouchd and `policy sign` would refuse it: " + p.error().message +
            (fields_from.empty() ? "" : " (its other fields come from " + fields_from + ")"));
}

Result<vouch_mode> parse_mode(const char *v) {
    if (std::strcmp(v, "audit") == 0)
        return VOUCH_MODE_AUDIT;
    if (std::strcmp(v, "enforce") == 0)
        return VOUCH_MODE_ENFORCE;
    return bad_usage(std::string("--mode: '") + v + "' is neither audit nor enforce");
}

std::string from_log_summary(const std::string &path, const FromLog &f) {
    std::string s = path + ": " + std::to_string(f.entries) + " entries, " +
                    std::to_string(f.unique_digests) + " distinct digests taken";
    auto skipped = [&](size_t n, const std::string &what) {
        if (n)
            s += ", " + std::to_string(n) + " " + what;
    };
    skipped(f.violations, "violations skipped");
    if (f.boot_aggregate)
        s += ", " + std::to_string(f.boot_aggregate) + " boot_aggregate taken";
    skipped(f.vouch_records, "vouch records skipped");
    skipped(f.buffers, "ima-buf entries (measured buffers, not files) skipped");
    skipped(f.unknown, "entries of unknown templates skipped");
    for (const auto &[algo, n] : f.other_algos)
        skipped(n, algo + " digests skipped (vouch enforces SHA-256 only)");
    return s;
}

// Where `--boot-aggregate kernel` looks: the running kernel's IMA log, then
// vouch's, which starts with the kernel's boot_aggregate when the kernel's
// IMA measured into vouch's PCR (for where securityfs is not mounted, a
// container, but /run/vouch is).
constexpr const char *kKernelImaLog = "/sys/kernel/security/ima/binary_runtime_measurements";

// The boot_aggregate entry of the log at `path`.
Result<std::string> boot_aggregate_of_log(const std::string &path) {
    auto entries = read_any_log(path);
    if (!entries)
        return entries.error();
    for (const auto &e : *entries) {
        if (e.path != kBootAggregate || e.violation)
            continue;
        std::string hex = boot_aggregate_hex(e);
        if (hex.empty())
            return make_error(ENODATA, path + ": the boot_aggregate entry (template " +
                                           e.template_name + ") has no digest vouch can read");
        if (hex.find_first_not_of('0') == std::string::npos)
            return make_error(ENODATA, path + ": the boot_aggregate is all zeros: the kernel found "
                                              "no TPM at boot, so there is nothing to attest");
        return hex;
    }
    return make_error(ENODATA, path + ": no boot_aggregate entry");
}

// --boot-aggregate SOURCE: "kernel" (the running kernel's log), a log file,
// or the value itself (hex, with or without the log's "algo:" prefix).
Result<std::string> boot_aggregate_from(const std::string &source) {
    std::string hex = source;
    for (const char *algo : {"sha1:", "sha256:", "sha384:", "sha512:"})
        if (hex.starts_with(algo))
            hex.erase(0, std::strlen(algo));
    std::transform(hex.begin(), hex.end(), hex.begin(),
                   [](char c) { return static_cast<char>(std::tolower(c)); });
    bool is_hex = !hex.empty() && std::all_of(hex.begin(), hex.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    });
    if (is_hex && (hex.size() == 40 || hex.size() == 64 || hex.size() == 96 || hex.size() == 128))
        return hex;
    if (source != "kernel")
        return boot_aggregate_of_log(source);
    auto k = boot_aggregate_of_log(kKernelImaLog);
    if (k)
        return k;
    auto v = boot_aggregate_of_log(kDefaultLog);
    if (v)
        return v;
    return make_error(k.error().code, k.error().message + "; " + v.error().message);
}

// --serial and --mode, which make and merge both take. Returns false when
// `id` is neither (the caller handles it).
struct SerialAndMode {
    std::optional<uint64_t> serial;
    std::optional<vouch_mode> mode;
    bool take(int id, const char *v, Result<void> &r) {
        if (id == kOptSerial) {
            auto n = parse_number("--serial", v, 0, UINT64_MAX);
            r = n ? Result<void>{} : Result<void>(n.error());
            if (n)
                serial = *n;
            return true;
        }
        if (id == kOptMode) {
            auto m = parse_mode(v);
            r = m ? Result<void>{} : Result<void>(m.error());
            if (m)
                mode = *m;
            return true;
        }
        return false;
    }
};

// --keys DIR: the store; no DIR (empty): none, signatures are not checked.
Result<std::optional<TrustStore>> load_keys(const std::string &dir) {
    if (dir.empty())
        return std::optional<TrustStore>{};
    auto k = TrustStore::load(dir);
    if (!k)
        return make_error(k.error().code, "--keys: " + k.error().message);
    return std::optional<TrustStore>(std::move(*k));
}

} // namespace

Exit cmd_policy_make(const Command &self, int argc, char **argv) {
    SerialAndMode sm;
    auto &serial = sm.serial;
    auto &mode = sm.mode;
    std::string out, base_path, keys_dir;
    std::vector<std::string> agents, boot_sources;
    bool dpkg = false, from_log = false, deb = false, rpm = false, allow_modified = false;
    std::string admindir = "/var/lib/dpkg";
    std::vector<std::string> trust_keys;
    unsigned threads = 0;
    auto on_option = [&](int id, const char *v) -> Result<void> {
        if (Result<void> r; sm.take(id, v, r))
            return r;
        switch (id) {
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
        case kOptFromLog:
            from_log = true;
            break;
        case kOptDeb:
            deb = true;
            break;
        case kOptRpm:
            rpm = true;
            break;
        case kOptAllowModified:
            allow_modified = true;
            break;
        case kOptAdmindir:
            admindir = v;
            break;
        case kOptBase:
            base_path = v;
            break;
        case kOptKeys:
            keys_dir = v;
            break;
        case kOptOutput:
            out = v;
            break;
        case kOptBootAggregate:
            boot_sources.push_back(v);
            break;
        case kOptTrustKey: {
            auto pem = read_file(v, 1 << 20);
            if (!pem)
                return pem.error();
            auto key = parse_public_key(*pem, v);
            if (!key)
                return key.error();
            trust_keys.push_back(std::move(*pem));
            break;
        }
        }
        return {};
    };
    auto p = parse_options(argc, argv,
                           {{"serial", required_argument, kOptSerial},
                            {"mode", required_argument, kOptMode},
                            {"agent", required_argument, kOptAgent},
                            {"threads", required_argument, kOptThreads},
                            {"dpkg", no_argument, kOptDpkg},
                            {"from-log", no_argument, kOptFromLog},
                            {"deb", no_argument, kOptDeb},
                            {"rpm", no_argument, kOptRpm},
                            {"allow-modified", no_argument, kOptAllowModified},
                            {"admindir", required_argument, kOptAdmindir},
                            {"base", required_argument, kOptBase},
                            {"keys", required_argument, kOptKeys},
                            {"boot-aggregate", required_argument, kOptBootAggregate},
                            {"trust-key", required_argument, kOptTrustKey},
                            kOutput},
                           on_option);
    if (!p)
        return usage_error(self, p.error().message);
    if (p->help)
        return print_help(self);
    if (from_log && dpkg)
        return usage_error(self, "--from-log and --dpkg do not mix");
    if (deb && rpm)
        return usage_error(self, "--deb and --rpm do not mix: one kind of package per run");
    if ((deb || rpm) && from_log)
        return usage_error(self, std::string(deb ? "--deb" : "--rpm") +
                                     " and --from-log do not mix: the arguments are packages");
    if (allow_modified && !dpkg)
        return usage_error(self, "--allow-modified is about --dpkg's check: give --dpkg too");
    const bool packages = deb || rpm;
    if (packages && p->args.empty())
        return usage_error(self, std::string(deb ? "--deb" : "--rpm") + " needs PACKAGE files");
    if (!keys_dir.empty() && base_path.empty())
        return usage_error(self, "--keys checks the --base policy: give --base too");
    const std::vector<std::string> roots =
        from_log || packages ? std::vector<std::string>{} : p->args;
    const std::vector<std::string> archives = packages ? p->args : std::vector<std::string>{};
    std::vector<std::string> logs = from_log ? p->args : std::vector<std::string>{};
    if (from_log && logs.empty())
        logs.push_back(kDefaultLog);
    if (!from_log && !packages && roots.empty() && !dpkg && agents.empty() && base_path.empty())
        return usage_error(self, "no PATH, --dpkg, --from-log, --base or --agent: the policy "
                                 "would be empty");
    // Before the base and the hashing: a source that has no boot_aggregate
    // is the caller's mistake, reported before any work.
    std::vector<std::string> boot_values;
    for (const auto &src : boot_sources) {
        auto b = boot_aggregate_from(src);
        if (!b)
            return bad_input("--boot-aggregate " + src + ": " + b.error().message);
        boot_values.push_back(*b);
    }

    // The base first: a wrong --serial is reported before anything is hashed.
    Document doc;
    if (!base_path.empty()) {
        auto loaded = load_keys(keys_dir);
        if (!loaded)
            return fail(loaded.error().message);
        std::optional<TrustStore> keys = std::move(*loaded);
        auto b = load_document(base_path, keys ? &*keys : nullptr);
        if (!b)
            return bad_input("--base " + b.error().message);
        doc = std::move(*b);
        if (serial && *serial <= doc.serial)
            return fail("--serial " + std::to_string(*serial) +
                        " is not above the --base "
                        "policy's serial " +
                        std::to_string(doc.serial) +
                        ": vouchd would refuse it as a rollback or keep the old one");
        if (!serial && doc.serial == UINT64_MAX)
            return fail("the --base policy's serial is 2^64-1: there is no higher one");
        doc.serial = serial ? *serial : doc.serial + 1;
    } else {
        doc.serial = serial ? *serial : static_cast<uint64_t>(std::time(nullptr));
    }
    if (mode)
        doc.mode = *mode;

    auto start = std::chrono::steady_clock::now();
    auto secs = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    std::vector<std::string> notes;
    for (const auto &log : logs) {
        auto entries = read_any_log(log);
        if (!entries)
            return bad_input(entries.error().message +
                             (entries.error().code == ENOENT && log == kDefaultLog
                                  ? " (is vouchd running?)"
                                  : ""));
        FromLog f = vouch::policy::from_log(*entries);
        for (const auto &[path, list] : f.digests)
            for (const auto &hex : list)
                add_digest(doc.digests, path, hex);
        for (const auto &[path, list] : f.verity)
            for (const auto &hex : list)
                add_digest(doc.verity, path, hex);
        for (const auto &hex : f.boot_aggregates)
            add_digest(doc.digests, kBootAggregate, hex);
        notes.push_back(from_log_summary(log, f));
    }
    for (const auto &hex : boot_values)
        add_digest(doc.digests, kBootAggregate, hex);

    bool tty = ::isatty(STDERR_FILENO);
    if (packages) {
        bool shown = false;
        auto read = read_packages(
            archives, deb ? PackageKind::Deb : PackageKind::Rpm, threads,
            [&](const PackageProgress &p) {
                double mb = static_cast<double>(p.bytes_done) / 1e6;
                std::fprintf(stderr,
                             "%svouchctl policy: read %zu/%zu packages, %.0f MB, %.0f MB/s%s",
                             tty ? "\r" : "", p.packages_done, p.packages_total, mb, mb / secs(),
                             tty ? "" : "\n");
                shown = true;
            },
            tty ? 1000 : 5000);
        if (shown && tty)
            std::fputc('\n', stderr);
        size_t nfiles = 0;
        std::vector<std::string> packaged_agents;
        for (const auto &r : read) {
            // A package that cannot be read would leave its files denied after
            // the upgrade it was meant to authorize: no partial policy.
            if (!r)
                return bad_input(r.error().message);
            // --agent /usr/sbin/vouchd with vouch's own package: the new
            // vouchd, not the one on disk, is the agent after the upgrade.
            auto found = add_package(doc, *r, agents);
            packaged_agents.insert(packaged_agents.end(), found.begin(), found.end());
            nfiles += r->files.size();
        }
        std::erase_if(agents, [&](const std::string &a) {
            return std::find(packaged_agents.begin(), packaged_agents.end(), a) !=
                   packaged_agents.end();
        });
        char buf[128];
        std::snprintf(buf, sizeof(buf), "%zu packages read (%zu files) in %.1fs", read.size(),
                      nfiles, secs());
        notes.push_back(buf);
    }

    auto collected = collect_files(roots);
    if (dpkg) {
        auto d = collect_dpkg_files(admindir);
        if (!d)
            return fail("--dpkg: " + d.error().message);
        collected.files.insert(collected.files.end(), d->files.begin(), d->files.end());
        collected.errors.insert(collected.errors.end(), d->errors.begin(), d->errors.end());
        collected.dpkg = std::move(d->dpkg);
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
    bool shown = false;
    auto hashed = hash_files(
        files, threads,
        [&](const Progress &p) {
            double mb = static_cast<double>(p.bytes_done) / 1e6;
            std::fprintf(stderr, "%svouchctl policy: hashed %zu/%zu files, %.0f MB, %.0f MB/s%s",
                         tty ? "\r" : "", p.files_done, p.files_total, mb, mb / secs(),
                         tty ? "" : "\n");
            shown = true;
        },
        tty ? 1000 : 5000, dpkg);
    if (shown && tty)
        std::fputc('\n', stderr);

    // An installed file that is not what its package installed is what an
    // attacker's edit looks like: listing it would authorize the edit.
    if (dpkg) {
        auto modified = dpkg_modified(collected, hashed);
        for (size_t i = 0; i < modified.size() && i < 20; ++i)
            std::fprintf(stderr, "vouchctl policy: %s: %s\n",
                         allow_modified ? "warning: modified, listed anyway" : "modified",
                         modified[i].c_str());
        if (modified.size() > 20)
            std::fprintf(stderr, "vouchctl policy: %zu more modified files\n",
                         modified.size() - 20);
        if (!modified.empty() && !allow_modified)
            return fail(std::to_string(modified.size()) +
                        " installed file(s) differ from what their package installed "
                        "(dpkg's md5sums); reinstall the package, or list them anyway "
                        "with --allow-modified");
    }

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
        add_digest(doc.digests, h.path, hex);
        if (is_agent)
            add_digest(doc.agents, h.path, hex);
        // The kernel side knows a file with fs-verity by that digest (6.8+):
        // list it too, so the policy holds on every kernel.
        if (h.verity)
            add_digest(doc.verity, h.path, vouch::to_hex(*h.verity));
    }
    if (failed > 20)
        std::fprintf(stderr, "vouchctl policy: warning: %zu more files skipped\n", failed - 20);
    if (doc.digests.empty() && doc.verity.empty() && doc.agents.empty())
        return fail("no digest to list: the policy would be empty");
    doc.trust_keys = trust_keys;
    std::string text = write_document(doc, utc_now());
    if (auto ok = check_written(text, base_path.empty() ? "" : "--base " + base_path); !ok)
        return fail(ok.error().message);
    if (Exit rc = write_output(out, text); rc != Exit::Ok)
        return rc;
    for (const auto &n : notes)
        std::fprintf(stderr, "vouchctl policy: %s\n", n.c_str());
    std::string base_note = base_path.empty() ? "" : ", extending " + base_path;
    std::string hashed_note;
    if (!files.empty()) {
        char buf[96];
        std::snprintf(buf, sizeof(buf), "%zu files hashed in %.1fs (%zu skipped), ",
                      hashed.size() - failed, secs(), failed);
        hashed_note = buf;
    }
    std::fprintf(stderr, "vouchctl policy: %sserial %llu, mode %s%s%s%s\n", hashed_note.c_str(),
                 static_cast<unsigned long long>(doc.serial), mode_string(doc.mode),
                 base_note.c_str(), out.empty() ? "" : " -> ", out.c_str());
    return Exit::Ok;
}

Exit cmd_policy_sign(const Command &self, int argc, char **argv) {
    std::vector<std::string> key_paths;
    std::string out;
    auto p = parse_options(argc, argv, {{"key", required_argument, kOptKey}, kOutput},
                           [&](int id, const char *v) -> Result<void> {
                               if (id == kOptKey)
                                   key_paths.push_back(v);
                               else
                                   out = v;
                               return {};
                           });
    if (auto e = settle_options(self, p, 0, 1, "more than one POLICY.json"))
        return *e;
    if (key_paths.empty() || p->args.empty())
        return usage_error(self, "needs --key KEY.pem and POLICY.json");
    const std::string &input = p->args[0];
    std::vector<SigningKey> keys;
    for (const auto &path : key_paths) {
        auto key = SigningKey::load_file(path);
        if (!key)
            return fail(key.error().message);
        for (const auto &k : keys)
            if (k.keyid() == key->keyid())
                return usage_error(self, "--key " + path + " is a key given before");
        keys.push_back(std::move(*key));
    }
    auto payload = read_file(input, kMaxEnvelopeBytes);
    if (!payload)
        return fail(payload.error().message);
    // Signing a document vouchd would refuse only moves the error to the fleet.
    auto doc = parse_payload(*payload);
    if (!doc)
        return fail(input + ": " + doc.error().message);
    // vouchd takes a new key set only with a signature by one of its keys:
    // the envelope must still verify once the rotation is done, at the next
    // boot too.
    if (!doc->trust_keys.empty()) {
        bool by_new = false;
        for (const auto &k : keys)
            for (const auto &t : doc->trust_keys)
                by_new = by_new || k.keyid() == t.keyid;
        if (!by_new)
            return fail(input + " sets the trusted keys (meta.vouch.keys) but no --key is one "
                                "of them: sign with a current key and a new one (--key CURRENT "
                                "--key NEW)");
    }
    std::vector<const SigningKey *> signers;
    for (const auto &k : keys)
        signers.push_back(&k);
    auto env = sign_envelope(*payload, signers);
    if (!env)
        return fail(env.error().message);
    if (env->size() > kMaxEnvelopeBytes)
        return fail("the envelope would be " + std::to_string(env->size()) +
                    " bytes, over vouchd's limit of " + std::to_string(kMaxEnvelopeBytes));
    if (Exit rc = write_output(out, *env); rc != Exit::Ok)
        return rc;
    for (const auto &k : keys)
        std::fprintf(stderr, "vouchctl policy: signed with %s key %s%s%s\n",
                     key_type_name(k.type()), k.keyid().c_str(), out.empty() ? "" : " -> ",
                     out.c_str());
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
        nlohmann::json j = {
            {"digest", p->digest},       {"keyid", p->keyid},
            {"serial", p->serial},       {"mode", mode_string(p->mode)},
            {"entries", p->entries},     {"paths", p->paths},
            {"agents", agents},          {"boot_aggregate", p->boot_aggregates},
            {"excludes", p->excludes},   {"release", p->release},
            {"timestamp", p->timestamp}, {"verification_keys", p->verification_keys}};
        nlohmann::json trust = nlohmann::json::array();
        for (const auto &k : p->trust_keys)
            trust.push_back(k.keyid);
        j["trust_keys"] = trust;
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
    // Keylime checks the log's first entry against these; vouch does not.
    if (!p->boot_aggregates.empty())
        std::printf("boot      %zu boot_aggregate value(s), for the verifier\n",
                    p->boot_aggregates.size());
    for (const auto &b : p->boot_aggregates)
        std::printf("          %s\n", b.c_str());
    // A rotation: once active, these are the only keys vouchd trusts.
    if (!p->trust_keys.empty())
        std::printf("keys      sets the trusted keys to %zu key(s)\n", p->trust_keys.size());
    for (const auto &k : p->trust_keys)
        std::printf("          %s (%s)\n", k.keyid.c_str(), key_type_name(k.type));
    std::printf("release   %llu\n", static_cast<unsigned long long>(p->release));
    if (!p->timestamp.empty())
        std::printf("created   %s\n", p->timestamp.c_str());
    // Only an audit policy gets here with these (parse_payload() refuses
    // them in enforce mode): vouch's would-deny reports then include files
    // Keylime accepts.
    if (p->excludes)
        std::printf("excludes  %zu Keylime exclude pattern(s), not applied by vouch: it "
                    "reports the files Keylime skips\n",
                    p->excludes);
    if (p->verification_keys)
        std::printf("sigkeys   Keylime verification-keys, not applied by vouch: it reports "
                    "signed files whose digest is not listed\n");
    return Exit::Ok;
}

} // namespace

Exit cmd_policy_verify(const Command &self, int argc, char **argv) {
    return verify_show(self, argc, argv, false);
}

Exit cmd_policy_show(const Command &self, int argc, char **argv) {
    return verify_show(self, argc, argv, true);
}

namespace {

std::string join(const std::vector<std::string> &v, const char *sep) {
    std::string s;
    for (const auto &x : v)
        s += (s.empty() ? "" : sep) + x;
    return s.empty() ? "(none)" : s;
}

std::string path_kind(const std::string &kind) {
    return kind == "digest" ? "path" : kind + "-path";
}

nlohmann::ordered_json field_value(const std::string &text) {
    if (text == "(none)")
        return nullptr;
    return nlohmann::ordered_json::parse(text);
}

std::string diff_text(const Diff &d) {
    std::string s;
    for (const auto &f : d.fields)
        s += f.field + ": " + f.before + " -> " + f.after + "\n";
    for (const auto &c : d.added)
        s += "+" + c.kind + " " + c.digest + " " + join(c.paths, ", ") + "\n";
    for (const auto &c : d.removed)
        s += "-" + c.kind + " " + c.digest + " " + join(c.paths, ", ") + "\n";
    for (const auto &c : d.paths)
        s += "~" + path_kind(c.kind) + " " + c.path + ": " + join(c.before, ",") + " -> " +
             join(c.after, ",") + "\n";
    return s;
}

std::string diff_json(const Diff &d) {
    using ojson = nlohmann::ordered_json;
    ojson j;
    j["equal"] = d.empty();
    j["fields"] = ojson::array();
    for (const auto &f : d.fields)
        j["fields"].push_back({{"field", f.field},
                               {"before", field_value(f.before)},
                               {"after", field_value(f.after)}});
    for (const char *side : {"added", "removed"}) {
        j[side] = ojson::array();
        for (const auto &c : side[0] == 'a' ? d.added : d.removed)
            j[side].push_back({{"kind", c.kind}, {"digest", c.digest}, {"paths", c.paths}});
    }
    j["paths"] = ojson::array();
    for (const auto &c : d.paths)
        j["paths"].push_back(
            {{"kind", c.kind}, {"path", c.path}, {"before", c.before}, {"after", c.after}});
    return j.dump(2, ' ', false, ojson::error_handler_t::replace) + "\n";
}

} // namespace

Exit cmd_policy_diff(const Command &self, int argc, char **argv) {
    bool as_json = false;
    std::string keys_dir;
    auto p = parse_options(argc, argv,
                           {{"json", no_argument, kOptJson}, {"keys", required_argument, kOptKeys}},
                           [&](int id, const char *v) -> Result<void> {
                               if (id == kOptJson)
                                   as_json = true;
                               else
                                   keys_dir = v;
                               return {};
                           });
    if (auto e = settle_options(self, p, 2, 2, "needs two policies, A and B"))
        return *e;
    auto loaded = load_keys(keys_dir);
    if (!loaded)
        return bad_input(loaded.error().message);
    std::optional<TrustStore> keys = std::move(*loaded);
    auto a = load_document(p->args[0], keys ? &*keys : nullptr);
    if (!a)
        return bad_input(a.error().message);
    auto b = load_document(p->args[1], keys ? &*keys : nullptr);
    if (!b)
        return bad_input(b.error().message);
    // diff reads what vouchd would refuse, so that the change that makes a
    // policy acceptable can be reviewed, but says so.
    for (const auto &[path, doc] : {std::pair{&p->args[0], &*a}, std::pair{&p->args[1], &*b}})
        if (auto ok = parse_payload(doc->payload); !ok)
            std::fprintf(stderr, "vouchctl policy: note: %s: vouchd would refuse it: %s\n",
                         path->c_str(), ok.error().message.c_str());
    Diff d = diff(*a, *b);
    std::string text = as_json ? diff_json(d) : diff_text(d);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return d.empty() ? Exit::Ok : Exit::Differ;
}

Exit cmd_policy_merge(const Command &self, int argc, char **argv) {
    SerialAndMode sm;
    auto &serial = sm.serial;
    auto &mode = sm.mode;
    std::string out, keys_dir;
    auto p = parse_options(argc, argv,
                           {{"serial", required_argument, kOptSerial},
                            {"mode", required_argument, kOptMode},
                            {"keys", required_argument, kOptKeys},
                            kOutput},
                           [&](int id, const char *v) -> Result<void> {
                               if (Result<void> r; sm.take(id, v, r))
                                   return r;
                               switch (id) {
                               case kOptKeys:
                                   keys_dir = v;
                                   break;
                               case kOptOutput:
                                   out = v;
                                   break;
                               }
                               return {};
                           });
    if (auto e = settle_options(self, p, 2, SIZE_MAX, "needs BASE and at least one OTHER"))
        return *e;
    auto loaded = load_keys(keys_dir);
    if (!loaded)
        return bad_input(loaded.error().message);
    std::optional<TrustStore> keys = std::move(*loaded);
    Document merged;
    uint64_t highest = 0;
    for (size_t i = 0; i < p->args.size(); ++i) {
        auto d = load_document(p->args[i], keys ? &*keys : nullptr);
        if (!d)
            return bad_input(d.error().message);
        highest = std::max(highest, d->serial);
        if (i == 0)
            merged = std::move(*d);
        else
            add_entries(merged, *d);
    }
    if (serial && *serial <= highest)
        return fail("--serial " + std::to_string(*serial) +
                    " is not above the highest serial of the inputs, " + std::to_string(highest));
    if (!serial && highest == UINT64_MAX)
        return fail("an input's serial is 2^64-1: there is no higher one");
    merged.serial = serial ? *serial : highest + 1;
    if (mode)
        merged.mode = *mode;
    std::string text = write_document(merged, utc_now());
    if (auto ok = check_written(text, "BASE " + p->args[0]); !ok)
        return fail(ok.error().message);
    if (Exit rc = write_output(out, text); rc != Exit::Ok)
        return rc;
    size_t n = 0;
    for (const auto &[_, list] : merged.digests)
        n += list.size();
    std::fprintf(stderr,
                 "vouchctl policy: merged %zu policies: %zu digests over %zu paths, serial %llu, "
                 "mode %s%s%s\n",
                 p->args.size(), n, merged.digests.size(),
                 static_cast<unsigned long long>(merged.serial), mode_string(merged.mode),
                 out.empty() ? "" : " -> ", out.c_str());
    return Exit::Ok;
}

} // namespace vouch::ctl

namespace vouch::ctl {

Exit cmd_policy_keylime(const Command &self, int argc, char **argv) {
    std::string out, keys_dir;
    auto p = parse_options(argc, argv, {{"keys", required_argument, kOptKeys}, kOutput},
                           [&](int id, const char *v) -> Result<void> {
                               (id == kOptKeys ? keys_dir : out) = v;
                               return {};
                           });
    if (auto e = settle_options(self, p, 1, SIZE_MAX, "needs at least one ENVELOPE"))
        return *e;
    auto loaded = load_keys(keys_dir);
    if (!loaded)
        return bad_input(loaded.error().message);
    std::optional<TrustStore> keys = std::move(*loaded);
    // The newest envelope's payload is the policy; every envelope's
    // vouch-policy record is accepted, so machines still on an older serial
    // pass while a rollout moves them on.
    std::optional<Document> newest;
    std::string newest_path;
    std::vector<std::string> policy_records;
    for (const auto &path : p->args) {
        auto bytes = read_file(path, kMaxEnvelopeBytes);
        if (!bytes)
            return bad_input(bytes.error().message);
        // vouchd records the SHA-256 of the envelope it activated: a bare
        // payload has no such digest.
        nlohmann::json j = nlohmann::json::parse(*bytes, nullptr, false);
        if (!j.is_object() || !j.contains("payloadType") || !j.contains("signatures") ||
            j.contains("meta"))
            return bad_input(path + ": not a DSSE envelope (a payload? sign it with `vouchctl "
                                    "policy sign` first): vouchd's vouch-policy record names "
                                    "the SHA-256 of the envelope it activated");
        auto d = read_document(*bytes, keys ? &*keys : nullptr);
        if (!d)
            return bad_input(path + ": " + d.error().message);
        Sha256 env =
            sha256_bytes({reinterpret_cast<const uint8_t *>(bytes->data()), bytes->size()});
        std::string hex =
            records::digest_hex(records::policy(d->serial, mode_string(d->mode), env));
        if (std::find(policy_records.begin(), policy_records.end(), hex) == policy_records.end())
            policy_records.push_back(hex);
        if (!newest || d->serial > newest->serial) {
            newest = std::move(*d);
            newest_path = path;
        }
    }
    for (const auto &hex : policy_records)
        add_digest(newest->ima_buf, records::kPolicy, hex);
    // The payload as signed (its timestamp kept), with ima-buf added.
    std::string text = write_document(*newest, "");
    if (auto ok = check_written(text, newest_path); !ok)
        return fail(ok.error().message);
    if (Exit rc = write_output(out, text); rc != Exit::Ok)
        return rc;
    std::fprintf(stderr,
                 "vouchctl policy: Keylime runtime policy from %s (serial %llu, %s), accepting "
                 "the vouch-policy records of %zu envelope%s%s%s\n",
                 newest_path.c_str(), static_cast<unsigned long long>(newest->serial),
                 mode_string(newest->mode), policy_records.size(),
                 policy_records.size() == 1 ? "" : "s", out.empty() ? "" : " -> ", out.c_str());
    return Exit::Ok;
}

} // namespace vouch::ctl
