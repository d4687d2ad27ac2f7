/* The seccomp allow-lists, what kills: each forbidden call, made alone in a child of its own
 * under a kind's real filter (test-seccomp-fixture.h), kills that child with SIGSYS, and so does
 * another architecture's call; in sanitizer builds the filter does not hide a report. And the
 * master's reading of the kernel's audit record that names the call. Under valgrind (which does
 * not run seccomp filters) the children are not run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/test-seccomp-fixture.h"

#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>

/* ---- what kills ---- */

static void no_exec(struct fixture *f)
{
	char *argv[] = {"/bin/true", NULL}, *envp[] = {NULL};

	syscall(SYS_execve, "/bin/true", argv, envp);
}

static void no_execveat(struct fixture *f)
{
	char *argv[] = {"/bin/true", NULL}, *envp[] = {NULL};

	syscall(SYS_execveat, AT_FDCWD, "/bin/true", argv, envp, 0);
}

static void no_inet(struct fixture *f)
{
	syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
}

static void no_inet6(struct fixture *f)
{
	syscall(SYS_socket, AF_INET6, SOCK_DGRAM, 0);
}

static void no_netlink(struct fixture *f)
{
	syscall(SYS_socket, AF_NETLINK, SOCK_RAW, 0);
}

static void no_unix_stream(struct fixture *f)
{
	syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
}

static void no_unix_seqpacket(struct fixture *f)
{
	syscall(SYS_socket, AF_UNIX, SOCK_SEQPACKET, 0);
}

static void no_socketpair(struct fixture *f)
{
	int sv[2];

	syscall(SYS_socketpair, AF_UNIX, SOCK_SEQPACKET, 0, sv);
}

static void no_connect(struct fixture *f)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = "\0twofold-test-nobody"};

	syscall(SYS_connect, f->spare_socket, &sa, sizeof(sa));
}

static void no_accept(struct fixture *f)
{
	syscall(SYS_accept4, f->listener, NULL, NULL, SOCK_CLOEXEC);
}

static void no_bind(struct fixture *f)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	syscall(SYS_bind, f->spare_socket, &sa, sizeof(sa_family_t));
}

static void no_listen(struct fixture *f)
{
	syscall(SYS_listen, f->spare_socket, 1);
}

static void no_epoll(struct fixture *f)
{
	syscall(SYS_epoll_create1, EPOLL_CLOEXEC);
}

static void no_ptrace(struct fixture *f)
{
	syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0);
}

static void no_process_vm_readv(struct fixture *f)
{
	char buf[8];
	struct iovec local = {buf, sizeof(buf)}, remote = {buf, sizeof(buf)};

	syscall(SYS_process_vm_readv, getppid(), &local, 1, &remote, 1, 0);
}

/* A new process: the child (if the call were allowed) and the parent both leave with 0. */
static void no_fork(struct fixture *f)
{
	syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
}

static void no_clone_newuser(struct fixture *f)
{
	syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, NULL, NULL, 0);
}

static void no_unshare(struct fixture *f)
{
	syscall(SYS_unshare, CLONE_NEWUSER);
}

static void no_thread(struct fixture *f)
{
	pthread_t t;

	if (pthread_create(&t, NULL, thread_main, NULL) == 0)
		pthread_join(t, NULL);
}

static void no_mmap_exec(struct fixture *f)
{
	syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void no_mprotect_exec(struct fixture *f)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	syscall(SYS_mprotect, p, 4096, PROT_READ | PROT_EXEC);
}

static void no_pkey_mprotect(struct fixture *f)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	syscall(SYS_pkey_mprotect, p, 4096, PROT_READ, -1);
}

static void no_kill_other(struct fixture *f)
{
	syscall(SYS_kill, getppid(), 0);
}

static void no_kill_all(struct fixture *f)
{
	syscall(SYS_kill, -1, 0);
}

static void no_tgkill_other(struct fixture *f)
{
	syscall(SYS_tgkill, getppid(), getppid(), 0);
}

static void no_ioctl(struct fixture *f)
{
	int n;

	syscall(SYS_ioctl, f->pipe[0], FIONREAD, &n);
}

static void no_prctl(struct fixture *f)
{
	syscall(SYS_prctl, PR_SET_DUMPABLE, 1, 0, 0, 0);
}

static void no_fcntl_setown(struct fixture *f)
{
	syscall(SYS_fcntl, f->pipe[0], F_SETOWN, getppid());
}

static void no_setrlimit(struct fixture *f)
{
	struct rlimit rl = {1024, 1024};

	syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &rl, NULL);
}

static void no_setuid(struct fixture *f)
{
	syscall(SYS_setresuid, -1, -1, -1);
}

static void no_chroot(struct fixture *f)
{
	syscall(SYS_chroot, "/");
}

static void no_mount(struct fixture *f)
{
	syscall(SYS_mount, "none", "/", "tmpfs", 0, NULL);
}

static void no_bpf(struct fixture *f)
{
	syscall(SYS_bpf, 0, NULL, 0);
}

static void no_memfd(struct fixture *f)
{
	syscall(SYS_memfd_create, "x", 0);
}

static void no_io_uring(struct fixture *f)
{
	char params[120] = {0};

	syscall(SYS_io_uring_setup, 1, params);
}

static void no_seccomp(struct fixture *f)
{
	syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL);
}

static void no_landlock(struct fixture *f)
{
	syscall(444 /* landlock_create_ruleset */, NULL, 0, 1);
}

static void no_openat(struct fixture *f)
{
	syscall(SYS_openat, f->dirfd, ".", O_RDONLY | O_DIRECTORY);
}

static void no_inotify(struct fixture *f)
{
	syscall(SYS_inotify_init1, 0);
}

static void no_unlinkat(struct fixture *f)
{
	syscall(SYS_unlinkat, f->dirfd, "nothing", 0);
}

static void no_mkdirat(struct fixture *f)
{
	syscall(SYS_mkdirat, f->dirfd, "nothing", 0700);
}

static void no_open_by_handle(struct fixture *f)
{
	syscall(SYS_open_by_handle_at, f->dirfd, NULL, 0);
}

struct forbidden {
	const char *name;
	unsigned kinds; /* bits of enum test_kind where it kills */
	void (*fn)(struct fixture *f);
	bool sanitizer_allows; /* the ASan runtime needs it: allowed in those builds */
};

#define K(k)       (1u << (k))
#define K_SERVICES (K(T_SESSION) | K(T_AUTH) | K(T_KEY) | K(T_PORTAL) | K(T_NOTICE) | K(T_WATCH))
#define K_NO_FILES (K(T_KEY) | K(T_PORTAL))

static const struct forbidden forbidden[] = {
    {"execve", T_ALL, no_exec, false},
    {"execveat", T_ALL, no_execveat, false},
    {"socket(AF_INET)", T_ALL, no_inet, false},
    {"socket(AF_INET6)", T_ALL, no_inet6, false},
    {"socket(AF_NETLINK)", T_ALL, no_netlink, false},
    {"socket(AF_UNIX, SOCK_STREAM)", T_ALL, no_unix_stream, false},
    {"socket(AF_UNIX, SOCK_SEQPACKET)", K(T_SESSION) | K(T_KEY) | K(T_NOTICE) | K(T_WATCH),
     no_unix_seqpacket,
     false},
    {"socketpair", T_ALL, no_socketpair, false},
    {"connect", K(T_SESSION) | K(T_KEY) | K(T_NOTICE) | K(T_WATCH), no_connect, false},
    {"accept4", K(T_SESSION), no_accept, false},
    {"bind", T_ALL, no_bind, false},
    {"listen", T_ALL, no_listen, false},
    {"epoll_create1", K(T_SESSION) | K(T_PORTAL) | K(T_NOTICE), no_epoll, false},
    {"ptrace", T_ALL, no_ptrace, true},
    {"process_vm_readv", T_ALL, no_process_vm_readv, false},
    {"clone (a process)", T_ALL, no_fork, false},
    {"clone(CLONE_NEWUSER)", T_ALL, no_clone_newuser, false},
    {"unshare", T_ALL, no_unshare, false},
    {"pthread_create", K(T_AUTH) | K(T_KEY) | K(T_WATCH), no_thread, false},
    {"openat", K(T_KEY) | K(T_WATCH), no_openat, false},
    {"inotify_init1", K(T_AUTH) | K_NO_FILES | K(T_NOTICE), no_inotify, false},
    {"unlinkat", K_NO_FILES | K(T_WATCH), no_unlinkat, false},
    {"mkdirat", K_NO_FILES | K(T_WATCH), no_mkdirat, false},
    {"mmap(PROT_EXEC)", T_ALL, no_mmap_exec, false},
    {"mprotect(PROT_EXEC)", T_ALL, no_mprotect_exec, false},
    {"pkey_mprotect", T_ALL, no_pkey_mprotect, false},
    {"kill(another process)", T_ALL, no_kill_other, false},
    {"kill(-1)", T_ALL, no_kill_all, false},
    {"tgkill(another process)", T_ALL, no_tgkill_other, false},
    {"ioctl", T_ALL, no_ioctl, false},
    {"prctl(PR_SET_DUMPABLE)", T_ALL, no_prctl, true},
    {"fcntl(F_SETOWN)", T_ALL, no_fcntl_setown, false},
    {"prlimit64 (setting)", T_ALL, no_setrlimit, false},
    {"setresuid", T_ALL, no_setuid, false},
    {"chroot", T_ALL, no_chroot, false},
    {"mount", T_ALL, no_mount, false},
    {"bpf", T_ALL, no_bpf, false},
    {"memfd_create", T_ALL, no_memfd, false},
    {"io_uring_setup", T_ALL, no_io_uring, false},
    {"seccomp", K_SERVICES, no_seccomp, false},
    {"landlock_create_ruleset", K_SERVICES, no_landlock, false},
    {"open_by_handle_at", T_ALL, no_open_by_handle, false},
};

static void test_forbidden_calls_kill(void **state)
{
	struct fixture *f = *state;
	int checked = 0;

	skip_under_valgrind();
	for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
		const struct forbidden *c = &forbidden[i];

#ifdef TEST_SANITIZER
		if (c->sanitizer_allows)
			continue;
#endif
		for (int k = 0; k < T_KINDS; k++) {
			char msg[512];
			int status;

			if (!(c->kinds & K(k)))
				continue;
			status = run_child(f, k, c->fn, msg, sizeof(msg));
			if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
				fail_msg("%s: %s did not kill the process (%s %d) %s",
				         test_kind_names[k], c->name,
				         WIFSIGNALED(status) ? "signal" : "exit",
				         WIFSIGNALED(status) ? WTERMSIG(status)
				                             : WEXITSTATUS(status),
				         msg);
			checked++;
		}
	}
	assert_true(checked > 60);
}

/* getpid by its 32-bit number, through the 32-bit entry of an x86-64 kernel. */
static void int80_getpid(struct fixture *f)
{
#if defined(__x86_64__)
	long ret;

	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
	(void)ret;
#endif
}

/* Another architecture's calls kill too: their numbers mean other calls, to which the list
 * does not apply. */
static void test_other_architecture_kills(void **state)
{
	struct fixture *f = *state;
	char msg[512];
	int status;

	skip_under_valgrind();
#if !defined(__x86_64__)
	skip();
#endif
	status = run_child(f, -1, int80_getpid, msg, sizeof(msg));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		skip(); /* a kernel without 32-bit emulation: nothing to filter */
	for (int k = 0; k < T_KINDS; k++) {
		status = run_child(f, k, int80_getpid, msg, sizeof(msg));
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGSYS);
	}
}

/* ---- sanitizer builds: the filter does not hide a report ---- */

#ifdef TEST_SANITIZER
static volatile char *overflow_target;

static void overflow(struct fixture *f)
{
	char *p = malloc(8);

	overflow_target = p;
	/* through a volatile pointer: the compiler cannot see the bug */
	if (overflow_target[8] == 1)
		p[0] = 0;
	free(p);
}
#endif

/* A bug in a worker after login (the narrowest filter): ASan's whole report reaches the log,
 * ending in its SUMMARY line, and the process ends as ASan ends it, not by SIGSYS. */
static void test_sanitizer_report_not_hidden(void **state)
{
#ifdef TEST_SANITIZER
	struct fixture *f = *state;
	char out[16384];
	size_t len = 0;
	int err[2], status;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(err), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		assert_int_equal(pipe(f->report), 0);
		test_child_report_fd = f->report[1];
		dup2(err[1], STDERR_FILENO);
		close(err[0]);
		load_test_kind(T_SESSION);
		overflow(f);
		_exit(0);
	}
	close(err[1]);
	while (len < sizeof(out) - 1 && (n = read(err[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(err[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		fail_msg("the filter killed the process while ASan reported:\n%s", out);
	assert_non_null(strstr(out, "ERROR: AddressSanitizer: heap-buffer-overflow"));
	assert_non_null(strstr(out, "SUMMARY: AddressSanitizer"));
#else
	skip(); /* an ASan+UBSan build's test */
#endif
}

/* ---- the master's reading of the kernel log ---- */

static const char audit_record[] =
    "5,411,6086436513,-;audit: type=1326 audit(1796609974.886:1): auid=4294967295 uid=0 gid=0 "
    "ses=4294967295 pid=8140 comm=\"twofoldd-worker\" exe=\"/usr/sbin/twofoldd\" sig=31 "
    "arch=c000003e syscall=41 compat=0 ip=0x7f6d8a8f04f7 code=0x80000000\n";

static int parse(const char *rec, long pid, uint32_t *arch, int *nr)
{
	return sandbox_audit_parse(rec, strlen(rec), pid, arch, nr);
}

static void test_audit_parse(void **state)
{
	uint32_t arch = 0;
	int nr = -1;

	assert_int_equal(parse(audit_record, 8140, &arch, &nr), 1);
	assert_int_equal(arch, 0xc000003e);
	assert_int_equal(nr, 41);
	/* another process's record, another record type */
	assert_int_equal(parse(audit_record, 814, &arch, &nr), 0);
	assert_int_equal(parse(audit_record, 81400, &arch, &nr), 0);
	assert_int_equal(
	    parse("6,1,2,-;audit: type=1400 pid=8140 arch=c000003e syscall=41", 8140, &arch, &nr),
	    0);
	/* not an audit line; no message; fields missing or not numbers */
	assert_int_equal(
	    parse("6,1,2,-;EXT4-fs: type=1326 pid=8140 arch=c000003e syscall=1", 8140, &arch, &nr),
	    0);
	assert_int_equal(
	    parse("audit: type=1326 pid=8140 arch=c000003e syscall=1", 8140, &arch, &nr), 0);
	assert_int_equal(parse("5,1,2,-;audit: type=1326 pid=8140 arch=c000003e", 8140, &arch, &nr),
	                 0);
	assert_int_equal(
	    parse("5,1,2,-;audit: type=1326 pid=8140 arch=c000003e syscall=4x1", 8140, &arch, &nr),
	    0);
	assert_int_equal(
	    parse("5,1,2,-;audit: type=1326 pid=8140 arch=c000003e syscall=", 8140, &arch, &nr), 0);
	assert_int_equal(
	    parse("5,1,2,-;audit: type=1326 pid=08140 arch=c000003e syscall=41", 8140, &arch, &nr),
	    0);
	assert_int_equal(parse("5,1,2,-;audit: type=1326 pid=8140 arch=1c000003e0000000 syscall=1",
	                       8140, &arch, &nr),
	                 0);
	assert_int_equal(parse("5,1,2,-;audit: type=1326 pid=8140 arch=c000003e "
	                       "syscall=99999999999999999999",
	                       8140, &arch, &nr),
	                 0);
	/* a field's name inside another token is not that field */
	assert_int_equal(parse("5,1,2,-;audit: type=1326 comm=pid=8140 xpid=8140 arch=c000003e "
	                       "syscall=41",
	                       8140, &arch, &nr),
	                 0);
	/* continuation lines of a record are not its message */
	assert_int_equal(parse("5,1,2,-;audit: type=1326 arch=c000003e syscall=41\n pid=8140\n",
	                       8140, &arch, &nr),
	                 0);
}

/* Fed one prefix of a record at a time: never reads past what it is given. */
static void test_audit_parse_prefixes(void **state)
{
	size_t len = strlen(audit_record);

	for (size_t n = 0; n <= len; n++) {
		char *copy = malloc(n > 0 ? n : 1);
		uint32_t arch;
		int nr;

		memcpy(copy, audit_record, n);
		/* the full record ends in "code=0x80000000\n": any prefix with syscall= whole
		 * parses */
		(void)sandbox_audit_parse(copy, n, 8140, &arch, &nr);
		free(copy);
	}
}

/* As root (the master is), the call that killed a child is found in the kernel log. The kernel
 * drops audit lines beyond 10 in 5 s (printk_ratelimit, shared with whatever else logs): a
 * record missing for that reason is tried again once the window has passed. */
static void test_audit_find(void **state)
{
	struct fixture *f = *state;
	char msg[512], call[96] = "";
	int fd, found = 0;

	skip_under_valgrind();
	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		skip(); /* not root: the master reads it as root */
	close(fd);
	for (int attempt = 0; attempt < 4 && !found; attempt++) {
		int status;

		if (attempt > 0)
			sleep(6);
		status = run_child(f, T_SESSION, no_inet, msg, sizeof(msg));
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS);
		found = sandbox_audit_find(f->last_pid, call, sizeof(call));
	}
	assert_int_equal(found, 1);
	assert_string_equal(call, "socket (41)");
	/* a pid that was never killed */
	assert_int_equal(sandbox_audit_find(1, call, sizeof(call)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    /* first: the many kills below use up the kernel's allowance of audit lines */
	    cmocka_unit_test_setup_teardown(test_audit_find, test_seccomp_setup,
	                                    test_seccomp_teardown),
	    cmocka_unit_test_setup_teardown(test_forbidden_calls_kill, test_seccomp_setup,
	                                    test_seccomp_teardown),
	    cmocka_unit_test_setup_teardown(test_other_architecture_kills, test_seccomp_setup,
	                                    test_seccomp_teardown),
	    cmocka_unit_test_setup_teardown(test_sanitizer_report_not_hidden, test_seccomp_setup,
	                                    test_seccomp_teardown),
	    cmocka_unit_test(test_audit_parse),
	    cmocka_unit_test(test_audit_parse_prefixes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
