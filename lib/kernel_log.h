/* SPDX-License-Identifier: Apache-2.0 */
// The kernel IMA's log followed at run time, and the extends of a PCR that
// come from it rather than from vouch ("foreign" extends of vouch's PCR: the
// kernel's IMA puts its violations into PCR 10 whatever its policy's pcr=).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lib/fd.h"
#include "lib/ima_log.h"
#include "lib/result.h"

namespace vouch {

// Reads the kernel's binary_runtime_measurements through one descriptor kept
// open: securityfs serves it as a seq_file whose position is an entry index,
// so reading again after end of file yields only the entries added since,
// and the whole log is read once. A plain file that is only appended to
// (tests) behaves the same. The kernel's runtime_measurements_count, when
// given, is read first: it is cheap, and the binary log is read only when it
// changed (each read of the binary log walks the kernel's list to the
// position).
class KernelLogFollower {
  public:
    static Result<KernelLogFollower> open(const std::string &binary_path,
                                          const std::string &count_path = "");
    // Entries added since the last call (the whole log on the first), in
    // the kernel's order; a partly written entry waits for the next call.
    Result<std::vector<ima::Entry>> poll();
    // How many entries have been returned so far (the kernel log index of
    // the next one).
    uint64_t seen() const { return seen_; }

  private:
    std::string path_;
    UniqueFd fd_, count_fd_;
    std::vector<uint8_t> partial_;
    uint64_t seen_ = 0;
};

// The kernel's runtime_measurements_count beside its binary log, when there
// is one (empty otherwise: a test's plain file).
std::string kernel_count_path(const std::string &binary_log);

// An extend of vouch's PCR that vouch's log does not hold: a kernel IMA
// entry whose place the PCR fixed but that could not be appended to the log
// (vouch had logged entries after it that were not extended yet).
struct ForeignExtend {
    uint64_t after = 0;        // how many of vouch's entries on the PCR precede it
    uint64_t kernel_index = 0; // its index in the kernel's IMA log (from 0)
    ima::Entry entry;          // as the kernel logged it
};

// The foreign_extends file: one line per extend, "AFTER KERNEL_INDEX HEX",
// HEX being the entry as the binary log encodes it. Append-only.
std::string encode_foreign(const ForeignExtend &f);
Result<std::vector<ForeignExtend>> parse_foreign(std::string_view text);
// The file's records; none when it does not exist.
Result<std::vector<ForeignExtend>> read_foreign(const std::string &path);
// "kernel IMA entry 7 (violation ima-ng /tmp/x) after vouch's entry 12"
std::string describe_foreign(const ForeignExtend &f);

// vouch's entries on the PCR with the foreign extends in their places: what
// the PCR was extended with, in order. Several after the same entry keep
// the kernel's order. `is_foreign`, when given, says which entries of the
// result are foreign.
std::vector<ima::Entry> with_foreign(const std::vector<ima::Entry> &on_pcr,
                                     const std::vector<ForeignExtend> &foreign,
                                     std::vector<bool> *is_foreign = nullptr);

} // namespace vouch
