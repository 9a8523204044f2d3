// SPDX-License-Identifier: Apache-2.0
// Files with fs-verity (ext4 with the verity feature on a loop device). Where
// the kernel has bpf_get_fsverity_digest (6.8+), vouch identifies such a file
// by its fs-verity digest, read in O(1) without hashing the file, and only a
// policy's fs-verity digests allow it; a content digest cannot stand in for
// an fs-verity digest or the other way round. On older kernels the content
// is hashed as for any file, and the selftest shows that instead.
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "lib/digest.h"
#include "vouchd/kernel_side.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"
#include "kernel/selftests/lib/verity.h"

using namespace vouch;
using namespace vouch::selftest;

namespace {

vouch_digest as_key(const Sha256 &s) {
    vouch_digest d{};
    std::memcpy(d.bytes, s.data(), sizeof(d.bytes));
    return d;
}

} // namespace

int main() {
    Tap t("verity", 9);
    struct utsname u {};
    uname(&u);
    if (auto r = mount_verity_fs(); !r)
        t.bail(r.error().message);
    auto loaded = KernelSide::load({});
    if (!loaded)
        t.bail(loaded.error().message);
    KernelSide &ks = **loaded;
    EventLog log(ks);
    const bool kfunc = kernel_has_fsverity_kfunc();

    std::string prog = std::string(kVerityMount) + "/prog-" + std::to_string(getpid());
    std::string plain = std::string(kVerityMount) + "/plain-" + std::to_string(getpid());
    if (!copy_file(helper("true"), prog, "verity " + std::to_string(getpid())) ||
        !copy_file(helper("true"), plain, "plain " + std::to_string(getpid())))
        t.bail("cannot copy the helper onto " + std::string(kVerityMount));
    if (auto r = enable_verity(prog); !r)
        t.bail(r.error().message);
    auto content = sha256_file(prog);
    auto vdigest = fsverity_sha256(prog);
    auto plain_content = sha256_file(plain);
    if (!content || !vdigest || !plain_content)
        t.bail("cannot read the digests of " + prog);

    auto stats0 = ks.stats();
    auto r = run({prog});
    auto stats1 = ks.stats();
    t.ok(exit_status(r) == 0, "audit: a program with fs-verity runs");
    const vouch_event *ev = log.wait_for([&](const vouch_event &e) {
        return e.hook == VOUCH_HOOK_BPRM_CHECK && std::string(e.path) == prog;
    });
    const Sha256 &want = kfunc ? *vdigest : *content;
    bool same = ev && std::memcmp(ev->digest, want.data(), want.size()) == 0 &&
                bool(ev->flags & VOUCH_EVF_VERITY) == kfunc;
    if (t.broken())
        same = !same;
    uint64_t hashed = stats0 && stats1 ? stats1->hashes - stats0->hashes : ~0ull;
    if (kfunc) {
        t.ok(same, "Linux %s: the event carries the fs-verity digest, flagged VOUCH_EVF_VERITY",
             u.release);
        t.ok(hashed == 0, "and nothing was hashed for it (bpf_ima_file_hash calls: %llu)",
             static_cast<unsigned long long>(hashed));
    } else {
        t.ok(same,
             "Linux %s has no bpf_get_fsverity_digest (6.8+): the event carries the "
             "content's SHA-256",
             u.release);
        t.ok(hashed >= 1, "and the content was hashed (bpf_ima_file_hash calls: %llu)",
             static_cast<unsigned long long>(hashed));
    }

    // A policy of content digests only.
    if (auto s = ks.set_policy({as_key(*content), as_key(*plain_content)}, VOUCH_MODE_ENFORCE); !s)
        t.bail(s.error().message);
    r = run({prog});
    if (kfunc)
        t.ok(r.exec_errno == EPERM,
             "enforce: its content digest does not allow it (the kernel knows it by fs-verity)");
    else
        t.ok(exit_status(r) == 0, "enforce: its content digest allows it (hashed like any file)");
    t.ok(exit_status(run({plain})) == 0, "enforce: a listed file without fs-verity runs");

    // A policy of fs-verity digests; the plain file's content digest is
    // listed as an fs-verity digest, which must not allow it.
    if (auto s =
            ks.set_policy({}, VOUCH_MODE_ENFORCE, {}, {as_key(*vdigest), as_key(*plain_content)});
        !s)
        t.bail(s.error().message);
    r = run({prog});
    if (kfunc)
        t.ok(exit_status(r) == 0, "enforce: its fs-verity digest allows it");
    else
        t.ok(r.exec_errno == EPERM, "enforce: an fs-verity digest does not allow it here");
    t.ok(run({plain}).exec_errno == EPERM,
         "enforce: a content digest listed as an fs-verity digest allows nothing");
    if (auto s = ks.clear_policy(); !s)
        t.bail(s.error().message);
    // Enforce with fs-verity digests again, now cached: the same answer.
    t.ok(exit_status(run({prog})) == 0, "audit again: it runs");

    // policy make lists both digests of a file with fs-verity (the kernel
    // reads the fs-verity one on every kernel; only the BPF side needs 6.8).
    std::string json = std::string(kVerityMount) + "/policy.json";
    auto made = run({"/usr/bin/vouchctl", "policy", "make", "--serial", "1", "--mode", "audit",
                     "-o", json, prog});
    std::ifstream in(json);
    std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    bool both =
        doc.find("\"verity\":{\"" + prog + "\":[\"" + to_hex(*vdigest)) != std::string::npos &&
        doc.find("\"" + prog + "\":[\"" + to_hex(*content)) != std::string::npos;
    if (t.broken())
        both = !both;
    t.ok(exit_status(made) == 0 && both,
         "policy make lists its content digest and, in meta.vouch.verity, its fs-verity digest");
    unlink(json.c_str());
    unlink(prog.c_str());
    unlink(plain.c_str());
    return t.finish();
}
