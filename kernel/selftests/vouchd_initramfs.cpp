// SPDX-License-Identifier: Apache-2.0
// Measuring from the initramfs: the VM boots with VOUCH_STAGE=initramfs
// (run-vm --stage initramfs), so its /init first runs `vouchd --initramfs` as
// the package's initramfs script does, then a program, then switch_roots
// into a new root (bpffs moved along under /sys) whose /init runs another
// program and then this test. vouchd started here, as the real root's would
// be, must reattach to the stage's pins and continue its log: boot_aggregate,
// the stage's entries, both programs and this test, in that order, nothing
// lost, replaying against the TPM.
#include <dirent.h>

#include <bpf/bpf.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "lib/digest.h"
#include "lib/fd.h"
#include "lib/ima_log.h"
#include "lib/measurement_log.h"
#include "lib/vouch_records.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"
#include "kernel/selftests/lib/vouchd.h"

using namespace vouch;
using namespace vouch::selftest;

namespace {

const std::string kPins = "/sys/fs/bpf/vouch";
const std::string kLogDir = "/run/vouch";
const std::string kBinLog = kLogDir + "/binary_runtime_measurements";
const std::string kKernelLog = "/sys/kernel/security/ima/binary_runtime_measurements";
const std::string kTcti = "device:/dev/tpmrm0";
// Written by the VM's /init after the stage, before switch_root: `ls -i` of
// the pin directory.
const std::string kStagePins = "/run/vouch-stage-pins";

std::vector<ima::Entry> read_log(const std::string &path) {
    auto e = read_binary_log(path);
    return e ? *e : std::vector<ima::Entry>{};
}

// Index of the first entry for path, or -1.
long index_of(const std::vector<ima::Entry> &log, const std::string &path) {
    for (size_t i = 0; i < log.size(); ++i)
        if (log[i].path == path)
            return static_cast<long>(i);
    return -1;
}

bool logged_as_file(const std::vector<ima::Entry> &log, const std::string &name,
                    const std::string &file) {
    auto want = sha256_file(file);
    long i = index_of(log, name);
    return want && i >= 0 && log[i].algo == "sha256" &&
           log[i].file_digest == std::vector<uint8_t>(want->begin(), want->end());
}

// name -> inode of the pins now, and as `ls -i` listed them before switch_root.
std::map<std::string, unsigned long> pins_now() {
    std::map<std::string, unsigned long> out;
    DIR *d = opendir(kPins.c_str());
    if (!d)
        return out;
    while (dirent *e = readdir(d)) {
        if (e->d_name[0] == '.')
            continue;
        struct stat st {};
        if (stat((kPins + "/" + e->d_name).c_str(), &st) == 0)
            out[e->d_name] = st.st_ino;
    }
    closedir(d);
    return out;
}

std::map<std::string, unsigned long> pins_before() {
    std::map<std::string, unsigned long> out;
    std::ifstream in(kStagePins);
    unsigned long ino;
    std::string name;
    while (in >> ino >> name)
        out[name] = ino;
    return out;
}

} // namespace

int main() {
    const char *stage = std::getenv("VOUCH_STAGE");
    if (!stage || std::strcmp(stage, "switched") != 0) {
        // Needs a boot of its own; make check gives it one.
        std::printf("TAP version 13\n1..0 # SKIP needs a boot through the initramfs stage "
                    "(run-vm --only vouchd_initramfs)\n");
        return 0;
    }
    Tap t("vouchd_initramfs", 13);

    // Before vouchd runs: the stage's log is there, and the pins are the
    // ones the stage made (the same inodes: moved with /sys, not remade).
    auto staged = read_log(kBinLog);
    auto before = pins_before(), now = pins_now();
    bool same_pins = !before.empty() && before == now && now.count("vouch_config") == 1;
    if (t.broken())
        same_pins = !same_pins;
    if (!t.ok(same_pins, "the stage's pins are in place after switch_root, the same inodes")) {
        t.diag("before: %zu pins, now: %zu", before.size(), now.size());
        std::ifstream in(kStagePins);
        std::stringstream ss;
        ss << in.rdbuf();
        t.diag_lines(ss.str());
    }
    std::string rc, out;
    {
        std::ifstream in("/run/vouch-stage-rc");
        std::getline(in, rc);
        std::ifstream o("/run/vouch-stage.out");
        std::stringstream ss;
        ss << o.rdbuf();
        out = ss.str();
    }
    if (!t.ok(rc == "0" && out.find("audit mode, no policy") != std::string::npos &&
                  !staged.empty() && index_of(staged, "/before-switch-root") < 0 &&
                  index_of(staged, "/usr/bin/vouchd") > 0,
              "vouchd --initramfs exited 0 in audit mode without a policy and left its log in "
              "/run/vouch (%zu entries); the programs after it are not in it yet",
              staged.size()))
        t.diag_lines("exit status " + rc + ": " + out);

    Vouchd d(
        {"--no-bus", "--pin-dir", kPins, "--log-dir", kLogDir, "--policy", "", "--tcti", kTcti});
    if (!t.ok(d.start({}), "vouchd in the new root starts")) {
        t.diag_lines(d.output());
        t.bail("vouchd did not start");
    }
    t.ok(d.output().find("reattached to " + kPins) != std::string::npos,
         "it reattaches to the stage's pins");

    auto klog = read_log(kKernelLog);
    auto log = read_log(kBinLog);
    bool starts_ba = !klog.empty() && !log.empty() && klog[0].path == "boot_aggregate" &&
                     log[0].template_data == klog[0].template_data &&
                     log[0].template_sha1 == klog[0].template_sha1;
    bool same_start = log.size() >= staged.size();
    for (size_t i = 0; same_start && i < staged.size(); ++i)
        same_start = log[i].template_sha1 == staged[i].template_sha1;
    t.ok(starts_ba && same_start,
         "the log starts with the kernel's boot_aggregate and continues the stage's entries");

    // The order things ran in: the stage (its records first after
    // boot_aggregate: measuring started in the initramfs, a vouchd started;
    // then vouchd itself), the program before switch_root, the one after it,
    // and this test, the last two exec'd while no vouchd ran.
    const std::string self = "/usr/lib/vouch/selftests/vouchd_initramfs";
    auto is_record = [&](size_t i, const char *name, const std::string &content) {
        return log.size() > i && log[i].template_name == ima::kImaBuf && log[i].path == name &&
               std::string(log[i].buf.begin(), log[i].buf.end()) == content;
    };
    bool have_records = is_record(1, records::kMeasureStart, "stage=initramfs") &&
                        is_record(2, records::kVouchdStart, "start");
    size_t starts = 0;
    for (const auto &e : log)
        starts += e.template_name == ima::kImaBuf && e.path == records::kMeasureStart;
    t.ok(have_records && starts == 1,
         "first after boot_aggregate: the stage's records vouch-measure-start stage=initramfs "
         "and vouchd-start; the reattach adds no second vouch-measure-start");
    long i_stage = index_of(log, "/usr/bin/vouchd"),
         i_before = index_of(log, "/before-switch-root"),
         i_after = index_of(log, "/after-switch-root"), i_self = index_of(log, self);
    bool order = i_stage == 3 && i_before > i_stage && i_after > i_before && i_self > i_after;
    if (!t.ok(order, "in the order they ran: boot_aggregate, the stage (its records, vouchd), "
                     "the program before switch_root, the one after it, this test")) {
        t.diag("indexes: vouchd %ld, before %ld, after %ld, test %ld", i_stage, i_before, i_after,
               i_self);
        for (size_t i = 0; i < log.size() && i < 12; ++i)
            t.diag("%zu %s", i, log[i].path.c_str());
    }
    t.ok(logged_as_file(log, "/before-switch-root", "/usr/lib/vouch/selftests/helpers/true") &&
             logged_as_file(log, "/after-switch-root", "/after-switch-root") &&
             logged_as_file(log, self, "/proc/self/exe"),
         "the programs queued while no vouchd ran are logged with their files' SHA-256, under "
         "their paths in the root they ran in");

    bool lost = false;
    for (const auto &e : log)
        lost |= e.path.rfind("vouch:lost-events:", 0) == 0;
    KernelSideOptions o;
    o.pin_dir = kPins;
    auto ks = KernelSide::load(o);
    auto st = ks ? (*ks)->stats() : Result<vouch_stats>(make_error(0, "no reattach"));
    bool none_lost = !lost && st && st->ringbuf_drops == 0;
    if (!t.ok(none_lost, "no event was lost between the stage and vouchd")) {
        if (st)
            t.diag("ringbuf_drops %llu", (unsigned long long)st->ringbuf_drops);
    }
    ks = make_error(0, "");

    bool verifies = wait_until(
        [] {
            return exit_status(run({"/usr/bin/vouchctl", "log", "verify", "--file", kBinLog,
                                    "--tcti", kTcti})) == 0;
        },
        30000);
    t.ok(verifies, "the whole log, the stage's entries too, replays against the TPM's PCR 10 "
                   "(vouchctl log verify)");

    d.kill_it(SIGTERM);

    // A stale initramfs (an older kernel's image, which update-initramfs
    // leaves as it is) pins an incompatible kernel side: vouchd replaces the
    // audit-mode pins, says so, and the log shows the gap. The ABI version
    // the pins carry stands in for an older build's.
    bool marked = false;
    {
        UniqueFd fd(bpf_obj_get((kPins + "/vouch_config").c_str()));
        uint32_t key = 0;
        vouch_config c{};
        if (fd && bpf_map_lookup_elem(fd.get(), &key, &c) == 0) {
            c.abi_version += 1000;
            marked = bpf_map_update_elem(fd.get(), &key, &c, BPF_ANY) == 0;
        }
    }
    size_t before_replace = read_log(kBinLog).size();
    Vouchd d2(
        {"--no-bus", "--pin-dir", kPins, "--log-dir", kLogDir, "--policy", "", "--tcti", kTcti});
    bool started = marked && d2.start({});
    std::string out2 = d2.output();
    bool replaced = started && out2.find("replaced the pins at " + kPins) != std::string::npos &&
                    out2.find("incompatible vouch (ABI") != std::string::npos &&
                    out2.find("vouchd: loaded " + kPins) != std::string::npos;
    if (!t.ok(replaced, "pins of an incompatible vouch (a stale initramfs) are replaced, and "
                        "vouchd says why and what to rebuild"))
        t.diag_lines(out2);
    TempDir dir;
    std::string later = dir.file("after-replace");
    bool ran = copy_file(helper("true"), later, "after-replace") && exit_status(run({later})) == 0;
    auto log2 = read_log(kBinLog);
    long i_gap = index_of(log2, "vouch:replaced-incompatible-pins");
    bool gap = i_gap >= static_cast<long>(before_replace) &&
               log2[i_gap].file_digest == std::vector<uint8_t>(32, 0);
    bool later_logged = ran && wait_until(
                                   [&] {
                                       log2 = read_log(kBinLog);
                                       return index_of(log2, later) > i_gap;
                                   },
                                   10000);
    bool fresh =
        log2.size() > static_cast<size_t>(i_gap) + 1 &&
        log2[i_gap + 1].path == records::kMeasureStart &&
        std::string(log2[i_gap + 1].buf.begin(), log2[i_gap + 1].buf.end()) == "stage=vouchd";
    t.ok(gap && fresh && later_logged && log2[0].template_sha1 == log[0].template_sha1,
         "the same log goes on: a violation entry marks the replaced pins' lost events, "
         "vouch-measure-start stage=vouchd follows, and what runs next is logged after it");
    t.ok(wait_until(
             [] {
                 return exit_status(run({"/usr/bin/vouchctl", "log", "verify", "--file", kBinLog,
                                         "--tcti", kTcti})) == 0;
             },
             30000),
         "and it still replays against the TPM");
    d2.kill_it(SIGTERM);
    return t.finish();
}
