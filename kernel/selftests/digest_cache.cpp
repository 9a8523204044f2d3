// SPDX-License-Identifier: Apache-2.0
// vouch's per-inode digest cache: an unchanged file is hashed once (a cached
// exec reads no file data and emits no event); a changed file is hashed again.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/digest.h"
#include "vouchd/kernel_side.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"

using namespace vouch;
using namespace vouch::selftest;

int main() {
    Tap t("digest_cache", 7);
    auto ks = KernelSide::load({});
    if (!ks)
        t.bail(ks.error().message);
    EventLog log(**ks);
    TempDir dir;
    std::string prog = dir.file("prog");
    if (!copy_file(helper("true"), prog, "digest_cache v1"))
        t.bail("copy helper");
    struct stat st {};
    stat(prog.c_str(), &st);
    auto for_prog = [&](const vouch_event &e) { return same_inode(e, st); };

    auto before0 = (*ks)->stats();
    auto r1 = run({prog});
    auto first = log.wait_for(for_prog);
    // The exec's own PROT_EXEC mapping of the file follows; settle.
    log.wait_for([](const vouch_event &) { return false; }, 300);
    auto before = (*ks)->stats();
    if (!before0 || !before)
        t.bail("cannot read stats");
    if (!t.ok(exit_status(r1) == 0 && first && !(first->flags & VOUCH_EVF_CACHED) &&
                  before->hashes - before0->hashes == 1,
              "first exec is hashed once (exec check and the ELF mapping share it)"))
        t.diag("hashes during first exec: %llu",
               (unsigned long long)(before->hashes - before0->hashes));
    size_t events_before = log.count_if(for_prog);

    auto r2 = run({prog});
    log.wait_for([](const vouch_event &) { return false; }, 300);
    auto after = (*ks)->stats();
    if (!before || !after)
        t.bail("cannot read stats");
    uint64_t hashes = after->hashes - before->hashes;
    if (t.broken())
        hashes += 1;
    if (!t.ok(exit_status(r2) == 0 && hashes == 0,
              "second exec of the unchanged file does not hash again"))
        t.diag("bpf_ima_file_hash calls during second exec: %llu", (unsigned long long)hashes);
    t.ok(after->cache_hits > before->cache_hits,
         "second exec was served from the cache (%llu hits)",
         (unsigned long long)(after->cache_hits - before->cache_hits));
    t.ok(log.count_if(for_prog) == events_before,
         "a cached exec of an already-measured file emits no event");

    // Change the file in place (same inode): it must be hashed again.
    {
        int fd = open(prog.c_str(), O_WRONLY | O_APPEND);
        (void)!write(fd, "v2", 2);
        close(fd);
    }
    auto want = sha256_file(prog);
    auto r3 = run({prog});
    auto changed = log.wait_for([&](const vouch_event &e) {
        return for_prog(e) && e.hook == VOUCH_HOOK_BPRM_CHECK && !(e.flags & VOUCH_EVF_CACHED) &&
               &e != first;
    });
    auto after3 = (*ks)->stats();
    t.ok(exit_status(r3) == 0 && changed && after3 && after3->hashes > after->hashes,
         "a modified file is hashed again");
    t.ok(changed && want && to_hex({changed->digest, 32}) == to_hex(*want),
         "and its event carries the new digest");

    // A writer open at the time of measurement: never cached (IMA's
    // open-writers case), since the file can change without a new stamp.
    std::string lib = dir.file("mapped");
    copy_file(helper("true"), lib, "digest_cache mapped");
    int wfd = open(lib.c_str(), O_RDWR);
    auto s1 = (*ks)->stats();
    for (int i = 0; i < 2; ++i) {
        int rfd = open(lib.c_str(), O_RDONLY);
        void *m = mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, rfd, 0);
        if (m != MAP_FAILED)
            munmap(m, 4096);
        close(rfd);
    }
    auto s2 = (*ks)->stats();
    close(wfd);
    t.ok(s1 && s2 && s2->hashes - s1->hashes == 2,
         "a file open for write is hashed on every executable mapping");
    return t.finish();
}
