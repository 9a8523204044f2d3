/*
 * Another root process trying to switch vouch off. Static, uses the raw bpf()
 * syscall. Usage:
 *   tamper update MAP_PIN   get a writable fd for the map and write to it
 *   tamper detach LINK_PIN  detach the link
 *   tamper unlink PIN       remove the pin
 * Exit: 0 the attempt succeeded (vouch was tampered with), 1 refused with
 * EPERM, 2 failed for another reason.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static int verdict(const char *what, long rc)
{
	if (rc >= 0) {
		printf("tamper: %s succeeded\n", what);
		return 0;
	}
	printf("tamper: %s refused: %s\n", what, strerror(errno));
	return errno == EPERM ? 1 : 2;
}

int main(int argc, char **argv)
{
	union bpf_attr attr;
	long fd;

	if (argc != 3)
		return 2;
	if (!strcmp(argv[1], "unlink"))
		return verdict("unlink", unlink(argv[2]));

	memset(&attr, 0, sizeof(attr));
	attr.pathname = (unsigned long)argv[2];
	fd = sys_bpf(BPF_OBJ_GET, &attr);
	if (!strcmp(argv[1], "update")) {
		unsigned char key[32] = {0};
		unsigned int value = 3;

		if (fd < 0)
			return verdict("open map for write", fd);
		memset(&attr, 0, sizeof(attr));
		attr.map_fd = fd;
		attr.key = (unsigned long)key;
		attr.value = (unsigned long)&value;
		return verdict("map update", sys_bpf(BPF_MAP_UPDATE_ELEM, &attr));
	}
	if (!strcmp(argv[1], "detach")) {
		if (fd < 0)
			return verdict("open link", fd);
		memset(&attr, 0, sizeof(attr));
		attr.link_detach.link_fd = fd;
		return verdict("link detach", sys_bpf(BPF_LINK_DETACH, &attr));
	}
	return 2;
}
