// SPDX-License-Identifier: Apache-2.0
// With vouchd stopped, only the pins keep vouch's hooks attached. Unmounting
// bpffs was already refused while enforcing; a lazy umount of a mount above it
// (`umount -l /sys`) took the bpffs mount along, freed the pins and detached
// every hook (issue #14, item 3). Here root, not the agent, tries it on a
// private tmpfs + bpffs and on the real /sys: refused while enforcing, and in
// audit mode, where vouch protects nothing, it shows what it would do.
#include <bpf/bpf.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <string>
#include <vector>

#include "lib/digest.h"
#include "lib/fd.h"
#include "lib/pins.h"
#include "vouchd/kernel_side.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"

using namespace vouch;
using namespace vouch::selftest;

namespace {

constexpr const char *kBusybox = "/bin/busybox";
const std::string kSysPins = "/sys/fs/bpf/vouch-umount-selftest";

size_t live_programs(const std::vector<uint32_t> &ids) {
    size_t n = 0;
    for (uint32_t id : ids) {
        UniqueFd fd(bpf_prog_get_fd_by_id(id));
        n += fd ? 1 : 0;
    }
    return n;
}

// As the agent: reattach, back to no policy, remove the pins.
bool teardown(const std::string &dir) {
    KernelSideOptions o;
    o.pin_dir = dir;
    auto ks = KernelSide::load(o);
    if (!ks || !(*ks)->clear_policy())
        return false;
    return static_cast<bool>(unpin(dir));
}

int umount_as_root(const std::vector<std::string> &args) {
    std::vector<std::string> argv = {kBusybox, "umount"};
    argv.insert(argv.end(), args.begin(), args.end());
    return exit_status(run(argv));
}

bool exists(const std::string &p) {
    struct stat st {};
    return stat(p.c_str(), &st) == 0;
}

} // namespace

int main() {
    Tap t("umount_pins", 12);
    (void)unpin(kSysPins); // a previous, interrupted run
    TempDir dir;
    const std::string allowed = dir.file("allowed"), unlisted = dir.file("unlisted");
    if (!copy_file(helper("true"), allowed, "umount allowed") ||
        !copy_file(helper("true"), unlisted, "umount unlisted"))
        t.bail("cannot create test files");
    const std::vector<vouch_digest> policy = {digest_of(t, allowed), digest_of(t, kBusybox)};
    const std::vector<vouch_digest> agents = {digest_of(t, "/proc/self/exe")};

    // A private tree: tmpfs at top, bpffs at top/bpf, the pins in top/bpf/vouch.
    const std::string top = dir.file("top"), bpffs = top + "/bpf", pins = bpffs + "/vouch";
    if (mkdir(top.c_str(), 0700) || mount("tmpfs", top.c_str(), "tmpfs", 0, nullptr) ||
        mkdir(bpffs.c_str(), 0700) || mount("bpf", bpffs.c_str(), "bpf", 0, nullptr))
        t.bail("cannot mount tmpfs and bpffs under " + top);

    auto ids = killed_loader(pins, policy, VOUCH_MODE_ENFORCE, agents).programs;
    if (!t.ok(!ids.empty(), "a loader pinned %zu hooks under %s, enforces, and was killed",
              ids.size(), pins.c_str()))
        t.bail("loader failed");
    int rc = umount_as_root({"-l", top});
    bool refused = rc != 0;
    if (t.broken())
        refused = !refused;
    t.ok(refused, "enforce: root's `umount -l` of the tmpfs above the pins is refused (exit %d)",
         rc);
    t.ok(exists(pins + "/vouch_config") && live_programs(ids) == ids.size(),
         "the pins and all %zu programs are still there", ids.size());
    t.ok(umount_as_root({"-l", bpffs}) != 0, "so is `umount -l` of the bpffs mount itself");
    t.ok(run({unlisted}).exec_errno == EPERM, "and an unlisted exec is still refused");
    if (!teardown(pins))
        t.bail("the agent could not remove the pins under " + pins);

    ids = killed_loader(kSysPins, policy, VOUCH_MODE_ENFORCE, agents).programs;
    if (!t.ok(!ids.empty(), "a loader pinned %zu hooks under %s and was killed", ids.size(),
              kSysPins.c_str()))
        t.bail("loader failed");
    t.ok(umount_as_root({"-l", "/sys"}) != 0, "enforce: `umount -l /sys` is refused");
    t.ok(umount_as_root({"-l", "/sys/fs"}) != 0 && umount_as_root({"-l", "/"}) != 0,
         "so are `umount -l /sys/fs` and `umount -l /`");
    t.ok(exists(kSysPins + "/vouch_config") && live_programs(ids) == ids.size() &&
             run({unlisted}).exec_errno == EPERM,
         "the pins, the programs and enforcement are intact");
    if (!teardown(kSysPins))
        t.bail("the agent could not remove the pins under " + kSysPins);

    // Audit mode protects nothing: the same umount goes through and, once the
    // mount is gone, the hooks go with it. This is what enforce mode stops.
    ids = killed_loader(pins, policy, VOUCH_MODE_AUDIT, agents).programs;
    if (!t.ok(!ids.empty(), "audit: a loader pinned %zu hooks and was killed", ids.size()))
        t.bail("loader failed");
    t.ok(umount_as_root({"-l", top}) == 0, "audit: `umount -l` of the tmpfs goes through");
    size_t live = ids.size();
    for (int i = 0; i < 50 && live; ++i) {
        usleep(100 * 1000);
        live = live_programs(ids);
    }
    t.ok(live == 0, "and with the pins freed every hook detaches (%zu of %zu left)", live,
         ids.size());
    return t.finish();
}
