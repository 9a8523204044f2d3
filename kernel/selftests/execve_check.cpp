// SPDX-License-Identifier: Apache-2.0
// execveat(AT_EXECVE_CHECK) (Linux 6.14+): a script interpreter that asks the
// kernel whether it may run a script gets vouch's measurement and verdict for
// that script, as if the script were exec'd. On older kernels the flag does
// not exist; the selftest shows that the kernel refuses it (EINVAL), so such
// an interpreter cannot take a silent "yes".
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>

#include "lib/digest.h"
#include "vouchd/kernel_side.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"

using namespace vouch;
using namespace vouch::selftest;

int main() {
    Tap t("execve_check", 5);
    struct utsname u {};
    uname(&u);
    auto loaded = KernelSide::load({});
    if (!loaded)
        t.bail(loaded.error().message);
    KernelSide &ks = **loaded;
    EventLog log(ks);
    TempDir dir;

    const std::string check = dir.file("checkexec"), script = dir.file("script");
    if (!copy_file(helper("checkexec"), check, "execve_check"))
        t.bail("cannot copy the checkexec helper");
    std::ofstream(script) << "#!/bin/sh\necho execve_check " << getpid() << "\n";
    chmod(script.c_str(), 0755);
    vouch_digest script_digest = digest_of(t, script);
    vouch_digest check_digest = digest_of(t, check);

    if (!kernel_has_execve_check()) {
        auto r = run({check, script});
        int rc = exit_status(r);
        t.ok(rc == EINVAL,
             "Linux %s has no AT_EXECVE_CHECK: execveat refuses the flag (EINVAL, got %d)",
             u.release, rc);
        for (const char *n :
             {"audit: the check measures the script", "its digest is the script's",
              "enforce: an unlisted script is refused", "enforce: a listed script is allowed"})
            t.skip(n, "the kernel has no AT_EXECVE_CHECK (6.14+)");
        return t.finish();
    }

    auto r = run({check, script});
    t.ok(exit_status(r) == 0, "Linux %s, audit mode: the check allows the script (got %d)",
         u.release, exit_status(r));
    const vouch_event *ev = log.wait_for([&](const vouch_event &e) {
        return e.hook == VOUCH_HOOK_EXECVE_CHECK && std::string(e.path) == script;
    });
    bool same = ev && memcmp(ev->digest, script_digest.bytes, sizeof(script_digest.bytes)) == 0;
    if (t.broken())
        same = !same;
    t.ok(ev != nullptr, "audit: the check measures the script (hook execve_check)");
    t.ok(same, "its digest is the script's SHA-256");

    // The helper is listed, the script is not.
    if (auto s = ks.set_policy({check_digest}, VOUCH_MODE_ENFORCE); !s)
        t.bail(s.error().message);
    r = run({check, script});
    t.ok(exit_status(r) == EPERM, "enforce: an unlisted script is refused (EPERM, got %d)",
         exit_status(r));
    if (auto s = ks.set_policy({check_digest, script_digest}, VOUCH_MODE_ENFORCE); !s)
        t.bail(s.error().message);
    r = run({check, script});
    t.ok(exit_status(r) == 0, "enforce: a listed script is allowed (got %d)", exit_status(r));
    if (auto s = ks.clear_policy(); !s)
        t.bail(s.error().message);
    return t.finish();
}
