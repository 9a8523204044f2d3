// SPDX-License-Identifier: Apache-2.0
// vouchd: loads the kernel side, keeps the measurement log, extends the TPM.
#include <getopt.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <systemd/sd-daemon.h>

#include "vouchd/bus.h"
#include "lib/config.h"
#include "vouchd/daemon.h"

namespace {

// The D-Bus front end. vouchd may start before dbus.service (it must, to
// measure early boot), so a bus that is not there yet is retried every
// second; a bus that goes away later ends vouchd with a failure, and the
// service manager restarts it (enforcement stays pinned meanwhile).
class BusFrontEnd {
  public:
    BusFrontEnd(vouch::Daemon &d, vouch::BusKind kind) : d_(d) {
        opts_.kind = kind;
        // The session bus by its address, as clients find it: sd-bus's own
        // user-bus lookup refuses some setups (root, no user manager) that a
        // private test bus has.
        const char *addr = std::getenv("DBUS_SESSION_BUS_ADDRESS");
        if (kind == vouch::BusKind::User && addr && *addr) {
            opts_.kind = vouch::BusKind::Address;
            opts_.address = addr;
        }
    }
    ~BusFrontEnd() {
        retry_.reset();
        bus_.reset();
    }
    void start() {
        if (try_start())
            return;
        sd_event_source *s = nullptr;
        if (sd_event_add_time_relative(d_.event_loop(), &s, CLOCK_MONOTONIC, 1000000, 0, on_retry,
                                       this) >= 0)
            retry_.reset(s);
    }
    void changed() {
        if (bus_)
            bus_->changed();
    }
    void denied(const vouch::Denial &dn) {
        if (bus_)
            bus_->denied(dn);
    }
    void would_deny(const vouch::Denial &dn) {
        if (bus_)
            bus_->would_deny(dn);
    }

  private:
    bool try_start() {
        auto b = vouch::BusService::start(d_.event_loop(), d_, opts_);
        if (b) {
            bus_ = std::move(*b);
            if (!first_error_.empty())
                std::fprintf(stderr, "vouchd: D-Bus is up: serving org.vouch.Vouch1\n");
            return true;
        }
        if (first_error_.empty()) {
            first_error_ = b.error().message;
            std::fprintf(stderr, "vouchd: not on D-Bus yet (%s); retrying every second\n",
                         first_error_.c_str());
        }
        return false;
    }
    static int on_retry(sd_event_source *s, uint64_t, void *ud) {
        auto *self = static_cast<BusFrontEnd *>(ud);
        if (self->try_start()) {
            sd_event_source_set_enabled(s, SD_EVENT_OFF);
            return 0;
        }
        sd_event_source_set_time_relative(s, 1000000);
        sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
    }

    vouch::Daemon &d_;
    vouch::BusOptions opts_;
    std::unique_ptr<vouch::BusService> bus_;
    vouch::SdEventSource retry_;
    std::string first_error_;
};

void usage(FILE *out) {
    std::fputs("Usage: vouchd [OPTIONS]\n"
               "\n"
               "The vouch daemon: loads the BPF LSM programs that measure every executable and\n"
               "enforce the allow-list, writes the measurements into an IMA-format log and\n"
               "extends them into a TPM PCR. Settings come from the config file; options\n"
               "override it.\n"
               "\n"
               "  -h, --help          show this help\n"
               "      --version       show the version\n"
               "  -c, --config FILE   settings file (default /etc/vouch/vouch.conf)\n"
               "      --pin-dir DIR   pin hooks and maps there so enforcement outlives vouchd\n"
               "                      (pin_dir, default /sys/fs/bpf/vouch)\n"
               "      --no-pin        do not pin: the hooks detach when vouchd exits\n"
               "      --log-dir DIR   measurement log directory (log_dir, default /run/vouch)\n"
               "      --state-dir DIR persistent state (state_dir, default /var/lib/vouch)\n"
               "      --policy FILE   signed policy (policy, default /etc/vouch/policy.dsse)\n"
               "      --keys-dir DIR  trusted policy keys (keys_dir, default /etc/vouch/keys)\n"
               "      --tcti SPEC     TPM connection (tcti, default device:/dev/tpmrm0)\n"
               "      --no-tpm        keep the log without extending a TPM (tpm = no)\n"
               "      --pcr N         PCR to extend (pcr, default 10)\n"
               "      --template T    ima-ng (default) or ima-sig (template)\n"
               "      --no-cache      hash on every exec (cache = no)\n"
               "      --ringbuf-size N  event buffer from the kernel in bytes (ringbuf_size,\n"
               "                      default 4 MiB; applies when vouchd loads the hooks)\n"
               "      --user-bus      serve on the session bus instead of the system bus (tests)\n"
               "      --no-bus        do not serve on D-Bus\n"
               "      --initramfs     the initramfs stage: load and pin the hooks (audit mode,\n"
               "                      no policy, no TPM, no D-Bus), log boot_aggregate, what\n"
               "                      runs and what queued, then exit; the vouchd of the real\n"
               "                      root reattaches and continues the same log\n"
               "\n"
               "Signals: SIGHUP reloads the policy; SIGTERM stops vouchd (enforcement stays,\n"
               "pinned, until the next vouchd reattaches).\n",
               out);
}

// The initramfs stage (README, "Measuring from the initramfs"): audit mode
// without a policy by design, whatever the configuration says: a policy,
// keys and serial copied into the image would go stale with the next policy
// update, and a ring buffer that fills before vouchd runs must not deny
// boot-critical programs. No TPM (the real vouchd extends the log it finds)
// and no D-Bus. The pins stay when this exits: what runs next queues in
// the ring buffer until the real root's vouchd drains it into the same log.
int run_initramfs_stage(vouch::DaemonConfig cfg) {
    if (cfg.pin_dir.empty()) {
        std::fprintf(stderr, "vouchd: --initramfs needs a pin directory: without pins the "
                             "hooks would detach when it exits\n");
        return 2;
    }
    cfg.tpm = false;
    cfg.bus = vouch::DaemonConfig::Bus::None;
    cfg.stage = "initramfs";
    auto d = vouch::Daemon::create(cfg);
    if (!d) {
        std::fprintf(stderr, "vouchd: initramfs stage: %s\n", d.error().message.c_str());
        return 1;
    }
    if (auto r = (*d)->drain(); !r) {
        std::fprintf(stderr, "vouchd: initramfs stage: %s\n", r.error().message.c_str());
        return 1;
    }
    auto st = (*d)->status();
    std::fprintf(stderr,
                 "vouchd: initramfs stage: %s %s, %s mode, no policy, log %s "
                 "(%llu entries); vouchd in the real root continues it\n",
                 (*d)->kernel().reattached() ? "reattached to" : "pinned", cfg.pin_dir.c_str(),
                 st.mode.c_str(), cfg.log_dir.c_str(), (unsigned long long)st.measurements);
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    enum {
        OPT_VERSION = 0x100,
        OPT_PIN_DIR,
        OPT_NO_PIN,
        OPT_LOG_DIR,
        OPT_STATE_DIR,
        OPT_POLICY,
        OPT_KEYS_DIR,
        OPT_TCTI,
        OPT_NO_TPM,
        OPT_PCR,
        OPT_TEMPLATE,
        OPT_NO_CACHE,
        OPT_USER_BUS,
        OPT_NO_BUS,
        OPT_RINGBUF,
        OPT_INITRAMFS,
    };
    static const option opts[] = {
        {"help", no_argument, nullptr, 'h'},
        {"version", no_argument, nullptr, OPT_VERSION},
        {"config", required_argument, nullptr, 'c'},
        {"pin-dir", required_argument, nullptr, OPT_PIN_DIR},
        {"no-pin", no_argument, nullptr, OPT_NO_PIN},
        {"log-dir", required_argument, nullptr, OPT_LOG_DIR},
        {"state-dir", required_argument, nullptr, OPT_STATE_DIR},
        {"policy", required_argument, nullptr, OPT_POLICY},
        {"keys-dir", required_argument, nullptr, OPT_KEYS_DIR},
        {"tcti", required_argument, nullptr, OPT_TCTI},
        {"no-tpm", no_argument, nullptr, OPT_NO_TPM},
        {"pcr", required_argument, nullptr, OPT_PCR},
        {"template", required_argument, nullptr, OPT_TEMPLATE},
        {"no-cache", no_argument, nullptr, OPT_NO_CACHE},
        {"user-bus", no_argument, nullptr, OPT_USER_BUS},
        {"no-bus", no_argument, nullptr, OPT_NO_BUS},
        {"ringbuf-size", required_argument, nullptr, OPT_RINGBUF},
        {"initramfs", no_argument, nullptr, OPT_INITRAMFS},
        {nullptr, 0, nullptr, 0},
    };
    // First pass: only the config file's name, so that options override it.
    std::string config_path = vouch::kDefaultConfigPath;
    bool config_given = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "hc:", opts, nullptr)) != -1) {
        if (c == 'c') {
            config_path = optarg;
            config_given = true;
        }
    }
    vouch::DaemonConfig cfg;
    if (auto r = vouch::load_config_file(cfg, config_path, !config_given); !r) {
        std::fprintf(stderr, "vouchd: %s\n", r.error().message.c_str());
        return 2;
    }
    optind = 1;
    opterr = 1;
    bool initramfs = false;
    while ((c = getopt_long(argc, argv, "hc:", opts, nullptr)) != -1) {
        vouch::Result<void> r;
        auto set = [&](const char *key) { r = vouch::apply_setting(cfg, key, optarg, "option"); };
        switch (c) {
        case 'h':
            usage(stdout);
            return 0;
        case OPT_VERSION:
            std::printf("vouchd %s\n", VOUCH_VERSION);
            return 0;
        case 'c':
            break;
        case OPT_PIN_DIR:
            set("pin_dir");
            break;
        case OPT_NO_PIN:
            cfg.pin_dir.clear();
            break;
        case OPT_LOG_DIR:
            set("log_dir");
            break;
        case OPT_STATE_DIR:
            set("state_dir");
            break;
        case OPT_POLICY:
            set("policy");
            break;
        case OPT_KEYS_DIR:
            set("keys_dir");
            break;
        case OPT_TCTI:
            set("tcti");
            break;
        case OPT_NO_TPM:
            cfg.tpm = false;
            break;
        case OPT_PCR:
            set("pcr");
            break;
        case OPT_TEMPLATE:
            set("template");
            break;
        case OPT_NO_CACHE:
            cfg.cache = false;
            break;
        case OPT_USER_BUS:
            cfg.bus = vouch::DaemonConfig::Bus::User;
            break;
        case OPT_RINGBUF:
            set("ringbuf_size");
            break;
        case OPT_NO_BUS:
            cfg.bus = vouch::DaemonConfig::Bus::None;
            break;
        case OPT_INITRAMFS:
            initramfs = true;
            break;
        default:
            usage(stderr);
            return 2;
        }
        if (!r) {
            std::fprintf(stderr, "vouchd: %s\n", r.error().message.c_str());
            return 2;
        }
    }
    if (optind < argc) {
        std::fprintf(stderr, "vouchd: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }

    // Before any thread exists, so that all of them inherit it: the event
    // loop takes these signals from a signalfd.
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    sigaddset(&ss, SIGHUP);
    sigprocmask(SIG_BLOCK, &ss, nullptr);
    // tpm2-tss logs to stderr by itself; vouchd reports TPM errors once, decoded.
    setenv("TSS2_LOG", "all+none", 0);
    if (initramfs)
        return run_initramfs_stage(cfg);

    auto d = vouch::Daemon::create(cfg);
    if (!d) {
        std::fprintf(stderr, "vouchd: %s\n", d.error().message.c_str());
        sd_notifyf(0, "STATUS=failed: %s", d.error().message.c_str());
        return 1;
    }
    if (!(*d)->replaced_pins().empty())
        std::fprintf(stderr,
                     "vouchd: replaced the pins at %s, whose events are lost (logged as "
                     "vouch:replaced-incompatible-pins): %s; rebuild the initramfs of every "
                     "kernel (update-initramfs -u -k all, dracut --regenerate-all)\n",
                     cfg.pin_dir.c_str(), (*d)->replaced_pins().c_str());
    // create() loaded the stored policy (before logging what runs, so its
    // record comes first); a bad one does not stop vouchd and is journaled.
    std::unique_ptr<BusFrontEnd> bus;
    if (cfg.bus != vouch::DaemonConfig::Bus::None) {
        bus = std::make_unique<BusFrontEnd>(**d, cfg.bus == vouch::DaemonConfig::Bus::User
                                                     ? vouch::BusKind::User
                                                     : vouch::BusKind::System);
        (*d)->on_changed([&bus] {
            if (bus)
                bus->changed();
        });
        (*d)->on_denied([&bus](const vouch::Denial &dn) {
            if (bus)
                bus->denied(dn);
        });
        (*d)->on_would_deny([&bus](const vouch::Denial &dn) {
            if (bus)
                bus->would_deny(dn);
        });
        bus->start();
    }
    auto st = (*d)->status();
    std::fprintf(stderr,
                 "vouchd: %s %s, %s mode, log %s/binary_runtime_measurements (%llu entries), "
                 "PCR %u, TPM %s%s%s, policy %s\n",
                 (*d)->kernel().reattached() ? "reattached to" : "loaded",
                 cfg.pin_dir.empty() ? "(not pinned)" : cfg.pin_dir.c_str(), st.mode.c_str(),
                 cfg.log_dir.c_str(), (unsigned long long)st.measurements, cfg.pcr,
                 st.tpm_state.c_str(), st.tpm_message.empty() ? "" : ": ", st.tpm_message.c_str(),
                 st.policy_serial ? ("serial " + std::to_string(st.policy_serial)).c_str()
                                  : "none");
    sd_notify(0, "READY=1");
    (*d)->publish_status();
    auto r = (*d)->run();
    sd_notify(0, "STOPPING=1");
    if (!(*d)->stop_note().empty())
        std::fprintf(stderr, "vouchd: %s\n", (*d)->stop_note().c_str());
    bus.reset();
    if (!r) {
        std::fprintf(stderr, "vouchd: %s\n", r.error().message.c_str());
        return 1;
    }
    return 0;
}
