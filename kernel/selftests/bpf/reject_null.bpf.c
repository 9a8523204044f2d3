// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * The load_errors selftest only: a program every verifier rejects (a map
 * value used without its NULL check; a hash map, since newer verifiers know
 * that an array lookup with a constant key in range cannot fail), to show how vouch reports a rejection.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counter SEC(".maps");

SEC("lsm/file_open")
long BPF_PROG(reject_null, struct file *file, int ret)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&counter, &zero);

	*v += 1;
	return 0;
}
