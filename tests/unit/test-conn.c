/* Buffered connection I/O over a plain socket transport */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test-measure.h"

#include "server/conn.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
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
	/* reported when the limit is passed, not at the line's end (which may never come); the
	 * next read skips the rest of it, however it arrives */
	peer_send(p, big);
	assert_int_equal(conn_read_line(p->c, &line, 100, 2), CONN_TOO_LONG);
	peer_send(p, big);
	peer_send(p, "\r\nQUIT\r\n");
	assert_int_equal(conn_read_line(p->c, &line, 100, 5), 4);
	assert_string_equal(line, "QUIT");
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


/* malloc'ed bytes in use, from the heap and from mmap (a big buffer is mapped on its own) */
static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static void peer_drain(struct pair *p, size_t len)
{
	char buf[4096];

	while (len > 0) {
		ssize_t n = read(p->sv[1], buf, sizeof(buf));

		assert_true(n > 0);
		len -= (size_t)n;
	}
}

/* After a big command line and a big reply, releasing gives the buffers' memory back but keeps
 * input not yet read; the connection goes on working. */
static void test_release_buffers(void **state)
{
	struct pair *p = *state;
	const size_t big = 60000;
	char *data = malloc(big + 1), *line;
	size_t before;

	memset(data, 'A', big);
	data[big] = '\0';
	peer_send(p, data);
	peer_send(p, "\r\nPART");
	assert_int_equal(conn_read_line(p->c, &line, 65536, 5), (ssize_t)big);
	assert_int_equal(conn_write(p->c, data, big), 0);
	assert_int_equal(conn_flush(p->c), 0);
	peer_drain(p, big);

	/* output empty: freed; input holds "PART": kept */
	before = heap_in_use();
	conn_release_buffers(p->c);
	assert_true(!test_measured() || before - heap_in_use() >= big);
	peer_send(p, "IAL\r\n");
	assert_int_equal(conn_read_line(p->c, &line, 65536, 5), 7);
	assert_string_equal(line, "PARTIAL");

	/* all input read: the input buffer goes too */
	before = heap_in_use();
	conn_release_buffers(p->c);
	assert_true(!test_measured() || before - heap_in_use() >= big);
	conn_release_buffers(p->c); /* nothing left: harmless */
	peer_send(p, "NOOP\r\n");
	assert_int_equal(conn_read_line(p->c, &line, 100, 5), 4);
	assert_string_equal(line, "NOOP");
	assert_int_equal(conn_puts(p->c, "+OK\r\n"), 0);
	assert_int_equal(conn_flush(p->c), 0);
	peer_drain(p, 5);
	free(data);
}

/* Rss of this process's [stack] mapping, KiB */
static size_t stack_rss_kib(void)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in_stack = false;
	size_t kib = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) /* a mapping line */
			in_stack = strstr(line, "[stack]") != NULL;
		else if (in_stack && sscanf(line, "Rss: %zu kB", &kib) == 1)
			break;
	}
	fclose(f);
	return kib;
}

/* A deep call: dirties 128 KiB of stack below the caller. */
static __attribute__((noinline)) void dirty_stack(void)
{
	volatile char big[128 * 1024];

	for (size_t i = 0; i < sizeof(big); i += 512)
		big[i] = 1;
}

struct idle_probe {
	struct pair *p;
	unsigned calls;
	size_t heap_at_idle; /* heap in use when the callback ran */
};

/* The idle callback: counts, and plays the client that finally sends a command. */
static void idle_probe_cb(void *ctx)
{
	struct idle_probe *probe = ctx;

	probe->calls++;
	probe->heap_at_idle = heap_in_use();
	peer_send(probe->p, "A1 NOOP\r\n");
}

static void test_idle_callback(void **state)
{
	struct pair *p = *state;
	struct idle_probe probe = {.p = p};
	const size_t big = 60000;
	char *data = calloc(1, big + 1), *line;
	size_t before, stack_before;

	/* a big line first: the input buffer has grown */
	memset(data, 'A', big);
	peer_send(p, data);
	peer_send(p, "\r\n");
	free(data);
	assert_int_equal(conn_read_line(p->c, &line, 65536, 5), (ssize_t)big);
	conn_set_idle(p->c, 50, idle_probe_cb, &probe);
	dirty_stack();
	stack_before = stack_rss_kib();
	/* silent client: buffers and deep stack released, the callback runs once, then the read
	 * goes on */
	before = heap_in_use();
	assert_int_equal(conn_read_line(p->c, &line, 100, 5), 7);
	assert_string_equal(line, "A1 NOOP");
	assert_int_equal(probe.calls, 1);
	assert_true(!test_measured() || before - probe.heap_at_idle >= big);
	assert_true(!test_measured() || stack_before >= 128);
	/* released after the callback: the pages below this frame are still gone */
	assert_true(!test_measured() || stack_before - stack_rss_kib() >= 64);
	/* input already there: no idle */
	peer_send(p, "A2 NOOP\r\n");
	assert_int_equal(conn_read_line(p->c, &line, 100, 5), 7);
	assert_int_equal(probe.calls, 1);
	/* a deadline before the idle point: no callback, the timeout as before */
	conn_set_idle(p->c, 5000, idle_probe_cb, &probe);
	assert_int_equal(conn_read_line(p->c, &line, 100, 1), CONN_TIMEOUT);
	assert_int_equal(probe.calls, 1);
	/* turned off */
	conn_set_idle(p->c, 0, NULL, NULL);
	assert_int_equal(conn_read_line(p->c, &line, 100, 1), CONN_TIMEOUT);
	assert_int_equal(probe.calls, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_long_then_recovers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout_and_eof, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_exact_and_output, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_to_closed_peer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_release_buffers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idle_callback, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
