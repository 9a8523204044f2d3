/* SPDX-License-Identifier: Apache-2.0 */
/*
 * movemount SRC DST: a copy of the mount tree at SRC (open_tree with
 * OPEN_TREE_CLONE) attached at DST with move_mount(2), the new mount API's
 * bind mount, which the mount(2) hook (sb_mount) does not see. busybox has no
 * tool for it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#define OPEN_TREE_CLONE 1
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004

int main(int argc, char **argv)
{
	int fd;

	if (argc != 3)
		return 2;
	fd = (int)syscall(SYS_open_tree, AT_FDCWD, argv[1], OPEN_TREE_CLONE | O_CLOEXEC);
	if (fd < 0) {
		perror("open_tree");
		return 1;
	}
	if (syscall(SYS_move_mount, fd, "", AT_FDCWD, argv[2], MOVE_MOUNT_F_EMPTY_PATH)) {
		perror("move_mount");
		return 1;
	}
	return 0;
}
