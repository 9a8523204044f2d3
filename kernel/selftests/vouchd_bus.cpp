// SPDX-License-Identifier: Apache-2.0
// vouchd on a real bus (a private dbus-daemon in the VM): vouchctl status
// reads it, and `vouchctl policy update` switches the enforced list while a
// listed program keeps being executed: no listed exec is ever denied, and the
// switch takes effect at once. Then an audit policy: an unlisted program run
// many times is one WouldDeny signal (never Denied) and counted every time
// in WouldDenials.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include "lib/digest.h"
#include "lib/dbus_names.h"
#include "lib/sd_bus_ptr.h"
#include "policy/dsse.h"
#include "lib/file_io.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"
#include "kernel/selftests/lib/policy_env.h"
#include "kernel/selftests/lib/vouchd.h"

using namespace vouch;
using namespace vouch::selftest;

namespace {

const std::string kPins = "/sys/fs/bpf/vouch-bus";
const std::string kWork = "/run/vouch-bus-test";

// vouchctl with its output captured.
int vouchctl(const std::vector<std::string> &args, std::string *out) {
    std::string cmd = "/usr/bin/vouchctl";
    for (const auto &a : args)
        cmd += " '" + a + "'";
    cmd += " >/tmp/vouchctl.out 2>&1";
    int rc = std::system(cmd.c_str());
    std::ifstream in("/tmp/vouchctl.out");
    out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// The WouldDeny and Denied signals for one path, seen by a client of the
// test's bus.
struct SignalCount {
    std::string path;
    int would_deny = 0, denied = 0;
};

int count_signal(sd_bus_message *m, void *userdata, sd_bus_error *) {
    auto *c = static_cast<SignalCount *>(userdata);
    const char *path = nullptr;
    if (sd_bus_message_read(m, "s", &path) < 0 || c->path != path)
        return 0;
    if (std::strcmp(sd_bus_message_get_member(m), "WouldDeny") == 0)
        c->would_deny++;
    else
        c->denied++;
    return 0;
}

SdBus connect_bus(const std::string &address) {
    sd_bus *raw = nullptr;
    if (sd_bus_new(&raw) < 0)
        return SdBus();
    SdBus b(raw);
    if (sd_bus_set_address(raw, address.c_str()) < 0 || sd_bus_set_bus_client(raw, 1) < 0 ||
        sd_bus_start(raw) < 0)
        return SdBus();
    return b;
}

uint64_t would_denials(sd_bus *bus) {
    SdBusError e;
    uint64_t v = UINT64_MAX;
    if (sd_bus_get_property_trivial(bus, dbus::kName, dbus::kPath, dbus::kInterface, "WouldDenials",
                                    e.get(), 't', &v) < 0)
        return UINT64_MAX;
    return v;
}

} // namespace

int main() {
    Tap t("vouchd_bus", 15);
    (void)vouch::unpin(kPins);
    mkdir(kWork.c_str(), 0700);
    std::string keys = self_dir() + "/keys";
    std::string trusted = keys + "/ecdsa-p256.key";

    // A private session-type bus.
    pid_t bus = start_private_bus(kWork);
    if (!t.ok(bus > 0, "a private dbus-daemon runs"))
        t.bail("no dbus-daemon");

    TempDir dir;
    std::string listed = dir.file("listed"), other = dir.file("other");
    if (!copy_file(helper("true"), listed, "bus listed") ||
        !copy_file(helper("true"), other, "bus other"))
        t.bail("cannot create test files");
    char exe[4096] = {};
    if (readlink("/proc/self/exe", exe, sizeof(exe) - 1) <= 0)
        t.bail("readlink");

    Vouchd d({"--user-bus", "--no-tpm", "--pin-dir", kPins, "--log-dir", kWork + "/log",
              "--state-dir", kWork + "/state", "--policy", "", "--keys-dir", keys + "/trusted"});
    if (!t.ok(d.start({}), "vouchd starts on the bus"))
        t.bail(d.output());
    std::string out;
    int rc = vouchctl({"status", "--user-bus", "--json"}, &out);
    t.ok(rc == 0 && out.find("\"Mode\"") != std::string::npos &&
             out.find("audit") != std::string::npos,
         "vouchctl status --json over D-Bus: audit mode, no policy");
    if (rc != 0)
        t.diag("%s\nvouchd: %s", out.c_str(), d.output().c_str());
    // Protection's "files" entry: named, not yet refusing (audit mode).
    auto real = [](const std::string &path) {
        char *r = realpath(path.c_str(), nullptr);
        std::string out = r ? r : "(" + path + " does not exist)";
        free(r);
        return out;
    };
    auto files_entry = [&](const std::string &status) {
        size_t at = status.find("\"files\"");
        if (at == std::string::npos)
            return std::string();
        size_t end = status.find('\n', at);
        return status.substr(at, end == std::string::npos ? end : end - at);
    };
    std::string files = files_entry(out);
    t.ok(rc == 0 && files.find("\"ready: ") != std::string::npos &&
             files.find(real(keys + "/trusted")) != std::string::npos,
         "Protection's files entry in audit mode: ready, naming the keys directory");
    if (files.find("\"ready: ") == std::string::npos)
        t.diag("status: %s", out.c_str());

    // Listed exec loop running throughout both updates.
    std::atomic<bool> stop{false};
    std::atomic<int> runs{0}, failures{0};
    std::thread loop([&] {
        while (!stop) {
            if (exit_status(run({listed})) == 0)
                ++runs;
            else
                ++failures;
        }
    });
    // /bin/busybox: the shell that runs vouchctl for this test.
    std::vector<std::string> extra = {"/usr/bin/vouchctl", "/bin/busybox"};
    std::string p1 = kWork + "/p1.dsse", p2 = kWork + "/p2.dsse";
    (void)write_file_atomic(
        p1, signed_policy(t, 10, VOUCH_MODE_ENFORCE, {listed}, exe, trusted, extra), 0600);
    (void)write_file_atomic(
        p2, signed_policy(t, 11, VOUCH_MODE_ENFORCE, {listed, other}, exe, trusted, extra), 0600);

    rc = vouchctl({"policy", "update", "--user-bus", p1}, &out);
    bool denied = run({other}).exec_errno == EPERM;
    if (t.broken())
        denied = !denied;
    t.ok(rc == 0 && denied, "vouchctl policy update (serial 10, enforce): the other program is "
                            "denied at once");
    if (rc != 0)
        t.diag("%s", out.c_str());
    std::string enforcing;
    rc = vouchctl({"status", "--user-bus", "--json"}, &enforcing);
    files = files_entry(enforcing);
    bool refused = files.find("\"refused to all but vouchd: ") != std::string::npos &&
                   files.find(real(kWork + "/state")) != std::string::npos;
    if (t.broken())
        refused = !refused;
    t.ok(rc == 0 && refused, "Protection's files entry while enforcing: refused to all but vouchd");
    if (!refused)
        t.diag("status: %s", enforcing.c_str());
    rc = vouchctl({"policy", "update", "--user-bus", p2}, &out);
    t.ok(rc == 0 && exit_status(run({other})) == 0,
         "vouchctl policy update (serial 11, both listed): the other program runs");
    rc = vouchctl({"policy", "update", "--user-bus", p1}, &out);
    t.ok(rc == 5 && out.find("Rollback") != std::string::npos && exit_status(run({other})) == 0,
         "an update back to serial 10 is refused as Rollback (exit 5), serial 11 stays");
    if (rc != 5)
        t.diag("rc %d: %s", rc, out.c_str());

    // What the apt hook asks: the kernel's allow-list map answers, through
    // CheckDigests, for files and for an agent path.
    std::string fresh = dir.file("fresh");
    (void)copy_file(helper("true"), fresh, "bus fresh");
    rc = vouchctl({"policy", "check", "--user-bus", listed, other}, &out);
    int rc_fresh = vouchctl({"policy", "check", "--user-bus", listed, fresh}, &out);
    t.ok(rc == 0 && rc_fresh == 6 && out.find(fresh + " (sha256:") != std::string::npos &&
             out.find(listed + " (sha256:") == std::string::npos,
         "policy check: listed files 0, an unlisted one 6 (enforce) and named");
    if (rc != 0 || rc_fresh != 6)
        t.diag("rc %d, %d: %s", rc, rc_fresh, out.c_str());
    rc = vouchctl({"policy", "check", "--user-bus", "--agent", listed, listed}, &out);
    t.ok(rc == 6 && out.find("not as vouch's agent") != std::string::npos,
         "policy check --agent: a file listed to run but not as an agent is refused");
    std::string got = kWork + "/active.dsse";
    rc = vouchctl({"policy", "get", "--user-bus", "-o", got}, &out);
    auto a = read_file(got, 64u << 20), b = read_file(p2, 64u << 20);
    t.ok(rc == 0 && a && b && *a == *b, "policy get returns the active envelope (serial 11) byte "
                                        "for byte");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop = true;
    loop.join();
    t.ok(runs > 0 && failures == 0, "the listed program ran %d times meanwhile, never denied",
         runs.load());

    // Staged rollout: an audit policy that does not list `unlisted`. Each
    // exec runs; vouchd reports the file once (the kernel side sends one
    // event per file and policy) and counts every exec and mapping.
    std::string unlisted = dir.file("unlisted");
    if (!copy_file(helper("true"), unlisted, "bus unlisted"))
        t.bail("cannot create the unlisted file");
    std::string p3 = kWork + "/p3.dsse";
    (void)write_file_atomic(
        p3, signed_policy(t, 12, VOUCH_MODE_AUDIT, {listed}, exe, trusted, extra), 0600);
    rc = vouchctl({"policy", "update", "--user-bus", p3}, &out);
    SdBus client = connect_bus(getenv("DBUS_SESSION_BUS_ADDRESS"));
    SignalCount seen{unlisted};
    sd_bus_slot *raw = nullptr;
    bool subscribed =
        client && sd_bus_match_signal(client.get(), &raw, dbus::kName, dbus::kPath,
                                      dbus::kInterface, "WouldDeny", count_signal, &seen) >= 0;
    SdBusSlot would_slot(raw);
    raw = nullptr;
    subscribed =
        subscribed && sd_bus_match_signal(client.get(), &raw, dbus::kName, dbus::kPath,
                                          dbus::kInterface, "Denied", count_signal, &seen) >= 0;
    SdBusSlot denied_slot(raw);
    const uint64_t before = subscribed ? would_denials(client.get()) : UINT64_MAX;
    constexpr int kRuns = 20;
    int ran = 0;
    // The first exec alone: how many hooks one exec of this file passes
    // (bprm_check, and mmap_file for the loader's executable mapping).
    if (exit_status(run({unlisted})) == 0)
        ++ran;
    uint64_t one = UINT64_MAX;
    for (int i = 0; i < 50 && subscribed; ++i) {
        one = would_denials(client.get()) - before;
        if (one != 0)
            break;
        usleep(20000);
    }
    for (int i = 1; i < kRuns; ++i)
        if (exit_status(run({unlisted})) == 0)
            ++ran;
    t.ok(rc == 0 && ran == kRuns,
         "audit policy (serial 12): %d of %d execs of an unlisted file ran", ran, kRuns);
    if (rc != 0)
        t.diag("%s", out.c_str());
    // Signals go out as vouchd drains the ring buffer: wait a little for
    // one, then for any late duplicate.
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (subscribed && std::chrono::steady_clock::now() < end) {
        if (sd_bus_process(client.get(), nullptr) > 0)
            continue;
        (void)sd_bus_wait(client.get(), 100'000);
    }
    t.ok(subscribed && seen.would_deny == 1 && seen.denied == 0,
         "%d execs: exactly one WouldDeny signal (got %d), no Denied (got %d)", kRuns,
         seen.would_deny, seen.denied);
    const uint64_t total = subscribed ? would_denials(client.get()) - before : 0;
    t.ok(one >= 1 && one <= 2 && total == one * kRuns,
         "WouldDenials counts every one: %llu for %d execs (%llu per exec)",
         (unsigned long long)total, kRuns, (unsigned long long)one);

    // Clean up as the agent: audit mode, unpin.
    d.kill_it(SIGTERM);
    if (std::string why = switch_off(kPins); !why.empty())
        std::printf("# cleanup: %s\n", why.c_str());
    kill(bus, SIGTERM);
    waitpid(bus, nullptr, 0);
    return t.finish();
}
