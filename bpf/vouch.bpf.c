// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * vouch kernel side: measure every file the kernel executes or maps
 * executable, and enforce the allow-list of SHA-256 digests.
 *
 * Data path (see README.md, "Kernel side"):
 *   digest  = inode cache valid ? cached : bpf_ima_file_hash(file)
 *   allowed = cached verdict of this generation ? it : allow-list lookup
 *   verdict = enforce && digest not allowed ? -EPERM : 0
 *   event   -> ring buffer, unless it is a cached, allowed, already reported
 *              measurement (IMA measures a file once, so does vouch)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "lsm_ret.h"
#include <bpf/bpf_core_read.h>
#include "vouch_abi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define EPERM 1
#define ETXTBSY 26
#define PROT_EXEC 0x4
#define VM_EXEC 0x00000004
#define FMODE_WRITE 0x2
#define BPF_FS_MAGIC 0xcafe4a11
#define PROC_SUPER_MAGIC 0x9fa0
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#define MNT_DETACH 0x2
#define S_IFMT 00170000
#define S_IFDIR 0040000
#define PTRACE_MODE_ATTACH 0x02
#define PR_SET_MM 35
#define PT_PTRACED 0x00000001

/* Settings fixed at load time (vouchd sets them in the skeleton's rodata). */
const volatile bool cache_enabled = true;
/* Deny, in enforce mode, an access whose event cannot be queued. */
const volatile bool deny_on_lost_event = true;
/*
 * Identify files with fs-verity by their fs-verity digest (O(1): the kernel
 * verifies every page read against it) instead of hashing their content. Set
 * by the loader only where the kfunc exists (6.8+): elsewhere the verifier
 * drops the call as dead code, which is what lets one object load on 6.1.
 */
const volatile bool use_verity = false;

extern int bpf_get_fsverity_digest(struct file *file, struct bpf_dynptr *digest_p) __ksym __weak;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized by the loader */
} events SEC(".maps");

/* vouchd's trust state (struct vouch_trust); the programs only protect it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vouch_trust);
} vouch_trust SEC(".maps");

/*
 * vouch's own directories and the mount namespaces that matter (struct
 * vouch_protect_key -> enum vouch_protect_flags), filled by vouchd. A hash map
 * by device and inode number rather than inode storage: storage goes with
 * the inode when it is evicted from the cache, and a directory must stay
 * protected however long nobody looks at it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct vouch_protect_key);
	__type(value, __u32);
} vouch_protect SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vouch_config);
} vouch_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vouch_stats);
} vouch_stats SEC(".maps");

/* The allow-list, double-buffered (see struct vouch_config). */
struct allow_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 17); /* resized by the loader */
	__type(key, struct vouch_digest);
	__type(value, __u32);
};
struct allow_map allow_a SEC(".maps");
struct allow_map allow_b SEC(".maps");

enum cache_state {
	CACHE_VALID = 1u << 0,    /* digest matches the file as of the stamp */
	CACHE_REPORTED = 1u << 1, /* its event reached the ring buffer */
	CACHE_MAPPED = 1u << 3,   /* mapped executable since it was measured */
	CACHE_VERITY = 1u << 2,   /* digest is the fs-verity digest */
};

/* What IMA uses to decide that a file may have changed since it was measured. */
struct file_stamp {
	__s64 ctime_sec;
	__s64 mtime_sec;
	__u32 ctime_nsec;
	__u32 mtime_nsec;
	__s64 size;
	__u64 iversion;
};

struct inode_cache {
	struct vouch_digest digest;
	struct file_stamp stamp;
	/* allow-list flags of `digest` under one policy generation (VERDICT_*) */
	__u64 verdict;
	/* bumped by every open for write; a hash taken across a bump is not kept */
	__u32 write_seq;
	__u32 state;
	/* bumped around every store of `digest`, so each such verdict word is new */
	__u32 digest_seq;
	/*
	 * low bits of the policy generation under which a (would-be) denial of
	 * this file was last reported, plus one (0: none): a loop of denied
	 * execs reports once per file and policy, not once per try
	 */
	__u32 denial_reported;
};

/*
 * The verdict word: bits 0-7 allow flags, bit 8 BUSY, bits 9-23 a sequence,
 * bits 24-63 the policy generation they were looked up under (0: none).
 *
 * A cached exec under an unchanged policy needs only the flags, so it skips
 * the allow-list lookup (jhash and memcmp of a 32-byte key). The word is only
 * ever replaced whole, so flags cannot outlive the digest they belong to:
 * whoever stores a digest swaps in a BUSY word with a fresh sequence before
 * and a non-BUSY one after; a program that looked the digest up stores its
 * flags with compare-and-swap against the non-BUSY word it read before
 * reading the digest. So flags stick only if no digest store began or ended
 * in between, and a new policy generation retires all of them at once.
 * (Two stores of different digests overlapping each other need a write open
 * inside one store's few instructions, after its write_seq check; the digest
 * and stamp themselves share that race.)
 */
#define VERDICT_FLAGS 0xffULL
#define VERDICT_BUSY (1ULL << 8)
#define VERDICT_SEQ_SHIFT 9
#define VERDICT_SEQ_MASK (0x7fffULL << VERDICT_SEQ_SHIFT)
#define VERDICT_GEN_SHIFT 24

struct {
	__uint(type, BPF_MAP_TYPE_INODE_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct inode_cache);
} inode_cache SEC(".maps");

/*
 * struct inode's timestamps moved between kernels: 6.1-6.5 have i_ctime,
 * 6.6-6.10 __i_ctime (and 6.7-6.10 __i_mtime), 6.11+ i_{c,m}time_sec/_nsec
 * (what vmlinux.h from a recent kernel describes).
 */
struct inode___ts_old {
	struct timespec64 i_ctime;
	struct timespec64 i_mtime;
} __attribute__((preserve_access_index));

struct inode___ts_mid {
	struct timespec64 __i_ctime;
	struct timespec64 __i_mtime;
} __attribute__((preserve_access_index));

/*
 * Spelled out rather than taken from vmlinux.h, so that the program also
 * compiles against an older kernel's types (the Debian package builds against
 * its 6.1 Build-Depends kernel).
 */
struct inode___ts_new {
	long long i_ctime_sec;
	long long i_mtime_sec;
	unsigned int i_ctime_nsec;
	unsigned int i_mtime_nsec;
} __attribute__((preserve_access_index));

/*
 * Direct loads through the BTF-typed pointer (CO-RE relocated), not
 * BPF_CORE_READ: every exec and executable mmap passes here, and a probe-read
 * helper call per field would cost more than the whole cached check.
 */
static __always_inline void read_stamp(struct inode *inode, struct file_stamp *s)
{
	struct inode___ts_old *o = (void *)inode;
	struct inode___ts_mid *m = (void *)inode;
	struct inode___ts_new *n = (void *)inode;

	if (bpf_core_field_exists(n->i_ctime_sec)) {
		s->ctime_sec = n->i_ctime_sec;
		s->ctime_nsec = n->i_ctime_nsec;
	} else if (bpf_core_field_exists(m->__i_ctime)) {
		s->ctime_sec = m->__i_ctime.tv_sec;
		s->ctime_nsec = m->__i_ctime.tv_nsec;
	} else {
		s->ctime_sec = o->i_ctime.tv_sec;
		s->ctime_nsec = o->i_ctime.tv_nsec;
	}
	if (bpf_core_field_exists(n->i_mtime_sec)) {
		s->mtime_sec = n->i_mtime_sec;
		s->mtime_nsec = n->i_mtime_nsec;
	} else if (bpf_core_field_exists(m->__i_mtime)) {
		s->mtime_sec = m->__i_mtime.tv_sec;
		s->mtime_nsec = m->__i_mtime.tv_nsec;
	} else {
		s->mtime_sec = o->i_mtime.tv_sec;
		s->mtime_nsec = o->i_mtime.tv_nsec;
	}
	s->size = inode->i_size;
	/*
	 * Bit 0 of i_version is I_VERSION_QUERIED, which IMA's own hashing sets:
	 * compare only the counter above it.
	 */
	s->iversion = (__u64)inode->i_version.counter >> 1;
}

static __always_inline bool stamp_equal(const struct file_stamp *a, const struct file_stamp *b)
{
	return a->ctime_sec == b->ctime_sec && a->ctime_nsec == b->ctime_nsec &&
	       a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec &&
	       a->size == b->size && a->iversion == b->iversion;
}

/* @c holds @inode's digest: measured, and nothing the stamp covers changed since. */
static __always_inline bool cache_current(const struct inode_cache *c, struct inode *inode)
{
	struct file_stamp now;

	if (!(c->state & CACHE_VALID))
		return false;
	read_stamp(inode, &now);
	return stamp_equal(&c->stamp, &now);
}

static __always_inline struct vouch_stats *get_stats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vouch_stats, &zero);
}

#define STAT_INC(field)                                                                  \
	do {                                                                             \
		struct vouch_stats *__s = get_stats();                                       \
		if (__s)                                                                 \
			__sync_fetch_and_add(&__s->field, 1);                            \
	} while (0)

static __always_inline struct vouch_config *get_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vouch_config, &zero);
}

/* Mode, active list and generation, taken with one load (see struct vouch_config). */
struct policy {
	__u32 mode;
	__u32 active;
	__u64 gen;
};

static __always_inline struct policy policy_of(const struct vouch_config *cfg)
{
	struct policy p = {};
	__u64 word;

	if (!cfg)
		return p;
	word = *(volatile const __u64 *)&cfg->policy;
	p.mode = VOUCH_POLICY_MODE(word);
	p.active = VOUCH_POLICY_ACTIVE(word);
	p.gen = VOUCH_POLICY_GEN(word);
	return p;
}

/*
 * Allow-list flags of @d, with VOUCH_ALLOW_EXEC meaning "allowed as the kind
 * of digest @d is": a listed fs-verity digest allows only a file identified
 * by fs-verity (@verity), a listed content digest only a hashed file.
 */
static __always_inline __u32 allow_flags(struct policy p, const struct vouch_digest *d,
					 bool verity)
{
	__u32 *v = NULL, f;

	if (p.active == VOUCH_ACTIVE_A)
		v = bpf_map_lookup_elem(&allow_a, d);
	else if (p.active == VOUCH_ACTIVE_B)
		v = bpf_map_lookup_elem(&allow_b, d);
	if (!v)
		return 0;
	f = *v;
	if (verity)
		return (f & VOUCH_ALLOW_VERITY) ? VOUCH_ALLOW_EXEC : 0;
	return f & ~(__u32)VOUCH_ALLOW_VERITY;
}

static __always_inline struct policy current_policy(void)
{
	return policy_of(get_config());
}

/* Was the verdict word @seen taken under @p's policy generation? */
static __always_inline bool verdict_current(__u64 seen, struct policy p)
{
	return p.gen && (seen >> VERDICT_GEN_SHIFT) == p.gen;
}

/* Retires @c's verdict word for a digest store; returns the word stored. */
static __always_inline __u64 verdict_reset(struct inode_cache *c, __u64 busy)
{
	__u64 seq = __sync_add_and_fetch(&c->digest_seq, 1);
	__u64 w = busy | ((seq << VERDICT_SEQ_SHIFT) & VERDICT_SEQ_MASK);

	/* xchg, not a plain store: ordered against the digest stores around it */
	__sync_lock_test_and_set(&c->verdict, w);
	return w;
}

/* Remembers @flags as @c's verdict under @p, unless the word moved from @seen. */
static __always_inline void verdict_store(struct inode_cache *c, __u64 seen, struct policy p,
					  __u32 flags)
{
	__u64 w;

	if ((seen & VERDICT_BUSY) || !p.gen)
		return;
	w = (p.gen << VERDICT_GEN_SHIFT) | (seen & VERDICT_SEQ_MASK) | (flags & VERDICT_FLAGS);
	__sync_val_compare_and_swap(&c->verdict, seen, w);
}

/*
 * Allow-list flags of the digest cached in @c (which the caller found valid),
 * from its remembered verdict if that was taken under @p's generation;
 * otherwise looked up and remembered. Copies the digest to @d when it reads
 * it and then sets *@have_d.
 */
static __always_inline __u32 cached_allow(struct inode_cache *c, struct policy p,
					  struct vouch_digest *d, bool *have_d)
{
	__u64 seen = *(volatile __u64 *)&c->verdict;
	__u32 flags;

	if (verdict_current(seen, p))
		return seen & VERDICT_FLAGS;
	/* the digest must be read after the word it is checked against */
	asm volatile("" ::: "memory");
	__builtin_memcpy(d, &c->digest, sizeof(*d));
	*have_d = true;
	flags = allow_flags(p, d, c->state & CACHE_VERITY);
	verdict_store(c, seen, p, flags);
	return flags;
}

/* Returns the verdict for allow-list flags under the current policy and mode. */
static __always_inline __u16 judge(struct policy p, __u32 allow, bool have_digest)
{
	if (p.active == VOUCH_ACTIVE_NONE) {
		/* enforce without a policy cannot be configured; fail closed */
		return p.mode == VOUCH_MODE_ENFORCE ? VOUCH_VERDICT_DENY : VOUCH_VERDICT_ALLOW;
	}
	if (have_digest && (allow & VOUCH_ALLOW_EXEC))
		return VOUCH_VERDICT_ALLOW;
	return p.mode == VOUCH_MODE_ENFORCE ? VOUCH_VERDICT_DENY : VOUCH_VERDICT_AUDIT_DENY;
}

static __always_inline long verdict_ret(__u16 verdict)
{
	return lsm_errno(verdict == VOUCH_VERDICT_DENY ? -EPERM : 0);
}

/*
 * Set by file systems whose content can change without the kernel seeing it
 * (FUSE and virtiofs: the daemon answers every read); IMA re-measures their
 * files at every access. A #define, so not in BTF; its value has not changed
 * since it was introduced.
 */
#define SB_I_IMA_UNVERIFIABLE_SIGNATURE 0x00000020

static __always_inline bool may_cache(struct inode *inode)
{
	/*
	 * A file open for write can change under us without a new stamp being
	 * visible yet (IMA's open-writers case); exec holds i_writecount at -1.
	 * On overlayfs the inode is the overlay's: a file of a lower (or upper)
	 * layer changed directly leaves its times and size as they were, so
	 * such files are hashed at every use.
	 */
	return cache_enabled && inode->i_writecount.counter <= 0 &&
	       !(inode->i_sb->s_iflags & SB_I_IMA_UNVERIFIABLE_SIGNATURE) &&
	       inode->i_sb->s_magic != OVERLAYFS_SUPER_MAGIC;
}

/*
 * What nearly every exec and executable mapping is: an unchanged file whose
 * measurement was reported, under a policy that allows it (or, in audit mode,
 * none). Decided from the cache entry alone, before measure() sets up an
 * event; anything else falls through to measure(), which checks it all again.
 */
static __always_inline bool cached_and_allowed(struct inode_cache *c, struct inode *inode)
{
	struct policy pol;
	__u64 seen;

	if (!(c->state & CACHE_REPORTED) || !cache_current(c, inode) || !may_cache(inode))
		return false;
	pol = current_policy();
	if (pol.active == VOUCH_ACTIVE_NONE) {
		if (pol.mode == VOUCH_MODE_ENFORCE)
			return false;
	} else {
		seen = *(volatile __u64 *)&c->verdict;
		if (!verdict_current(seen, pol) || !(seen & VOUCH_ALLOW_EXEC))
			return false;
	}
	STAT_INC(cache_hits);
	return true;
}

#define S_VERITY (1 << 16) /* include/linux/fs.h; unchanged since 5.4 */
#define FS_VERITY_HASH_ALG_SHA256 1

/* struct fsverity_digest with room for the largest digest (SHA-512) */
struct verity_buf {
	__u16 algorithm;
	__u16 size;
	__u8 digest[64];
};

/*
 * @file's fs-verity digest into @d, when it has one and it is SHA-256. The
 * kfunc writes through a dynptr, and the verifier takes no stack memory for
 * one; a ring-buffer record (discarded, never seen by vouchd) is writable
 * and belongs to this call alone, where a per-CPU buffer could be rewritten
 * by another sleepable program preempting this one on the same CPU.
 */
static __always_inline bool verity_digest(struct file *file, struct inode *inode,
					  struct vouch_digest *d)
{
	struct verity_buf buf = {};
	struct bpf_dynptr ptr;
	bool ok = false;

	if (!use_verity || !(inode->i_flags & S_VERITY))
		return false;
	if (!bpf_ringbuf_reserve_dynptr(&events, sizeof(buf), 0, &ptr) &&
	    bpf_get_fsverity_digest(file, &ptr) >= 0 &&
	    !bpf_dynptr_read(&buf, sizeof(buf), &ptr, 0, 0))
		ok = true;
	bpf_ringbuf_discard_dynptr(&ptr, 0);
	/* a SHA-512 tree: no SHA-256 digest to match, so hash the content */
	if (!ok || buf.algorithm != FS_VERITY_HASH_ALG_SHA256 || buf.size != sizeof(d->bytes))
		return false;
	__builtin_memcpy(d->bytes, buf.digest, sizeof(d->bytes));
	return true;
}

/*
 * The path IMA logs (ima_d_path): d_absolute_path(), the path from the root
 * of the mount namespace the file's mount is in, whatever the caller's root
 * is. bpf_d_path() stops at the caller's root instead, so a chrooted exec
 * would be logged as "/bin/true" where IMA logs "/srv/chroot/bin/true"; it
 * also appends " (deleted)" and asks d_dname() of pseudo files, which
 * d_absolute_path() does not. Where d_absolute_path() fails (a mount tree
 * lazily unmounted or never attached, a dentry that is its own parent like a
 * memfd's, PATH_MAX or more) IMA logs the file's name alone.
 *
 * A walk over the dentries and mounts, pointers only, tells the cases apart.
 * The common one (an attached mount, the caller's root the namespace's "/",
 * a linked file) keeps bpf_d_path, which takes the kernel's rename and mount
 * seqlocks; the others copy the names in the walk's second run.
 */
#define NAME_MAX 255
/* components of a PATH_MAX path, plus mount crossings */
#define PATH_STEPS (VOUCH_PATH_MAX + 256)
#define PATH_NO_ROOT 0xffffffffu

/* is_anon_ns(): mnt_namespace.seq == 0 up to 6.17, ns.ns_id == 0 since */
struct mnt_namespace___seq {
	__u64 seq;
} __attribute__((preserve_access_index));

struct ns_common___id {
	__u64 ns_id;
} __attribute__((preserve_access_index));

struct mnt_namespace___id {
	struct ns_common___id ns;
} __attribute__((preserve_access_index));

enum path_end {
	PATH_END_NONE = 0, /* out of steps, or no scratch */
	PATH_END_ROOT,     /* the root of an attached mount namespace */
	PATH_END_DETACHED, /* a mount tree in no namespace, or an anonymous one */
	PATH_END_ESCAPED,  /* a dentry that is its own parent but no mount's root */
	PATH_END_LONG,     /* PATH_MAX or more, or a name longer than NAME_MAX */
};

/* Pointers as plain values: the walk reads through them with probe reads. */
struct path_walk {
	__u64 dentry;
	__u64 mnt; /* struct mount * */
	__u64 mnt_root;
	__u64 root_dentry; /* the caller's root, where bpf_d_path stops */
	__u64 root_mnt;    /* struct mount * */
	__u32 len;         /* bytes of the "/name" components so far */
	__u32 len_at_root; /* len where the walk passed the caller's root */
	__u32 end;         /* enum path_end */
	__u32 build;       /* copy the names into path_scratch */
};

/*
 * Built from its end, one name at a time. Per CPU, and a sleepable program
 * may be preempted by another using it: gen tells the builder whether its
 * string survived.
 */
struct path_scratch {
	__u64 gen;
	char buf[VOUCH_PATH_MAX + NAME_MAX + 1];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_scratch);
} path_scratch SEC(".maps");

static __always_inline struct mount *real_mount(struct vfsmount *m)
{
	return (void *)((__u64)m - bpf_core_field_offset(struct mount, mnt));
}

static __always_inline bool ns_attached(struct mnt_namespace *ns)
{
	struct mnt_namespace___seq *s = (void *)ns;
	struct mnt_namespace___id *i = (void *)ns;

	if (!ns || (__u64)ns >= (__u64)-4095) /* NULL or MNT_NS_INTERNAL */
		return false;
	if (bpf_core_field_exists(s->seq))
		return BPF_CORE_READ(s, seq) != 0;
	if (bpf_core_field_exists(i->ns.ns_id))
		return BPF_CORE_READ(i, ns.ns_id) != 0;
	return true;
}

/* One step up, as the kernel's __prepend_path() takes it; 1 ends the walk. */
static long path_step(__u64 i, struct path_walk *w)
{
	struct dentry *d = (void *)w->dentry;
	struct mount *m = (void *)w->mnt, *up;
	struct path_scratch *s;
	const unsigned char *name;
	__u32 len, total, pos, zero = 0;
	__u64 parent;

	if (w->dentry == w->root_dentry && w->mnt == w->root_mnt && w->len_at_root == PATH_NO_ROOT)
		w->len_at_root = w->len;
	if (w->dentry == w->mnt_root) {
		up = BPF_CORE_READ(m, mnt_parent);
		if (up != m) {
			w->dentry = (__u64)BPF_CORE_READ(m, mnt_mountpoint);
			w->mnt = (__u64)up;
			w->mnt_root = (__u64)BPF_CORE_READ(up, mnt.mnt_root);
			return 0;
		}
		w->end = ns_attached(BPF_CORE_READ(m, mnt_ns)) ? PATH_END_ROOT : PATH_END_DETACHED;
		return 1;
	}
	parent = (__u64)BPF_CORE_READ(d, d_parent);
	if (parent == w->dentry) {
		w->end = PATH_END_ESCAPED;
		return 1;
	}
	len = BPF_CORE_READ(d, d_name.len);
	total = w->len + len + 1;
	/* the NUL takes the buffer's last byte, as in d_absolute_path() */
	if (len > NAME_MAX || total > VOUCH_PATH_MAX - 1) {
		w->end = PATH_END_LONG;
		return 1;
	}
	/*
	 * Newer verifiers (6.8+) go through a bpf_loop callback until its
	 * state repeats: a length whose range grows at every step would never
	 * repeat, so it is kept within the same [0, 4095] each time.
	 */
	barrier_var(total);
	w->len = total & (VOUCH_PATH_MAX - 1);
	w->dentry = parent;
	if (!w->build)
		return 0;
	s = bpf_map_lookup_elem(&path_scratch, &zero);
	pos = VOUCH_PATH_MAX - 1 - w->len;
	barrier_var(pos);
	barrier_var(len);
	if (!s || pos > VOUCH_PATH_MAX - 1 || len > NAME_MAX) {
		w->end = PATH_END_NONE;
		return 1;
	}
	name = BPF_CORE_READ(d, d_name.name);
	s->buf[pos] = '/';
	bpf_probe_read_kernel(&s->buf[pos + 1], len & NAME_MAX, name);
	return 0;
}

/*
 * The whole walk. A global function, so the verifier checks it once, on its
 * own: 6.8+ verifiers go through a bpf_loop callback until its state
 * repeats and then check what follows the loop once per state it ended in,
 * which inside measure_slow() multiplies past their limit. Its caller knows
 * nothing of *arg afterwards, and checks every bound itself.
 */
__noinline int path_walk_run(struct path_walk *arg)
{
	struct path_walk w;

	if (!arg)
		return 0;
	w = *arg; /* bpf_loop takes its context on the stack only */
	bpf_loop(PATH_STEPS, path_step, &w, 0);
	*arg = w;
	return 0;
}

/*
 * Would d_path() write something else than d_absolute_path() for this file
 * (an unlinked file's " (deleted)", a pseudo file's d_dname())?
 */
static __always_inline bool d_path_decorates(struct dentry *d, __u64 mnt_root)
{
	const struct dentry_operations *op;
	bool is_root = (__u64)BPF_CORE_READ(d, d_parent) == (__u64)d;

	if (!is_root && !BPF_CORE_READ(d, d_hash.pprev))
		return true;
	op = BPF_CORE_READ(d, d_op);
	return op && BPF_CORE_READ(op, d_dname) && !(is_root && (__u64)d == mnt_root);
}

static __always_inline void path_walk_init(struct path_walk *w, struct file *file)
{
	struct vfsmount *vfsmnt = BPF_CORE_READ(file, f_path.mnt);

	w->dentry = (__u64)BPF_CORE_READ(file, f_path.dentry);
	w->mnt = (__u64)real_mount(vfsmnt);
	w->mnt_root = (__u64)BPF_CORE_READ(vfsmnt, mnt_root);
	w->len = 0;
	w->end = PATH_END_NONE;
}

/* The absolute path into @ev, built in the scratch; false if it was not. */
static __always_inline bool build_path(struct vouch_event *ev, struct file *file,
				       struct path_walk *w)
{
	struct path_scratch *s;
	__u32 zero = 0, start, n;
	__u64 gen;

	s = bpf_map_lookup_elem(&path_scratch, &zero);
	if (!s)
		return false;
	gen = __sync_fetch_and_add(&s->gen, 1) + 1;
	s->buf[VOUCH_PATH_MAX - 1] = 0;
	path_walk_init(w, file);
	w->build = 1;
	path_walk_run(w);
	if (w->end != PATH_END_ROOT)
		return false;
	start = VOUCH_PATH_MAX - 1 - w->len;
	if (!w->len) {
		/* the namespace's root itself, as d_absolute_path() gives it */
		start = VOUCH_PATH_MAX - 2;
		s->buf[start] = '/';
	}
	/* bounds the verifier must see, which the compiler would fold away */
	barrier_var(start);
	if (start > VOUCH_PATH_MAX - 2)
		return false;
	n = VOUCH_PATH_MAX - start;
	barrier_var(n);
	if (n < 2 || n > VOUCH_PATH_MAX)
		return false;
	bpf_probe_read_kernel(ev->path, n, &s->buf[start]);
	if (*(volatile __u64 *)&s->gen != gen)
		return false;
	ev->path_len = n - 1;
	return true;
}

/*
 * What IMA logs when there is no absolute path: the file's name, cut where
 * its strscpy(NAME_MAX) cuts it.
 */
static __always_inline __u32 fill_name(struct vouch_event *ev, struct dentry *d)
{
	long n = bpf_probe_read_kernel_str(ev->path, NAME_MAX, BPF_CORE_READ(d, d_name.name));

	if (n > 0) {
		ev->path_len = n - 1;
	} else {
		ev->path_len = 0;
		ev->path[0] = 0;
	}
	return VOUCH_EVF_PATH_ERROR;
}

/*
 * @file's path as IMA logs it into @ev; VOUCH_EVF_PATH_ERROR when that is
 * not an absolute path.
 */
static __always_inline __u32 fill_path(struct vouch_event *ev, struct file *file)
{
	struct dentry *leaf = BPF_CORE_READ(file, f_path.dentry);
	struct fs_struct *fs = BPF_CORE_READ(bpf_get_current_task_btf(), fs);
	struct path_walk w = {};
	long n;
	int i;

	path_walk_init(&w, file);
	w.len_at_root = PATH_NO_ROOT;
	if (fs) {
		w.root_dentry = (__u64)BPF_CORE_READ(fs, root.dentry);
		w.root_mnt = (__u64)real_mount(BPF_CORE_READ(fs, root.mnt));
	}
	path_walk_run(&w);
	if (w.end != PATH_END_ROOT)
		return fill_name(ev, leaf);
	/* bpf_d_path gives the same string when nothing lies above the caller's root */
	if (fs && (w.len_at_root == PATH_NO_ROOT || w.len_at_root == w.len) &&
	    !d_path_decorates(leaf, (__u64)BPF_CORE_READ(file, f_path.mnt, mnt_root))) {
		n = bpf_d_path((struct path *)&file->f_path, ev->path, sizeof(ev->path));
		if (n > 0) {
			ev->path_len = n - 1;
			return 0;
		}
	}
	for (i = 0; i < 2; i++)
		if (build_path(ev, file, &w))
			return 0;
	return fill_name(ev, leaf);
}

/*
 * What every event says about the file and the caller; returns the flag for a
 * path that could not be had. The rest (digest, algorithm, flags) is the
 * caller's.
 */
static __always_inline __u32 fill_event(struct vouch_event *ev, struct file *file, __u16 hook,
					__u16 verdict)
{
	struct inode *inode = file->f_inode;
	__u64 id = bpf_get_current_pid_tgid();

	ev->ts_ns = bpf_ktime_get_boot_ns();
	ev->ino = inode->i_ino;
	ev->dev = inode->i_sb->s_dev;
	ev->generation = inode->i_generation;
	ev->pid = id >> 32;
	ev->tid = (__u32)id;
	ev->uid = (__u32)bpf_get_current_uid_gid();
	ev->hook = hook;
	ev->verdict = verdict;
	ev->sb_magic = (__u32)inode->i_sb->s_magic;
	return fill_path(ev, file);
}

/*
 * Each non-root uid's measurements still waiting in the ring buffer, for the
 * fair share below. A uid's count starts again from zero once the consumer
 * has passed the end of its last record; until then it counts everything
 * since, consumed or not, which errs towards refusing the heavy user sooner.
 */
struct uid_share {
	__u64 last_end; /* producer position after the uid's last record */
	__u64 pending;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct uid_share);
} uid_shares SEC(".maps");

#define EVENT_RECORD_SIZE (sizeof(struct vouch_event) + BPF_RINGBUF_HDR_SZ)

/*
 * A record in the ring buffer, with room kept for others. Up to half full,
 * anyone is served. Past half, a uid other than root is served only while
 * the buffer is under three quarters full and that uid holds less than an
 * eighth of it: one user (or four) flooding it with new files can neither
 * starve another user's execs nor root's, whose last quarter stays free for
 * root alone. Checked before reserving, so concurrent reservers may pass
 * together: the margins absorb them.
 */
static __always_inline struct vouch_event *reserve_event(void)
{
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	struct uid_share *s, fresh = {};
	__u64 size, used, end;

	if (uid == 0)
		return bpf_ringbuf_reserve(&events, sizeof(struct vouch_event), 0);
	size = bpf_ringbuf_query(&events, BPF_RB_RING_SIZE);
	used = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	s = bpf_map_lookup_elem(&uid_shares, &uid);
	if (s && s->last_end <= bpf_ringbuf_query(&events, BPF_RB_CONS_POS))
		s->pending = 0;
	if (used > size / 2) {
		if (used > size / 4 * 3)
			return NULL;
		if (s && s->pending >= size / 8 / EVENT_RECORD_SIZE)
			return NULL;
	}
	/*
	 * Counted before the reservation, which keeps the verifier's view of
	 * the record simple; where this record ends is an estimate when others
	 * reserve at the same time, close enough for a share.
	 */
	end = bpf_ringbuf_query(&events, BPF_RB_PROD_POS) + EVENT_RECORD_SIZE;
	if (s) {
		__sync_fetch_and_add(&s->pending, 1);
		s->last_end = end;
	} else {
		fresh.pending = 1;
		fresh.last_end = end;
		bpf_map_update_elem(&uid_shares, &uid, &fresh, BPF_ANY);
	}
	return bpf_ringbuf_reserve(&events, sizeof(struct vouch_event), 0);
}

static __always_inline __u32 denial_mark(struct policy pol)
{
	return (__u32)pol.gen + 1;
}


/*
 * Measure @file for @hook and decide. Runs in sleepable context: the hash may
 * read the whole file.
 */
static __noinline long measure_slow(struct file *file, struct inode_cache *c, __u16 hook)
{
	struct inode *inode = file->f_inode;
	struct file_stamp now = {};
	struct vouch_digest d = {};
	struct vouch_event *ev;
	__u32 seq = 0, flags = 0, allow = 0;
	struct policy pol;
	bool cached = false, stored = false, have_d = false, have_digest, verity = false;
	__s32 algo = VOUCH_IMA_HASH_ALGO_SHA256;
	__u64 fresh = 0;
	__u16 verdict;


	/*
	 * Open writers before hashing (a writer closed during the hash is still
	 * seen): the digest may not be what the mapping will hold.
	 */
	bool writers = inode->i_writecount.counter > 0;

	/* before hashing: a change while the hash runs is seen next time */
	read_stamp(inode, &now);
	if (c) {
		seq = c->write_seq;
		if ((c->state & CACHE_VALID) && stamp_equal(&c->stamp, &now) && may_cache(inode))
			cached = true;
	}

	if (cached) {
		STAT_INC(cache_hits);
		verity = c->state & CACHE_VERITY;
	} else {
		/* fs-verity: the digest without reading the file */
		verity = verity_digest(file, inode, &d);
		if (!verity) {
			STAT_INC(hashes);
			algo = bpf_ima_file_hash(file, d.bytes, sizeof(d.bytes));
		}
		have_d = true;
		if (algo != VOUCH_IMA_HASH_ALGO_SHA256) {
			STAT_INC(hash_errors);
			flags |= VOUCH_EVF_HASH_ERROR;
			__builtin_memset(&d, 0, sizeof(d));
		} else if (c && !writers && may_cache(inode) && c->write_seq == seq) {
			/* the stamp from before hashing: a change during it is seen next time */
			verdict_reset(c, VERDICT_BUSY);
			__builtin_memcpy(&c->digest, &d, sizeof(d));
			c->stamp = now;
			c->denial_reported = 0;
			fresh = verdict_reset(c, 0);
			c->state = verity ? CACHE_VALID | CACHE_VERITY : CACHE_VALID;
			stored = true;
		} else if (c) {
			c->state = 0;
		}
	}
	have_digest = !(flags & VOUCH_EVF_HASH_ERROR);
	pol = current_policy();
	if (pol.active != VOUCH_ACTIVE_NONE && have_digest) {
		if (cached && c) {
			allow = cached_allow(c, pol, &d, &have_d);
		} else {
			allow = allow_flags(pol, &d, verity);
			if (stored && c)
				verdict_store(c, fresh, pol, allow);
		}
	}
	verdict = judge(pol, allow, have_digest);
	if (writers) {
		flags |= VOUCH_EVF_OPEN_WRITERS;
		if (pol.mode == VOUCH_MODE_ENFORCE)
			verdict = VOUCH_VERDICT_DENY;
	}

	if (cached && verdict == VOUCH_VERDICT_ALLOW && c && (c->state & CACHE_REPORTED))
		return 0;
	if (cached && verdict != VOUCH_VERDICT_ALLOW && c && c->denial_reported == denial_mark(pol)) {
		if (verdict == VOUCH_VERDICT_DENY)
			STAT_INC(denied);
		else
			STAT_INC(audit_denied);
		return verdict_ret(verdict);
	}
	if (!have_d && c)
		__builtin_memcpy(&d, &c->digest, sizeof(d));

	ev = reserve_event();
	if (!ev) {
		STAT_INC(ringbuf_drops);
		if (deny_on_lost_event && pol.mode == VOUCH_MODE_ENFORCE)
			return -EPERM;
		return verdict_ret(verdict);
	}
	flags |= fill_event(ev, file, hook, verdict);
	ev->hash_algo = algo;
	__builtin_memcpy(ev->digest, d.bytes, sizeof(d.bytes));
	if (cached)
		flags |= VOUCH_EVF_CACHED;
	if (verity)
		flags |= VOUCH_EVF_VERITY;
	ev->flags = flags;
	bpf_ringbuf_submit(ev, 0);

	STAT_INC(measured);
	if (c && (c->state & CACHE_VALID))
		c->state |= CACHE_REPORTED;
	if (c && (c->state & CACHE_VALID) && verdict != VOUCH_VERDICT_ALLOW)
		c->denial_reported = denial_mark(pol);
	if (verdict == VOUCH_VERDICT_DENY)
		STAT_INC(denied);
	else if (verdict == VOUCH_VERDICT_AUDIT_DENY)
		STAT_INC(audit_denied);
	return verdict_ret(verdict);
}

/*
 * The cached case inline, the rest in its own function: the fast path then
 * spends no instructions setting up an event it does not send.
 */
/*
 * A later open for write of this file, while it is still open (its mapping
 * holds it), is a ToMToU: see vouch_file_open.
 */
static __always_inline void mark_mapped(struct inode_cache *c)
{
	if ((c->state & CACHE_VALID) && !(c->state & CACHE_MAPPED))
		__sync_fetch_and_or(&c->state, CACHE_MAPPED);
}

static __always_inline long measure(struct file *file, __u16 hook)
{
	struct inode *inode = file->f_inode;
	struct inode_cache *c;

	long r = 0;

	c = bpf_inode_storage_get(&inode_cache, inode, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!c || !cached_and_allowed(c, inode))
		r = measure_slow(file, c, hook);
	if (c && hook == VOUCH_HOOK_MMAP_FILE && !r)
		mark_mapped(c);
	return r;
}

SEC("lsm.s/bprm_check_security")
long BPF_PROG(vouch_bprm_check, struct linux_binprm *bprm, int ret)
{
	if (ret)
		return lsm_errno(ret);
	return measure(bprm->file, VOUCH_HOOK_BPRM_CHECK);
}

/*
 * execveat(fd, "", ..., AT_EMPTY_PATH | AT_EXECVE_CHECK) (6.14+): an
 * interpreter asks whether the kernel would run a script before it reads it.
 * The kernel makes the exec checks and stops before exec_binprm(), so
 * bprm_check_security never sees such a check; bprm_creds_for_exec does,
 * with bprm->is_check set. The bit is read through CO-RE, and the loader
 * attaches this program only on kernels whose linux_binprm has it, so other
 * kernels pay nothing per exec for it.
 */
struct linux_binprm___check {
	unsigned int is_check : 1;
} __attribute__((preserve_access_index));

SEC("lsm.s/bprm_creds_for_exec")
long BPF_PROG(vouch_execve_check, struct linux_binprm *bprm, int ret)
{
	struct linux_binprm___check *b = (void *)bprm;

	if (ret)
		return lsm_errno(ret);
	if (!bpf_core_field_exists(b->is_check) || !BPF_CORE_READ_BITFIELD(b, is_check))
		return 0;
	return measure(bprm->file, VOUCH_HOOK_EXECVE_CHECK);
}

SEC("lsm.s/mmap_file")
long BPF_PROG(vouch_mmap_file, struct file *file, unsigned long reqprot, unsigned long prot,
	     unsigned long flags, int ret)
{
	if (ret)
		return lsm_errno(ret);
	if (!file || !(prot & PROT_EXEC))
		return 0;
	return measure(file, VOUCH_HOOK_MMAP_FILE);
}

/*
 * A file mapping may only become executable if vouch already measured that
 * file, it is unchanged, and the policy allows it. This hook cannot sleep, so
 * it cannot hash: an unmeasured file is treated as not allowed.
 */
SEC("lsm/file_mprotect")
long BPF_PROG(vouch_file_mprotect, struct vm_area_struct *vma, unsigned long reqprot,
	     unsigned long prot, int ret)
{
	struct inode_cache *c;
	struct vouch_digest d = {};
	struct inode *inode;
	struct file *file;
	struct policy pol;
	bool known = false, have_d = false;
	__u32 allow = 0;
	__u16 verdict;

	if (ret)
		return lsm_errno(ret);
	if (!(prot & PROT_EXEC) || (vma->vm_flags & VM_EXEC))
		return 0;
	file = vma->vm_file;
	if (!file)
		return 0;
	inode = file->f_inode;
	pol = current_policy();
	c = bpf_inode_storage_get(&inode_cache, inode, 0, 0);
	if (c && cache_current(c, inode)) {
		known = true;
		if (pol.active != VOUCH_ACTIVE_NONE)
			allow = cached_allow(c, pol, &d, &have_d);
	}
	verdict = judge(pol, allow, known);
	if (!known && pol.mode == VOUCH_MODE_ENFORCE)
		verdict = VOUCH_VERDICT_DENY;
	if (verdict == VOUCH_VERDICT_DENY)
		STAT_INC(denied);
	else if (c && known)
		mark_mapped(c);
	return verdict_ret(verdict);
}

/*
 * /proc/PID/mem and /proc/PID/task/TID/mem. Opening one's own skips the ptrace
 * check (same thread group), so the open itself is where a write is caught.
 */
static __always_inline bool is_proc_mem(struct file *file)
{
	struct dentry *de = file->f_path.dentry;
	char name[4] = {};

	if (file->f_inode->i_sb->s_magic != PROC_SUPER_MAGIC || de->d_name.len != 3)
		return false;
	if (bpf_probe_read_kernel(name, 3, de->d_name.name))
		return false;
	return name[0] == 'm' && name[1] == 'e' && name[2] == 'm';
}

/* enum vouch_protect_flags of @inode's entry in vouch_protect, 0 for none. */
static __always_inline __u32 protect_flags(struct inode *inode)
{
	struct vouch_protect_key k = {};
	__u32 *v;

	if (!inode)
		return 0;
	k.ino = inode->i_ino;
	k.dev = inode->i_sb->s_dev;
	k.kind = VOUCH_PROTECT_INODE;
	v = bpf_map_lookup_elem(&vouch_protect, &k);
	return v ? *v : 0;
}

/*
 * A dentry with no parent that is not its file system's root, on a file
 * system holding a protected directory. exportfs makes such a dentry when a
 * file handle (open_by_handle_at(2), knfsd) names a file whose dentry was
 * evicted: it is connected to no directory, so the parent test below cannot
 * tell whether the file is in a protected one. Refusing changes through
 * these for non-agents costs knfsd writes to that file system while
 * enforcing (README, "Threat model"); tracking every protected file's inode
 * instead would need the agent's every create and rename mirrored into the
 * map, and a stale inode number could protect an unrelated file.
 */
static __always_inline bool disconnected_on_protected_fs(struct dentry *d)
{
	struct vouch_protect_key k = {};
	struct super_block *sb;
	__u32 *v;

	if (!d || d->d_parent != d)
		return false;
	sb = d->d_sb;
	if (!sb || d == sb->s_root)
		return false;
	k.dev = sb->s_dev;
	k.kind = VOUCH_PROTECT_FS;
	v = bpf_map_lookup_elem(&vouch_protect, &k);
	return v && (*v & VOUCH_PROTECT_SB);
}

/*
 * Is @d a protected directory or an entry directly in one? A file counts by
 * the directory it was reached through; link(2) out of a protected directory
 * is refused, so no other name for it appears while enforcing. A file
 * reached through no directory at all (a file handle) counts as protected
 * on a file system that holds a protected directory.
 */
static __always_inline bool protected_dentry(struct dentry *d)
{
	if (!d)
		return false;
	return (protect_flags(d->d_inode) & VOUCH_PROTECT_DIR) ||
	       (protect_flags(d->d_parent->d_inode) & VOUCH_PROTECT_DIR) ||
	       disconnected_on_protected_fs(d);
}

static __always_inline long protect_verdict(void);

static __always_inline long injection_verdict(void);
static __always_inline bool is_agent(void);

struct inode___ima {
	atomic_t i_readcount;
} __attribute__((preserve_access_index));

/*
 * Someone has it open read-only, as every mapping of it does. i_readcount
 * exists with CONFIG_IMA, which bpf_ima_file_hash needs anyway; without it,
 * assume so.
 */
static __always_inline bool has_readers(struct inode *inode)
{
	struct inode___ima *i = (void *)inode;

	if (!bpf_core_field_exists(i->i_readcount))
		return true;
	return BPF_CORE_READ(i, i_readcount.counter) > 0;
}

/*
 * An open for write of a file that was measured and mapped executable and is
 * still open (mapped): the mapping could then run bytes nobody measured. The
 * kernel's IMA logs this as a ToMToU violation; vouch reports it for the log
 * and, while enforcing, refuses the open as the kernel refuses writing a
 * running executable (ETXTBSY).
 */
static __always_inline long tomtou(struct file *file)
{
	struct policy pol = current_policy();
	bool deny = pol.mode == VOUCH_MODE_ENFORCE;
	struct vouch_event *ev;

	ev = reserve_event();
	if (ev) {
		ev->flags = VOUCH_EVF_TOMTOU |
			    fill_event(ev, file, VOUCH_HOOK_FILE_OPEN,
				       deny ? VOUCH_VERDICT_DENY : VOUCH_VERDICT_ALLOW);
		ev->hash_algo = 0;
		__builtin_memset(ev->digest, 0, sizeof(ev->digest));
		bpf_ringbuf_submit(ev, 0);
		STAT_INC(measured);
	} else {
		STAT_INC(ringbuf_drops);
	}
	if (!deny)
		return 0;
	STAT_INC(denied);
	return -ETXTBSY;
}

/*
 * The loader opens the pin directory once it pinned or reattached: record the
 * mount it is on. The first opener sets it (the loader, right after pinning);
 * after that only the agent, so another bpffs directory with the same inode
 * number cannot move it.
 */
static __always_inline void note_pin_mount(struct file *file)
{
	struct inode *inode = file->f_inode;
	struct vouch_config *cfg;

	if ((inode->i_mode & S_IFMT) != S_IFDIR || inode->i_sb->s_magic != BPF_FS_MAGIC)
		return;
	cfg = get_config();
	if (!cfg || !cfg->pin_dir_ino || inode->i_ino != cfg->pin_dir_ino)
		return;
	if (cfg->pin_mnt && !is_agent())
		return;
	cfg->pin_mnt = (__u64)file->f_path.mnt;
}

/*
 * Any open for write may change the file: forget its digest. A write open of
 * process memory is code injection.
 */
SEC("lsm/file_open")
long BPF_PROG(vouch_file_open, struct file *file, int ret)
{
	struct inode_cache *c;

	if (ret)
		return lsm_errno(ret);
	if (!(file->f_mode & FMODE_WRITE)) {
		note_pin_mount(file);
		return 0;
	}
	if (is_proc_mem(file))
		return injection_verdict();
	/* vouch's keys and state: enforce mode first, the map only then */
	if (current_policy().mode == VOUCH_MODE_ENFORCE &&
	    ((protect_flags(file->f_path.dentry->d_parent->d_inode) & VOUCH_PROTECT_DIR) ||
	     disconnected_on_protected_fs(file->f_path.dentry))) {
		long v = protect_verdict();
		if (v)
			return v;
	}
	c = bpf_inode_storage_get(&inode_cache, file->f_inode, 0, 0);
	if (c && (c->state & CACHE_MAPPED) && has_readers(file->f_inode)) {
		long v = tomtou(file);
		if (v)
			return v;
	}
	if (c) {
		__sync_fetch_and_add(&c->write_seq, 1);
		c->state = 0;
	}
	return 0;
}

SEC("lsm.s/kernel_read_file")
long BPF_PROG(vouch_kernel_read_file, struct file *file, enum kernel_read_file_id id, bool contents,
	     int ret)
{
	if (ret)
		return lsm_errno(ret);
	if (!file)
		return 0;
	return measure(file, VOUCH_HOOK_KERNEL_READ_FILE);
}

/*
 * Code the kernel would load from a buffer (init_module, kexec_load) has no
 * file to measure: refused while enforcing, as IMA's appraisal does.
 */
SEC("lsm/kernel_load_data")
long BPF_PROG(vouch_kernel_load_data, enum kernel_load_data_id id, bool contents, int ret)
{
	if (ret)
		return lsm_errno(ret);
	if (current_policy().mode != VOUCH_MODE_ENFORCE)
		return 0;
	if (id == LOADING_MODULE || id == LOADING_KEXEC_IMAGE || id == LOADING_KEXEC_INITRAMFS) {
		STAT_INC(denied);
		return -EPERM;
	}
	return 0;
}

/* ---- tamper resistance (enforce mode) ---------------------------------- */

static __always_inline bool enforcing(void)
{
	return current_policy().mode == VOUCH_MODE_ENFORCE;
}

/*
 * Is the current process vouch's agent? Its executable must be a file vouch
 * measured, unchanged since, whose digest the active policy marks as agent.
 * Identity by digest survives daemon restarts and upgrades (the new binary's
 * digest comes with the new policy) and cannot be claimed by renaming.
 */
static __always_inline bool is_agent(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct policy pol = current_policy();
	struct vouch_digest d = {};
	struct inode_cache *c;
	struct inode *inode;
	struct mm_struct *mm;
	struct file *exe;
	bool have_d = false;

	/*
	 * A tracer attached before the agent's exec (while nothing enforced)
	 * would stay attached and could act through it.
	 */
	if (task->ptrace & PT_PTRACED)
		return false;
	mm = task->mm;
	if (!mm)
		return false;
	exe = mm->exe_file;
	if (!exe)
		return false;
	inode = exe->f_inode;
	c = bpf_inode_storage_get(&inode_cache, inode, 0, 0);
	if (!c || !cache_current(c, inode))
		return false;
	if (pol.active == VOUCH_ACTIVE_NONE)
		return false;
	return cached_allow(c, pol, &d, &have_d) & VOUCH_ALLOW_AGENT;
}

static __always_inline long tamper_denied(void)
{
	STAT_INC(tamper_denied);
	return -EPERM;
}

/*
 * A number that names @ns for the whole boot: the low 32 bits of its
 * sequence number (seq, up to 6.17) or ns_id (since), both from a counter
 * that never goes back. Not the inode number: that is freed with the
 * namespace and handed to the next one, so a unit's new namespace, set up by
 * systemd while it is still a slave, would inherit the protection of a vouchd
 * that has exited. Two namespaces 2^32 apart share a number: that only
 * refuses mounts in one more namespace. 0: neither field.
 */
static __always_inline __u32 mnt_ns_id(struct mnt_namespace *ns)
{
	struct mnt_namespace___seq *s = (void *)ns;
	struct mnt_namespace___id *i = (void *)ns;
	__u64 id = 0;

	if (!ns)
		return 0;
	if (bpf_core_field_exists(s->seq))
		id = BPF_CORE_READ(s, seq);
	else if (bpf_core_field_exists(i->ns.ns_id))
		id = BPF_CORE_READ(i, ns.ns_id);
	else
		return 0;
	return (__u32)id ?: 1;
}

/*
 * The agent's mount namespace (vouchd's own, under its unit), recorded when
 * the vouchd that serves the kernel side (vouch_trust.agent_pid, which
 * vouchd writes once it has made sure no other one runs) opens one of
 * vouch's maps, which it does at every start and policy activation: one
 * slot, so restarts do not fill the map. Other agent processes (a second
 * vouchd root starts, which opens the maps before it sees the first and
 * exits; vouchctl run as the agent) do not move it. The programs name it
 * because vouchd cannot learn the number on every kernel. agent_pid is a pid
 * in the initial pid namespace, where vouchd runs.
 */
static __always_inline void note_agent_mnt_ns(void)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct vouch_protect_key k = {.kind = VOUCH_PROTECT_MNTNS};
	struct vouch_trust *trust;
	__u32 zero = 0, v;

	trust = bpf_map_lookup_elem(&vouch_trust, &zero);
	if (!trust || trust->agent_pid != (__u32)(bpf_get_current_pid_tgid() >> 32))
		return;
	v = mnt_ns_id(BPF_CORE_READ(t, nsproxy, mnt_ns));
	if (v)
		bpf_map_update_elem(&vouch_protect, &k, &v, BPF_ANY);
}

static __always_inline bool is_vouch_map(struct bpf_map *map)
{
	return map == (void *)&vouch_config || map == (void *)&allow_a || map == (void *)&allow_b ||
	       map == (void *)&vouch_stats || map == (void *)&inode_cache ||
	       map == (void *)&events || map == (void *)&vouch_trust ||
	       map == (void *)&uid_shares || /* a forged share would starve a user */
	       map == (void *)&path_scratch || /* a path being built could be rewritten */
	       map == (void *)&vouch_protect;
}

/* A file descriptor for one of vouch's maps: only for the agent. */
SEC("lsm/bpf_map")
long BPF_PROG(vouch_bpf_map, struct bpf_map *map, fmode_t fmode, int ret)
{
	if (ret)
		return lsm_errno(ret);
	/*
	 * Any descriptor, read-only too: the verifier lets a program write a map
	 * it was loaded with whatever the descriptor's mode, so a read-only fd
	 * is a writable map for any BPF program root loads.
	 */
	if (!is_vouch_map(map))
		return 0;
	if (is_agent()) {
		note_agent_mnt_ns();
		return 0;
	}
	if (!enforcing())
		return 0;
	return tamper_denied();
}

/* Detaching programs while enforcing: only the agent. */
SEC("lsm/bpf")
long BPF_PROG(vouch_bpf, int cmd, union bpf_attr *attr, unsigned int size, int ret)
{
	if (ret)
		return lsm_errno(ret);
	if (cmd != BPF_LINK_DETACH && cmd != BPF_PROG_DETACH)
		return 0;
	if (!enforcing() || is_agent())
		return 0;
	return tamper_denied();
}

static __always_inline bool is_pin_dir(struct inode *dir)
{
	struct vouch_config *cfg = get_config();

	return cfg && cfg->pin_dir_ino && dir && BPF_CORE_READ(dir, i_ino) == cfg->pin_dir_ino &&
	       BPF_CORE_READ(dir, i_sb, s_magic) == BPF_FS_MAGIC;
}

/* Removing a pin would detach vouch while vouchd is down. */
SEC("lsm/inode_unlink")
long BPF_PROG(vouch_inode_unlink, struct inode *dir, struct dentry *dentry, int ret)
{
	if (ret)
		return lsm_errno(ret);
	if (!enforcing() || !(is_pin_dir(dir) || (protect_flags(dir) & VOUCH_PROTECT_DIR)))
		return 0;
	return protect_verdict();
}

SEC("lsm/inode_rename")
long BPF_PROG(vouch_inode_rename, struct inode *old_dir, struct dentry *old_dentry,
	     struct inode *new_dir, struct dentry *new_dentry, int ret)
{
	const __u32 moved = VOUCH_PROTECT_DIR | VOUCH_PROTECT_ANCESTOR;

	if (ret)
		return lsm_errno(ret);
	if (!enforcing())
		return 0;
	/*
	 * Pins; a name into or out of a protected directory; the protected
	 * directory or one above it moved away (another directory could then
	 * take its path) or replaced (RENAME_EXCHANGE, or over an empty one).
	 */
	if (!(is_pin_dir(old_dir) || is_pin_dir(old_dentry->d_inode) ||
	      (protect_flags(old_dir) & VOUCH_PROTECT_DIR) ||
	      (protect_flags(new_dir) & VOUCH_PROTECT_DIR) ||
	      (protect_flags(old_dentry->d_inode) & moved) ||
	      (protect_flags(new_dentry->d_inode) & moved)))
		return 0;
	return protect_verdict();
}

/* ---- vouch's own files (enforce mode) --------------------------------- */

/*
 * The trusted keys (keys_dir) and the state (state_dir: the highest serial,
 * the accepted policy) decide what the next boot trusts. While enforcing,
 * only the agent may change them, their entries, or what is mounted over
 * them or a directory above them (see README, "Kernel side: decisions").
 */
static __always_inline long protect_verdict(void)
{
	if (is_agent())
		return 0;
	return tamper_denied();
}

/* A new name in @dir. */
static __always_inline long protect_new_name(struct inode *dir, int ret)
{
	if (ret)
		return lsm_errno(ret);
	if (!enforcing() || !(protect_flags(dir) & VOUCH_PROTECT_DIR))
		return 0;
	return protect_verdict();
}

/* A change of @d itself: its attributes, extended attributes, ACLs. */
static __always_inline long protect_change(struct dentry *d, int ret)
{
	if (ret)
		return lsm_errno(ret);
	if (!enforcing() || !protected_dentry(d))
		return 0;
	return protect_verdict();
}

SEC("lsm/inode_create")
long BPF_PROG(vouch_inode_create, struct inode *dir, struct dentry *dentry, umode_t mode, int ret)
{
	return protect_new_name(dir, ret);
}

SEC("lsm/inode_mknod")
long BPF_PROG(vouch_inode_mknod, struct inode *dir, struct dentry *dentry, umode_t mode,
	     dev_t dev, int ret)
{
	return protect_new_name(dir, ret);
}

SEC("lsm/inode_mkdir")
long BPF_PROG(vouch_inode_mkdir, struct inode *dir, struct dentry *dentry, umode_t mode, int ret)
{
	return protect_new_name(dir, ret);
}

SEC("lsm/inode_symlink")
long BPF_PROG(vouch_inode_symlink, struct inode *dir, struct dentry *dentry, const char *old_name,
	     int ret)
{
	return protect_new_name(dir, ret);
}

/*
 * Into a protected directory, or out of one (a second name could be
 * written), or out of nowhere (linkat(AT_EMPTY_PATH) of a file opened by
 * handle) on a file system holding one.
 */
SEC("lsm/inode_link")
long BPF_PROG(vouch_inode_link, struct dentry *old_dentry, struct inode *dir,
	     struct dentry *new_dentry, int ret)
{
	if (ret)
		return lsm_errno(ret);
	if (!enforcing() || !((protect_flags(dir) & VOUCH_PROTECT_DIR) ||
			      (protect_flags(old_dentry->d_parent->d_inode) & VOUCH_PROTECT_DIR) ||
			      disconnected_on_protected_fs(old_dentry)))
		return 0;
	return protect_verdict();
}

SEC("lsm/inode_rmdir")
long BPF_PROG(vouch_inode_rmdir, struct inode *dir, struct dentry *dentry, int ret)
{
	if (ret)
		return lsm_errno(ret);
	if (!enforcing() || !((protect_flags(dir) & VOUCH_PROTECT_DIR) ||
			      (protect_flags(dentry->d_inode) & VOUCH_PROTECT_DIR)))
		return 0;
	return protect_verdict();
}

/*
 * truncate, chmod, chown, utimes. Since 6.3 the hook's first argument is the
 * mount's idmap; a program reads its arguments by position, so each
 * prototype has its own program and the loader attaches the one that
 * matches the running kernel's BTF.
 */
SEC("lsm/inode_setattr")
long BPF_PROG(vouch_inode_setattr, void *idmap, struct dentry *dentry,
	     struct iattr *attr, int ret)
{
	return protect_change(dentry, ret);
}

SEC("lsm/inode_setattr")
long BPF_PROG(vouch_inode_setattr_6_1, struct dentry *dentry, struct iattr *attr, int ret)
{
	return protect_change(dentry, ret);
}

/*
 * The first argument is a user namespace up to 6.2, an idmap since: either
 * way a pointer, and the dentry is the second, so one program serves both.
 */
SEC("lsm/inode_setxattr")
long BPF_PROG(vouch_inode_setxattr, void *idmap, struct dentry *dentry, const char *name,
	     const void *value, size_t size, int flags, int ret)
{
	return protect_change(dentry, ret);
}

SEC("lsm/inode_removexattr")
long BPF_PROG(vouch_inode_removexattr, void *idmap, struct dentry *dentry, const char *name,
	     int ret)
{
	return protect_change(dentry, ret);
}

/* POSIX ACLs have hooks of their own since 6.2 (attached only where they exist). */
SEC("lsm/inode_set_acl")
long BPF_PROG(vouch_inode_set_acl, void *idmap, struct dentry *dentry, const char *acl_name,
	     void *kacl, int ret)
{
	return protect_change(dentry, ret);
}

SEC("lsm/inode_remove_acl")
long BPF_PROG(vouch_inode_remove_acl, void *idmap, struct dentry *dentry, const char *acl_name,
	     int ret)
{
	return protect_change(dentry, ret);
}

/*
 * Would a mount at @path hide a protected directory or an entry of one? On a
 * shared mount, whatever its namespace (it propagates); otherwise only
 * in pid 1's mount namespace and the agent's (note_agent_mnt_ns()): a
 * service's private namespace (systemd's ProtectSystem=, PrivateTmp=), or
 * one made with unshare -m, may mount over /etc in its own view, which
 * changes no file and nothing vouchd sees.
 */
/*
 * pid 1's mount namespace: the initial one, where the system's mounts are.
 * Found from the caller up its parents, since vouchd under its unit cannot
 * stat /proc/1/ns/mnt (that needs ptrace read access to pid 1, whose
 * capabilities exceed vouchd's bounding set).
 */
static __always_inline struct mnt_namespace *init_mnt_ns(void)
{
	struct task_struct *t = bpf_get_current_task_btf();

	for (int i = 0; i < 512 && t; i++) {
		if (t->pid == 1)
			return BPF_CORE_READ(t, nsproxy, mnt_ns);
		if (t->pid == 0)
			return NULL;
		t = t->real_parent;
	}
	return NULL;
}

struct mount___group {
	int mnt_group_id;
} __attribute__((preserve_access_index));

/*
 * Is @m in a shared peer group? A mount on it then propagates to its peers,
 * which may be in pid 1's namespace: a namespace made with unshare -m
 * --propagation unchanged on a system where / is shared (systemd's default)
 * would mount over the host's /etc/vouch/keys from its own. mnt_group_id is
 * nonzero while the mount is in a peer group (the field exists from 6.1
 * through 7.x, where the MNT_SHARED flag did not stay in mnt_flags); a
 * slave-only mount (systemd's ProtectSystem=) and a private one have 0.
 * Without the field, assume shared.
 */
static __always_inline bool mount_shared(struct mount *m)
{
	struct mount___group *g = (void *)m;

	if (!bpf_core_field_exists(g->mnt_group_id))
		return true;
	return BPF_CORE_READ(g, mnt_group_id) != 0;
}

static __always_inline bool mount_hides_protected(const struct path *path)
{
	struct vouch_protect_key k = {};
	struct mnt_namespace *ns;
	__u32 *agent_ns;
	struct mount *m;
	struct dentry *d;

	if (!path)
		return false;
	d = path->dentry;
	if (!protect_flags(d->d_inode) && !(protect_flags(d->d_parent->d_inode) & VOUCH_PROTECT_DIR))
		return false;
	m = real_mount(path->mnt);
	if (mount_shared(m))
		return true;
	ns = BPF_CORE_READ(m, mnt_ns);
	if (!ns)
		return false;
	if (ns == init_mnt_ns())
		return true;
	k.kind = VOUCH_PROTECT_MNTNS;
	agent_ns = bpf_map_lookup_elem(&vouch_protect, &k);
	return agent_ns && *agent_ns == mnt_ns_id(ns);
}

#define MS_REMOUNT 32
#define MS_BIND 4096
#define MS_UNBINDABLE (1 << 17)
#define MS_PRIVATE (1 << 18)
#define MS_SLAVE (1 << 19)
#define MS_SHARED (1 << 20)

/*
 * mount(2): a new mount, a bind mount or a move onto @path. Remounts and
 * propagation changes mount nothing new, and systemd needs them; the order
 * of the tests is path_mount()'s.
 */
SEC("lsm/sb_mount")
long BPF_PROG(vouch_sb_mount, const char *dev_name, const struct path *path, const char *type,
	     unsigned long flags, void *data, int ret)
{
	if (ret)
		return lsm_errno(ret);
	if (!enforcing() || (flags & MS_REMOUNT))
		return 0;
	if (!(flags & MS_BIND) && (flags & (MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE)))
		return 0;
	if (!mount_hides_protected(path))
		return 0;
	return protect_verdict();
}

/* move_mount(2): a detached tree (fsmount, open_tree) or a moved mount onto to_path. */
SEC("lsm/move_mount")
long BPF_PROG(vouch_move_mount, const struct path *from_path, const struct path *to_path, int ret)
{
	if (ret)
		return lsm_errno(ret);
	if (!enforcing() || !mount_hides_protected(to_path))
		return 0;
	return protect_verdict();
}

/* Unmounting bpffs drops the pins with it. */
/*
 * Is mnt a mount above the pins' bpffs mount? A lazy umount of it (umount -l
 * /sys) takes the bpffs mount along; once nothing holds the pins they are
 * freed and every hook detaches.
 */
static __always_inline bool above_pins(struct vfsmount *mnt)
{
	struct vouch_config *cfg = get_config();
	__u64 off = bpf_core_field_offset(struct mount, mnt);
	struct mount *m, *parent;

	if (!cfg || !cfg->pin_mnt)
		return false;
	m = (struct mount *)(cfg->pin_mnt - off);
	for (int i = 0; i < 64; i++) {
		parent = BPF_CORE_READ(m, mnt_parent);
		if (!parent || parent == m)
			return false;
		if ((__u64)parent + off == (__u64)mnt)
			return true;
		m = parent;
	}
	return false;
}

/*
 * Unmounting bpffs, or lazily unmounting a mount above the pins, while
 * enforcing: only the agent. (A plain umount of a mount that has the bpffs
 * mount below it fails with EBUSY by itself.)
 */
SEC("lsm/sb_umount")
long BPF_PROG(vouch_sb_umount, struct vfsmount *mnt, int flags, int ret)
{
	if (ret)
		return lsm_errno(ret);
	if (!enforcing())
		return 0;
	if (BPF_CORE_READ(mnt, mnt_sb, s_magic) != BPF_FS_MAGIC &&
	    !((flags & MNT_DETACH) && above_pins(mnt)))
		return 0;
	if (is_agent())
		return 0;
	return tamper_denied();
}

/* ---- code injection (enforce mode) ------------------------------------ */

/*
 * Writing a process's memory puts code into an executable mapping that no hook
 * measured: ptrace (POKETEXT), process_vm_writev, pidfd_getfd, /proc/PID/mem,
 * and a process's own /proc/self/mem (the DDexec technique, which runs any ELF
 * through a listed shell and dd). While a policy enforces, none of it is
 * allowed to anyone but the agent, as Yama's ptrace_scope=3 would; debuggers
 * need audit mode. Audit mode counts the would-be denial.
 */
static __always_inline long injection_verdict(void)
{
	struct policy pol = current_policy();

	if (pol.mode != VOUCH_MODE_ENFORCE) {
		if (pol.active != VOUCH_ACTIVE_NONE)
			STAT_INC(audit_denied);
		return 0;
	}
	if (is_agent())
		return 0;
	STAT_INC(denied);
	return -EPERM;
}

/*
 * Every PTRACE_MODE_ATTACH check: ptrace attach and seize, process_vm_readv
 * and _writev, pidfd_getfd, opening another process's /proc/PID/mem. Read-mode
 * checks (ps, /proc/PID/stat) pass.
 */
SEC("lsm/ptrace_access_check")
long BPF_PROG(vouch_ptrace_access_check, struct task_struct *child, unsigned int mode, int ret)
{
	if (ret)
		return lsm_errno(ret);
	if (!(mode & PTRACE_MODE_ATTACH))
		return 0;
	return injection_verdict();
}

/* PTRACE_TRACEME: the child offers itself to its parent. */
SEC("lsm/ptrace_traceme")
long BPF_PROG(vouch_ptrace_traceme, struct task_struct *parent, int ret)
{
	if (ret)
		return lsm_errno(ret);
	return injection_verdict();
}

/*
 * prctl(PR_SET_MM) rewrites what the kernel believes a process runs: its
 * executable link (PR_SET_MM_EXE_FILE, PR_SET_MM_MAP) is what names the agent.
 * This hook's "not handled" value is -ENOSYS, not 0: anything else would
 * answer the prctl without running it, so `ret` passes through.
 */
SEC("lsm/task_prctl")
long BPF_PROG(vouch_task_prctl, int option, unsigned long arg2, unsigned long arg3,
	     unsigned long arg4, unsigned long arg5, int ret)
{
	long v;

	if (option != PR_SET_MM)
		return lsm_errno(ret);
	v = injection_verdict();
	if (v)
		return v;
	return lsm_errno(ret);
}
