// SPDX-License-Identifier: Apache-2.0
// Overlayfs (issue #14, item 7): the inode the hooks see is the overlay's,
// whose times and size stay as they were when a file of a lower layer is
// changed directly. A cached verdict would then let the changed file run.
// vouch hashes files on overlayfs at every use instead: the changed file is
// measured anew, reported in audit mode and refused while enforcing.
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "lib/digest.h"
#include "vouchd/kernel_side.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"

using namespace vouch;
using namespace vouch::selftest;

int main() {
    Tap t("overlay_cache", 5);
    if (std::string why = load_filesystem("overlay"); !why.empty()) {
        if (why.starts_with("load "))
            t.bail(why);
        for (int i = 0; i < 5; ++i)
            t.skip("overlayfs", why.c_str());
        return t.finish();
    }
    TempDir dir;
    // tmpfs: the upper layer needs xattrs, which the initramfs root lacks.
    const std::string top = dir.file("top");
    if (mkdir(top.c_str(), 0700) || mount("tmpfs", top.c_str(), "tmpfs", 0, nullptr))
        t.bail("mount tmpfs at " + top);
    const std::string lower = top + "/lower", upper = top + "/upper", work = top + "/work",
                      merged = top + "/merged";
    for (const auto &d : {lower, upper, work, merged})
        mkdir(d.c_str(), 0755);
    const std::string listed = dir.file("listed"), other = dir.file("other");
    // The same size: only the content differs, nothing the overlay's inode
    // could show (a size change alone makes the hash fail, closed).
    if (!copy_file(helper("true"), listed, "overlay A") ||
        !copy_file(helper("true"), other, "overlay B") || !copy_file(listed, lower + "/prog"))
        t.bail("cannot create test files");
    std::string opts = "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work;
    if (mount("overlay", merged.c_str(), "overlay", 0, opts.c_str()))
        t.bail(std::string("mount overlay: ") + strerror(errno));
    const std::string prog = merged + "/prog";
    const vouch_digest listed_digest = digest_of(t, lower + "/prog"),
                       other_digest = digest_of(t, other);

    auto loaded = KernelSide::load({});
    if (!loaded)
        t.bail(loaded.error().message);
    KernelSide &ks = **loaded;
    EventLog log(ks);
    auto change_lower = [&](const std::string &from) {
        // Directly in the lower layer, not through the overlay: as another
        // mount of that directory (or the host, for a container) would.
        std::ifstream in(from, std::ios::binary);
        std::ofstream out(lower + "/prog", std::ios::binary | std::ios::trunc);
        out << in.rdbuf();
    };

    // Audit: run it twice through the overlay, change the lower file, run it.
    if (auto s = ks.set_policy({listed_digest}, VOUCH_MODE_AUDIT); !s)
        t.bail(s.error().message);
    bool ran = exit_status(run({prog})) == 0 && exit_status(run({prog})) == 0;
    change_lower(other);
    log.drain();
    ran = ran && exit_status(run({prog})) == 0;
    const vouch_event *ev = log.wait_for([&](const vouch_event &e) {
        return std::string(e.path) == prog && e.hook == VOUCH_HOOK_BPRM_CHECK &&
               std::memcmp(e.digest, other_digest.bytes, sizeof(e.digest)) == 0;
    });
    t.ok(ran && ev, "audit: a lower file changed after two cached runs is measured anew");
    t.ok(ev && ev->verdict == VOUCH_VERDICT_AUDIT_DENY,
         "and reported as a would-be denial (verdict %u)", ev ? ev->verdict : 0);

    // Enforce: the listed content runs, is changed below the overlay, is refused.
    change_lower(listed);
    if (auto s = ks.set_policy({listed_digest}, VOUCH_MODE_ENFORCE); !s)
        t.bail(s.error().message);
    t.ok(exit_status(run({prog})) == 0 && exit_status(run({prog})) == 0,
         "enforce: the listed program runs through the overlay, twice");
    change_lower(other);
    auto r = run({prog});
    bool refused = r.exec_errno == EPERM;
    if (t.broken())
        refused = !refused;
    t.ok(refused, "changed in the lower layer, it is refused (exec errno %d)", r.exec_errno);
    change_lower(listed);
    t.ok(exit_status(run({prog})) == 0, "changed back, it runs again");

    if (auto s = ks.clear_policy(); !s)
        t.bail(s.error().message);
    umount2(merged.c_str(), MNT_DETACH);
    umount2(top.c_str(), MNT_DETACH);
    return t.finish();
}
