/* SPDX-License-Identifier: Apache-2.0 */
// vouch's measurement log: IMA-format entries kept in memory and in two files
// (binary and ASCII, like securityfs), de-duplicated as IMA does, and
// replayable against PCR values.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "lib/fd.h"
#include "lib/ima_log.h"
#include "lib/result.h"

namespace vouch {

class MeasurementLog {
  public:
    // Opens (or creates) the log files in `dir`. An existing binary log is
    // parsed and continued; so is the ASCII file, which is only appended to
    // (what it lacks of the binary log is added), unless it does not match
    // the binary log: then a new file with the binary log's text replaces
    // it (ascii_rebuilt()).
    static Result<MeasurementLog> open(const std::string &dir, mode_t mode = 0600);

    // Appends unless an entry with the same template hash on the same PCR is
    // already logged (IMA's rule; violations are always appended). Returns
    // whether it was appended. `dedupe` false: appended whatever is logged
    // (vouch's own records: the order of restarts is the information).
    Result<bool> append(const ima::Entry &e, bool dedupe = true);

    const std::vector<ima::Entry> &entries() const { return entries_; }
    bool ascii_rebuilt() const { return ascii_rebuilt_; }
    std::string binary_path() const { return dir_ + "/binary_runtime_measurements"; }
    std::string ascii_path() const { return dir_ + "/ascii_runtime_measurements"; }

  private:
    std::string dir_;
    UniqueFd bin_, ascii_;
    std::vector<ima::Entry> entries_;
    std::set<std::pair<uint32_t, std::array<uint8_t, 20>>> seen_;
    bool ascii_rebuilt_ = false;
};

// The value a PCR bank reaches after extending, from all zeros, the template
// hashes of `entries` for that PCR (SHA-1 bank: "sha1", ...). Entries on other
// PCRs are skipped. `md` is an OpenSSL digest name.
std::vector<uint8_t> replay(const std::vector<ima::Entry> &entries, uint32_t pcr, const char *md,
                            size_t count);

// How many leading entries of `entries` (on `pcr`) reproduce `pcr_value`:
// the log may be ahead of the TPM by extends that were queued but not done.
// Returns -1 when no prefix matches: the log does not belong to this PCR.
// With a `tail`, the prefix followed by the tail's entries (on any PCR) must
// reproduce the value: extends of others that came after the prefix.
long matching_prefix(const std::vector<ima::Entry> &entries, uint32_t pcr, const char *md,
                     const std::vector<uint8_t> &pcr_value,
                     const std::vector<ima::Entry> &tail = {});

// value = md(value || digest): one PCR extend. False when `md` is unknown.
bool pcr_extend(std::vector<uint8_t> &value, const std::vector<uint8_t> &digest, const char *md);

} // namespace vouch

namespace vouch {

// A whole binary log file (vouch's or the kernel's securityfs one), parsed;
// errors name the file.
Result<std::vector<ima::Entry>> read_binary_log(const std::string &path);

// What vouch's log on `pcr` must start with, given the kernel IMA's binary
// log at `kernel_log`: its entries on `pcr` (boot_aggregate and violations)
// when it measured nothing else there (so vouch's log replays from the PCR's
// reset value), nothing when the kernel measured nothing there or has no IMA
// log.
// An error (EEXIST) when the kernel's IMA measures more into `pcr`: two
// writers of one PCR make neither log replayable; unless `continued` (a
// restarted vouchd continues a log whose kernel entries it accounted for:
// the extender places or records the rest). `count`: set to how many
// entries the kernel's log held.
Result<std::vector<ima::Entry>> kernel_ima_seed(const std::string &kernel_log, uint32_t pcr,
                                                bool continued = false, uint64_t *count = nullptr);

} // namespace vouch
