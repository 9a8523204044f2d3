/* SPDX-License-Identifier: Apache-2.0 */
// vouchd's core: the kernel side's events become log entries, log entries
// become TPM extends, all driven by one sd-event loop. Front ends (D-Bus) see
// it through ServiceBackend.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <systemd/sd-event.h>

#include "lib/digest.h"
#include "lib/config.h"
#include "vouchd/extender.h"
#include "vouchd/journal.h"
#include "vouchd/kernel_side.h"
#include "vouchd/nv_serial.h"
#include "lib/kernel_log.h"
#include "lib/measurement_log.h"
#include "policy/policy.h"
#include "lib/sd_bus_ptr.h"
#include "vouchd/service.h"

namespace vouch {

class Daemon : public ServiceBackend {
  public:
    // Loads or reattaches to the kernel side, opens (or continues) the log,
    // logs vouch's start records (lib/vouch_records.h), starts the TPM
    // extender, sets up the event loop and activates the stored policy. SIGTERM, SIGINT and
    // SIGHUP must already be blocked in every thread (the loop takes them as
    // events).
    static Result<std::unique_ptr<Daemon>> create(const DaemonConfig &cfg);
    ~Daemon() override;

    // Runs until SIGTERM or SIGINT, then logs the vouchd-stop record and
    // waits (bounded) for the TPM to take it. Returns what stopped it
    // abnormally.
    Result<void> run();
    // Logs what the kernel side queued and the events it lost, without the
    // loop (the initramfs stage, which exits right after).
    Result<void> drain();
    // After run(): why the stop record is not in the TPM (empty: it is, or
    // there is no TPM).
    const std::string &stop_note() const { return stop_note_; }

    sd_event *event_loop() const { return loop_.get(); }
    // Called after anything a status reader sees may have changed, with
    // every denial, and with every audit-mode finding enforce mode would
    // have denied (all on the loop's thread).
    void on_changed(std::function<void()> f) { changed_ = std::move(f); }
    void on_denied(std::function<void(const Denial &)> f) { denied_ = std::move(f); }
    void on_would_deny(std::function<void(const Denial &)> f) { would_deny_ = std::move(f); }

    // The service manager's STATUS= line: "measuring, enforce mode, policy
    // serial 5, TPM ok". publish_status() sends it when it differs from the
    // last one sent; the daemon calls it itself when mode, serial or TPM
    // state change.
    std::string status_line() const;
    void publish_status();

    ServiceStatus status() const override;
    Result<uint64_t> update_policy(std::string_view envelope) override;
    std::vector<LogRecord> log(uint64_t first, uint32_t count) const override;
    Result<std::vector<uint32_t>> check_digests(const std::vector<Sha256> &digests) const override;
    Result<std::string> active_policy() const override;

    // Loads the policy at start (create() calls it, after the kernel side's
    // queue is drained and before what already runs is logged, so that its
    // vouch-policy record comes first): the newer (by serial) of the configured
    // file and the copy of the last envelope accepted over D-Bus. No policy
    // anywhere: whatever the pinned kernel side holds stays (measure only on
    // a fresh start). Errors leave the active policy as it was.
    Result<void> load_policy_at_start();
    // SIGHUP: the configured file again.
    Result<uint64_t> reload_policy();
    // Verify, parse, check the serial, then swap: on any failure the active
    // policy is unchanged. `persist` keeps the envelope in the state
    // directory, so the policy survives a restart (D-Bus updates). `source`
    // says where it came from in the journal record of its activation.
    // Refusals are journaled by the callers, which know what was refused.
    // serial: set to the policy's serial once it verified (for the record
    // of a refusal).
    Result<uint64_t> apply_policy(std::string_view envelope, bool persist, std::string_view source,
                                  uint64_t *serial = nullptr);
    // The serial check and the swap, for a policy already verified.
    // keyring: keyring_digest() of the trust store that verified it.
    Result<uint64_t> activate_policy(const policy::Policy &pol, std::string_view envelope,
                                     bool persist, const Sha256 &keyring, std::string_view source);
    std::string accepted_policy_path() const { return cfg_.state_dir + "/accepted-policy.dsse"; }

    KernelSide &kernel() { return *ks_; }
    // Why the pins found at start were replaced (empty: they were not).
    const std::string &replaced_pins() const { return replaced_pins_; }
    const DaemonConfig &config() const { return cfg_; }
    // Policy facts shown in status() (the policy code sets them).
    struct PolicyInfo {
        uint64_t serial = 0;
        std::string digest, keyid;
        uint64_t entries = 0;
    };

  private:
    Daemon() = default;
    Result<policy::Policy> verify_policy(std::string_view envelope, Sha256 *keyring) const;
    // The kernel side's trust state against a policy about to be activated:
    // no lower serial, no other content at the same serial, and while a
    // policy enforces, no other set of trusted keys.
    Result<Sha256> rotate_keys(const policy::Policy &pol);
    Result<void> check_trust(const policy::Policy &pol, const Sha256 &envelope_digest,
                             const Sha256 &keyring) const;
    // At start: refuses while another vouchd serves the same kernel side,
    // then records this one as its agent.
    Result<void> claim_kernel_side();
    // Has the kernel side protect keys_dir and state_dir (and their entries)
    // while a policy enforces; prints what it could not protect.
    void protect_files();
    Result<void> setup_loop();
    void handle_event(const vouch_event &ev);
    // Journals a change of the extender's state (log-mismatch included),
    // and sets up the NV serial when the TPM answers after all.
    void check_tpm_state();
    // Sets up the TPM's NV serial (vouchd/nv_serial.h) and raises it to what
    // the disk and the kernel side already hold; `late`: the TPM answered
    // only after the start's policy was loaded.
    void setup_nv(bool late);
    // Reports (Protection, journal) an active policy below the NV serial:
    // activated while the TPM was unavailable.
    void check_nv_ahead();
    void append(ima::Entry e, bool dedupe = true);
    // Logs one of vouch's own records (lib/vouch_records.h), never deduplicated.
    void record(const char *name, std::string_view content);
    // Without a TPM: appends the kernel IMA's new entries on the PCR.
    void follow_kernel();
    // Logs one violation for each event the kernel side lost since the last
    // call, and remembers the count in the log directory across restarts.
    void log_lost_events();
    // Logs the files that running processes execute or have mapped
    // executable (vouchd/running.h); the log's dedupe keeps each once.
    Result<void> measure_running();
    Result<void> save_lost_logged();
    void changed() {
        if (changed_)
            changed_();
    }

    static int on_ringbuf(sd_event_source *, int, uint32_t, void *);
    static int on_signal(sd_event_source *, const signalfd_siginfo *, void *);
    static int on_wake(sd_event_source *, int, uint32_t, void *);
    static int on_timer(sd_event_source *, uint64_t, void *);

    DaemonConfig cfg_;
    std::unique_ptr<KernelSide> ks_;
    std::optional<MeasurementLog> log_;
    // Guards log_ where the extender's thread appends the kernel's entries
    // (ExtenderOptions::place); the loop's thread takes it to append and to
    // read.
    mutable std::mutex log_mu_;
    std::optional<KernelLogFollower> kernel_; // without a TPM only
    uint64_t kernel_seen_ = 0;
    std::unique_ptr<Extender> extender_;
    SdEvent loop_;
    std::vector<SdEventSource> sources_;
    UniqueFd wake_; // eventfd: the extender's thread wakes the loop through it
    uint64_t lost_logged_ = 0;
    Error fatal_;
    bool failed_ = false;
    PolicyInfo policy_;
    // Where the active policy's envelope is kept (the deployed file, or the
    // copy of a D-Bus update) and its SHA-256, for active_policy().
    std::string policy_file_;
    Sha256 policy_envelope_{};
    vouch_digest self_digest_{};
    std::vector<std::string> hooks_; // the LSM hooks attached, for status()
    std::function<void()> changed_;
    std::function<void(const Denial &)> denied_;
    std::function<void(const Denial &)> would_deny_;
    Journal journal_;
    TpmState tpm_seen_ = TpmState::Connecting;
    NvSerial nv_;
    std::string nv_ahead_;     // why the active policy is below the NV serial
    std::string nv_journaled_; // the last NV failure journaled
    unsigned nv_ticks_ = 0;
    size_t foreign_seen_ = 0;
    std::string status_sent_;
    std::string replaced_pins_;
    std::string stop_note_;
};

} // namespace vouch
