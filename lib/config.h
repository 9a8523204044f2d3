/* SPDX-License-Identifier: Apache-2.0 */
// vouchd's settings: defaults, then /etc/vouch/vouch.conf, then the command
// line. The file is `key = value` lines with `#` comments; an unknown key or a
// bad value is an error naming the file and line, so a typo never silently
// leaves a default in force.
#pragma once

#include <cstdint>
#include <string>

#include "lib/result.h"

namespace vouch {

struct DaemonConfig {
    std::string pin_dir = "/sys/fs/bpf/vouch"; // empty: do not pin
    std::string log_dir = "/run/vouch";
    std::string state_dir = "/var/lib/vouch";
    std::string policy = "/etc/vouch/policy.dsse";
    std::string keys_dir = "/etc/vouch/keys";
    std::string tcti = "device:/dev/tpmrm0";
    bool tpm = true;
    uint32_t pcr = 10;
    std::string template_name = "ima-ng";
    bool cache = true;
    // Identify files with fs-verity by their fs-verity digest (6.8+).
    bool verity = true;
    // Ring buffer between the hooks and vouchd: a power of two, at least a
    // page. Events that do not fit are lost and logged as violations.
    uint32_t ringbuf_bytes = 4u << 20;
    // Where the kernel's own IMA log is read for boot_aggregate.
    std::string kernel_ima_log = "/sys/kernel/security/ima/binary_runtime_measurements";
    // A private key the apt hook may sign policies with on this machine
    // (vouchctl policy check --local-key); vouchd itself never reads it.
    std::string local_signing_key;
    enum class Bus { System, User, None } bus = Bus::System;
    // Which stage started measuring, for the vouch-measure-start record
    // (lib/vouch_records.h) of a fresh kernel side: "vouchd" or "initramfs".
    std::string stage = "vouchd";
};

inline constexpr const char *kDefaultConfigPath = "/etc/vouch/vouch.conf";

// Applies one setting (`key` as in the file: pin_dir, log_dir, state_dir,
// policy, keys_dir, local_signing_key, tcti, tpm, pcr, template, cache,
// verity, ringbuf_size). `where` prefixes
// errors.
Result<void> apply_setting(DaemonConfig &cfg, const std::string &key, const std::string &value,
                           const std::string &where);

// Reads a config file into `cfg`. A missing file is fine when `optional`.
Result<void> load_config_file(DaemonConfig &cfg, const std::string &path, bool optional);

} // namespace vouch
