/* SPDX-License-Identifier: Apache-2.0 */
// vouch's records of its own state in the measurement log: ima-buf entries,
// as the kernel's IMA measures its own policy and keys, so that a verifier
// proves not only what ran but which policy was enforcing from which entry.
// Names and contents are fixed ASCII (no trailing newline), so a verifier can
// list their digests ahead (Keylime: the runtime policy's "ima-buf" section).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/digest.h"
#include "lib/ima_log.h"

namespace vouch::records {

// Measuring started: the kernel side was loaded fresh (not reattached to
// pins). Content "stage=vouchd" or "stage=initramfs".
inline constexpr const char *kMeasureStart = "vouch-measure-start";
// Every vouchd start, content "start".
inline constexpr const char *kVouchdStart = "vouchd-start";
// Every policy activation: "serial=N mode=audit|enforce envelope=sha256:HEX".
inline constexpr const char *kPolicy = "vouch-policy";
// A clean stop (SIGTERM, SIGINT), content "stop".
inline constexpr const char *kVouchdStop = "vouchd-stop";

inline constexpr const char *kStageVouchd = "vouchd";
inline constexpr const char *kStageInitramfs = "initramfs";

inline std::string measure_start(std::string_view stage) {
    return "stage=" + std::string(stage);
}
inline std::string vouchd_start() {
    return "start";
}
inline std::string vouchd_stop() {
    return "stop";
}
inline std::string policy(uint64_t serial, std::string_view mode, const Sha256 &envelope) {
    return "serial=" + std::to_string(serial) + " mode=" + std::string(mode) +
           " envelope=sha256:" + to_hex(envelope);
}

inline ima::Entry entry(uint32_t pcr, const std::string &name, std::string_view content) {
    return ima::make_buf_entry(
        pcr, name, std::span(reinterpret_cast<const uint8_t *>(content.data()), content.size()));
}

// The hex SHA-256 of a record's content: what its d-ng field holds and a
// Keylime runtime policy lists under "ima-buf" for its name.
inline std::string digest_hex(std::string_view content) {
    return to_hex(
        sha256_bytes(std::span(reinterpret_cast<const uint8_t *>(content.data()), content.size())));
}

// The records whose content does not depend on the policy: (name, content)
// of both stages' measure-start, vouchd-start and vouchd-stop.
inline std::vector<std::pair<std::string, std::string>> fixed() {
    return {
        {kMeasureStart, measure_start(kStageVouchd)},
        {kMeasureStart, measure_start(kStageInitramfs)},
        {kVouchdStart, vouchd_start()},
        {kVouchdStop, vouchd_stop()},
    };
}

} // namespace vouch::records
