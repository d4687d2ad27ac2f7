/* Landlock confinement: each check runs in a forked child (confinement cannot be undone) on a
 * real directory tree: "inside" is the confined tree, "outside" a sibling with a file of its own.
 * Under valgrind (3.19 does not know the Landlock system calls) only the way a worker goes on
 * unconfined can be run; anywhere else the kernel must have Landlock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/test-child-check.h"
#include "tests/unit/test-tmpdir.h"

#include "server/sandbox.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

struct fixture {
	char root[256];
	char inside[300], outside[300];
	int report[2]; /* the child's first failed check, as text */
};

static bool under_valgrind(void)
{
	const char *preload = getenv("LD_PRELOAD");

	return preload != NULL && strstr(preload, "vgpreload") != NULL;
}

static bool landlock_here(void)
{
	return sandbox_landlock_abi() >= 2;
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[600];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static void mkdir_in(const char *dir, const char *name)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(mkdir(path, 0700), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_true(landlock_here() || under_valgrind());
	test_tmpdir_make(f->root, sizeof(f->root), "sandbox");
	snprintf(f->inside, sizeof(f->inside), "%s/inside", f->root);
	snprintf(f->outside, sizeof(f->outside), "%s/outside", f->root);
	assert_int_equal(mkdir(f->inside, 0700), 0);
	assert_int_equal(mkdir(f->outside, 0700), 0);
	mkdir_in(f->inside, "cur");
	mkdir_in(f->inside, "tmp");
	put(f->inside, "cur/mine", "mine\n");
	put(f->outside, "theirs", "theirs\n");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	test_tmpdir_remove(f->root);
	free(f);
	return 0;
}

/* Runs fn in a child confined beneath "inside"; fails the test with the child's report. */
static void run_confined(struct fixture *f, void (*fn)(struct fixture *f, int dirfd))
{
	char msg[512] = "";
	int status;
	pid_t pid = test_child_fork(f->report);

	if (pid == 0) {
		const char *error = NULL;
		int dirfd = open(f->inside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		CHECK(dirfd >= 0);
		CHECK(sandbox_landlock_confine(dirfd, &error) == (landlock_here() ? 1 : 0));
		if (landlock_here())
			fn(f, dirfd);
		_exit(0);
	}
	status = test_child_wait(pid, f->report, msg, sizeof(msg));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("confined child: %s (status 0x%x)", msg[0] != '\0' ? msg : "died", status);
}

static void child_paths(struct fixture *f, int dirfd)
{
	char path[600];
	int fd;

	/* inside: by path and relative to the fd */
	snprintf(path, sizeof(path), "%s/cur/mine", f->inside);
	CHECK((fd = open(path, O_RDONLY)) >= 0 && close(fd) == 0);
	CHECK((fd = openat(dirfd, "cur/mine", O_RDWR)) >= 0 && close(fd) == 0);
	/* outside: the attack of a compromised worker, and a plain path */
	errno = 0;
	CHECK(openat(dirfd, "../outside/theirs", O_RDONLY) < 0 && errno == EACCES);
	snprintf(path, sizeof(path), "%s/theirs", f->outside);
	errno = 0;
	CHECK(open(path, O_RDONLY) < 0 && errno == EACCES);
	errno = 0;
	CHECK(open("/etc/hostname", O_RDONLY) < 0 && errno == EACCES);
	errno = 0;
	CHECK(openat(dirfd, "..", O_RDONLY | O_DIRECTORY) < 0 && errno == EACCES);
	/* and nothing can be created or removed outside */
	errno = 0;
	CHECK(openat(dirfd, "../outside/new", O_WRONLY | O_CREAT, 0600) < 0 && errno == EACCES);
	errno = 0;
	CHECK(unlinkat(dirfd, "../outside/theirs", 0) < 0 && errno == EACCES);
}

static void test_open_outside_refused_inside_works(void **state)
{
	struct fixture *f = *state;
	char path[600];

	run_confined(f, child_paths);
	snprintf(path, sizeof(path), "%s/theirs", f->outside);
	assert_int_equal(access(path, F_OK), 0);
}

/* What the storage does: create in tmp/, rename into cur/, hard link, truncate, mkdir, remove. */
static void child_maildir_work(struct fixture *f, int dirfd)
{
	int fd;

	(void)f;
	CHECK((fd = openat(dirfd, "tmp/new", O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0);
	CHECK(write(fd, "x\n", 2) == 2 && ftruncate(fd, 1) == 0 && close(fd) == 0);
	CHECK(renameat(dirfd, "tmp/new", dirfd, "cur/new") == 0);
	CHECK(linkat(dirfd, "cur/new", dirfd, "tmp/link", 0) == 0);
	CHECK(mkdirat(dirfd, ".Sent", 0700) == 0);
	CHECK(renameat(dirfd, "tmp/link", dirfd, ".Sent/moved") == 0);
	CHECK(unlinkat(dirfd, ".Sent/moved", 0) == 0 &&
	      unlinkat(dirfd, ".Sent", AT_REMOVEDIR) == 0);
	CHECK((fd = openat(dirfd, "cur/new", O_RDWR | O_TRUNC)) >= 0 && close(fd) == 0);
	/* not for a maildir: symlinks and special files */
	errno = 0;
	CHECK(symlinkat("../outside/theirs", dirfd, "cur/link") < 0 && errno == EACCES);
	errno = 0;
	CHECK(mkfifoat(dirfd, "tmp/fifo", 0600) < 0 && errno == EACCES);
	/* nor moving a file out of the tree */
	errno = 0;
	CHECK(renameat(dirfd, "cur/new", dirfd, "../outside/stolen") < 0 && errno == EACCES);
}

static void test_maildir_operations_allowed(void **state)
{
	run_confined(*state, child_maildir_work);
}

/* Landlock stacks: confining again beneath another tree leaves neither reachable outside the
 * intersection, so a worker confined for one user can never serve another. */
static void child_second_confinement(struct fixture *f, int dirfd)
{
	const char *error = NULL;
	char path[600];
	int other = open(f->outside, O_PATH | O_DIRECTORY | O_CLOEXEC);

	(void)dirfd;
	CHECK(other >= 0); /* O_PATH: Landlock checks no right for it */
	CHECK(sandbox_landlock_confine(other, &error) == 1);
	snprintf(path, sizeof(path), "%s/theirs", f->outside);
	errno = 0;
	CHECK(open(path, O_RDONLY) < 0 && errno == EACCES);
	snprintf(path, sizeof(path), "%s/cur/mine", f->inside);
	errno = 0;
	CHECK(open(path, O_RDONLY) < 0 && errno == EACCES);
}

static void test_second_confinement_only_narrows(void **state)
{
	run_confined(*state, child_second_confinement);
}

static int listen_tcp(uint16_t *port_r)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port_r = ntohs(sin.sin_port);
	return fd;
}

static uint16_t tcp_port;
static struct sockaddr_un abstract_addr;
static socklen_t abstract_len;

/* Beyond files (ABI 4 and 6): no TCP, no abstract socket of the outside, no signal out. */
static void child_network_and_signals(struct fixture *f, int dirfd)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	                          .sin_port = htons(tcp_port)};
	int fd;

	(void)f;
	(void)dirfd;
	if (sandbox_landlock_abi() >= 4) {
		CHECK((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
		errno = 0;
		CHECK(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 && errno == EACCES);
		sin.sin_port = 0;
		errno = 0;
		CHECK(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 && errno == EACCES);
		close(fd);
	}
	if (sandbox_landlock_abi() >= 6) {
		CHECK((fd = socket(AF_UNIX, SOCK_SEQPACKET, 0)) >= 0);
		errno = 0;
		CHECK(connect(fd, (struct sockaddr *)&abstract_addr, abstract_len) < 0 &&
		      errno == EPERM);
		close(fd);
		errno = 0;
		CHECK(kill(getppid(), 0) < 0 && errno == EPERM);
	}
	/* its own process still takes signals */
	CHECK(kill(getpid(), 0) == 0);
}

static void test_no_tcp_no_outside_socket_no_signal(void **state)
{
	int tcp = listen_tcp(&tcp_port);
	int ux = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	assert_true(ux >= 0);
	memset(&abstract_addr, 0, sizeof(abstract_addr));
	abstract_addr.sun_family = AF_UNIX;
	snprintf(abstract_addr.sun_path + 1, sizeof(abstract_addr.sun_path) - 1,
	         "twofold-test-sandbox-%ld", (long)getpid());
	abstract_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
	                           strlen(abstract_addr.sun_path + 1));
	assert_int_equal(bind(ux, (struct sockaddr *)&abstract_addr, abstract_len), 0);
	assert_int_equal(listen(ux, 4), 0);
	run_confined(*state, child_network_and_signals);
	close(tcp);
	close(ux);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open_outside_refused_inside_works, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_maildir_operations_allowed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_second_confinement_only_narrows, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_tcp_no_outside_socket_no_signal, setup,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
