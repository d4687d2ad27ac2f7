/* Buffered connection I/O over a plain socket transport */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "server/conn.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static ssize_t fd_read(void *ctx, void *buf, size_t len)
{
	return read(*(int *)ctx, buf, len);
}

static ssize_t fd_write(void *ctx, const void *buf, size_t len)
{
	return send(*(int *)ctx, buf, len, MSG_NOSIGNAL);
}

struct pair {
	int sv[2];
	struct conn *c;
};

static int setup(void **state)
{
	static struct pair p;
	struct conn_transport t = {.read = fd_read, .write = fd_write};

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, p.sv) < 0)
		return -1;
	t.ctx = &p.sv[0];
	t.fd = p.sv[0];
	p.c = conn_new(&t, "192.0.2.1");
	*state = &p;
	return 0;
}

static int teardown(void **state)
{
	struct pair *p = *state;

	conn_free(&p->c);
	close(p->sv[0]);
	close(p->sv[1]);
	return 0;
}

static void peer_send(struct pair *p, const char *s)
{
	assert_int_equal(write(p->sv[1], s, strlen(s)), (ssize_t)strlen(s));
}

static void test_lines(void **state)
{
	struct pair *p = *state;
	char *line;

	peer_send(p, "USER alice\r\nPASS x\nNOOP");
	assert_int_equal(conn_read_line(p->c, &line, 255, 5), 10);
	assert_string_equal(line, "USER alice");
	assert_true(conn_input_buffered(p->c));
	assert_int_equal(conn_read_line(p->c, &line, 255, 5), 6);
	assert_string_equal(line, "PASS x");
	/* an incomplete line waits for its end */
	peer_send(p, "\r\n");
	assert_int_equal(conn_read_line(p->c, &line, 255, 5), 4);
	assert_string_equal(line, "NOOP");
	assert_false(conn_input_buffered(p->c));
	assert_string_equal(conn_peer_ip(p->c), "192.0.2.1");
}

static void test_too_long_then_recovers(void **state)
{
	struct pair *p = *state;
	char big[3000];
	char *line;

	memset(big, 'A', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	peer_send(p, big);
	peer_send(p, "\r\nQUIT\r\n");
	assert_int_equal(conn_read_line(p->c, &line, 100, 5), CONN_TOO_LONG);
	assert_int_equal(conn_read_line(p->c, &line, 100, 5), 4);
	assert_string_equal(line, "QUIT");
	/* exactly max is fine, max+1 is not */
	peer_send(p, "12345\r\n123456\r\n");
	assert_int_equal(conn_read_line(p->c, &line, 5, 5), 5);
	assert_int_equal(conn_read_line(p->c, &line, 5, 5), CONN_TOO_LONG);
}

static void test_timeout_and_eof(void **state)
{
	struct pair *p = *state;
	char *line;

	assert_int_equal(conn_read_line(p->c, &line, 100, 1), CONN_TIMEOUT);
	peer_send(p, "partial");
	shutdown(p->sv[1], SHUT_WR);
	assert_int_equal(conn_read_line(p->c, &line, 100, 5), CONN_EOF);
}

static void test_read_exact_and_output(void **state)
{
	struct pair *p = *state;
	char buf[64] = {0};
	char *line;
	ssize_t n;

	peer_send(p, "A1 APPEND x {5}\r\nhel");
	assert_int_equal(conn_read_line(p->c, &line, 100, 5), 15);
	peer_send(p, "lo\r\n");
	assert_int_equal(conn_read_exact(p->c, buf, 5, 5), 0);
	assert_string_equal(buf, "hello");
	assert_int_equal(conn_read_line(p->c, &line, 100, 5), 0);

	assert_int_equal(conn_printf(p->c, "+OK %d messages\r\n", 3), 0);
	assert_int_equal(conn_puts(p->c, ".\r\n"), 0);
	assert_int_equal(conn_flush(p->c), 0);
	n = read(p->sv[1], buf, sizeof(buf) - 1);
	assert_int_equal(n, 19);
	buf[n] = '\0';
	assert_string_equal(buf, "+OK 3 messages\r\n.\r\n");
}

static void test_write_to_closed_peer(void **state)
{
	struct pair *p = *state;

	close(p->sv[1]);
	p->sv[1] = socket(AF_UNIX, SOCK_STREAM, 0); /* keep teardown's close harmless */
	conn_puts(p->c, "+OK\r\n");
	assert_int_equal(conn_flush(p->c), -1);
	assert_true(conn_broken(p->c));
	assert_int_equal(conn_puts(p->c, "more"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_long_then_recovers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout_and_eof, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_exact_and_output, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_to_closed_peer, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
