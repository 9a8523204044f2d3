// SPDX-License-Identifier: Apache-2.0
// Enforcement outlives the loader: pinned hooks keep denying after the loader
// is killed, a restarted loader reattaches to the same programs and drains
// what queued meanwhile, and no other root process can switch vouch off.
#include <bpf/bpf.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>

#include "lib/digest.h"
#include "lib/fd.h"
#include "vouchd/kernel_side.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"

using namespace vouch;
using namespace vouch::selftest;

namespace {

const std::string kPins = "/sys/fs/bpf/vouch-selftest";

} // namespace

int main() {
    Tap t("persist", 16);
    (void)vouch::unpin(kPins); // a previous, interrupted run
    TempDir dir;
    std::string allowed = dir.file("allowed"), unlisted = dir.file("unlisted");
    if (!copy_file(helper("true"), allowed, "persist allowed") ||
        !copy_file(helper("true"), unlisted, "persist unlisted"))
        t.bail("cannot create test files");
    std::vector<vouch_digest> policy = {digest_of(t, allowed), digest_of(t, helper("tamper"))};
    std::vector<vouch_digest> agents = {digest_of(t, "/proc/self/exe")};

    // The loader pins, enforces, reports its programs and is killed.
    auto loader = killed_loader(kPins, policy, VOUCH_MODE_ENFORCE, agents);
    const std::vector<uint32_t> &loader_ids = loader.programs;
    const uint32_t allow_id = loader.allow_id;
    if (!t.ok(!loader_ids.empty(), "the loader pinned %zu hooks under %s and enforces",
              loader_ids.size(), kPins.c_str()))
        t.bail("loader failed");
    auto r = run({unlisted});
    bool denied = r.exec_errno == EPERM;
    if (t.broken())
        denied = !denied;
    t.ok(denied, "after the loader is killed, an unlisted exec still gets EPERM");
    t.ok(exit_status(run({allowed})) == 0, "and an allowed exec still runs");

    // Another root process (not the agent) tries to switch vouch off.
    std::string tamper = helper("tamper");
    t.ok(exit_status(run({tamper, "update", kPins + "/allow_a"})) == 1 &&
             exit_status(run({tamper, "update", kPins + "/allow_b"})) == 1,
         "another root process cannot open the allow-list for writing");
    t.ok(exit_status(run({tamper, "update", kPins + "/vouch_config"})) == 1, "nor the mode");
    t.ok(exit_status(run({tamper, "detach", kPins + "/link_vouch_bprm_check"})) == 1,
         "nor detach the exec hook");
    t.ok(exit_status(run({tamper, "unlink", kPins + "/link_vouch_mmap_file"})) == 1,
         "nor remove a pinned link");
    t.ok(exit_status(run({tamper, "progwrite", kPins + "/allow_a"})) == 1 &&
             exit_status(run({tamper, "progwrite-id", std::to_string(allow_id)})) == 1,
         "nor get even a read-only descriptor for the allow-list (pin or map id %u), through "
         "which a BPF program of its own could write it",
         allow_id);
    // A path the kernel side is building sits there until it is copied
    // into its event: whoever could write the map could rename a file in the log.
    t.ok(loader.scratch_id &&
             exit_status(run({tamper, "progwrite-id", std::to_string(loader.scratch_id)})) == 1,
         "nor one for the per-CPU buffer paths are built in (map id %u)", loader.scratch_id);
    t.ok(exit_status(run({unlisted})) == -1, "enforcement is intact after those attempts");

    // The restarted loader (this process, the agent) reattaches.
    KernelSideOptions o;
    o.pin_dir = kPins;
    auto ks = KernelSide::load(o);
    if (!t.ok(ks && (*ks)->reattached(), "a restarted loader reattaches to the pins"))
        t.bail(ks ? "loaded fresh instead of reattaching" : ks.error().message);
    auto ids = (*ks)->prog_ids();
    t.ok(ids == loader_ids, "to the very programs the killed loader attached (no reload)");

    EventLog log(**ks);
    auto queued = log.wait_for([&](const vouch_event &e) {
        return e.verdict == VOUCH_VERDICT_DENY && std::string(e.path) == unlisted;
    });
    t.ok(queued != nullptr, "and drains the denial that queued while no loader ran");

    // Its first policy store continues the pinned generation, so the verdicts
    // cached under the killed loader's policy are retired, not reused.
    auto cfg0 = (*ks)->config();
    std::vector<vouch_digest> narrower = {digest_of(t, helper("tamper"))};
    auto set = (*ks)->set_policy(narrower, VOUCH_MODE_ENFORCE, agents);
    auto cfg1 = (*ks)->config();
    uint64_t g0 = cfg0 ? VOUCH_POLICY_GEN(cfg0->policy) : 0;
    uint64_t g1 = cfg1 ? VOUCH_POLICY_GEN(cfg1->policy) : 0;
    if (!t.ok(set && g0 >= 1 && g1 == g0 + 1 && run({allowed}).exec_errno == EPERM,
              "its policy continues the pinned generation (%llu -> %llu) and applies at once",
              (unsigned long long)g0, (unsigned long long)g1))
        t.diag("set_policy: %s", set ? "ok" : set.error().message.c_str());

    (void)(*ks)->clear_policy();
    // What enforce mode prevented: with no policy enforcing, a read-only
    // descriptor is all another root process needs to rewrite the allow-list.
    t.ok(exit_status(run({tamper, "progwrite", kPins + "/allow_a"})) == 0,
         "audit: another root process's BPF program writes the allow-list through a read-only "
         "descriptor");
    auto un = vouch::unpin(kPins);
    ks->reset();
    t.ok(un && exit_status(run({unlisted})) == 0,
         "the agent can unpin; with the hooks gone the unlisted exec runs");
    return t.finish();
}
