/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Code injection into a running, listed program: what vouch must stop while a
 * policy enforces. Static, so no loader or library is involved.
 *
 *   inject [--uid UID] selfmem     write new code over victim() through
 *                                  /proc/self/mem, then call it
 *   inject [--uid UID] poke        PTRACE_ATTACH a forked child, POKETEXT
 *                                  new code over its victim()
 *   inject [--uid UID] vmwrite     process_vm_writev into a forked child
 *   inject [--uid UID] traceme     a forked child asks PTRACE_TRACEME
 *   inject [--uid UID] setexe FILE prctl(PR_SET_MM_EXE_FILE) to FILE
 *   inject [--uid UID] readmem     open /proc/self/mem read-only (allowed)
 *   inject [--uid UID] prctl       an ordinary prctl (PR_SET_NAME), which must
 *                                  keep working
 *   inject [--uid UID] exec ARGV.. exec ARGV as UID (shell forms of the attack)
 *   inject mapexec FILE            map FILE executable, create FILE.mapped, wait
 *                                  to be killed (a process running a library)
 *   inject mapexec-once FILE       map FILE executable and exit
 *
 * Exit: 0 the attempt succeeded (for the attacks: injected code ran or the
 * kernel did what was asked), 1 refused with EPERM, 2 failed otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* mov eax, 42; ret */
static const unsigned char code42[8] = {0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3, 0x90, 0x90};

/* Returns 7 unless someone rewrote it. */
__attribute__((noinline, aligned(16))) int victim(void)
{
	__asm__ volatile("" ::: "memory");
	return 7;
}

/* Set by vmwrite in the child's copy. */
static volatile int flag = 7;

static int refused(const char *what)
{
	printf("inject: %s refused: %s\n", what, strerror(errno));
	return errno == EPERM ? 1 : 2;
}

static int succeeded(const char *what)
{
	printf("inject: %s succeeded\n", what);
	return 0;
}

/* A child that waits up to 5 s for its victim() or flag to change. */
static pid_t spawn_victim(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 5000; ++i) {
			if (victim() == 42 || flag == 42)
				_exit(42);
			usleep(1000);
		}
		_exit(7);
	}
	return pid;
}

static int child_result(pid_t pid, const char *what)
{
	int st = 0;
	if (waitpid(pid, &st, 0) < 0)
		return 2;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 42)
		return succeeded(what);
	printf("inject: %s: the child did not run injected code\n", what);
	return 2;
}

/* What a hijacked call lands in when the text itself cannot be rewritten. */
__attribute__((noinline)) int winner(void)
{
	return 42;
}

static int (*volatile call)(void) = victim;

/*
 * New code over victim()'s text. Kernels built with PROC_MEM_FORCE_PTRACE or
 * NO_FORCE (Debian's 7.2) refuse writes to read-only text through
 * /proc/self/mem (EIO) unless a tracer asks; writable memory still takes any
 * write, so the fallback redirects a function pointer instead, the first
 * step of the ROP form of the same attack.
 */
static int selfmem(void)
{
	int fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return refused("open /proc/self/mem for write");
	if (pwrite(fd, code42, sizeof(code42), (off_t)(uintptr_t)victim) == sizeof(code42)) {
		printf("inject: rewrote victim()'s code\n");
	} else {
		int (*w)(void) = winner;
		printf("inject: the kernel refused the text write (%s); redirecting a pointer\n",
		       strerror(errno));
		if (pwrite(fd, &w, sizeof(w), (off_t)(uintptr_t)&call) != sizeof(w))
			return refused("write /proc/self/mem");
	}
	close(fd);
	if (call() != 42) {
		printf("inject: selfmem: nothing changed\n");
		return 2;
	}
	return succeeded("selfmem");
}

static int poke(void)
{
	pid_t pid = spawn_victim();
	long word;
	int st;

	if (ptrace(PTRACE_ATTACH, pid, 0, 0) < 0) {
		int rc = refused("PTRACE_ATTACH");
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return rc;
	}
	waitpid(pid, &st, 0);
	memcpy(&word, code42, sizeof(word));
	if (ptrace(PTRACE_POKETEXT, pid, (void *)victim, (void *)word) < 0) {
		int rc = refused("PTRACE_POKETEXT");
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return rc;
	}
	ptrace(PTRACE_DETACH, pid, 0, 0);
	return child_result(pid, "ptrace POKETEXT");
}

static int vmwrite(void)
{
	pid_t pid = spawn_victim();
	int v = 42;
	struct iovec local = {&v, sizeof(v)};
	struct iovec remote = {(void *)&flag, sizeof(flag)};

	if (process_vm_writev(pid, &local, 1, &remote, 1, 0) < 0) {
		int rc = refused("process_vm_writev");
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return rc;
	}
	return child_result(pid, "process_vm_writev");
}

static int traceme(void)
{
	int p[2];
	int err = 0;

	if (pipe(p))
		return 2;
	pid_t pid = fork();
	if (pid == 0) {
		err = ptrace(PTRACE_TRACEME, 0, 0, 0) < 0 ? errno : 0;
		(void)!write(p[1], &err, sizeof(err));
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &err, sizeof(err)) != sizeof(err))
		err = EIO;
	waitpid(pid, NULL, 0);
	if (err) {
		errno = err;
		return refused("PTRACE_TRACEME");
	}
	return succeeded("PTRACE_TRACEME");
}

static int setexe(const char *file)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 2;
	if (prctl(PR_SET_MM, PR_SET_MM_EXE_FILE, fd, 0, 0) < 0)
		return refused("PR_SET_MM_EXE_FILE");
	return succeeded("PR_SET_MM_EXE_FILE");
}

static int mapexec(const char *file, int hold)
{
	char marker[4096];
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 2;
	void *m = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		return refused("mmap PROT_EXEC");
	close(fd);
	if (!hold)
		return succeeded("mmap PROT_EXEC");
	snprintf(marker, sizeof(marker), "%s.mapped", file);
	close(open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	int i = 1;

	if (argc > 2 && !strcmp(argv[1], "--uid")) {
		uid_t uid = (uid_t)strtoul(argv[2], NULL, 10);
		if (setresgid(uid, uid, uid) || setresuid(uid, uid, uid))
			return 2;
		/*
		 * Changing uid made the process undumpable, which alone would
		 * keep its children from being traced: undo that, so only vouch
		 * stands in the way.
		 */
		if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
			return 2;
		i = 3;
	}
	if (i >= argc)
		return 2;
	const char *cmd = argv[i];
	if (!strcmp(cmd, "selfmem"))
		return selfmem();
	if (!strcmp(cmd, "poke"))
		return poke();
	if (!strcmp(cmd, "vmwrite"))
		return vmwrite();
	if (!strcmp(cmd, "traceme"))
		return traceme();
	if (!strcmp(cmd, "setexe") && i + 1 < argc)
		return setexe(argv[i + 1]);
	if (!strcmp(cmd, "readmem")) {
		int fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
		return fd < 0 ? refused("open /proc/self/mem read-only") : succeeded("readmem");
	}
	if (!strcmp(cmd, "prctl"))
		return prctl(PR_SET_NAME, "inject-ok", 0, 0, 0) < 0 ? refused("PR_SET_NAME")
								     : succeeded("PR_SET_NAME");
	if (!strcmp(cmd, "mapexec") && i + 1 < argc)
		return mapexec(argv[i + 1], 1);
	if (!strcmp(cmd, "mapexec-once") && i + 1 < argc)
		return mapexec(argv[i + 1], 0);
	if (!strcmp(cmd, "exec") && i + 1 < argc) {
		execv(argv[i + 1], argv + i + 1);
		return refused("exec");
	}
	return 2;
}
