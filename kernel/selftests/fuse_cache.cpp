// SPDX-License-Identifier: Apache-2.0
// A FUSE daemon can change what a file reads as without anything in the
// kernel's inode changing (no write, no new timestamp or size). vouch must not
// serve such a file's digest from its cache: an allowed program's bytes could
// otherwise be swapped for unlisted ones and still run under enforce.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "lib/digest.h"
#include "vouchd/kernel_side.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/fuse.h"
#include "kernel/selftests/lib/util.h"

using namespace vouch;
using namespace vouch::selftest;

int main() {
    Tap t("fuse_cache", 4);
    const char *names[] = {"an allowed program on FUSE runs",
                           "an unchanged program on FUSE is hashed again at its next exec",
                           "content swapped behind an unchanged inode is denied",
                           "and its event carries the new content's digest"};
    if (std::string why = load_filesystem("fuse"); !why.empty()) {
        if (why.starts_with("load "))
            t.bail(why);
        for (const char *n : names)
            t.skip(n, why.c_str());
        return t.finish();
    }

    // Two programs of the same size that differ only in their padding.
    TempDir dir;
    std::string a = dir.file("a"), b = dir.file("b"), mnt = dir.file("mnt");
    if (!copy_file(helper("true"), a, "fuse_cache content A") ||
        !copy_file(helper("true"), b, "fuse_cache content B") || mkdir(mnt.c_str(), 0755))
        t.bail("prepare files");
    vouch_digest da = digest_of(t, a), db = digest_of(t, b);

    FuseFile fuse;
    if (!fuse.start(mnt, a, b))
        t.bail("start the fusefile helper");
    std::string prog = mnt + "/prog";

    auto ks = KernelSide::load({});
    if (!ks)
        t.bail(ks.error().message);
    EventLog log(**ks);
    if (auto r = (*ks)->set_policy({da}, VOUCH_MODE_ENFORCE); !r)
        t.bail(r.error().message);

    auto r1 = run({prog});
    t.ok(exit_status(r1) == 0, "%s (exec errno %d)", names[0], r1.exec_errno);

    auto before = (*ks)->stats();
    auto r2 = run({prog});
    auto after = (*ks)->stats();
    if (!before || !after)
        t.bail("cannot read stats");
    uint64_t hashes = after->hashes - before->hashes;
    if (t.broken())
        hashes = 0;
    t.ok(exit_status(r2) == 0 && hashes >= 1, "%s (%llu hashes)", names[1],
         (unsigned long long)hashes);

    if (!fuse.switch_content())
        t.bail("switch the served content");
    auto r3 = run({prog});
    bool denied = r3.exec_errno == EPERM;
    if (!t.ok(denied, "%s", names[2]))
        t.diag("exec errno %d, exit status %d", r3.exec_errno, exit_status(r3));
    auto ev = log.wait_for([&](const vouch_event &e) {
        return e.hook == VOUCH_HOOK_BPRM_CHECK && e.verdict == VOUCH_VERDICT_DENY &&
               std::memcmp(e.digest, db.bytes, sizeof(db.bytes)) == 0;
    });
    t.ok(ev != nullptr, "%s", names[3]);
    (void)(*ks)->clear_policy();
    return t.finish();
}
