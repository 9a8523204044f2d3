/* SPDX-License-Identifier: Apache-2.0 */
// Building a policy from files: what `vouchctl policy make` hashes and how.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lib/digest.h"
#include "lib/result.h"

namespace vouch::policy {

struct Collected {
    std::vector<std::string> files;  // canonical paths of regular files, sorted, unique
    std::vector<std::string> errors; // what could not be listed, one message each
};

// Regular files under each root: a file is taken as is (symlinks resolved), a
// directory recursively without following the symlinks inside it (a link's
// target is hashed where it lives, if it is under a root). Every path is
// canonical, since that is the path IMA and Keylime record.
Collected collect_files(const std::vector<std::string> &roots);

// Every path in <dpkg_info>/*.list (dpkg's record of the files each installed
// package owns), resolved (merged-/usr: /bin/ls is /usr/bin/ls), kept if it is
// a regular file.
Result<Collected> collect_dpkg_files(const std::string &dpkg_info = "/var/lib/dpkg/info");

struct Hashed {
    std::string path;
    Result<Sha256> digest;
    std::optional<Sha256> verity; // its fs-verity digest, if it has fs-verity (SHA-256)
};

struct Progress {
    size_t files_done, files_total;
    uint64_t bytes_done;
};

// SHA-256 of every file on `threads` threads (0: one per core), results in the
// order of `files`. `progress` is called from the calling thread about every
// `interval_ms` while hashing runs.
std::vector<Hashed> hash_files(const std::vector<std::string> &files, unsigned threads = 0,
                               const std::function<void(const Progress &)> &progress = {},
                               unsigned interval_ms = 1000);

} // namespace vouch::policy
