/* SPDX-License-Identifier: Apache-2.0 */
// File I/O for every part of vouch: whole-descriptor reads and writes retried
// on EINTR, whole files with a size limit, atomic replacement. Errors name
// what was read or written.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "lib/result.h"

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

// The whole file, refused with EFBIG (naming the path and the limit) as soon as
// it grows past limit bytes, so an over-large file is never held in memory.
Result<std::string> read_file(const std::string &path, size_t limit);

// tmp file beside path, write, fsync, rename over path, fsync the directory: a
// crash leaves either the old or the new content, never a mix.
Result<void> write_file_atomic(const std::string &path, std::string_view data, unsigned mode);

} // namespace vouch
