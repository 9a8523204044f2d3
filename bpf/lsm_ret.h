/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Return values of BPF LSM programs, for every kernel vouch runs on.
 *
 * Since 6.12 the verifier refuses a BPF LSM program unless it can prove, on
 * every path, that the program returns 0 or a negative errno down to
 * -MAX_ERRNO (-4095), and 6.12 checks all 64 bits of R0. Two things follow:
 *
 * - Programs are declared `long BPF_PROG(...)`. With `int`, clang may compute
 *   the result in a 32-bit subregister and return it zero-extended, so -EPERM
 *   reaches the verifier as 4294967295.
 * - A value the verifier cannot bound (the `ret` of an earlier program on the
 *   same hook, which it knows only as an int, or -EPERM built with a negation
 *   that older verifiers do not track) goes through lsm_errno(): two signed
 *   compares in asm, which clang cannot fold into the single unsigned range
 *   test the verifier cannot follow. A value in range passes unchanged, so an
 *   earlier program's errno still reaches the caller as it was.
 */
#ifndef VOUCH_LSM_RET_H
#define VOUCH_LSM_RET_H

#define VOUCH_MAX_ERRNO 4095

/* @ret when it is 0 or an errno in range, else -EPERM (-1). */
static __always_inline long lsm_errno(long ret)
{
	asm volatile("if %[r] s< -4095 goto 1f\n\t"
		     "if %[r] s<= 0 goto 2f\n"
		     "1:\n\t"
		     "%[r] = -1\n"
		     "2:\n"
		     : [r] "+r"(ret));
	return ret;
}

#endif /* VOUCH_LSM_RET_H */
