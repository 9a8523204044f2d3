// SPDX-License-Identifier: Apache-2.0
// Code injection into listed programs (issue #14, items 4 and 5): writing new
// code into a process through /proc/self/mem (also in the shell form DDexec
// uses: a listed shell and dd), ptrace POKETEXT, process_vm_writev,
// PTRACE_TRACEME, and prctl(PR_SET_MM_EXE_FILE), which would let a process
// pose as the agent. Each runs twice: under an audit-mode policy it works and
// is counted as a would-be denial; under the same policy enforcing it is
// refused with EPERM, for root and for an unprivileged user alike.
#include <unistd.h>

#include <string>
#include <vector>

#include "lib/digest.h"
#include "vouchd/kernel_side.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"

using namespace vouch;
using namespace vouch::selftest;

namespace {

constexpr const char *kNobody = "65534";
constexpr const char *kBusybox = "/bin/busybox";

struct Attack {
    const char *name;
    std::vector<std::string> args; // after `inject`; "@" is replaced by the agent file
    bool kernel_may_refuse;        // the kernel's own answer without vouch is not "yes"
};

const std::vector<Attack> &attacks() {
    static const std::vector<Attack> a = {
        {"root writes its own code through /proc/self/mem", {"selfmem"}, false},
        {"an unprivileged user writes its own code through /proc/self/mem",
         {"--uid", kNobody, "selfmem"},
         false},
        {"an unprivileged user pokes code into its child (PTRACE_ATTACH + POKETEXT)",
         {"--uid", kNobody, "poke"},
         false},
        {"an unprivileged user writes its child's memory (process_vm_writev)",
         {"--uid", kNobody, "vmwrite"},
         false},
        {"an unprivileged child asks to be traced (PTRACE_TRACEME)",
         {"--uid", kNobody, "traceme"},
         false},
        // The kernel itself refuses while the old executable is still mapped
        // (EBUSY): what matters is that vouch refuses before it looks.
        {"root points its executable at the agent (PR_SET_MM_EXE_FILE)", {"setexe", "@"}, true},
        {"shell form: `exec 3>/proc/self/mem` in a listed shell, unprivileged",
         {"--uid", kNobody, "exec", kBusybox, "sh", "-c", "exec 3>/proc/self/mem"},
         false},
        {"shell form: `dd of=/proc/self/mem conv=notrunc`, unprivileged",
         {"--uid", kNobody, "exec", kBusybox, "dd", "if=/dev/zero", "of=/proc/self/mem", "bs=1",
          "count=0", "conv=notrunc"},
         false},
    };
    return a;
}

int attempt(const std::string &inject, const Attack &a, const std::string &agent) {
    std::vector<std::string> argv = {inject};
    for (const auto &s : a.args)
        argv.push_back(s == "@" ? agent : s);
    return exit_status(run(argv));
}

} // namespace

int main() {
    const size_t n = attacks().size();
    Tap t("inject", static_cast<int>(2 * n + 4));
    auto loaded = KernelSide::load({});
    if (!loaded)
        t.bail(loaded.error().message);
    KernelSide &ks = **loaded;
    TempDir dir;

    // World-readable, so the unprivileged runs can exec busybox from it.
    const std::string inject = dir.file("inject"), agent = dir.file("agent");
    if (!copy_file(helper("inject"), inject, "inject") ||
        !copy_file(helper("true"), agent, "inject-agent"))
        t.bail("cannot copy the helpers");
    const std::vector<vouch_digest> listed = {digest_of(t, inject), digest_of(t, kBusybox)};
    const std::vector<vouch_digest> agents = {digest_of(t, agent)};

    if (auto s = ks.set_policy(listed, VOUCH_MODE_AUDIT, agents); !s)
        t.bail(s.error().message);
    auto before = ks.stats();
    for (const auto &a : attacks()) {
        int rc = attempt(inject, a, agent);
        bool works = a.kernel_may_refuse ? rc != 1 : rc == 0;
        if (t.broken())
            works = !works;
        t.ok(works, "audit: %s: not refused by vouch (exit %d)", a.name, rc);
    }
    auto after = ks.stats();
    if (!before || !after)
        t.bail("cannot read the kernel side's counters");
    t.ok(after->audit_denied - before->audit_denied >= n,
         "audit: each attempt counted as a would-be denial (%llu for %zu attempts)",
         static_cast<unsigned long long>(after->audit_denied - before->audit_denied), n);

    if (auto s = ks.set_policy(listed, VOUCH_MODE_ENFORCE, agents); !s)
        t.bail(s.error().message);
    before = ks.stats();
    for (const auto &a : attacks()) {
        int rc = attempt(inject, a, agent);
        // The shell forms report the refused open their own way.
        bool shell = a.args.size() > 3 && a.args[2] == "exec";
        t.ok(shell ? rc != 0 : rc == 1, "enforce: %s: refused (exit %d)", a.name, rc);
    }
    after = ks.stats();
    if (!before || !after)
        t.bail("cannot read the kernel side's counters");
    t.ok(after->denied - before->denied >= n, "enforce: each refusal counted (%llu for %zu)",
         static_cast<unsigned long long>(after->denied - before->denied), n);
    t.ok(exit_status(run({inject, "--uid", kNobody, "readmem"})) == 0,
         "enforce: reading /proc/self/mem is still allowed");
    t.ok(exit_status(run({inject, "--uid", kNobody, "prctl"})) == 0,
         "enforce: other prctl options still work (PR_SET_NAME)");

    if (auto s = ks.clear_policy(); !s)
        t.bail(s.error().message);
    return t.finish();
}
