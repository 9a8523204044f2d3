// SPDX-License-Identifier: Apache-2.0
#include "vouchd/journal.h"

#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <systemd/sd-journal.h>

#include "lib/digest.h"
#include "lib/journal_fields.h"
#include "lib/utf8.h"

namespace vouch {

std::vector<std::string> JournalRecord::entries() const {
    std::vector<std::string> out;
    out.reserve(3 + fields.size());
    out.push_back(std::string("MESSAGE_ID=") + id);
    out.push_back("PRIORITY=" + std::to_string(priority));
    out.push_back("MESSAGE=" + message);
    for (const auto &[k, v] : fields)
        out.push_back(k + "=" + v);
    return out;
}

namespace journal_record {

namespace {

// What the hook was asked to do, for MESSAGE.
std::string action(std::string_view hook) {
    if (hook == "bprm_check")
        return "exec";
    if (hook == "mmap_file")
        return "executable mapping";
    if (hook == "file_mprotect")
        return "mprotect(PROT_EXEC)";
    if (hook == "kernel_read_file")
        return "kernel read";
    if (hook == "execve_check")
        return "execve check (AT_EXECVE_CHECK)";
    return std::string(hook);
}

} // namespace

JournalRecord denial(const Denial &d, bool enforce, uint64_t serial, std::string_view why) {
    JournalRecord r;
    r.id = enforce ? journal::kDenied : journal::kWouldDeny;
    r.priority = enforce ? LOG_WARNING : LOG_NOTICE;
    std::string digest = "sha256:" + to_hex(std::span<const uint8_t>(d.digest));
    // MESSAGE is for people and one line; VOUCH_PATH keeps the exact bytes
    // (journal fields are binary-safe).
    r.message = std::string(enforce ? "denied " : "would deny ") + action(d.hook) + " of " +
                printable(d.path) + " (" + digest + "): " + std::string(why) +
                (enforce ? "" : " (audit mode: allowed)");
    r.fields = {
        {journal::kPath, d.path},
        {journal::kDigest, digest},
        {journal::kPid, std::to_string(d.pid)},
        {journal::kUid, std::to_string(d.uid)},
        {journal::kHook, d.hook},
        {journal::kSerial, std::to_string(serial)},
        {journal::kMode, enforce ? "enforce" : "audit"},
    };
    return r;
}

JournalRecord policy_activated(uint64_t serial, std::string_view mode, std::string_view digest,
                               std::string_view source) {
    JournalRecord r;
    r.id = journal::kPolicyActivated;
    r.priority = LOG_NOTICE;
    r.message = std::string(source) + ": policy serial " + std::to_string(serial) + " active, " +
                std::string(mode) + " mode";
    r.fields = {
        {journal::kSerial, std::to_string(serial)},
        {journal::kMode, std::string(mode)},
        {journal::kDigest, std::string(digest)},
    };
    return r;
}

JournalRecord policy_refused(std::string_view what, std::string_view cause, uint64_t serial) {
    JournalRecord r;
    r.id = journal::kPolicyRefused;
    r.priority = LOG_WARNING;
    r.message = std::string(what) + ", the active policy stays: " + std::string(cause);
    r.fields = {{journal::kCause, std::string(cause)}};
    if (serial)
        r.fields.emplace_back(journal::kSerial, std::to_string(serial));
    return r;
}

JournalRecord tpm_state(std::string_view state, std::string_view message) {
    JournalRecord r;
    bool mismatch = state == "log-mismatch";
    r.id = mismatch ? journal::kLogMismatch : journal::kTpmState;
    r.priority = mismatch ? LOG_ERR : state == "ok" ? LOG_NOTICE : LOG_WARNING;
    r.message = "TPM " + std::string(state) + (message.empty() ? "" : ": " + std::string(message));
    r.fields = {{journal::kTpm, std::string(state)}};
    return r;
}

JournalRecord lost_events(uint64_t n) {
    JournalRecord r;
    r.id = journal::kLostEvents;
    r.priority = LOG_WARNING;
    r.message = std::to_string(n) +
                " events lost (the kernel's ring buffer was full): a violation entry in the "
                "measurement log marks the gap";
    r.fields = {{journal::kLost, std::to_string(n)}};
    return r;
}

JournalRecord protection(std::string_view entry, std::string_view message, bool warning) {
    JournalRecord r;
    r.id = journal::kProtection;
    r.priority = warning ? LOG_WARNING : LOG_NOTICE;
    r.message = "rollback protection (" + std::string(entry) + "): " + std::string(message);
    r.fields = {{journal::kProtectionEntry, std::string(entry)},
                {journal::kCause, std::string(message)}};
    return r;
}

JournalRecord suppressed(const char *id, uint64_t n) {
    JournalRecord r;
    r.id = journal::kSuppressed;
    r.priority = LOG_WARNING;
    r.message = std::to_string(n) + " " + kind_name(id) + " records suppressed (rate limit)";
    r.fields = {
        {journal::kSuppressedCount, std::to_string(n)},
        {journal::kSuppressedId, id},
    };
    return r;
}

const char *kind_name(const char *id) {
    std::string_view v = id;
    if (v == journal::kDenied)
        return "denied";
    if (v == journal::kWouldDeny)
        return "would-deny";
    if (v == journal::kPolicyActivated)
        return "policy-activated";
    if (v == journal::kPolicyRefused)
        return "policy-refused";
    if (v == journal::kTpmState)
        return "tpm-state";
    if (v == journal::kLogMismatch)
        return "log-mismatch";
    if (v == journal::kLostEvents)
        return "lost-events";
    if (v == journal::kProtection)
        return "protection";
    return "vouch";
}

} // namespace journal_record

JournalRateLimit::Admit JournalRateLimit::admit(const char *id, uint64_t now_usec) {
    auto it = windows_.find(std::string_view(id));
    if (it == windows_.end())
        it = windows_.emplace(id, Window{id}).first;
    Window &w = it->second;
    Admit a;
    if (w.written == 0 && w.suppressed == 0) {
        w.start = now_usec;
    } else if (now_usec - w.start >= o_.interval_usec) {
        a.suppressed = w.suppressed;
        w = Window{id, now_usec};
    }
    if (w.written < o_.burst) {
        w.written++;
        a.write = true;
    } else {
        w.suppressed++;
    }
    return a;
}

std::vector<std::pair<const char *, uint64_t>> JournalRateLimit::expired(uint64_t now_usec) {
    std::vector<std::pair<const char *, uint64_t>> out;
    for (auto &[key, w] : windows_) {
        if (w.suppressed && now_usec - w.start >= o_.interval_usec) {
            out.emplace_back(w.id, w.suppressed);
            w = Window{w.id};
        }
    }
    return out;
}

namespace {

uint64_t monotonic_usec() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000 + uint64_t(ts.tv_nsec) / 1000;
}

// Under systemd stderr is usually a stream into the journal already
// (JOURNAL_STREAM names it): a copy there would be each record twice.
bool stderr_is_journal() {
    const char *js = std::getenv("JOURNAL_STREAM");
    struct stat st {};
    if (!js || fstat(2, &st) != 0)
        return false;
    unsigned long long dev = 0, ino = 0;
    if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2)
        return false;
    return st.st_dev == dev && st.st_ino == ino;
}

Journal::Sink default_sink() {
    bool echo = !stderr_is_journal();
    return [echo](const JournalRecord &r) {
        std::vector<std::string> e = r.entries();
        std::vector<iovec> iov;
        iov.reserve(e.size());
        for (std::string &s : e)
            iov.push_back({s.data(), s.size()});
        // No journald (a VM test, a container): stderr below is all there is.
        (void)sd_journal_sendv(iov.data(), int(iov.size()));
        if (echo)
            std::fprintf(stderr, "vouchd: %s\n", r.message.c_str());
    };
}

} // namespace

Journal::Journal(Sink sink, Clock clock, JournalRateLimit::Options limit)
    : sink_(sink ? std::move(sink) : default_sink()),
      clock_(clock ? std::move(clock) : Clock(monotonic_usec)), limit_(limit) {}

void Journal::write(const JournalRecord &r) {
    auto a = limit_.admit(r.id, clock_());
    if (a.suppressed)
        sink_(journal_record::suppressed(r.id, a.suppressed));
    if (a.write)
        sink_(r);
}

void Journal::tick() {
    for (const auto &[id, n] : limit_.expired(clock_()))
        sink_(journal_record::suppressed(id, n));
}

} // namespace vouch
