// SPDX-License-Identifier: Apache-2.0
#include "lib/abi.h"

namespace vouch {

const char *hook_name(unsigned hook) {
    switch (hook) {
    case VOUCH_HOOK_BPRM_CHECK:
        return "bprm_check";
    case VOUCH_HOOK_MMAP_FILE:
        return "mmap_file";
    case VOUCH_HOOK_FILE_MPROTECT:
        return "file_mprotect";
    case VOUCH_HOOK_KERNEL_READ_FILE:
        return "kernel_read_file";
    case VOUCH_HOOK_EXECVE_CHECK:
        return "execve_check";
    case VOUCH_HOOK_FILE_OPEN:
        return "file_open";
    }
    return "unknown";
}

const char *verdict_name(unsigned verdict) {
    switch (verdict) {
    case VOUCH_VERDICT_ALLOW:
        return "allow";
    case VOUCH_VERDICT_DENY:
        return "deny";
    case VOUCH_VERDICT_AUDIT_DENY:
        return "audit-deny";
    }
    return "unknown";
}

const char *mode_name(unsigned mode) {
    switch (mode) {
    case VOUCH_MODE_AUDIT:
        return "audit";
    case VOUCH_MODE_ENFORCE:
        return "enforce";
    }
    return "unknown";
}

uint64_t next_policy_word(uint64_t current, unsigned mode, unsigned active) {
    uint64_t gen = (VOUCH_POLICY_GEN(current) + 1) & VOUCH_POLICY_GEN_MASK;
    if (gen == 0)
        gen = 1;
    return VOUCH_POLICY_WORD(mode, active, gen);
}

} // namespace vouch
