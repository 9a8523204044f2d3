/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A dynamically linked program for the selftests: with an argument it
 * dlopen()s that library and calls its vouch_test_fn(); exit 3 if the library
 * cannot be loaded, so a denial is visible in the exit status.
 */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	void *h;
	int (*fn)(void);

	if (argc < 2)
		return 0;
	h = dlopen(argv[1], RTLD_NOW);
	if (!h) {
		fprintf(stderr, "dyn: %s\n", dlerror());
		return 3;
	}
	fn = (int (*)(void))dlsym(h, "vouch_test_fn");
	return fn ? fn() : 4;
}
