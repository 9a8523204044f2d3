// Whole-descriptor reads and writes, retried on EINTR, with errors that name
// what was read or written.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "result.h"

namespace vouch {

Result<void> write_all(int fd, std::string_view data, const std::string &what);
inline Result<void> write_all(int fd, std::span<const uint8_t> data, const std::string &what) {
    return write_all(fd, std::string_view(reinterpret_cast<const char *>(data.data()), data.size()),
                     what);
}

// Everything up to end of file. Refused with EFBIG (naming `what` and the
// limit) as soon as more than `limit` bytes came, so an over-large input is
// never held in memory.
Result<std::string> read_all(int fd, const std::string &what, size_t limit = SIZE_MAX);

} // namespace vouch
