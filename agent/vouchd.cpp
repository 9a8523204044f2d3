// vouchd: loads the kernel side and takes its measurements.
#include <getopt.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "abi.h"
#include "digest.h"
#include "kernel_side.h"

namespace {

volatile sig_atomic_t stop_requested = 0;
void on_stop(int) {
    stop_requested = 1;
}

void usage(FILE *out) {
    std::fputs("Usage: vouchd [OPTIONS]\n"
               "\n"
               "The vouch daemon: loads the BPF LSM programs that measure every executable\n"
               "and prints each new measurement.\n"
               "\n"
               "  -h, --help       show this help\n"
               "      --version    show the version\n"
               "      --no-cache   hash on every exec (disables the per-inode digest cache)\n"
               "      --pin-dir DIR  pin the hooks and maps there, so enforcement outlives\n"
               "                   vouchd; a restarted vouchd reattaches (default\n"
               "                   /sys/fs/bpf/vouch)\n"
               "      --no-pin     do not pin: the hooks detach when vouchd exits\n",
               out);
}

void print_event(const vouch_event &ev) {
    std::string path(ev.path, strnlen(ev.path, sizeof(ev.path)));
    std::printf("%-10s %-10s sha256:%s %s pid=%u uid=%u%s\n", vouch::hook_name(ev.hook),
                vouch::verdict_name(ev.verdict),
                vouch::to_hex({ev.digest, sizeof(ev.digest)}).c_str(),
                path.empty() ? "(unknown path)" : path.c_str(), ev.pid, ev.uid,
                (ev.flags & VOUCH_EVF_HASH_ERROR) ? " hash-error" : "");
    std::fflush(stdout);
}

} // namespace

int main(int argc, char **argv) {
    static const option opts[] = {
        {"help", no_argument, nullptr, 'h'},     {"version", no_argument, nullptr, 'V'},
        {"no-cache", no_argument, nullptr, 'C'}, {"pin-dir", required_argument, nullptr, 'P'},
        {"no-pin", no_argument, nullptr, 'N'},   {nullptr, 0, nullptr, 0}};
    vouch::KernelSideOptions kopts;
    kopts.pin_dir = vouch::kDefaultPinDir;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, nullptr)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            std::printf("vouchd %s\n", VOUCH_VERSION);
            return 0;
        case 'C':
            kopts.cache = false;
            break;
        case 'P':
            kopts.pin_dir = optarg;
            break;
        case 'N':
            kopts.pin_dir.clear();
            break;
        default:
            usage(stderr);
            return 2;
        }
    }

    auto ks = vouch::KernelSide::load(kopts);
    if (!ks) {
        std::fprintf(stderr, "vouchd: %s\n", ks.error().message.c_str());
        return 1;
    }
    if (auto r = (*ks)->start_events(print_event); !r) {
        std::fprintf(stderr, "vouchd: %s\n", r.error().message.c_str());
        return 1;
    }
    struct sigaction sa {};
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    auto cfg = (*ks)->config();
    std::fprintf(stderr, "vouchd: measuring (%s%s, %s mode%s)\n",
                 (*ks)->reattached() ? "reattached to " : "",
                 kopts.pin_dir.empty() ? "not pinned" : kopts.pin_dir.c_str(),
                 cfg ? vouch::mode_name(VOUCH_POLICY_MODE(cfg->policy)) : "unknown",
                 cfg && VOUCH_POLICY_ACTIVE(cfg->policy) != VOUCH_ACTIVE_NONE ? "" : ", no policy");
    while (!stop_requested) {
        if (auto r = (*ks)->poll(200); !r) {
            std::fprintf(stderr, "vouchd: %s\n", r.error().message.c_str());
            return 1;
        }
    }
    (void)(*ks)->consume();
    if (auto st = (*ks)->stats()) {
        std::fprintf(stderr,
                     "vouchd: %llu measured, %llu hashed, %llu cache hits, %llu lost events\n",
                     (unsigned long long)st->measured, (unsigned long long)st->hashes,
                     (unsigned long long)st->cache_hits, (unsigned long long)st->ringbuf_drops);
    }
    return 0;
}
