/* SPDX-License-Identifier: Apache-2.0 */
// Building a policy from files: what `vouchctl policy make` hashes and how.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lib/digest.h"
#include "lib/result.h"

namespace vouch::policy {

// A file as dpkg recorded it: the package that owns it, the path in its
// *.list, and the MD5 of its *.md5sums ("" when the package recorded none, as
// for conffiles, whose edits are the admin's to make).
struct DpkgFile {
    std::string package;
    std::string listed;
    std::string md5;
};

struct Collected {
    std::vector<std::string> files;  // canonical paths of regular files, sorted, unique
    std::vector<std::string> errors; // what could not be listed, one message each
    // collect_dpkg_files(): who owns each of `files` (several packages may
    // list one path, e.g. a directory symlink farm or a diversion).
    std::map<std::string, std::vector<DpkgFile>> dpkg;
};

// Regular files under each root: a file is taken as is (symlinks resolved), a
// directory recursively without following the symlinks inside it (a link's
// target is hashed where it lives, if it is under a root). Every path is
// canonical, since that is the path IMA and Keylime record.
Collected collect_files(const std::vector<std::string> &roots);

// Every path in <admin>/info/*.list (dpkg's record of the files each installed
// package owns), resolved (merged-/usr: /bin/ls is /usr/bin/ls), kept if it is
// a regular file, with the MD5 from <admin>/info/*.md5sums. A path another
// package diverted (<admin>/diversions) is looked up where the diversion put
// it, as `dpkg --verify` does.
Result<Collected> collect_dpkg_files(const std::string &admin = "/var/lib/dpkg");

// The dpkg-owned files whose content is not what their package installed:
// "PACKAGE: PATH (MD5 expected X, found Y)", one per file, for the hashed
// results of collect_dpkg_files()'s files.
struct Hashed;
std::vector<std::string> dpkg_modified(const Collected &c, const std::vector<Hashed> &hashed);

struct Hashed {
    std::string path;
    Result<Sha256> digest;
    std::optional<Sha256> verity; // its fs-verity digest, if it has fs-verity (SHA-256)
    std::optional<Md5> md5;       // with hash_files(..., md5 = true)
};

struct Progress {
    size_t files_done, files_total;
    uint64_t bytes_done;
};

// work(i) for every i in [0, n) on `threads` threads (0: one per core); from
// the calling thread, tick(done) about every `interval_ms` while work runs
// (no tick without a function).
void parallel_for(size_t n, unsigned threads, const std::function<void(size_t)> &work,
                  const std::function<void(size_t done)> &tick = {}, unsigned interval_ms = 1000);

// SHA-256 of every file on `threads` threads (0: one per core), results in the
// order of `files`. `progress` is called from the calling thread about every
// `interval_ms` while hashing runs.
std::vector<Hashed> hash_files(const std::vector<std::string> &files, unsigned threads = 0,
                               const std::function<void(const Progress &)> &progress = {},
                               unsigned interval_ms = 1000, bool md5 = false);

} // namespace vouch::policy
