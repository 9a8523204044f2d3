/* SPDX-License-Identifier: Apache-2.0 */
// Client side helpers for the D-Bus tests: an sd-bus client of
// org.vouch.Vouch1 that collects signals, subprocesses with captured output,
// and introspection XML normalization.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include <chrono>
#include <cstdarg>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "vouchd/bus.h"
#include "lib/sd_bus_ptr.h"
#include "vouchd/service.h"

namespace vouch::testing::bus {

using Pairs = std::vector<std::pair<std::string, std::string>>;
using Value = std::variant<std::string, uint64_t, uint32_t, std::vector<std::string>, Pairs>;
using Dict = std::map<std::string, Value>;

template <class T> struct Got {
    T value{};
    std::string error; // a D-Bus error name or a local failure; empty on success
    bool ok() const { return error.empty(); }
};

struct DeniedSignal {
    std::string path;
    std::vector<uint8_t> digest;
    uint32_t pid = 0;
    uint32_t uid = 0;
    std::string hook;
};

inline std::string err_name(const SdBusError &e, int r) {
    if (e.is_set())
        return e.name();
    return "errno:" + std::to_string(-r);
}

// Reads an a{sv} with the value types vouch uses.
inline int read_dict(sd_bus_message *m, Dict *out) {
    int r = sd_bus_message_enter_container(m, 'a', "{sv}");
    if (r < 0)
        return r;
    while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
        const char *key = nullptr;
        const char *contents = nullptr;
        if ((r = sd_bus_message_read_basic(m, 's', &key)) < 0 ||
            (r = sd_bus_message_peek_type(m, nullptr, &contents)) < 0 ||
            (r = sd_bus_message_enter_container(m, 'v', contents)) < 0)
            return r;
        std::string sig = contents;
        if (sig == "s") {
            const char *s = nullptr;
            r = sd_bus_message_read_basic(m, 's', &s);
            (*out)[key] = std::string(s ? s : "");
        } else if (sig == "t") {
            uint64_t t = 0;
            r = sd_bus_message_read_basic(m, 't', &t);
            (*out)[key] = t;
        } else if (sig == "u") {
            uint32_t u = 0;
            r = sd_bus_message_read_basic(m, 'u', &u);
            (*out)[key] = u;
        } else if (sig == "as") {
            char **l = nullptr;
            r = sd_bus_message_read_strv(m, &l);
            std::vector<std::string> v;
            for (char **p = l; p && *p; p++) {
                v.push_back(*p);
                std::free(*p);
            }
            std::free(l);
            (*out)[key] = v;
        } else if (sig == "a{ss}") {
            Pairs v;
            if ((r = sd_bus_message_enter_container(m, 'a', "{ss}")) < 0)
                return r;
            while ((r = sd_bus_message_enter_container(m, 'e', "ss")) > 0) {
                const char *k = nullptr, *x = nullptr;
                if ((r = sd_bus_message_read(m, "ss", &k, &x)) < 0 ||
                    (r = sd_bus_message_exit_container(m)) < 0)
                    return r;
                v.emplace_back(k, x);
            }
            if (r >= 0)
                r = sd_bus_message_exit_container(m);
            (*out)[key] = v;
        } else {
            return -EBADMSG;
        }
        if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0 ||
            (r = sd_bus_message_exit_container(m)) < 0)
            return r;
    }
    if (r < 0)
        return r;
    return sd_bus_message_exit_container(m);
}

class Client {
  public:
    explicit Client(const std::string &address) {
        sd_bus *b = nullptr;
        if (sd_bus_new(&b) < 0)
            return;
        bus_.reset(b);
        if (sd_bus_set_address(b, address.c_str()) < 0 || sd_bus_set_bus_client(b, 1) < 0 ||
            sd_bus_start(b) < 0)
            bus_.reset();
    }
    sd_bus *get() const { return bus_.get(); }

    std::vector<Dict> changes;
    std::vector<DeniedSignal> denials;
    std::vector<DeniedSignal> would_denials;

    Got<Dict> get_all() {
        return dict_call("org.freedesktop.DBus.Properties", "GetAll", "s", dbus::kInterface);
    }
    Got<Dict> status() { return dict_call(dbus::kInterface, "Status", ""); }

    Got<std::string> introspect() {
        Got<std::string> g;
        SdBusError e;
        sd_bus_message *raw = nullptr;
        int r = sd_bus_call_method(bus(), dbus::kName, dbus::kPath,
                                   "org.freedesktop.DBus.Introspectable", "Introspect", e.get(),
                                   &raw, "");
        SdBusMessage reply(raw);
        const char *xml = nullptr;
        if (r >= 0)
            r = sd_bus_message_read(raw, "s", &xml);
        if (r < 0)
            g.error = err_name(e, r);
        else
            g.value = xml;
        return g;
    }

    struct Update {
        uint64_t serial = 0;
        std::string error_name, error_message;
    };
    Update update_policy(std::string_view env) {
        sd_bus_message *raw = nullptr;
        int r = sd_bus_message_new_method_call(bus(), &raw, dbus::kName, dbus::kPath,
                                               dbus::kInterface, "UpdatePolicy");
        SdBusMessage m(raw);
        if (r >= 0)
            r = sd_bus_message_append_array(raw, 'y', env.data(), env.size());
        return finish_update(raw, r);
    }
    Update update_policy_fd(int fd) {
        sd_bus_message *raw = nullptr;
        int r = sd_bus_message_new_method_call(bus(), &raw, dbus::kName, dbus::kPath,
                                               dbus::kInterface, "UpdatePolicyFd");
        SdBusMessage m(raw);
        if (r >= 0)
            r = sd_bus_message_append(raw, "h", fd);
        return finish_update(raw, r);
    }

    struct Log {
        std::vector<LogRecord> entries;
        std::string error_name, error_message;
    };
    Log get_log(uint64_t first, uint32_t count) {
        Log l;
        SdBusError e;
        sd_bus_message *raw = nullptr;
        int r = sd_bus_call_method(bus(), dbus::kName, dbus::kPath, dbus::kInterface, "GetLog",
                                   e.get(), &raw, "tu", first, count);
        SdBusMessage reply(raw);
        if (r < 0) {
            l.error_name = err_name(e, r);
            l.error_message = e.message();
            return l;
        }
        r = sd_bus_message_enter_container(raw, 'a', "(tuaysssayb)");
        while (r >= 0 && (r = sd_bus_message_enter_container(raw, 'r', "tuaysssayb")) > 0) {
            LogRecord rec;
            const void *th = nullptr, *sig = nullptr;
            size_t thn = 0, sign = 0;
            const char *tn = nullptr, *fd = nullptr, *path = nullptr;
            int viol = 0;
            if ((r = sd_bus_message_read(raw, "tu", &rec.index, &rec.pcr)) < 0 ||
                (r = sd_bus_message_read_array(raw, 'y', &th, &thn)) < 0 ||
                (r = sd_bus_message_read(raw, "sss", &tn, &fd, &path)) < 0 ||
                (r = sd_bus_message_read_array(raw, 'y', &sig, &sign)) < 0 ||
                (r = sd_bus_message_read(raw, "b", &viol)) < 0)
                break;
            auto *thp = static_cast<const uint8_t *>(th);
            auto *sp = static_cast<const uint8_t *>(sig);
            rec.template_hash.assign(thp, thp + thn);
            rec.template_name = tn;
            rec.file_digest = fd;
            rec.path = path;
            rec.signature.assign(sp, sp + sign);
            rec.violation = viol;
            l.entries.push_back(rec);
            r = sd_bus_message_exit_container(raw);
        }
        if (r < 0)
            l.error_name = "parse:" + std::to_string(-r);
        return l;
    }

    struct Check {
        std::vector<uint32_t> flags;
        std::string error_name, error_message;
    };
    Check check_digests(const std::vector<Sha256> &ds) {
        std::vector<std::vector<uint8_t>> raw;
        for (const auto &d : ds)
            raw.emplace_back(d.begin(), d.end());
        return check_digests_raw(raw);
    }
    Check check_digests_raw(const std::vector<std::vector<uint8_t>> &ds) {
        Check out;
        sd_bus_message *raw = nullptr;
        int r = sd_bus_message_new_method_call(bus(), &raw, dbus::kName, dbus::kPath,
                                               dbus::kInterface, "CheckDigests");
        SdBusMessage m(raw);
        if (r >= 0)
            r = sd_bus_message_open_container(raw, 'a', "ay");
        for (size_t i = 0; r >= 0 && i < ds.size(); ++i)
            r = sd_bus_message_append_array(raw, 'y', ds[i].data(), ds[i].size());
        if (r >= 0)
            r = sd_bus_message_close_container(raw);
        SdBusError e;
        sd_bus_message *rep = nullptr;
        if (r >= 0)
            r = sd_bus_call(bus(), raw, 0, e.get(), &rep);
        SdBusMessage reply(rep);
        if (r < 0) {
            out.error_name = err_name(e, r);
            out.error_message = e.message();
            return out;
        }
        const void *p = nullptr;
        size_t n = 0;
        if (sd_bus_message_read_array(rep, 'u', &p, &n) < 0) {
            out.error_name = "parse";
            return out;
        }
        auto *u = static_cast<const uint32_t *>(p);
        out.flags.assign(u, u + n / sizeof(uint32_t));
        return out;
    }

    struct Policy {
        std::string envelope, error_name, error_message;
    };
    Policy get_policy() {
        Policy out;
        SdBusError e;
        sd_bus_message *raw = nullptr;
        int r = sd_bus_call_method(bus(), dbus::kName, dbus::kPath, dbus::kInterface, "GetPolicy",
                                   e.get(), &raw, "");
        SdBusMessage reply(raw);
        if (r < 0) {
            out.error_name = err_name(e, r);
            out.error_message = e.message();
            return out;
        }
        const void *p = nullptr;
        size_t n = 0;
        if (sd_bus_message_read_array(raw, 'y', &p, &n) < 0)
            out.error_name = "parse";
        else
            out.envelope.assign(static_cast<const char *>(p), n);
        return out;
    }

    // Calls a method of the interface with arbitrary arguments; returns the
    // error name, or "" if it succeeded.
    std::string call_raw(const char *member, const char *types, ...) {
        SdBusError e;
        sd_bus_message *raw = nullptr;
        va_list ap;
        va_start(ap, types);
        int r = sd_bus_call_methodv(bus(), dbus::kName, dbus::kPath, dbus::kInterface, member,
                                    e.get(), &raw, types, ap);
        va_end(ap);
        SdBusMessage reply(raw);
        return r < 0 ? err_name(e, r) : "";
    }

    std::string request_name(const char *name) {
        SdBusError e;
        sd_bus_message *raw = nullptr;
        int r = sd_bus_call_method(bus(), "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                   "org.freedesktop.DBus", "RequestName", e.get(), &raw, "su", name,
                                   0u);
        SdBusMessage reply(raw);
        return r < 0 ? err_name(e, r) : "";
    }

    bool watch_properties() {
        sd_bus_slot *s = nullptr;
        int r = sd_bus_match_signal(bus(), &s, dbus::kName, dbus::kPath,
                                    "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                    &Client::on_properties, this);
        props_.reset(s);
        return r >= 0;
    }
    bool watch_denied() {
        sd_bus_slot *s = nullptr;
        int r = sd_bus_match_signal(bus(), &s, dbus::kName, dbus::kPath, dbus::kInterface, "Denied",
                                    &Client::on_denied, this);
        denied_.reset(s);
        return r >= 0;
    }
    bool watch_would_deny() {
        sd_bus_slot *s = nullptr;
        int r = sd_bus_match_signal(bus(), &s, dbus::kName, dbus::kPath, dbus::kInterface,
                                    "WouldDeny", &Client::on_would_deny, this);
        would_deny_.reset(s);
        return r >= 0;
    }

    // A round trip to the service: everything it sent before answering is
    // then queued here, and is dispatched.
    void drain() {
        SdBusError e;
        sd_bus_message *raw = nullptr;
        (void)sd_bus_call_method(bus(), dbus::kName, dbus::kPath, "org.freedesktop.DBus.Peer",
                                 "Ping", e.get(), &raw, "");
        sd_bus_message_unref(raw);
        while (sd_bus_process(bus(), nullptr) > 0) {
        }
    }
    void wait_for(const std::function<bool()> &pred, int ms) {
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (!pred() && std::chrono::steady_clock::now() < end) {
            if (sd_bus_process(bus(), nullptr) > 0)
                continue;
            (void)sd_bus_wait(bus(), 50'000);
        }
    }

  private:
    sd_bus *bus() const { return bus_.get(); }

    Got<Dict> dict_call(const char *iface, const char *member, const char *types, ...) {
        Got<Dict> g;
        SdBusError e;
        sd_bus_message *raw = nullptr;
        va_list ap;
        va_start(ap, types);
        int r = bus() ? sd_bus_call_methodv(bus(), dbus::kName, dbus::kPath, iface, member, e.get(),
                                            &raw, types, ap)
                      : -ENOTCONN;
        va_end(ap);
        SdBusMessage reply(raw);
        if (r >= 0)
            r = read_dict(raw, &g.value);
        if (r < 0)
            g.error = err_name(e, r);
        return g;
    }

    Update finish_update(sd_bus_message *m, int r) {
        Update u;
        SdBusError e;
        sd_bus_message *raw = nullptr;
        if (r >= 0)
            r = sd_bus_call(bus(), m, 0, e.get(), &raw);
        SdBusMessage reply(raw);
        if (r >= 0)
            r = sd_bus_message_read(raw, "t", &u.serial);
        if (r < 0) {
            u.error_name = err_name(e, r);
            u.error_message = e.message();
        }
        return u;
    }

    static int on_properties(sd_bus_message *m, void *userdata, sd_bus_error *) {
        auto *self = static_cast<Client *>(userdata);
        const char *iface = nullptr;
        Dict d;
        if (sd_bus_message_read(m, "s", &iface) < 0 || read_dict(m, &d) < 0)
            d["<unparsable>"] = std::string("");
        if (iface && std::string(iface) == dbus::kInterface)
            self->changes.push_back(d);
        return 0;
    }
    static int on_denied(sd_bus_message *m, void *userdata, sd_bus_error *) {
        static_cast<Client *>(userdata)->denials.push_back(parse_denial(m));
        return 0;
    }
    static int on_would_deny(sd_bus_message *m, void *userdata, sd_bus_error *) {
        static_cast<Client *>(userdata)->would_denials.push_back(parse_denial(m));
        return 0;
    }
    // Denied and WouldDeny have the same arguments.
    static DeniedSignal parse_denial(sd_bus_message *m) {
        DeniedSignal d;
        const char *path = nullptr, *hook = nullptr;
        const void *dig = nullptr;
        size_t n = 0;
        if (sd_bus_message_read(m, "s", &path) < 0 ||
            sd_bus_message_read_array(m, 'y', &dig, &n) < 0 ||
            sd_bus_message_read(m, "uus", &d.pid, &d.uid, &hook) < 0)
            d.path = "<unparsable>";
        else {
            d.path = path;
            d.hook = hook;
            auto *p = static_cast<const uint8_t *>(dig);
            d.digest.assign(p, p + n);
        }
        return d;
    }

    SdBus bus_;
    SdBusSlot props_;
    SdBusSlot denied_;
    SdBusSlot would_deny_;
};

// busctl get-property's output for a value.
inline std::string busctl_format(const Value &v) {
    if (auto *s = std::get_if<std::string>(&v))
        return "s \"" + *s + "\"";
    if (auto *t = std::get_if<uint64_t>(&v))
        return "t " + std::to_string(*t);
    if (auto *u = std::get_if<uint32_t>(&v))
        return "u " + std::to_string(*u);
    if (auto *p = std::get_if<Pairs>(&v)) {
        std::string out = "a{ss} " + std::to_string(p->size());
        for (auto &[k, x] : *p)
            out += " \"" + k + "\" \"" + x + "\"";
        return out;
    }
    auto &l = std::get<std::vector<std::string>>(v);
    std::string out = "as " + std::to_string(l.size());
    for (auto &s : l)
        out += " \"" + s + "\"";
    return out;
}

struct Captured {
    int rc = -1;
    std::string out, err;
};

// In a forked child: execvp(args), or exit 127 if it fails.
[[noreturn]] inline void exec_args(const std::vector<std::string> &args) {
    std::vector<char *> argv;
    for (auto &a : args)
        argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
}

// Runs a program with stdout and stderr captured; with `uid` set, as that
// user (and its group of the same number, no supplementary groups).
inline Captured run_capture(const std::vector<std::string> &args, int uid = -1,
                            const std::string &stdin_data = "") {
    Captured c;
    char out_t[] = "/tmp/vouch-run-out-XXXXXX", err_t[] = "/tmp/vouch-run-err-XXXXXX";
    char in_t[] = "/tmp/vouch-run-in-XXXXXX";
    int ofd = ::mkstemp(out_t), efd = ::mkstemp(err_t), ifd = ::mkstemp(in_t);
    if (ofd < 0 || efd < 0 || ifd < 0)
        return c;
    (void)!::write(ifd, stdin_data.data(), stdin_data.size());
    ::lseek(ifd, 0, SEEK_SET);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(ifd, 0);
        ::dup2(ofd, 1);
        ::dup2(efd, 2);
        if (uid >= 0 &&
            (::setgroups(0, nullptr) < 0 || ::setgid(gid_t(uid)) < 0 || ::setuid(uid_t(uid)) < 0))
            ::_exit(126);
        exec_args(args);
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    c.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    auto slurp = [](const char *p) {
        std::ifstream in(p);
        return std::string{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    };
    c.out = slurp(out_t);
    c.err = slurp(err_t);
    ::close(ofd);
    ::close(efd);
    ::close(ifd);
    ::unlink(out_t);
    ::unlink(err_t);
    ::unlink(in_t);
    return c;
}

// A program running in the background with stdout and stderr going to
// files, for commands that run until stopped (vouchctl watch).
class Spawned {
  public:
    explicit Spawned(const std::vector<std::string> &args) {
        char out_t[] = "/tmp/vouch-spawn-out-XXXXXX", err_t[] = "/tmp/vouch-spawn-err-XXXXXX";
        int ofd = ::mkstemp(out_t), efd = ::mkstemp(err_t);
        out_path_ = out_t;
        err_path_ = err_t;
        pid_ = ::fork();
        if (pid_ == 0) {
            ::dup2(ofd, 1);
            ::dup2(efd, 2);
            exec_args(args);
        }
        ::close(ofd);
        ::close(efd);
    }
    ~Spawned() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        ::unlink(out_path_.c_str());
        ::unlink(err_path_.c_str());
    }
    std::string out() const { return slurp(out_path_); }
    std::string err() const { return slurp(err_path_); }
    // Waits until `pred` holds for stderr; false on timeout.
    bool wait_err(const std::function<bool(const std::string &)> &pred, int ms) const {
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (std::chrono::steady_clock::now() < end) {
            if (pred(err()))
                return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
    }
    // The exit code, or -1 if it did not exit within `ms`.
    int wait_exit(int ms) {
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (std::chrono::steady_clock::now() < end) {
            int st = 0;
            if (::waitpid(pid_, &st, WNOHANG) == pid_) {
                pid_ = -1;
                return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return -1;
    }
    void signal(int sig) { ::kill(pid_, sig); }

  private:
    static std::string slurp(const std::string &p) {
        std::ifstream in(p);
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }
    pid_t pid_ = -1;
    std::string out_path_, err_path_;
};

// The element for `iface` in introspection XML, as one line per tag with
// attributes sorted and comments, whitespace and self-closing forms
// normalized away, so the documented file and the live output compare.
inline std::string normalized_interface(const std::string &xml, const std::string &iface) {
    std::string s = std::regex_replace(xml, std::regex("<!--[\\s\\S]*?-->"), "");
    std::smatch open;
    if (!std::regex_search(s, open,
                           std::regex("<interface\\s+name=\"" +
                                      std::regex_replace(iface, std::regex("\\."), "\\.") +
                                      "\"\\s*>")))
        return "";
    size_t start = size_t(open.position(0) + open.length(0));
    size_t end = s.find("</interface>", start);
    if (end == std::string::npos)
        return "";
    std::string body = s.substr(start, end - start);
    std::string out;
    std::regex tag("<\\s*(/?)\\s*([A-Za-z_:.-]+)([^>]*?)(/?)\\s*>");
    std::regex attr("([A-Za-z_:.-]+)\\s*=\\s*\"([^\"]*)\"");
    for (auto it = std::sregex_iterator(body.begin(), body.end(), tag);
         it != std::sregex_iterator(); ++it) {
        const auto &m = *it;
        if (m[1].length()) {
            out += "</" + m[2].str() + ">\n";
            continue;
        }
        std::vector<std::string> attrs;
        std::string a = m[3].str();
        for (auto ai = std::sregex_iterator(a.begin(), a.end(), attr); ai != std::sregex_iterator();
             ++ai)
            attrs.push_back((*ai)[1].str() + "=" + (*ai)[2].str());
        std::sort(attrs.begin(), attrs.end());
        out += "<" + m[2].str();
        for (auto &x : attrs)
            out += " " + x;
        out += ">\n";
        if (m[4].length())
            out += "</" + m[2].str() + ">\n";
    }
    return out;
}

} // namespace vouch::testing::bus
