/* SPDX-License-Identifier: Apache-2.0 */
// The names vouch's kernel side is pinned under in bpffs. vouchd pins and
// reattaches (vouchd/kernel_side.cpp); vouchctl unpin and the package's
// removal scripts only need the names, so this needs no BPF skeleton.
#pragma once

#include <cstdint>
#include <string>

#include "bpf/vouch_abi.h"
#include "lib/result.h"

namespace vouch {

inline constexpr const char *kDefaultPinDir = "/sys/fs/bpf/vouch";

// One per pinned map; a rename here is an incompatible change. value_size 0:
// not checked at reattach (the ring buffer has none).
struct PinnedMap {
    const char *name;
    uint32_t value_size;
};
inline constexpr PinnedMap kPinnedMaps[] = {
    {"events", 0},
    {"vouch_config", sizeof(vouch_config)},
    {"vouch_stats", sizeof(vouch_stats)},
    {"allow_a", sizeof(uint32_t)},
    {"allow_b", sizeof(uint32_t)},
};

// vouchd's trust state (struct vouch_trust). Pins made before it existed lack
// it: a reattach then goes on without it, and says so.
inline constexpr PinnedMap kTrustPin = {"vouch_trust", sizeof(vouch_trust)};

// vouch's own directories (struct vouch_protect_key -> flags). Pins made
// before file protection lack it: a reattach goes on without it, and
// KernelSide::protection() reports the protection as not supported.
inline constexpr PinnedMap kProtectPin = {"vouch_protect", sizeof(uint32_t)};

// Each program's link is pinned as this prefix + the program's name.
inline constexpr const char *kLinkPinPrefix = "link_";

// Removes every map and link pin under dir, then dir. Once nothing else holds
// them (vouchd stopped), the hooks detach. In enforce mode the kernel side
// refuses this to anyone but the agent (EPERM). A missing dir is not an error.
Result<void> unpin(const std::string &dir);

} // namespace vouch
