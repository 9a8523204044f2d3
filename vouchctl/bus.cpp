#include "vouchctl/bus.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/dbus_names.h"
#include "lib/digest.h"
#include "lib/fd.h"
#include "lib/file_io.h"
#include "lib/parse.h"
#include "lib/sd_bus_ptr.h"

namespace vouch::ctl {

namespace {

using Json = nlohmann::ordered_json;

// Envelopes from this size on go by file descriptor: a message stays well
// under the system bus's message size limit.
constexpr size_t kFdThreshold = 1u << 20;

struct Options {
    std::string command;
    std::vector<std::string> args; // positional, after the command
    bool json = false;
    bool user_bus = false;
    std::string address;
    uint64_t first = 0;
    std::optional<uint64_t> count;
};

int usage_error(const std::string &msg) {
    std::fprintf(stderr, "vouchctl: %s (see vouchctl --help)\n", msg.c_str());
    return kExitUsage;
}

bool parse_number(const std::string &s, uint64_t *out) {
    return parse_uint(s, UINT64_MAX, out);
}

// Returns an exit code on a usage error.
std::optional<int> parse(int argc, char **argv, Options *o) {
    o->command = argv[0];
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto value = [&](const char *name, std::string *out) {
            std::string prefix = std::string(name) + "=";
            if (a.starts_with(prefix)) {
                *out = a.substr(prefix.size());
                return true;
            }
            if (a == name && i + 1 < argc) {
                *out = argv[++i];
                return true;
            }
            return false;
        };
        std::string v;
        if (a == "--help" || a == "-h") {
            std::fputs("Usage: vouchctl status|log|policy update FILE|watch [OPTIONS]\n\n", stdout);
            bus_usage(stdout);
            return kExitOk;
        } else if (a == "--json") {
            o->json = true;
        } else if (a == "--user-bus") {
            o->user_bus = true;
        } else if (a == "--system") {
            o->user_bus = false;
            o->address.clear();
        } else if (value("--bus-address", &v)) {
            o->address = v;
        } else if (value("--first", &v)) {
            if (!parse_number(v, &o->first))
                return usage_error("--first takes a number");
        } else if (value("--count", &v)) {
            uint64_t n;
            if (!parse_number(v, &n))
                return usage_error("--count takes a number");
            o->count = n;
        } else if (a.starts_with("--") && a.size() > 2) {
            return usage_error("unknown option '" + a + "' for " + o->command);
        } else {
            o->args.push_back(a);
        }
    }
    return std::nullopt;
}

std::string bus_description(const Options &o) {
    if (!o.address.empty())
        return "the bus at " + o.address;
    return o.user_bus ? "the session bus" : "the system bus";
}

int connect(const Options &o, SdBus *out) {
    sd_bus *b = nullptr;
    int r;
    if (!o.address.empty()) {
        r = sd_bus_new(&b);
        out->reset(b);
        if (r >= 0)
            r = sd_bus_set_address(b, o.address.c_str());
        if (r >= 0)
            r = sd_bus_set_bus_client(b, 1);
        if (r >= 0)
            r = sd_bus_start(b);
    } else if (o.user_bus) {
        r = sd_bus_open_user(&b);
        out->reset(b);
    } else {
        r = sd_bus_open_system(&b);
        out->reset(b);
    }
    if (r < 0) {
        std::fprintf(stderr, "vouchctl: cannot connect to %s: %s\n", bus_description(o).c_str(),
                     std::strerror(-r));
        return kExitNotRunning;
    }
    return kExitOk;
}

// Reports a failed call and returns its exit code.
int call_failed(const Options &o, const char *what, const SdBusError &e, int r) {
    std::string name = e.is_set() ? e.name() : "";
    std::string msg = e.is_set() && *e.message() ? e.message() : std::strerror(-r);
    if (name == SD_BUS_ERROR_SERVICE_UNKNOWN || name == SD_BUS_ERROR_NAME_HAS_NO_OWNER ||
        name == SD_BUS_ERROR_DISCONNECTED || r == -ENOTCONN || r == -ECONNRESET) {
        std::fprintf(stderr, "vouchctl: vouchd is not running (no one owns %s on %s)\n",
                     dbus::kName, bus_description(o).c_str());
        return kExitNotRunning;
    }
    if (name == SD_BUS_ERROR_ACCESS_DENIED || name == "org.vouch.Vouch1.Error.AccessDenied" ||
        name == SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED) {
        std::fprintf(stderr, "vouchctl: %s: access denied: %s\n", what, msg.c_str());
        return kExitDenied;
    }
    if (name == dbus::kErrorMalformed || name == dbus::kErrorBadSignature ||
        name == dbus::kErrorUnknownKey || name == dbus::kErrorRollback ||
        name == dbus::kErrorTooLarge || name == SD_BUS_ERROR_INVALID_ARGS) {
        std::string cause = name.substr(name.rfind('.') + 1);
        std::fprintf(stderr, "vouchctl: %s: refused (%s): %s\n", what, cause.c_str(), msg.c_str());
        return kExitBadInput;
    }
    std::fprintf(stderr, "vouchctl: %s failed: %s%s%s\n", what, msg.c_str(),
                 name.empty() ? "" : " ", name.empty() ? "" : ("(" + name + ")").c_str());
    return kExitFailed;
}

// A variant's value as JSON, for the types vouch's properties use.
int read_variant(sd_bus_message *m, Json *out) {
    const char *contents = nullptr;
    int r = sd_bus_message_peek_type(m, nullptr, &contents);
    if (r < 0)
        return r;
    std::string sig = contents ? contents : "";
    if ((r = sd_bus_message_enter_container(m, 'v', contents)) < 0)
        return r;
    if (sig == "s") {
        const char *s = nullptr;
        r = sd_bus_message_read_basic(m, 's', &s);
        *out = s ? s : "";
    } else if (sig == "t") {
        uint64_t t = 0;
        r = sd_bus_message_read_basic(m, 't', &t);
        *out = t;
    } else if (sig == "u") {
        uint32_t u = 0;
        r = sd_bus_message_read_basic(m, 'u', &u);
        *out = u;
    } else if (sig == "b") {
        int b = 0;
        r = sd_bus_message_read_basic(m, 'b', &b);
        *out = bool(b);
    } else if (sig == "as") {
        char **l = nullptr;
        r = sd_bus_message_read_strv(m, &l);
        *out = Json::array();
        for (char **p = l; p && *p; p++) {
            out->push_back(*p);
            std::free(*p);
        }
        std::free(l);
    } else {
        // A type a newer vouchd may add: skipped, not fatal.
        r = sd_bus_message_skip(m, sig.c_str());
        *out = nullptr;
    }
    if (r < 0)
        return r;
    return sd_bus_message_exit_container(m);
}

int read_dict(sd_bus_message *m, Json *out) {
    *out = Json::object();
    int r = sd_bus_message_enter_container(m, 'a', "{sv}");
    if (r < 0)
        return r;
    while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
        const char *key = nullptr;
        Json v;
        if ((r = sd_bus_message_read_basic(m, 's', &key)) < 0 || (r = read_variant(m, &v)) < 0 ||
            (r = sd_bus_message_exit_container(m)) < 0)
            return r;
        (*out)[key] = v;
    }
    if (r < 0)
        return r;
    return sd_bus_message_exit_container(m);
}

std::string dump(const Json &j, int indent = 2) {
    return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

// Human output: "Label         value", wrapped at 80 columns; a word too
// long for the value column (a digest) gets a line of its own.
class Lines {
  public:
    void field(const std::string &label, const std::string &text) {
        constexpr size_t kIndent = 14, kWidth = 80;
        std::string line = label;
        line.resize(kIndent, ' ');
        bool empty = true;
        size_t start = 0;
        while (start <= text.size()) {
            size_t sp = text.find(' ', start);
            std::string w = text.substr(start, sp == std::string::npos ? sp : sp - start);
            start = sp == std::string::npos ? text.size() + 1 : sp + 1;
            if (w.empty())
                continue;
            if (w.size() > kWidth - kIndent) {
                if (!empty || line.find_first_not_of(' ') != std::string::npos)
                    out_ += line + "\n";
                out_ += "  " + w + "\n";
                line.assign(kIndent, ' ');
                empty = true;
                continue;
            }
            if (!empty && line.size() + 1 + w.size() > kWidth) {
                out_ += line + "\n";
                line.assign(kIndent, ' ');
                empty = true;
            }
            if (!empty)
                line += ' ';
            line += w;
            empty = false;
        }
        if (!empty || line.find_first_not_of(' ') != std::string::npos)
            out_ += line + "\n";
    }
    const std::string &str() const { return out_; }

  private:
    std::string out_;
};

std::string str(const Json &j, const char *key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}
uint64_t num(const Json &j, const char *key) {
    auto it = j.find(key);
    return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}
std::string words(const Json &j, const char *key) {
    std::string out;
    auto it = j.find(key);
    if (it == j.end() || !it->is_array())
        return out;
    for (const auto &w : *it)
        if (w.is_string())
            out += (out.empty() ? "" : " ") + w.get<std::string>();
    return out;
}

std::string human_status(const Json &s) {
    Lines l;
    l.field("Mode", str(s, "Mode"));
    if (num(s, "PolicySerial") == 0) {
        l.field("Policy", "none loaded");
    } else {
        std::string p = "serial " + std::to_string(num(s, "PolicySerial")) + ", " +
                        std::to_string(num(s, "PolicyEntries")) + " entries";
        if (!str(s, "PolicyKeyId").empty())
            p += ", signed by " + str(s, "PolicyKeyId");
        l.field("Policy", p + " " + str(s, "PolicyDigest"));
    }
    l.field("Measurements", std::to_string(num(s, "Measurements")) + " in the log, " +
                                std::to_string(num(s, "LostEvents")) + " events lost");
    l.field("Denials", std::to_string(num(s, "Denials")) + " (Denied signals dropped: " +
                           std::to_string(num(s, "DeniedSignalsDropped")) + ")");
    std::string tpm = str(s, "TpmState");
    if (!str(s, "TpmMessage").empty())
        tpm += ": " + str(s, "TpmMessage") + ";";
    else
        tpm += ",";
    tpm += " PCR " + std::to_string(num(s, "PcrIndex"));
    std::string banks = words(s, "PcrBanks");
    tpm += ", banks " + (banks.empty() ? std::string("(none yet)") : banks);
    tpm += ", " + std::to_string(num(s, "PendingExtends")) + " extends pending";
    l.field("TPM", tpm);
    std::string hooks = words(s, "KernelSupport");
    l.field("Kernel", hooks.empty() ? "no hooks attached" : "hooks " + hooks);
    l.field("Version", str(s, "Version"));
    return l.str();
}

int cmd_status(const Options &o) {
    if (!o.args.empty())
        return usage_error("status takes no arguments");
    SdBus bus;
    if (int rc = connect(o, &bus))
        return rc;
    SdBusError e;
    sd_bus_message *raw = nullptr;
    int r = sd_bus_call_method(bus.get(), dbus::kName, dbus::kPath, dbus::kInterface, "Status",
                               e.get(), &raw, "");
    SdBusMessage reply(raw);
    if (r < 0)
        return call_failed(o, "status", e, r);
    Json s;
    if ((r = read_dict(raw, &s)) < 0) {
        std::fprintf(stderr, "vouchctl: cannot parse vouchd's status: %s\n", std::strerror(-r));
        return kExitFailed;
    }
    if (o.json)
        std::printf("%s\n", dump(s).c_str());
    else
        std::fputs(human_status(s).c_str(), stdout);
    return kExitOk;
}

std::string hex(const void *p, size_t n) {
    return to_hex(std::span(static_cast<const uint8_t *>(p), n));
}

int cmd_log(const Options &o) {
    if (!o.args.empty())
        return usage_error("log takes no arguments (log verify and log --file are separate)");
    SdBus bus;
    if (int rc = connect(o, &bus))
        return rc;
    uint64_t next = o.first;
    uint64_t left = o.count.value_or(UINT64_MAX);
    bool first_json = true;
    if (o.json)
        std::fputs("[", stdout);
    while (left > 0) {
        uint32_t want = uint32_t(std::min<uint64_t>(left, dbus::kMaxLogCount));
        SdBusError e;
        sd_bus_message *raw = nullptr;
        int r = sd_bus_call_method(bus.get(), dbus::kName, dbus::kPath, dbus::kInterface, "GetLog",
                                   e.get(), &raw, "tu", next, want);
        SdBusMessage reply(raw);
        if (r < 0) {
            if (o.json)
                std::fputs("]\n", stdout);
            return call_failed(o, "log", e, r);
        }
        uint32_t got = 0;
        r = sd_bus_message_enter_container(raw, 'a', "(tuaysssayb)");
        while (r >= 0 && (r = sd_bus_message_enter_container(raw, 'r', "tuaysssayb")) > 0) {
            uint64_t index = 0;
            uint32_t pcr = 0;
            const void *th = nullptr, *sig = nullptr;
            size_t thn = 0, sign = 0;
            const char *tname = nullptr, *fdig = nullptr, *path = nullptr;
            int violation = 0;
            if ((r = sd_bus_message_read(raw, "tu", &index, &pcr)) < 0 ||
                (r = sd_bus_message_read_array(raw, 'y', &th, &thn)) < 0 ||
                (r = sd_bus_message_read(raw, "sss", &tname, &fdig, &path)) < 0 ||
                (r = sd_bus_message_read_array(raw, 'y', &sig, &sign)) < 0 ||
                (r = sd_bus_message_read(raw, "b", &violation)) < 0 ||
                (r = sd_bus_message_exit_container(raw)) < 0)
                break;
            got++;
            if (o.json) {
                // The keys of `vouchctl log --file --json`, so both read alike.
                Json j;
                j["index"] = index;
                j["pcr"] = pcr;
                j["template_hash"] = hex(th, thn);
                j["template"] = tname;
                j["digest"] = fdig;
                j["path"] = path;
                j["signature"] = hex(sig, sign);
                j["violation"] = bool(violation);
                std::printf("%s\n  %s", first_json ? "" : ",", dump(j, -1).c_str());
                first_json = false;
            } else {
                // Byte for byte the kernel's ascii_runtime_measurements (and
                // `vouchctl log --file`): "%2u" PCR, and ima-sig always has a
                // signature field, empty or not.
                bool sig_field = std::strcmp(tname, "ima-sig") == 0;
                std::printf("%2u %s %s %s %s%s%s\n", pcr, hex(th, thn).c_str(), tname, fdig, path,
                            sig_field ? " " : "", sig_field ? hex(sig, sign).c_str() : "");
            }
        }
        if (r < 0) {
            if (o.json)
                std::fputs("]\n", stdout);
            std::fprintf(stderr, "vouchctl: cannot parse the log from vouchd: %s\n",
                         std::strerror(-r));
            return kExitFailed;
        }
        left -= got;
        next += got;
        if (got < want)
            break;
    }
    if (o.json)
        std::fputs(first_json ? "]\n" : "\n]\n", stdout);
    return kExitOk;
}

// The whole of `path` ("-": stdin), or an fd to pass for a large regular
// file. Returns an exit code on failure.
int read_envelope(const std::string &path, std::string *data, UniqueFd *fd) {
    UniqueFd own;
    int in = 0;
    if (path != "-") {
        own.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
        if (!own) {
            std::fprintf(stderr, "vouchctl: cannot open %s: %s\n", path.c_str(),
                         std::strerror(errno));
            return kExitBadInput;
        }
        in = own.get();
    }
    struct stat st;
    if (::fstat(in, &st) < 0) {
        std::fprintf(stderr, "vouchctl: cannot stat %s: %s\n", path.c_str(), std::strerror(errno));
        return kExitBadInput;
    }
    if (S_ISDIR(st.st_mode)) {
        std::fprintf(stderr, "vouchctl: %s is a directory\n", path.c_str());
        return kExitBadInput;
    }
    // A large regular file is passed as it is: vouchd reads it from offset 0.
    if (S_ISREG(st.st_mode) && size_t(st.st_size) >= kFdThreshold && own) {
        *fd = std::move(own);
        return kExitOk;
    }
    auto all = read_all(in, path);
    if (!all) {
        std::fprintf(stderr, "vouchctl: cannot read %s: %s\n", path.c_str(),
                     std::strerror(all.error().code));
        return kExitBadInput;
    }
    *data = std::move(*all);
    if (data->empty()) {
        std::fprintf(stderr, "vouchctl: %s is empty\n", path.c_str());
        return kExitBadInput;
    }
    if (data->size() >= kFdThreshold) {
        // Read from a pipe: hand it over as a sealed memfd.
        UniqueFd m(::memfd_create("vouch-policy", MFD_CLOEXEC | MFD_ALLOW_SEALING));
        if (!m || ::write(m.get(), data->data(), data->size()) != ssize_t(data->size())) {
            std::fprintf(stderr, "vouchctl: cannot copy the envelope to a memfd: %s\n",
                         std::strerror(errno));
            return kExitFailed;
        }
        (void)::fcntl(m.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
        *fd = std::move(m);
        data->clear();
    }
    return kExitOk;
}

int cmd_policy_update(const Options &o) {
    if (o.args.size() != 2)
        return usage_error("usage: vouchctl policy update FILE");
    std::string data;
    UniqueFd fd;
    if (int rc = read_envelope(o.args[1], &data, &fd))
        return rc;
    SdBus bus;
    if (int rc = connect(o, &bus))
        return rc;
    sd_bus_message *raw = nullptr;
    int r =
        sd_bus_message_new_method_call(bus.get(), &raw, dbus::kName, dbus::kPath, dbus::kInterface,
                                       fd ? "UpdatePolicyFd" : "UpdatePolicy");
    SdBusMessage call(raw);
    if (r >= 0)
        r = fd ? sd_bus_message_append(raw, "h", fd.get())
               : sd_bus_message_append_array(raw, 'y', data.data(), data.size());
    SdBusError e;
    sd_bus_message *rraw = nullptr;
    if (r >= 0)
        r = sd_bus_call(bus.get(), raw, 0, e.get(), &rraw);
    SdBusMessage reply(rraw);
    uint64_t serial = 0;
    if (r >= 0)
        r = sd_bus_message_read(rraw, "t", &serial);
    if (r < 0)
        return call_failed(o, "policy update", e, r);
    if (o.json)
        std::printf("%s\n", dump(Json{{"serial", serial}}).c_str());
    else
        std::printf("vouchd accepted the policy: serial %llu is active\n",
                    (unsigned long long)serial);
    return kExitOk;
}

volatile sig_atomic_t g_stop = 0;
void on_signal(int) {
    g_stop = 1;
}

struct Watch {
    const Options *o;
    uint64_t events = 0;
};

std::string now_hms() {
    time_t t = ::time(nullptr);
    struct tm tm;
    ::localtime_r(&t, &tm);
    char buf[16];
    std::strftime(buf, sizeof(buf), "%H:%M:%S", &tm);
    return buf;
}

void emit(Watch *w, const Json &j, const std::string &human) {
    if (w->o->json)
        std::printf("%s\n", dump(j, -1).c_str());
    else
        std::fputs(human.c_str(), stdout);
    std::fflush(stdout);
    w->events++;
}

int on_denied(sd_bus_message *m, void *userdata, sd_bus_error *) {
    auto *w = static_cast<Watch *>(userdata);
    const char *path = nullptr, *hook = nullptr;
    const void *dig = nullptr;
    size_t n = 0;
    uint32_t pid = 0, uid = 0;
    if (sd_bus_message_read(m, "s", &path) < 0 || sd_bus_message_read_array(m, 'y', &dig, &n) < 0 ||
        sd_bus_message_read(m, "uus", &pid, &uid, &hook) < 0)
        return 0;
    std::string digest = n ? "sha256:" + hex(dig, n) : "";
    Json j{{"event", "denied"}, {"path", path}, {"digest", digest},
           {"pid", pid},        {"uid", uid},   {"hook", hook}};
    std::string human = now_hms() + " denied " + hook + " pid " + std::to_string(pid) + " uid " +
                        std::to_string(uid) + " " + path + "\n";
    if (!digest.empty())
        human += "         " + digest + "\n";
    emit(w, j, human);
    return 0;
}

int on_properties(sd_bus_message *m, void *userdata, sd_bus_error *) {
    auto *w = static_cast<Watch *>(userdata);
    const char *iface = nullptr;
    Json props;
    if (sd_bus_message_read(m, "s", &iface) < 0 || std::strcmp(iface, dbus::kInterface) != 0 ||
        read_dict(m, &props) < 0)
        return 0;
    Lines l;
    for (const auto &[k, v] : props.items()) {
        std::string val;
        if (v.is_string())
            val = v.get<std::string>();
        else if (v.is_array())
            for (const auto &x : v)
                val += (val.empty() ? "" : " ") + (x.is_string() ? x.get<std::string>() : x.dump());
        else
            val = v.dump();
        l.field(k, val);
    }
    std::string human;
    std::string t = now_hms() + " ";
    size_t start = 0;
    const std::string &s = l.str();
    while (start < s.size()) {
        size_t nl = s.find('\n', start);
        // The time goes before the first line only; 9 columns keep the rest
        // aligned under it.
        human += (start == 0 ? t : std::string(9, ' ')) + s.substr(start, nl - start + 1);
        start = nl + 1;
    }
    emit(w, Json{{"event", "changed"}, {"properties", props}}, human);
    return 0;
}

int on_owner(sd_bus_message *m, void *userdata, sd_bus_error *) {
    auto *w = static_cast<Watch *>(userdata);
    const char *name = nullptr, *old_owner = nullptr, *new_owner = nullptr;
    if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 ||
        std::strcmp(name, dbus::kName) != 0)
        return 0;
    bool up = new_owner && *new_owner;
    emit(w, Json{{"event", up ? "started" : "stopped"}},
         now_hms() + (up ? " vouchd started\n" : " vouchd stopped\n"));
    return 0;
}

int cmd_watch(const Options &o) {
    if (!o.args.empty())
        return usage_error("watch takes no arguments");
    SdBus bus;
    if (int rc = connect(o, &bus))
        return rc;
    Watch w{&o};
    sd_bus_slot *raw = nullptr;
    int r = sd_bus_match_signal(bus.get(), &raw, dbus::kName, dbus::kPath, dbus::kInterface,
                                "Denied", on_denied, &w);
    SdBusSlot denied(raw);
    if (r >= 0)
        r = sd_bus_match_signal(bus.get(), &raw, dbus::kName, dbus::kPath,
                                "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                on_properties, &w);
    SdBusSlot props(raw);
    if (r >= 0)
        r = sd_bus_match_signal(bus.get(), &raw, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                "org.freedesktop.DBus", "NameOwnerChanged", on_owner, &w);
    SdBusSlot owner(raw);
    if (r < 0) {
        std::fprintf(stderr, "vouchctl: cannot subscribe to vouchd's signals: %s\n",
                     std::strerror(-r));
        return r == -EACCES || r == -EPERM ? kExitDenied : kExitFailed;
    }
    // The matches are in place; now a ping tells whether vouchd runs and
    // lets us see its signals (the bus policy admits root and group vouch).
    SdBusError e;
    sd_bus_message *reply = nullptr;
    r = sd_bus_call_method(bus.get(), dbus::kName, dbus::kPath, "org.freedesktop.DBus.Peer", "Ping",
                           e.get(), &reply, "");
    sd_bus_message_unref(reply);
    if (r < 0)
        return call_failed(o, "watch", e, r);

    struct sigaction sa {};
    sa.sa_handler = on_signal;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    std::fprintf(stderr, "vouchctl: watching %s on %s (Ctrl-C stops)\n", dbus::kName,
                 bus_description(o).c_str());
    while (!g_stop && (!o.count || w.events < *o.count)) {
        r = sd_bus_process(bus.get(), nullptr);
        if (r > 0)
            continue;
        if (r == 0)
            r = sd_bus_wait(bus.get(), UINT64_MAX);
        if (r < 0 && r != -EINTR) {
            std::fprintf(stderr, "vouchctl: lost the bus: %s\n", std::strerror(-r));
            return kExitNotRunning;
        }
    }
    return kExitOk;
}

} // namespace

bool is_bus_command(int argc, char **argv) {
    if (argc < 1)
        return false;
    std::string_view cmd = argv[0];
    if (cmd == "status" || cmd == "watch")
        return true;
    if (cmd == "policy")
        return argc > 1 && std::string_view(argv[1]) == "update";
    if (cmd == "log") {
        for (int i = 1; i < argc; i++) {
            std::string_view a = argv[i];
            if (a == "verify" || a == "--file" || a.starts_with("--file=") || a == "--help" ||
                a == "-h")
                return false;
        }
        return true;
    }
    return false;
}

void bus_usage(FILE *out) {
    // Aligned with the other commands in vouchctl.cpp's usage().
    std::fputs("  status         vouchd's state: mode, policy, log, TPM, kernel hooks\n"
               "  log --first N --count N\n"
               "                 a range of the log. Without --file, log asks vouchd over\n"
               "                 D-Bus; the output is the same either way (the kernel's\n"
               "                 ascii_runtime_measurements, or JSON)\n"
               "  policy update FILE\n"
               "                 hand a signed policy envelope to vouchd (FILE -: stdin)\n"
               "                 and print the new serial\n"
               "  watch          print denials and state changes as they happen;\n"
               "                 --count N: exit after N events\n"
               "\n"
               "Options of status, log, policy update and watch:\n"
               "  --json         JSON output (watch: one object per line)\n"
               "  --user-bus     the session bus (DBUS_SESSION_BUS_ADDRESS), not the\n"
               "                 system bus (DBUS_SYSTEM_BUS_ADDRESS or the default)\n"
               "  --bus-address ADDR\n"
               "                 the bus at ADDR, e.g. unix:path=/run/test/bus\n"
               "\n"
               "Exit codes:\n"
               "  0 success    1 other failure    2 usage error\n"
               "  3 vouchd is not running (no one owns org.vouch.Vouch1), or no bus\n"
               "  4 access denied: changing policy needs root, reading root or group vouch\n"
               "  5 bad input: unreadable file, or vouchd refused the policy (malformed,\n"
               "    bad signature, unknown key, rollback, too large)\n",
               out);
}

int bus_main(int argc, char **argv) {
    Options o;
    if (auto rc = parse(argc, argv, &o))
        return *rc;
    if (o.command == "status")
        return cmd_status(o);
    if (o.command == "log")
        return cmd_log(o);
    if (o.command == "watch")
        return cmd_watch(o);
    if (o.command == "policy" && !o.args.empty() && o.args[0] == "update")
        return cmd_policy_update(o);
    return usage_error("unknown command '" + o.command + "'");
}

} // namespace vouch::ctl
