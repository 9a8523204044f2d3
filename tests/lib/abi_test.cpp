// SPDX-License-Identifier: Apache-2.0
// The layout of the shared ABI is pinned by static_assert in lib/abi.h; this
// test checks the properties the asserts cannot express.
#include "lib/abi.h"

#include <gtest/gtest.h>

#include <string>
#include <type_traits>

namespace {

TEST(Abi, StructsAreTriviallyCopyableAndPadded) {
    EXPECT_TRUE(std::is_trivially_copyable_v<vouch_event>);
    EXPECT_TRUE(std::has_unique_object_representations_v<vouch_event>)
        << "vouch_event has implicit padding";
    EXPECT_TRUE(std::has_unique_object_representations_v<vouch_stats>);
    EXPECT_TRUE(std::has_unique_object_representations_v<vouch_config>);
    EXPECT_EQ(sizeof(vouch_event) % 8, 0u);
}

TEST(Abi, PolicyWordFields) {
    uint64_t w = VOUCH_POLICY_WORD(VOUCH_MODE_ENFORCE, VOUCH_ACTIVE_B, 0x123456789aULL);
    EXPECT_EQ(VOUCH_POLICY_MODE(w), unsigned(VOUCH_MODE_ENFORCE));
    EXPECT_EQ(VOUCH_POLICY_ACTIVE(w), unsigned(VOUCH_ACTIVE_B));
    EXPECT_EQ(VOUCH_POLICY_GEN(w), 0x123456789aULL);
    EXPECT_EQ(w >> 56, 0u) << "bits 56-63 are reserved";
    // A generation wider than its field does not spill into other fields.
    w = VOUCH_POLICY_WORD(VOUCH_MODE_AUDIT, VOUCH_ACTIVE_A, ~0ULL);
    EXPECT_EQ(VOUCH_POLICY_MODE(w), unsigned(VOUCH_MODE_AUDIT));
    EXPECT_EQ(VOUCH_POLICY_ACTIVE(w), unsigned(VOUCH_ACTIVE_A));
    EXPECT_EQ(w >> 56, 0u);
}

TEST(Abi, EveryPolicyStoreHasANewGeneration) {
    uint64_t w = 0; // a freshly created vouch_config
    w = vouch::next_policy_word(w, VOUCH_MODE_AUDIT, VOUCH_ACTIVE_A);
    EXPECT_EQ(VOUCH_POLICY_GEN(w), 1u);
    // Same mode and list again (a reload of the same policy) is still new.
    uint64_t again = vouch::next_policy_word(w, VOUCH_MODE_AUDIT, VOUCH_ACTIVE_A);
    EXPECT_NE(again, w);
    EXPECT_EQ(VOUCH_POLICY_GEN(again), 2u);
    // Clearing the policy is a store too.
    uint64_t cleared = vouch::next_policy_word(again, VOUCH_MODE_AUDIT, VOUCH_ACTIVE_NONE);
    EXPECT_EQ(VOUCH_POLICY_GEN(cleared), 3u);
    EXPECT_EQ(VOUCH_POLICY_ACTIVE(cleared), unsigned(VOUCH_ACTIVE_NONE));
    // The count wraps past 0, which stands for "never stored".
    uint64_t last = VOUCH_POLICY_WORD(VOUCH_MODE_ENFORCE, VOUCH_ACTIVE_B, VOUCH_POLICY_GEN_MASK);
    uint64_t wrapped = vouch::next_policy_word(last, VOUCH_MODE_ENFORCE, VOUCH_ACTIVE_A);
    EXPECT_EQ(VOUCH_POLICY_GEN(wrapped), 1u);
    EXPECT_EQ(VOUCH_POLICY_MODE(wrapped), unsigned(VOUCH_MODE_ENFORCE));
    EXPECT_EQ(VOUCH_POLICY_ACTIVE(wrapped), unsigned(VOUCH_ACTIVE_A));
}

TEST(Abi, NamesAreStable) {
    EXPECT_EQ(std::string(vouch::hook_name(VOUCH_HOOK_BPRM_CHECK)), "bprm_check");
    EXPECT_EQ(std::string(vouch::hook_name(VOUCH_HOOK_MMAP_FILE)), "mmap_file");
    EXPECT_EQ(std::string(vouch::hook_name(99)), "unknown");
    EXPECT_EQ(std::string(vouch::verdict_name(VOUCH_VERDICT_AUDIT_DENY)), "audit-deny");
    EXPECT_EQ(std::string(vouch::mode_name(VOUCH_MODE_ENFORCE)), "enforce");
}

} // namespace
