// SPDX-License-Identifier: Apache-2.0
// Kernel modules are measured like executables (kernel_read_file): listed
// modules load, unlisted ones and init_module(2) from a buffer are refused
// while enforcing.
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "lib/digest.h"
#include "vouchd/kernel_side.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"

using namespace vouch;
using namespace vouch::selftest;

namespace {

int finit(const std::string &path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    int rc = static_cast<int>(syscall(SYS_finit_module, fd, "", 0));
    int e = rc ? errno : 0;
    close(fd);
    return e;
}

int unload(const char *name) {
    return syscall(SYS_delete_module, name, O_NONBLOCK) ? errno : 0;
}

} // namespace

int main() {
    Tap t("module", 5);
    std::string ko = self_dir() + "/modules/dummy.ko";
    if (access(ko.c_str(), R_OK) != 0) {
        for (const char *n : {"audit load measured", "digest", "unlisted refused",
                              "init_module refused", "listed loads"})
            t.skip(n, "no dummy.ko for this kernel (KERNEL= given)");
        return t.finish();
    }
    auto ks = KernelSide::load({});
    if (!ks)
        t.bail(ks.error().message);
    EventLog log(**ks);
    auto want = sha256_file(ko);
    if (!want)
        t.bail(want.error().message);
    vouch_digest d{};
    std::memcpy(d.bytes, want->data(), 32);

    int e = finit(ko);
    auto ev = log.wait_for([&](const vouch_event &x) {
        return x.hook == VOUCH_HOOK_KERNEL_READ_FILE && std::string(x.path) == ko;
    });
    t.ok(e == 0 && ev, "audit: finit_module loads dummy.ko and it is measured (errno %d)", e);
    bool same = ev && std::memcmp(ev->digest, want->data(), 32) == 0;
    if (t.broken())
        same = !same;
    t.ok(same, "the module's digest equals its SHA-256");
    unload("dummy");

    if (auto r = (*ks)->set_policy({}, VOUCH_MODE_ENFORCE); !r)
        t.bail(r.error().message);
    e = finit(ko);
    t.ok(e == EPERM, "enforce: an unlisted module gets EPERM (errno %d)", e);
    std::ifstream in(ko, std::ios::binary);
    std::string image((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    long rc = syscall(SYS_init_module, image.data(), image.size(), "");
    e = rc ? errno : 0;
    t.ok(e == EPERM, "enforce: init_module from a buffer gets EPERM (errno %d)", e);
    if (auto r = (*ks)->set_policy({d}, VOUCH_MODE_ENFORCE); !r)
        t.bail(r.error().message);
    e = finit(ko);
    t.ok(e == 0, "enforce: a listed module loads (errno %d)", e);
    unload("dummy");
    (void)(*ks)->clear_policy();
    return t.finish();
}
