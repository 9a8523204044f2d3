// SPDX-License-Identifier: Apache-2.0
// A hook whose prototype changed between kernels has one program per
// prototype (bpf/vouch.bpf.c); the loader must attach exactly one of them,
// or the same hook would run twice or not at all.
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include "vouch.skel.h"
#include "lib/owned.h"
#include "vouchd/kernel_side.h"

namespace {

TEST(Programs, OneProgramPerHookPrototype) {
    vouch::Owned<vouch_bpf, vouch_bpf__destroy> s(vouch_bpf__open());
    ASSERT_TRUE(s) << "open vouch.bpf.o";
    vouch::choose_programs(s.get());
    const bool idmap = vouch::kernel_setattr_has_idmap();
    EXPECT_EQ(bpf_program__autoload(s->progs.vouch_inode_setattr), idmap);
    EXPECT_EQ(bpf_program__autoload(s->progs.vouch_inode_setattr_6_1), !idmap);
    const bool acl = vouch::kernel_has_acl_hooks();
    EXPECT_EQ(bpf_program__autoload(s->progs.vouch_inode_set_acl), acl);
    EXPECT_EQ(bpf_program__autoload(s->progs.vouch_inode_remove_acl), acl);
    // Hooks every supported kernel has.
    EXPECT_TRUE(bpf_program__autoload(s->progs.vouch_sb_mount));
    EXPECT_TRUE(bpf_program__autoload(s->progs.vouch_move_mount));
    EXPECT_TRUE(bpf_program__autoload(s->progs.vouch_inode_setxattr));
}

} // namespace
