// SPDX-License-Identifier: Apache-2.0
// Key rotation while a policy enforces (issue #14): the trusted key set
// changes only through a policy signed by a key trusted now, which names the
// new set (meta.vouch.keys) and is also signed by one of the new keys, so it
// still verifies after the rotation and at the next boot. Refused here: a
// rotation signed by the current key alone; a rotation to root's own key
// signed by root's key. Then the rotation itself: the keys directory holds
// exactly the new key, a policy signed by the old key is refused, one signed
// by the new key is accepted, and a restarted vouchd enforces with it.
#include <signal.h>
#include <unistd.h>

#include <filesystem>

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

const std::string kPins = "/sys/fs/bpf/vouch-rotate";
const std::string kWork = "/run/vouch-rotate-test";

std::vector<std::string> key_files(const std::string &dir) {
    std::vector<std::string> out;
    for (const auto &e : fs::directory_iterator(dir))
        out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace

int main() {
    Tap t("vouchd_rotate", 7);
    (void)unpin(kPins);
    std::error_code ec;
    fs::remove_all(kWork, ec);
    fs::create_directories(kWork + "/keys");
    const std::string keys = self_dir() + "/keys";
    // The owner's current key, the key it rotates to, and root's own.
    const std::string old_key = keys + "/ecdsa-p256.key", new_key = keys + "/untrusted-p256.key",
                      root_key = keys + "/ed25519.key";
    const std::string new_pub = keys + "/untrusted/untrusted-p256.pem",
                      root_pub = keys + "/trusted/ed25519.pem";
    const std::string owner_keys = kWork + "/keys";
    fs::copy_file(keys + "/trusted/ecdsa-p256.pem", owner_keys + "/owner.pem");
    auto pem = [&](const std::string &path) {
        auto text = read_file(path, 1 << 20);
        if (!text)
            t.bail(text.error().message);
        return *text;
    };
    auto keyid = [&](const std::string &path) {
        auto k = policy::parse_public_key(pem(path), path);
        if (!k)
            t.bail(k.error().message);
        return k->keyid;
    };

    TempDir dir;
    const std::string listed = dir.file("listed"), other = dir.file("other");
    if (!copy_file(helper("true"), listed, "rotate listed") ||
        !copy_file(helper("true"), other, "rotate other"))
        t.bail("cannot create test files");
    char exe[4096] = {};
    if (readlink("/proc/self/exe", exe, sizeof(exe) - 1) <= 0)
        t.bail("readlink /proc/self/exe");
    auto enforcing = [&] {
        return exit_status(run({listed})) == 0 && run({other}).exec_errno == EPERM;
    };
    auto input = [&](uint64_t serial, const std::vector<std::string> &trust) {
        auto in = policy_input(t, serial, VOUCH_MODE_ENFORCE, {listed}, exe);
        for (const auto &p : trust)
            in.trust_keys.push_back(pem(p));
        return in;
    };

    const std::string pol = kWork + "/policy.dsse";
    install(t, pol, sign_with(t, input(5, {}), {old_key}));
    const std::vector<std::string> opts = {
        "--no-bus",    "--no-tpm",       "--pin-dir",  kPins,
        "--log-dir",   kWork + "/log",   "--policy",   pol,
        "--state-dir", kWork + "/state", "--keys-dir", owner_keys};
    Vouchd d(opts);
    if (!t.ok(d.start({}) && enforcing(), "serial 5, signed by the owner's key, enforces"))
        t.bail(d.output());

    // A policy file installed and SIGHUP; `needle` in vouchd's output.
    auto reload = [&](const std::string &envelope, const char *needle) {
        size_t mark = d.output().size();
        install(t, pol, envelope);
        kill(d.pid, SIGHUP);
        return wait_for_output(d, needle, mark);
    };
    const auto before = key_files(owner_keys);

    bool refused = reload(sign_with(t, input(6, {new_pub}), {old_key}), "reload refused") &&
                   d.output().find("no signature by one of them") != std::string::npos;
    if (t.broken())
        refused = !refused;
    t.ok(refused && enforcing() && key_files(owner_keys) == before,
         "a rotation signed by the current key alone is refused; keys and enforcement stay");

    size_t mark = d.output().size();
    refused = reload(sign_with(t, input(6, {root_pub}), {root_key}), "reload refused") &&
              d.output().find("no trusted key matches", mark) != std::string::npos;
    t.ok(refused && enforcing() && key_files(owner_keys) == before,
         "root's rotation to its own key, signed by that key: refused");

    const std::string want = keyid(new_pub).substr(0, 16) + ".pem";
    bool rotated =
        reload(sign_with(t, input(6, {new_pub}), {old_key, new_key}), "policy serial 6 active") &&
        key_files(owner_keys) == std::vector<std::string>{want} && enforcing();
    if (!t.ok(rotated,
              "signed by the current and the new key: active, and the keys directory "
              "holds the new key alone (%s)",
              want.c_str()))
        t.diag_lines(d.output());

    mark = d.output().size();
    refused = reload(sign_with(t, input(7, {}), {old_key}), "reload refused") &&
              d.output().find("no trusted key matches", mark) != std::string::npos;
    t.ok(refused && enforcing(), "afterwards a policy signed by the old key is refused");

    t.ok(reload(sign_with(t, input(8, {}), {new_key}), "policy serial 8 active") && enforcing(),
         "and one signed by the new key is accepted");

    d.kill_it(SIGTERM);
    mark = d.output().size();
    bool restarted =
        d.start({}) && d.output().find("serial 8", mark) != std::string::npos && enforcing();
    if (!t.ok(restarted, "a restarted vouchd verifies and enforces serial 8 with the new key"))
        t.diag_lines(d.output().substr(mark));
    d.kill_it(SIGTERM);

    if (std::string why = switch_off(kPins); !why.empty())
        std::printf("# cleanup: %s\n", why.c_str());
    fs::remove_all(kWork, ec);
    return t.finish();
}
