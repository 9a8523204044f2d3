/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Another root process trying to switch vouch off. Static, uses the raw bpf()
 * syscall. Usage:
 *   tamper update MAP_PIN   get a writable fd for the map and write to it
 *   tamper detach LINK_PIN  detach the link
 *   tamper unlink PIN       remove the pin
 *   tamper progwrite PIN    get a read-only fd for the map (a hash map with
 *                           32-byte keys and u32 values: an allow-list) and
 *   tamper progwrite-id ID  let a BPF program of its own write through it
 * Exit: 0 the attempt succeeded (vouch was tampered with), 1 refused with
 * EPERM, 2 failed for another reason.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
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

/*
 * The verifier checks a map's own flags, not the mode of the descriptor the
 * program was loaded with: a read-only descriptor is enough for a program to
 * write the map. A socket filter that stores key 0 -> 3 (allowed, agent).
 */
static int progwrite(long map_fd)
{
	struct bpf_insn insns[] = {
		/* *(u64 *)(r10 - 8 * i) = 0: the 32-byte key at fp-40 */
		{.code = BPF_ST | BPF_DW | BPF_MEM, .dst_reg = BPF_REG_10, .off = -40, .imm = 0},
		{.code = BPF_ST | BPF_DW | BPF_MEM, .dst_reg = BPF_REG_10, .off = -32, .imm = 0},
		{.code = BPF_ST | BPF_DW | BPF_MEM, .dst_reg = BPF_REG_10, .off = -24, .imm = 0},
		{.code = BPF_ST | BPF_DW | BPF_MEM, .dst_reg = BPF_REG_10, .off = -16, .imm = 0},
		/* the value at fp-8 */
		{.code = BPF_ST | BPF_W | BPF_MEM, .dst_reg = BPF_REG_10, .off = -8, .imm = 3},
		{.code = BPF_ST | BPF_W | BPF_MEM, .dst_reg = BPF_REG_10, .off = -4, .imm = 0},
		/* r1 = map */
		{.code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_1,
		 .src_reg = BPF_PSEUDO_MAP_FD, .imm = (int)map_fd},
		{0},
		{.code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_10},
		{.code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_2, .imm = -40},
		{.code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_3, .src_reg = BPF_REG_10},
		{.code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_3, .imm = -8},
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_4, .imm = 0},
		{.code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_map_update_elem},
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
		{.code = BPF_JMP | BPF_EXIT},
	};
	static char log[65536];
	union bpf_attr attr;
	unsigned char pkt[64] = {0};
	unsigned char key[32] = {0};
	unsigned int value = 0;
	long prog;

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insns = (unsigned long)insns;
	attr.insn_cnt = sizeof(insns) / sizeof(insns[0]);
	attr.license = (unsigned long)"GPL";
	attr.log_buf = (unsigned long)log;
	attr.log_size = sizeof(log);
	attr.log_level = 1;
	prog = sys_bpf(BPF_PROG_LOAD, &attr);
	if (prog < 0) {
		printf("%s", log);
		return verdict("load a program that writes the map", prog);
	}
	memset(&attr, 0, sizeof(attr));
	attr.test.prog_fd = prog;
	attr.test.data_in = (unsigned long)pkt;
	attr.test.data_size_in = sizeof(pkt);
	if (sys_bpf(BPF_PROG_TEST_RUN, &attr) < 0)
		return verdict("run the program", -1);
	memset(&attr, 0, sizeof(attr));
	attr.map_fd = map_fd;
	attr.key = (unsigned long)key;
	attr.value = (unsigned long)&value;
	if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr) < 0 || value != 3) {
		printf("tamper: the program ran but the map is unchanged\n");
		return 2;
	}
	return verdict("write the map through a read-only descriptor", 0);
}

int main(int argc, char **argv)
{
	union bpf_attr attr;
	long fd;

	if (argc != 3)
		return 2;
	if (!strcmp(argv[1], "unlink"))
		return verdict("unlink", unlink(argv[2]));

	if (!strcmp(argv[1], "progwrite-id")) {
		memset(&attr, 0, sizeof(attr));
		attr.map_id = (unsigned int)strtoul(argv[2], NULL, 10);
		attr.open_flags = BPF_F_RDONLY;
		fd = sys_bpf(BPF_MAP_GET_FD_BY_ID, &attr);
		if (fd < 0)
			return verdict("get a read-only fd by id", fd);
		return progwrite(fd);
	}
	memset(&attr, 0, sizeof(attr));
	attr.pathname = (unsigned long)argv[2];
	if (!strcmp(argv[1], "progwrite"))
		attr.file_flags = BPF_F_RDONLY;
	fd = sys_bpf(BPF_OBJ_GET, &attr);
	if (!strcmp(argv[1], "progwrite")) {
		if (fd < 0)
			return verdict("open the map read-only", fd);
		return progwrite(fd);
	}
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
