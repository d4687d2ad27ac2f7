/* The session tests' harness: see session-harness.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "session-harness.h"
#include "test-measure.h"
#include "test-tmpdir.h"

#include "common/xalloc.h"
#include "server/conn.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

char srv_maildir[512];
struct config *srv_cfg;
static enum auth_proto srv_proto;
static volatile sig_atomic_t srv_shutdown;

/* ---- the unit-test edge: the session's login and shutdown flag ---- */

static void srv_client_id_path(char *path, size_t size)
{
	snprintf(path, size, "%s.clientid", srv_maildir);
}

static void srv_record_client_id(const char *client_id)
{
	char path[600];
	FILE *fp;

	srv_client_id_path(path, sizeof(path));
	fp = fopen(path, "w");
	if (fp != NULL) {
		fputs(client_id != NULL ? client_id : "(null)", fp);
		fclose(fp);
	}
}

static void srv_check_login(struct session *s, const char *user, const char *secret,
                            const char *client_id, struct session_login *out)
{
	(void)s;
	memset(out, 0, sizeof(*out));
	out->maildir_fd = -1;
	out->result = AUTH_FAIL;
	srv_record_client_id(client_id);
	if (strcmp(user, "temp") == 0) {
		out->result = AUTH_TEMPFAIL;
	} else if (strcmp(user, "alice") == 0 && strcmp(secret, "pass word123456") == 0) {
		out->result = AUTH_OK;
		snprintf(out->user, sizeof(out->user), "alice");
		out->maildir_fd = open(srv_maildir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
}

void srv_client_id(char *buf, size_t size)
{
	char path[600];
	FILE *fp;

	srv_client_id_path(path, sizeof(path));
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, (int)size, fp));
	fclose(fp);
}

/* ---- the maildir ---- */

void srv_setup(const char *prefix, enum auth_proto proto)
{
	static const char *const subs[] = {"cur", "new", "tmp"};

	test_tmpdir_make(srv_maildir, sizeof(srv_maildir), prefix);
	for (size_t i = 0; i < 3; i++) {
		char dir[600];

		snprintf(dir, sizeof(dir), "%s/%s", srv_maildir, subs[i]);
		assert_int_equal(mkdir(dir, 0700), 0);
	}
	srv_cfg = config_defaults();
	srv_proto = proto;
	srv_shutdown = 0;
}

void srv_teardown(void)
{
	char path[600];

	test_tmpdir_remove(srv_maildir);
	srv_client_id_path(path, sizeof(path));
	unlink(path);
	config_free(&srv_cfg);
}

void srv_write_msg(const char *sub, const char *name, const char *data)
{
	char path[1024];
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", srv_maildir, sub, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

/* ---- a session in a child process ---- */

static ssize_t srv_fd_read(void *ctx, void *buf, size_t len)
{
	return read(*(int *)ctx, buf, len);
}

static ssize_t srv_fd_write(void *ctx, const void *buf, size_t len)
{
	return write(*(int *)ctx, buf, len);
}

static void srv_on_term(int sig)
{
	(void)sig;
	srv_shutdown = 1;
}

static void srv_child(int fd)
{
	struct conn_transport t = {
	    .read = srv_fd_read, .write = srv_fd_write, .ctx = &fd, .fd = fd};
	struct sigaction sa = {.sa_handler = srv_on_term};
	struct session s = {.cfg = srv_cfg,
	                    .proto = srv_proto,
	                    .login = srv_check_login,
	                    .shutdown = &srv_shutdown};

	sigaction(SIGTERM, &sa, NULL);
	conn_set_interrupt(&srv_shutdown);
	/* like the TLS transport: non-blocking, waits happen in conn's poll */
	fcntl(fd, F_SETFL, O_NONBLOCK);
	s.conn = conn_new(&t, "127.0.0.1");
	if (srv_proto == AUTH_PROTO_IMAP)
		imap_session_run(&s);
	else
		pop3_session_run(&s);
	conn_free(&s.conn);
	_exit(0);
}

void srv_start(struct srv *c)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	c->in = xmalloc(SRV_IN_SIZE);
	c->in_len = 0;
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		close(sv[0]);
		srv_child(sv[1]);
	}
	close(sv[1]);
	c->fd = sv[0];
}

void srv_wait(struct srv *c)
{
	int status;

	assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(c->fd);
	free(c->in);
	c->in = NULL;
}

/* ---- the client side ---- */

void srv_send(struct srv *c, const char *s)
{
	assert_int_equal(write(c->fd, s, strlen(s)), (ssize_t)strlen(s));
}

void srv_send_slowly(struct srv *c, const char *s)
{
	for (; *s != '\0'; s++) {
		assert_int_equal(write(c->fd, s, 1), 1);
		usleep(200);
	}
}

bool srv_fill(struct srv *c)
{
	struct pollfd pfd = {c->fd, POLLIN, 0};
	ssize_t n;

	/* a server under valgrind on a busy machine can take many seconds for one reply */
	assert_int_equal(poll(&pfd, 1, test_checked() ? 60000 : 10000), 1);
	n = read(c->fd, c->in + c->in_len, SRV_IN_SIZE - c->in_len - 1);
	assert_true(n >= 0);
	c->in_len += (size_t)n;
	c->in[c->in_len] = '\0';
	return n > 0;
}

void srv_take(struct srv *c, size_t len, char *out)
{
	memcpy(out, c->in, len);
	out[len] = '\0';
	memmove(c->in, c->in + len, c->in_len - len);
	c->in_len -= len;
}

const char *srv_line(struct srv *c)
{
	static char line[8192];
	char *nl;

	while ((nl = memchr(c->in, '\n', c->in_len)) == NULL)
		assert_true(srv_fill(c));
	assert_true((size_t)(nl - c->in) + 1 < sizeof(line));
	srv_take(c, (size_t)(nl - c->in) + 1, line);
	return line;
}

void srv_expect(struct srv *c, const char *prefix)
{
	const char *line = srv_line(c);

	if (strncmp(line, prefix, strlen(prefix)) != 0)
		fail_msg("expected \"%s\", got \"%s\"", prefix, line);
}

void srv_expect_eof(struct srv *c)
{
	while (c->in_len == 0 && srv_fill(c)) {
	}
	assert_int_equal(c->in_len, 0);
}

void srv_imap_expect_tagged(struct srv *c, const char *prefix)
{
	const char *line;

	do {
		line = srv_line(c);
	} while (line[0] == '*');
	if (strncmp(line, prefix, strlen(prefix)) != 0)
		fail_msg("expected \"%s\", got \"%s\"", prefix, line);
}

void srv_imap_login(struct srv *c)
{
	srv_start(c);
	srv_expect(c, "* OK [CAPABILITY IMAP4rev1 ");
	srv_send(c, "a LOGIN alice \"pass word123456\"\r\n");
	srv_expect(c, "a OK [CAPABILITY IMAP4rev1 ");
}
