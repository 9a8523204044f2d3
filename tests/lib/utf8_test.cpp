// SPDX-License-Identifier: Apache-2.0
#include "lib/utf8.h"

#include <gtest/gtest.h>

namespace {

TEST(Utf8Safe, ValidTextPassesAndEveryOtherByteBecomesBackslashX) {
    for (std::string ok :
         {"", "/usr/bin/true", "caf\xc3\xa9", "\xe2\x82\xac 1", "\xf0\x9f\x94\x91", "a\\xffb"})
        EXPECT_EQ(vouch::utf8_safe(ok), ok);
    EXPECT_EQ(vouch::utf8_safe("caf\xe9"), "caf\\xe9");
    // A truncated sequence, a lone continuation byte, an overlong '/', a
    // surrogate, a value past U+10FFFF, NUL.
    EXPECT_EQ(vouch::utf8_safe("\xe2\x82"), "\\xe2\\x82");
    EXPECT_EQ(vouch::utf8_safe("\x80x"), "\\x80x");
    EXPECT_EQ(vouch::utf8_safe("\xc0\xaf"), "\\xc0\\xaf");
    EXPECT_EQ(vouch::utf8_safe("\xed\xa0\x80"), "\\xed\\xa0\\x80");
    EXPECT_EQ(vouch::utf8_safe("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
    EXPECT_EQ(vouch::utf8_safe(std::string("a\0b", 3)), "a\\x00b");
}

TEST(Printable, ControlCharactersAreEscapedToo) {
    EXPECT_EQ(vouch::printable("/usr/bin/caf\xc3\xa9 x"), "/usr/bin/caf\xc3\xa9 x");
    EXPECT_EQ(vouch::printable("/tmp/a\nb\tc\x01\x1b[1m\x7f"),
              "/tmp/a\\x0ab\\x09c\\x01\\x1b[1m\\x7f");
    // C1 controls (U+0080..U+009F), which some terminals obey; U+00A0 passes.
    EXPECT_EQ(vouch::printable("\xc2\x9b"
                               "2J\xc2\xa0"),
              "\\xc2\\x9b"
              "2J\xc2\xa0");
    EXPECT_EQ(vouch::printable("bad\xff"), "bad\\xff");
    EXPECT_EQ(vouch::utf8_safe("a\nb"), "a\nb") << "utf8_safe leaves them (D-Bus, JSON escape)";
}

} // namespace
