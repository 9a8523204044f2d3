/* SPDX-License-Identifier: Apache-2.0 */
// Owning pointers for sd-bus and sd-event handles, and an sd_bus_error that
// frees itself.
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <memory>

#include "lib/owned.h"

namespace vouch {

// A bus that is still connected is flushed before it is closed, so that
// replies and signals already queued are not lost.
using SdBus = Owned<sd_bus, sd_bus_flush_close_unref>;
using SdBusSlot = Owned<sd_bus_slot, sd_bus_slot_unref>;
using SdBusMessage = Owned<sd_bus_message, sd_bus_message_unref>;
using SdBusCreds = Owned<sd_bus_creds, sd_bus_creds_unref>;
using SdEvent = Owned<sd_event, sd_event_unref>;
// Disabled before the unref, so that a timer never fires for an owner that is
// gone (sd-event may hold its own reference while dispatching).
using SdEventSource = Owned<sd_event_source, sd_event_source_disable_unref>;

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
