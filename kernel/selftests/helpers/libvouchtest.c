/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A shared library for the dlopen / LD_PRELOAD selftests. Its constructor
 * creates the file named by $VOUCH_TEST_MARKER, which shows that its code ran.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void vouch_test_ctor(void)
{
	const char *marker = getenv("VOUCH_TEST_MARKER");

	if (marker)
		close(open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
}

int vouch_test_fn(void)
{
	return 0;
}
