/* SPDX-License-Identifier: Apache-2.0 */
// Extends logged measurements into the TPM from a thread of its own, in log
// order, so that an exec never waits for the TPM. The log is the queue: the
// extender only remembers how far into it the TPM has been extended, and after
// every (re)connect it finds that point again by replaying the log against
// the PCR, so a crash, a retry that may have landed twice, or a restarted
// daemon never extends an entry twice or skips one.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lib/ima_log.h"

namespace vouch {

enum class TpmState {
    Connecting, // not yet tried
    Ok,         // connected, extending
    Missing,    // nothing answers at the TCTI; retried periodically
    Failing,    // the TPM refused or the connection broke; retried
    Mismatch,   // the log does not replay to the PCR: nothing more is extended
    Disabled,   // run without a TPM (--no-tpm)
};

const char *tpm_state_name(TpmState s);

struct ExtenderStatus {
    TpmState state = TpmState::Connecting;
    std::string message; // why, for every state but Ok
    size_t logged = 0;   // entries on the PCR handed to the extender
    size_t extended = 0; // of those, how many the TPM holds
    std::vector<uint16_t> banks;
    size_t pending() const { return logged - extended; }
};

class Extender {
  public:
    // `on_change` runs on the extender's thread after every state change or
    // progress; it must be cheap and thread-safe (e.g. write an eventfd).
    // `log` is what is already logged (a continued log): it is in place
    // before the thread first replays against the PCR, so that replay sees it.
    Extender(std::string tcti, uint32_t pcr, std::function<void()> on_change = {},
             const std::vector<ima::Entry> &log = {});
    ~Extender();
    Extender(const Extender &) = delete;
    Extender &operator=(const Extender &) = delete;

    // Hands over the next log entry (entries on other PCRs are ignored).
    void push(const ima::Entry &e);
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

    const std::string tcti_;
    const uint32_t pcr_;
    std::function<void()> on_change_;
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    std::vector<ima::Entry> entries_;
    ExtenderStatus st_;
    int retry_ms_ = 2000;
    bool stop_ = false;
    bool idle_ = false; // the thread waits for entries (push must wake it)
    std::thread thread_;
};

} // namespace vouch
