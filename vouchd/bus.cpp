#include "vouchd/bus.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

#include "lib/utf8.h"

namespace vouch {

const char *dbus::policy_error_name(int code) {
    switch (code < 0 ? -code : code) {
    case EBADMSG:
        return kErrorMalformed;
    case EKEYREJECTED:
        return kErrorBadSignature;
    case ENOKEY:
        return kErrorUnknownKey;
    case ESTALE:
        return kErrorRollback;
    case EFBIG:
        return kErrorTooLarge;
    case EPERM:
    case EACCES:
        return kErrorAccessDenied;
    default:
        return kErrorFailed;
    }
}

namespace {

int append_string(sd_bus_message *m, std::string_view s) {
    std::string safe = utf8_safe(s);
    return sd_bus_message_append_basic(m, 's', safe.c_str());
}

int append_bytes(sd_bus_message *m, const std::vector<uint8_t> &v) {
    return sd_bus_message_append_array(m, 'y', v.data(), v.size());
}

int append_strv(sd_bus_message *m, const std::vector<std::string> &v) {
    int r = sd_bus_message_open_container(m, 'a', "s");
    for (size_t i = 0; r >= 0 && i < v.size(); i++)
        r = append_string(m, v[i]);
    return r < 0 ? r : sd_bus_message_close_container(m);
}

uint64_t monotonic_usec() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000 + uint64_t(ts.tv_nsec) / 1000;
}

// Every property, in vtable order, with its D-Bus type (Status() returns
// them all).
struct PropertyInfo {
    const char *name;
    const char *signature;
};
constexpr PropertyInfo kProperties[] = {
    {"Mode", "s"},        {"PolicySerial", "t"},   {"PolicyDigest", "s"},
    {"PolicyKeyId", "s"}, {"PolicyEntries", "t"},  {"Measurements", "t"},
    {"Denials", "t"},     {"LostEvents", "t"},     {"DeniedSignalsDropped", "t"},
    {"PcrIndex", "u"},    {"PcrBanks", "as"},      {"TpmState", "s"},
    {"TpmMessage", "s"},  {"PendingExtends", "t"}, {"KernelSupport", "as"},
    {"Version", "s"},
};

} // namespace

#define VOUCH_PROPERTY(name, sig, flags)                                                           \
    SD_BUS_PROPERTY(name, sig, BusService::property_get, 0, flags)
#define EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE

// Every method is UNPRIVILEGED to sd-bus: authorization is the service's own
// (filter() for reads, the handlers for changes), from the bus's peer
// credentials, and the same on every kind of bus.
const sd_bus_vtable BusService::vtable_[] = {
    SD_BUS_VTABLE_START(0),
    VOUCH_PROPERTY("Mode", "s", EMITS),
    VOUCH_PROPERTY("PolicySerial", "t", EMITS),
    VOUCH_PROPERTY("PolicyDigest", "s", EMITS),
    VOUCH_PROPERTY("PolicyKeyId", "s", EMITS),
    VOUCH_PROPERTY("PolicyEntries", "t", EMITS),
    VOUCH_PROPERTY("Measurements", "t", EMITS),
    VOUCH_PROPERTY("Denials", "t", EMITS),
    VOUCH_PROPERTY("LostEvents", "t", EMITS),
    VOUCH_PROPERTY("DeniedSignalsDropped", "t", EMITS),
    VOUCH_PROPERTY("PcrIndex", "u", EMITS),
    VOUCH_PROPERTY("PcrBanks", "as", EMITS),
    VOUCH_PROPERTY("TpmState", "s", EMITS),
    VOUCH_PROPERTY("TpmMessage", "s", EMITS),
    VOUCH_PROPERTY("PendingExtends", "t", EMITS),
    VOUCH_PROPERTY("KernelSupport", "as", EMITS),
    VOUCH_PROPERTY("Version", "s", SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_METHOD_WITH_ARGS("UpdatePolicy", SD_BUS_ARGS("ay", envelope), SD_BUS_RESULT("t", serial),
                            BusService::method_update_policy, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("UpdatePolicyFd", SD_BUS_ARGS("h", fd), SD_BUS_RESULT("t", serial),
                            BusService::method_update_policy_fd, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetLog", SD_BUS_ARGS("t", first, "u", count),
                            SD_BUS_RESULT("a(tuaysssayb)", entries), BusService::method_get_log,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Status", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sv}", status),
                            BusService::method_status, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_SIGNAL_WITH_ARGS("Denied",
                            SD_BUS_ARGS("s", path, "ay", digest, "u", pid, "u", uid, "s", hook), 0),
    SD_BUS_VTABLE_END,
};

#undef EMITS
#undef VOUCH_PROPERTY

BusService::BusService(sd_event *ev, ServiceBackend &backend, const BusOptions &opts)
    : ev_(ev), backend_(backend), opts_(opts), tokens_(opts.denied_burst) {}

Result<std::unique_ptr<BusService>> BusService::start(sd_event *ev, ServiceBackend &backend,
                                                      const BusOptions &opts) {
    std::unique_ptr<BusService> s(new BusService(ev, backend, opts));
    sd_bus *raw = nullptr;
    int r;
    const char *what = "connect to the system bus";
    switch (opts.kind) {
    case BusKind::System:
        r = sd_bus_open_system(&raw);
        s->bus_.reset(raw);
        break;
    case BusKind::User:
        what = "connect to the session bus";
        r = sd_bus_open_user(&raw);
        s->bus_.reset(raw);
        break;
    case BusKind::Address:
        what = "connect to the bus at the given address";
        r = sd_bus_new(&raw);
        s->bus_.reset(raw);
        if (r >= 0)
            r = sd_bus_set_address(raw, opts.address.c_str());
        if (r >= 0)
            r = sd_bus_set_bus_client(raw, 1);
        if (r >= 0)
            r = sd_bus_start(raw);
        break;
    default:
        r = -EINVAL;
    }
    if (r < 0)
        return make_error(r, std::string("cannot ") + what + ": " + std::strerror(-r));
    sd_bus *bus = s->bus_.get();
    (void)sd_bus_set_description(bus, "vouchd");

    sd_bus_slot *slot = nullptr;
    r = sd_bus_add_filter(bus, &slot, &BusService::filter, s.get());
    s->filter_slot_.reset(slot);
    if (r >= 0) {
        r = sd_bus_add_object_vtable(bus, &slot, dbus::kPath, dbus::kInterface, vtable_, s.get());
        s->object_slot_.reset(slot);
    }
    if (r < 0)
        return make_error(r,
                          std::string("cannot register ") + dbus::kPath + ": " + std::strerror(-r));

    sd_event_source *src = nullptr;
    r = sd_event_add_time(ev, &src, CLOCK_MONOTONIC, 0, 0, &BusService::on_changed_timer, s.get());
    s->changed_timer_.reset(src);
    if (r >= 0)
        r = sd_event_source_set_enabled(src, SD_EVENT_OFF);
    if (r >= 0) {
        r = sd_event_add_time(ev, &src, CLOCK_MONOTONIC, 0, 0, &BusService::on_dropped_timer,
                              s.get());
        s->dropped_timer_.reset(src);
    }
    if (r >= 0)
        r = sd_event_source_set_enabled(src, SD_EVENT_OFF);
    if (r >= 0)
        r = sd_bus_attach_event(bus, ev, SD_EVENT_PRIORITY_NORMAL);
    if (r >= 0)
        r = sd_bus_set_exit_on_disconnect(bus, opts.exit_on_disconnect);
    if (r < 0)
        return make_error(r, std::string("cannot attach to the event loop: ") + std::strerror(-r));

    s->refresh();
    s->published_ = s->snap_;
    s->tokens_usec_ = monotonic_usec();

    // Last, so that no call arrives before the object is there.
    r = sd_bus_request_name(bus, dbus::kName, 0);
    if (r == -EEXIST)
        return make_error(r, std::string(dbus::kName) +
                                 " is already owned on the bus: is another vouchd running?");
    if (r == -EACCES || r == -EPERM)
        return make_error(r, std::string("the bus policy does not let this user own ") +
                                 dbus::kName + " (is org.vouch.Vouch1.conf installed?)");
    if (r < 0)
        return make_error(r, std::string("cannot own ") + dbus::kName + ": " + std::strerror(-r));
    return s;
}

BusService::~BusService() {
    if (!bus_)
        return;
    // Going away on purpose is not a lost connection: the loop goes on, and
    // without a loop sd-bus would call exit().
    (void)sd_bus_set_exit_on_disconnect(bus_.get(), 0);
    (void)sd_bus_detach_event(bus_.get());
}

uint64_t BusService::now_usec() const {
    return monotonic_usec();
}

bool BusService::is_reader_uid(uid_t uid) const {
    if (uid == 0)
        return true;
    std::vector<char> buf(16384);
    group gr, *grp = nullptr;
    if (getgrnam_r(opts_.read_group.c_str(), &gr, buf.data(), buf.size(), &grp) != 0 || !grp)
        return false;
    gid_t gid = grp->gr_gid;
    passwd pw, *pwp = nullptr;
    if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &pwp) != 0 || !pwp)
        return false;
    if (pwp->pw_gid == gid)
        return true;
    std::string user = pwp->pw_name;
    gid_t base = pwp->pw_gid;
    int n = 64;
    std::vector<gid_t> groups(n);
    if (getgrouplist(user.c_str(), base, groups.data(), &n) < 0) {
        groups.resize(n);
        if (getgrouplist(user.c_str(), base, groups.data(), &n) < 0)
            return false;
    }
    groups.resize(n);
    return std::find(groups.begin(), groups.end(), gid) != groups.end();
}

Result<BusService::Access> BusService::access_of(sd_bus_message *m) const {
    sd_bus_creds *raw = nullptr;
    int r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &raw);
    SdBusCreds creds(raw);
    if (r < 0)
        return make_error(r,
                          std::string("cannot get the caller's credentials: ") + std::strerror(-r));
    // Only what the bus recorded when the peer connected counts: a value
    // sd-bus filled in from /proc could belong to a reused pid.
    if (sd_bus_creds_get_augmented_mask(creds.get()) & SD_BUS_CREDS_EUID)
        return make_error(EPERM, "the bus did not report the caller's user id");
    uid_t euid;
    r = sd_bus_creds_get_euid(creds.get(), &euid);
    if (r < 0)
        return make_error(r, std::string("cannot get the caller's user id: ") + std::strerror(-r));
    Access a;
    a.root = euid == 0;
    a.reader = is_reader_uid(euid);
    return a;
}

int BusService::filter(sd_bus_message *m, void *userdata, sd_bus_error *err) {
    auto *self = static_cast<BusService *>(userdata);
    uint8_t type = 0;
    if (sd_bus_message_get_type(m, &type) < 0 || type != SD_BUS_MESSAGE_METHOD_CALL)
        return 0;
    const char *path = sd_bus_message_get_path(m);
    if (!path || std::strcmp(path, dbus::kPath) != 0)
        return 0;
    // The interface description and ping reveal nothing about the machine.
    const char *iface = sd_bus_message_get_interface(m);
    if (iface && (std::strcmp(iface, "org.freedesktop.DBus.Introspectable") == 0 ||
                  std::strcmp(iface, "org.freedesktop.DBus.Peer") == 0))
        return 0;
    auto a = self->access_of(m);
    if (!a)
        return sd_bus_error_set(err, dbus::kErrorAccessDenied, a.error().message.c_str());
    if (!a->reader)
        return sd_bus_error_setf(err, dbus::kErrorAccessDenied,
                                 "only root and members of group '%s' may read vouch's state",
                                 self->opts_.read_group.c_str());
    // One snapshot per call, so that GetAll and Status() are consistent.
    self->refresh();
    return 0;
}

int BusService::append_property(sd_bus_message *reply, std::string_view name) const {
    const ServiceStatus &s = snap_;
    if (name == "Mode")
        return append_string(reply, s.mode);
    if (name == "PolicySerial")
        return sd_bus_message_append(reply, "t", s.policy_serial);
    if (name == "PolicyDigest")
        return append_string(reply, s.policy_digest);
    if (name == "PolicyKeyId")
        return append_string(reply, s.policy_keyid);
    if (name == "PolicyEntries")
        return sd_bus_message_append(reply, "t", s.policy_entries);
    if (name == "Measurements")
        return sd_bus_message_append(reply, "t", s.measurements);
    if (name == "Denials")
        return sd_bus_message_append(reply, "t", s.denials);
    if (name == "LostEvents")
        return sd_bus_message_append(reply, "t", s.lost_events);
    if (name == "DeniedSignalsDropped")
        return sd_bus_message_append(reply, "t", denied_dropped_);
    if (name == "PcrIndex")
        return sd_bus_message_append(reply, "u", s.pcr_index);
    if (name == "PcrBanks")
        return append_strv(reply, s.pcr_banks);
    if (name == "TpmState")
        return append_string(reply, s.tpm_state);
    if (name == "TpmMessage")
        return append_string(reply, s.tpm_message);
    if (name == "PendingExtends")
        return sd_bus_message_append(reply, "t", s.pending_extends);
    if (name == "KernelSupport")
        return append_strv(reply, s.kernel_support);
    if (name == "Version")
        return append_string(reply, s.version);
    return -ENOENT;
}

int BusService::property_get(sd_bus *, const char *, const char *, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *) {
    return static_cast<BusService *>(userdata)->append_property(reply, property);
}

int BusService::method_status(sd_bus_message *m, void *userdata, sd_bus_error *) {
    auto *self = static_cast<BusService *>(userdata);
    sd_bus_message *raw = nullptr;
    int r = sd_bus_message_new_method_return(m, &raw);
    SdBusMessage reply(raw);
    if (r >= 0)
        r = sd_bus_message_open_container(raw, 'a', "{sv}");
    for (const auto &p : kProperties) {
        if (r >= 0)
            r = sd_bus_message_open_container(raw, 'e', "sv");
        if (r >= 0)
            r = sd_bus_message_append_basic(raw, 's', p.name);
        if (r >= 0)
            r = sd_bus_message_open_container(raw, 'v', p.signature);
        if (r >= 0)
            r = self->append_property(raw, p.name);
        if (r >= 0)
            r = sd_bus_message_close_container(raw);
        if (r >= 0)
            r = sd_bus_message_close_container(raw);
    }
    if (r >= 0)
        r = sd_bus_message_close_container(raw);
    if (r >= 0)
        r = sd_bus_send(nullptr, raw, nullptr);
    return r;
}

int BusService::method_get_log(sd_bus_message *m, void *userdata, sd_bus_error *err) {
    auto *self = static_cast<BusService *>(userdata);
    uint64_t first = 0;
    uint32_t count = 0;
    int r = sd_bus_message_read(m, "tu", &first, &count);
    if (r < 0)
        return r;
    if (count > dbus::kMaxLogCount)
        return sd_bus_error_setf(err, SD_BUS_ERROR_INVALID_ARGS,
                                 "count %u is over the limit of %u entries per call", count,
                                 dbus::kMaxLogCount);
    std::vector<LogRecord> recs = self->backend_.log(first, count);
    sd_bus_message *raw = nullptr;
    r = sd_bus_message_new_method_return(m, &raw);
    SdBusMessage reply(raw);
    if (r >= 0)
        r = sd_bus_message_open_container(raw, 'a', "(tuaysssayb)");
    for (size_t i = 0; r >= 0 && i < recs.size() && i < count; i++) {
        const LogRecord &e = recs[i];
        r = sd_bus_message_open_container(raw, 'r', "tuaysssayb");
        if (r >= 0)
            r = sd_bus_message_append(raw, "tu", e.index, e.pcr);
        if (r >= 0)
            r = append_bytes(raw, e.template_hash);
        if (r >= 0)
            r = append_string(raw, e.template_name);
        if (r >= 0)
            r = append_string(raw, e.file_digest);
        if (r >= 0)
            r = append_string(raw, e.path);
        if (r >= 0)
            r = append_bytes(raw, e.signature);
        if (r >= 0)
            r = sd_bus_message_append(raw, "b", int(e.violation));
        if (r >= 0)
            r = sd_bus_message_close_container(raw);
    }
    if (r >= 0)
        r = sd_bus_message_close_container(raw);
    if (r >= 0)
        r = sd_bus_send(nullptr, raw, nullptr);
    return r;
}

int BusService::update_policy(sd_bus_message *m, std::string_view envelope, sd_bus_error *err) {
    auto a = access_of(m);
    if (!a)
        return sd_bus_error_set(err, dbus::kErrorAccessDenied, a.error().message.c_str());
    if (!a->root)
        return sd_bus_error_set(err, dbus::kErrorAccessDenied,
                                "only root may change vouch's policy");
    if (envelope.size() > opts_.max_envelope_bytes)
        return sd_bus_error_setf(err, dbus::kErrorTooLarge, "the envelope is over %zu bytes",
                                 opts_.max_envelope_bytes);
    auto r = backend_.update_policy(envelope);
    if (!r) {
        const std::string &msg = r.error().message;
        return sd_bus_error_set(err, dbus::policy_error_name(r.error().code),
                                msg.empty() ? "policy update failed" : utf8_safe(msg).c_str());
    }
    // Before the reply: a caller that reads properties after it returns
    // finds the signal already sent.
    emit_changes();
    return sd_bus_reply_method_return(m, "t", *r);
}

int BusService::method_update_policy(sd_bus_message *m, void *userdata, sd_bus_error *err) {
    const void *data = nullptr;
    size_t size = 0;
    int r = sd_bus_message_read_array(m, 'y', &data, &size);
    if (r < 0)
        return r;
    return static_cast<BusService *>(userdata)->update_policy(
        m, std::string_view(static_cast<const char *>(data), size), err);
}

int BusService::method_update_policy_fd(sd_bus_message *m, void *userdata, sd_bus_error *err) {
    auto *self = static_cast<BusService *>(userdata);
    int fd = -1;
    int r = sd_bus_message_read(m, "h", &fd);
    if (r < 0)
        return r;
    // Only the caller's identity decides; refuse before reading anything.
    auto a = self->access_of(m);
    if (!a)
        return sd_bus_error_set(err, dbus::kErrorAccessDenied, a.error().message.c_str());
    if (!a->root)
        return sd_bus_error_set(err, dbus::kErrorAccessDenied,
                                "only root may change vouch's policy");
    // A pipe or socket could keep the loop waiting for data that never
    // comes; a regular file (or memfd) is read to its end without blocking.
    struct stat st;
    if (fstat(fd, &st) < 0)
        return sd_bus_error_set_errnof(err, errno, "cannot stat the descriptor: %m");
    if (!S_ISREG(st.st_mode))
        return sd_bus_error_set(err, SD_BUS_ERROR_INVALID_ARGS,
                                "the descriptor must refer to a regular file or a memfd");
    size_t max = self->opts_.max_envelope_bytes;
    if (st.st_size > 0 && size_t(st.st_size) > max)
        return sd_bus_error_setf(err, dbus::kErrorTooLarge, "the envelope is over %zu bytes", max);
    // Read from offset 0 whatever the caller's file position, and never
    // more than the limit even if the file grows meanwhile.
    std::string buf;
    buf.resize(std::min<size_t>(size_t(st.st_size), max) + 1);
    size_t got = 0;
    for (;;) {
        if (got == buf.size()) {
            if (buf.size() > max)
                return sd_bus_error_setf(err, dbus::kErrorTooLarge,
                                         "the envelope is over %zu bytes", max);
            buf.resize(std::min(buf.size() * 2, max + 1));
        }
        ssize_t n = pread(fd, buf.data() + got, buf.size() - got, off_t(got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sd_bus_error_set(err, SD_BUS_ERROR_INVALID_ARGS,
                                    "cannot read the descriptor (is it open for reading?)");
        if (n == 0)
            break;
        got += size_t(n);
    }
    if (got > max)
        return sd_bus_error_setf(err, dbus::kErrorTooLarge, "the envelope is over %zu bytes", max);
    buf.resize(got);
    return self->update_policy(m, buf, err);
}

void BusService::emit_changes() {
    refresh();
    std::vector<const char *> names;
    const ServiceStatus &a = published_, &b = snap_;
    auto add = [&](bool differs, const char *name) {
        if (differs)
            names.push_back(name);
    };
    add(a.mode != b.mode, "Mode");
    add(a.policy_serial != b.policy_serial, "PolicySerial");
    add(a.policy_digest != b.policy_digest, "PolicyDigest");
    add(a.policy_keyid != b.policy_keyid, "PolicyKeyId");
    add(a.policy_entries != b.policy_entries, "PolicyEntries");
    add(a.measurements != b.measurements, "Measurements");
    add(a.denials != b.denials, "Denials");
    add(a.lost_events != b.lost_events, "LostEvents");
    add(denied_dropped_ != dropped_published_, "DeniedSignalsDropped");
    add(a.pcr_index != b.pcr_index, "PcrIndex");
    add(a.pcr_banks != b.pcr_banks, "PcrBanks");
    add(a.tpm_state != b.tpm_state, "TpmState");
    add(a.tpm_message != b.tpm_message, "TpmMessage");
    add(a.pending_extends != b.pending_extends, "PendingExtends");
    add(a.kernel_support != b.kernel_support, "KernelSupport");
    published_ = snap_;
    dropped_published_ = denied_dropped_;
    if (names.empty())
        return;
    last_changed_usec_ = now_usec();
    names.push_back(nullptr);
    // A failure here means the connection is gone; exit_on_disconnect or
    // the next call's error reports that, not a lost property change.
    (void)sd_bus_emit_properties_changed_strv(bus_.get(), dbus::kPath, dbus::kInterface,
                                              const_cast<char **>(names.data()));
}

void BusService::changed() {
    int enabled = SD_EVENT_OFF;
    if (sd_event_source_get_enabled(changed_timer_.get(), &enabled) >= 0 && enabled != SD_EVENT_OFF)
        return; // a batch is already scheduled and will read the newest state
    uint64_t now = now_usec();
    uint64_t due = last_changed_usec_ + opts_.changed_interval_usec;
    if (now >= due) {
        emit_changes();
        return;
    }
    if (sd_event_source_set_time(changed_timer_.get(), due) < 0 ||
        sd_event_source_set_enabled(changed_timer_.get(), SD_EVENT_ONESHOT) < 0)
        emit_changes(); // better early than never
}

int BusService::on_changed_timer(sd_event_source *, uint64_t, void *userdata) {
    static_cast<BusService *>(userdata)->emit_changes();
    return 0;
}

int BusService::on_dropped_timer(sd_event_source *, uint64_t, void *userdata) {
    auto *self = static_cast<BusService *>(userdata);
    if (self->denied_dropped_ == self->dropped_published_)
        return 0;
    self->dropped_published_ = self->denied_dropped_;
    const char *names[] = {"DeniedSignalsDropped", nullptr};
    (void)sd_bus_emit_properties_changed_strv(self->bus_.get(), dbus::kPath, dbus::kInterface,
                                              const_cast<char **>(names));
    return 0;
}

bool BusService::take_token() {
    uint64_t now = now_usec();
    if (now > tokens_usec_) {
        tokens_ += double(now - tokens_usec_) * opts_.denied_rate / 1e6;
        tokens_ = std::min(tokens_, double(opts_.denied_burst));
        tokens_usec_ = now;
    }
    if (tokens_ < 1.0)
        return false;
    tokens_ -= 1.0;
    return true;
}

void BusService::denied(const Denial &d) {
    bool sent = false;
    if (take_token()) {
        sd_bus_message *raw = nullptr;
        int r =
            sd_bus_message_new_signal(bus_.get(), &raw, dbus::kPath, dbus::kInterface, "Denied");
        SdBusMessage msg(raw);
        if (r >= 0)
            r = append_string(raw, d.path);
        if (r >= 0)
            r = append_bytes(raw, d.digest);
        if (r >= 0)
            r = sd_bus_message_append(raw, "uu", d.pid, d.uid);
        if (r >= 0)
            r = append_string(raw, d.hook);
        if (r >= 0)
            r = sd_bus_send(bus_.get(), raw, nullptr);
        sent = r >= 0;
    }
    if (sent)
        return;
    denied_dropped_++;
    // The drop count is signalled at most once a second, not per drop:
    // that would be the flood again.
    int enabled = SD_EVENT_OFF;
    if (sd_event_source_get_enabled(dropped_timer_.get(), &enabled) >= 0 &&
        enabled == SD_EVENT_OFF &&
        sd_event_source_set_time(dropped_timer_.get(), now_usec() + 1'000'000) >= 0)
        (void)sd_event_source_set_enabled(dropped_timer_.get(), SD_EVENT_ONESHOT);
}

} // namespace vouch
