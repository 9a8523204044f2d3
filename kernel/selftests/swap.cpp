// SPDX-License-Identifier: Apache-2.0
// An allow-list swap is atomic: while policies are swapped back and forth
// under a concurrent exec loop, an unlisted binary never runs and a listed
// one is never denied. A swap also retires the verdicts the kernel side
// cached per file: a cached, unchanged file is judged by the new list at once.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <random>

#include "lib/digest.h"
#include "vouchd/kernel_side.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"

using namespace vouch;
using namespace vouch::selftest;

namespace {

std::vector<vouch_digest> filler(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<vouch_digest> out(n);
    for (auto &d : out)
        for (auto &b : d.bytes)
            b = static_cast<uint8_t>(rng());
    return out;
}

struct LoopResult {
    uint32_t iterations, listed_denied, unlisted_ran;
};

} // namespace

int main() {
    Tap t("swap", 8);
    auto ks = KernelSide::load({});
    if (!ks)
        t.bail(ks.error().message);
    TempDir dir;
    std::string listed = dir.file("listed"), unlisted = dir.file("unlisted");
    if (!copy_file(helper("true"), listed, "swap listed") ||
        !copy_file(helper("true"), unlisted, "swap unlisted"))
        t.bail("cannot create test files");

    // Cached verdicts follow the list: `listed` is measured and its verdict
    // cached under a list that allows it, then judged again (from the digest
    // cache, no new hash) under a list without it and back.
    {
        auto with = filler(16, 3), without = filler(16, 4);
        with.push_back(digest_of(t, listed));
        if (auto r = (*ks)->set_policy(with, VOUCH_MODE_ENFORCE); !r)
            t.bail(r.error().message);
        bool warm = exit_status(run({listed})) == 0 && exit_status(run({listed})) == 0;
        auto s0 = (*ks)->stats();
        if (auto r = (*ks)->set_policy(without, VOUCH_MODE_ENFORCE); !r)
            t.bail(r.error().message);
        auto denied = run({listed});
        auto denied2 = run({listed});
        if (auto r = (*ks)->set_policy(with, VOUCH_MODE_ENFORCE); !r)
            t.bail(r.error().message);
        auto again = run({listed});
        auto s1 = (*ks)->stats();
        bool was_denied = denied.exec_errno == EPERM && denied2.exec_errno == EPERM;
        if (t.broken())
            was_denied = !was_denied;
        if (!t.ok(warm && was_denied,
                  "a cached, allowed file is denied right after a swap to a list without it"))
            t.diag("warm %d, exec errno after swap %d, %d", warm, denied.exec_errno,
                   denied2.exec_errno);
        t.ok(exit_status(again) == 0, "and runs again right after a swap back to a list with it");
        uint64_t hashes = s0 && s1 ? s1->hashes - s0->hashes : ~0ull;
        uint64_t hits = s0 && s1 ? s1->cache_hits - s0->cache_hits : 0;
        if (!t.ok(hashes == 0 && hits >= 3,
                  "both verdicts came from the digest cache (%llu hashes, %llu hits): the "
                  "swap itself retired the cached verdicts",
                  (unsigned long long)hashes, (unsigned long long)hits))
            t.diag("stats %s", s0 && s1 ? "read" : "unreadable");
        auto gen = [&]() {
            auto c = (*ks)->config();
            return c ? VOUCH_POLICY_GEN(c->policy) : 0;
        };
        uint64_t g0 = gen();
        (void)(*ks)->set_policy(with, VOUCH_MODE_ENFORCE);
        uint64_t g1 = gen();
        t.ok(g0 > 0 && g1 == g0 + 1, "every policy store takes a new generation (%llu -> %llu)",
             (unsigned long long)g0, (unsigned long long)g1);
    }

    // Two policies that both list `listed`, each with thousands of other
    // digests so that filling the inactive buffer takes a while.
    auto p1 = filler(4000, 1), p2 = filler(4000, 2);
    p1.push_back(digest_of(t, listed));
    p2.insert(p2.begin(), digest_of(t, listed));
    if (auto r = (*ks)->set_policy(p1, VOUCH_MODE_ENFORCE); !r)
        t.bail(r.error().message);

    int pipefd[2];
    if (pipe(pipefd))
        t.bail("pipe");
    pid_t child = fork();
    if (child == 0) {
        close(pipefd[0]);
        LoopResult res{};
        // Runs until the parent, done swapping, creates the stop file.
        for (res.iterations = 0; res.iterations < 100000; ++res.iterations) {
            auto a = run({listed});
            if (a.exec_errno != 0)
                ++res.listed_denied;
            auto b = run({unlisted});
            if (b.exec_errno == 0)
                ++res.unlisted_ran;
            if (getppid() == 1 || access("/tmp/vouch-swap-stop", F_OK) == 0)
                break;
        }
        (void)!write(pipefd[1], &res, sizeof(res));
        _exit(0);
    }
    close(pipefd[1]);
    unlink("/tmp/vouch-swap-stop");
    int swaps = 0, swap_errors = 0;
    for (int i = 0; i < 30; ++i) {
        auto r = (*ks)->set_policy(i % 2 ? p1 : p2, VOUCH_MODE_ENFORCE);
        if (r)
            ++swaps;
        else
            ++swap_errors;
    }
    close(open("/tmp/vouch-swap-stop", O_WRONLY | O_CREAT, 0644));
    LoopResult res{};
    (void)!read(pipefd[0], &res, sizeof(res));
    waitpid(child, nullptr, 0);
    unlink("/tmp/vouch-swap-stop");

    t.ok(swaps == 30 && swap_errors == 0, "30 swaps of 4001-digest policies (%d failed)",
         swap_errors);
    t.ok(res.iterations > 5, "ran concurrently with %u exec pairs", res.iterations);
    uint32_t unlisted_ran = res.unlisted_ran + (t.broken() ? 1 : 0);
    t.ok(unlisted_ran == 0, "an unlisted binary never ran (%u times)", unlisted_ran);
    t.ok(res.listed_denied == 0, "a listed binary was never denied (%u times)", res.listed_denied);
    return t.finish();
}
