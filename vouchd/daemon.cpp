// SPDX-License-Identifier: Apache-2.0
#include "vouchd/daemon.h"
#include "vouchd/running.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <systemd/sd-daemon.h>

#include "lib/digest.h"
#include "lib/file_io.h"
#include "lib/owned.h"
#include "lib/vouch_records.h"
#include "policy/policy.h"
#include "policy/serial_store.h"
#include "lib/tpm.h"

namespace vouch {

namespace {

// What the trust state records of a trust store: its keyids, sorted, one per
// line, hashed. Adding, removing or replacing a key changes it.
Sha256 keyring_digest(const policy::TrustStore &keys) {
    std::vector<std::string> ids;
    for (const auto &k : keys.keys())
        ids.push_back(k.keyid);
    std::sort(ids.begin(), ids.end());
    std::string joined;
    for (const auto &id : ids)
        joined += id + "\n";
    return sha256_bytes(std::span(reinterpret_cast<const uint8_t *>(joined.data()), joined.size()));
}

// Is pid a live process running the same executable file as this one?
bool runs_this_executable(pid_t pid) {
    struct stat self {
    }, other{};
    std::string p = "/proc/" + std::to_string(pid) + "/exe";
    return stat("/proc/self/exe", &self) == 0 && stat(p.c_str(), &other) == 0 &&
           self.st_dev == other.st_dev && self.st_ino == other.st_ino;
}

constexpr uint64_t kTickUsec = 1000 * 1000;
// The type byte of a security.ima value that is a signature
// (EVM_IMA_XATTR_DIGSIG): what the kernel's ima-sig template records.
constexpr uint8_t kImaXattrDigsig = 3;
// The path vouch logs for an event the kernel side could not deliver: there
// is no file to name, and this cannot be mistaken for one.
constexpr const char *kLostEventPrefix = "vouch:lost-events:";
// ... and for what the incompatible pins it replaced held but never delivered.
constexpr const char *kReplacedPinsPath = "vouch:replaced-incompatible-pins";

// The file's security.ima when it is a signature, read from the file the
// kernel side measured and from no other: the path is looked up without
// following a final symlink and the inode compared with the event's, so a
// path swapped since (or one from another mount namespace: the kernel side
// logs a container's files by their paths in the container) yields no
// signature rather than another file's. FUSE is never asked: its daemon may
// never answer, and that would stop this loop; what it says about signatures
// is its own say-so.
// The security.ima of an open file (an O_PATH descriptor too, hence through
// /proc) when it is a signature; empty otherwise.
std::vector<uint8_t> ima_signature_of(int fd) {
    std::vector<uint8_t> buf(8192);
    std::string proc = "/proc/self/fd/" + std::to_string(fd);
    ssize_t n = ::getxattr(proc.c_str(), "security.ima", buf.data(), buf.size());
    if (n <= 1 || buf[0] != kImaXattrDigsig)
        return {};
    buf.resize(static_cast<size_t>(n));
    return buf;
}

std::vector<uint8_t> ima_signature(const vouch_event &ev, const std::string &path) {
    if (ev.sb_magic == FUSE_SUPER_MAGIC || path.empty() || path[0] != '/')
        return {};
    UniqueFd fd(::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0 || st.st_ino != ev.ino ||
        major(st.st_dev) != (ev.dev >> 20) || minor(st.st_dev) != (ev.dev & 0xfffff))
        return {};
    return ima_signature_of(fd.get());
}

// The LSM hooks the attached programs sit on, named as in the kernel
// (bprm_check_security, ...), from the BTF IDs the kernel reports.
std::vector<std::string> attached_hooks(const std::vector<uint32_t> &ids) {
    std::vector<std::string> out;
    Owned<btf, btf__free> vmlinux(btf__load_vmlinux_btf());
    for (uint32_t id : ids) {
        UniqueFd fd(bpf_prog_get_fd_by_id(id));
        if (!fd)
            continue;
        bpf_prog_info info{};
        uint32_t len = sizeof(info);
        if (bpf_obj_get_info_by_fd(fd.get(), &info, &len))
            continue;
        std::string name = info.name;
        if (vmlinux && info.attach_btf_id) {
            if (const btf_type *t = btf__type_by_id(vmlinux.get(), info.attach_btf_id)) {
                name = btf__name_by_offset(vmlinux.get(), t->name_off);
                if (name.rfind("bpf_lsm_", 0) == 0)
                    name.erase(0, 8);
            }
        }
        out.push_back(name);
    }
    return out;
}

} // namespace

Daemon::~Daemon() {
    // The extender's thread may still call into the loop's eventfd.
    extender_.reset();
}

Result<std::unique_ptr<Daemon>> Daemon::create(const DaemonConfig &cfg) {
    std::unique_ptr<Daemon> d(new Daemon());
    d->cfg_ = cfg;

    // Check the PCR before touching the kernel: refusing it must not leave
    // hooks attached by a daemon that then exits.
    // A restarted vouchd knows how much of the kernel's log it accounted for
    // (kernel_log_seen, written beside the log): kernel entries on the PCR
    // are then its placed or recorded foreign extends, or were added while
    // it was down (the extender places or records those).
    bool seen = false;
    uint64_t seen_count = 0;
    struct stat logst {};
    if (auto t = read_file(cfg.log_dir + "/kernel_log_seen", 64);
        t && !t->empty() &&
        ::stat((cfg.log_dir + "/binary_runtime_measurements").c_str(), &logst) == 0 &&
        logst.st_size > 0) {
        seen = true;
        seen_count = std::strtoull(t->c_str(), nullptr, 10);
    }
    uint64_t kernel_count = 0;
    auto seed = kernel_ima_seed(cfg.kernel_ima_log, cfg.pcr, seen, &kernel_count);
    if (!seed)
        return seed.error();

    KernelSideOptions kopts;
    kopts.cache = cfg.cache;
    kopts.verity = cfg.verity;
    kopts.pin_dir = cfg.pin_dir;
    kopts.ringbuf_bytes = cfg.ringbuf_bytes;
    auto ks = KernelSide::load(kopts);
    if (!ks && ks.error().code == EPROTO && !cfg.pin_dir.empty()) {
        // Pins of an incompatible vouch: most likely the stage of an
        // initramfs built before this vouch was installed (update-initramfs
        // rebuilds only the newest kernel's). That stage runs in audit mode,
        // so the pins may go: replacing them beats leaving the boot
        // unmeasured. Their queued events are unreadable; a violation entry
        // marks the gap. Enforcing pins refuse the unpin (only their agent
        // may), and the error says both.
        std::string why = ks.error().message;
        if (auto u = unpin(cfg.pin_dir); !u)
            return make_error(EPROTO, why + "; removing them failed: " + u.error().message);
        ks = KernelSide::load(kopts);
        if (ks)
            d->replaced_pins_ = why;
    }
    if (!ks)
        return ks.error();
    d->ks_ = std::move(*ks);
    if (auto r = d->claim_kernel_side(); !r)
        return r.error();
    // What is attached does not change while vouchd runs; reading it takes
    // the kernel's whole BTF, so once.
    d->hooks_ = attached_hooks(d->ks_->prog_ids());
    // Not in the initramfs stage: it runs in audit mode, and its paths are
    // the initramfs's; the vouchd after switch_root protects the real ones.
    if (cfg.stage != "initramfs")
        d->protect_files();

    if (mkdir(cfg.log_dir.c_str(), 0700) && errno != EEXIST)
        return make_error(errno, "create " + cfg.log_dir + ": " + errno_message(errno));
    auto log = MeasurementLog::open(cfg.log_dir);
    if (!log)
        return log.error();
    d->log_.emplace(std::move(*log));
    if (d->log_->entries().empty()) {
        for (const auto &e : *seed)
            if (auto r = d->log_->append(e); !r)
                return r.error();
    } else if (!seed->empty() && d->log_->entries()[0].template_sha1 != (*seed)[0].template_sha1) {
        return make_error(EEXIST, d->log_->binary_path() +
                                      " does not start with this boot's boot_aggregate: it is "
                                      "from another boot; move it away to start a new log");
    }

    if (!d->replaced_pins_.empty())
        if (auto r =
                d->log_->append(ima::make_violation(cfg.pcr, cfg.template_name, kReplacedPinsPath));
            !r)
            return r.error();
    // Events lost before this start: the count survives in the log directory,
    // which lives exactly as long as the pinned maps (until reboot).
    {
        std::string p = cfg.log_dir + "/lost_events_logged";
        FILE *f = std::fopen(p.c_str(), "re");
        if (f) {
            unsigned long long n = 0;
            if (std::fscanf(f, "%llu", &n) == 1)
                d->lost_logged_ = n;
            std::fclose(f);
        }
    }

    d->wake_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!d->wake_)
        return make_error(errno, "eventfd: " + errno_message(errno));
    std::string seen_file = cfg.log_dir + "/kernel_log_seen";
    uint64_t kernel_seen = seen ? seen_count : kernel_count;
    if (!seen) {
        if (auto r = write_file_atomic(seen_file, std::to_string(kernel_count) + "\n", 0600); !r)
            return r.error();
    }
    if (cfg.tpm) {
        ExtenderOptions xo;
        xo.kernel_log = cfg.kernel_ima_log;
        xo.kernel_count = kernel_count_path(cfg.kernel_ima_log);
        xo.kernel_seen = kernel_seen;
        xo.seen_file = seen_file;
        xo.foreign_file = cfg.log_dir + "/foreign_extends";
        auto foreign = read_foreign(xo.foreign_file);
        if (!foreign)
            return foreign.error();
        xo.foreign = std::move(*foreign);
        xo.place = [p = d.get()](Extender &x, const ima::Entry &e, size_t logged) {
            std::lock_guard lk(p->log_mu_);
            if (x.logged() != logged)
                return false;
            auto r = p->log_->append(e, false);
            if (!r || !*r)
                return false;
            x.push_extended(e);
            return true;
        };
        int wfd = d->wake_.get();
        d->extender_ = std::make_unique<Extender>(
            cfg.tcti, cfg.pcr,
            [wfd] {
                uint64_t one = 1;
                (void)!::write(wfd, &one, sizeof(one));
            },
            d->log_->entries(), std::move(xo));
        // A continued log is checked against the PCR before anything new is
        // appended: the extender replays it on connect. A TPM that does not
        // answer quickly is not waited for (the exec path never waits).
        (void)d->extender_->wait_checked(2000);
    } else if (auto k = KernelLogFollower::open(cfg.kernel_ima_log,
                                                kernel_count_path(cfg.kernel_ima_log))) {
        // No TPM to say where the kernel's extends fell: they are appended
        // in the kernel's order when vouchd sees them (on_timer).
        d->kernel_.emplace(std::move(*k));
        d->kernel_seen_ = kernel_seen;
        d->follow_kernel();
    }
    // vouch's own records (lib/vouch_records.h), after the boot_aggregate
    // seed or the continued log: measuring started (only when the kernel
    // side was loaded now, not when this vouchd reattached to what an
    // earlier one left running), then this start. Never deduplicated: the
    // order of starts is the information.
    // A reattaching vouchd writes its start after the drain below: what
    // queued ran before it started (a whole early boot, after the initramfs
    // stage).
    if (!d->ks_->reattached()) {
        d->record(records::kMeasureStart, records::measure_start(cfg.stage));
        d->record(records::kVouchdStart, records::vouchd_start());
    }
    if (d->failed_)
        return d->fatal_;
    // The allow-list needs vouchd's own digest (activate_policy adds it).
    if (auto self = sha256_file("/proc/self/exe"))
        std::memcpy(d->self_digest_.bytes, self->data(), sizeof(d->self_digest_.bytes));
    else
        return self.error();
    // The ring buffer's descriptor exists once events are started.
    if (auto r =
            d->ks_->start_events([p = d.get()](const vouch_event &ev) { p->handle_event(ev); });
        !r)
        return r.error();
    if (auto r = d->setup_loop(); !r)
        return r.error();
    d->log_lost_events();
    // What the kernel side queued was decided under the policy it held
    // before this start: logged before the stored policy's record.
    (void)d->ks_->consume();
    if (d->ks_->reattached())
        d->record(records::kVouchdStart, records::vouchd_start());
    // The stored policy, so its vouch-policy record precedes what runs. A
    // bad policy does not stop vouchd: measuring goes on, what the kernel
    // side enforces stays as it was, and the outcome is journaled.
    // Never in the initramfs stage: it runs without a policy (README,
    // "Measuring from the initramfs").
    // The NV serial is read first: it is part of the floor the stored
    // policy is checked against.
    if (cfg.stage != "initramfs") {
        d->setup_nv(false);
        (void)d->load_policy_at_start();
        d->check_nv_ahead();
    }
    if (d->failed_)
        return d->fatal_;
    // What ran before the hooks were attached (or while none were): after
    // what the kernel side queued, so the log holds each running file once.
    if (auto r = d->measure_running(); !r)
        return r.error();
    return d;
}

Result<void> Daemon::setup_loop() {
    sd_event *ev = nullptr;
    int r = sd_event_new(&ev);
    if (r < 0)
        return make_error(-r, "sd_event_new: " + errno_message(-r));
    loop_.reset(ev);
    auto keep = [&](sd_event_source *s) { sources_.emplace_back(s); };
    sd_event_source *s = nullptr;
    if ((r = sd_event_add_io(ev, &s, ks_->events_fd(), EPOLLIN, on_ringbuf, this)) < 0)
        return make_error(-r, "watch the ring buffer: " + errno_message(-r));
    keep(s);
    // Drain the kernel's events before anything else that is ready.
    sd_event_source_set_priority(s, SD_EVENT_PRIORITY_IMPORTANT);
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
        if ((r = sd_event_add_signal(ev, &s, sig, on_signal, this)) < 0)
            return make_error(-r, std::string("watch ") + strsignal(sig) +
                                      " (is it blocked in every thread?): " + errno_message(-r));
        keep(s);
    }
    if ((r = sd_event_add_io(ev, &s, wake_.get(), EPOLLIN, on_wake, this)) < 0)
        return make_error(-r, "watch the extender: " + errno_message(-r));
    keep(s);
    if ((r = sd_event_add_time_relative(ev, &s, CLOCK_MONOTONIC, kTickUsec, 0, on_timer, this)) < 0)
        return make_error(-r, "add timer: " + errno_message(-r));
    sd_event_source_set_enabled(s, SD_EVENT_ON);
    keep(s);
    // Pings the service manager when it asked for a watchdog (WATCHDOG_USEC).
    if ((r = sd_event_set_watchdog(ev, 1)) < 0)
        return make_error(-r, "watchdog: " + errno_message(-r));
    return {};
}

int Daemon::on_ringbuf(sd_event_source *, int, uint32_t, void *ud) {
    auto *d = static_cast<Daemon *>(ud);
    if (auto r = d->ks_->consume(); !r) {
        d->fatal_ = r.error();
        d->failed_ = true;
        sd_event_exit(d->loop_.get(), 1);
    }
    d->changed();
    return 0;
}

int Daemon::on_signal(sd_event_source *, const signalfd_siginfo *si, void *ud) {
    auto *d = static_cast<Daemon *>(ud);
    if (si->ssi_signo == SIGHUP) {
        (void)d->reload_policy(); // journaled either way
        d->changed();
        return 0;
    }
    sd_event_exit(d->loop_.get(), 0);
    return 0;
}

int Daemon::on_wake(sd_event_source *, int fd, uint32_t, void *ud) {
    uint64_t n;
    while (::read(fd, &n, sizeof(n)) > 0) {
    }
    auto *d = static_cast<Daemon *>(ud);
    d->check_tpm_state();
    d->changed();
    return 0;
}

void Daemon::setup_nv(bool late) {
    if (!cfg_.tpm) {
        nv_.disable("no TPM (tpm = no)");
        return;
    }
    nv_.connect(cfg_.tcti);
    if (!nv_.active()) {
        // Retries that fail the same way are journaled once.
        if (nv_.report() != nv_journaled_)
            journal_.write(journal_record::protection("serial", nv_.report(), true));
        nv_journaled_ = nv_.report();
        return;
    }
    // A first start with a TPM (or one whose earlier raise failed) brings
    // the index up to what the disk and the kernel side already hold. A
    // disk below the index is left alone: the floor is the higher of both.
    uint64_t want = policy_.serial;
    if (auto serials = policy::SerialStore::open(cfg_.state_dir))
        want = std::max(want, serials->highest());
    if (auto t = ks_->trust(); t && *t)
        want = std::max<uint64_t>(want, (*t)->serial);
    if (auto r = nv_.raise(want); !r)
        journal_.write(journal_record::protection("serial", r.error().message, true));
    if (late)
        journal_.write(journal_record::protection("serial", nv_.report(), false));
}

void Daemon::check_nv_ahead() {
    std::string before = nv_ahead_;
    nv_ahead_.clear();
    if (nv_.active() && policy_.serial && policy_.serial < nv_.serial())
        nv_ahead_ = "the active policy's serial " + std::to_string(policy_.serial) +
                    " is below it: activated while the TPM was unavailable, from a rolled-back "
                    "disk? It stays active; only a policy of serial " +
                    std::to_string(nv_.serial()) + " or higher is accepted";
    if (!nv_ahead_.empty() && nv_ahead_ != before)
        journal_.write(journal_record::protection("serial", nv_.report() + "; " + nv_ahead_, true));
}

void Daemon::check_tpm_state() {
    if (!extender_)
        return;
    ExtenderStatus es = extender_->status();
    // A TPM that was missing at start answers now: the NV serial joins the
    // floor (and is checked against the active policy). Transient NV
    // failures are retried every 30 s while the TPM answers.
    // (A log that does not replay is a TPM that answered too.)
    bool answering =
        es.state == TpmState::Ok || es.state == TpmState::Foreign || es.state == TpmState::Mismatch;
    if (answering && nv_.state() == NvSerial::State::Unavailable && nv_.retry() &&
        (es.state != tpm_seen_ || ++nv_ticks_ % 30 == 0)) {
        setup_nv(true);
        check_nv_ahead();
        changed();
    }
    // Each foreign extend recorded is journaled, not only the first.
    if (es.state == tpm_seen_ && es.foreign.size() == foreign_seen_)
        return;
    tpm_seen_ = es.state;
    foreign_seen_ = es.foreign.size();
    journal_.write(journal_record::tpm_state(tpm_state_name(es.state), es.message));
    publish_status();
}

int Daemon::on_timer(sd_event_source *s, uint64_t, void *ud) {
    auto *d = static_cast<Daemon *>(ud);
    // Events still queued were counted as measured but are not in the log
    // yet; take them first so the loss count is compared with a drained queue.
    (void)d->ks_->consume();
    d->log_lost_events();
    d->check_tpm_state();
    d->follow_kernel();
    d->journal_.tick();
    d->changed();
    sd_event_source_set_time_relative(s, kTickUsec);
    return 0;
}

void Daemon::follow_kernel() {
    if (!kernel_)
        return;
    auto fresh = kernel_->poll();
    if (!fresh || fresh->empty())
        return;
    uint64_t index = kernel_->seen() - fresh->size();
    bool any = false;
    for (const auto &e : *fresh) {
        if (index++ < kernel_seen_ || e.pcr != cfg_.pcr)
            continue;
        std::lock_guard lk(log_mu_);
        if (auto r = log_->append(e, false); !r) {
            fatal_ = r.error();
            failed_ = true;
            if (loop_)
                sd_event_exit(loop_.get(), 1);
            return;
        }
        any = true;
    }
    if (any)
        (void)write_file_atomic(cfg_.log_dir + "/kernel_log_seen",
                                std::to_string(kernel_->seen()) + "\n", 0600);
}

void Daemon::record(const char *name, std::string_view content) {
    append(records::entry(cfg_.pcr, name, content), false);
}

void Daemon::append(ima::Entry e, bool dedupe) {
    std::lock_guard lk(log_mu_);
    auto added = log_->append(e, dedupe);
    if (!added) {
        // The log cannot be written: stop rather than extend what no log
        // holds; enforcement stays (pinned), and a restart continues.
        fatal_ = added.error();
        failed_ = true;
        if (loop_) // none yet while create() writes the start records
            sd_event_exit(loop_.get(), 1);
        return;
    }
    if (*added && extender_)
        extender_->push(e);
}

void Daemon::handle_event(const vouch_event &ev) {
    if (failed_)
        return;
    std::string path(ev.path, strnlen(ev.path, sizeof(ev.path)));
    const std::string &tmpl = cfg_.template_name;
    // As the kernel's IMA: a violation entry (zero digest, PCR extended with
    // ones) for a file measured while open for write, or opened for write
    // while measured and mapped, so a verifier knows the log may not hold
    // what ran.
    if (ev.flags & (VOUCH_EVF_OPEN_WRITERS | VOUCH_EVF_TOMTOU))
        append(ima::make_violation(cfg_.pcr, tmpl, path));
    if (ev.flags & VOUCH_EVF_TOMTOU) {
        // No measurement: the file was opened, not run.
    } else if (ev.flags & VOUCH_EVF_HASH_ERROR) {
        // No digest to log: a verifier must see that something ran unmeasured.
        append(ima::make_violation(cfg_.pcr, tmpl, path));
    } else {
        std::vector<uint8_t> sig;
        if (tmpl == ima::kImaSig && !path.empty())
            sig = ima_signature(ev, path);
        // An fs-verity digest is logged as the kernel's IMA logs one
        // (digest_type=verity): a v2 template, "verity:sha256:" digests.
        bool verity = ev.flags & VOUCH_EVF_VERITY;
        append(ima::make_entry(cfg_.pcr, verity ? ima::v2_template(tmpl) : tmpl,
                               verity ? ima::kVeritySha256 : "sha256",
                               {ev.digest, sizeof(ev.digest)}, path, sig));
    }
    if (ev.verdict != VOUCH_VERDICT_DENY && ev.verdict != VOUCH_VERDICT_AUDIT_DENY)
        return;
    const bool enforce = ev.verdict == VOUCH_VERDICT_DENY;
    Denial dn;
    dn.path = path;
    dn.digest.assign(ev.digest, ev.digest + sizeof(ev.digest));
    dn.pid = ev.pid;
    dn.uid = ev.uid;
    dn.hook = hook_name(ev.hook);
    std::string why = "not in policy serial " + std::to_string(policy_.serial);
    if (ev.flags & VOUCH_EVF_HASH_ERROR)
        why = "it could not be hashed";
    else if (ev.flags & VOUCH_EVF_OPEN_WRITERS)
        why = "it is open for write, so what runs may not be what was measured";
    journal_.write(journal_record::denial(dn, enforce, policy_.serial, why));
    auto &f = enforce ? denied_ : would_deny_;
    if (f)
        f(dn);
}

Result<void> Daemon::measure_running() {
    auto files = running_files();
    if (!files)
        return files.error();
    const std::string &tmpl = cfg_.template_name;
    for (const auto &f : *files) {
        if (failed_)
            return fatal_;
        // Reading a file on FUSE may never return (its server decides):
        // logged as unmeasured, as a hash error is, rather than waited for.
        if (f.on_fuse) {
            append(ima::make_violation(cfg_.pcr, tmpl, f.path));
            continue;
        }
        auto digest = sha256_file("/proc/self/fd/" + std::to_string(f.fd.get()));
        if (!digest) {
            append(ima::make_violation(cfg_.pcr, tmpl, f.path));
            continue;
        }
        std::vector<uint8_t> sig;
        if (tmpl == ima::kImaSig)
            sig = ima_signature_of(f.fd.get());
        append(ima::make_entry(cfg_.pcr, tmpl, "sha256", *digest, f.path, sig));
    }
    return failed_ ? Result<void>(fatal_) : Result<void>{};
}

void Daemon::log_lost_events() {
    auto st = ks_->stats();
    if (!st || failed_)
        return;
    if (st->ringbuf_drops < lost_logged_) {
        // The counters started over (new maps, so a new boot's kernel side):
        // nothing of the old count applies.
        lost_logged_ = 0;
    }
    if (st->ringbuf_drops == lost_logged_)
        return;
    // One entry for all lost since the last check, its name carrying the
    // count: a flood cannot turn into as many log entries and PCR extends.
    const uint64_t n = st->ringbuf_drops - lost_logged_;
    append(ima::make_violation(cfg_.pcr, cfg_.template_name,
                               std::string(kLostEventPrefix) + std::to_string(n)));
    if (failed_)
        return;
    journal_.write(journal_record::lost_events(n));
    lost_logged_ = st->ringbuf_drops;
    (void)save_lost_logged();
}

Result<void> Daemon::save_lost_logged() {
    std::string p = cfg_.log_dir + "/lost_events_logged", tmp = p + ".tmp";
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd)
        return make_error(errno, "open " + tmp + ": " + errno_message(errno));
    std::string s = std::to_string(lost_logged_) + "\n";
    if (::write(fd.get(), s.data(), s.size()) != static_cast<ssize_t>(s.size()))
        return make_error(errno, "write " + tmp + ": " + errno_message(errno));
    if (::rename(tmp.c_str(), p.c_str()))
        return make_error(errno, "rename " + tmp + ": " + errno_message(errno));
    return {};
}

Result<void> Daemon::run() {
    int r = sd_event_loop(loop_.get());
    (void)ks_->consume();
    if (failed_)
        return fatal_;
    if (r < 0)
        return make_error(-r, "event loop: " + errno_message(-r));
    // A clean stop (SIGTERM, SIGINT): the last record, in the log and, if
    // the TPM answers in time, in the PCR. One that did not make it into
    // the TPM is extended by the next vouchd, which replays the log.
    record(records::kVouchdStop, records::vouchd_stop());
    if (failed_)
        return fatal_;
    if (extender_) {
        constexpr int kStopWaitMs = 5000;
        ExtenderStatus es = extender_->status();
        if (es.state != TpmState::Ok)
            stop_note_ = std::string("the TPM is ") + tpm_state_name(es.state) +
                         ": the vouchd-stop record is logged but not extended";
        else if (!extender_->wait_idle(kStopWaitMs))
            stop_note_ =
                "the TPM did not take the last " + std::to_string(extender_->status().pending()) +
                " extends (vouchd-stop included) within " + std::to_string(kStopWaitMs / 1000) +
                " s; they are logged, and the next vouchd extends them";
    }
    return {};
}

Result<void> Daemon::drain() {
    if (auto r = ks_->consume(); !r)
        return r.error();
    log_lost_events();
    if (failed_)
        return fatal_;
    return {};
}

namespace {

// Protection's "files" entry (README "D-Bus API").
std::string files_protection(const ProtectionReport &r) {
    auto join = [](const std::vector<std::string> &v) {
        std::string out;
        for (const auto &x : v)
            out += (out.empty() ? "" : " ") + x;
        return out;
    };
    std::string s;
    if (!r.supported)
        s = "not supported: the pinned kernel side predates file protection (until reboot)";
    else if (r.dirs.empty())
        s = "none: no directory to protect";
    else if (r.active)
        s = "refused to all but vouchd: " + join(r.dirs) + " and the directories above them";
    else
        s = "ready: " + join(r.dirs) + ", refused to all but vouchd once a policy enforces";
    if (!r.missing.empty())
        s += "; missing, not protected: " + join(r.missing);
    if (!r.linked.empty())
        s += "; writable through a second name: " + join(r.linked);
    if (!r.replaced.empty())
        s += "; replaced (another directory is at the path, vouchd writes nothing there): " +
             join(r.replaced);
    if (!r.error.empty())
        s += "; " + r.error;
    return s;
}

} // namespace

ServiceStatus Daemon::status() const {
    ServiceStatus s;
    s.version = VOUCH_VERSION;
    if (auto cfg = ks_->config())
        s.mode = mode_name(VOUCH_POLICY_MODE(cfg->policy));
    s.policy_serial = policy_.serial;
    s.policy_digest = policy_.digest;
    s.policy_keyid = policy_.keyid;
    s.policy_entries = policy_.entries;
    {
        std::lock_guard lk(log_mu_);
        s.measurements = log_->entries().size();
    }
    if (auto st = ks_->stats()) {
        s.denials = st->denied;
        s.would_denials = st->audit_denied;
        s.lost_events = st->ringbuf_drops;
    }
    s.pcr_index = cfg_.pcr;
    if (extender_) {
        ExtenderStatus es = extender_->status();
        s.tpm_state = tpm_state_name(es.state);
        s.tpm_message = es.message;
        s.pending_extends = es.pending();
        for (uint16_t b : es.banks)
            s.pcr_banks.push_back(bank_name(b));
    } else {
        s.tpm_state = tpm_state_name(TpmState::Disabled);
        s.tpm_message = "vouchd runs without a TPM (tpm = no)";
    }
    s.kernel_support = hooks_;
    if (s.mode == "enforce") {
        auto t = ks_->trust();
        if (t && *t && (*t)->serial)
            s.protection.emplace_back(
                "trust-state", "kernel: serial " + std::to_string((*t)->serial) +
                                   ", its envelope and the trusted keys held until reboot; only "
                                   "the agent may change them");
        else
            s.protection.emplace_back("trust-state", "kernel: enforcing, no trust state recorded");
    } else {
        s.protection.emplace_back("trust-state", "none: audit mode protects nothing");
    }
    s.protection.emplace_back("serial",
                              nv_ahead_.empty() ? nv_.report() : nv_.report() + "; " + nv_ahead_);
    s.protection.emplace_back("files", files_protection(ks_->protection()));
    return s;
}

Result<uint64_t> Daemon::update_policy(std::string_view envelope) {
    uint64_t serial = 0;
    auto r = apply_policy(envelope, true, "D-Bus UpdatePolicy", &serial);
    if (!r)
        journal_.write(journal_record::policy_refused("policy update over D-Bus refused",
                                                      r.error().message, serial));
    changed();
    return r;
}

std::string Daemon::status_line() const {
    std::string mode = "audit";
    if (auto c = ks_->config())
        mode = mode_name(VOUCH_POLICY_MODE(c->policy));
    std::string s = "measuring, " + mode + " mode, ";
    s += policy_.serial ? "policy serial " + std::to_string(policy_.serial) : "no policy";
    s += ", TPM ";
    s += extender_ ? tpm_state_name(extender_->status().state) : tpm_state_name(TpmState::Disabled);
    return s;
}

void Daemon::publish_status() {
    std::string s = status_line();
    if (s == status_sent_)
        return;
    status_sent_ = s;
    sd_notifyf(0, "STATUS=%s", s.c_str());
}

Result<void> Daemon::claim_kernel_side() {
    auto t = ks_->trust();
    if (!t)
        return t.error();
    if (!*t)
        return {}; // pinned by a vouch without trust state
    vouch_trust v = **t;
    pid_t other = static_cast<pid_t>(v.agent_pid);
    if (other > 0 && other != getpid() && runs_this_executable(other))
        return make_error(EBUSY, "another vouchd (pid " + std::to_string(other) +
                                     ") serves the kernel side pinned at " + cfg_.pin_dir +
                                     ": two would split the measurements between two logs; "
                                     "stop it first");
    v.agent_pid = static_cast<uint32_t>(getpid());
    if (v.serial && !policy_.serial) {
        // Until a policy file loads, status() shows what the kernel side enforces.
        policy_.serial = v.serial;
        policy_.digest = "sha256:" + to_hex(v.policy_digest);
    }
    return ks_->set_trust(v);
}

Result<policy::Policy> Daemon::verify_policy(std::string_view envelope, Sha256 *keyring) const {
    // Keys are read anew each time: an operator may have rotated one.
    auto keys = policy::TrustStore::load(cfg_.keys_dir);
    if (!keys)
        return keys.error();
    *keyring = keyring_digest(*keys);
    return policy::verify_and_parse(envelope, *keys);
}

Result<uint64_t> Daemon::apply_policy(std::string_view envelope, bool persist,
                                      std::string_view source, uint64_t *serial) {
    Sha256 keyring{};
    auto pol = verify_policy(envelope, &keyring);
    if (!pol)
        return pol.error();
    if (serial)
        *serial = pol->serial;
    return activate_policy(*pol, envelope, persist, keyring, source);
}

Result<void> Daemon::check_trust(const policy::Policy &pol, const Sha256 &envelope_digest,
                                 const Sha256 &keyring) const {
    auto t = ks_->trust();
    if (!t)
        return t.error();
    if (!*t || !(*t)->serial)
        return {};
    const vouch_trust &v = **t;
    const std::string have = std::to_string(pol.serial), had = std::to_string(v.serial);
    if (pol.serial < v.serial)
        return make_error(ESTALE, "serial " + have + " is lower than " + had +
                                      ", which the kernel side accepted earlier this boot "
                                      "(the state directory does not change that)");
    if (pol.serial == v.serial &&
        std::memcmp(envelope_digest.data(), v.policy_digest, sizeof(v.policy_digest)) != 0)
        return make_error(ESTALE, "serial " + have +
                                      " was accepted earlier this boot with other content "
                                      "(sha256:" +
                                      to_hex(v.policy_digest) +
                                      "); a changed policy needs a higher serial");
    auto cfg = ks_->config();
    if (!cfg)
        return cfg.error();
    if (VOUCH_POLICY_MODE(cfg->policy) == VOUCH_MODE_ENFORCE &&
        std::memcmp(keyring.data(), v.keyring_digest, sizeof(v.keyring_digest)) != 0)
        return make_error(ENOKEY, "the trusted keys in " + cfg_.keys_dir +
                                      " are not the ones policy " + had +
                                      " was accepted with, and it enforces: while a policy "
                                      "enforces the key set cannot change; switch to audit "
                                      "with a policy signed by a current key first");
    return {};
}

Result<uint64_t> Daemon::activate_policy(const policy::Policy &pol, std::string_view envelope,
                                         bool persist, const Sha256 &keyring,
                                         std::string_view source) {
    const Sha256 envelope_digest = sha256_bytes(
        std::span(reinterpret_cast<const uint8_t *>(envelope.data()), envelope.size()));
    // A new key set must be able to verify the envelope that installs it:
    // the next boot verifies this policy with those keys alone.
    if (!pol.trust_keys.empty()) {
        auto by_new = policy::verify_envelope(
            envelope, policy::TrustStore::from_keys(pol.trust_keys, "meta.vouch.keys"));
        if (!by_new)
            return make_error(EKEYREJECTED,
                              "policy " + std::to_string(pol.serial) +
                                  " sets new trusted keys (meta.vouch.keys) but no signature "
                                  "by one of them verifies (" +
                                  by_new.error().message +
                                  "): sign it with a current key and a new one");
    }
    // The kernel side's record first: it holds whatever the state directory
    // or the options of this vouchd say.
    if (auto r = check_trust(pol, envelope_digest, keyring); !r)
        return r.error();
    // Not into a directory that took the protected one's place (umount -l
    // /var, a tmpfs there): the next boot would not read it.
    for (const auto &d : {cfg_.state_dir, cfg_.keys_dir})
        if (auto r = ks_->check_protected(d); !r) {
            std::fprintf(stderr, "vouchd: %s\n", r.error().message.c_str());
            return r.error();
        }
    // Nothing but the file says what the highest serial is: read it anew.
    auto serials = policy::SerialStore::open(cfg_.state_dir);
    if (!serials)
        return serials.error();
    // The floor is the higher of the disk's and the TPM's: the refusal
    // names the one that holds it.
    if (nv_.active() && nv_.serial() >= serials->highest()) {
        if (auto r = nv_.check(pol.serial); !r)
            return r.error();
    }
    if (auto r = serials->check(pol.serial); !r)
        return r.error();
    if (auto r = nv_.check(pol.serial); !r)
        return r.error();
    // vouchd itself must stay able to manage what it enforces: its own
    // running executable is allowed and marked agent in every policy.
    std::vector<vouch_digest> allowed = pol.digests, agents = pol.agents;
    allowed.push_back(self_digest_);
    agents.push_back(self_digest_);
    // The serial is raised before the swap: if the swap then fails, the
    // same envelope can be applied again, but an older one never can.
    if (auto r = serials->commit(pol.serial); !r)
        return r.error();
    // The TPM's copy is raised too; a failure is reported (journal,
    // Protection), not fatal: the disk's floor still holds.
    if (auto r = nv_.raise(pol.serial); !r)
        journal_.write(journal_record::protection("serial", r.error().message, true));
    // Events already queued were decided under the old policy: logged
    // before the record. The kernel side does not stamp events with the
    // policy generation, so an exec whose hook ran during the swap may be
    // logged on either side of it.
    (void)ks_->consume();
    if (failed_)
        return fatal_;
    if (auto r = ks_->set_policy(allowed, pol.mode, agents, pol.verity); !r)
        return r.error();
    // Right after the swap, before any further event is taken from the ring
    // buffer (this is the loop's thread): "policy N from entry K".
    record(records::kPolicy, records::policy(pol.serial, mode_name(pol.mode), envelope_digest));
    // A rotation: the keys directory gets the policy's key set, and the
    // kernel side records that set, so from now on only it signs policies.
    Sha256 trusted = keyring;
    Error rotation_failed{};
    bool rotated_ok = true;
    if (!pol.trust_keys.empty()) {
        if (auto r = rotate_keys(pol); r) {
            trusted = *r;
        } else {
            rotated_ok = false;
            rotation_failed = r.error();
        }
    }
    vouch_trust t{};
    t.serial = pol.serial;
    std::memcpy(t.policy_digest, envelope_digest.data(), sizeof(t.policy_digest));
    std::memcpy(t.keyring_digest, trusted.data(), sizeof(t.keyring_digest));
    t.agent_pid = static_cast<uint32_t>(getpid());
    if (auto r = ks_->set_trust(t); !r)
        return make_error(r.error().code, "policy " + std::to_string(pol.serial) +
                                              " is active, but recording it in the kernel side "
                                              "failed: " +
                                              r.error().message);
    // The state directory may have been created just now (the serial).
    protect_files();
    if (persist) {
        if (auto r = write_file_atomic(accepted_policy_path(), envelope, 0600); !r)
            return make_error(r.error().code, "policy " + std::to_string(pol.serial) +
                                                  " is active, but keeping it for restarts "
                                                  "failed: " +
                                                  r.error().message);
    }
    if (persist)
        policy_file_ = accepted_policy_path();
    policy_envelope_ = envelope_digest;
    policy_.serial = pol.serial;
    policy_.digest = pol.digest;
    policy_.keyid = pol.keyid;
    policy_.entries = pol.entries;
    check_nv_ahead();
    journal_.write(
        journal_record::policy_activated(pol.serial, mode_name(pol.mode), pol.digest, source));
    publish_status();
    // The same envelope may be sent again to finish the rotation: its
    // serial and content are what the kernel side holds, the keys the old.
    if (!rotated_ok)
        return make_error(rotation_failed.code,
                          "policy " + std::to_string(pol.serial) +
                              " is active, but its new trusted keys were not written, so the "
                              "old ones stay trusted: " +
                              rotation_failed.message);
    return pol.serial;
}

Result<Sha256> Daemon::rotate_keys(const policy::Policy &pol) {
    auto fresh = policy::TrustStore::from_keys(pol.trust_keys, cfg_.keys_dir);
    const Sha256 wanted = keyring_digest(fresh);
    auto current = policy::TrustStore::load(cfg_.keys_dir);
    if (!current)
        return current.error();
    if (keyring_digest(*current) == wanted)
        return wanted; // done already: a restart, or the same policy again
    for (const auto &k : pol.trust_keys) {
        std::string pem = k.pem();
        if (pem.empty())
            return make_error(EINVAL, "cannot encode key " + k.keyid);
        // Named by keyid, so a key already there under this name is this key.
        const std::string path = cfg_.keys_dir + "/" + k.keyid.substr(0, 16) + ".pem";
        if (auto r = write_file_atomic(path, pem, 0644); !r)
            return r.error();
    }
    for (const auto &k : current->keys()) {
        bool kept = false;
        for (const auto &n : pol.trust_keys)
            kept = kept || n.keyid == k.keyid;
        if (!kept && unlink(k.source.c_str()) && errno != ENOENT)
            return make_error(errno, "remove " + k.source + ": " + errno_message(errno));
    }
    auto now = policy::TrustStore::load(cfg_.keys_dir);
    if (!now)
        return now.error();
    if (keyring_digest(*now) != wanted)
        return make_error(EEXIST, cfg_.keys_dir + " holds other keys than the policy's after "
                                                  "writing them (a key file vouchd did not name?)");
    return wanted;
}

Result<uint64_t> Daemon::reload_policy() {
    uint64_t serial = 0;
    auto r = [&]() -> Result<uint64_t> {
        if (cfg_.policy.empty())
            return make_error(ENOENT, "no policy file is configured");
        auto bytes = read_file(cfg_.policy, policy::kMaxEnvelopeBytes);
        if (!bytes)
            return bytes.error();
        auto a = apply_policy(*bytes, false, "reloaded " + cfg_.policy, &serial);
        if (!a)
            return make_error(a.error().code, cfg_.policy + ": " + a.error().message);
        policy_file_ = cfg_.policy;
        return a;
    }();
    if (!r)
        journal_.write(journal_record::policy_refused("reload refused", r.error().message, serial));
    return r;
}

Result<void> Daemon::load_policy_at_start() {
    // Candidates in order of preference at equal serials: the configured
    // file (what the operator deployed), then the last D-Bus update.
    std::vector<std::string> paths;
    if (!cfg_.policy.empty())
        paths.push_back(cfg_.policy);
    paths.push_back(accepted_policy_path());
    std::optional<policy::Policy> best;
    std::string best_bytes, best_path;
    Sha256 best_keyring{};
    std::optional<Error> first_error;
    for (const auto &p : paths) {
        auto bytes = read_file(p, policy::kMaxEnvelopeBytes);
        if (!bytes && bytes.error().code == ENOENT)
            continue;
        if (!bytes) {
            if (!first_error)
                first_error = bytes.error(); // names the file already
            continue;
        }
        Sha256 keyring{};
        auto pol = verify_policy(*bytes, &keyring);
        if (!pol) {
            if (!first_error)
                first_error = make_error(pol.error().code, p + ": " + pol.error().message);
            continue;
        }
        if (!best || pol->serial > best->serial) {
            best = std::move(*pol);
            best_bytes = std::move(*bytes);
            best_path = p;
            best_keyring = keyring;
        }
    }
    const char *what = "policy not loaded at start";
    if (!best) {
        if (!first_error)
            return {};
        journal_.write(journal_record::policy_refused(what, first_error->message, 0));
        return *first_error;
    }
    auto r = activate_policy(*best, best_bytes, false, best_keyring, "loaded " + best_path);
    if (!r) {
        auto e = make_error(r.error().code, best_path + ": " + r.error().message);
        journal_.write(journal_record::policy_refused(what, e.message, best->serial));
        return e;
    }
    policy_file_ = best_path;
    return {};
}

Result<std::vector<uint32_t>> Daemon::check_digests(const std::vector<Sha256> &digests) const {
    std::vector<vouch_digest> keys(digests.size());
    for (size_t i = 0; i < digests.size(); ++i)
        std::memcpy(keys[i].bytes, digests[i].data(), sizeof(keys[i].bytes));
    return ks_->allow_flags(keys);
}

Result<std::string> Daemon::active_policy() const {
    // Pins reattached with no policy loaded by this vouchd: whatever the
    // kernel side holds, there is no envelope to give.
    if (policy_file_.empty())
        return make_error(ENOENT, "no policy was activated by this vouchd (measuring only, or "
                                  "a policy kept from before its start)");
    auto bytes = read_file(policy_file_, policy::kMaxEnvelopeBytes);
    if (!bytes)
        return bytes.error();
    auto d =
        sha256_bytes(std::span(reinterpret_cast<const uint8_t *>(bytes->data()), bytes->size()));
    if (d != policy_envelope_)
        return make_error(ESTALE, policy_file_ + " changed since policy " +
                                      std::to_string(policy_.serial) +
                                      " was activated from it (reload to activate it, or "
                                      "restore it)");
    return bytes;
}

std::vector<LogRecord> Daemon::log(uint64_t first, uint32_t count) const {
    std::vector<LogRecord> out;
    std::lock_guard lk(log_mu_);
    const auto &all = log_->entries();
    for (uint64_t i = first; i < all.size() && out.size() < count; ++i)
        out.push_back(log_record(all[i], i));
    return out;
}

void Daemon::protect_files() {
    auto r = ks_->protect({cfg_.keys_dir, cfg_.state_dir});
    if (!r) {
        std::fprintf(stderr, "vouchd: files not protected: %s\n", r.error().message.c_str());
        return;
    }
    for (const auto &m : r->missing)
        std::fprintf(stderr, "vouchd: %s does not exist: not protected\n", m.c_str());
    for (const auto &l : r->linked)
        std::fprintf(stderr,
                     "vouchd: %s has another name (a hard link) outside the protected "
                     "directory, through which it can still be changed\n",
                     l.c_str());
    if (!r->error.empty())
        std::fprintf(stderr, "vouchd: protecting files: %s\n", r->error.c_str());
}

} // namespace vouch
