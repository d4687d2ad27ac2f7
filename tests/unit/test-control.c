/* The master's control requests (server/control.c): who lists what the scoreboard says of the
 * pool's workers only, kick signals only the named user's workers from the master's table, and
 * anything else is refused with one ERR line. */
#include "auth/policy.h"
#include "server/control.h"
#include "server/master-pool.h"
#include "server/scoreboard.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOTS 8

struct fixture {
	struct scoreboard sb;
	struct master_pool pool;
	pid_t pids[2];
};

/* A worker stand-in that waits to be signalled. */
static pid_t spawn_sleeper(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		sigset_t none;

		/* whatever the test runner left ignored or blocked: a worker dies of SIGTERM */
		signal(SIGTERM, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (;;)
			pause();
	}
	return pid;
}

static void publish(struct scoreboard *sb, int slot, const char *user, enum auth_proto proto)
{
	struct scoreboard_session ss = {.proto = (uint32_t)proto, .since = 1700000000};

	snprintf(ss.user, sizeof(ss.user), "%s", user);
	snprintf(ss.ip, sizeof(ss.ip), "192.0.2.%d", slot);
	scoreboard_session_set(sb, slot, &ss);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_int_equal(scoreboard_init(&f->sb, SLOTS), 0);
	master_pool_init(&f->pool, SLOTS);
	for (int i = 0; i < 2; i++) {
		f->pids[i] = spawn_sleeper();
		scoreboard_claim(&f->sb, i, f->pids[i], 1);
		master_pool_add(&f->pool, f->pids[i], i, 1, false);
	}
	publish(&f->sb, 0, "alice", AUTH_PROTO_IMAP);
	publish(&f->sb, 1, "bob", AUTH_PROTO_POP3);
	/* a slot the master never gave out, with a pid a worker could forge: never listed or
	 * signalled */
	scoreboard_claim(&f->sb, 2, getppid(), 1);
	publish(&f->sb, 2, "bob", AUTH_PROTO_IMAP);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < 2; i++) {
		kill(f->pids[i], SIGKILL);
		waitpid(f->pids[i], NULL, 0);
	}
	scoreboard_free(&f->sb);
	master_pool_free(&f->pool);
	free(f);
	return 0;
}

/* The whole answer to request, sent before the call: a short one byte by byte (the reader must
 * gather it), a long one at once (a socket buffer holds few one-byte packets). */
static char *ask(struct fixture *f, const char *request, size_t len)
{
	static char answer[4096];
	int sv[2];
	ssize_t n, got = 0;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	if (len > 32)
		assert_int_equal(write(sv[0], request, len), (ssize_t)len);
	for (size_t i = 0; len <= 32 && i < len; i++)
		assert_int_equal(write(sv[0], request + i, 1), 1);
	shutdown(sv[0], SHUT_WR);
	control_handle(sv[1], &f->sb, &f->pool);
	close(sv[1]);
	while ((n = read(sv[0], answer + got, sizeof(answer) - 1 - (size_t)got)) > 0)
		got += n;
	close(sv[0]);
	answer[got] = '\0';
	return answer;
}

static void test_who_lists_the_pools_sessions(void **state)
{
	struct fixture *f = *state;
	char expect[512];

	snprintf(expect, sizeof(expect),
	         "S\t%ld\talice\timap\t192.0.2.0\t1700000000\n"
	         "S\t%ld\tbob\tpop3\t192.0.2.1\t1700000000\n"
	         "OK\t2\n",
	         (long)f->pids[0], (long)f->pids[1]);
	assert_string_equal(ask(f, "who\n", 4), expect);
	scoreboard_session_set(&f->sb, 0, NULL); /* alice logged out */
	assert_int_equal(strncmp(ask(f, "who\n", 4), "S\t", 2), 0);
	assert_non_null(strstr(ask(f, "who\n", 4), "OK\t1\n"));
}

static void test_kick_signals_only_the_users_workers(void **state)
{
	struct fixture *f = *state;
	char expect[256];
	int status;

	snprintf(expect, sizeof(expect), "S\t%ld\tbob\tpop3\t192.0.2.1\t1700000000\nOK\t1\n",
	         (long)f->pids[1]);
	assert_string_equal(ask(f, "kick bob\n", 9), expect);
	assert_int_equal(waitpid(f->pids[1], &status, 0), f->pids[1]);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
	f->pids[1] = spawn_sleeper();                               /* for teardown */
	assert_int_equal(waitpid(f->pids[0], &status, WNOHANG), 0); /* alice's goes on */
	assert_string_equal(ask(f, "kick carol\n", 11), "OK\t0\n");
}

static void test_worker_written_text_is_masked(void **state)
{
	struct fixture *f = *state;

	publish(&f->sb, 0, "al\tice\nS\t1", AUTH_PROTO_IMAP);
	assert_non_null(strstr(ask(f, "who\n", 4), "\tal?ice?S?1\timap\t"));
}

static void test_bad_requests_refused(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {"",        "who",       "shutdown\n",  "kick\n",
	                                  "kick \n", "who now\n", "kick a\tb\n", "\x01\n"};
	char big[CONTROL_LINE_MAX + 8];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(strncmp(ask(f, bad[i], strlen(bad[i])), "ERR\t", 4), 0);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\n';
	assert_int_equal(strncmp(ask(f, big, sizeof(big)), "ERR\t", 4), 0);
	assert_int_equal(strncmp(ask(f, "who\0x\n", 6), "ERR\t", 4), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_who_lists_the_pools_sessions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kick_signals_only_the_users_workers, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_worker_written_text_is_masked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_requests_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
