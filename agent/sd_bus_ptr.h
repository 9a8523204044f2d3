// Owning pointers for sd-bus handles, and an sd_bus_error that frees itself.
#pragma once

#include <systemd/sd-bus.h>

#include <memory>

namespace vouch {

namespace detail {
// A bus that is still connected is flushed before it is closed, so that
// replies and signals already queued are not lost.
struct BusUnref {
    void operator()(sd_bus *b) const { sd_bus_flush_close_unref(b); }
};
struct SlotUnref {
    void operator()(sd_bus_slot *s) const { sd_bus_slot_unref(s); }
};
struct MessageUnref {
    void operator()(sd_bus_message *m) const { sd_bus_message_unref(m); }
};
struct CredsUnref {
    void operator()(sd_bus_creds *c) const { sd_bus_creds_unref(c); }
};
} // namespace detail

using SdBus = std::unique_ptr<sd_bus, detail::BusUnref>;
using SdBusSlot = std::unique_ptr<sd_bus_slot, detail::SlotUnref>;
using SdBusMessage = std::unique_ptr<sd_bus_message, detail::MessageUnref>;
using SdBusCreds = std::unique_ptr<sd_bus_creds, detail::CredsUnref>;

class SdBusError {
  public:
    SdBusError() = default;
    ~SdBusError() { sd_bus_error_free(&e_); }
    SdBusError(const SdBusError &) = delete;
    SdBusError &operator=(const SdBusError &) = delete;

    sd_bus_error *get() { return &e_; }
    bool is_set() const { return sd_bus_error_is_set(&e_); }
    const char *name() const { return e_.name ? e_.name : ""; }
    const char *message() const { return e_.message ? e_.message : ""; }

  private:
    sd_bus_error e_ = SD_BUS_ERROR_NULL;
};

} // namespace vouch
