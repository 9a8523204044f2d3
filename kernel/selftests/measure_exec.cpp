// SPDX-License-Identifier: Apache-2.0
// The kernel side's core promise: an exec is measured, and the digest the BPF
// program reports is the file's SHA-256 as userspace computes it.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "lib/digest.h"
#include "vouchd/kernel_side.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"

using namespace vouch;
using namespace vouch::selftest;

int main() {
    Tap t("measure_exec", 6);
    auto ks = KernelSide::load({});
    if (!t.ok(ks.ok(), "sleepable BPF LSM programs load and attach"))
        t.bail(ks.error().message);
    EventLog log(**ks);

    TempDir dir;
    std::string prog = dir.file("prog");
    if (!copy_file(helper("true"), prog, "measure_exec salt " + std::to_string(getpid())))
        t.bail("cannot copy helper to " + prog);
    auto expected = sha256_file(prog);
    if (!expected)
        t.bail(expected.error().message);
    if (t.broken())
        (*expected)[0] ^= 0xff;
    struct stat st {};
    stat(prog.c_str(), &st);

    auto r = run({prog});
    t.ok(exit_status(r) == 0, "the exec runs (audit mode, no policy): errno %d", r.exec_errno);

    const vouch_event *ev = log.wait_for(
        [&](const vouch_event &e) { return e.hook == VOUCH_HOOK_BPRM_CHECK && same_inode(e, st); });
    if (!t.ok(ev != nullptr, "the exec produced a bprm_check measurement"))
        t.bail("no event for " + prog);

    std::string got = to_hex({ev->digest, sizeof(ev->digest)});
    std::string want = to_hex(*expected);
    if (!t.ok(got == want, "reported digest equals userspace SHA-256 of the file"))
        t.diag("kernel %s, userspace %s", got.c_str(), want.c_str());
    t.ok(ev->hash_algo == VOUCH_IMA_HASH_ALGO_SHA256 && !(ev->flags & VOUCH_EVF_HASH_ERROR),
         "hashed with SHA-256 (bpf_ima_file_hash returned %d)", ev->hash_algo);
    std::string path(ev->path, strnlen(ev->path, sizeof(ev->path)));
    if (!t.ok(path == prog && ev->pid == static_cast<__u32>(r.pid) && ev->uid == getuid() &&
                  ev->verdict == VOUCH_VERDICT_ALLOW,
              "path, pid, uid and verdict are those of the exec"))
        t.diag("path %s pid %u (want %d) uid %u verdict %u", path.c_str(), ev->pid, r.pid, ev->uid,
               ev->verdict);
    return t.finish();
}
