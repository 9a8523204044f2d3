// SPDX-License-Identifier: Apache-2.0
// vouchd with `template = ima-sig`: a file whose security.ima is a signature
// (type 3, EVM_IMA_XATTR_DIGSIG) has it in its entry's sig field, as the
// kernel's ima-sig template records it; a file without one, or with a
// security.ima that is only a digest, has an empty sig field. The signature
// is read from the measured file only: a path replaced before vouchd reads it
// gives no signature rather than the new file's, and a FUSE file system whose
// daemon never answers getxattr is not asked (it would stop vouchd's loop).
#include <signal.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>

#include "lib/digest.h"
#include "lib/ima_log.h"
#include "lib/measurement_log.h"
#include "kernel/selftests/lib/fuse.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"
#include "kernel/selftests/lib/vouchd.h"

using namespace vouch;
using namespace vouch::selftest;

namespace {

const std::string kPins = "/sys/fs/bpf/vouch-imasig";
const std::string kLogDir = "/run/vouch-imasig";

std::vector<ima::Entry> read_log() {
    auto e = read_binary_log(kLogDir + "/binary_runtime_measurements");
    return e ? *e : std::vector<ima::Entry>{};
}

const ima::Entry *wait_entry(const std::string &path, std::vector<ima::Entry> &log) {
    for (int i = 0; i < 100; ++i) {
        log = read_log();
        for (const auto &e : log)
            if (e.path == path)
                return &e;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return nullptr;
}

} // namespace

int main() {
    Tap t("vouchd_imasig", 6);
    (void)vouch::unpin(kPins);
    TempDir dir;
    std::string signed_file = dir.file("signed"), plain = dir.file("plain"),
                digest_only = dir.file("digest-only");
    for (const auto &f : {signed_file, plain, digest_only})
        if (!copy_file(helper("true"), f, "imasig " + f))
            t.bail("cannot create test files");
    // A signature blob (type 3, version 2, sha256, keyid, size, bytes): the
    // kernel does not check it without an appraise rule; the template
    // records it as it is.
    const std::vector<uint8_t> sig = {0x03, 0x02, 0x04, 0xaa, 0xbb, 0xcc, 0xdd, 0x00, 0x08,
                                      0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
    const std::vector<uint8_t> digest_xattr = {0x04, 0x04, 0x11, 0x22, 0x33};
    if (setxattr(signed_file.c_str(), "security.ima", sig.data(), sig.size(), 0) ||
        setxattr(digest_only.c_str(), "security.ima", digest_xattr.data(), digest_xattr.size(), 0))
        t.bail("setxattr security.ima failed");

    Vouchd d({"--no-bus", "--no-tpm", "--template", "ima-sig", "--pin-dir", kPins, "--log-dir",
              kLogDir, "--policy", ""});
    if (!t.ok(d.start({}), "vouchd starts with template ima-sig"))
        t.bail(d.output());
    for (const auto &f : {signed_file, plain, digest_only})
        (void)run({f});

    std::vector<ima::Entry> log;
    const ima::Entry *e = wait_entry(signed_file, log);
    auto want = sha256_file(signed_file);
    bool ok = e && want && e->template_name == "ima-sig" && e->sig == sig;
    if (ok) {
        // The whole entry as the kernel would write it for these fields.
        auto ref = ima::make_entry(10, "ima-sig", "sha256", *want, signed_file, sig);
        ok = ref.template_data == e->template_data && ref.template_sha1 == e->template_sha1;
    }
    if (t.broken())
        ok = !ok;
    t.ok(ok, "a file signed in security.ima: ima-sig entry with that signature");
    e = wait_entry(plain, log);
    t.ok(e && e->template_name == "ima-sig" && e->sig.empty(),
         "a file without security.ima: ima-sig entry with an empty sig field");
    e = wait_entry(digest_only, log);
    t.ok(e && e->sig.empty(), "a security.ima that is a digest, not a signature: empty sig field");

    // Measured, then replaced by another signed file before vouchd reads it:
    // vouchd is stopped while it runs, so the event waits in the ring buffer.
    const std::string swapped = dir.file("swapped"), other = dir.file("other");
    const std::vector<uint8_t> other_sig = {0x03, 0x02, 0x04, 0x11, 0x22, 0x33, 0x44,
                                            0x00, 0x04, 0x09, 0x09, 0x09, 0x09};
    if (!copy_file(helper("true"), swapped, "imasig swapped") ||
        !copy_file(helper("true"), other, "imasig other") ||
        setxattr(swapped.c_str(), "security.ima", sig.data(), sig.size(), 0) ||
        setxattr(other.c_str(), "security.ima", other_sig.data(), other_sig.size(), 0))
        t.bail("cannot create test files");
    auto swapped_digest = sha256_file(swapped);
    d.kill_it(SIGTERM);
    (void)run({swapped});
    if (rename(other.c_str(), swapped.c_str()))
        t.bail("rename");
    if (!d.start({}))
        t.bail(d.output());
    e = wait_entry(swapped, log);
    t.ok(e && swapped_digest &&
             std::equal(e->file_digest.begin(), e->file_digest.end(), swapped_digest->begin()) &&
             e->sig.empty(),
         "a path replaced by another signed file before vouchd read it: the entry has the "
         "measured file's digest and no signature, not the new file's");

    // FUSE whose daemon never answers getxattr.
    if (std::string why = load_filesystem("fuse"); !why.empty()) {
        if (why.starts_with("load "))
            t.bail(why);
        t.skip("a file on a FUSE file system that never answers getxattr", why.c_str());
    } else {
        const std::string mnt = dir.file("mnt"), after = dir.file("after");
        FuseFile fuse;
        if (mkdir(mnt.c_str(), 0755) || !copy_file(helper("true"), after, "imasig after") ||
            !fuse.start(mnt, plain, plain, {"FUSEFILE_HANG_GETXATTR=1"}))
            t.bail("start the fusefile helper");
        (void)run({mnt + "/prog"});
        (void)run({after});
        const ima::Entry *on_fuse = wait_entry(mnt + "/prog", log);
        const ima::Entry *next = on_fuse ? wait_entry(after, log) : nullptr;
        t.ok(on_fuse && on_fuse->sig.empty() && next,
             "a file on a FUSE file system that never answers getxattr: logged without a "
             "signature, and the next exec is logged too (vouchd's loop did not stop)");
    }
    d.kill_it(SIGTERM);
    (void)vouch::unpin(kPins);
    return t.finish();
}
