// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * The load_errors selftest only: an LSM program that returns a positive
 * value. 6.1's verifier does not look at an LSM program's return value and
 * loads it; since 6.12 the verifier requires one it can prove to be 0 or a
 * negative errno on every path, and refuses it. (vouch's own programs failed
 * that proof on 6.12 for a computed -EPERM; see bpf/lsm_ret.h.)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("lsm/file_open")
long BPF_PROG(reject_ret, struct file *file, int ret)
{
	return 1;
}
