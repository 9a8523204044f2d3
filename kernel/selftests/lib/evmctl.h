/* SPDX-License-Identifier: Apache-2.0 */
// evmctl ima_measurement (ima-evm-utils), an independent verifier, replays a
// binary log against the TPM's values of one PCR in the SHA-1 and SHA-256
// banks; the other 23 PCRs it reads are written as zeros (the log does not
// touch them).
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>

#include "lib/digest.h"
#include "lib/tpm.h"
#include "kernel/selftests/lib/tap.h"

namespace vouch::selftest {

// `corrupt` flips a bit of the PCR value first (the check must then fail).
// evmctl's output goes to the TAP diagnostics when it fails unexpectedly.
inline bool evmctl_validates(Tap &t, const std::string &tcti, uint32_t pcr, const std::string &log,
                             bool corrupt = false) {
    auto tpm = Tpm::open(tcti);
    if (!tpm) {
        t.diag("%s", tpm.error().message.c_str());
        return false;
    }
    const std::string tmp = "/tmp/evmctl-" + std::to_string(getpid());
    std::string args;
    for (auto [bank, name] : {std::pair{kTpmAlgSha1, "sha1"}, std::pair{kTpmAlgSha256, "sha256"}}) {
        auto v = (*tpm)->read_pcr(pcr, bank);
        if (!v)
            return false;
        if (corrupt)
            (*v)[0] ^= 1;
        std::string f = tmp + "-pcrs-" + name;
        std::ofstream out(f);
        for (uint32_t i = 0; i < 24; ++i) {
            char label[16];
            std::snprintf(label, sizeof(label), "PCR-%02u: ", i);
            out << label << (i == pcr ? to_hex(*v) : std::string(v->size() * 2, '0')) << "\n";
        }
        args += std::string(" --pcrs ") + name + "," + f;
    }
    std::string cmd =
        "evmctl ima_measurement --ignore-violations" + args + " " + log + " >" + tmp + ".out 2>&1";
    int rc = std::system(cmd.c_str());
    if (rc != 0 && !corrupt) {
        std::ifstream in(tmp + ".out");
        for (std::string line; std::getline(in, line);)
            t.diag("evmctl: %s", line.c_str());
    }
    return rc == 0;
}

} // namespace vouch::selftest
