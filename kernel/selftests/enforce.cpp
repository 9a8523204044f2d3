// SPDX-License-Identifier: Apache-2.0
// The allow-list: audit reports, enforce denies, and none of the usual ways
// around it (dynamic loader, dlopen, LD_PRELOAD, memfd, scripts, mprotect,
// changing a file after it was measured) gets an unlisted file executed.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "lib/digest.h"
#include "vouchd/kernel_side.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"

using namespace vouch;
using namespace vouch::selftest;

namespace {

std::string real(const char *p) {
    char buf[PATH_MAX];
    return realpath(p, buf) ? buf : p;
}

bool write_file(const std::string &path, const std::string &data, mode_t mode) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
    return chmod(path.c_str(), mode) == 0;
}

// fexecve() of a memfd holding `src`'s bytes; returns the execve errno or 0.
ExecResult run_memfd(const std::string &src) {
    ExecResult r;
    int mfd = memfd_create("vouch-selftest", MFD_CLOEXEC);
    std::ifstream in(src, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (mfd < 0 || write(mfd, data.data(), data.size()) != (ssize_t)data.size()) {
        r.exec_errno = errno;
        return r;
    }
    // exec needs a file no one has open for write (else ETXTBSY): reopen it
    // read-only and close the writable descriptor.
    std::string self = "/proc/self/fd/" + std::to_string(mfd);
    int rfd = open(self.c_str(), O_RDONLY | O_CLOEXEC);
    close(mfd);
    if (rfd < 0) {
        r.exec_errno = errno;
        return r;
    }
    r = spawn([rfd] {
        char *argv[] = {const_cast<char *>("memfd"), nullptr};
        char *envp[] = {nullptr};
        fexecve(rfd, argv, envp);
    });
    close(rfd);
    return r;
}

} // namespace

int main() {
    Tap t("enforce", 18);
    auto loaded = KernelSide::load({});
    if (!loaded)
        t.bail(loaded.error().message);
    KernelSide &ks = **loaded;
    EventLog log(ks);
    TempDir dir;

    const std::string allowed = dir.file("allowed"), unlisted = dir.file("unlisted"),
                      dynprog = dir.file("dynprog"), dynunlisted = dir.file("dynunlisted"),
                      lib_ok = dir.file("libok.so"), lib_bad = dir.file("libbad.so"),
                      interp_bad = dir.file("interp"), script_bad = dir.file("script-bad"),
                      script_ok = dir.file("script-ok"), marker = dir.file("marker"),
                      mapped = dir.file("mapped");
    bool setup = copy_file(helper("true"), allowed, "allowed") &&
                 copy_file(helper("true"), unlisted, "unlisted") &&
                 copy_file(helper("dyn"), dynprog, "listed") &&
                 copy_file(helper("dyn"), dynunlisted, "unlisted") &&
                 copy_file(helper("libvouchtest.so"), lib_ok, "ok") &&
                 copy_file(helper("libvouchtest.so"), lib_bad, "bad") &&
                 copy_file(helper("true"), interp_bad, "interpreter") &&
                 copy_file(helper("true"), mapped, "mapped") &&
                 write_file(script_bad, "#!" + interp_bad + "\n", 0755) &&
                 write_file(script_ok, "#!" + allowed + "\n", 0755);
    if (!setup)
        t.bail("cannot create the test files in " + dir.path());

    std::vector<vouch_digest> policy;
    for (const auto &p :
         {allowed, dynprog, lib_ok, script_bad, script_ok, real("/lib64/ld-linux-x86-64.so.2"),
          real("/lib/x86_64-linux-gnu/libc.so.6")})
        policy.push_back(digest_of(t, p));
    vouch_digest unlisted_digest = digest_of(t, unlisted);

    auto deny_event_for = [&](const std::string &path, uint16_t verdict) {
        return log.wait_for([&](const vouch_event &e) {
            return e.verdict == verdict && std::string(e.path) == path;
        });
    };

    // --- audit: report, do not deny ---
    if (auto r = ks.set_policy(policy, VOUCH_MODE_AUDIT); !r)
        t.bail(r.error().message);
    auto r = run({unlisted});
    t.ok(exit_status(r) == 0, "audit: an unlisted exec runs");
    t.ok(deny_event_for(unlisted, VOUCH_VERDICT_AUDIT_DENY) != nullptr,
         "audit: and is reported as a would-be denial");

    // --- enforce ---
    if (auto r2 = ks.set_policy(policy, VOUCH_MODE_ENFORCE); !r2)
        t.bail(r2.error().message);
    t.ok(exit_status(run({allowed})) == 0, "enforce: an allowed exec runs");
    r = run({unlisted});
    bool eperm = r.exec_errno == EPERM;
    if (t.broken())
        eperm = !eperm;
    if (!t.ok(eperm, "enforce: an unlisted exec gets EPERM"))
        t.diag("execve errno %d (%s)", r.exec_errno, strerror(r.exec_errno));
    const vouch_event *ev = deny_event_for(unlisted, VOUCH_VERDICT_DENY);
    t.ok(ev && std::memcmp(ev->digest, unlisted_digest.bytes, 32) == 0,
         "enforce: the denial is reported with the file's digest");

    t.ok(exit_status(run({dynprog, lib_ok})) == 0, "dlopen of a listed library works");
    r = run({dynprog, lib_bad});
    t.ok(exit_status(r) == 3, "dlopen of an unlisted library is denied (status %d)",
         WEXITSTATUS(r.status));

    r = run({dynprog}, {"LD_PRELOAD=" + lib_bad, "VOUCH_TEST_MARKER=" + marker});
    t.ok(access(marker.c_str(), F_OK) != 0 && deny_event_for(lib_bad, VOUCH_VERDICT_DENY),
         "LD_PRELOAD of an unlisted library: its code never runs");
    r = run({dynprog}, {"LD_PRELOAD=" + lib_ok, "VOUCH_TEST_MARKER=" + marker});
    t.ok(exit_status(r) == 0 && access(marker.c_str(), F_OK) == 0,
         "LD_PRELOAD of a listed library still works");

    r = run({"/lib64/ld-linux-x86-64.so.2", dynunlisted});
    t.ok(r.exec_errno == 0 && exit_status(r) != 0 &&
             deny_event_for(dynunlisted, VOUCH_VERDICT_DENY),
         "an unlisted program run through the dynamic loader is denied");

    r = run_memfd(unlisted);
    t.ok(r.exec_errno == EPERM, "memfd_create + fexecve of unlisted bytes gets EPERM (errno %d)",
         r.exec_errno);
    r = run_memfd(allowed);
    t.ok(exit_status(r) == 0, "memfd_create + fexecve of allowed bytes runs (digest, not path)");

    r = run({script_bad});
    t.ok(r.exec_errno == EPERM, "a listed script with an unlisted interpreter gets EPERM (%d)",
         r.exec_errno);
    t.ok(exit_status(run({script_ok})) == 0, "a listed script with a listed interpreter runs");

    // mprotect: map without exec (not measured), then ask for exec.
    {
        int fd = open(mapped.c_str(), O_RDONLY);
        void *m = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
        int rc = m == MAP_FAILED ? -1 : mprotect(m, 4096, PROT_READ | PROT_EXEC);
        int e = errno;
        t.ok(m != MAP_FAILED && rc == -1 && e == EPERM,
             "mprotect(PROT_EXEC) of an unmeasured file mapping gets EPERM");
        if (m != MAP_FAILED)
            munmap(m, 4096);
        close(fd);
        fd = open(lib_ok.c_str(), O_RDONLY);
        m = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
        rc = m == MAP_FAILED ? -1 : mprotect(m, 4096, PROT_READ | PROT_EXEC);
        t.ok(rc == 0, "mprotect(PROT_EXEC) of a measured, allowed file works");
        if (m != MAP_FAILED)
            munmap(m, 4096);
        close(fd);
    }

    // An allowed file changed after it was measured (and cached).
    {
        int fd = open(allowed.c_str(), O_WRONLY | O_APPEND);
        (void)!write(fd, "tampered", 8);
        close(fd);
        r = run({allowed});
        t.ok(r.exec_errno == EPERM, "an allowed file changed after measurement is denied");
    }

    if (auto r3 = ks.set_policy(policy, VOUCH_MODE_AUDIT); !r3)
        t.bail(r3.error().message);
    t.ok(exit_status(run({unlisted})) == 0, "back to audit: the unlisted exec runs again");
    return t.finish();
}
