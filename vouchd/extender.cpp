// SPDX-License-Identifier: Apache-2.0
#include "vouchd/extender.h"

#include <chrono>

#include "lib/measurement_log.h"
#include "lib/tpm.h"

namespace vouch {

const char *tpm_state_name(TpmState s) {
    switch (s) {
    case TpmState::Connecting:
        return "connecting";
    case TpmState::Ok:
        return "ok";
    case TpmState::Missing:
        return "missing";
    case TpmState::Failing:
        return "failing";
    case TpmState::Mismatch:
        return "log-mismatch";
    case TpmState::Disabled:
        return "disabled";
    }
    return "unknown";
}

Extender::Extender(std::string tcti, uint32_t pcr, std::function<void()> on_change,
                   const std::vector<ima::Entry> &log)
    : tcti_(std::move(tcti)), pcr_(pcr), on_change_(std::move(on_change)) {
    for (const auto &e : log)
        if (e.pcr == pcr_)
            entries_.push_back(e);
    st_.logged = entries_.size();
    thread_ = std::thread([this] { run(); });
}

Extender::~Extender() {
    {
        std::lock_guard lk(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void Extender::push(const ima::Entry &e) {
    if (e.pcr != pcr_)
        return;
    bool wake;
    {
        std::lock_guard lk(mu_);
        entries_.push_back(e);
        st_.logged = entries_.size();
        // Only a thread idle for want of entries needs waking: a busy one
        // sees the new entry when it takes the next, and the wake-up is a
        // syscall on the event loop's path.
        wake = idle_;
    }
    if (wake)
        cv_.notify_all();
}

ExtenderStatus Extender::status() const {
    std::lock_guard lk(mu_);
    return st_;
}

bool Extender::wait_idle(int timeout_ms) const {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, std::chrono::milliseconds(timeout_ms), [&] {
        return st_.state == TpmState::Mismatch ||
               (st_.state == TpmState::Ok && st_.extended == entries_.size());
    });
    return st_.state == TpmState::Ok && st_.extended == entries_.size();
}

bool Extender::wait_checked(int timeout_ms) const {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, std::chrono::milliseconds(timeout_ms),
                        [&] { return st_.state != TpmState::Connecting; });
}

void Extender::set_retry_ms(int ms) {
    std::lock_guard lk(mu_);
    retry_ms_ = ms;
}

void Extender::set_state(TpmState s, std::string msg) {
    st_.state = s;
    st_.message = std::move(msg);
}

// Finds how much of the log the TPM already holds: the same prefix must
// reproduce the PCR in every bank vouch can compute.
bool Extender::resync(Tpm &tpm, std::unique_lock<std::mutex> &lk) {
    std::vector<ima::Entry> snapshot = entries_;
    lk.unlock();
    auto banks = tpm.allocated_banks(pcr_);
    long prefix = -2;
    std::string why;
    if (banks) {
        for (uint16_t b : *banks) {
            if (!bank_md_name(b))
                continue;
            auto value = tpm.read_pcr(pcr_, b);
            if (!value) {
                why = value.error().message;
                prefix = -3;
                break;
            }
            long p = matching_prefix(snapshot, pcr_, bank_md_name(b), *value);
            if (p < 0 || (prefix != -2 && p != prefix)) {
                why = "the log (" + std::to_string(snapshot.size()) +
                      " entries) does not replay to PCR " + std::to_string(pcr_) + " in the " +
                      bank_name(b) +
                      " bank: the PCR was extended by something else or reset; nothing more is "
                      "extended, to keep the log verifiable up to here";
                prefix = -1;
                break;
            }
            prefix = p;
        }
        if (prefix == -2) {
            prefix = -3;
            why = "PCR " + std::to_string(pcr_) + " is allocated in no bank vouch can compute";
        }
    } else {
        why = banks.error().message;
        prefix = -3;
    }
    lk.lock();
    if (banks)
        st_.banks = *banks;
    if (prefix == -1) {
        set_state(TpmState::Mismatch, why);
        return false;
    }
    if (prefix < 0) {
        set_state(TpmState::Failing, why);
        return false;
    }
    st_.extended = static_cast<size_t>(prefix);
    set_state(TpmState::Ok, "");
    return true;
}

void Extender::run() {
    std::unique_ptr<Tpm> tpm;
    bool synced = false;
    std::unique_lock lk(mu_);
    auto notify = [&] {
        lk.unlock();
        cv_.notify_all();
        if (on_change_)
            on_change_();
        lk.lock();
    };
    auto pause = [&] {
        cv_.wait_for(lk, std::chrono::milliseconds(retry_ms_), [&] { return stop_; });
    };
    while (!stop_) {
        if (st_.state == TpmState::Mismatch) {
            cv_.wait(lk, [&] { return stop_; });
            break;
        }
        if (!tpm) {
            lk.unlock();
            auto t = Tpm::open(tcti_);
            lk.lock();
            if (!t) {
                set_state(TpmState::Missing, t.error().message);
                notify();
                pause();
                continue;
            }
            tpm = std::move(*t);
            synced = false;
        }
        if (!synced) {
            synced = resync(*tpm, lk);
            notify();
            if (!synced) {
                if (st_.state != TpmState::Mismatch)
                    pause();
                continue;
            }
        }
        if (st_.extended >= entries_.size()) {
            idle_ = true;
            cv_.wait(lk, [&] { return stop_ || st_.extended < entries_.size(); });
            idle_ = false;
            continue;
        }
        ima::Entry e = entries_[st_.extended];
        std::vector<uint16_t> banks = st_.banks;
        lk.unlock();
        std::vector<BankDigest> digests;
        for (uint16_t b : banks)
            if (bank_md_name(b))
                digests.emplace_back(b, ima::bank_template_hash(e, bank_md_name(b)));
        auto r = tpm->extend(pcr_, digests);
        lk.lock();
        if (r) {
            ++st_.extended;
            if (st_.state != TpmState::Ok)
                set_state(TpmState::Ok, "");
            notify();
            continue;
        }
        set_state(TpmState::Failing, r.error().message);
        // Whether the failed extend reached the TPM is unknown: find out by
        // replaying before the next one.
        synced = false;
        notify();
        pause();
    }
}

} // namespace vouch
