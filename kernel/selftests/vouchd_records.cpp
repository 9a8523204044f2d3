// SPDX-License-Identifier: Apache-2.0
// vouch's own state changes as ima-buf log entries on a real kernel and TPM
// (swtpm): at a fresh start vouch-measure-start, vouchd-start and the stored
// policy's vouch-policy record come first; a policy taken by SIGHUP is
// recorded in order, with an exec denied under it logged after its record; a
// refused one writes nothing; a restart adds vouchd-start and vouch-policy
// but no vouch-measure-start; SIGTERM ends the log with vouchd-stop; and the
// log, records included, replays to the TPM (vouchctl log verify, evmctl).
// First, the kernel's own ima-buf entry (for an X.509 key added to a keyring
// IMA measures) against vouch's encoding of the same buffer and name.
// PCR 13, which nothing else in the VM extends, so the log replays from the
// PCR's reset value whatever the selftests before this one extended.
#include <linux/keyctl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <thread>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kernel/selftests/lib/policy_env.h"
#include "kernel/selftests/lib/evmctl.h"
#include "kernel/selftests/lib/nv.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"
#include "kernel/selftests/lib/vouchd.h"
#include "lib/digest.h"
#include "lib/file_io.h"
#include "lib/ima_log.h"
#include "lib/measurement_log.h"
#include "lib/tpm.h"
#include "lib/vouch_records.h"

using namespace vouch;
using namespace vouch::selftest;

namespace {

const std::string kPins = "/sys/fs/bpf/vouch-records";
const std::string kWork = "/run/vouch-records-test";
const std::string kLog = kWork + "/log/binary_runtime_measurements";
const std::string kTcti = "device:/dev/tpmrm0";
constexpr uint32_t kPcr = 13;

std::vector<ima::Entry> read_log() {
    auto e = read_binary_log(kLog);
    return e ? *e : std::vector<ima::Entry>{};
}

std::string buf_of(const ima::Entry &e) {
    return std::string(e.buf.begin(), e.buf.end());
}

// The ima-buf records from entry `from` on, as "name buf" lines.
std::vector<std::string> records_from(const std::vector<ima::Entry> &log, size_t from) {
    std::vector<std::string> out;
    for (size_t i = from; i < log.size(); ++i)
        if (log[i].template_name == ima::kImaBuf)
            out.push_back(log[i].path + " " + buf_of(log[i]));
    return out;
}

// Every record as the kernel's IMA writes an ima-buf entry: the d-ng digest
// is the SHA-256 of the buffer, the template hash SHA-1 over the fields.
bool well_formed(const std::vector<ima::Entry> &log) {
    for (const auto &e : log) {
        if (e.template_name != ima::kImaBuf)
            continue;
        auto want = ima::make_buf_entry(e.pcr, e.path, e.buf);
        if (e.algo != "sha256" || e.file_digest != want.file_digest ||
            e.template_data != want.template_data || e.template_sha1 != want.template_sha1)
            return false;
    }
    return true;
}

long index_of(const std::vector<ima::Entry> &log, const std::string &name,
              const std::string &content, size_t from = 0) {
    for (size_t i = from; i < log.size(); ++i)
        if (log[i].template_name == ima::kImaBuf && log[i].path == name &&
            buf_of(log[i]) == content)
            return static_cast<long>(i);
    return -1;
}

long index_of_path(const std::vector<ima::Entry> &log, const std::string &path) {
    for (size_t i = 0; i < log.size(); ++i)
        if (log[i].path == path)
            return static_cast<long>(i);
    return -1;
}

std::string policy_record(uint64_t serial, const char *mode, const std::string &envelope) {
    return records::policy(
        serial, mode,
        sha256_bytes(
            std::span(reinterpret_cast<const uint8_t *>(envelope.data()), envelope.size())));
}

bool log_verifies() {
    return exit_status(run({"/usr/bin/vouchctl", "log", "verify", "--file", kLog, "--tcti", kTcti,
                            "--pcr", std::to_string(kPcr)})) == 0;
}

// A self-signed X.509 certificate (DER), for a key the kernel's IMA measures.
std::string make_certificate() {
    EVP_PKEY *key = EVP_RSA_gen(2048);
    X509 *x = X509_new();
    std::string der;
    if (key && x) {
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), 0);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_NAME *n = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char *>("vouch selftest"), -1,
                                   -1, 0);
        X509_set_issuer_name(x, n);
        X509_set_pubkey(x, key);
        if (X509_sign(x, key, EVP_sha256()) > 0) {
            unsigned char *buf = nullptr;
            int len = i2d_X509(x, &buf);
            if (len > 0)
                der.assign(reinterpret_cast<char *>(buf), static_cast<size_t>(len));
            OPENSSL_free(buf);
        }
    }
    X509_free(x);
    EVP_PKEY_free(key);
    return der;
}

// The kernel's IMA measures an asymmetric key added to a keyring its policy
// names as an ima-buf entry: n-ng the keyring's name, buf the certificate.
// vouch's encoder must produce the same entry from the same name and bytes.
void compare_with_kernel(Tap &t) {
    const char *what = "the kernel's IMA's ima-buf entry for a key equals vouch's encoding of the "
                       "same name and buffer (template data, template hash, ASCII line)";
    if (std::string why = ima_measure_execs(); !why.empty()) {
        t.skip(what, why.c_str());
        return;
    }
    std::string der = make_certificate();
    long ring =
        syscall(SYS_add_key, "keyring", kImaBufKeyring, nullptr, 0, KEY_SPEC_PROCESS_KEYRING);
    long key = ring < 0 ? -1 : syscall(SYS_add_key, "asymmetric", "", der.data(), der.size(), ring);
    if (der.empty() || key < 0) {
        t.skip(what, der.empty() ? "no certificate" : "the kernel refused the key");
        return;
    }
    const ima::Entry *found = nullptr;
    std::vector<ima::Entry> klog;
    for (int i = 0; i < 50 && !found; ++i) {
        auto l = read_binary_log("/sys/kernel/security/ima/binary_runtime_measurements");
        klog = l ? *l : std::vector<ima::Entry>{};
        for (const auto &e : klog)
            if (e.template_name == ima::kImaBuf && e.path == kImaBufKeyring)
                found = &e;
        if (!found)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!found) {
        t.skip(what, "the kernel logged no ima-buf entry for the key");
        return;
    }
    auto mine =
        ima::make_buf_entry(found->pcr, kImaBufKeyring,
                            std::span(reinterpret_cast<const uint8_t *>(der.data()), der.size()));
    std::string kascii;
    {
        std::ifstream in("/sys/kernel/security/ima/ascii_runtime_measurements");
        kascii.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    std::string line = ima::encode_ascii(mine);
    bool same = found->template_data == mine.template_data &&
                found->template_sha1 == mine.template_sha1 && found->buf == mine.buf &&
                kascii.find(line) != std::string::npos;
    if (!same)
        t.diag("kernel %s, vouch %s", to_hex(found->template_sha1).c_str(),
               to_hex(mine.template_sha1).c_str());
    t.ok(same, "%s", what);
}

} // namespace

int main() {
    Tap t("vouchd_records", 11);
    compare_with_kernel(t);
    (void)vouch::unpin(kPins);
    // Its serials start at 5: whatever an earlier test left in the TPM's NV
    // index must not refuse them (and what it leaves goes too, at the end).
    if (std::string why = nv_reset(); !why.empty())
        t.bail("cannot reset the NV index: " + why);
    (void)std::system(("rm -rf " + kWork).c_str());
    mkdir(kWork.c_str(), 0700);
    std::string keys = self_dir() + "/keys";
    std::string trusted = keys + "/ecdsa-p256.key", untrusted = keys + "/untrusted-p256.key";
    std::string pol = kWork + "/policy.dsse";
    TempDir dir;
    std::string listed = dir.file("listed"), early = dir.file("early"), late = dir.file("late");
    for (const auto &f : {listed, early, late})
        if (!copy_file(helper("true"), f, "records " + f))
            t.bail("cannot create test files");
    char exe[4096] = {};
    if (readlink("/proc/self/exe", exe, sizeof(exe) - 1) <= 0)
        t.bail("readlink /proc/self/exe");

    // Serial 5 lists `early`, serial 6 does not: an exec of it is denied
    // only after serial 6's record.
    std::string env5 = signed_policy(t, 5, VOUCH_MODE_ENFORCE, {listed, early}, exe, trusted);
    install(t, pol, env5);
    Vouchd d({"--no-bus", "--pin-dir", kPins, "--log-dir", kWork + "/log", "--state-dir",
              kWork + "/state", "--policy", pol, "--keys-dir", keys + "/trusted", "--tcti", kTcti,
              "--pcr", std::to_string(kPcr)});
    if (!t.ok(d.start({}), "vouchd starts fresh with a signed enforce policy (serial 5), PCR 13"))
        t.bail(d.output());

    auto log = read_log();
    auto recs = records_from(log, 0);
    std::vector<std::string> want = {
        std::string(records::kMeasureStart) + " stage=vouchd",
        std::string(records::kVouchdStart) + " start",
        std::string(records::kPolicy) + " " + policy_record(5, "enforce", env5),
    };
    // The first two entries are the start records (no boot_aggregate: the
    // kernel's IMA has nothing on PCR 13). What the kernel side queued
    // before the policy was swapped in (vouchd's own start: the TPM library
    // it loads) may come before the policy's record, nothing that ran after.
    bool first = log.size() >= 3 && recs == want;
    for (size_t i = 0; first && i < 2; ++i)
        first = log[i].template_name == ima::kImaBuf && log[i].pcr == kPcr;
    if (t.broken())
        first = !first;
    if (!t.ok(first && well_formed(log),
              "a fresh start's log begins vouch-measure-start (stage=vouchd), vouchd-start, "
              "then vouch-policy (serial=5 mode=enforce envelope=sha256 of the file): ima-buf "
              "entries as the kernel writes them")) {
        for (size_t i = 0; i < log.size() && i < 8; ++i)
            t.diag("entry %zu: %s %s", i, log[i].template_name.c_str(), log[i].path.c_str());
    }
    long pol_at = index_of(log, records::kPolicy, policy_record(5, "enforce", env5));
    for (long i = 2; i < pol_at; ++i)
        t.diag("before the policy record: %s", log[static_cast<size_t>(i)].path.c_str());

    t.ok(exit_status(run({early})) == 0 && exit_status(run({listed})) == 0,
         "serial 5 lets both listed programs run");

    // A refused policy (untrusted key): no record.
    size_t before = read_log().size();
    size_t mark = d.output().size();
    install(t, pol, signed_policy(t, 9, VOUCH_MODE_AUDIT, {listed, early}, exe, untrusted));
    kill(d.pid, SIGHUP);
    bool refused = wait_for_output(d, "reload refused", mark);
    log = read_log();
    t.ok(refused && index_of(log, records::kPolicy, policy_record(9, "audit", ""), 0) < 0 &&
             records_from(log, before).empty(),
         "a policy refused on SIGHUP writes no record");

    // Serial 6 by SIGHUP: its record, then `late` (not listed) is denied and
    // logged after it; `early`, run under serial 5, is before it.
    std::string env6 = signed_policy(t, 6, VOUCH_MODE_ENFORCE, {listed}, exe, trusted);
    mark = d.output().size();
    install(t, pol, env6);
    kill(d.pid, SIGHUP);
    bool active = wait_for_output(d, "policy serial 6 active", mark);
    bool denied = run({late}).exec_errno == EPERM;
    long k = -1, late_at = -1, early_at = -1;
    bool ordered = wait_until(
        [&] {
            log = read_log();
            k = index_of(log, records::kPolicy, policy_record(6, "enforce", env6));
            late_at = index_of_path(log, late);
            early_at = index_of_path(log, early);
            return k >= 0 && late_at > k && early_at >= 0 && early_at < k;
        },
        10000);
    if (t.broken())
        ordered = !ordered;
    if (!t.ok(active && denied && ordered,
              "SIGHUP with serial 6: its vouch-policy record is logged, a program run under "
              "serial 5 before it, one denied under serial 6 after it"))
        t.diag("record at %ld, early at %ld, late at %ld", k, early_at, late_at);

    // Restart (killed, so no stop record): reattached, vouchd-start and the
    // stored policy's record again, no vouch-measure-start.
    before = read_log().size();
    d.kill_it(SIGKILL);
    bool restarted = d.start({}) && d.output().find("reattached to") != std::string::npos;
    log = read_log();
    recs = records_from(log, before);
    want = {std::string(records::kVouchdStart) + " start",
            std::string(records::kPolicy) + " " + policy_record(6, "enforce", env6)};
    if (!t.ok(restarted && recs == want && well_formed(log),
              "a restarted vouchd (reattached) logs vouchd-start and vouch-policy serial 6, "
              "no vouch-measure-start"))
        for (const auto &r : recs)
            t.diag("record: %s", r.c_str());

    // Back to audit (so the checks below may run unlisted programs), then
    // SIGTERM: the last entry is vouchd-stop, extended before vouchd exits.
    std::string env7 = signed_policy(t, 7, VOUCH_MODE_AUDIT, {listed}, exe, trusted);
    mark = d.output().size();
    install(t, pol, env7);
    kill(d.pid, SIGHUP);
    t.ok(wait_for_output(d, "policy serial 7 active", mark) &&
             index_of(read_log(), records::kPolicy, policy_record(7, "audit", env7)) >= 0,
         "serial 7 (audit) by SIGHUP: recorded with mode=audit");
    mark = d.output().size();
    d.kill_it(SIGTERM);
    log = read_log();
    bool stop_last = !log.empty() && log.back().template_name == ima::kImaBuf &&
                     log.back().path == records::kVouchdStop && buf_of(log.back()) == "stop";
    bool no_note = d.output().find("vouchd-stop", mark) == std::string::npos &&
                   d.output().find("did not take", mark) == std::string::npos;
    if (!t.ok(stop_last && no_note,
              "SIGTERM: the log ends with vouchd-stop, extended before vouchd exited"))
        t.diag("%s", d.output().substr(mark).c_str());
    // vouchd is stopped: what the TPM holds is final, so the log must replay
    // in full, vouchd-stop included.
    t.ok(log_verifies(), "vouchctl log verify: the log with its records replays to PCR 13");
    t.ok(evmctl_validates(t, kTcti, kPcr, kLog),
         "evmctl ima_measurement validates the log with its ima-buf records against the TPM");

    if (std::string why = switch_off(kPins); !why.empty())
        std::printf("# cleanup: %s\n", why.c_str());
    (void)nv_reset();
    return t.finish();
}
