// SPDX-License-Identifier: Apache-2.0
#include "vouchd/bus.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <iterator>
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
    if (r < 0)
        return r;
    for (const std::string &s : v) {
        r = append_string(m, s);
        if (r < 0)
            return r;
    }
    return sd_bus_message_close_container(m);
}

uint64_t monotonic_usec() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000 + uint64_t(ts.tv_nsec) / 1000;
}

// How a BusStatus field's type goes on the bus: its signature, and how a
// value is appended (strings made valid UTF-8 on the way).
template <class T> struct BusType;
template <> struct BusType<std::string> {
    static constexpr std::string_view signature = "s";
    static int append(sd_bus_message *m, const std::string &v) { return append_string(m, v); }
};
template <> struct BusType<uint64_t> {
    static constexpr std::string_view signature = "t";
    static int append(sd_bus_message *m, uint64_t v) {
        return sd_bus_message_append_basic(m, 't', &v);
    }
};
template <> struct BusType<uint32_t> {
    static constexpr std::string_view signature = "u";
    static int append(sd_bus_message *m, uint32_t v) {
        return sd_bus_message_append_basic(m, 'u', &v);
    }
};
template <> struct BusType<std::vector<std::string>> {
    static constexpr std::string_view signature = "as";
    static int append(sd_bus_message *m, const std::vector<std::string> &v) {
        return append_strv(m, v);
    }
};

template <> struct BusType<std::vector<std::pair<std::string, std::string>>> {
    static constexpr std::string_view signature = "a{ss}";
    static int append(sd_bus_message *m,
                      const std::vector<std::pair<std::string, std::string>> &v) {
        int r = sd_bus_message_open_container(m, 'a', "{ss}");
        if (r < 0)
            return r;
        for (const auto &[k, val] : v) {
            if ((r = sd_bus_message_open_container(m, 'e', "ss")) < 0 ||
                (r = append_string(m, k)) < 0 || (r = append_string(m, val)) < 0 ||
                (r = sd_bus_message_close_container(m)) < 0)
                return r;
        }
        return sd_bus_message_close_container(m);
    }
};

// A property of org.vouch.Vouch1: the vtable entry, the getter, Status()
// and PropertiesChanged all come from its row in kProperties.
struct Property {
    const char *name;
    const char *signature;
    uint64_t flags; // SD_BUS_VTABLE_PROPERTY_*
    int (*get)(sd_bus_message *m, const BusStatus &s);
    bool (*differs)(const BusStatus &a, const BusStatus &b);
};

template <class C, class T> T member_type(T C::*);

// The row for the BusStatus field `Field`. The signature is written out to
// read like the XML, and must match the field's type: a mismatch does not
// compile.
template <auto Field>
consteval Property property(const char *name, const char *signature, uint64_t flags) {
    using T = decltype(member_type(Field));
    if (std::string_view(signature) != BusType<T>::signature)
        throw "the signature does not match the field's type";
    return {name, signature, flags,
            [](sd_bus_message *m, const BusStatus &s) { return BusType<T>::append(m, s.*Field); },
            [](const BusStatus &a, const BusStatus &b) { return a.*Field != b.*Field; }};
}

constexpr const char *kDeniedSignalsDropped = "DeniedSignalsDropped";
constexpr const char *kWouldDenySignalsDropped = "WouldDenySignalsDropped";
constexpr uint64_t kEmits = SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE;
constexpr uint64_t kConst = SD_BUS_VTABLE_PROPERTY_CONST;

// Every property, in the order of the XML.
constexpr Property kProperties[] = {
    property<&BusStatus::mode>("Mode", "s", kEmits),
    property<&BusStatus::policy_serial>("PolicySerial", "t", kEmits),
    property<&BusStatus::policy_digest>("PolicyDigest", "s", kEmits),
    property<&BusStatus::policy_keyid>("PolicyKeyId", "s", kEmits),
    property<&BusStatus::policy_entries>("PolicyEntries", "t", kEmits),
    property<&BusStatus::measurements>("Measurements", "t", kEmits),
    property<&BusStatus::denials>("Denials", "t", kEmits),
    property<&BusStatus::lost_events>("LostEvents", "t", kEmits),
    property<&BusStatus::denied_signals_dropped>(kDeniedSignalsDropped, "t", kEmits),
    property<&BusStatus::would_denials>("WouldDenials", "t", kEmits),
    property<&BusStatus::would_deny_signals_dropped>(kWouldDenySignalsDropped, "t", kEmits),
    property<&BusStatus::pcr_index>("PcrIndex", "u", kEmits),
    property<&BusStatus::pcr_banks>("PcrBanks", "as", kEmits),
    property<&BusStatus::tpm_state>("TpmState", "s", kEmits),
    property<&BusStatus::tpm_message>("TpmMessage", "s", kEmits),
    property<&BusStatus::pending_extends>("PendingExtends", "t", kEmits),
    property<&BusStatus::kernel_support>("KernelSupport", "as", kEmits),
    property<&BusStatus::protection>("Protection", "a{ss}", kEmits),
    property<&BusStatus::version>("Version", "s", kConst),
};

const Property *find_property(std::string_view name) {
    for (const Property &p : kProperties)
        if (name == p.name)
            return &p;
    return nullptr;
}

// The object's vtable: a property entry per row of kProperties, all read by
// `get`, then `members` (methods and signals).
template <size_t N>
constexpr auto vtable_with_properties(sd_bus_property_get_t get,
                                      const sd_bus_vtable (&members)[N]) {
    std::array<sd_bus_vtable, 1 + std::size(kProperties) + N + 1> v{};
    size_t i = 0;
    v[i++] = SD_BUS_VTABLE_START(0);
    for (const Property &p : kProperties)
        v[i++] = SD_BUS_PROPERTY(p.name, p.signature, get, 0, p.flags);
    for (const sd_bus_vtable &m : members)
        v[i++] = m;
    v[i++] = SD_BUS_VTABLE_END;
    return v;
}

// One {sv} of Status(): the value the property's getter returns.
int append_status_entry(sd_bus_message *m, const Property &p, const BusStatus &s) {
    int r = sd_bus_message_open_container(m, 'e', "sv");
    if (r < 0)
        return r;
    r = sd_bus_message_append_basic(m, 's', p.name);
    if (r < 0)
        return r;
    r = sd_bus_message_open_container(m, 'v', p.signature);
    if (r < 0)
        return r;
    r = p.get(m, s);
    if (r < 0)
        return r;
    r = sd_bus_message_close_container(m);
    if (r < 0)
        return r;
    return sd_bus_message_close_container(m);
}

int append_log_record(sd_bus_message *m, const LogRecord &e) {
    int r = sd_bus_message_open_container(m, 'r', "tuaysssayb");
    if (r < 0)
        return r;
    r = sd_bus_message_append(m, "tu", e.index, e.pcr);
    if (r < 0)
        return r;
    r = append_bytes(m, e.template_hash);
    if (r < 0)
        return r;
    r = append_string(m, e.template_name);
    if (r < 0)
        return r;
    r = append_string(m, e.file_digest);
    if (r < 0)
        return r;
    r = append_string(m, e.path);
    if (r < 0)
        return r;
    r = append_bytes(m, e.signature);
    if (r < 0)
        return r;
    r = sd_bus_message_append(m, "b", int(e.violation));
    if (r < 0)
        return r;
    return sd_bus_message_close_container(m);
}

const char *bus_description(BusKind kind) {
    switch (kind) {
    case BusKind::User:
        return "the session bus";
    case BusKind::Address:
        return "the bus at the given address";
    default:
        return "the system bus";
    }
}

int open_bus(const BusOptions &opts, SdBus &bus) {
    sd_bus *raw = nullptr;
    int r;
    switch (opts.kind) {
    case BusKind::System:
        r = sd_bus_open_system(&raw);
        bus.reset(raw);
        return r;
    case BusKind::User:
        r = sd_bus_open_user(&raw);
        bus.reset(raw);
        return r;
    case BusKind::Address:
        r = sd_bus_new(&raw);
        bus.reset(raw);
        if (r < 0)
            return r;
        r = sd_bus_set_address(raw, opts.address.c_str());
        if (r < 0)
            return r;
        r = sd_bus_set_bus_client(raw, 1);
        if (r < 0)
            return r;
        return sd_bus_start(raw);
    }
    return -EINVAL;
}

int arm_timer(sd_event_source *timer, uint64_t usec) {
    int r = sd_event_source_set_time(timer, usec);
    if (r < 0)
        return r;
    return sd_event_source_set_enabled(timer, SD_EVENT_ONESHOT);
}

} // namespace

const sd_bus_vtable *BusService::vtable() {
    // Every method is UNPRIVILEGED to sd-bus: authorization is the service's
    // own (filter() for reads, the handlers for changes), from the bus's
    // peer credentials, and the same on every kind of bus.
    static constexpr sd_bus_vtable members[] = {
        SD_BUS_METHOD_WITH_ARGS("UpdatePolicy", SD_BUS_ARGS("ay", envelope),
                                SD_BUS_RESULT("t", serial), method_update_policy,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("UpdatePolicyFd", SD_BUS_ARGS("h", fd), SD_BUS_RESULT("t", serial),
                                method_update_policy_fd, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetLog", SD_BUS_ARGS("t", first, "u", count),
                                SD_BUS_RESULT("a(tuaysssayb)", entries), method_get_log,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Status", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sv}", status),
                                method_status, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CheckDigests", SD_BUS_ARGS("aay", digests),
                                SD_BUS_RESULT("au", flags), method_check_digests,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetPolicy", SD_BUS_NO_ARGS, SD_BUS_RESULT("ay", envelope),
                                method_get_policy, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS(
            "Denied", SD_BUS_ARGS("s", path, "ay", digest, "u", pid, "u", uid, "s", hook), 0),
        SD_BUS_SIGNAL_WITH_ARGS(
            "WouldDeny", SD_BUS_ARGS("s", path, "ay", digest, "u", pid, "u", uid, "s", hook), 0),
    };
    static constexpr auto vtable = vtable_with_properties(property_get, members);
    return vtable.data();
}

BusService::BusService(sd_event *ev, ServiceBackend &backend, const BusOptions &opts)
    : ev_(ev), backend_(backend), opts_(opts), denied_{"Denied", kDeniedSignalsDropped,
                                                       &BusStatus::denied_signals_dropped, this},
      would_deny_{"WouldDeny", kWouldDenySignalsDropped, &BusStatus::would_deny_signals_dropped,
                  this} {
    for (VerdictSignal *sig : {&denied_, &would_deny_})
        sig->tokens = opts.denied_burst;
}

Result<std::unique_ptr<BusService>> BusService::start(sd_event *ev, ServiceBackend &backend,
                                                      const BusOptions &opts) {
    std::unique_ptr<BusService> s(new BusService(ev, backend, opts));
    int r = open_bus(opts, s->bus_);
    if (r < 0)
        return make_error(r, std::string("cannot connect to ") + bus_description(opts.kind) + ": " +
                                 std::strerror(-r));
    (void)sd_bus_set_description(s->bus_.get(), "vouchd");

    r = s->register_object();
    if (r < 0)
        return make_error(r,
                          std::string("cannot register ") + dbus::kPath + ": " + std::strerror(-r));
    r = s->attach();
    if (r < 0)
        return make_error(r, std::string("cannot attach to the event loop: ") + std::strerror(-r));

    s->refresh();
    s->published_ = s->snap_;
    s->denied_.tokens_usec = s->would_deny_.tokens_usec = monotonic_usec();

    // Last, so that no call arrives before the object is there.
    r = sd_bus_request_name(s->bus_.get(), dbus::kName, 0);
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

int BusService::register_object() {
    sd_bus_slot *filter = nullptr;
    int r = sd_bus_add_filter(bus_.get(), &filter, &BusService::filter, this);
    filter_slot_.reset(filter);
    if (r < 0)
        return r;
    sd_bus_slot *object = nullptr;
    r = sd_bus_add_object_vtable(bus_.get(), &object, dbus::kPath, dbus::kInterface, vtable(),
                                 this);
    object_slot_.reset(object);
    return r;
}

int BusService::add_timer(sd_event_time_handler_t handler, SdEventSource &out, void *userdata) {
    sd_event_source *src = nullptr;
    int r = sd_event_add_time(ev_, &src, CLOCK_MONOTONIC, 0, 0, handler, userdata);
    out.reset(src);
    if (r < 0)
        return r;
    // Armed only when there is something to send.
    return sd_event_source_set_enabled(src, SD_EVENT_OFF);
}

int BusService::attach() {
    int r = add_timer(&BusService::on_changed_timer, changed_timer_, this);
    if (r < 0)
        return r;
    for (VerdictSignal *sig : {&denied_, &would_deny_}) {
        r = add_timer(&BusService::on_dropped_timer, sig->dropped_timer, sig);
        if (r < 0)
            return r;
    }
    r = sd_bus_attach_event(bus_.get(), ev_, SD_EVENT_PRIORITY_NORMAL);
    if (r < 0)
        return r;
    return sd_bus_set_exit_on_disconnect(bus_.get(), opts_.exit_on_disconnect);
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
    int r = sd_bus_message_get_type(m, &type);
    if (r < 0 || type != SD_BUS_MESSAGE_METHOD_CALL)
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

int BusService::property_get(sd_bus *, const char *, const char *, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *) {
    const Property *p = find_property(property);
    if (!p)
        return -ENOENT;
    return p->get(reply, static_cast<BusService *>(userdata)->snap_);
}

int BusService::method_status(sd_bus_message *m, void *userdata, sd_bus_error *) {
    auto *self = static_cast<BusService *>(userdata);
    sd_bus_message *raw = nullptr;
    int r = sd_bus_message_new_method_return(m, &raw);
    SdBusMessage reply(raw);
    if (r < 0)
        return r;
    r = sd_bus_message_open_container(raw, 'a', "{sv}");
    if (r < 0)
        return r;
    for (const Property &p : kProperties) {
        r = append_status_entry(raw, p, self->snap_);
        if (r < 0)
            return r;
    }
    r = sd_bus_message_close_container(raw);
    if (r < 0)
        return r;
    return sd_bus_send(nullptr, raw, nullptr);
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
    if (r < 0)
        return r;
    r = sd_bus_message_open_container(raw, 'a', "(tuaysssayb)");
    if (r < 0)
        return r;
    for (size_t i = 0; i < recs.size() && i < count; i++) {
        r = append_log_record(raw, recs[i]);
        if (r < 0)
            return r;
    }
    r = sd_bus_message_close_container(raw);
    if (r < 0)
        return r;
    return sd_bus_send(nullptr, raw, nullptr);
}

int BusService::method_check_digests(sd_bus_message *m, void *userdata, sd_bus_error *err) {
    auto *self = static_cast<BusService *>(userdata);
    int r = sd_bus_message_enter_container(m, 'a', "ay");
    if (r < 0)
        return r;
    std::vector<Sha256> digests;
    while ((r = sd_bus_message_at_end(m, false)) == 0) {
        const void *p = nullptr;
        size_t n = 0;
        r = sd_bus_message_read_array(m, 'y', &p, &n);
        if (r < 0)
            return r;
        if (n != sizeof(Sha256))
            return sd_bus_error_setf(err, SD_BUS_ERROR_INVALID_ARGS,
                                     "digest %zu is %zu bytes, not a SHA-256 (32)", digests.size(),
                                     n);
        if (digests.size() >= dbus::kMaxCheckDigests)
            return sd_bus_error_setf(err, SD_BUS_ERROR_INVALID_ARGS,
                                     "more than %u digests in one call", dbus::kMaxCheckDigests);
        Sha256 d;
        std::memcpy(d.data(), p, d.size());
        digests.push_back(d);
    }
    if (r < 0)
        return r;
    r = sd_bus_message_exit_container(m);
    if (r < 0)
        return r;
    auto allowed = self->backend_.check_digests(digests);
    if (!allowed)
        return sd_bus_error_set(err, dbus::kErrorFailed,
                                utf8_safe(allowed.error().message).c_str());
    sd_bus_message *raw = nullptr;
    r = sd_bus_message_new_method_return(m, &raw);
    SdBusMessage reply(raw);
    if (r < 0)
        return r;
    r = sd_bus_message_append_array(raw, 'u', allowed->data(), allowed->size() * sizeof(uint32_t));
    if (r < 0)
        return r;
    return sd_bus_send(nullptr, raw, nullptr);
}

int BusService::method_get_policy(sd_bus_message *m, void *userdata, sd_bus_error *err) {
    auto *self = static_cast<BusService *>(userdata);
    auto env = self->backend_.active_policy();
    if (!env)
        return sd_bus_error_set(
            err, env.error().code == ENOENT ? dbus::kErrorNoPolicy : dbus::kErrorFailed,
            utf8_safe(env.error().message).c_str());
    sd_bus_message *raw = nullptr;
    int r = sd_bus_message_new_method_return(m, &raw);
    SdBusMessage reply(raw);
    if (r < 0)
        return r;
    r = sd_bus_message_append_array(raw, 'y', env->data(), env->size());
    if (r < 0)
        return r;
    return sd_bus_send(nullptr, raw, nullptr);
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
    for (const Property &p : kProperties)
        if ((p.flags & kEmits) && p.differs(published_, snap_))
            names.push_back(p.name);
    published_ = snap_;
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
    int r = sd_event_source_get_enabled(changed_timer_.get(), &enabled);
    if (r >= 0 && enabled != SD_EVENT_OFF)
        return; // a batch is already scheduled and will read the newest state
    uint64_t now = now_usec();
    uint64_t due = last_changed_usec_ + opts_.changed_interval_usec;
    if (now >= due) {
        emit_changes();
        return;
    }
    r = arm_timer(changed_timer_.get(), due);
    if (r < 0)
        emit_changes(); // better early than never
}

int BusService::on_changed_timer(sd_event_source *, uint64_t, void *userdata) {
    static_cast<BusService *>(userdata)->emit_changes();
    return 0;
}

int BusService::on_dropped_timer(sd_event_source *, uint64_t, void *userdata) {
    auto *sig = static_cast<VerdictSignal *>(userdata);
    BusService *self = sig->service;
    if (sig->dropped == self->published_.*sig->dropped_field)
        return 0;
    // This property alone: the others wait for changed() and its batching.
    self->snap_.*sig->dropped_field = sig->dropped;
    self->published_.*sig->dropped_field = sig->dropped;
    const char *names[] = {sig->dropped_property, nullptr};
    (void)sd_bus_emit_properties_changed_strv(self->bus_.get(), dbus::kPath, dbus::kInterface,
                                              const_cast<char **>(names));
    return 0;
}

bool BusService::take_token(VerdictSignal &sig) {
    uint64_t now = now_usec();
    if (now > sig.tokens_usec) {
        sig.tokens += double(now - sig.tokens_usec) * opts_.denied_rate / 1e6;
        sig.tokens = std::min(sig.tokens, double(opts_.denied_burst));
        sig.tokens_usec = now;
    }
    if (sig.tokens < 1.0)
        return false;
    sig.tokens -= 1.0;
    return true;
}

int BusService::send_verdict(const char *member, const Denial &d) {
    sd_bus_message *raw = nullptr;
    int r = sd_bus_message_new_signal(bus_.get(), &raw, dbus::kPath, dbus::kInterface, member);
    SdBusMessage msg(raw);
    if (r < 0)
        return r;
    r = append_string(raw, d.path);
    if (r < 0)
        return r;
    r = append_bytes(raw, d.digest);
    if (r < 0)
        return r;
    r = sd_bus_message_append(raw, "uu", d.pid, d.uid);
    if (r < 0)
        return r;
    r = append_string(raw, d.hook);
    if (r < 0)
        return r;
    return sd_bus_send(bus_.get(), raw, nullptr);
}

void BusService::signal_verdict(VerdictSignal &sig, const Denial &d) {
    if (take_token(sig) && send_verdict(sig.member, d) >= 0)
        return;
    sig.dropped++;
    // The drop count is signalled at most once a second, not per drop:
    // that would be the flood again.
    int enabled = SD_EVENT_OFF;
    int r = sd_event_source_get_enabled(sig.dropped_timer.get(), &enabled);
    if (r < 0 || enabled != SD_EVENT_OFF)
        return;
    (void)arm_timer(sig.dropped_timer.get(), now_usec() + 1'000'000);
}

void BusService::denied(const Denial &d) {
    signal_verdict(denied_, d);
}

void BusService::would_deny(const Denial &d) {
    signal_verdict(would_deny_, d);
}

} // namespace vouch
