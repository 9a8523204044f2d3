/* SPDX-License-Identifier: Apache-2.0 */
/*
 * openbyhandle OP FILE [DEST]: reach FILE through a file handle after the
 * caches were dropped, so that the kernel gives a disconnected dentry (one
 * with no parent directory), then change it: OP is write (O_WRONLY, write
 * "x"), truncate (O_WRONLY, ftruncate to 0), chmod (O_RDONLY, fchmod 0666)
 * or link (O_RDONLY, linkat(AT_EMPTY_PATH) to DEST: a second name outside).
 * Needs CAP_DAC_READ_SEARCH (root). Prints the fd's path, "(disconnected)"
 * when it is not FILE's (d_path of a disconnected dentry gives "/"), and
 * strerror on failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(const char *what)
{
	printf("openbyhandle: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	struct file_handle *h;
	char dir[4096], link[64], where[4096];
	int mount_id, dfd, fd, flags, rc;
	ssize_t n;

	if (argc != 3 && !(argc == 4 && strcmp(argv[1], "link") == 0))
		return 2;
	h = malloc(sizeof(*h) + MAX_HANDLE_SZ);
	if (!h)
		return 2;
	h->handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, argv[2], h, &mount_id, 0))
		return fail("name_to_handle_at");
	snprintf(dir, sizeof(dir), "%s", argv[2]);
	/* the mount to open the handle on; holding it keeps the directory, not the file */
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fail("open the directory");
	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "3", 1) != 1)
		return fail("drop_caches");
	close(fd);
	flags = O_RDONLY;
	if (strcmp(argv[1], "write") == 0 || strcmp(argv[1], "truncate") == 0)
		flags = O_WRONLY;
	fd = open_by_handle_at(dfd, h, flags | O_CLOEXEC);
	if (fd < 0)
		return fail("open_by_handle_at");
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, where, sizeof(where) - 1);
	where[n > 0 ? n : 0] = 0;
	printf("openbyhandle: opened as %s%s\n", where,
	       strcmp(where, argv[2]) ? " (disconnected)" : "");
	if (strcmp(argv[1], "write") == 0)
		rc = write(fd, "x", 1) == 1 ? 0 : -1;
	else if (strcmp(argv[1], "truncate") == 0)
		rc = ftruncate(fd, 0);
	else if (strcmp(argv[1], "chmod") == 0)
		rc = fchmod(fd, 0666);
	else if (strcmp(argv[1], "link") == 0)
		rc = linkat(fd, "", AT_FDCWD, argv[3], AT_EMPTY_PATH);
	else
		return 2;
	if (rc)
		return fail(argv[1]);
	return 0;
}
