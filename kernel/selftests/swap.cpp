// An allow-list swap is atomic: while policies are swapped back and forth
// under a concurrent exec loop, an unlisted binary never runs and a listed
// one is never denied.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <random>

#include "digest.h"
#include "kernel_side.h"
#include "lib/tap.h"
#include "lib/util.h"

using namespace vouch;
using namespace vouch::selftest;

namespace {

vouch_digest digest_of(Tap &t, const std::string &path) {
    auto d = sha256_file(path);
    if (!d)
        t.bail(d.error().message);
    vouch_digest out{};
    std::memcpy(out.bytes, d->data(), sizeof(out.bytes));
    return out;
}

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
    Tap t("swap", 4);
    auto ks = KernelSide::load({});
    if (!ks)
        t.bail(ks.error().message);
    TempDir dir;
    std::string listed = dir.file("listed"), unlisted = dir.file("unlisted");
    if (!copy_file(helper("true"), listed, "swap listed") ||
        !copy_file(helper("true"), unlisted, "swap unlisted"))
        t.bail("cannot create test files");

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
