// vouchctl's commands that talk to vouchd over D-Bus: status, log, policy
// update, watch.
#pragma once

#include <cstdio>

namespace vouch::ctl {

// Exit codes of every vouchctl command (documented in --help).
enum Exit {
    kExitOk = 0,
    kExitFailed = 1,
    kExitUsage = 2,
    kExitNotRunning = 3, // no bus, or no one owns org.vouch.Vouch1
    kExitDenied = 4,     // the bus policy or vouchd refused the caller
    kExitBadInput = 5,   // unreadable input, or vouchd refused it as invalid
};

// argv[0] is the command. True for the commands bus_main() serves; `log
// verify` and `log --file` read a log file and are not among them.
bool is_bus_command(int argc, char **argv);
int bus_main(int argc, char **argv);
void bus_usage(FILE *out);

} // namespace vouch::ctl
