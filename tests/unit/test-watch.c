/* The watch process: its bookkeeping (which peer holds which inotify watch, counted when
 * several share one) and, in a forked child, the service itself as a worker's IDLE uses it:
 * connect, hand over a mailbox directory, a wake-up on a delivery, none after IDLE ended, the
 * watches gone when the worker is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/test-tmpdir.h"

#include "server/watch.h"
#include "storage/storage.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- bookkeeping ---- */

static void test_set_and_clear_release_unshared_watches(void **state)
{
	struct watch_table t = {0};
	const int wd[WATCH_DIRS] = {1, 2};
	int released[2 * WATCH_DIRS];

	(void)state;
	watch_table_add_peer(&t, 10);
	assert_int_equal(watch_table_set(&t, 10, wd, released), 0);
	assert_int_equal(watch_table_refs(&t, 1), 1);
	assert_int_equal(watch_table_refs(&t, 2), 1);
	assert_int_equal(watch_table_clear(&t, 10, released), 2);
	assert_int_equal(released[0], 1);
	assert_int_equal(released[1], 2);
	assert_int_equal(watch_table_refs(&t, 1), 0);
	/* cleared twice: nothing more to release */
	assert_int_equal(watch_table_clear(&t, 10, released), 0);
	assert_int_equal(watch_table_clear(&t, 11, released), -1);
	watch_table_free(&t);
}

/* Two sessions on one mailbox get the same descriptors from inotify: the watches stay until the
 * second lets go, whichever way it goes (IDLE ends, the worker leaves). */
static void test_shared_watches_are_counted(void **state)
{
	struct watch_table t = {0};
	const int wd[WATCH_DIRS] = {5, 6};
	int released[2 * WATCH_DIRS];

	(void)state;
	watch_table_add_peer(&t, 10);
	watch_table_add_peer(&t, 11);
	assert_int_equal(watch_table_set(&t, 10, wd, released), 0);
	assert_int_equal(watch_table_set(&t, 11, wd, released), 0);
	assert_int_equal(watch_table_refs(&t, 5), 2);
	assert_int_equal(watch_table_clear(&t, 10, released), 0);
	assert_int_equal(watch_table_refs(&t, 5), 1);
	assert_int_equal(watch_table_remove_peer(&t, 11, released), 2);
	assert_int_equal(t.npeers, 1);
	assert_int_equal(t.nrefs, 0);
	assert_int_equal(watch_table_remove_peer(&t, 10, released), 0);
	assert_int_equal(t.npeers, 0);
	watch_table_free(&t);
}

/* IDLE on another mailbox: the new watches are taken before the old ones are let go, so a
 * descriptor kept across the change is not removed from the instance. */
static void test_set_again_keeps_what_stays(void **state)
{
	struct watch_table t = {0};
	const int a[WATCH_DIRS] = {1, 2}, b[WATCH_DIRS] = {2, 3};
	int released[2 * WATCH_DIRS];

	(void)state;
	watch_table_add_peer(&t, 10);
	watch_table_set(&t, 10, a, released);
	assert_int_equal(watch_table_set(&t, 10, b, released), 1);
	assert_int_equal(released[0], 1);
	assert_int_equal(watch_table_refs(&t, 2), 1);
	assert_int_equal(watch_table_refs(&t, 3), 1);
	watch_table_free(&t);
}

/* new/ and cur/ one directory (a link): one descriptor twice, released once. */
static void test_same_descriptor_twice_released_once(void **state)
{
	struct watch_table t = {0};
	const int wd[WATCH_DIRS] = {4, 4};
	int released[2 * WATCH_DIRS];

	(void)state;
	watch_table_add_peer(&t, 10);
	watch_table_set(&t, 10, wd, released);
	assert_int_equal(watch_table_refs(&t, 4), 2);
	assert_int_equal(watch_table_clear(&t, 10, released), 1);
	assert_int_equal(released[0], 4);
	watch_table_free(&t);
}

static void test_events_wake_the_peers_watching(void **state)
{
	struct watch_table t = {0};
	const int a[WATCH_DIRS] = {1, 2}, b[WATCH_DIRS] = {3, 4};
	int released[2 * WATCH_DIRS];

	(void)state;
	for (int fd = 10; fd < 13; fd++)
		watch_table_add_peer(&t, fd);
	watch_table_set(&t, 10, a, released);
	watch_table_set(&t, 11, a, released);
	watch_table_set(&t, 12, b, released);
	assert_int_equal(watch_table_event(&t, 2), 2);
	assert_true(watch_table_peer(&t, 10)->woken && watch_table_peer(&t, 11)->woken);
	assert_false(watch_table_peer(&t, 12)->woken);
	assert_int_equal(watch_table_event(&t, 9), 0);
	/* IN_IGNORED: the directory went away; its peers are woken and hold it no longer */
	assert_int_equal(watch_table_forget(&t, 3), 1);
	assert_true(watch_table_peer(&t, 12)->woken);
	assert_int_equal(watch_table_peer(&t, 12)->wd[0], -1);
	assert_int_equal(watch_table_refs(&t, 3), 0);
	assert_int_equal(watch_table_remove_peer(&t, 12, released), 1);
	assert_int_equal(released[0], 4);
	assert_null(watch_table_peer(&t, 12));
	watch_table_free(&t);
}

/* The limits inotify hits are named, not reported as a full file table or disk. */
static void test_limit_errors_name_the_limit(void **state)
{
	(void)state;
	assert_non_null(strstr(mailbox_watch_strerror(EMFILE), "fs.inotify.max_user_instances"));
	assert_non_null(strstr(mailbox_watch_strerror(ENOSPC), "fs.inotify.max_user_watches"));
	assert_string_equal(mailbox_watch_strerror(ENOENT), strerror(ENOENT));
}

/* ---- the service ---- */

struct svc {
	char dir[256];
	int dirfd, listener;
	struct sockaddr_un addr;
	socklen_t len;
	pid_t pid;
};

static void svc_quit(int sig)
{
	(void)sig;
	watch_quit = 1;
}

static int svc_setup(void **state)
{
	struct svc *s = calloc(1, sizeof(*s));
	char path[300];
	struct watch_env env = {0};
	const char *error;

	test_tmpdir_make(s->dir, sizeof(s->dir), "watch");
	snprintf(path, sizeof(path), "%s/new", s->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/cur", s->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	s->listener = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	s->addr.sun_family = AF_UNIX;
	s->len = sizeof(sa_family_t); /* autobind to a free abstract name */
	assert_int_equal(bind(s->listener, (struct sockaddr *)&s->addr, s->len), 0);
	assert_int_equal(listen(s->listener, 8), 0);
	s->len = sizeof(s->addr);
	assert_int_equal(getsockname(s->listener, (struct sockaddr *)&s->addr, &s->len), 0);
	s->pid = fork();
	if (s->pid == 0) {
		signal(SIGTERM, svc_quit);
		env = (struct watch_env){.listen_fd = s->listener,
		                         .peer_uid = getuid(),
		                         .root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)};
		_exit(watch_run(&env, &error) == 0 ? 0 : 1);
	}
	*state = s;
	return 0;
}

static int svc_teardown(void **state)
{
	struct svc *s = *state;
	int status;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		assert_int_equal(waitpid(s->pid, &status, 0), s->pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	close(s->dirfd);
	close(s->listener);
	test_tmpdir_remove(s->dir);
	free(s);
	return 0;
}

static void deliver(const struct svc *s, const char *name)
{
	char path[400];
	int fd;

	snprintf(path, sizeof(path), "%s/new/%s", s->dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static bool readable(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, ms) == 1;
}

static void test_service_wakes_the_idle_worker(void **state)
{
	struct svc *s = *state;
	const char *error = NULL;
	int fd;

	watch_client_connect(&s->addr, s->len);
	fd = watch_client_start(s->dirfd, &error);
	assert_true(fd >= 0);
	assert_false(readable(fd, 100));
	deliver(s, "1");
	assert_true(readable(fd, 10000));
	assert_int_equal(watch_client_drain(), 0);
	assert_false(readable(fd, 0));
	/* IDLE over: a delivery then wakes nobody */
	watch_client_stop();
	usleep(200000);
	deliver(s, "2");
	assert_false(readable(fd, 300));
	/* IDLE again on the same connection, past anything left over */
	assert_int_equal(watch_client_start(s->dirfd, &error), fd);
	deliver(s, "3");
	assert_true(readable(fd, 10000));
	watch_client_drain();
	watch_client_stop();
}

/* A directory without new/ and cur/ cannot be watched: the worker is told why and watches by
 * itself; the connection stays for the next try. */
static void test_service_refusal_says_why(void **state)
{
	struct svc *s = *state;
	const char *error = NULL;
	char path[300];
	int empty;

	snprintf(path, sizeof(path), "%s/new", s->dir);
	empty = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	watch_client_connect(&s->addr, s->len);
	assert_int_equal(watch_client_start(empty, &error), -1);
	assert_string_equal(error, strerror(ENOENT));
	assert_true(watch_client_start(s->dirfd, &error) >= 0);
	watch_client_stop();
	close(empty);
}

/* The service gone (the master restarts it): the next drain says so instead of the IDLE loop
 * finding the socket readable forever. */
static void test_service_gone_is_noticed(void **state)
{
	struct svc *s = *state;
	const char *error = NULL;
	int fd, status;

	watch_client_connect(&s->addr, s->len);
	fd = watch_client_start(s->dirfd, &error);
	assert_true(fd >= 0);
	kill(s->pid, SIGKILL);
	waitpid(s->pid, &status, 0);
	assert_true(readable(fd, 10000));
	assert_int_equal(watch_client_drain(), -1);
	assert_int_equal(watch_client_start(s->dirfd, &error), -1);
	assert_string_equal(error, "no watch process");
	s->pid = -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_set_and_clear_release_unshared_watches),
	    cmocka_unit_test(test_shared_watches_are_counted),
	    cmocka_unit_test(test_set_again_keeps_what_stays),
	    cmocka_unit_test(test_same_descriptor_twice_released_once),
	    cmocka_unit_test(test_events_wake_the_peers_watching),
	    cmocka_unit_test(test_limit_errors_name_the_limit),
	    cmocka_unit_test_setup_teardown(test_service_wakes_the_idle_worker, svc_setup,
	                                    svc_teardown),
	    cmocka_unit_test_setup_teardown(test_service_refusal_says_why, svc_setup, svc_teardown),
	    cmocka_unit_test_setup_teardown(test_service_gone_is_noticed, svc_setup,
	                                    svc_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
