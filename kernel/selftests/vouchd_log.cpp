// SPDX-License-Identifier: Apache-2.0
// vouchd end to end on a real kernel and TPM (swtpm): its log starts with the
// kernel's boot_aggregate, records every new executable as the kernel's IMA
// would (same digest, same template hash), replays to the TPM's PCR 10 as
// evmctl checks it, survives vouchd being killed mid-run, turns events
// lost to a full ring buffer into violation entries, and takes the kernel
// IMA's own violations on PCR 10 into its log where the PCR saw them.
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "lib/digest.h"
#include "lib/ima_log.h"
#include "lib/measurement_log.h"
#include "kernel/selftests/lib/evmctl.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"
#include "kernel/selftests/lib/vouchd.h"
#include "lib/tpm.h"
#include "lib/utf8.h"
#include "lib/vouch_records.h"

using namespace vouch;
using namespace vouch::selftest;

namespace {

const std::string kPins = "/sys/fs/bpf/vouch-vouchd";
const std::string kLogDir = "/run/vouch-selftest";

// FS_APPEND_FL through the generic attribute ioctl (chattr +a / -a).
bool set_append_only(const std::string &path, bool on) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    int flags = 0;
    bool ok = ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
    flags = on ? (flags | FS_APPEND_FL) : (flags & ~FS_APPEND_FL);
    ok = ok && ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
    close(fd);
    return ok;
}

// The name as IMA's name field holds it.
std::string ima_name(std::string path) {
    for (char &c : path)
        if (c == ' ')
            c = '_';
    return path;
}

bool read_file_to(const std::string &path, std::string &out) {
    std::ifstream in(path, std::ios::binary);
    out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return static_cast<bool>(in) || in.eof();
}

const std::string kBinLog = kLogDir + "/binary_runtime_measurements";
const std::string kKernelLog = "/sys/kernel/security/ima/binary_runtime_measurements";
const std::string kTcti = "device:/dev/tpmrm0";
constexpr uint32_t kPcr = 10;

std::vector<ima::Entry> read_log(const std::string &path) {
    auto e = read_binary_log(path);
    return e ? *e : std::vector<ima::Entry>{};
}

const ima::Entry *find_path(const std::vector<ima::Entry> &log, const std::string &path) {
    for (const auto &e : log)
        if (e.path == path)
            return &e;
    return nullptr;
}

size_t count_path(const std::vector<ima::Entry> &log, const std::string &path) {
    size_t n = 0;
    for (const auto &e : log)
        n += e.path == path;
    return n;
}

bool log_verifies() {
    return exit_status(run(
               {"/usr/bin/vouchctl", "log", "verify", "--file", kBinLog, "--tcti", kTcti})) == 0;
}

} // namespace

int main() {
    Tap t("vouchd_log", 28);
    (void)vouch::unpin(kPins);
    TempDir dir;

    // The kernel's IMA measures the same execs with ima-ng, into PCR 11 so
    // that PCR 10 holds only boot_aggregate and vouch's log.
    if (std::string why = ima_measure_execs(); !why.empty())
        t.bail(why);

    // Already running when vouchd starts, with no hooks attached: a program
    // (busybox as "sleep", under a new path) and a process that has a
    // library mapped executable (dlopen in a child of this test).
    std::string early_dir = dir.file("early");
    mkdir(early_dir.c_str(), 0755);
    std::string early_prog = early_dir + "/sleep", early_lib = early_dir + "/libearly.so";
    if (!copy_file("/bin/busybox", early_prog, "") ||
        !copy_file(helper("libvouchtest.so"), early_lib, "early"))
        t.bail("cannot create the early files");
    pid_t early_sleep = fork();
    if (early_sleep == 0) {
        execl(early_prog.c_str(), "sleep", "600", (char *)nullptr);
        _exit(127);
    }
    int ready[2];
    if (pipe(ready))
        t.bail("pipe");
    pid_t early_map = fork();
    if (early_map == 0) {
        bool loaded = dlopen(early_lib.c_str(), RTLD_NOW) != nullptr;
        (void)!write(ready[1], &loaded, 1);
        pause();
        _exit(0);
    }
    bool lib_loaded = false;
    (void)!read(ready[0], &lib_loaded, 1);
    close(ready[0]);
    close(ready[1]);

    Vouchd d(
        {"--no-bus", "--pin-dir", kPins, "--log-dir", kLogDir, "--policy", "", "--tcti", kTcti});
    if (!t.ok(d.start({}), "vouchd starts and reports READY=1 through NOTIFY_SOCKET")) {
        t.diag("%s", d.output().c_str());
        t.bail("vouchd did not start");
    }
    auto klog = read_log(kKernelLog);
    auto log = read_log(kBinLog);
    bool starts_ba = !klog.empty() && !log.empty() && klog[0].path == "boot_aggregate" &&
                     log[0].template_data == klog[0].template_data &&
                     log[0].template_sha1 == klog[0].template_sha1;
    if (t.broken())
        starts_ba = !starts_ba;
    t.ok(starts_ba, "vouch's log starts with the kernel's boot_aggregate entry");
    auto is_record = [](const ima::Entry &e, const char *name, const std::string &content) {
        return e.template_name == ima::kImaBuf && e.path == name &&
               std::string(e.buf.begin(), e.buf.end()) == content;
    };
    t.ok(log.size() > 3 &&
             is_record(log[1], records::kMeasureStart, records::measure_start("vouchd")) &&
             is_record(log[2], records::kVouchdStart, records::vouchd_start()) &&
             log[3].template_name != ima::kImaBuf,
         "then vouch-measure-start (stage=vouchd) and vouchd-start, before what runs");

    auto logged_as_file = [&](const std::vector<ima::Entry> &l, const std::string &f) {
        auto want = sha256_file(f);
        const ima::Entry *e = find_path(l, f);
        return want && e && count_path(l, f) == 1 && e->algo == "sha256" &&
               e->file_digest == std::vector<uint8_t>(want->begin(), want->end());
    };
    t.ok(lib_loaded && logged_as_file(log, early_prog) && logged_as_file(log, early_lib),
         "what ran before vouchd started is logged at its start, once each: a running program "
         "and a library mapped executable, with their files' SHA-256");

    // New executables: each logged once, with its SHA-256, as IMA would.
    // The last one has spaces in its name: IMA logs each as '_' (the ASCII
    // log's fields are space-separated), in the template hash too.
    std::vector<std::string> files;
    for (int i = 0; i < 5; ++i) {
        files.push_back(dir.file(i == 4 ? "prog with spaces" : "prog" + std::to_string(i)));
        if (!copy_file(helper("true"), files.back(), "vouchd_log " + std::to_string(i)))
            t.bail("cannot create test files");
    }
    bool ran = true;
    for (const auto &f : files)
        ran &= exit_status(run({f})) == 0 && exit_status(run({f})) == 0;
    bool logged = wait_until(
        [&] {
            log = read_log(kBinLog);
            for (const auto &f : files)
                if (count_path(log, ima_name(f)) != 1)
                    return false;
            return true;
        },
        10000);
    t.ok(ran && logged, "5 new programs, each run twice, are logged once each");
    bool digests = logged;
    for (const auto &f : files) {
        auto want = sha256_file(f);
        const ima::Entry *e = find_path(log, ima_name(f));
        digests &= want && e && e->algo == "sha256" &&
                   e->file_digest == std::vector<uint8_t>(want->begin(), want->end()) &&
                   e->template_name == "ima-ng" && e->pcr == kPcr;
    }
    t.ok(digests, "their entries: PCR 10, ima-ng, sha256 digest equal to the file's");

    klog = read_log(kKernelLog);
    auto same_as_kernel = [&](const std::string &f) {
        const ima::Entry *ke = find_path(klog, ima_name(f));
        const ima::Entry *ve = find_path(log, ima_name(f));
        bool same = ke && ve && ke->template_name == "ima-ng" &&
                    ke->file_digest == ve->file_digest && ke->template_sha1 == ve->template_sha1 &&
                    ke->template_data == ve->template_data;
        if (!same)
            t.diag("%s: kernel %s, vouch %s", f.c_str(),
                   ke ? to_hex(ke->template_sha1).c_str() : "(no entry)",
                   ve ? to_hex(ve->template_sha1).c_str() : "(no entry)");
        return same;
    };
    t.ok(same_as_kernel(files[0]),
         "the kernel's IMA entry for the same exec has the same digest and template hash");
    std::string ascii_text;
    (void)read_file_to(kLogDir + "/ascii_runtime_measurements", ascii_text);
    t.ok(same_as_kernel(files[4]) &&
             ascii_text.find(ima_name(files[4]) + "\n") != std::string::npos &&
             ascii_text.find(files[4]) == std::string::npos,
         "a name with spaces is logged as the kernel's IMA logs it ('_' for each space): same "
         "template hash, one field in the ASCII log");

    // Names the kernel's IMA writes as they are (only ' ' becomes '_'): a
    // newline, a tab, control bytes, bytes that are not UTF-8. vouch's
    // entries must be the kernel's byte for byte, binary and ASCII.
    std::vector<std::string> odd = {dir.file("nl\nname"), dir.file("tab\tname"),
                                    dir.file(std::string("ctl\x01\x1b[1mname")),
                                    dir.file("bad\xff\xfeutf8"), dir.file("ends\n")};
    for (size_t i = 0; i < odd.size(); ++i)
        if (!copy_file(helper("true"), odd[i], "vouchd_log odd " + std::to_string(i)))
            t.bail("cannot create test files");
    bool odd_ran = true;
    for (const auto &f : odd)
        odd_ran &= exit_status(run({f})) == 0;
    bool odd_logged = wait_until(
        [&] {
            log = read_log(kBinLog);
            for (const auto &f : odd)
                if (count_path(log, f) != 1)
                    return false;
            return true;
        },
        10000);
    klog = read_log(kKernelLog);
    bool odd_same = odd_ran && odd_logged;
    for (const auto &f : odd)
        odd_same &= same_as_kernel(f);
    if (t.broken())
        odd_same = !odd_same;
    t.ok(odd_same, "names with a newline, a tab, control bytes, bytes that are not UTF-8: the "
                   "same binary entry (template data, template hash) as the kernel's IMA");

    // The ASCII logs: the kernel prints the name as it is, so an entry with
    // a newline spans two lines; vouch's line is the kernel's (PCR apart),
    // and vouch's ASCII log reads back into its binary log's entries.
    std::string kascii, vascii;
    (void)read_file_to("/sys/kernel/security/ima/ascii_runtime_measurements", kascii);
    (void)read_file_to(kLogDir + "/ascii_runtime_measurements", vascii);
    bool ascii_same = !kascii.empty() && !vascii.empty();
    for (const auto &f : odd) {
        const ima::Entry *ke = find_path(klog, f);
        const ima::Entry *ve = find_path(log, f);
        if (!ke || !ve) {
            ascii_same = false;
            continue;
        }
        std::string kline = ima::encode_ascii(*ke), vline = ima::encode_ascii(*ve);
        bool k_has = kascii.find(kline) != std::string::npos;
        bool v_has = vascii.find(vline) != std::string::npos;
        bool pcr_apart = kline.substr(3) == vline.substr(3);
        if (!k_has || !v_has || !pcr_apart)
            t.diag("%s: kernel's line %s, vouch's %s, equal apart from the PCR: %s",
                   utf8_safe(f).c_str(), k_has ? "found" : "not found",
                   v_has ? "found" : "not found", pcr_apart ? "yes" : "no");
        ascii_same &= k_has && v_has && pcr_apart;
        if (f == odd[0])
            t.diag("the kernel's ASCII entry for it, escaped: %s", printable(kline).c_str());
    }
    ascii_same &= kascii.find(odd[0] + "\n") != std::string::npos;
    auto reread = ima::parse_ascii(vascii);
    bool reread_same = reread && reread->size() == log.size();
    for (size_t i = 0; reread_same && i < log.size(); ++i)
        reread_same =
            (*reread)[i].path == log[i].path && (*reread)[i].template_sha1 == log[i].template_sha1;
    if (!reread)
        t.diag("vouch's ASCII log: %s", reread.error().message.c_str());
    else if (!reread_same)
        t.diag("vouch's ASCII log reads back as %zu entries, its binary log has %zu",
               reread->size(), log.size());
    t.ok(ascii_same && reread_same,
         "their ASCII lines are the kernel's byte for byte (a newline printed as it is), and "
         "vouch's ASCII log parses back into the binary log's entries");

    t.ok(wait_until(log_verifies, 30000), "vouchctl log verify: the log replays to the TPM");
    // The TPM connection's change to ok is journaled; without journald (this
    // VM) vouchd echoes the record's message to its stderr.
    t.ok(wait_for_output(d, "vouchd: TPM ok", 0),
         "the TPM state change to ok is journaled (echoed to stderr without journald)");
    t.ok(evmctl_validates(t, kTcti, kPcr, kBinLog) &&
             !evmctl_validates(t, kTcti, kPcr, kBinLog, true),
         "evmctl ima_measurement validates the log against the TPM (and rejects a wrong PCR)");

    // A ToMToU: a program mapped executable, then its file opened for write.
    // The kernel's IMA logs a violation entry for it, and so does vouchd.
    {
        const std::string mapped = dir.file("tomtou"), marker = mapped + ".mapped";
        if (!copy_file(helper("true"), mapped, "vouchd_log tomtou"))
            t.bail("cannot create test files");
        pid_t holder = fork();
        if (holder == 0) {
            execl(helper("inject").c_str(), "inject", "mapexec", mapped.c_str(), (char *)nullptr);
            _exit(127);
        }
        struct stat st {};
        for (int i = 0; i < 100 && stat(marker.c_str(), &st) != 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        int fd = open(mapped.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd >= 0)
            close(fd);
        kill(holder, SIGKILL);
        waitpid(holder, nullptr, 0);
        bool logged = wait_until(
            [&] {
                log = read_log(kBinLog);
                for (const auto &e : log)
                    if (e.path == mapped && e.violation)
                        return true;
                return false;
            },
            10000);
        t.ok(logged && wait_until(log_verifies, 30000),
             "a write open of a mapped program is logged as a violation entry (ToMToU), and the "
             "log still replays to the TPM");
    }

    // vouchd killed while programs keep starting; the next one continues.
    std::vector<std::string> burst;
    for (int i = 0; i < 40; ++i) {
        burst.push_back(dir.file("burst" + std::to_string(i)));
        if (!copy_file(helper("true"), burst.back(), "vouchd_log burst " + std::to_string(i)))
            t.bail("cannot create test files");
    }
    pid_t loop = fork();
    if (loop == 0) {
        for (const auto &f : burst)
            (void)run({f});
        _exit(0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    // A reader (an attestation agent) holds the ASCII log open across the
    // restart, and the file is append-only (chattr +a; tmpfs has it since
    // 6.0): a vouchd that truncated or replaced the file could not start.
    const std::string ascii = kLogDir + "/ascii_runtime_measurements";
    int reader = open(ascii.c_str(), O_RDONLY | O_CLOEXEC);
    std::string seen;
    auto read_more = [&] {
        char buf[8192];
        ssize_t n;
        while ((n = read(reader, buf, sizeof(buf))) > 0)
            seen.append(buf, static_cast<size_t>(n));
    };
    read_more();
    struct stat st_before {};
    fstat(reader, &st_before);
    bool append_only = set_append_only(ascii, true);
    d.kill_it(SIGKILL);
    bool restarted = d.start({});
    waitpid(loop, nullptr, 0);
    t.ok(restarted && d.output().find("reattached to") != std::string::npos,
         "vouchd killed mid-run restarts and reattaches");
    bool all = wait_until(
        [&] {
            log = read_log(kBinLog);
            for (const auto &f : burst)
                if (count_path(log, f) != 1)
                    return false;
            return true;
        },
        20000);
    t.ok(all, "every program started around the kill is logged exactly once");
    t.ok(count_path(log, "boot_aggregate") == 1 && log[0].path == "boot_aggregate" &&
             logged_as_file(log, early_prog) && logged_as_file(log, early_lib),
         "the restarted vouchd continued the same log (one boot_aggregate, first; the "
         "processes it found running at both starts logged once)");
    read_more();
    struct stat st_after {};
    stat(ascii.c_str(), &st_after);
    std::string now;
    (void)read_file_to(ascii, now);
    t.ok(append_only && reader >= 0 && st_after.st_ino == st_before.st_ino && seen == now &&
             seen.size() > static_cast<size_t>(st_before.st_size),
         "the ASCII log is only appended to across the restart: an append-only (chattr +a) "
         "file, a reader's descriptor reads on from its offset to the same bytes as the file");
    if (!append_only)
        t.diag("FS_APPEND_FL could not be set on %s", ascii.c_str());
    set_append_only(ascii, false);
    if (reader >= 0)
        close(reader);
    t.ok(wait_until(log_verifies, 30000) && evmctl_validates(t, kTcti, kPcr, kBinLog),
         "after the restart the log still replays to the TPM (vouchctl, evmctl)");

    // A full ring buffer: vouchd stopped, more new programs than fit.
    d.kill_it(SIGTERM);
    (void)vouch::unpin(kPins);
    std::string lost_dir = kLogDir;
    const size_t lost_mark = d.output().size();
    if (!t.ok(d.start({"--ringbuf-size", "16384"}), "vouchd with a 16 KiB ring buffer"))
        t.bail(d.output());
    kill(d.pid, SIGSTOP);
    std::vector<std::string> flood;
    for (int i = 0; i < 12; ++i) {
        flood.push_back(dir.file("flood" + std::to_string(i)));
        if (!copy_file(helper("true"), flood.back(), "vouchd_log flood " + std::to_string(i)))
            t.bail("cannot create test files");
        (void)run({flood.back()});
    }
    auto ks = KernelSide::load({.pin_dir = kPins});
    uint64_t drops = ks ? (*ks)->stats()->ringbuf_drops : 0;
    ks = make_error(0, "");
    kill(d.pid, SIGCONT);
    uint64_t violations = 0;
    size_t flooded = 0;
    wait_until(
        [&] {
            log = read_log(kBinLog);
            violations = flooded = 0;
            for (const auto &e : log) {
                if (e.violation && e.path.starts_with("vouch:lost-events:"))
                    violations += std::stoull(e.path.substr(18));
                flooded += e.path.find("/flood") != std::string::npos;
            }
            return drops > 0 && violations == drops && flooded > 0;
        },
        10000);
    // An exec is two events (bprm_check, mmap_file), so drops do not map to
    // files one to one; what must hold is that the violation entries, each
    // naming how many it stands for, add up to the events lost.
    t.diag("%llu events lost, %llu counted in violation entries, %zu flood programs logged",
           (unsigned long long)drops, (unsigned long long)violations, flooded);
    t.ok(drops > 0 && violations == drops && flooded > 0,
         "every event lost to the full ring buffer is counted in a violation entry; none vanishes");
    // The lost-events journal records (their messages echoed to stderr
    // here, without journald) add up to the same count.
    uint64_t journaled = 0;
    wait_until(
        [&] {
            journaled = 0;
            std::istringstream out(d.output().substr(lost_mark));
            for (std::string line; std::getline(out, line);)
                if (line.starts_with("vouchd: ") &&
                    line.find(" events lost (the kernel's ring buffer was full)") !=
                        std::string::npos)
                    journaled += std::strtoull(line.c_str() + 8, nullptr, 10);
            return journaled == drops;
        },
        5000);
    t.ok(drops > 0 && journaled == drops,
         "the lost-events journal records count them too (%llu of %llu)",
         (unsigned long long)journaled, (unsigned long long)drops);
    t.ok(wait_until(log_verifies, 30000) && evmctl_validates(t, kTcti, kPcr, kBinLog),
         "with violations (extended as all-ones) the log still replays to the TPM");
    t.ok(d.pid > 0, "vouchd is still running");

    // The kernel's IMA measures reads of kKernelImaOwner's files into PCR
    // 11, but its violations go to PCR 10, vouch's: open_writers (a read
    // open while a writer has the file open) and ToMToU (a write open while
    // a measured reader has it open).
    auto owned_file = [&](const std::string &name) {
        std::string f = dir.file(name);
        int fd = open(f.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        bool ok = fd >= 0 && write(fd, name.data(), name.size()) > 0;
        if (fd >= 0)
            close(fd);
        if (!ok || chown(f.c_str(), kKernelImaOwner, kKernelImaOwner) != 0)
            t.bail("cannot create " + f);
        return f;
    };
    auto open_writers = [](const std::string &f) {
        int w = open(f.c_str(), O_WRONLY | O_CLOEXEC);
        int r = open(f.c_str(), O_RDONLY | O_CLOEXEC);
        close(r);
        close(w);
    };
    auto tomtou = [](const std::string &f) {
        int r = open(f.c_str(), O_RDONLY | O_CLOEXEC);
        int w = open(f.c_str(), O_WRONLY | O_CLOEXEC);
        close(w);
        close(r);
    };
    auto kernel_violations = [&](const std::vector<std::string> &files) {
        std::vector<ima::Entry> out;
        for (const auto &e : read_log(kKernelLog))
            for (const auto &f : files)
                if (e.pcr == kPcr && e.violation && e.path == f)
                    out.push_back(e);
        return out;
    };
    auto in_vouch_log = [&](const std::vector<ima::Entry> &kernel) {
        log = read_log(kBinLog);
        // vouch's entries in the same order, byte for byte.
        size_t j = 0;
        for (const auto &e : log)
            if (j < kernel.size() && e.violation && e.template_name == kernel[j].template_name &&
                e.template_data == kernel[j].template_data && e.path == kernel[j].path)
                ++j;
        return !kernel.empty() && j == kernel.size();
    };
    const std::string ow = owned_file("open-writers"), tt = owned_file("tomtou-read");
    open_writers(ow);
    tomtou(tt);
    auto kv = kernel_violations({ow, tt});
    t.ok(kv.size() == 2 && kv[0].path == ow && kv[1].path == tt,
         "the kernel's IMA logs an open_writers and a ToMToU violation on PCR 10 (its rule says "
         "pcr=11)");
    if (kv.size() != 2)
        t.diag("kernel violations found: %zu", kv.size());
    bool placed = wait_until([&] { return in_vouch_log(kv); }, 10000);
    if (t.broken())
        placed = !placed;
    t.ok(placed, "vouch's log holds the kernel's violation entries as the kernel logged them, in "
                 "the kernel's order");
    bool verified = wait_until(log_verifies, 30000) && evmctl_validates(t, kTcti, kPcr, kBinLog);
    bool no_foreign = access((kLogDir + "/foreign_extends").c_str(), F_OK) != 0 &&
                      d.output().find("foreign-extends") == std::string::npos &&
                      d.output().find("log-mismatch") == std::string::npos;
    t.ok(verified && no_foreign,
         "the log with the kernel's entries in place replays to the TPM (vouchctl log verify, "
         "evmctl), with no foreign extends recorded and the TPM state still ok");
    // A violation while vouchd is stopped: the restarted vouchd must not
    // refuse the PCR, and puts the kernel's entry at the end of its log.
    d.kill_it(SIGTERM);
    const std::string down = owned_file("while-down");
    open_writers(down);
    auto kd = kernel_violations({down});
    bool restarted_ok = d.start({"--ringbuf-size", "16384"});
    bool down_placed = restarted_ok && wait_until([&] { return in_vouch_log(kd); }, 10000);
    t.ok(restarted_ok && down_placed && wait_until(log_verifies, 30000) &&
             evmctl_validates(t, kTcti, kPcr, kBinLog),
         "a violation while vouchd is stopped: the restarted vouchd is not refused, logs the "
         "kernel's entry, and the log replays to the TPM");
    if (!restarted_ok)
        t.diag("%s", d.output().c_str());
    d.kill_it(SIGTERM);
    (void)vouch::unpin(kPins);
    for (pid_t p : {early_sleep, early_map}) {
        kill(p, SIGKILL);
        waitpid(p, nullptr, 0);
    }
    return t.finish();
}
