/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The benchmark's dynamically linked program. It does nothing, so its exec
 * cost is the kernel's work plus the loader mapping libc: the mappings vouch
 * and IMA measure on the mmap hook, on top of the exec check.
 */
int main(void)
{
	return 0;
}
