/* The fixture of the seccomp tests: what a child is (a process kind, or a worker after login),
 * the descriptors made before its filter is loaded, as the daemon's processes have theirs, and a
 * child run under a kind's real filter (sandbox_seccomp_load, as the daemon loads it). Under
 * valgrind (which does not run seccomp filters) the children are not run. Include after
 * cmocka.h. */
#ifndef TWOFOLD_TEST_SECCOMP_FIXTURE_H
#define TWOFOLD_TEST_SECCOMP_FIXTURE_H

#include "tests/unit/test-child-check.h"
#include "tests/unit/test-tmpdir.h"

#include "server/sandbox.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define TEST_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_SANITIZER 1
#endif
#endif

/* What a child is: a kind, or a worker after login (both filters, as the daemon stacks them). */
enum test_kind { T_WORKER, T_SESSION, T_AUTH, T_KEY, T_PORTAL, T_NOTICE, T_WATCH, T_KINDS };
#define T_ALL ((1u << T_KINDS) - 1)

static const char *const test_kind_names[T_KINDS] = {
    "worker", "worker after login", "auth", "key", "portal", "notice", "watch"};

/* Made before the filter is loaded, as the daemon's processes have theirs. */
struct fixture {
	char dir[256];
	int dirfd;
	int pipe[2];
	int pair[2];      /* an AF_UNIX SOCK_SEQPACKET pair: IPC */
	int listener;     /* a non-blocking AF_UNIX listener, nobody connecting */
	int spare_socket; /* an AF_UNIX socket to connect with */
	int report[2];    /* the child's first failed check, as text */
	pid_t last_pid;   /* of the last child run */
};

/* A thread that does nothing: its start and end are the calls. */
static inline void *thread_main(void *arg)
{
	return arg;
}

static inline void skip_under_valgrind(void)
{
	if (RUNNING_ON_VALGRIND)
		skip(); /* valgrind does not run seccomp filters: they cannot be tested under it */
}

static inline int test_seccomp_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	test_tmpdir_make(f->dir, sizeof(f->dir), "seccomp");
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->dirfd >= 0);
	assert_int_equal(pipe2(f->pipe, O_CLOEXEC), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, f->pair), 0);
	f->listener = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(f->listener >= 0);
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		socklen_t len = sizeof(sa_family_t); /* autobind to a free abstract name */

		assert_int_equal(bind(f->listener, (struct sockaddr *)&sa, len), 0);
		assert_int_equal(listen(f->listener, 4), 0);
	}
	f->spare_socket = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(f->spare_socket >= 0);
	*state = f;
	return 0;
}

static inline int test_seccomp_teardown(void **state)
{
	struct fixture *f = *state;

	close(f->dirfd);
	close(f->pipe[0]);
	close(f->pipe[1]);
	close(f->pair[0]);
	close(f->pair[1]);
	close(f->listener);
	close(f->spare_socket);
	test_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static inline void load(enum sandbox_kind kind)
{
	const char *error = NULL;

	CHECK(sandbox_seccomp_load(kind, &error) == 0);
}

static inline void load_test_kind(enum test_kind k)
{
	if (k == T_AUTH) {
		load(SANDBOX_AUTH);
	} else if (k == T_KEY) {
		load(SANDBOX_KEY);
	} else if (k == T_PORTAL) {
		load(SANDBOX_PORTAL);
	} else if (k == T_NOTICE) {
		load(SANDBOX_NOTICE);
	} else if (k == T_WATCH) {
		load(SANDBOX_WATCH);
	} else {
		load(SANDBOX_WORKER);
		if (k == T_SESSION)
			load(SANDBOX_WORKER_SESSION);
	}
}

/* Runs fn(f) in a child under kind k's filter (none when k < 0); returns its wait status and the
 * child's report (empty when it reported nothing) in msg. */
static inline int run_child(struct fixture *f, int k, void (*fn)(struct fixture *f), char *msg,
                            size_t size)
{
	pid_t pid = test_child_fork(f->report);

	if (pid == 0) {
		if (k >= 0)
			load_test_kind((enum test_kind)k);
		fn(f);
		_exit(0);
	}
	f->last_pid = pid;
	return test_child_wait(pid, f->report, msg, size);
}

#endif
