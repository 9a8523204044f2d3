/* SPDX-License-Identifier: Apache-2.0 */
// vouchctl's commands: one table (commands.cpp) that both dispatches and
// writes the usage text, and the handlers it names.
#pragma once

#include <cstdio>
#include <span>

#include "vouchctl/cli.h"

namespace vouch::ctl {

// Every command, in the order `vouchctl --help` lists them.
std::span<const Command> commands();

// vouchctl itself: argv as main() gets it. Finds the command in the table
// (its name, then its sub-command if it has any) and runs it with argv from
// the command's last word on.
Exit run(int argc, char **argv);

// `vouchctl --help`, generated from the table.
void print_usage(std::FILE *out);

// The handlers. argv[0] is the command's last word; options follow.
Exit cmd_check_kernel(const Command &, int argc, char **argv); // vouchctl/kernel.cpp
Exit cmd_unpin(const Command &, int argc, char **argv);
Exit cmd_log(const Command &, int argc, char **argv); // vouchctl/log.cpp
Exit cmd_log_verify(const Command &, int argc, char **argv);
Exit cmd_status(const Command &, int argc, char **argv); // vouchctl/bus.cpp
Exit cmd_watch(const Command &, int argc, char **argv);
Exit cmd_policy_update(const Command &, int argc, char **argv);
Exit cmd_policy_make(const Command &, int argc, char **argv); // vouchctl/policy.cpp
Exit cmd_policy_sign(const Command &, int argc, char **argv);
Exit cmd_policy_verify(const Command &, int argc, char **argv);
Exit cmd_policy_show(const Command &, int argc, char **argv);
Exit cmd_policy_diff(const Command &, int argc, char **argv);
Exit cmd_policy_merge(const Command &, int argc, char **argv);
Exit cmd_policy_keylime(const Command &, int argc, char **argv);
Exit cmd_policy_check(const Command &, int argc, char **argv);
Exit cmd_policy_get(const Command &, int argc, char **argv);
Exit cmd_denials(const Command &, int argc, char **argv); // vouchctl/denials.cpp

} // namespace vouch::ctl
