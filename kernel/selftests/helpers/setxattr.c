/* SPDX-License-Identifier: Apache-2.0 */
/*
 * setxattr NAME HEX FILE: set an extended attribute from hex bytes (busybox
 * has no setfattr). Used to give files a security.ima signature blob.
 * setxattr NAME - FILE: remove it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

int main(int argc, char **argv)
{
	unsigned char buf[4096];
	size_t n = 0;
	const char *h;

	if (argc != 4)
		return 2;
	if (strcmp(argv[2], "-") == 0) {
		if (removexattr(argv[3], argv[1])) {
			perror("removexattr");
			return 1;
		}
		return 0;
	}
	for (h = argv[2]; h[0] && h[1] && n < sizeof(buf); h += 2) {
		char pair[3] = {h[0], h[1], 0};
		buf[n++] = (unsigned char)strtoul(pair, NULL, 16);
	}
	if (setxattr(argv[3], argv[1], buf, n, 0)) {
		perror("setxattr");
		return 1;
	}
	return 0;
}
