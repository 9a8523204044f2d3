/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A script interpreter's first step, as execveat(2) documents it for
 * AT_EXECVE_CHECK (Linux 6.14+): ask the kernel whether it would execute the
 * script, before reading it. Exits 0 when the kernel allows it, otherwise
 * with the errno (EPERM: a security module refused; EINVAL: the kernel does
 * not know the flag).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef AT_EXECVE_CHECK
#define AT_EXECVE_CHECK 0x10000
#endif

int main(int argc, char **argv)
{
	char *args[] = {argv[1], NULL};
	char *env[] = {NULL};
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: checkexec SCRIPT\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (syscall(SYS_execveat, fd, "", args, env, AT_EMPTY_PATH | AT_EXECVE_CHECK) != 0) {
		int err = errno;

		printf("checkexec: %s: %s\n", argv[1], strerror(err));
		return err;
	}
	return 0;
}
