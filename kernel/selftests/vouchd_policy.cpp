// SPDX-License-Identifier: Apache-2.0
// vouchd with a signed policy on a real kernel: the policy it loads at start
// is enforced (listed programs run, others get EPERM); on SIGHUP a policy
// signed by an untrusted key, a rolled-back serial or a malformed file is
// refused and the active policy stays; a good one takes effect; a restarted
// vouchd keeps the policy and the serial.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "lib/digest.h"
#include "policy/dsse.h"
#include "lib/file_io.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"
#include "kernel/selftests/lib/policy_env.h"
#include "kernel/selftests/lib/vouchd.h"

using namespace vouch;
using namespace vouch::selftest;

namespace {

const std::string kPins = "/sys/fs/bpf/vouch-policy";
const std::string kWork = "/run/vouch-policy-test";

} // namespace

int main() {
    Tap t("vouchd_policy", 12);
    (void)vouch::unpin(kPins);
    std::string keys = self_dir() + "/keys";
    std::string trusted = keys + "/ecdsa-p256.key", untrusted = keys + "/untrusted-p256.key";
    mkdir(kWork.c_str(), 0700);
    std::string pol = kWork + "/policy.dsse";
    TempDir dir;
    std::string listed = dir.file("listed"), other = dir.file("other");
    if (!copy_file(helper("true"), listed, "policy listed") ||
        !copy_file(helper("true"), other, "policy other"))
        t.bail("cannot create test files");
    // The test process is agent too, so that it can always clean up.
    std::string self = "/proc/self/exe";
    char exe[4096] = {};
    if (readlink(self.c_str(), exe, sizeof(exe) - 1) <= 0)
        t.bail("readlink /proc/self/exe");

    install(t, pol, signed_policy(t, 5, VOUCH_MODE_ENFORCE, {listed}, exe, trusted));
    Vouchd d({"--no-bus", "--no-tpm", "--pin-dir", kPins, "--log-dir", kWork + "/log",
              "--state-dir", kWork + "/state", "--policy", pol, "--keys-dir", keys + "/trusted"});
    if (!t.ok(d.start({}), "vouchd starts with a signed enforce policy (serial 5)"))
        t.bail(d.output());
    t.ok(d.output().find("policy serial 5") != std::string::npos, "and reports it active");
    bool listed_runs = exit_status(run({listed})) == 0;
    bool other_denied = run({other}).exec_errno == EPERM;
    if (t.broken())
        other_denied = !other_denied;
    t.ok(listed_runs, "a program the policy lists runs");
    t.ok(other_denied, "a program it does not list gets EPERM");

    struct Bad {
        const char *what, *needle;
        std::string bytes;
    } bad[] = {
        {"signed by an untrusted key", "no trusted key",
         signed_policy(t, 9, VOUCH_MODE_AUDIT, {listed, other}, exe, untrusted)},
        {"a rolled-back serial", "serial 3",
         signed_policy(t, 3, VOUCH_MODE_AUDIT, {listed, other}, exe, trusted)},
        {"a malformed file", "reload refused", "{\"payload\": 42}"},
    };
    for (auto &b : bad) {
        size_t mark = d.output().size();
        install(t, pol, b.bytes);
        kill(d.pid, SIGHUP);
        bool refused = wait_for_output(d, "reload refused", mark) &&
                       d.output().find(b.needle, mark) != std::string::npos;
        bool unchanged = exit_status(run({listed})) == 0 && run({other}).exec_errno == EPERM;
        if (!t.ok(refused && unchanged, "SIGHUP with a policy %s: refused, the active one stays",
                  b.what))
            t.diag("%s", d.output().substr(mark).c_str());
    }

    size_t mark = d.output().size();
    install(t, pol, signed_policy(t, 6, VOUCH_MODE_ENFORCE, {listed, other}, exe, trusted));
    kill(d.pid, SIGHUP);
    t.ok(wait_for_output(d, "policy serial 6 active", mark) && exit_status(run({other})) == 0,
         "SIGHUP with serial 6 listing both: the other program runs now");

    d.kill_it(SIGTERM);
    bool still = run({listed}).exec_errno == 0 && exit_status(run({other})) == 0;
    std::string unlisted = dir.file("unlisted");
    (void)copy_file(helper("true"), unlisted, "policy unlisted");
    t.ok(still && run({unlisted}).exec_errno == EPERM,
         "with vouchd stopped the policy stays enforced");
    std::ifstream serial(kWork + "/state/policy-serial");
    std::string stored;
    std::getline(serial, stored);
    t.ok(stored.find('6') != std::string::npos, "the accepted serial is kept in the state dir");

    // Restart with an older file in place: the stored serial refuses it.
    install(t, pol, signed_policy(t, 4, VOUCH_MODE_AUDIT, {listed}, exe, trusted));
    bool up = d.start({});
    t.ok(up && d.output().find("policy not loaded") != std::string::npos &&
             run({unlisted}).exec_errno == EPERM,
         "a restarted vouchd refuses the older file (serial 4 < 6) and enforcement stays");

    // Clean up: back to audit, then unpin.
    mark = d.output().size();
    install(t, pol, signed_policy(t, 7, VOUCH_MODE_AUDIT, {listed}, exe, trusted));
    kill(d.pid, SIGHUP);
    t.ok(wait_for_output(d, "policy serial 7 active", mark) && exit_status(run({unlisted})) == 0,
         "serial 7 in audit mode: unlisted programs run again");
    d.kill_it(SIGTERM);
    // This process is agent in every policy above: if vouchd failed to put
    // audit mode back, it can still switch vouch off for the tests after it.
    if (std::string why = switch_off(kPins); !why.empty())
        std::printf("# cleanup: %s\n", why.c_str());
    return t.finish();
}
