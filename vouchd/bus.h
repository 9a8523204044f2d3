/* SPDX-License-Identifier: Apache-2.0 */
// vouchd's D-Bus front end: serves a ServiceBackend as org.vouch.Vouch1 on
// an sd-bus connection attached to the daemon's sd-event loop. The interface
// is documented in packaging/dbus/org.vouch.Vouch1.xml.
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <cstdint>
#include <memory>
#include <string>
#include <sys/types.h>

#include "lib/dbus_names.h"
#include "lib/result.h"
#include "lib/sd_bus_ptr.h"
#include "vouchd/service.h"

namespace vouch {

namespace dbus {
// The D-Bus error name for an update_policy() errno (table in service.h).
const char *policy_error_name(int code);
} // namespace dbus

// What the service publishes: the backend's status and the values the
// service counts itself.
struct BusStatus : ServiceStatus {
    uint64_t denied_signals_dropped = 0;     // Denied signals the rate limit held back
    uint64_t would_deny_signals_dropped = 0; // WouldDeny signals the rate limit held back
};

enum class BusKind {
    System,  // the system bus (production)
    User,    // the session bus of DBUS_SESSION_BUS_ADDRESS (vouchd --user-bus)
    Address, // an explicit address (tests, private buses)
};

struct BusOptions {
    BusKind kind = BusKind::System;
    std::string address; // for BusKind::Address
    // Members of this group may read status and the log. A group missing
    // from the group database admits nobody but root.
    std::string read_group = "vouch";
    // Denied and WouldDeny signals: a token bucket each of `denied_burst`
    // signals refilled at `denied_rate` per second. Signals beyond it are
    // counted, not sent. Separate buckets: a flood of audit findings must
    // not hold back the report of a real denial.
    uint32_t denied_burst = 100;
    double denied_rate = 20.0;
    // PropertiesChanged from changed() is sent at most this often; changes
    // in between are batched into the next signal.
    uint64_t changed_interval_usec = 200'000;
    // UpdatePolicyFd reads at most this much.
    size_t max_envelope_bytes = 64u << 20;
    // Losing the bus connection ends the sd-event loop (sd_event_exit with
    // EXIT_FAILURE) so that the service manager restarts the daemon.
    bool exit_on_disconnect = true;
};

class BusService {
  public:
    // Connects, registers the object, attaches to `ev` and takes the name.
    // `ev` and `backend` must outlive the service; all callbacks (backend
    // calls included) run on `ev`'s thread.
    static Result<std::unique_ptr<BusService>> start(sd_event *ev, ServiceBackend &backend,
                                                     const BusOptions &opts = {});
    // Releases the name and flushes what is queued.
    ~BusService();
    BusService(const BusService &) = delete;
    BusService &operator=(const BusService &) = delete;

    // The backend's status may have changed: re-read it and signal the
    // properties whose value differs from what was last signalled (one
    // PropertiesChanged per batch, at most every changed_interval_usec).
    void changed();
    // Signals a denial (Denied), within the rate limit.
    void denied(const Denial &d);
    // Signals what audit mode let through but enforce mode would have
    // denied (WouldDeny, same arguments), within its own rate limit.
    void would_deny(const Denial &d);

    uint64_t denied_dropped() const { return denied_.dropped; }
    uint64_t would_deny_dropped() const { return would_deny_.dropped; }
    sd_bus *bus() const { return bus_.get(); }

  private:
    BusService(sd_event *ev, ServiceBackend &backend, const BusOptions &opts);

    struct Access {
        bool root = false;
        bool reader = false;
    };
    // Who sent `m`, from the bus's record of the peer (not from /proc).
    Result<Access> access_of(sd_bus_message *m) const;
    bool is_reader_uid(uid_t uid) const;

    // A signal about one verdict (Denied, WouldDeny): its rate limit, what
    // it dropped, and the property that publishes the drop count.
    struct VerdictSignal {
        VerdictSignal(const char *m, const char *p, uint64_t BusStatus::*f, BusService *s)
            : member(m), dropped_property(p), dropped_field(f), service(s) {}
        const char *member;
        const char *dropped_property;
        uint64_t BusStatus::*dropped_field;
        BusService *service;
        double tokens = 0;
        uint64_t tokens_usec = 0;
        uint64_t dropped = 0;
        SdEventSource dropped_timer; // publishes `dropped`, at most once a second
    };

    int register_object();
    int attach();
    int add_timer(sd_event_time_handler_t handler, SdEventSource &out, void *userdata);
    int send_verdict(const char *member, const Denial &d);
    void signal_verdict(VerdictSignal &sig, const Denial &d);
    void emit_changes();
    void refresh() {
        static_cast<ServiceStatus &>(snap_) = backend_.status();
        snap_.denied_signals_dropped = denied_.dropped;
        snap_.would_deny_signals_dropped = would_deny_.dropped;
    }
    uint64_t now_usec() const;
    bool take_token(VerdictSignal &sig);

    static int filter(sd_bus_message *m, void *userdata, sd_bus_error *err);
    static int method_update_policy(sd_bus_message *m, void *userdata, sd_bus_error *err);
    static int method_update_policy_fd(sd_bus_message *m, void *userdata, sd_bus_error *err);
    static int method_get_log(sd_bus_message *m, void *userdata, sd_bus_error *err);
    static int method_status(sd_bus_message *m, void *userdata, sd_bus_error *err);
    static int method_check_digests(sd_bus_message *m, void *userdata, sd_bus_error *err);
    static int method_get_policy(sd_bus_message *m, void *userdata, sd_bus_error *err);
    static int property_get(sd_bus *bus, const char *path, const char *interface,
                            const char *property, sd_bus_message *reply, void *userdata,
                            sd_bus_error *err);
    static int on_changed_timer(sd_event_source *s, uint64_t usec, void *userdata);
    static int on_dropped_timer(sd_event_source *s, uint64_t usec, void *userdata);
    int update_policy(sd_bus_message *m, std::string_view envelope, sd_bus_error *err);

    static const sd_bus_vtable *vtable();

    sd_event *ev_;
    ServiceBackend &backend_;
    BusOptions opts_;
    SdBus bus_;
    SdBusSlot filter_slot_;
    SdBusSlot object_slot_;
    SdEventSource changed_timer_;
    BusStatus snap_;      // what getters return; refreshed per incoming call
    BusStatus published_; // what the last PropertiesChanged said
    uint64_t last_changed_usec_ = 0;
    VerdictSignal denied_;
    VerdictSignal would_deny_;
};

} // namespace vouch
