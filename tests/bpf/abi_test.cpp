// The layout of the shared ABI is pinned by static_assert in agent/abi.h; this
// test checks the properties the asserts cannot express.
#include "agent/abi.h"

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

TEST(Abi, NamesAreStable) {
    EXPECT_EQ(std::string(vouch::hook_name(VOUCH_HOOK_BPRM_CHECK)), "bprm_check");
    EXPECT_EQ(std::string(vouch::hook_name(VOUCH_HOOK_MMAP_FILE)), "mmap_file");
    EXPECT_EQ(std::string(vouch::hook_name(99)), "unknown");
    EXPECT_EQ(std::string(vouch::verdict_name(VOUCH_VERDICT_AUDIT_DENY)), "audit-deny");
    EXPECT_EQ(std::string(vouch::mode_name(VOUCH_MODE_ENFORCE)), "enforce");
}

} // namespace
