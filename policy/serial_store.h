/* SPDX-License-Identifier: Apache-2.0 */
// Anti-rollback: the highest policy serial vouchd has accepted, kept on disk.
#pragma once

#include <cstdint>
#include <string>

#include "lib/result.h"

namespace vouch::policy {

class SerialStore {
  public:
    static constexpr const char *kDefaultDir = "/var/lib/vouch";
    static constexpr const char *kFileName = "policy-serial";

    // Reads <state_dir>/policy-serial. A missing file or directory means no
    // policy was ever accepted (highest 0). A file that is present but not a
    // serial is refused (EBADMSG): resetting to 0 would reopen rollback.
    static Result<SerialStore> open(const std::string &state_dir);

    uint64_t highest() const { return highest_; }
    const std::string &path() const { return path_; }
    // ESTALE, naming both serials, if serial < highest(). An equal serial is
    // accepted: vouchd reloads the same policy at every start and SIGHUP.
    Result<void> check(uint64_t serial) const;
    // Raises the stored serial (never lowers it) with an atomic replace; the
    // state directory is created (0700) if missing.
    Result<void> commit(uint64_t serial);

  private:
    std::string dir_;
    std::string path_;
    uint64_t highest_ = 0;
};

} // namespace vouch::policy
