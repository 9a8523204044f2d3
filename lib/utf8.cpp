// SPDX-License-Identifier: Apache-2.0
#include "lib/utf8.h"

#include <cstdint>
#include <cstdio>

namespace vouch {

namespace {

// The length of the valid UTF-8 sequence at s[i], or 0.
size_t utf8_seq(std::string_view s, size_t i) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
    unsigned c = b(0);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (i + n > s.size())
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((b(k) & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (b(k) & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid.
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

bool is_control(std::string_view s, size_t i, size_t n) {
    auto c = static_cast<unsigned char>(s[i]);
    if (n == 1)
        return c < 0x20 || c == 0x7f;
    // U+0080..U+009F: C1 controls (0x9b is a CSI to some terminals).
    return n == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0;
}

std::string escape(std::string_view s, bool controls) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        size_t n = s[i] != '\0' ? utf8_seq(s, i) : 0;
        if (n && controls && is_control(s, i, n))
            n = 0;
        if (n) {
            out.append(s.substr(i, n));
            i += n;
        } else {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned char>(s[i]));
            out += buf;
            i++;
        }
    }
    return out;
}

} // namespace

std::string utf8_safe(std::string_view s) {
    return escape(s, false);
}

std::string printable(std::string_view s) {
    return escape(s, true);
}

} // namespace vouch
