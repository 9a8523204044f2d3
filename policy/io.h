// Small file helpers shared by the policy library and vouchctl.
#pragma once

#include <string>

#include "result.h"

namespace vouch::policy {

// The whole file, refused with EFBIG (naming the path and the limit) as soon as
// it grows past limit bytes, so an over-large file is never held in memory.
Result<std::string> read_file(const std::string &path, size_t limit);

// tmp file beside path, write, fsync, rename over path, fsync the directory: a
// crash leaves either the old or the new content, never a mix.
Result<void> write_file_atomic(const std::string &path, std::string_view data, unsigned mode);

} // namespace vouch::policy
