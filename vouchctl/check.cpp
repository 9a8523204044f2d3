// SPDX-License-Identifier: Apache-2.0
// vouchctl policy check | get: ask the running vouchd whether files (or the
// files inside packages not yet installed) would be allowed to run, and fetch
// the envelope it enforces, to extend it. The apt hook
// (packaging/apt/apt-hook) is built on `check`.
#include <getopt.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpf/vouch_abi.h"
#include "lib/config.h"
#include "lib/dbus_names.h"
#include "lib/digest.h"
#include "lib/fd.h"
#include "lib/file_io.h"
#include "lib/sd_bus_ptr.h"
#include "lib/utf8.h"
#include "policy/dsse.h"
#include "policy/package.h"
#include "policy/policy.h"
#include "vouchctl/bus.h"
#include "vouchctl/commands.h"

namespace vouch::ctl {

namespace {

using Json = nlohmann::ordered_json;
using namespace vouch::policy;

enum : int {
    kOptJson = 300,
    kOptDeb,
    kOptRpm,
    kOptAgent,
    kOptApt,
    kOptLocalKey,
    kOptConfig,
    kOptOutput = 'o'
};

// One file to ask about, and where it comes from.
struct Item {
    std::string package; // "name version", or "" for an installed file
    std::string path;
    Sha256 digest{};
    bool agent = false; // must also be allowed to manage vouch (vouchd)
    uint32_t flags = 0; // the answer
    bool ok() const {
        return (flags & VOUCH_ALLOW_EXEC) && (!agent || (flags & VOUCH_ALLOW_AGENT));
    }
};

std::string absolute(const std::string &p) {
    std::unique_ptr<char, decltype(&std::free)> r(::realpath(p.c_str(), nullptr), std::free);
    return r ? std::string(r.get()) : p;
}

// A word for a shell command line: quoted unless it is plain.
std::string shell_word(const std::string &s) {
    bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("/._-+:=%@,", c);
    });
    if (plain)
        return s;
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

Exit fail(const std::string &msg, Exit rc = Exit::Failure) {
    std::fprintf(stderr, "vouchctl policy: %s\n", msg.c_str());
    return rc;
}

// Mode and serial, from the properties (one call each: two small reads).
Exit read_state(const BusTarget &t, sd_bus *bus, std::string *mode, uint64_t *serial) {
    SdBusError e;
    char *m = nullptr;
    int r = sd_bus_get_property_string(bus, dbus::kName, dbus::kPath, dbus::kInterface, "Mode",
                                       e.get(), &m);
    if (r < 0)
        return call_failed(t, "policy check", e, r);
    *mode = m;
    std::free(m);
    SdBusError e2;
    r = sd_bus_get_property_trivial(bus, dbus::kName, dbus::kPath, dbus::kInterface, "PolicySerial",
                                    e2.get(), 't', serial);
    if (r < 0)
        return call_failed(t, "policy check", e2, r);
    return Exit::Ok;
}

Exit ask(const BusTarget &t, sd_bus *bus, std::vector<Item> &items) {
    for (size_t done = 0; done < items.size();) {
        size_t n = std::min<size_t>(dbus::kMaxCheckDigests, items.size() - done);
        sd_bus_message *raw = nullptr;
        int r = sd_bus_message_new_method_call(bus, &raw, dbus::kName, dbus::kPath,
                                               dbus::kInterface, "CheckDigests");
        SdBusMessage call(raw);
        if (r >= 0)
            r = sd_bus_message_open_container(raw, 'a', "ay");
        for (size_t i = done; r >= 0 && i < done + n; ++i)
            r = sd_bus_message_append_array(raw, 'y', items[i].digest.data(),
                                            items[i].digest.size());
        if (r >= 0)
            r = sd_bus_message_close_container(raw);
        SdBusError e;
        sd_bus_message *rep = nullptr;
        if (r >= 0)
            r = sd_bus_call(bus, raw, 0, e.get(), &rep);
        SdBusMessage reply(rep);
        const void *p = nullptr;
        size_t len = 0;
        if (r >= 0)
            r = sd_bus_message_read_array(rep, 'u', &p, &len);
        if (r < 0)
            return call_failed(t, "policy check", e, r);
        if (len != n * sizeof(uint32_t))
            return fail("vouchd answered " + std::to_string(len / sizeof(uint32_t)) +
                        " flags for " + std::to_string(n) + " digests");
        auto *u = static_cast<const uint32_t *>(p);
        for (size_t i = 0; i < n; ++i)
            items[done + i].flags = u[i];
        done += n;
    }
    return Exit::Ok;
}

// The active envelope (D-Bus GetPolicy). `*rc` says how it failed, once
// reported.
std::optional<std::string> get_policy(const BusTarget &t, sd_bus *bus, const char *what, Exit *rc) {
    SdBusError e;
    sd_bus_message *raw = nullptr;
    int r = sd_bus_call_method(bus, dbus::kName, dbus::kPath, dbus::kInterface, "GetPolicy",
                               e.get(), &raw, "");
    SdBusMessage reply(raw);
    if (r < 0 && e.is_set() && std::strcmp(e.name(), dbus::kErrorNoPolicy) == 0) {
        std::fprintf(stderr, "vouchctl %s: %s\n", what, e.message());
        *rc = Exit::Failure;
        return std::nullopt;
    }
    const void *data = nullptr;
    size_t n = 0;
    if (r >= 0)
        r = sd_bus_message_read_array(raw, 'y', &data, &n);
    if (r < 0) {
        *rc = call_failed(t, what, e, r);
        return std::nullopt;
    }
    return std::string(static_cast<const char *>(data), n);
}

// The key named by local_signing_key, if it is the owner's choice alone: a
// regular file owned by root that nobody else can read or write.
Result<SigningKey> local_key(const std::string &path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return make_error(errno, "local_signing_key " + path + ": " + std::strerror(errno));
    if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077)) {
        char mode[8];
        std::snprintf(mode, sizeof(mode), "%04o", unsigned(st.st_mode & 07777));
        return make_error(EPERM, "local_signing_key " + path +
                                     " must be a regular file of root's that no one else may "
                                     "read or write (it is uid " +
                                     std::to_string(st.st_uid) + ", mode " + mode + ")");
    }
    return SigningKey::load_file(path);
}

// Extends the active policy with every file of `packages`, signs it with the
// local key and hands it to vouchd: what the owner would do by hand, done by
// the machine because the owner put a signing key on it (vouch.conf(5)).
Exit authorize_locally(const BusTarget &t, sd_bus *bus, const std::string &key_path,
                       const std::vector<Package> &packages, const std::vector<std::string> &agents,
                       uint64_t *serial) {
    auto key = local_key(key_path);
    if (!key)
        return fail(key.error().message);
    Exit rc = Exit::Ok;
    auto active = get_policy(t, bus, "policy check --local-key", &rc);
    if (!active)
        return rc;
    auto doc = read_document(*active);
    if (!doc)
        return fail("the active policy: " + doc.error().message);
    if (doc->serial == UINT64_MAX)
        return fail("the active policy's serial is 2^64-1: there is no higher one");
    doc->serial += 1;
    for (const auto &p : packages)
        add_package(*doc, p, agents);
    std::string payload = write_document(*doc, utc_now());
    if (auto ok = parse_payload(payload); !ok)
        return fail("the extended policy: " + ok.error().message);
    auto env = sign_envelope(payload, *key);
    if (!env)
        return fail(env.error().message);
    // By descriptor: a policy of a whole distribution outgrows a bus message.
    UniqueFd fd(::memfd_create("vouch-policy", MFD_CLOEXEC));
    if (!fd || ::write(fd.get(), env->data(), env->size()) != static_cast<ssize_t>(env->size()))
        return fail(std::string("memfd: ") + std::strerror(errno));
    SdBusError e2;
    sd_bus_message *rraw = nullptr;
    int r = sd_bus_call_method(bus, dbus::kName, dbus::kPath, dbus::kInterface, "UpdatePolicyFd",
                               e2.get(), &rraw, "h", fd.get());
    SdBusMessage rreply(rraw);
    if (r >= 0)
        r = sd_bus_message_read(rraw, "t", serial);
    if (r < 0)
        return call_failed(t, "policy check --local-key (UpdatePolicyFd)", e2, r);
    return Exit::Ok;
}

} // namespace

Exit cmd_policy_check(const Command &self, int argc, char **argv) {
    BusTarget bus;
    bool json = false, deb = false, rpm = false, apt = false, local = false;
    std::string config = kDefaultConfigPath;
    std::vector<std::string> agents;
    std::vector<Option> opts = bus_options();
    opts.push_back({"json", no_argument, kOptJson});
    opts.push_back({"deb", no_argument, kOptDeb});
    opts.push_back({"rpm", no_argument, kOptRpm});
    opts.push_back({"agent", required_argument, kOptAgent});
    opts.push_back({"apt", no_argument, kOptApt});
    opts.push_back({"local-key", no_argument, kOptLocalKey});
    opts.push_back({"config", required_argument, kOptConfig});
    auto p = parse_options(argc, argv, opts, [&](int id, const char *v) -> Result<void> {
        if (take_bus_option(&bus, id, v))
            return {};
        switch (id) {
        case kOptJson:
            json = true;
            break;
        case kOptDeb:
            deb = true;
            break;
        case kOptRpm:
            rpm = true;
            break;
        case kOptAgent:
            agents.push_back(v);
            break;
        case kOptApt:
            apt = true;
            break;
        case kOptLocalKey:
            local = true;
            break;
        case kOptConfig:
            config = v;
            break;
        }
        return {};
    });
    if (auto e = settle_options(self, p, 1, SIZE_MAX, ""))
        return *e;
    if (deb && rpm)
        return usage_error(self, "--deb and --rpm do not mix: one kind of package per run");
    const bool packages = deb || rpm;
    if (local && !packages)
        return usage_error(self, "--local-key authorizes packages: give --deb or --rpm");
    std::string key_path;
    if (local) {
        DaemonConfig cfg;
        if (auto c = load_config_file(cfg, config, true); !c)
            return fail(c.error().message);
        key_path = cfg.local_signing_key;
    }
    auto is_agent = [&](const std::string &path) {
        return std::find(agents.begin(), agents.end(), path) != agents.end();
    };

    // What to ask about: only what the kernel may be asked to run or map
    // executable (ELF files, anything with an execute bit); documentation
    // and data never reach vouch's hooks.
    std::vector<Item> items;
    std::vector<Package> read_ok;
    size_t skipped = 0;
    if (packages) {
        auto read = read_packages(p->args, deb ? PackageKind::Deb : PackageKind::Rpm);
        for (auto &r : read) {
            if (!r)
                return fail(r.error().message, Exit::BadInput);
            for (const auto &f : r->files) {
                if (!f.executable()) {
                    ++skipped;
                    continue;
                }
                std::string path = installed_path(f.path);
                items.push_back({r->name + " " + r->version, path, f.digest, is_agent(path)});
            }
            read_ok.push_back(std::move(*r));
        }
    } else {
        for (const auto &f : p->args) {
            auto d = sha256_file(f);
            if (!d)
                return fail(d.error().message, Exit::BadInput);
            std::string path = absolute(f);
            items.push_back({"", path, *d, is_agent(path)});
        }
    }

    SdBus conn;
    if (Exit rc = connect(bus, &conn); rc != Exit::Ok)
        return rc;
    std::string mode;
    uint64_t serial = 0;
    if (Exit rc = read_state(bus, conn.get(), &mode, &serial); rc != Exit::Ok)
        return rc;
    if (Exit rc = ask(bus, conn.get(), items); rc != Exit::Ok)
        return rc;

    auto refused_now = [&] {
        std::vector<const Item *> out;
        for (const auto &i : items)
            if (!i.ok())
                out.push_back(&i);
        return out;
    };
    std::vector<const Item *> refused = refused_now();
    const bool enforcing = mode == "enforce" && serial != 0;
    if (!refused.empty() && enforcing && !key_path.empty()) {
        uint64_t next = 0;
        if (Exit rc = authorize_locally(bus, conn.get(), key_path, read_ok, agents, &next);
            rc != Exit::Ok)
            return rc;
        size_t before = refused.size();
        if (Exit rc = ask(bus, conn.get(), items); rc != Exit::Ok)
            return rc;
        refused = refused_now();
        if (!json)
            std::printf("vouch: signed with the local key (%s): policy %llu is active and "
                        "allows the %zu files that were not\n",
                        key_path.c_str(), static_cast<unsigned long long>(next), before);
        serial = next;
    }
    Exit rc = refused.empty() ? Exit::Ok : enforcing ? Exit::NotAllowed : Exit::NotEnforcing;

    if (json) {
        Json out = {{"mode", mode},
                    {"serial", serial},
                    {"checked", items.size()},
                    {"skipped", skipped},
                    {"allowed", items.size() - refused.size()},
                    {"not_allowed", Json::array()}};
        for (const Item *i : refused)
            out["not_allowed"].push_back({{"package", i->package},
                                          {"path", utf8_safe(i->path)},
                                          {"digest", "sha256:" + to_hex(i->digest)},
                                          {"agent", i->agent},
                                          {"flags", i->flags}});
        std::printf("%s\n", out.dump(2).c_str());
        return rc;
    }
    if (refused.empty()) {
        std::printf("vouch: all %zu executable files are allowed by policy %llu (%s mode)\n",
                    items.size(), static_cast<unsigned long long>(serial), mode.c_str());
        return rc;
    }
    std::FILE *out = stdout;
    if (serial == 0)
        std::fprintf(out,
                     "vouch: no policy is active (measuring only); %zu of %zu executable "
                     "files would not be allowed by an empty allow-list\n",
                     refused.size(), items.size());
    else
        std::fprintf(out,
                     "vouch: policy %llu (%s mode) does not allow %zu of %zu executable "
                     "files%s:\n",
                     static_cast<unsigned long long>(serial), mode.c_str(), refused.size(),
                     items.size(), packages ? " in these packages" : "");
    if (serial != 0)
        for (const Item *i : refused)
            std::fprintf(out, "  %s%s%s (sha256:%s)%s\n", i->package.c_str(),
                         i->package.empty() ? "" : ": ", utf8_safe(i->path).c_str(),
                         to_hex(i->digest).c_str(),
                         (i->flags & VOUCH_ALLOW_EXEC) && i->agent
                             ? " allowed to run, but not as vouch's agent"
                             : "");
    if (!enforcing) {
        std::fprintf(out, "vouch is not enforcing: nothing would be denied%s.\n",
                     apt ? "; the transaction goes on" : "");
        return rc;
    }
    // The way to authorize them: extend the active policy with exactly these
    // packages, sign it with the owner's key, load it.
    std::string args;
    for (const auto &a : p->args)
        args += " " + shell_word(absolute(a));
    std::string agent_args;
    for (const auto &a : agents)
        agent_args += " --agent " + shell_word(a);
    std::fprintf(out,
                 "%sTo authorize them, extend the active policy, sign it with the owner's key "
                 "and load it:\n"
                 "  vouchctl policy get -o active.dsse\n"
                 "  vouchctl policy make %s --base active.dsse%s -o next.json%s\n"
                 "  vouchctl policy sign --key OWNER-KEY.pem -o next.dsse next.json\n"
                 "  vouchctl policy update next.dsse\n%s",
                 apt ? "Nothing was unpacked: the installed system is unchanged. " : "",
                 packages ? (deb ? "--deb" : "--rpm") : "", agent_args.c_str(), args.c_str(),
                 apt ? "then run the same apt command again.\n" : "");
    return rc;
}

Exit cmd_policy_get(const Command &self, int argc, char **argv) {
    BusTarget bus;
    std::string output;
    std::vector<Option> opts = bus_options();
    opts.push_back({"output", required_argument, kOptOutput, true});
    auto p = parse_options(argc, argv, opts, [&](int id, const char *v) -> Result<void> {
        if (!take_bus_option(&bus, id, v))
            output = v;
        return {};
    });
    if (auto e = settle_options(self, p, 0, 0, "takes no arguments"))
        return *e;
    SdBus conn;
    if (Exit rc = connect(bus, &conn); rc != Exit::Ok)
        return rc;
    Exit rc = Exit::Ok;
    auto env = get_policy(bus, conn.get(), "policy get", &rc);
    if (!env)
        return rc;
    return write_output(output, *env, "vouchctl policy get");
}

} // namespace vouch::ctl
