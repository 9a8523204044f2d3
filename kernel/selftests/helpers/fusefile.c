// SPDX-License-Identifier: Apache-2.0
/*
 * fusefile MOUNTPOINT FILE_A FILE_B: mounts a FUSE filesystem at MOUNTPOINT
 * holding one executable, "prog", and serves FILE_A's bytes as its content.
 * On SIGUSR1 it serves FILE_B's bytes instead, with the same size, times and
 * inode, tells the kernel to drop the cached pages (as any FUSE daemon may),
 * and writes "s" to stdout. "r" on stdout means the mount is up.
 *
 * What the fuse_cache selftest needs: a file whose content changes with
 * nothing the kernel's inode shows (no write, no new timestamp).
 *
 * With FUSEFILE_HANG_GETXATTR=1 in the environment it never answers a
 * getxattr of security.ima: a daemon that stalls whoever asks for a file's
 * IMA signature (exec itself asks for security.capability, answered).
 *
 * The wire format is the kernel's FUSE protocol (include/uapi/linux/fuse.h,
 * version 7); only the requests this file system needs are answered.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
	OP_LOOKUP = 1,
	OP_FORGET = 2,
	OP_GETATTR = 3,
	OP_OPEN = 14,
	OP_READ = 15,
	OP_STATFS = 17,
	OP_GETXATTR = 22,
	OP_RELEASE = 18,
	OP_FLUSH = 25,
	OP_INIT = 26,
	OP_OPENDIR = 27,
	OP_RELEASEDIR = 29,
	OP_INTERRUPT = 36,
	OP_DESTROY = 38,
	OP_BATCH_FORGET = 42,
	NOTIFY_INVAL_INODE = 2,
	ROOT_ID = 1,
	PROG_ID = 2,
};

struct in_header {
	uint32_t len, opcode;
	uint64_t unique, nodeid;
	uint32_t uid, gid, pid;
	uint16_t total_extlen, padding;
};

struct out_header {
	uint32_t len;
	int32_t error;
	uint64_t unique;
};

struct attr {
	uint64_t ino, size, blocks, atime, mtime, ctime;
	uint32_t atimensec, mtimensec, ctimensec, mode, nlink, uid, gid, rdev, blksize, flags;
};

struct entry_out {
	uint64_t nodeid, generation, entry_valid, attr_valid;
	uint32_t entry_valid_nsec, attr_valid_nsec;
	struct attr attr;
};

struct attr_out {
	uint64_t attr_valid;
	uint32_t attr_valid_nsec, dummy;
	struct attr attr;
};

struct init_in {
	uint32_t major, minor, max_readahead, flags;
};

struct init_out {
	uint32_t major, minor, max_readahead, flags;
	uint16_t max_background, congestion_threshold;
	uint32_t max_write, time_gran;
	uint16_t max_pages, map_alignment;
	uint32_t flags2, unused[7];
};

struct open_out {
	uint64_t fh;
	uint32_t open_flags, padding;
};

struct read_in {
	uint64_t fh, offset;
	uint32_t size, read_flags;
	uint64_t lock_owner;
	uint32_t flags, padding;
};

struct inval_inode_out {
	uint64_t ino;
	int64_t off, len;
};

struct statfs_out {
	uint64_t blocks, bfree, bavail, files, ffree;
	uint32_t bsize, namelen, frsize, padding, spare[6];
};

static volatile sig_atomic_t switch_requested;
static int fuse_fd;
static char *content[2];
static size_t content_size;
static int serving; /* index into content */
static unsigned char buf[1 << 20];

static void on_usr1(int sig)
{
	(void)sig;
	switch_requested = 1;
}

static char *slurp(const char *path, size_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *data;

	if (fd < 0 || fstat(fd, &st) || !(data = malloc(st.st_size ? st.st_size : 1)) ||
	    read(fd, data, st.st_size) != st.st_size) {
		fprintf(stderr, "fusefile: cannot read %s: %s\n", path, strerror(errno));
		exit(1);
	}
	close(fd);
	*size = st.st_size;
	return data;
}

static void reply(uint64_t unique, int error, const void *body, size_t len)
{
	static unsigned char out[sizeof(struct out_header) + sizeof(buf)];
	struct out_header h = { .len = sizeof(h), .error = error, .unique = unique };

	if (error || len > sizeof(buf))
		len = 0;
	h.len += len;
	memcpy(out, &h, sizeof(h));
	if (len)
		memcpy(out + sizeof(h), body, len);
	(void)!write(fuse_fd, out, h.len);
}

static void fill_attr(struct attr *a, uint64_t id)
{
	memset(a, 0, sizeof(*a));
	a->ino = id;
	/* fixed times: switching the content changes nothing the inode shows */
	a->atime = a->mtime = a->ctime = 1700000000;
	a->uid = a->gid = 0;
	a->blksize = 4096;
	if (id == ROOT_ID) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
	} else {
		a->mode = S_IFREG | 0755;
		a->nlink = 1;
		a->size = content_size;
		a->blocks = (content_size + 511) / 512;
	}
}

static void do_switch(void)
{
	struct {
		struct out_header h;
		struct inval_inode_out n;
	} msg = { { sizeof(msg), NOTIFY_INVAL_INODE, 0 }, { PROG_ID, 0, 0 } };

	switch_requested = 0;
	serving = 1;
	/* may fail with ENOENT before the kernel looked the file up: nothing cached then */
	(void)!write(fuse_fd, &msg, sizeof(msg));
	(void)!write(1, "s", 1);
}

static void handle(const struct in_header *in, const void *arg)
{
	switch (in->opcode) {
	case OP_INIT: {
		const struct init_in *i = arg;
		struct init_out o = { .major = 7, .minor = 31, .max_readahead = i->max_readahead,
				      .max_write = 1 << 16, .time_gran = 1 };
		reply(in->unique, 0, &o, sizeof(o));
		break;
	}
	case OP_LOOKUP: {
		struct entry_out e = { .nodeid = PROG_ID, .entry_valid = 3600, .attr_valid = 3600 };

		if (in->nodeid != ROOT_ID || strcmp(arg, "prog")) {
			reply(in->unique, -ENOENT, NULL, 0);
			break;
		}
		fill_attr(&e.attr, PROG_ID);
		reply(in->unique, 0, &e, sizeof(e));
		break;
	}
	case OP_GETATTR: {
		struct attr_out a = { .attr_valid = 3600 };

		fill_attr(&a.attr, in->nodeid);
		reply(in->unique, 0, &a, sizeof(a));
		break;
	}
	case OP_OPEN:
	case OP_OPENDIR: {
		/* FOPEN_KEEP_CACHE unset: each open may drop cached pages as well */
		struct open_out o = { .fh = 1 };

		reply(in->unique, 0, &o, sizeof(o));
		break;
	}
	case OP_READ: {
		const struct read_in *r = arg;
		size_t n = 0;

		if (r->offset < content_size) {
			n = content_size - r->offset;
			if (n > r->size)
				n = r->size;
		}
		reply(in->unique, 0, content[serving] + (n ? r->offset : 0), n);
		break;
	}
	case OP_STATFS: {
		struct statfs_out s = { .bsize = 4096, .namelen = 255, .frsize = 4096 };

		reply(in->unique, 0, &s, sizeof(s));
		break;
	}
	case OP_RELEASE:
	case OP_RELEASEDIR:
	case OP_FLUSH:
		reply(in->unique, 0, NULL, 0);
		break;
	case OP_GETXATTR: {
		/* struct fuse_getxattr_in (size, padding), then the name */
		const char *name = (const char *)arg + 8;

		if (getenv("FUSEFILE_HANG_GETXATTR") && !strcmp(name, "security.ima"))
			break; /* never answered */
		reply(in->unique, -ENODATA, NULL, 0);
		break;
	}
	case OP_FORGET:
	case OP_BATCH_FORGET:
	case OP_INTERRUPT:
		break; /* no reply expected */
	case OP_DESTROY:
		reply(in->unique, 0, NULL, 0);
		exit(0);
	default:
		reply(in->unique, -ENOSYS, NULL, 0);
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1 }; /* no SA_RESTART: read() returns */
	char opts[128];
	size_t size_b;

	if (argc != 4) {
		fprintf(stderr, "usage: fusefile MOUNTPOINT FILE_A FILE_B\n");
		return 2;
	}
	content[0] = slurp(argv[2], &content_size);
	content[1] = slurp(argv[3], &size_b);
	if (size_b != content_size) {
		fprintf(stderr, "fusefile: %s and %s differ in size\n", argv[2], argv[3]);
		return 2;
	}
	sigaction(SIGUSR1, &sa, NULL);
	fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fuse_fd < 0) {
		fprintf(stderr, "fusefile: /dev/fuse: %s\n", strerror(errno));
		return 1;
	}
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0", fuse_fd);
	if (mount("fusefile", argv[1], "fuse", 0, opts)) {
		fprintf(stderr, "fusefile: mount %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	(void)!write(1, "r", 1);
	for (;;) {
		ssize_t n;

		if (switch_requested)
			do_switch();
		n = read(fuse_fd, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0 && errno == ENOENT)
			continue; /* the request was interrupted before we read it */
		if (n < (ssize_t)sizeof(struct in_header))
			return n < 0 && errno == ENODEV ? 0 : 1; /* ENODEV: unmounted */
		handle((const struct in_header *)buf, buf + sizeof(struct in_header));
	}
}
