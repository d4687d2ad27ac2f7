/*
 * no-landlock PROGRAM [ARGS...]: runs PROGRAM as on a kernel without Landlock. A seccomp filter
 * makes landlock_create_ruleset fail with ENOSYS, which is what a kernel built without it (or
 * older than 5.13) answers; every other call is allowed. The filter is inherited by every
 * process PROGRAM forks, so the daemon's workers meet the same "kernel". For the integration
 * tests of the path where the daemon must say it runs unconfined and still serve.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* The same number on every architecture (the syscall table was unified before 5.13). */
#define NO_LANDLOCK_NR_CREATE_RULESET 444

static int no_landlock_filter(void)
{
	struct sock_filter code[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NO_LANDLOCK_NR_CREATE_RULESET, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};

	/* without it only a process with CAP_SYS_ADMIN may load a filter */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: no-landlock PROGRAM [ARGS...]\n");
		return 2;
	}
	if (no_landlock_filter() < 0) {
		fprintf(stderr, "no-landlock: seccomp: %s\n", strerror(errno));
		return 1;
	}
	execv(argv[1], argv + 1);
	fprintf(stderr, "no-landlock: %s: %s\n", argv[1], strerror(errno));
	return 1;
}
