// SPDX-License-Identifier: Apache-2.0
// make bench reads "vouch's hooks, empty programs" as the floor under vouch's
// cost; that floor is only right if bpf/bench_hooks.bpf.c attaches to the
// same hooks as bpf/vouch.bpf.c, each sleepable or not alike.
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>

#include "bench_hooks.skel.h"
#include "vouch.skel.h"
#include "lib/owned.h"

namespace {

// Section names ("lsm.s/mmap_file") carry both the hook and the sleepable flag.
std::set<std::string> sections(bpf_object *obj) {
    std::set<std::string> out;
    bpf_program *p;
    bpf_object__for_each_program(p, obj) out.insert(bpf_program__section_name(p));
    return out;
}

TEST(BenchHooks, SameHooksAsVouch) {
    vouch::Owned<vouch_bpf, vouch_bpf__destroy> vouch(vouch_bpf__open());
    vouch::Owned<bench_hooks_bpf, bench_hooks_bpf__destroy> empty(bench_hooks_bpf__open());
    ASSERT_TRUE(vouch) << "open vouch.bpf.o";
    ASSERT_TRUE(empty) << "open bench_hooks.bpf.o";
    const auto want = sections(vouch->obj);
    EXPECT_GE(want.size(), 4u);
    EXPECT_TRUE(want.count("lsm.s/mmap_file"));
    EXPECT_EQ(sections(empty->obj), want);
}

} // namespace
