/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * The one ABI shared by the BPF programs and vouchd.
 *
 * Rules (Tetragon-style): fixed-width types only, explicit padding, numeric
 * enum values that never change meaning once released. The C++ side pins the
 * layout with static_assert (lib/abi.h) and a unit test; change both or
 * neither.
 */
#ifndef VOUCH_ABI_H
#define VOUCH_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define VOUCH_ABI_VERSION 2
#define VOUCH_DIGEST_SIZE 32 /* SHA-256 */
#define VOUCH_PATH_MAX 4096

/* IMA's enum hash_algo value for SHA-256 (include/uapi/linux/hash_info.h). */
#define VOUCH_IMA_HASH_ALGO_SHA256 4

enum vouch_hook {
	VOUCH_HOOK_BPRM_CHECK = 1,
	VOUCH_HOOK_MMAP_FILE = 2,
	VOUCH_HOOK_FILE_MPROTECT = 3,
	VOUCH_HOOK_KERNEL_READ_FILE = 4,
	/* execveat(AT_EXECVE_CHECK), 6.14+: an interpreter asks about a script */
	VOUCH_HOOK_EXECVE_CHECK = 5,
	/*
	 * an open for write of a file vouch measured and that is mapped
	 * executable (IMA's ToMToU violation); always VOUCH_EVF_TOMTOU
	 */
	VOUCH_HOOK_FILE_OPEN = 6,
};

enum vouch_verdict {
	VOUCH_VERDICT_ALLOW = 0,
	VOUCH_VERDICT_DENY = 1,
	/* audit mode: enforce would have denied, the access was allowed */
	VOUCH_VERDICT_AUDIT_DENY = 2,
};

enum vouch_mode {
	VOUCH_MODE_AUDIT = 0,
	VOUCH_MODE_ENFORCE = 1,
};

enum vouch_event_flags {
	VOUCH_EVF_HASH_ERROR = 1u << 0, /* no digest: bpf_ima_file_hash failed */
	/*
	 * no absolute path (d_absolute_path() would fail: a memfd, a detached
	 * mount, PATH_MAX or more): path is the file's name alone, as the
	 * kernel's IMA logs it then, or empty
	 */
	VOUCH_EVF_PATH_ERROR = 1u << 1,
	VOUCH_EVF_CACHED = 1u << 2,     /* digest came from vouch's inode cache */
	/*
	 * digest is the file's fs-verity digest (SHA-256 fs-verity file digest,
	 * what `fsverity measure` prints), not the SHA-256 of its content
	 */
	VOUCH_EVF_VERITY = 1u << 3,
	/*
	 * the file was open for write when it was measured (IMA's
	 * "open_writers" violation): the digest may not be what runs
	 */
	VOUCH_EVF_OPEN_WRITERS = 1u << 4,
	/*
	 * opened for write while measured and mapped executable (IMA's "ToMToU"
	 * violation): the mapping may now hold bytes nobody measured
	 */
	VOUCH_EVF_TOMTOU = 1u << 5,
};

/* One measurement, written by the kernel side into the ring buffer. */
struct vouch_event {
	__u64 ts_ns;     /* bpf_ktime_get_boot_ns() */
	__u64 ino;       /* inode identity: (dev, ino, generation) */
	__u32 dev;       /* st_dev encoding: new_encode_dev(sb->s_dev) */
	__u32 generation;
	__u32 pid;       /* thread group id of the caller */
	__u32 tid;
	__u32 uid;       /* real uid */
	__u16 hook;      /* enum vouch_hook */
	__u16 verdict;   /* enum vouch_verdict */
	__u32 flags;     /* enum vouch_event_flags */
	__s32 hash_algo; /* what bpf_ima_file_hash returned (algo or -errno) */
	__u32 path_len;  /* bytes in path, without the NUL */
	__u32 sb_magic;  /* the file system's magic (s_magic), low 32 bits */
	__u8 digest[VOUCH_DIGEST_SIZE];
	char path[VOUCH_PATH_MAX];
};

/* Counters the kernel side keeps; a lost measurement is never silent. */
struct vouch_stats {
	__u64 measured;      /* events submitted */
	__u64 ringbuf_drops; /* events that could not be reserved */
	__u64 hash_errors;
	__u64 denied;
	__u64 audit_denied;
	__u64 cache_hits;
	__u64 hashes;        /* calls to bpf_ima_file_hash */
	__u64 tamper_denied; /* changes to vouch's own BPF objects refused */
};

/*
 * What vouchd bound itself to this boot, kept where only the agent may write
 * it while a policy enforces (map vouch_trust, one entry, pinned): a vouchd
 * started later with other keys, another state directory or an older policy
 * finds it here, whatever its options say. Written by vouchd, never by the
 * BPF programs.
 */
struct vouch_trust {
	__u64 serial;                            /* highest policy serial accepted; 0: none */
	__u8 policy_digest[VOUCH_DIGEST_SIZE];   /* SHA-256 of the envelope accepted at serial */
	__u8 keyring_digest[VOUCH_DIGEST_SIZE];  /* SHA-256 of the trusted keyids, sorted, "\n"-joined */
	__u32 agent_pid;                         /* the vouchd that serves this kernel side, a pid in
	                                            the initial pid namespace; 0: none */
	__u32 _pad0;
};

/*
 * vouch's own files (enforce mode): the map vouch_protect, keyed by what an
 * entry names. Written by vouchd (the agent), and by the programs only for
 * VOUCH_PROTECT_MNTNS.
 *
 * VOUCH_PROTECT_INODE: a directory, by its superblock's device in the
 * kernel's encoding (sb->s_dev, MAJOR << 20 | MINOR: what
 * /proc/self/mountinfo prints, which on btrfs subvolumes is not stat's
 * st_dev) and inode number. VOUCH_PROTECT_MNTNS: one entry, ino 0 and dev
 * 0, whose value is the agent's mount namespace (the low 32 bits of its
 * sequence number or ns_id), written by the programs when the vouchd named
 * by vouch_trust.agent_pid opens one of vouch's maps: mounts over a
 * protected directory or an ancestor are refused only there, in pid 1's
 * namespace (which the programs find themselves) and on shared mounts. VOUCH_PROTECT_FS: a file
 * system holding a protected directory, by sb->s_dev, ino 0: there a write
 * open, setattr, xattr change or link of a file reached through a
 * disconnected dentry (a file handle: open_by_handle_at, knfsd), which names
 * no directory to check, is refused.
 */
enum vouch_protect_kind {
	VOUCH_PROTECT_INODE = 1,
	VOUCH_PROTECT_MNTNS = 2,
	VOUCH_PROTECT_FS = 3,
};

struct vouch_protect_key {
	__u64 ino;
	__u32 dev;
	__u32 kind; /* enum vouch_protect_kind */
};

/* Values of vouch_protect (a bit set). */
enum vouch_protect_flags {
	/*
	 * The directory and every entry directly in it: no create, link,
	 * unlink, rename into or out of, write open, setattr or xattr change,
	 * no rename or rmdir of the directory itself, no mount over either.
	 */
	VOUCH_PROTECT_DIR = 1u << 0,
	/*
	 * A directory above a protected one: no mount over it (which would
	 * hide the protected one) and no rename of it (which would put another
	 * directory at the protected one's path).
	 */
	VOUCH_PROTECT_ANCESTOR = 1u << 1,
	/* 1u << 2: not used (was a namespace by inode number, reused by others) */
	/* a file system holding a protected directory (VOUCH_PROTECT_FS) */
	VOUCH_PROTECT_SB = 1u << 3,
};

enum vouch_active_list {
	VOUCH_ACTIVE_NONE = 0, /* no policy: audit measures only, enforce denies all */
	VOUCH_ACTIVE_A = 1,    /* allow_a */
	VOUCH_ACTIVE_B = 2,    /* allow_b */
};

/*
 * Runtime configuration, the single entry of the vouch_config array map
 * (mmap-able). The allow-list is double-buffered: the active list names the
 * map that execs are checked against. vouchd fills the other one, then writes
 * mode, active list and a new generation together as the one 64-bit `policy`
 * word, which the programs read with one 8-byte load: no exec sees a
 * half-loaded list or a mode paired with the wrong list.
 *
 * The generation grows with every store of the word (any change of mode or
 * list). The programs remember an allow-list verdict per file together with
 * the generation it was taken under, so a new generation retires every
 * remembered verdict at once. A loader that reattaches to pinned maps
 * continues from the pinned word, so a generation is not reused; 0 means no
 * policy was ever stored, and the count skips 0 when it wraps (after 2^40
 * stores).
 */
struct vouch_config {
	__u64 policy;      /* VOUCH_POLICY_WORD(mode, active, generation) */
	__u64 pin_dir_ino; /* inode of the bpffs directory holding the pins, or 0 */
	__u32 abi_version; /* VOUCH_ABI_VERSION of the loader that created the maps */
	__u32 flags;       /* reserved, 0 */
	/*
	 * Written by the kernel side only: the vfsmount holding the pins, recorded
	 * when the loader opens the pin directory (0: not known). A lazy umount
	 * of any mount above it is refused while enforcing. Also makes maps
	 * pinned under ABI 1 (24 bytes) fail the size check.
	 */
	__u64 pin_mnt;
};

/*
 * The policy word's fields, as arithmetic on the 64-bit value (not on its
 * bytes), so both sides agree whatever the byte order:
 * bits 0-7 enum vouch_mode, 8-15 enum vouch_active_list, 16-55 generation,
 * 56-63 zero.
 */
#define VOUCH_POLICY_GEN_BITS 40
#define VOUCH_POLICY_GEN_MASK ((1ULL << VOUCH_POLICY_GEN_BITS) - 1)
#define VOUCH_POLICY_MODE(w) ((__u32)((w)&0xff))
#define VOUCH_POLICY_ACTIVE(w) ((__u32)(((w) >> 8) & 0xff))
#define VOUCH_POLICY_GEN(w) ((((__u64)(w)) >> 16) & VOUCH_POLICY_GEN_MASK)
#define VOUCH_POLICY_WORD(mode, active, gen)                                           \
	(((__u64)(mode)&0xff) | (((__u64)(active)&0xff) << 8) |                        \
	 (((__u64)(gen)&VOUCH_POLICY_GEN_MASK) << 16))

/*
 * Values of the allow-list maps. Flags live in bits 0-7: the kernel side
 * remembers only those with a file's cached verdict.
 */
enum vouch_allow_flags {
	VOUCH_ALLOW_EXEC = 1u << 0,
	/*
	 * The agent: a process whose executable has this digest may change
	 * vouch's BPF objects while enforcing (vouchd, and the selftests).
	 */
	VOUCH_ALLOW_AGENT = 1u << 1,
	/*
	 * The digest is listed as an fs-verity digest. A file identified by its
	 * fs-verity digest is allowed by this flag only, a file identified by
	 * its content's SHA-256 by VOUCH_ALLOW_EXEC only, so the one kind of
	 * digest can never stand in for the other.
	 */
	VOUCH_ALLOW_VERITY = 1u << 2,
};

struct vouch_digest {
	__u8 bytes[VOUCH_DIGEST_SIZE];
};

#endif /* VOUCH_ABI_H */
