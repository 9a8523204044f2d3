// SPDX-License-Identifier: Apache-2.0
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
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/dbus_names.h"
#include "lib/digest.h"
#include "lib/fd.h"
#include "lib/file_io.h"
#include "lib/sd_bus_ptr.h"
#include "lib/utf8.h"
#include "vouchctl/commands.h"
#include "vouchctl/log_output.h"

namespace vouch::ctl {

namespace {

using Json = nlohmann::ordered_json;

// Envelopes from this size on go by file descriptor: a message stays well
// under the system bus's message size limit.
constexpr size_t kFdThreshold = 1u << 20;

// Option ids past any letter, below 300 (vouchctl/bus.h): the bus options
// share each command's id space.
enum : int { kOptUserBus = 256, kOptSystem, kOptBusAddress, kOptJson, kOptCount };

// --json and the bus options, for status, watch and policy update; `extra`
// handles the command's own.
struct Common {
    BusTarget bus;
    bool json = false;
};

Result<Parsed> parse_common(int argc, char **argv, Common *o, std::vector<Option> extra = {},
                            std::function<Result<void>(int, const char *)> on_extra = nullptr) {
    std::vector<Option> opts = bus_options();
    opts.push_back({"json", no_argument, kOptJson});
    opts.insert(opts.end(), extra.begin(), extra.end());
    return parse_options(argc, argv, opts, [&](int id, const char *v) -> Result<void> {
        if (id == kOptJson) {
            o->json = true;
            return {};
        }
        if (take_bus_option(&o->bus, id, v))
            return {};
        return on_extra(id, v);
    });
}

std::string bus_description(const BusTarget &o) {
    if (!o.address.empty())
        return "the bus at " + o.address;
    return o.user_bus ? "the session bus" : "the system bus";
}

} // namespace

Exit connect(const BusTarget &o, SdBus *out) {
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
        return Exit::NotRunning;
    }
    return Exit::Ok;
}

// Reports a failed call and returns its exit code.
Exit call_failed(const BusTarget &o, const char *what, const SdBusError &e, int r) {
    std::string name = e.is_set() ? e.name() : "";
    std::string msg = e.is_set() && *e.message() ? e.message() : std::strerror(-r);
    if (name == SD_BUS_ERROR_SERVICE_UNKNOWN || name == SD_BUS_ERROR_NAME_HAS_NO_OWNER ||
        name == SD_BUS_ERROR_DISCONNECTED || r == -ENOTCONN || r == -ECONNRESET) {
        std::fprintf(stderr, "vouchctl: vouchd is not running (no one owns %s on %s)\n",
                     dbus::kName, bus_description(o).c_str());
        return Exit::NotRunning;
    }
    if (name == SD_BUS_ERROR_ACCESS_DENIED || name == "org.vouch.Vouch1.Error.AccessDenied" ||
        name == SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED) {
        std::fprintf(stderr, "vouchctl: %s: access denied: %s\n", what, msg.c_str());
        return Exit::Denied;
    }
    if (name == dbus::kErrorMalformed || name == dbus::kErrorBadSignature ||
        name == dbus::kErrorUnknownKey || name == dbus::kErrorRollback ||
        name == dbus::kErrorTooLarge || name == SD_BUS_ERROR_INVALID_ARGS) {
        std::string cause = name.substr(name.rfind('.') + 1);
        std::fprintf(stderr, "vouchctl: %s: refused (%s): %s\n", what, cause.c_str(), msg.c_str());
        return Exit::BadInput;
    }
    std::fprintf(stderr, "vouchctl: %s failed: %s%s%s\n", what, msg.c_str(),
                 name.empty() ? "" : " ", name.empty() ? "" : ("(" + name + ")").c_str());
    return Exit::Failure;
}

namespace {

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
    } else if (sig == "a{ss}") {
        *out = Json::object();
        if ((r = sd_bus_message_enter_container(m, 'a', "{ss}")) < 0)
            return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "ss")) > 0) {
            const char *k = nullptr, *v = nullptr;
            if ((r = sd_bus_message_read(m, "ss", &k, &v)) < 0 ||
                (r = sd_bus_message_exit_container(m)) < 0)
                return r;
            (*out)[k] = v;
        }
        if (r < 0)
            return r;
        r = sd_bus_message_exit_container(m);
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
    // What audit mode let through that enforce mode would deny: the number
    // to watch before switching a staged policy to enforce.
    l.field("Would deny", std::to_string(num(s, "WouldDenials")) +
                              " in audit mode (WouldDeny signals dropped: " +
                              std::to_string(num(s, "WouldDenySignalsDropped")) + ")");
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
    // One line per mechanism: "Protection    serial: tpm-nv ...".
    if (auto it = s.find("Protection"); it != s.end() && it->is_object()) {
        bool first = true;
        for (const auto &[k, v] : it->items()) {
            l.field(first ? "Protection" : "",
                    k + ": " + (v.is_string() ? v.get<std::string>() : ""));
            first = false;
        }
    }
    l.field("Version", str(s, "Version"));
    return l.str();
}

Exit status(const Common &o) {
    SdBus bus;
    if (Exit rc = connect(o.bus, &bus); rc != Exit::Ok)
        return rc;
    SdBusError e;
    sd_bus_message *raw = nullptr;
    int r = sd_bus_call_method(bus.get(), dbus::kName, dbus::kPath, dbus::kInterface, "Status",
                               e.get(), &raw, "");
    SdBusMessage reply(raw);
    if (r < 0)
        return call_failed(o.bus, "status", e, r);
    Json s;
    if ((r = read_dict(raw, &s)) < 0) {
        std::fprintf(stderr, "vouchctl: cannot parse vouchd's status: %s\n", std::strerror(-r));
        return Exit::Failure;
    }
    if (o.json)
        std::printf("%s\n", dump(s).c_str());
    else
        std::fputs(human_status(s).c_str(), stdout);
    return Exit::Ok;
}

std::string hex(const void *p, size_t n) {
    return to_hex(std::span(static_cast<const uint8_t *>(p), n));
}

} // namespace

Exit print_log_from_bus(const BusTarget &t, uint64_t first, uint64_t count, bool json) {
    SdBus bus;
    if (Exit rc = connect(t, &bus); rc != Exit::Ok)
        return rc;
    uint64_t next = first;
    uint64_t left = count;
    std::optional<LogJsonWriter> writer;
    if (json)
        writer.emplace(stdout);
    while (left > 0) {
        uint32_t want = uint32_t(std::min<uint64_t>(left, dbus::kMaxLogCount));
        SdBusError e;
        sd_bus_message *raw = nullptr;
        int r = sd_bus_call_method(bus.get(), dbus::kName, dbus::kPath, dbus::kInterface, "GetLog",
                                   e.get(), &raw, "tu", next, want);
        SdBusMessage reply(raw);
        if (r < 0)
            return call_failed(t, "log", e, r);
        uint32_t got = 0;
        r = sd_bus_message_enter_container(raw, 'a', "(tuaysssayb)");
        while (r >= 0 && (r = sd_bus_message_enter_container(raw, 'r', "tuaysssayb")) > 0) {
            LogRecord rec;
            const void *th = nullptr, *sig = nullptr;
            size_t thn = 0, sign = 0;
            const char *tname = nullptr, *fdig = nullptr, *path = nullptr;
            int violation = 0;
            if ((r = sd_bus_message_read(raw, "tu", &rec.index, &rec.pcr)) < 0 ||
                (r = sd_bus_message_read_array(raw, 'y', &th, &thn)) < 0 ||
                (r = sd_bus_message_read(raw, "sss", &tname, &fdig, &path)) < 0 ||
                (r = sd_bus_message_read_array(raw, 'y', &sig, &sign)) < 0 ||
                (r = sd_bus_message_read(raw, "b", &violation)) < 0 ||
                (r = sd_bus_message_exit_container(raw)) < 0)
                break;
            got++;
            auto bytes = [](const void *p, size_t n) {
                auto *b = static_cast<const uint8_t *>(p);
                return std::vector<uint8_t>(b, b + n);
            };
            rec.template_hash = bytes(th, thn);
            rec.template_name = tname;
            rec.file_digest = fdig;
            rec.path = path;
            rec.signature = bytes(sig, sign);
            rec.violation = violation;
            if (writer)
                writer->add(rec);
            else
                std::fputs(log_ascii(rec, ::isatty(STDOUT_FILENO)).c_str(), stdout);
        }
        if (r < 0) {
            std::fprintf(stderr, "vouchctl: cannot parse the log from vouchd: %s\n",
                         std::strerror(-r));
            return Exit::Failure;
        }
        left -= got;
        next += got;
        if (got < want)
            break;
    }
    return Exit::Ok;
}

namespace {

// The whole of `path` ("-": stdin), or an fd to pass for a large regular
// file. Returns an exit code on failure.
Exit read_envelope(const std::string &path, std::string *data, UniqueFd *fd) {
    UniqueFd own;
    int in = 0;
    if (path != "-") {
        own.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
        if (!own) {
            std::fprintf(stderr, "vouchctl: cannot open %s: %s\n", path.c_str(),
                         std::strerror(errno));
            return Exit::BadInput;
        }
        in = own.get();
    }
    struct stat st;
    if (::fstat(in, &st) < 0) {
        std::fprintf(stderr, "vouchctl: cannot stat %s: %s\n", path.c_str(), std::strerror(errno));
        return Exit::BadInput;
    }
    if (S_ISDIR(st.st_mode)) {
        std::fprintf(stderr, "vouchctl: %s is a directory\n", path.c_str());
        return Exit::BadInput;
    }
    // A large regular file is passed as it is: vouchd reads it from offset 0.
    if (S_ISREG(st.st_mode) && size_t(st.st_size) >= kFdThreshold && own) {
        *fd = std::move(own);
        return Exit::Ok;
    }
    auto all = read_all(in, path);
    if (!all) {
        std::fprintf(stderr, "vouchctl: cannot read %s: %s\n", path.c_str(),
                     std::strerror(all.error().code));
        return Exit::BadInput;
    }
    *data = std::move(*all);
    if (data->empty()) {
        std::fprintf(stderr, "vouchctl: %s is empty\n", path.c_str());
        return Exit::BadInput;
    }
    if (data->size() >= kFdThreshold) {
        // Read from a pipe: hand it over as a sealed memfd.
        UniqueFd m(::memfd_create("vouch-policy", MFD_CLOEXEC | MFD_ALLOW_SEALING));
        if (!m || ::write(m.get(), data->data(), data->size()) != ssize_t(data->size())) {
            std::fprintf(stderr, "vouchctl: cannot copy the envelope to a memfd: %s\n",
                         std::strerror(errno));
            return Exit::Failure;
        }
        (void)::fcntl(m.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
        *fd = std::move(m);
        data->clear();
    }
    return Exit::Ok;
}

Exit policy_update(const Common &o, const std::string &file) {
    std::string data;
    UniqueFd fd;
    if (Exit rc = read_envelope(file, &data, &fd); rc != Exit::Ok)
        return rc;
    SdBus bus;
    if (Exit rc = connect(o.bus, &bus); rc != Exit::Ok)
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
        return call_failed(o.bus, "policy update", e, r);
    if (o.json)
        std::printf("%s\n", dump(Json{{"serial", serial}}).c_str());
    else
        std::printf("vouchd accepted the policy: serial %llu is active\n",
                    (unsigned long long)serial);
    return Exit::Ok;
}

volatile sig_atomic_t g_stop = 0;
void on_signal(int) {
    g_stop = 1;
}

struct Watch {
    bool json;
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
    if (w->json)
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
                        std::to_string(uid) + " " + printable(path) + "\n";
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

Exit watch(const Common &o, std::optional<uint64_t> count) {
    SdBus bus;
    if (Exit rc = connect(o.bus, &bus); rc != Exit::Ok)
        return rc;
    Watch w{o.json};
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
        return r == -EACCES || r == -EPERM ? Exit::Denied : Exit::Failure;
    }
    // The matches are in place; now a ping tells whether vouchd runs and
    // lets us see its signals (the bus policy admits root and group vouch).
    SdBusError e;
    sd_bus_message *reply = nullptr;
    r = sd_bus_call_method(bus.get(), dbus::kName, dbus::kPath, "org.freedesktop.DBus.Peer", "Ping",
                           e.get(), &reply, "");
    sd_bus_message_unref(reply);
    if (r < 0)
        return call_failed(o.bus, "watch", e, r);

    struct sigaction sa {};
    sa.sa_handler = on_signal;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    std::fprintf(stderr, "vouchctl: watching %s on %s (Ctrl-C stops)\n", dbus::kName,
                 bus_description(o.bus).c_str());
    while (!g_stop && (!count || w.events < *count)) {
        r = sd_bus_process(bus.get(), nullptr);
        if (r > 0)
            continue;
        if (r == 0)
            r = sd_bus_wait(bus.get(), UINT64_MAX);
        if (r < 0 && r != -EINTR) {
            std::fprintf(stderr, "vouchctl: lost the bus: %s\n", std::strerror(-r));
            return Exit::NotRunning;
        }
    }
    return Exit::Ok;
}

} // namespace

std::vector<Option> bus_options() {
    return {{"user-bus", no_argument, kOptUserBus},
            {"system", no_argument, kOptSystem},
            {"bus-address", required_argument, kOptBusAddress}};
}

bool take_bus_option(BusTarget *t, int id, const char *value) {
    switch (id) {
    case kOptUserBus:
        t->user_bus = true;
        break;
    case kOptSystem:
        t->user_bus = false;
        t->address.clear();
        break;
    case kOptBusAddress:
        t->address = value;
        break;
    default:
        return false;
    }
    t->given = true;
    return true;
}

Exit cmd_status(const Command &self, int argc, char **argv) {
    Common o;
    auto p = parse_common(argc, argv, &o);
    if (auto e = settle_options(self, p, 0, 0, "takes no arguments"))
        return *e;
    return status(o);
}

Exit cmd_watch(const Command &self, int argc, char **argv) {
    Common o;
    std::optional<uint64_t> count;
    auto p = parse_common(argc, argv, &o, {{"count", required_argument, kOptCount}},
                          [&](int, const char *v) -> Result<void> {
                              auto n = parse_number("--count", v, 0, UINT64_MAX);
                              if (!n)
                                  return n.error();
                              count = *n;
                              return {};
                          });
    if (auto e = settle_options(self, p, 0, 0, "takes no arguments"))
        return *e;
    return watch(o, count);
}

Exit cmd_policy_update(const Command &self, int argc, char **argv) {
    Common o;
    auto p = parse_common(argc, argv, &o);
    if (auto e = settle_options(self, p, 1, 1, "needs one FILE"))
        return *e;
    return policy_update(o, p->args[0]);
}

} // namespace vouch::ctl
