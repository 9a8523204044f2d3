/* SPDX-License-Identifier: Apache-2.0 */
// The seam between vouchd's core (kernel side, log, TPM, policy) and the
// front ends that show it (D-Bus service, status output). The daemon
// implements ServiceBackend; vouchd/bus.* serves it on the bus.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/log_record.h"
#include "lib/digest.h"
#include "lib/result.h"

namespace vouch {

// Everything vouchd reports, one value per D-Bus property (but
// DeniedSignalsDropped and WouldDenySignalsDropped, which the bus service
// counts itself: BusStatus). A
// new property is a field here and a row in vouchd/bus.cpp's kProperties.
struct ServiceStatus {
    std::string mode = "audit";  // "audit" | "enforce"
    uint64_t policy_serial = 0;  // 0: no policy loaded
    std::string policy_digest;   // "sha256:<hex>" of the accepted envelope, "" if none
    std::string policy_keyid;    // keyid of the key that signed it, "" if none
    uint64_t policy_entries = 0; // digests in the active allow-list
    uint64_t measurements = 0;   // entries in the measurement log
    uint64_t denials = 0;        // execs/mappings denied since the hooks were attached
    uint64_t would_denials = 0;  // execs/mappings audit mode allowed that enforce would deny
    uint64_t lost_events = 0;    // events the kernel side could not deliver
    uint32_t pcr_index = 10;
    std::vector<std::string> pcr_banks;   // "sha1", "sha256", ... (empty until the TPM answers)
    std::string tpm_state = "connecting"; // tpm_state_name(): ok, missing, failing, ...
    std::string tpm_message;              // why, for every state but "ok"
    uint64_t pending_extends = 0;
    std::vector<std::string> kernel_support; // hooks attached: "bprm_check", "mmap_file", ...
    // What stops a rollback, by mechanism (README "D-Bus API", Protection):
    // "trust-state", "serial", and "files".
    std::vector<std::pair<std::string, std::string>> protection;
    std::string version;
};

struct Denial {
    std::string path;
    std::vector<uint8_t> digest; // SHA-256
    uint32_t pid = 0;
    uint32_t uid = 0;
    std::string hook; // hook_name(): "bprm_check", "mmap_file", "file_mprotect", ...
};

// Error codes returned by update_policy; the bus maps each to a D-Bus error
// name (org.vouch.Vouch1.Error.*).
//   EBADMSG      Malformed      not JSON / not a DSSE envelope / bad field
//   EKEYREJECTED BadSignature   a trusted key matches but the signature fails
//   ENOKEY       UnknownKey     no trusted key matches the envelope's keyid
//   ESTALE       Rollback       serial lower than the highest accepted
//   EFBIG        TooLarge       document over the size limit
//   EPERM        AccessDenied   caller may not change state
//   other        Failed         the kernel side or the state store failed
class ServiceBackend {
  public:
    virtual ~ServiceBackend() = default;
    virtual ServiceStatus status() const = 0;
    // Verifies, parses and activates a signed policy envelope; returns the
    // new serial. On any error the active policy is unchanged.
    virtual Result<uint64_t> update_policy(std::string_view envelope) = 0;
    // Up to `count` entries from index `first` (fewer at the end).
    virtual std::vector<LogRecord> log(uint64_t first, uint32_t count) const = 0;
    // For each SHA-256 file digest, the enforced allow-list's VOUCH_ALLOW_*
    // flags for it (0: a file with it may not run), the kernel side's answer.
    virtual Result<std::vector<uint32_t>>
    check_digests(const std::vector<Sha256> &digests) const = 0;
    // The envelope of the active policy, as it was activated. ENOENT: none
    // is active; ESTALE: its file changed since.
    virtual Result<std::string> active_policy() const = 0;
};

} // namespace vouch
