// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * make bench only: programs that do nothing, on exactly the hooks vouch.bpf.c
 * attaches to and with the same sleepable flags. An exec under these costs
 * what the kernel charges for calling BPF LSM programs at all (trampolines,
 * RCU and migration guards), which is the floor under vouch's own cost.
 * tests/bpf/bench_hooks_test.cpp keeps the two hook lists the same.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "lsm_ret.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("lsm.s/bprm_check_security")
long BPF_PROG(empty_bprm_check, struct linux_binprm *bprm, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm.s/bprm_creds_for_exec")
long BPF_PROG(empty_execve_check, struct linux_binprm *bprm, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm.s/mmap_file")
long BPF_PROG(empty_mmap_file, struct file *file, unsigned long reqprot, unsigned long prot,
	     unsigned long flags, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/file_mprotect")
long BPF_PROG(empty_file_mprotect, struct vm_area_struct *vma, unsigned long reqprot,
	     unsigned long prot, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/file_open")
long BPF_PROG(empty_file_open, struct file *file, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm.s/kernel_read_file")
long BPF_PROG(empty_kernel_read_file, struct file *file, enum kernel_read_file_id id,
	     bool contents, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/kernel_load_data")
long BPF_PROG(empty_kernel_load_data, enum kernel_load_data_id id, bool contents, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/bpf_map")
long BPF_PROG(empty_bpf_map, struct bpf_map *map, fmode_t fmode, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/bpf")
long BPF_PROG(empty_bpf, int cmd, union bpf_attr *attr, unsigned int size, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/inode_unlink")
long BPF_PROG(empty_inode_unlink, struct inode *dir, struct dentry *dentry, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/inode_rename")
long BPF_PROG(empty_inode_rename, struct inode *old_dir, struct dentry *old_dentry,
	     struct inode *new_dir, struct dentry *new_dentry, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/sb_umount")
long BPF_PROG(empty_sb_umount, struct vfsmount *mnt, int flags, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/ptrace_access_check")
long BPF_PROG(empty_ptrace_access_check, struct task_struct *child, unsigned int mode, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/ptrace_traceme")
long BPF_PROG(empty_ptrace_traceme, struct task_struct *parent, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/task_prctl")
long BPF_PROG(empty_task_prctl, int option, unsigned long arg2, unsigned long arg3,
	     unsigned long arg4, unsigned long arg5, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/inode_create")
long BPF_PROG(empty_inode_create, struct inode *dir, struct dentry *dentry, umode_t mode, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/inode_mknod")
long BPF_PROG(empty_inode_mknod, struct inode *dir, struct dentry *dentry, umode_t mode,
	     dev_t dev, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/inode_mkdir")
long BPF_PROG(empty_inode_mkdir, struct inode *dir, struct dentry *dentry, umode_t mode, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/inode_symlink")
long BPF_PROG(empty_inode_symlink, struct inode *dir, struct dentry *dentry, const char *old_name,
	     int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/inode_link")
long BPF_PROG(empty_inode_link, struct dentry *old_dentry, struct inode *dir,
	     struct dentry *new_dentry, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/inode_rmdir")
long BPF_PROG(empty_inode_rmdir, struct inode *dir, struct dentry *dentry, int ret)
{
	return lsm_errno(ret);
}

/* 6.3+ and 6.1 prototypes; the bench picks one as the loader does */
SEC("lsm/inode_setattr")
long BPF_PROG(empty_inode_setattr, void *idmap, struct dentry *dentry, struct iattr *attr, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/inode_setattr")
long BPF_PROG(empty_inode_setattr_6_1, struct dentry *dentry, struct iattr *attr, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/inode_setxattr")
long BPF_PROG(empty_inode_setxattr, void *idmap, struct dentry *dentry, const char *name,
	     const void *value, size_t size, int flags, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/inode_removexattr")
long BPF_PROG(empty_inode_removexattr, void *idmap, struct dentry *dentry, const char *name,
	     int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/inode_set_acl")
long BPF_PROG(empty_inode_set_acl, void *idmap, struct dentry *dentry, const char *acl_name,
	     void *kacl, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/inode_remove_acl")
long BPF_PROG(empty_inode_remove_acl, void *idmap, struct dentry *dentry, const char *acl_name,
	     int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/sb_mount")
long BPF_PROG(empty_sb_mount, const char *dev_name, const struct path *path, const char *type,
	     unsigned long flags, void *data, int ret)
{
	return lsm_errno(ret);
}

SEC("lsm/move_mount")
long BPF_PROG(empty_move_mount, const struct path *from_path, const struct path *to_path, int ret)
{
	return lsm_errno(ret);
}
