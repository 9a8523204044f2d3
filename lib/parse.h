/* SPDX-License-Identifier: Apache-2.0 */
// Numbers from the command line and config files: the whole text must be a
// decimal number within range, or it is refused (strtoul alone takes "",
// "12abc", "-1" and values past the range).
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace vouch {

inline bool parse_uint(const std::string &s, uint64_t max, uint64_t *out) {
    if (s.empty() || s[0] < '0' || s[0] > '9')
        return false;
    char *end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

} // namespace vouch
