// SPDX-License-Identifier: Apache-2.0
// A full ring buffer never hides a measurement: every event that cannot be
// queued is counted, and in enforce mode the access it belonged to is denied.
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "lib/digest.h"
#include "vouchd/kernel_side.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"

using namespace vouch;
using namespace vouch::selftest;

int main() {
    Tap t("ringbuf", 5);
    KernelSideOptions o;
    o.ringbuf_bytes = 16384; // room for three events
    auto ks = KernelSide::load(o);
    if (!ks)
        t.bail(ks.error().message);
    TempDir dir;

    // Nobody consumes: ten new files, ten events, most of them cannot fit.
    int ran = 0;
    std::vector<vouch_digest> policy;
    for (int i = 0; i < 10; ++i) {
        std::string f = dir.file("f" + std::to_string(i));
        copy_file(helper("true"), f, "ringbuf " + std::to_string(i));
        auto r = run({f});
        ran += exit_status(r) == 0;
    }
    auto st = (*ks)->stats();
    if (!st)
        t.bail(st.error().message);
    uint64_t drops = st->ringbuf_drops;
    if (t.broken())
        drops = 0;
    t.ok(ran == 10, "audit: all ten execs ran with the buffer full");
    t.ok(drops >= 7, "every event that did not fit was counted (%llu lost, %llu queued)",
         (unsigned long long)drops, (unsigned long long)st->measured);

    // Enforce: a new, allowed file whose event cannot be queued is denied.
    std::string f = dir.file("enforced");
    copy_file(helper("true"), f, "ringbuf enforced");
    auto d = sha256_file(f);
    vouch_digest vd{};
    std::memcpy(vd.bytes, d->data(), 32);
    if (auto r = (*ks)->set_policy({vd}, VOUCH_MODE_ENFORCE); !r)
        t.bail(r.error().message);
    auto r = run({f});
    auto st2 = (*ks)->stats();
    t.ok(r.exec_errno == EPERM, "enforce: an allowed exec whose event is lost gets EPERM (%d)",
         r.exec_errno);
    t.ok(st2 && st2->ringbuf_drops > st->ringbuf_drops, "and the loss is counted");

    // Drain, and the same exec runs and is measured.
    size_t seen = 0;
    if (auto s = (*ks)->start_events([&](const vouch_event &) { ++seen; }); !s)
        t.bail(s.error().message);
    (void)(*ks)->consume();
    r = run({f});
    t.ok(r.exec_errno == 0 && seen >= 3, "after draining %zu queued events it runs", seen);
    (void)(*ks)->clear_policy();
    return t.finish();
}
