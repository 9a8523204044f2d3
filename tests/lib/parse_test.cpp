// SPDX-License-Identifier: Apache-2.0
#include "lib/parse.h"

#include <gtest/gtest.h>

namespace {

TEST(ParseUint, TakesOnlyWholeDecimalNumbersInRange) {
    uint64_t v = 99;
    EXPECT_TRUE(vouch::parse_uint("0", 23, &v));
    EXPECT_EQ(v, 0u);
    EXPECT_TRUE(vouch::parse_uint("23", 23, &v));
    EXPECT_EQ(v, 23u);
    EXPECT_TRUE(vouch::parse_uint("18446744073709551615", UINT64_MAX, &v));
    EXPECT_EQ(v, UINT64_MAX);
    v = 7;
    for (const char *bad : {"", "24", "-1", "+1", " 1", "1 ", "1x", "0x10", "18446744073709551616"})
        EXPECT_FALSE(vouch::parse_uint(bad, bad[0] == '1' && bad[1] == '8' ? UINT64_MAX : 23, &v))
            << "'" << bad << "'";
    EXPECT_EQ(v, 7u) << "a refused number leaves the output alone";
}

} // namespace
