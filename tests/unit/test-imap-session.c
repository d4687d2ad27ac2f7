/* IMAP sessions run in a child process over a socketpair against a real maildir, with
 * its own login: command input byte at a time, pipelining, literals (synchronising,
 * LITERAL+, refused over APPENDLIMIT before the data), pre-login limits, nesting, untagged
 * updates from a second session, IDLE woken by a delivery, shutdown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/config.h"
#include "server/conn.h"
#include "server/session.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the unit-test edge: the session's login and shutdown flag ---- */

static volatile sig_atomic_t test_shutdown;
static char test_maildir[512];

/* The client id the session passed, as the parent can see it (the session is a child). */
static void client_id_path(char *path, size_t size)
{
	snprintf(path, size, "%s.clientid", test_maildir);
}

static void test_login(struct session *s, const char *user, const char *secret,
                       const char *client_id, struct session_login *out)
{
	(void)s;
	memset(out, 0, sizeof(*out));
	out->maildir_fd = -1;
	out->result = AUTH_FAIL;
	{
		char path[600];
		FILE *fp;

		client_id_path(path, sizeof(path));
		fp = fopen(path, "w");
		if (fp != NULL) {
			fputs(client_id != NULL ? client_id : "(null)", fp);
			fclose(fp);
		}
	}
	if (strcmp(user, "temp") == 0) {
		out->result = AUTH_TEMPFAIL;
	} else if (strcmp(user, "alice") == 0 && strcmp(secret, "pass word123456") == 0) {
		out->result = AUTH_OK;
		snprintf(out->user, sizeof(out->user), "alice");
		out->maildir_fd = open(test_maildir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
}

/* ---- a session in a child process ---- */

struct srv {
	pid_t pid;
	int fd; /* client side */
	char in[1 << 16];
	size_t in_len;
};

static struct config *test_cfg;

static ssize_t fd_read(void *ctx, void *buf, size_t len)
{
	return read(*(int *)ctx, buf, len);
}

static ssize_t fd_write(void *ctx, const void *buf, size_t len)
{
	return write(*(int *)ctx, buf, len);
}

static void on_term(int sig)
{
	(void)sig;
	test_shutdown = 1;
}

static void srv_child(int fd)
{
	struct conn_transport t = {.read = fd_read, .write = fd_write, .ctx = &fd, .fd = fd};
	struct sigaction sa = {.sa_handler = on_term};
	struct session s = {.cfg = test_cfg,
	                    .proto = AUTH_PROTO_IMAP,
	                    .login = test_login,
	                    .shutdown = &test_shutdown};

	sigaction(SIGTERM, &sa, NULL);
	conn_set_interrupt(&test_shutdown);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	s.conn = conn_new(&t, "127.0.0.1");
	imap_session_run(&s);
	conn_free(&s.conn);
	_exit(0);
}

static void srv_start(struct srv *c)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
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

static void srv_wait(struct srv *c)
{
	int status;

	assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(c->fd);
}

static void srv_send(struct srv *c, const char *s)
{
	assert_int_equal(write(c->fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* One byte per write, with the peer given time to read each: the parser sees every split. */
static void srv_send_slowly(struct srv *c, const char *s)
{
	for (; *s != '\0'; s++) {
		assert_int_equal(write(c->fd, s, 1), 1);
		usleep(200);
	}
}

static bool srv_fill(struct srv *c, int timeout_ms)
{
	struct pollfd pfd = {c->fd, POLLIN, 0};
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) != 1)
		return false;
	n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len - 1);
	assert_true(n >= 0);
	c->in_len += (size_t)n;
	c->in[c->in_len] = '\0';
	return n > 0;
}

static const char *srv_line_within(struct srv *c, int timeout_ms)
{
	static char line[8192];
	char *nl;
	size_t len;

	while ((nl = memchr(c->in, '\n', c->in_len)) == NULL) {
		if (!srv_fill(c, timeout_ms))
			return NULL;
	}
	len = (size_t)(nl - c->in) + 1;
	assert_true(len < sizeof(line));
	memcpy(line, c->in, len);
	line[len] = '\0';
	memmove(c->in, c->in + len, c->in_len - len);
	c->in_len -= len;
	return line;
}

static const char *srv_line(struct srv *c)
{
	const char *line = srv_line_within(c, 10000);

	assert_non_null(line);
	return line;
}

static void srv_expect(struct srv *c, const char *prefix)
{
	const char *line = srv_line(c);

	if (strncmp(line, prefix, strlen(prefix)) != 0)
		fail_msg("expected \"%s\", got \"%s\"", prefix, line);
}

/* Skips untagged lines up to the tagged reply, which must start with prefix. */
static void srv_expect_tagged(struct srv *c, const char *prefix)
{
	const char *line;

	do {
		line = srv_line(c);
	} while (line[0] == '*');
	if (strncmp(line, prefix, strlen(prefix)) != 0)
		fail_msg("expected \"%s\", got \"%s\"", prefix, line);
}

static void srv_expect_eof(struct srv *c)
{
	while (srv_fill(c, 10000)) {
	}
	assert_int_equal(c->in_len, 0);
}

static void srv_login(struct srv *c)
{
	srv_start(c);
	srv_expect(c, "* OK [CAPABILITY IMAP4rev1 ");
	srv_send(c, "a LOGIN alice \"pass word123456\"\r\n");
	srv_expect(c, "a OK [CAPABILITY IMAP4rev1 ");
}

/* ---- fixtures ---- */

static void write_msg(const char *sub, const char *name, const char *data)
{
	char path[1024];
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", test_maildir, sub, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

static int setup(void **state)
{
	const char *base = getenv("TWOFOLD_TEST_TMP");

	(void)state;
	if (base == NULL)
		base = "/tmp";
	mkdir(base, 0700);
	snprintf(test_maildir, sizeof(test_maildir), "%s/imap-XXXXXX", base);
	if (mkdtemp(test_maildir) == NULL)
		return -1;
	for (int i = 0; i < 3; i++) {
		char dir[600];

		snprintf(dir, sizeof(dir), "%s/%s", test_maildir,
		         (const char *[]){"cur", "new", "tmp"}[i]);
		mkdir(dir, 0700);
	}
	write_msg("new", "1700000001.M1P1.test", "Subject: one\r\n\r\nfirst\r\n");
	write_msg("new", "1700000002.M2P1.test", "Subject: two\r\n\r\nsecond\r\n");
	test_cfg = config_defaults();
	test_cfg->imap_append_limit = 4096;
	test_cfg->imap_idle_keepalive = 10;
	test_cfg->login_timeout = 5;
	test_shutdown = 0;
	return 0;
}

static int teardown(void **state)
{
	char cmd[1200];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s.clientid'", test_maildir, test_maildir);
	assert_int_equal(system(cmd), 0);
	config_free(&test_cfg);
	return 0;
}

/* ---- tests ---- */

static void test_byte_at_a_time_and_pipelining(void **state)
{
	struct srv c;

	(void)state;
	srv_start(&c);
	srv_expect(&c, "* OK [CAPABILITY IMAP4rev1 ");
	srv_send_slowly(&c, "i1 ID (\"name\" \"unit\")\r\nl1 LOGIN alice \"pass word123456\"\r\n");
	srv_expect(&c, "* ID (\"name\" \"twofold\")\r\n");
	srv_expect(&c, "i1 OK ID completed.\r\n");
	srv_expect(&c, "l1 OK [CAPABILITY ");
	{
		char path[600], id[64] = "";
		FILE *fp;

		client_id_path(path, sizeof(path));
		fp = fopen(path, "r");
		assert_non_null(fp);
		assert_non_null(fgets(id, sizeof(id), fp));
		fclose(fp);
		assert_string_equal(id, "unit");
	}
	/* a literal split byte by byte, then three commands in one write */
	srv_send_slowly(&c, "s1 SELECT {5}\r\n");
	srv_expect(&c, "+ OK\r\n");
	srv_send_slowly(&c, "INBOX\r\n");
	srv_expect_tagged(&c, "s1 OK [READ-WRITE] Select completed.\r\n");
	srv_send(&c, "n1 NOOP\r\nf1 FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\nq LOGOUT\r\n");
	srv_expect(&c, "n1 OK NOOP completed.\r\n");
	srv_expect(&c, "* 2 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {16}\r\n");
	srv_expect(&c, "Subject: two\r\n");
	srv_expect(&c, "\r\n");
	srv_expect(&c, ")\r\n");
	srv_expect(&c, "f1 OK Fetch completed.\r\n");
	srv_expect(&c, "* BYE Logging out.\r\n");
	srv_expect(&c, "q OK Logout completed.\r\n");
	srv_expect_eof(&c);
	srv_wait(&c);
}

static void test_prelogin_limits(void **state)
{
	struct srv c;

	(void)state;
	srv_start(&c);
	srv_expect(&c, "* OK ");
	srv_send(&c, "a LOGIN {5}\r\n");
	srv_expect(&c, "a BAD Literals are not allowed before login.\r\n");
	srv_send(&c, "b LOGIN alice wrong\r\n");
	srv_expect(&c, "b NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
	srv_send(&c, "c LOGIN temp x\r\n");
	srv_expect(&c, "c NO [UNAVAILABLE] ");
	srv_send(&c, "d SELECT INBOX\r\n");
	srv_expect(&c, "d BAD Not logged in.\r\n");
	srv_send(&c, "e FROB\r\n");
	srv_expect(&c, "e BAD Unknown command.\r\n");
	srv_expect(&c, "* BYE Too many invalid commands.\r\n");
	srv_expect_eof(&c);
	srv_wait(&c);
}

static void test_login_timeout(void **state)
{
	struct srv c;
	time_t t0 = time(NULL);

	(void)state;
	test_cfg->login_timeout = 1;
	srv_start(&c);
	srv_expect(&c, "* OK ");
	srv_expect(&c, "* BYE Login timeout, closing connection.\r\n");
	assert_true(time(NULL) - t0 <= 3);
	srv_expect_eof(&c);
	srv_wait(&c);
}

/* A storage error's kind, not its wording, picks the RFC 5530 code. */
static void test_storage_error_codes(void **state)
{
	struct srv c;

	(void)state;
	srv_login(&c);
	srv_send(&c, "c1 CREATE Box\r\n");
	srv_expect_tagged(&c, "c1 OK ");
	srv_send(&c, "c2 CREATE Box\r\n");
	srv_expect_tagged(&c, "c2 NO [ALREADYEXISTS] Create failed: mailbox already exists\r\n");
	srv_send(&c, "r1 RENAME Nowhere Elsewhere\r\n");
	srv_expect_tagged(&c, "r1 NO [NONEXISTENT] Rename failed: no such mailbox\r\n");
	srv_send(&c, "r2 RENAME Box Box\r\n");
	srv_expect_tagged(&c, "r2 NO [ALREADYEXISTS] Rename failed: mailbox already exists\r\n");
	srv_send(&c, "q LOGOUT\r\n");
	srv_expect_tagged(&c, "q OK ");
	srv_expect_eof(&c);
	srv_wait(&c);
}

static void test_append_literals_and_limit(void **state)
{
	struct srv c;
	char big[8192];

	(void)state;
	srv_login(&c);
	srv_send(&c, "a1 APPEND INBOX (\\Seen) {24}\r\n");
	srv_expect(&c, "+ OK\r\n");
	srv_send(&c, "Subject: 3\r\n\r\nthird one\r\n\r\n");
	srv_expect(&c, "a1 OK [APPENDUID ");
	/* over APPENDLIMIT: refused before the data; a LITERAL+ one is read and dropped */
	srv_send(&c, "a2 APPEND INBOX {5000}\r\n");
	srv_expect(&c, "a2 NO [TOOBIG] Message is larger than the APPENDLIMIT (4096).\r\n");
	snprintf(big, sizeof(big), "a3 APPEND INBOX {5000+}\r\n");
	memset(big + strlen(big), 'x', 5000);
	memcpy(big + 25 + 5000, "\r\n", 3);
	assert_int_equal(strlen(big), 25 + 5000 + 2);
	srv_send(&c, big);
	srv_expect(&c, "a3 NO [TOOBIG] ");
	srv_send(&c, "s STATUS INBOX (MESSAGES)\r\n");
	srv_expect(&c, "* STATUS \"INBOX\" (MESSAGES 3)\r\n");
	srv_expect(&c, "s OK Status completed.\r\n");
	srv_send(&c, "q LOGOUT\r\n");
	srv_expect_tagged(&c, "q OK");
	srv_wait(&c);
}

static void test_nesting_bad_and_session_goes_on(void **state)
{
	struct srv c;
	static char line[30100];
	size_t n = 0;

	(void)state;
	srv_login(&c);
	n += (size_t)sprintf(line, "x SEARCH ");
	for (int i = 0; i < 10000; i++)
		line[n++] = '(';
	memcpy(line + n, "ALL", 3);
	n += 3;
	for (int i = 0; i < 10000; i++)
		line[n++] = ')';
	memcpy(line + n, "\r\n", 3);
	srv_send(&c, line);
	srv_expect(&c, "x BAD ");
	srv_send(&c, "y NOOP\r\n");
	srv_expect(&c, "y OK ");
	srv_send(&c, "q LOGOUT\r\n");
	srv_expect_tagged(&c, "q OK");
	srv_wait(&c);
}

static void test_updates_from_another_session_and_idle(void **state)
{
	struct srv a, b;

	(void)state;
	srv_login(&a);
	srv_login(&b);
	srv_send(&a, "s SELECT INBOX\r\n");
	srv_expect_tagged(&a, "s OK");
	srv_send(&b, "s SELECT INBOX\r\n");
	srv_expect_tagged(&b, "s OK");
	srv_send(&b, "i IDLE\r\n");
	srv_expect(&b, "+ idling\r\n");
	srv_send(&a, "t STORE 1 +FLAGS (\\Deleted)\r\n");
	srv_expect(&a, "* 1 FETCH (FLAGS (\\Deleted");
	srv_expect(&a, "t OK Store completed.\r\n");
	srv_expect(&b, "* 1 FETCH (UID 1 FLAGS (\\Deleted");
	srv_send(&a, "e EXPUNGE\r\n");
	srv_expect(&a, "* 1 EXPUNGE\r\n");
	/* RECENT follows the expunge of a recent message down */
	srv_expect(&a, "* 1 RECENT\r\n");
	srv_expect(&a, "e OK Expunge completed.\r\n");
	srv_expect(&b, "* 1 EXPUNGE\r\n");
	write_msg("new", "1700000009.M9P1.test", "Subject: new\r\n\r\nnew\r\n");
	srv_expect(&b, "* 2 EXISTS\r\n");
	srv_expect(&b, "* ");
	/* SIGTERM while idling: BYE */
	kill(b.pid, SIGTERM);
	srv_expect(&b, "* BYE Server shutting down.\r\n");
	srv_expect_eof(&b);
	srv_wait(&b);
	srv_send(&a, "q LOGOUT\r\n");
	srv_expect_tagged(&a, "q OK");
	srv_wait(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_byte_at_a_time_and_pipelining, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prelogin_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_login_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_storage_error_codes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_append_literals_and_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nesting_bad_and_session_goes_on, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_updates_from_another_session_and_idle, setup,
	                                    teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
