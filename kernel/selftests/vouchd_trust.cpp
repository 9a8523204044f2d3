// SPDX-License-Identifier: Apache-2.0
// Root without the owner's signing key against a vouchd that enforces (issue
// #14, item 1). The kernel side keeps what vouchd bound itself to this boot
// (highest serial, the envelope accepted at it, the set of trusted keys, the
// serving vouchd) where only the agent may write it, and every vouchd checks
// a policy against it whatever its options say. Refused here: a second vouchd
// next to the first; a vouchd with root's own keys, state directory and
// policy; a key copied into the keys directory followed by SIGHUP; an older
// genuine policy replayed after deleting the serial file; other content at
// the accepted serial. In audit mode, which protects nothing, root's own keys
// are accepted (only the serial still has to rise).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "lib/file_io.h"
#include "lib/pins.h"
#include "kernel/selftests/lib/policy_env.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"
#include "kernel/selftests/lib/vouchd.h"

using namespace vouch;
using namespace vouch::selftest;
namespace fs = std::filesystem;

namespace {

const std::string kPins = "/sys/fs/bpf/vouch-trust";
const std::string kWork = "/run/vouch-trust-test";

std::vector<std::string> options(const std::string &name, const std::string &keys,
                                 const std::string &policy) {
    return {"--no-bus",    "--no-tpm",
            "--pin-dir",   kPins,
            "--log-dir",   kWork + "/log-" + name,
            "--state-dir", kWork + "/state-" + name,
            "--policy",    policy,
            "--keys-dir",  keys};
}

} // namespace

int main() {
    Tap t("vouchd_trust", 8);
    (void)unpin(kPins);
    std::error_code ec;
    fs::remove_all(kWork, ec);
    fs::create_directories(kWork);
    const std::string keys = self_dir() + "/keys";
    const std::string owner_key = keys + "/ecdsa-p256.key", root_key = keys + "/untrusted-p256.key";
    const std::string root_keys = keys + "/untrusted";
    // The owner's keys directory, which root will add a key to.
    const std::string owner_keys = kWork + "/keys";
    fs::create_directories(owner_keys);
    for (const auto &e : fs::directory_iterator(keys + "/trusted"))
        fs::copy_file(e.path(), owner_keys + "/" + e.path().filename().string());

    TempDir dir;
    const std::string listed = dir.file("listed"), other = dir.file("other");
    if (!copy_file(helper("true"), listed, "trust listed") ||
        !copy_file(helper("true"), other, "trust other"))
        t.bail("cannot create test files");
    char exe[4096] = {};
    if (readlink("/proc/self/exe", exe, sizeof(exe) - 1) <= 0)
        t.bail("readlink /proc/self/exe");
    auto enforcing = [&] {
        return exit_status(run({listed})) == 0 && run({other}).exec_errno == EPERM;
    };

    const std::string pol = kWork + "/policy.dsse", root_pol = kWork + "/root.dsse";
    install(t, pol, signed_policy(t, 5, VOUCH_MODE_ENFORCE, {listed}, exe, owner_key));
    Vouchd a(options("a", owner_keys, pol));
    if (!t.ok(a.start({}) && enforcing(),
              "vouchd enforces serial 5, signed by the owner's key: listed runs, other is denied"))
        t.bail(a.output());

    // Root's own everything: keys, state directory, an audit policy.
    install(t, root_pol, signed_policy(t, 100, VOUCH_MODE_AUDIT, {listed, other}, exe, root_key));
    Vouchd b(options("b", root_keys, root_pol));
    bool started = b.start({}, 30000);
    bool refused = !started && b.output().find("another vouchd") != std::string::npos;
    if (t.broken())
        refused = !refused;
    if (!t.ok(refused && enforcing(),
              "a second vouchd next to the first is refused (\"another vouchd ... serves the "
              "kernel side\") and the policy stays"))
        t.diag_lines(b.output());
    b.kill_it(SIGKILL);

    a.kill_it(SIGTERM);
    size_t mark = b.output().size();
    started = b.start({});
    if (!t.ok(started && b.output().find("trusted keys", mark) != std::string::npos && enforcing(),
              "with the first one stopped, a vouchd with root's keys, state directory and "
              "audit policy starts but loads nothing: enforcement stays"))
        t.diag_lines(b.output().substr(mark));
    b.kill_it(SIGTERM);

    // SIGHUP with an audit policy of `serial` signed by `key`, listing both
    // programs: refused for the reason `needle` names; enforcement stays.
    Vouchd c(options("a", owner_keys, pol));
    auto reload_refused = [&](uint64_t serial, const std::string &key, const char *needle,
                              const char *what) {
        mark = c.output().size();
        install(t, pol, signed_policy(t, serial, VOUCH_MODE_AUDIT, {listed, other}, exe, key));
        kill(c.pid, SIGHUP);
        if (!t.ok(wait_for_output(c, "reload refused", mark) &&
                      c.output().find(needle, mark) != std::string::npos && enforcing(),
                  "%s", what))
            t.diag_lines(c.output().substr(mark));
    };

    // The owner's vouchd again; then root adds its key and asks for a reload.
    if (!c.start({}))
        t.bail(c.output());
    // While enforcing, the keys directory is protected: root's copy is
    // refused (selftest protect_files). The trust state is the second line:
    // the key is put there by this test as the agent (a reattach measures
    // it, as the loader does), and the policy it signs must still be refused.
    {
        KernelSideOptions o;
        o.pin_dir = kPins;
        (void)KernelSide::load(o);
    }
    fs::copy_file(root_keys + "/untrusted-p256.pem", owner_keys + "/root.pem");
    reload_refused(9, root_key, "trusted keys",
                   "a key copied into the keys directory and SIGHUP: root's policy is refused");
    fs::remove(owner_keys + "/root.pem");

    // Genuine but older, after deleting what the state directory remembers.
    fs::remove(kWork + "/state-a/policy-serial", ec);
    fs::remove(kWork + "/state-a/accepted-policy.dsse", ec);
    reload_refused(3, owner_key, "lower than 5",
                   "the serial file deleted, an older genuine policy (serial 3) replayed: refused");

    reload_refused(5, owner_key, "other content",
                   "a genuine policy with the accepted serial (5) but other content: refused");

    mark = c.output().size();
    install(t, pol, signed_policy(t, 10, VOUCH_MODE_AUDIT, {listed, other}, exe, owner_key));
    kill(c.pid, SIGHUP);
    t.ok(wait_for_output(c, "policy serial 10 active", mark) && exit_status(run({other})) == 0,
         "the owner's serial 10 (audit mode) is accepted");
    c.kill_it(SIGTERM);

    install(t, root_pol, signed_policy(t, 11, VOUCH_MODE_AUDIT, {listed, other}, exe, root_key));
    mark = b.output().size();
    started = b.start({});
    t.ok(started && b.output().find("serial 11", mark) != std::string::npos,
         "audit mode protects nothing: then root's own key and serial 11 are accepted");
    b.kill_it(SIGTERM);

    if (std::string why = switch_off(kPins); !why.empty())
        std::printf("# cleanup: %s\n", why.c_str());
    fs::remove_all(kWork, ec);
    return t.finish();
}
