/* SPDX-License-Identifier: Apache-2.0 */
// The VM's TPM is shared by every selftest of a run: one that activates
// policies with the TPM leaves its serial in vouchd's NV index
// (vouchd/nv_serial.h), which would refuse another test's lower serials.
#pragma once

#include <string>

#include "lib/tpm.h"
#include "vouchd/nv_serial.h"

namespace vouch::selftest {

inline constexpr const char *kVmTcti = "device:/dev/tpmrm0";

// Removes vouchd's NV index (the VM's TPM has no owner password). Returns
// what failed, empty on success or when there was none.
inline std::string nv_reset() {
    auto tpm = Tpm::open(kVmTcti);
    if (!tpm)
        return tpm.error().message;
    auto defined = (*tpm)->nv_defined(kNvSerialIndex);
    if (!defined)
        return defined.error().message;
    if (!*defined)
        return "";
    auto r = (*tpm)->nv_undefine(kNvSerialIndex);
    return r ? "" : r.error().message;
}

} // namespace vouch::selftest
