/* The auth service's door: only children of its own parent (the master's workers) get in. The
 * test process plays the master: it forks the service, then siblings (workers) and a grandchild
 * (a same-uid process that is not a worker). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/service.h"
#include "common/config.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

struct svc_env {
	char dir[512];
	struct config *cfg;
	struct sockaddr_un addr;
	socklen_t addr_len;
	pid_t svc;
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A fresh state dir and a cheap config: the service makes its store there. */
static void svc_config(struct svc_env *s)
{
	const char *base = getenv("TWOFOLD_TEST_TMP");

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	mkdir(base, 0755);
	snprintf(s->dir, sizeof(s->dir), "%s/authsvc-XXXXXX", base);
	assert_non_null(mkdtemp(s->dir));
	s->cfg = config_defaults();
	free(s->cfg->state_dir);
	free(s->cfg->auth_database);
	free(s->cfg->auth_key_file);
	s->cfg->state_dir = xstrdup(s->dir);
	s->cfg->auth_database = xasprintf("%s/auth.db", s->dir);
	s->cfg->auth_key_file = xasprintf("%s/secret.key", s->dir);
	s->cfg->pwhash_opslimit = 1;
	s->cfg->pwhash_memlimit = 8192;
}

static void on_term(int sig)
{
	(void)sig;
	auth_service_quit = 1;
}

static int svc_listen(struct svc_env *s)
{
	int fd, len;

	memset(&s->addr, 0, sizeof(s->addr));
	s->addr.sun_family = AF_UNIX;
	len = snprintf(s->addr.sun_path + 1, sizeof(s->addr.sun_path) - 1, "twofold-test-%ld-%u",
	               (long)getpid(), randombytes_random());
	s->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&s->addr, s->addr_len), 0);
	assert_int_equal(listen(fd, 16), 0);
	return fd;
}

static void svc_child(struct svc_env *s, int fd)
{
	struct sigaction sa = {.sa_handler = on_term};
	struct auth_service_env env = {
	    .cfg = s->cfg, .listen_fd = fd, .portal_fd = -1, .worker_uid = getuid(),
	    .create_maildirs = true};
	const char *error;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	_exit(auth_service_run(&env, &error) == 0 ? 0 : 2);
}

static int setup(void **state)
{
	struct svc_env *s = xcalloc(1, sizeof(*s));
	int fd;

	log_init("test", true);
	log_set_level(LOG_LEVEL_WARN);
	svc_config(s);
	fd = svc_listen(s);
	s->svc = fork();
	assert_true(s->svc >= 0);
	if (s->svc == 0)
		svc_child(s, fd);
	close(fd);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct svc_env *s = *state;
	int status;

	kill(s->svc, SIGTERM);
	assert_int_equal(waitpid(s->svc, &status, 0), s->svc);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	config_free(&s->cfg);
	nftw(s->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(s);
	return 0;
}

static int svc_connect(const struct svc_env *s)
{
	struct timeval tv = {.tv_sec = 20};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)&s->addr, s->addr_len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Asks for a login: 0 answered (a refusal for the unknown user), 10 the
 * connection was closed unanswered, 1 anything else. */
static int ask_login_status(const struct svc_env *s)
{
	static struct ipc_msg m;
	int fd = svc_connect(s), r;

	if (fd < 0)
		return 1;
	ipc_msg_init(&m, IPC_LOGIN_REQUEST, 7);
	ipc_put_str(&m, "nobody-here");
	ipc_put_str(&m, "password123456");
	ipc_put_str(&m, "imap");
	ipc_put_str(&m, "192.0.2.9");
	ipc_put_str(&m, "");
	if (ipc_send(fd, &m, -1) < 0)
		r = errno == EPIPE || errno == ECONNRESET ? 10 : 1;
	else if ((r = ipc_recv(fd, &m)) == 0 || (r < 0 && errno == ECONNRESET))
		r = 10;
	else
		r = r == 1 && m.hdr.request_id == 7 && m.hdr.type == IPC_LOGIN_FAIL ? 0 : 1;
	close(fd);
	return r;
}

static void ask_login(const struct svc_env *s)
{
	_exit(ask_login_status(s));
}

/* In a child: a malformed message. Exit 10 when the service closes the connection. */
static void send_garbage(const struct svc_env *s)
{
	char buf[64];
	int fd = svc_connect(s);

	if (fd < 0 || send(fd, "\x01\x01\x00\x10garbage", 11, 0) != 11)
		_exit(1);
	_exit(recv(fd, buf, sizeof(buf), 0) == 0 ? 10 : 1);
}

static int run_child(void (*fn)(const struct svc_env *), const struct svc_env *s, bool grandchild)
{
	pid_t pid = fork(), inner;
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGPIPE, SIG_IGN);
		if (!grandchild)
			fn(s);
		inner = fork();
		if (inner == 0)
			fn(s); /* its parent is this child, not the service's parent */
		if (inner < 0 || waitpid(inner, &status, 0) != inner || !WIFEXITED(status))
			_exit(1);
		_exit(WEXITSTATUS(status));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_worker_is_answered(void **state)
{
	struct svc_env *s = *state;

	assert_int_equal(run_child(ask_login, s, false), 0);
	assert_int_equal(run_child(ask_login, s, false), 0);
}

/* Same uid, connected to the same socket, but not a child of the master: no answer. */
static void test_non_child_is_refused(void **state)
{
	struct svc_env *s = *state;

	assert_int_equal(run_child(ask_login, s, true), 10);
	assert_int_equal(run_child(ask_login, s, false), 0); /* workers still served */
}

/* The test process itself is the service's parent, not a sibling: refused too. */
static void test_parent_is_refused(void **state)
{
	struct svc_env *s = *state;

	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(ask_login_status(s), 10);
	signal(SIGPIPE, SIG_DFL);
}

/* A worker breaking the protocol loses its connection; the service goes on. */
static void test_malformed_closes_only_that_peer(void **state)
{
	struct svc_env *s = *state;

	assert_int_equal(run_child(send_garbage, s, false), 10);
	assert_int_equal(run_child(ask_login, s, false), 0);
	assert_int_equal(kill(s->svc, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_worker_is_answered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_non_child_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parent_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_closes_only_that_peer, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
