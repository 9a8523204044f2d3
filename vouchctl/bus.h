/* SPDX-License-Identifier: Apache-2.0 */
// vouchctl's commands that talk to vouchd over D-Bus: status, log (without
// --file), policy update, watch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lib/sd_bus_ptr.h"
#include "vouchctl/cli.h"

namespace vouch::ctl {

// Which bus to reach vouchd on.
struct BusTarget {
    bool user_bus = false;
    std::string address; // non-empty: this bus, not the system or session one
    bool given = false;  // a bus option was on the command line
};

// --user-bus, --system, --bus-address ADDR, for a command's option list.
// Their ids are from 256 to 299; a command's own are letters or from 300.
std::vector<Option> bus_options();
// Records option `id` in *t when it is one of bus_options(); false if not.
bool take_bus_option(BusTarget *t, int id, const char *value);

// Connects to the bus `t` names; on failure reports it and returns NotRunning.
Exit connect(const BusTarget &t, SdBus *out);
// Reports a failed call of `what` and returns its exit code (NotRunning,
// Denied, BadInput or Failure).
Exit call_failed(const BusTarget &t, const char *what, const SdBusError &e, int r);

// `vouchctl log` from vouchd: entries [first, first + count), printed as
// log_ascii() or as a LogJsonWriter array. Reports its errors on stderr.
Exit print_log_from_bus(const BusTarget &t, uint64_t first, uint64_t count, bool json);

} // namespace vouch::ctl
