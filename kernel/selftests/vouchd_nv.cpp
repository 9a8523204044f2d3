// SPDX-License-Identifier: Apache-2.0
// The policy serial's floor in the TPM (issue #14): vouchd keeps the highest
// serial it accepted in an NV index as well as on disk, so an offline
// attacker who rolls the disk back (the serial file lowered or deleted, an
// older genuinely signed policy put in place) is refused after a "reboot"
// (here: vouchd stopped and the kernel side unpinned, so the kernel's trust
// state is gone as after a real reboot). Root on the running machine can
// lower the index (its authValue is empty): the documented limit, shown. A
// TPM that appears after vouchd started joins the floor then, and an active
// policy below it is reported.
// The Protection property (vouchctl status) says which protection is active.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "lib/file_io.h"
#include "lib/pins.h"
#include "lib/tpm.h"
#include "kernel/selftests/lib/nv.h"
#include "kernel/selftests/lib/policy_env.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"
#include "kernel/selftests/lib/vouchd.h"
#include "vouchd/nv_serial.h"

using namespace vouch;
using namespace vouch::selftest;
namespace fs = std::filesystem;

namespace {

const std::string kPins = "/sys/fs/bpf/vouch-nv";
const std::string kWork = "/run/vouch-nv-test";
const std::string kState = kWork + "/state";

int vouchctl(const std::vector<std::string> &args, std::string *out) {
    std::string cmd = "/usr/bin/vouchctl";
    for (const auto &a : args)
        cmd += " '" + a + "'";
    cmd += " >/tmp/vouchctl-nv.out 2>&1";
    int rc = std::system(cmd.c_str());
    std::ifstream in("/tmp/vouchctl-nv.out");
    out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// The serial the NV index holds, -1 if it cannot be read.
long long nv_value() {
    auto tpm = Tpm::open(kVmTcti);
    if (!tpm)
        return -1;
    auto b = (*tpm)->nv_read(kNvSerialIndex, kNvSerialSize);
    if (!b)
        return -1;
    long long v = 0;
    for (uint8_t x : *b)
        v = v << 8 | x;
    return v;
}

} // namespace

int main() {
    Tap t("vouchd_nv", 10);
    (void)unpin(kPins);
    std::error_code ec;
    fs::remove_all(kWork, ec);
    fs::create_directories(kWork);
    if (std::string why = nv_reset(); !why.empty())
        t.bail("cannot reset the NV index: " + why);
    const std::string keys = self_dir() + "/keys";
    const std::string owner_key = keys + "/ecdsa-p256.key";

    // A private bus, for the Protection property.
    pid_t bus = start_private_bus(kWork);
    if (bus < 0)
        t.bail("no dbus-daemon");

    TempDir dir;
    const std::string listed = dir.file("listed");
    if (!copy_file(helper("true"), listed, "nv listed"))
        t.bail("cannot create test files");
    char exe[4096] = {};
    if (readlink("/proc/self/exe", exe, sizeof(exe) - 1) <= 0)
        t.bail("readlink /proc/self/exe");
    const std::string pol = kWork + "/policy.dsse";
    auto policy = [&](uint64_t serial) {
        return signed_policy(t, serial, VOUCH_MODE_AUDIT, {listed}, exe, owner_key);
    };
    // PCR 14, one of its own: the VM's TPM is shared, and vouchd_log replays
    // PCR 10 from its reset value.
    std::vector<std::string> opts = {
        "--user-bus", "--tcti",       kVmTcti,           "--pin-dir", kPins,
        "--log-dir",  kWork + "/log", "--state-dir",     kState,      "--policy",
        pol,          "--keys-dir",   keys + "/trusted", "--pcr",     "14"};
    Vouchd d(opts);
    std::string out;
    // Stops vouchd and removes the kernel side: what a reboot does to the
    // kernel's trust state. The log goes too (a reboot starts a new one).
    auto reboot = [&] {
        d.kill_it(SIGTERM);
        if (std::string why = switch_off(kPins); !why.empty())
            t.diag("switch off: %s", why.c_str());
        fs::remove_all(kWork + "/log", ec);
    };
    auto status = [&] {
        std::string s;
        (void)vouchctl({"status", "--user-bus"}, &s);
        return s;
    };

    install(t, pol, policy(5));
    bool started = d.start({});
    int rc = vouchctl({"status", "--user-bus", "--json"}, &out);
    std::string nv5 =
        "tpm-nv 0x013a5e12 serial 5, owner password not set: root can reset the index";
    if (!t.ok(started && rc == 0 && out.find("\"PolicySerial\": 5") != std::string::npos &&
                  out.find("\"serial\": \"" + nv5 + "\"") != std::string::npos && nv_value() == 5,
              "serial 5 activated with a TPM: vouchd defined the NV index 0x013a5e12, which "
              "holds 5, and Protection says so"))
        t.diag_lines(out + "\n" + d.output());
    std::string human = status();
    if (!t.ok(human.find("Protection    trust-state: none: audit mode") != std::string::npos &&
                  human.find("serial: tpm-nv 0x013a5e12 serial 5,") != std::string::npos,
              "vouchctl status prints the Protection entries"))
        t.diag_lines(human);

    // The offline attacker: the serial file lowered to 1, a genuine older
    // policy (serial 3) in place.
    reboot();
    install(t, pol, policy(3));
    if (!write_file_atomic(kState + "/policy-serial", "1\n", 0600))
        t.bail("cannot write the serial file");
    size_t mark = d.output().size();
    started = d.start({});
    rc = vouchctl({"status", "--user-bus", "--json"}, &out);
    if (!t.ok(started &&
                  d.output().find("policy serial 3 is older than serial 5 recorded in TPM NV "
                                  "index 0x013a5e12: rolled back?",
                                  mark) != std::string::npos &&
                  rc == 0 && out.find("\"PolicySerial\": 0") != std::string::npos &&
                  nv_value() == 5,
              "disk rolled back to serial 1 with an older genuine policy (serial 3): refused "
              "with the NV message, no policy is active, the index still holds 5"))
        t.diag_lines(d.output().substr(mark) + "\n" + out);

    // The same with the serial file deleted.
    reboot();
    fs::remove(kState + "/policy-serial", ec);
    fs::remove(kState + "/accepted-policy.dsse", ec);
    mark = d.output().size();
    started = d.start({});
    if (!t.ok(started &&
                  d.output().find("older than serial 5 recorded in TPM NV index", mark) !=
                      std::string::npos &&
                  !fs::exists(kState + "/policy-serial"),
              "serial file deleted: serial 3 refused the same way"))
        t.diag_lines(d.output().substr(mark));

    // A newer policy is accepted and raises both.
    mark = d.output().size();
    install(t, pol, policy(6));
    kill(d.pid, SIGHUP);
    bool active = wait_for_output(d, "policy serial 6 active", mark);
    auto disk = read_file(kState + "/policy-serial", 64);
    if (!t.ok(active && nv_value() == 6 && disk && *disk == "6\n",
              "serial 6 (SIGHUP) is accepted: disk and NV index hold 6"))
        t.diag_lines(d.output().substr(mark));

    // After a reboot, with the disk's serial gone and no policy file: an
    // update to serial 3 over D-Bus is refused as Rollback naming the index
    // (within the boot the kernel's trust state refuses it first).
    reboot();
    fs::remove(kState + "/policy-serial", ec);
    fs::remove(kState + "/accepted-policy.dsse", ec);
    std::vector<std::string> no_file = opts;
    for (size_t i = 0; i + 1 < no_file.size(); ++i)
        if (no_file[i] == "--policy")
            no_file[i + 1] = "";
    Vouchd bare(no_file);
    const std::string pol3 = kWork + "/p3.dsse";
    install(t, pol3, policy(3));
    started = bare.start({});
    rc = vouchctl({"policy", "update", "--user-bus", pol3}, &out);
    std::string st;
    (void)vouchctl({"status", "--user-bus", "--json"}, &st);
    if (!t.ok(started && rc == 5 &&
                  out.find("policy serial 3 is older than serial 6 recorded in TPM NV index "
                           "0x013a5e12") != std::string::npos &&
                  st.find("\"PolicySerial\": 0") != std::string::npos,
              "after a reboot with the disk's serial deleted, policy update to serial 3 over "
              "D-Bus: refused as Rollback (exit 5) naming the NV index; nothing activated"))
        t.diag_lines(out + "\n" + bare.output());
    bare.kill_it(SIGTERM);
    if (std::string why = switch_off(kPins); !why.empty())
        t.diag("switch off: %s", why.c_str());
    fs::remove_all(kWork + "/log", ec);
    // The disk as the no-TPM start below expects it: serial 6 deployed.
    if (!write_file_atomic(kState + "/policy-serial", "6\n", 0600))
        t.bail("cannot write the serial file");

    // Without a TPM the report says disk only.
    Vouchd nodev({"--user-bus", "--pcr", "14", "--tcti", "device:/dev/vouch-no-such-tpm",
                  "--pin-dir", kPins, "--log-dir", kWork + "/log", "--state-dir", kState,
                  "--policy", pol, "--keys-dir", keys + "/trusted"});
    started = nodev.start({});
    rc = vouchctl({"status", "--user-bus", "--json"}, &out);
    if (!t.ok(
            started && rc == 0 &&
                out.find("\"serial\": \"disk only: no TPM: ") != std::string::npos &&
                out.find("\"PolicySerial\": 6") != std::string::npos,
            "with no TPM at the TCTI: Protection says \"disk only: no TPM: ...\", the disk's floor "
            "holds"))
        t.diag_lines(out + "\n" + nodev.output());
    nodev.kill_it(SIGTERM);
    if (std::string why = switch_off(kPins); !why.empty())
        t.diag("switch off: %s", why.c_str());
    fs::remove_all(kWork + "/log", ec);

    // The documented limit: root on the running machine writes the index
    // (empty authValue), and with the disk lowered too, serial 3 passes.
    // Protection names the reason: no owner password.
    {
        auto tpm = Tpm::open(kVmTcti);
        bool lowered = tpm && (*tpm)->nv_write(kNvSerialIndex, {0, 0, 0, 0, 0, 0, 0, 2});
        if (!lowered)
            t.bail("cannot write the NV index as root");
    }
    fs::remove(kState + "/policy-serial", ec);
    fs::remove(kState + "/accepted-policy.dsse", ec);
    install(t, pol, policy(3));
    mark = d.output().size();
    started = d.start({});
    rc = vouchctl({"status", "--user-bus", "--json"}, &out);
    if (!t.ok(started && out.find("\"PolicySerial\": 3") != std::string::npos &&
                  out.find("tpm-nv 0x013a5e12 serial 3, owner password not set: root can reset the "
                           "index") != std::string::npos &&
                  nv_value() == 3,
              "documented limit: root lowers the index (empty authValue) and the disk: serial 3 is "
              "accepted, and Protection says root can reset the index"))
        t.diag_lines(out + "\n" + d.output().substr(mark));

    // A TPM that appears only after vouchd started (its device node comes
    // late): serial 3 is activated on the disk's floor alone; when the TPM
    // answers, the index (8, raised by root meanwhile) joins the floor, the
    // active policy below it is reported loudly and stays, and serial 3 is
    // no longer accepted.
    reboot();
    {
        auto tpm = Tpm::open(kVmTcti);
        if (!(tpm && (*tpm)->nv_write(kNvSerialIndex, {0, 0, 0, 0, 0, 0, 0, 8})))
            t.bail("cannot write the NV index as root");
    }
    const std::string late_dev = kWork + "/tpm-late";
    std::vector<std::string> late_opts = opts;
    for (size_t i = 0; i + 1 < late_opts.size(); ++i)
        if (late_opts[i] == "--tcti")
            late_opts[i + 1] = "device:" + late_dev;
    Vouchd late(late_opts);
    mark = late.output().size();
    started = late.start({});
    (void)vouchctl({"status", "--user-bus", "--json"}, &out);
    bool disk_only = out.find("\"serial\": \"disk only: no TPM: ") != std::string::npos &&
                     out.find("\"PolicySerial\": 3") != std::string::npos;
    if (symlink("/dev/tpmrm0", late_dev.c_str()) != 0)
        t.bail("symlink " + late_dev);
    bool reported = wait_for_output(late, "the active policy's serial 3 is below it", mark);
    (void)vouchctl({"status", "--user-bus", "--json"}, &out);
    if (!t.ok(started && disk_only && reported &&
                  out.find("tpm-nv 0x013a5e12 serial 8, owner password not set: root can reset "
                           "the index; the active policy's serial 3 is below it") !=
                      std::string::npos &&
                  out.find("\"PolicySerial\": 3") != std::string::npos,
              "a TPM that appears after the start: Protection goes from disk only to the index "
              "(serial 8), reports the active serial 3 below it, and serial 3 stays active"))
        t.diag_lines(out + "\n" + late.output().substr(mark));
    mark = late.output().size();
    kill(late.pid, SIGHUP);
    if (!t.ok(wait_for_output(late, "reload refused", mark) &&
                  late.output().find("older than serial 8 recorded in TPM NV index", mark) !=
                      std::string::npos,
              "then serial 3 is no longer accepted: a reload is refused naming the index"))
        t.diag_lines(late.output().substr(mark));
    late.kill_it(SIGTERM);
    if (std::string why = switch_off(kPins); !why.empty())
        t.diag("switch off: %s", why.c_str());

    if (std::string why = nv_reset(); !why.empty())
        t.diag("cleanup: %s", why.c_str());
    kill(bus, SIGTERM);
    waitpid(bus, nullptr, 0);
    fs::remove_all(kWork, ec);
    return t.finish();
}
