/* SPDX-License-Identifier: Apache-2.0 */
/*
 * setflags +i|-i FILE: sets or clears the immutable inode flag with
 * FS_IOC_SETFLAGS on a read-only descriptor, as chattr(1) does. Debian's
 * busybox has no chattr.
 */
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int fd, flags;

	if (argc != 3 || (strcmp(argv[1], "+i") && strcmp(argv[1], "-i")))
		return 2;
	fd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags)) {
		perror("FS_IOC_GETFLAGS");
		return 1;
	}
	if (argv[1][0] == '+')
		flags |= FS_IMMUTABLE_FL;
	else
		flags &= ~FS_IMMUTABLE_FL;
	if (ioctl(fd, FS_IOC_SETFLAGS, &flags)) {
		perror("FS_IOC_SETFLAGS");
		return 1;
	}
	return 0;
}
