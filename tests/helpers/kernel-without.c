/*
 * kernel-without FEATURE PROGRAM [ARGS...]: runs PROGRAM as on a kernel without FEATURE, for the
 * integration tests of the paths where the daemon must say what is missing and still serve. A
 * seccomp filter answers the feature's system call with what such a kernel answers; every other
 * call is allowed. The filter is inherited by every process PROGRAM forks, so the daemon's
 * workers meet the same "kernel".
 *   landlock  landlock_create_ruleset fails with ENOSYS (a kernel built without Landlock, or
 *             older than 5.13)
 *   ipv6      socket(AF_INET6, ...) fails with EAFNOSUPPORT (a kernel booted ipv6.disable=1)
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The same number on every architecture (the syscall table was unified before 5.13). */
#define KERNEL_WITHOUT_NR_LANDLOCK_CREATE_RULESET 444

#define KW_LOAD(field) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, field))
#define KW_ALLOW       BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
#define KW_ERRNO(e)    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((e)&SECCOMP_RET_DATA))

static const struct sock_filter kernel_without_landlock[] = {
    KW_LOAD(nr),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, KERNEL_WITHOUT_NR_LANDLOCK_CREATE_RULESET, 0, 1),
    KW_ERRNO(ENOSYS),
    KW_ALLOW,
};

/* args[0] is 64 bits wide; the domain fits in its low half, first on a little-endian machine. */
static const struct sock_filter kernel_without_ipv6[] = {
    KW_LOAD(nr),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, 0, 3),
    KW_LOAD(args[0]),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET6, 0, 1),
    KW_ERRNO(EAFNOSUPPORT),
    KW_ALLOW,
};

static const struct kernel_without_feature {
	const char *name;
	const struct sock_filter *code;
	unsigned short len;
} kernel_without_features[] = {
    {"landlock", kernel_without_landlock,
     sizeof(kernel_without_landlock) / sizeof(kernel_without_landlock[0])},
    {"ipv6", kernel_without_ipv6, sizeof(kernel_without_ipv6) / sizeof(kernel_without_ipv6[0])},
};

static int kernel_without_filter(const struct kernel_without_feature *f)
{
	struct sock_fprog prog = {.len = f->len, .filter = (struct sock_filter *)f->code};

	/* without it only a process with CAP_SYS_ADMIN may load a filter */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

static const struct kernel_without_feature *kernel_without_find(const char *name)
{
	for (size_t i = 0; i < sizeof(kernel_without_features) / sizeof(kernel_without_features[0]);
	     i++)
		if (strcmp(kernel_without_features[i].name, name) == 0)
			return &kernel_without_features[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct kernel_without_feature *f = argc >= 3 ? kernel_without_find(argv[1]) : NULL;

	if (f == NULL) {
		fprintf(stderr, "usage: kernel-without landlock|ipv6 PROGRAM [ARGS...]\n");
		return 2;
	}
	if (kernel_without_filter(f) < 0) {
		fprintf(stderr, "kernel-without: seccomp: %s\n", strerror(errno));
		return 1;
	}
	execv(argv[2], argv + 2);
	fprintf(stderr, "kernel-without: %s: %s\n", argv[2], strerror(errno));
	return 1;
}
