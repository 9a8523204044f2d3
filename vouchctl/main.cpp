// SPDX-License-Identifier: Apache-2.0
// vouchctl: the command-line client. The commands are in the table of
// vouchctl/commands.cpp.
#include <cstdlib>

#include "vouchctl/commands.h"

int main(int argc, char **argv) {
    // tpm2-tss would log to stderr by itself; vouchctl reports TPM errors once.
    setenv("TSS2_LOG", "all+none", 0);
    return static_cast<int>(vouch::ctl::run(argc, argv));
}
