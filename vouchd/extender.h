/* SPDX-License-Identifier: Apache-2.0 */
// Extends logged measurements into the TPM from a thread of its own, in log
// order, so that an exec never waits for the TPM. The log is the queue: the
// extender only remembers how far into it the TPM has been extended, and after
// every (re)connect it finds that point again by replaying the log against
// the PCR, so a crash, a retry that may have landed twice, or a restarted
// daemon never extends an entry twice or skips one.
//
// The kernel's IMA may extend the same PCR at run time (its violations go to
// PCR 10 whatever its policy says). The extender follows the kernel's log
// and, when an entry on its PCR appears, reads the PCR to learn where that
// extend fell among its own: at the end of vouch's log it is appended there
// (through `place`); elsewhere it is recorded as a foreign extend
// (lib/kernel_log.h) and the state says so. README "vouchd: the log and the
// TPM" has the whole design.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "lib/ima_log.h"
#include "lib/kernel_log.h"

namespace vouch {

enum class TpmState {
    Connecting, // not yet tried
    Ok,         // connected, extending
    Missing,    // nothing answers at the TCTI; retried periodically
    Failing,    // the TPM refused or the connection broke; retried
    Mismatch,   // the log does not replay to the PCR: nothing more is extended
    Foreign,    // extending; the PCR also holds extends the log does not (recorded)
    Disabled,   // run without a TPM (--no-tpm)
};

const char *tpm_state_name(TpmState s);

struct ExtenderStatus {
    TpmState state = TpmState::Connecting;
    std::string message; // why, for every state but Ok
    size_t logged = 0;   // entries on the PCR handed to the extender
    size_t extended = 0; // of those, how many the TPM holds
    std::vector<uint16_t> banks;
    std::vector<ForeignExtend> foreign; // the PCR's extends not in the log
    size_t pending() const { return logged - extended; }
};

class Extender;

struct ExtenderOptions {
    // The kernel IMA's binary log and runtime_measurements_count; empty: the
    // kernel is not followed.
    std::string kernel_log, kernel_count;
    // Kernel log entries already accounted for (read before, or by an
    // earlier vouchd): skipped.
    uint64_t kernel_seen = 0;
    // Where the count of kernel log entries accounted for is kept (rewritten
    // after each foreign entry), and where foreign extends are appended.
    std::string seen_file, foreign_file;
    // Foreign extends recorded by an earlier vouchd (foreign_file).
    std::vector<ForeignExtend> foreign;
    // Appends a kernel entry the PCR holds after all `logged` entries to the
    // log, if the log on the PCR still has exactly `logged` entries, and
    // hands it over with Extender::push_extended(); false otherwise. Runs on
    // the extender's thread and must be atomic with the log's other appends.
    std::function<bool(Extender &, const ima::Entry &, size_t logged)> place;
    // How often the kernel's log is looked at while there is nothing to extend.
    int idle_poll_ms = 1000;
};

class Extender {
  public:
    // `on_change` runs on the extender's thread after every state change or
    // progress; it must be cheap and thread-safe (e.g. write an eventfd).
    // `log` is what is already logged (a continued log): it is in place
    // before the thread first replays against the PCR, so that replay sees it.
    Extender(std::string tcti, uint32_t pcr, std::function<void()> on_change = {},
             const std::vector<ima::Entry> &log = {}, ExtenderOptions opts = {});
    ~Extender();
    Extender(const Extender &) = delete;
    Extender &operator=(const Extender &) = delete;

    // Hands over the next log entry (entries on other PCRs are ignored).
    void push(const ima::Entry &e);
    // For ExtenderOptions::place only: hands over an entry the PCR already
    // holds, after every entry handed over so far.
    void push_extended(const ima::Entry &e);
    // Entries on the PCR handed over (for ExtenderOptions::place).
    size_t logged() const;
    ExtenderStatus status() const;
    // Waits until the TPM holds every entry (true), the log turned out not to
    // match the PCR, or the timeout passed (false).
    bool wait_idle(int timeout_ms) const;
    // Waits until the first connection attempt has an outcome: the log was
    // replayed against the PCR (Ok or Mismatch) or the TPM is missing or
    // failing. False on timeout.
    bool wait_checked(int timeout_ms) const;
    // Retry intervals (tests shorten them).
    void set_retry_ms(int ms);

  private:
    void run();
    bool resync(class Tpm &tpm, std::unique_lock<std::mutex> &lk);
    void set_state(TpmState s, std::string msg);
    // Ok, or Foreign when foreign extends were recorded.
    void set_ok();
    // New kernel entries on the PCR; true when there were any (in `out`).
    bool poll_kernel(std::vector<ForeignExtend> &out);
    // The kernel entries `fresh` appeared after `just` (null: none) was
    // extended from `before`: reads the PCR until one order of them matches
    // (the kernel adds an entry to its list before it extends the PCR), then
    // places or records each. False: no order matches (Mismatch).
    bool settle(class Tpm &tpm, std::unique_lock<std::mutex> &lk, std::vector<ForeignExtend> fresh,
                const ima::Entry *just,
                const std::vector<std::pair<uint16_t, std::vector<uint8_t>>> &before);
    // Places (through opts_.place) or records the kernel entries the PCR
    // holds after `after` of vouch's entries.
    void accept(std::unique_lock<std::mutex> &lk, const std::vector<ForeignExtend> &fresh,
                size_t after);
    std::string foreign_message() const;

    const std::string tcti_;
    const uint32_t pcr_;
    std::function<void()> on_change_;
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    std::vector<ima::Entry> entries_;
    ExtenderStatus st_;
    ExtenderOptions opts_;
    std::optional<KernelLogFollower> kernel_;
    // The PCR's value in each bank vouch computes, as far as extended.
    std::vector<std::pair<uint16_t, std::vector<uint8_t>>> model_;
    // Kernel entries on the PCR read but not yet placed (resync takes them).
    std::vector<ForeignExtend> pending_;
    int retry_ms_ = 2000;
    bool stop_ = false;
    bool idle_ = false;     // the thread waits for entries (push must wake it)
    bool settling_ = false; // placing kernel entries (wait_idle waits for it)
    std::thread thread_;
};

} // namespace vouch
