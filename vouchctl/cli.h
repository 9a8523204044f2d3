/* SPDX-License-Identifier: Apache-2.0 */
// vouchctl's command-line layer: the exit codes every command returns, the
// command table's entry type, option parsing with getopt_long and the one
// parser for numbers in options.
#pragma once

#include <getopt.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/result.h"

namespace vouch::ctl {

// The exit status of every vouchctl command, documented in vouchctl(8) (EXIT
// STATUS) and `vouchctl --help`. Scripts branch on these numbers: a value
// never changes meaning, and a new outcome gets a new number.
enum class Exit : int {
    Ok = 0,
    Failure = 1,    // anything else; the reason is on stderr
    Usage = 2,      // the command line is wrong
    NotRunning = 3, // no bus, or no one owns org.vouch.Vouch1
    Denied = 4,     // the bus policy or vouchd refused the caller
    BadInput = 5,   // unreadable input, or vouchd refused it as invalid
    // `policy diff` only: the two policies differ (diff(1)'s 1). Its own
    // failures are Usage or BadInput, so that 1 means nothing else there.
    Differ = 1,
    // `policy check` (what the apt hook asks): some files are not allowed
    // and vouch enforces, so running them would be denied.
    NotAllowed = 6,
    // `policy check`: some files are not allowed, but vouch is in audit
    // mode (or has no policy), so nothing would be denied.
    NotEnforcing = 7,
    // 8 and 9 are reserved for further answers about files.
};

// vouchd's binary measurement log, what `log --file`, `log verify` and
// `policy make --from-log` read by default.
inline constexpr const char *kDefaultLog = "/run/vouch/binary_runtime_measurements";

struct Command;
using Handler = Exit (*)(const Command &cmd, int argc, char **argv);

// One row of the command table (vouchctl/commands.cpp): how it is named,
// what `vouchctl --help` and `vouchctl NAME SUB --help` say, and the handler.
struct Command {
    std::string_view name;
    std::string_view sub;      // "" unless the command is "NAME SUB"
    std::string_view synopsis; // its arguments, after the name
    std::string_view summary;  // one line in `vouchctl --help`
    std::string_view details;  // more lines for `NAME --help`: options, notes
    Handler run;

    std::string full_name() const;
};

// `vouchctl NAME --help`: the command's synopsis, summary and details, on
// stdout.
Exit print_help(const Command &cmd);
// Prints "vouchctl NAME: MSG (see vouchctl NAME --help)" to stderr.
Exit usage_error(const Command &cmd, const std::string &msg);

// Writes `data` to the file `out` atomically, or to standard output when
// `out` is "" or "-"; a failure is reported as "WHO: reason" (Exit::Failure).
Exit write_output(const std::string &out, const std::string &data, const char *who);
// The time now as a policy's meta timestamp: "2026-12-02T23:30:10Z".
std::string utc_now();

// A number in an option or argument: the whole text decimal, from min to max
// (lib/parse.h). The error names the option and the accepted range.
Result<uint64_t> parse_number(std::string_view option, const std::string &text, uint64_t min,
                              uint64_t max);

// An option of a command: getopt_long's long name, whether it takes a value,
// and the id parse_options() hands back for it. With short_too, -ID (a
// letter) is the same option.
struct Option {
    const char *name;
    int has_arg; // no_argument | required_argument
    int id;
    bool short_too = false;
};

struct Parsed {
    bool help = false;             // --help or -h was given: nothing else was looked at
    std::vector<std::string> args; // the positional arguments, in order
};

// Runs getopt_long over argv[1..] (argv[0] is the command's name) with
// `options` and --help/-h. Options and arguments may come in any order, and
// "--" ends the options. `on_option` gets each option's id and value
// (nullptr for a flag); an error it returns stops parsing and is returned as
// a usage error message, as are unknown options and missing values.
Result<Parsed>
parse_options(int argc, char **argv, const std::vector<Option> &options,
              const std::function<Result<void>(int id, const char *value)> &on_option);

// The common end of a command's option parsing: a parse error, or a number
// of arguments outside [min_args, max_args] (`arity` says what the command
// takes), is a usage error; --help prints the command's help. Empty: go on.
std::optional<Exit> settle_options(const Command &cmd, const Result<Parsed> &p, size_t min_args,
                                   size_t max_args, std::string_view arity);

// A usage error for `on_option` to return.
inline Error bad_usage(std::string message) {
    return make_error(EINVAL, std::move(message));
}

} // namespace vouch::ctl
