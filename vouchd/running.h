/* SPDX-License-Identifier: Apache-2.0 */
// What already runs when vouchd starts: the hooks see only execs and
// executable mappings made after they were attached, so a vouchd started
// late (or a kernel side loaded after early boot) measures the executables
// and executable file mappings of the processes that exist, once each.
#pragma once

#include <string>
#include <vector>

#include "lib/fd.h"
#include "lib/result.h"

namespace vouch {

struct RunningFile {
    // As /proc shows it (readlink of exe, the name in maps): the path the
    // kernel's d_path gives, " (deleted)" included for an unlinked file.
    std::string path;
    UniqueFd fd; // the file itself, opened through /proc (works when deleted)
    bool on_fuse = false;
};

// Each distinct file (by device and inode) that a process under `proc` runs
// (exe) or has mapped executable (maps entries with 'x' and a file), opened
// for reading. Processes that exit while they are read, kernel threads and
// files that cannot be opened are skipped: the list is what could be read.
Result<std::vector<RunningFile>> running_files(const std::string &proc = "/proc");

} // namespace vouch
