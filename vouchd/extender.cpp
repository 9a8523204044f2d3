// SPDX-License-Identifier: Apache-2.0
#include "vouchd/extender.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "lib/file_io.h"
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
    case TpmState::Foreign:
        return "foreign-extends";
    case TpmState::Disabled:
        return "disabled";
    }
    return "unknown";
}

Extender::Extender(std::string tcti, uint32_t pcr, std::function<void()> on_change,
                   const std::vector<ima::Entry> &log, ExtenderOptions opts)
    : tcti_(std::move(tcti)), pcr_(pcr), on_change_(std::move(on_change)), opts_(std::move(opts)) {
    for (const auto &e : log)
        if (e.pcr == pcr_)
            entries_.push_back(e);
    st_.logged = entries_.size();
    st_.foreign = opts_.foreign;
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

void Extender::push_extended(const ima::Entry &e) {
    std::lock_guard lk(mu_);
    entries_.push_back(e);
    st_.logged = entries_.size();
    st_.extended = entries_.size();
}

size_t Extender::logged() const {
    std::lock_guard lk(mu_);
    return entries_.size();
}

ExtenderStatus Extender::status() const {
    std::lock_guard lk(mu_);
    return st_;
}

bool Extender::wait_idle(int timeout_ms) const {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, std::chrono::milliseconds(timeout_ms), [&] {
        return st_.state == TpmState::Mismatch ||
               ((st_.state == TpmState::Ok || st_.state == TpmState::Foreign) &&
                st_.extended == entries_.size() && !settling_);
    });
    return (st_.state == TpmState::Ok || st_.state == TpmState::Foreign) &&
           st_.extended == entries_.size() && !settling_;
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

void Extender::set_ok() {
    if (st_.foreign.empty())
        set_state(TpmState::Ok, "");
    else
        set_state(TpmState::Foreign, foreign_message());
}

std::string Extender::foreign_message() const {
    std::string m = "PCR " + std::to_string(pcr_) + " holds " + std::to_string(st_.foreign.size()) +
                    " extend" + (st_.foreign.size() == 1 ? "" : "s") +
                    " of the kernel's IMA that vouch's log cannot hold in place (recorded in " +
                    (opts_.foreign_file.empty() ? std::string("memory") : opts_.foreign_file) +
                    "; 'vouchctl log verify' replays with them): ";
    for (size_t i = 0; i < st_.foreign.size(); ++i)
        m += (i ? "; " : "") + describe_foreign(st_.foreign[i]);
    return m;
}

bool Extender::poll_kernel(std::vector<ForeignExtend> &out) {
    if (!kernel_)
        return false;
    auto fresh = kernel_->poll();
    if (!fresh)
        return false; // the kernel's log is read again on the next poll
    uint64_t index = kernel_->seen() - fresh->size();
    bool any = false;
    for (auto &e : *fresh) {
        if (e.pcr == pcr_) {
            out.push_back({0, index, std::move(e)});
            any = true;
        }
        ++index;
    }
    return any;
}

void Extender::accept(std::unique_lock<std::mutex> &lk, const std::vector<ForeignExtend> &fresh,
                      size_t after) {
    for (const auto &f : fresh) {
        // Its place is the end of the log: append it there (when the log
        // has not grown meanwhile).
        if (after == entries_.size() && st_.extended == entries_.size() && opts_.place) {
            lk.unlock();
            bool placed = opts_.place(*this, f.entry, after);
            lk.lock();
            if (placed) {
                // The next one follows it, whatever the log holds since.
                ++after;
                continue;
            }
        }
        ForeignExtend rec = f;
        rec.after = after;
        st_.foreign.push_back(rec);
        if (!opts_.foreign_file.empty()) {
            UniqueFd fd(::open(opts_.foreign_file.c_str(),
                               O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
            if (fd)
                (void)write_all(fd.get(), encode_foreign(rec), opts_.foreign_file);
        }
    }
    if (kernel_ && !opts_.seen_file.empty())
        (void)write_file_atomic(opts_.seen_file, std::to_string(kernel_->seen()) + "\n", 0600);
}

namespace {

using BankValues = std::vector<std::pair<uint16_t, std::vector<uint8_t>>>;

Result<BankValues> read_banks(Tpm &tpm, uint32_t pcr, const std::vector<uint16_t> &banks) {
    BankValues out;
    for (uint16_t b : banks) {
        if (!bank_md_name(b))
            continue;
        auto v = tpm.read_pcr(pcr, b);
        if (!v)
            return v.error();
        out.emplace_back(b, std::move(*v));
    }
    return out;
}

} // namespace

bool Extender::settle(Tpm &tpm, std::unique_lock<std::mutex> &lk, std::vector<ForeignExtend> fresh,
                      const ima::Entry *just, const BankValues &before) {
    std::vector<uint16_t> banks = st_.banks;
    // Not idle until the kernel's entries are placed or recorded, though
    // every logged entry is extended.
    settling_ = true;
    lk.unlock();
    long split = -1;
    BankValues now;
    std::string why;
    // The kernel adds an entry to its log before it extends the PCR: what
    // the PCR shows may lag what the log shows for a moment.
    for (int attempt = 0; attempt < 100 && split < 0; ++attempt) {
        if (attempt) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            (void)poll_kernel(fresh);
        }
        auto v = read_banks(tpm, pcr_, banks);
        if (!v) {
            why = v.error().message;
            break;
        }
        now = std::move(*v);
        size_t n = fresh.size();
        for (size_t i = just ? 0 : n; i <= n && split < 0; ++i) {
            bool all = true;
            for (size_t b = 0; b < before.size() && all; ++b) {
                const char *md = bank_md_name(before[b].first);
                std::vector<uint8_t> value = before[b].second;
                for (size_t j = 0; j < n; ++j) {
                    if (just && j == i)
                        pcr_extend(value, ima::bank_template_hash(*just, md), md);
                    pcr_extend(value, ima::bank_template_hash(fresh[j].entry, md), md);
                }
                if (just && i == n)
                    pcr_extend(value, ima::bank_template_hash(*just, md), md);
                all = value == now[b].second;
            }
            if (all)
                split = static_cast<long>(i);
        }
    }
    lk.lock();
    settling_ = false;
    if (split < 0) {
        if (!why.empty()) {
            // Reconnect and replay, and look at these entries again then.
            pending_ = std::move(fresh);
            set_state(TpmState::Failing, why);
            return false;
        }
        std::string names;
        for (const auto &f : fresh)
            names += (names.empty() ? "" : "; ") + describe_foreign(f);
        set_state(TpmState::Mismatch,
                  "the kernel's IMA extended PCR " + std::to_string(pcr_) + " (" + names +
                      "), but no order of its entries and vouch's replays to the PCR: something "
                      "else extended it too; nothing more is extended, to keep the log "
                      "verifiable up to here");
        return false;
    }
    model_ = now;
    // Without an entry just extended, all of them came after `before`.
    size_t at = just ? static_cast<size_t>(split) : 0;
    // Before the entry just extended: that one is in the log already.
    std::vector<ForeignExtend> early(fresh.begin(), fresh.begin() + static_cast<long>(at));
    std::vector<ForeignExtend> late(fresh.begin() + static_cast<long>(at), fresh.end());
    settling_ = true;
    if (!early.empty())
        accept(lk, early, st_.extended - 1);
    accept(lk, late, st_.extended);
    settling_ = false;
    set_ok();
    return true;
}

// Finds how much of the log the TPM already holds: the same prefix must
// reproduce the PCR in every bank vouch can compute. Foreign extends
// recorded earlier are replayed in their places, and kernel entries not yet
// looked at (added while no vouchd ran, or while the TPM was away) after the
// prefix: the prefix then says where they fell.
bool Extender::resync(Tpm &tpm, std::unique_lock<std::mutex> &lk) {
    std::vector<bool> is_foreign;
    std::vector<ima::Entry> snapshot = with_foreign(entries_, st_.foreign, &is_foreign);
    std::vector<ForeignExtend> fresh = std::move(pending_);
    pending_.clear();
    lk.unlock();
    (void)poll_kernel(fresh);
    // A vouchd that stopped between appending kernel entries to the log and
    // counting them in seen_file finds them again: they end the log already.
    for (size_t k = std::min(fresh.size(), snapshot.size()); k > 0; --k) {
        bool same = true;
        for (size_t i = 0; i < k && same; ++i) {
            const ima::Entry &a = fresh[i].entry, &b = snapshot[snapshot.size() - k + i];
            same = a.template_sha1 == b.template_sha1 && a.template_data == b.template_data &&
                   a.template_name == b.template_name;
        }
        if (same) {
            fresh.erase(fresh.begin(), fresh.begin() + static_cast<long>(k));
            break;
        }
    }
    std::vector<ima::Entry> tail;
    for (const auto &f : fresh)
        tail.push_back(f.entry);
    auto banks = tpm.allocated_banks(pcr_);
    long prefix = -2;
    std::string why;
    BankValues values;
    if (banks) {
        for (int attempt = 0; attempt < (tail.empty() ? 1 : 50); ++attempt) {
            if (attempt)
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            prefix = -2;
            values.clear();
            for (uint16_t b : *banks) {
                if (!bank_md_name(b))
                    continue;
                auto value = tpm.read_pcr(pcr_, b);
                if (!value) {
                    why = value.error().message;
                    prefix = -3;
                    break;
                }
                long p = matching_prefix(snapshot, pcr_, bank_md_name(b), *value, tail);
                values.emplace_back(b, *value);
                if (p < 0 || (prefix != -2 && p != prefix)) {
                    why = "the log (" + std::to_string(snapshot.size()) +
                          " entries) does not replay to PCR " + std::to_string(pcr_) + " in the " +
                          bank_name(b) + " bank" +
                          (tail.empty() ? ""
                                        : " with the kernel IMA's " + std::to_string(tail.size()) +
                                              " new entries on it after any prefix") +
                          ": the PCR was extended by something else or reset; nothing more is "
                          "extended, to keep the log verifiable up to here";
                    prefix = -1;
                    break;
                }
                prefix = p;
            }
            if (prefix != -1)
                break;
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
        pending_ = std::move(fresh);
        set_state(TpmState::Failing, why);
        return false;
    }
    size_t ours = 0;
    for (long i = 0; i < prefix; ++i)
        if (!is_foreign[static_cast<size_t>(i)])
            ++ours;
    st_.extended = ours;
    model_ = values;
    set_ok();
    if (!fresh.empty()) {
        settling_ = true;
        accept(lk, fresh, ours);
        settling_ = false;
        set_ok();
    }
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
    if (!opts_.kernel_log.empty()) {
        // No kernel log (no IMA, no securityfs): nothing to follow.
        if (auto k = KernelLogFollower::open(opts_.kernel_log, opts_.kernel_count)) {
            kernel_.emplace(std::move(*k));
            std::vector<ForeignExtend> all;
            (void)poll_kernel(all);
            for (auto &f : all)
                if (f.kernel_index >= opts_.kernel_seen)
                    pending_.push_back(std::move(f));
        }
    }
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
            bool woken = true;
            if (kernel_)
                woken = cv_.wait_for(lk, std::chrono::milliseconds(opts_.idle_poll_ms),
                                     [&] { return stop_ || st_.extended < entries_.size(); });
            else
                cv_.wait(lk, [&] { return stop_ || st_.extended < entries_.size(); });
            idle_ = false;
            std::vector<ForeignExtend> fresh;
            if (!woken && poll_kernel(fresh)) {
                if (!settle(*tpm, lk, std::move(fresh), nullptr, model_) &&
                    st_.state == TpmState::Failing)
                    synced = false;
                notify();
            }
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
            BankValues before = model_;
            for (auto &[bank, value] : model_)
                pcr_extend(value, ima::bank_template_hash(e, bank_md_name(bank)),
                           bank_md_name(bank));
            ++st_.extended;
            std::vector<ForeignExtend> fresh;
            if (poll_kernel(fresh)) {
                if (!settle(*tpm, lk, std::move(fresh), &e, before) &&
                    st_.state == TpmState::Failing)
                    synced = false;
            } else if (st_.state != TpmState::Ok && st_.state != TpmState::Foreign) {
                set_ok();
            }
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
