/* SPDX-License-Identifier: Apache-2.0 */
// The C++ view of bpf/vouch_abi.h, with its layout pinned: a change on either
// side that moves a field fails the build here, not silently at run time.
#pragma once

#include <cstddef>
#include <cstdint>

#include "bpf/vouch_abi.h"

static_assert(sizeof(struct vouch_event) == 4184);
static_assert(offsetof(struct vouch_event, ts_ns) == 0);
static_assert(offsetof(struct vouch_event, ino) == 8);
static_assert(offsetof(struct vouch_event, dev) == 16);
static_assert(offsetof(struct vouch_event, generation) == 20);
static_assert(offsetof(struct vouch_event, pid) == 24);
static_assert(offsetof(struct vouch_event, tid) == 28);
static_assert(offsetof(struct vouch_event, uid) == 32);
static_assert(offsetof(struct vouch_event, hook) == 36);
static_assert(offsetof(struct vouch_event, verdict) == 38);
static_assert(offsetof(struct vouch_event, flags) == 40);
static_assert(offsetof(struct vouch_event, hash_algo) == 44);
static_assert(offsetof(struct vouch_event, path_len) == 48);
static_assert(offsetof(struct vouch_event, sb_magic) == 52);
static_assert(offsetof(struct vouch_event, digest) == 56);
static_assert(offsetof(struct vouch_event, path) == 88);
static_assert(sizeof(struct vouch_stats) == 64);
static_assert(VOUCH_ABI_VERSION == 2);
static_assert(sizeof(struct vouch_config) == 32);
static_assert(offsetof(struct vouch_config, policy) == 0);
static_assert(offsetof(struct vouch_config, pin_dir_ino) == 8);
static_assert(offsetof(struct vouch_config, abi_version) == 16);
static_assert(offsetof(struct vouch_config, flags) == 20);
static_assert(offsetof(struct vouch_config, pin_mnt) == 24);
static_assert(sizeof(struct vouch_trust) == 80);
static_assert(offsetof(struct vouch_trust, policy_digest) == 8);
static_assert(offsetof(struct vouch_trust, keyring_digest) == 40);
static_assert(offsetof(struct vouch_trust, agent_pid) == 72);
// The policy word is replaced with one 8-byte atomic store.
static_assert(offsetof(struct vouch_config, policy) % 8 == 0 && sizeof(vouch_config::policy) == 8);
static_assert(VOUCH_POLICY_GEN_BITS == 40 && VOUCH_POLICY_GEN_MASK == 0xffffffffffULL);
static_assert(VOUCH_POLICY_WORD(VOUCH_MODE_ENFORCE, VOUCH_ACTIVE_B, 3) == 0x30201ULL);
static_assert(VOUCH_ACTIVE_NONE == 0 && VOUCH_ACTIVE_A == 1 && VOUCH_ACTIVE_B == 2);
static_assert(VOUCH_ALLOW_EXEC == 1 && VOUCH_ALLOW_AGENT == 2);
static_assert(sizeof(struct vouch_digest) == VOUCH_DIGEST_SIZE);
static_assert(sizeof(struct vouch_protect_key) == 16);
static_assert(offsetof(struct vouch_protect_key, ino) == 0);
static_assert(offsetof(struct vouch_protect_key, dev) == 8);
static_assert(offsetof(struct vouch_protect_key, kind) == 12);
static_assert(VOUCH_PROTECT_INODE == 1 && VOUCH_PROTECT_MNTNS == 2);
static_assert(VOUCH_PROTECT_DIR == 1 && VOUCH_PROTECT_ANCESTOR == 2 && VOUCH_PROTECT_SB == 8);

static_assert(VOUCH_HOOK_BPRM_CHECK == 1 && VOUCH_HOOK_MMAP_FILE == 2 &&
              VOUCH_HOOK_FILE_MPROTECT == 3 && VOUCH_HOOK_KERNEL_READ_FILE == 4 &&
              VOUCH_HOOK_EXECVE_CHECK == 5);
static_assert(VOUCH_VERDICT_ALLOW == 0 && VOUCH_VERDICT_DENY == 1 && VOUCH_VERDICT_AUDIT_DENY == 2);
static_assert(VOUCH_MODE_AUDIT == 0 && VOUCH_MODE_ENFORCE == 1);

namespace vouch {

const char *hook_name(unsigned hook);
const char *verdict_name(unsigned verdict);
const char *mode_name(unsigned mode);

// The policy word that follows `current` with this mode and active list: the
// next generation, skipping 0 (never stored with a policy) when it wraps.
uint64_t next_policy_word(uint64_t current, unsigned mode, unsigned active);

} // namespace vouch
