/*
 * The COMPRESS=DEFLATE layer over a plain socket transport: the peer deflates and inflates with
 * zlib as a client would. Lines and literals across chunk boundaries (the layer reading one
 * compressed byte at a time, lines longer than a read), input sent right after the COMPRESS
 * line, a decompression bomb stopped at the line limit in bounded memory, corrupt and ended
 * streams, output flushed whole at each flush and across an idle release of the deflate state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test-measure.h"

#include "server/compress.h"
#include "server/conn.h"

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

struct pair {
	int sv[2];
	struct conn *c;
	size_t step;       /* the most one read of the transport gives (0: no limit) */
	size_t wstep;      /* the most one write of the transport takes (0: no limit) */
	size_t read_total; /* octets read from the transport */
	z_stream to_server;   /* the peer's deflater */
	z_stream from_server; /* the peer's inflater */
};

static ssize_t fd_read(void *ctx, void *buf, size_t len)
{
	struct pair *p = ctx;
	ssize_t n = read(p->sv[0], buf, p->step > 0 && len > p->step ? p->step : len);

	if (n > 0)
		p->read_total += (size_t)n;
	return n;
}

static ssize_t fd_write(void *ctx, const void *buf, size_t len)
{
	struct pair *p = ctx;

	return send(p->sv[0], buf, p->wstep > 0 && len > p->wstep ? p->wstep : len, MSG_NOSIGNAL);
}

static int setup(void **state)
{
	static struct pair p;
	struct conn_transport t = {.read = fd_read, .write = fd_write, .ctx = &p};

	memset(&p, 0, sizeof(p));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, p.sv) < 0)
		return -1;
	t.fd = p.sv[0];
	p.c = conn_new(&t, "192.0.2.1");
	if (deflateInit2(&p.to_server, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK ||
	    inflateInit2(&p.from_server, -15) != Z_OK)
		return -1;
	*state = &p;
	return 0;
}

static int teardown(void **state)
{
	struct pair *p = *state;

	conn_free(&p->c);
	close(p->sv[0]);
	close(p->sv[1]);
	deflateEnd(&p->to_server);
	inflateEnd(&p->from_server);
	return 0;
}

static void peer_write(struct pair *p, const void *data, size_t len)
{
	const char *d = data;

	while (len > 0) {
		ssize_t n = write(p->sv[1], d, len);

		assert_true(n > 0);
		d += n;
		len -= (size_t)n;
	}
}

/* Deflates data as a client does (flush: Z_SYNC_FLUSH after a command, Z_NO_FLUSH to hold
 * some back, Z_FINISH to end the stream) and sends what came out. */
static void peer_send_flush(struct pair *p, const void *data, size_t len, int flush)
{
	unsigned char out[16384];

	p->to_server.next_in = (Bytef *)(uintptr_t)data;
	p->to_server.avail_in = (uInt)len;
	do {
		p->to_server.next_out = out;
		p->to_server.avail_out = sizeof(out);
		assert_int_not_equal(deflate(&p->to_server, flush), Z_STREAM_ERROR);
		peer_write(p, out, sizeof(out) - p->to_server.avail_out);
	} while (p->to_server.avail_out == 0);
}

static void peer_send(struct pair *p, const char *s)
{
	peer_send_flush(p, s, strlen(s), Z_SYNC_FLUSH);
}

/* Reads what the server sent within a second and inflates it: it must be exactly expect,
 * whole (each flush of the server ends in a sync flush, so nothing is held back). */
static void peer_expect_len(struct pair *p, const char *expect, size_t len)
{
	char *got = malloc(len + 1);
	size_t have = 0;

	while (have < len) {
		struct pollfd pfd = {p->sv[1], POLLIN, 0};
		unsigned char in[16384];
		ssize_t n;

		assert_int_equal(poll(&pfd, 1, 1000), 1);
		n = read(p->sv[1], in, sizeof(in));
		assert_true(n > 0);
		p->from_server.next_in = in;
		p->from_server.avail_in = (uInt)n;
		do {
			p->from_server.next_out = (Bytef *)got + have;
			p->from_server.avail_out = (uInt)(len + 1 - have);
			assert_true(inflate(&p->from_server, Z_SYNC_FLUSH) >= Z_OK);
			have = len + 1 - p->from_server.avail_out;
			assert_true(have <= len);
		} while (p->from_server.avail_in > 0);
	}
	assert_memory_equal(got, expect, len);
	free(got);
}

static void peer_expect(struct pair *p, const char *expect)
{
	peer_expect_len(p, expect, strlen(expect));
}

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static void test_lines_both_ways(void **state)
{
	struct pair *p = *state;
	char *line;

	assert_int_equal(conn_push_layer(p->c, &compress_deflate_layer), 0);
	peer_send(p, "a NOOP\r\nb CHECK\r\n");
	assert_int_equal(conn_read_line(p->c, &line, 100, 5), 6);
	assert_string_equal(line, "a NOOP");
	assert_true(conn_input_buffered(p->c));
	assert_int_equal(conn_read_line(p->c, &line, 100, 5), 7);
	assert_string_equal(line, "b CHECK");
	assert_int_equal(conn_puts(p->c, "a OK NOOP completed.\r\n"), 0);
	assert_int_equal(conn_puts(p->c, "b OK CHECK completed.\r\n"), 0);
	assert_int_equal(conn_flush(p->c), 0);
	peer_expect(p, "a OK NOOP completed.\r\nb OK CHECK completed.\r\n");
	/* a second flush after a pause: the same stream goes on */
	assert_int_equal(conn_puts(p->c, "* 2 EXISTS\r\n"), 0);
	assert_int_equal(conn_flush(p->c), 0);
	peer_expect(p, "* 2 EXISTS\r\n");
	/* nothing more came: no input is promised */
	assert_false(conn_input_buffered(p->c));
	assert_int_equal(conn_wait_input(p->c, -1, 100), 0);
}

/* What the client sent right after its COMPRESS line, read along with it, is compressed. */
static void test_input_after_the_compress_line(void **state)
{
	struct pair *p = *state;
	const char *cmd = "z COMPRESS DEFLATE\r\n";
	char *line;

	peer_write(p, cmd, strlen(cmd));
	peer_send(p, "y SELECT INBOX\r\n");
	assert_int_equal(conn_read_line(p->c, &line, 100, 5), 18);
	assert_string_equal(line, "z COMPRESS DEFLATE");
	assert_int_equal(conn_puts(p->c, "z OK DEFLATE active\r\n"), 0);
	assert_int_equal(conn_push_layer(p->c, &compress_deflate_layer), 0);
	/* the OK went out uncompressed, before the layer */
	{
		char ok[21];

		assert_int_equal(read(p->sv[1], ok, sizeof(ok)), 21);
		assert_memory_equal(ok, "z OK DEFLATE active\r\n", 21);
	}
	assert_int_equal(conn_read_line(p->c, &line, 100, 5), 14);
	assert_string_equal(line, "y SELECT INBOX");
}

/* The layer reads one compressed octet at a time; lines and a literal longer than a read of
 * the connection, a line whose compressed octets arrive in two parts, a run that ends past
 * the room of one read. */
static void test_chunk_boundaries(void **state)
{
	struct pair *p = *state;
	const size_t big = 40000, lit = 100000;
	char *data = malloc(lit), *back = malloc(lit), *line;

	p->step = 1;
	assert_int_equal(conn_push_layer(p->c, &compress_deflate_layer), 0);
	for (size_t i = 0; i < lit; i++)
		data[i] = (char)('a' + (i * 7 + i / 13) % 26);
	peer_send_flush(p, "a ", 2, Z_NO_FLUSH);
	peer_send_flush(p, data, big, Z_NO_FLUSH);
	peer_send(p, "\r\n");
	assert_int_equal(conn_read_line(p->c, &line, 65536, 5), (ssize_t)big + 2);
	assert_memory_equal(line + 2, data, big);
	/* a literal through conn_read_exact */
	peer_send_flush(p, data, lit, Z_SYNC_FLUSH);
	assert_int_equal(conn_read_exact(p->c, back, lit, 5), 0);
	assert_memory_equal(back, data, lit);
	/* half a command, then the rest */
	peer_send_flush(p, "b NO", 4, Z_SYNC_FLUSH);
	assert_int_equal(conn_read_line(p->c, &line, 100, 1), CONN_TIMEOUT);
	peer_send(p, "OP\r\n");
	assert_int_equal(conn_read_line(p->c, &line, 100, 5), 6);
	assert_string_equal(line, "b NOOP");
	/* one byte repeated: inflate stops in the middle of a copy with all input taken, and
	 * the rest must still come without the client sending more */
	p->step = 0;
	memset(data, 'x', 30000);
	peer_send_flush(p, "c ", 2, Z_NO_FLUSH);
	peer_send_flush(p, data, 30000, Z_NO_FLUSH);
	peer_send_flush(p, "\r\n", 2, Z_FINISH);
	assert_int_equal(conn_read_line(p->c, &line, 65536, 2), 30002);
	assert_int_equal(conn_read_line(p->c, &line, 100, 2), CONN_EOF); /* stream ended */
	free(data);
	free(back);
}

/* A stream where inflate, its room running out in the middle of a copy, has taken all the
 * input: the rest of the output is inside zlib. The layer must still say input is there
 * (else a wait for the client, as in IDLE, sleeps on data it holds). Checked on the layer's
 * transport itself, where the room of each read is ours to choose. */
static void test_pending_when_zlib_holds_output(void **state)
{
	struct pair *p = *state;
	struct conn_transport below = {.read = fd_read, .write = fd_write, .ctx = p,
	                               .fd = p->sv[0]};
	const char *text = "a\r\nxxxxxxxxxxxxxxxxxxxx\r\n"; /* 25 octets */
	unsigned char wire[64], back[64];
	struct conn_transport t;
	z_stream check;
	size_t wire_len;
	void *layer;

	/* the stream, and the premise checked with zlib alone: 24 octets of room take it all */
	p->to_server.next_in = (Bytef *)(uintptr_t)text;
	p->to_server.avail_in = 25;
	p->to_server.next_out = wire;
	p->to_server.avail_out = sizeof(wire);
	assert_int_equal(deflate(&p->to_server, Z_FINISH), Z_STREAM_END);
	wire_len = sizeof(wire) - p->to_server.avail_out;
	memset(&check, 0, sizeof(check));
	assert_int_equal(inflateInit2(&check, -15), Z_OK);
	check.next_in = wire;
	check.avail_in = (uInt)wire_len;
	check.next_out = back;
	check.avail_out = 24;
	assert_int_equal(inflate(&check, Z_SYNC_FLUSH), Z_OK);
	assert_int_equal(check.avail_in, 0);
	assert_int_equal(check.avail_out, 0);
	inflateEnd(&check);

	layer = compress_deflate_layer.push(&below, NULL, 0, &t);
	peer_write(p, wire, wire_len);
	assert_int_equal(t.read(t.ctx, back, 24), 24);
	assert_memory_equal(back, text, 24);
	assert_int_not_equal(t.pending(t.ctx), 0);
	assert_int_equal(t.read(t.ctx, back, sizeof(back)), 1);
	assert_int_equal(back[0], '\n');
	/* the client ended its stream: EOF, and said so without waiting */
	assert_int_not_equal(t.pending(t.ctx), 0);
	assert_int_equal(t.read(t.ctx, back, sizeof(back)), 0);
	compress_deflate_layer.free(layer);
}

/* 16 MiB of one byte from 16 KB: the line limit stops it after a few reads, the memory stays
 * that of a line; the rest of the line is skipped and the next command comes through. */
static void test_bomb_stops_at_the_line_limit(void **state)
{
	struct pair *p = *state;
	const size_t size = 16u << 20;
	char *x = malloc(size), *line;
	size_t before;

	p->step = 4096;
	assert_int_equal(conn_push_layer(p->c, &compress_deflate_layer), 0);
	memset(x, 'x', size);
	peer_send_flush(p, "a NOOP ", 7, Z_NO_FLUSH);
	peer_send_flush(p, x, size, Z_SYNC_FLUSH);
	free(x);
	before = heap_in_use();
	assert_int_equal(conn_read_line(p->c, &line, 65536, 5), CONN_TOO_LONG);
	/* one read of the transport inflated into many lines' worth; it took no more */
	assert_int_equal(p->read_total, 4096);
	assert_true(!test_measured() || heap_in_use() - before < 512 * 1024);
	peer_send(p, "\r\nb NOOP\r\n");
	assert_int_equal(conn_read_line(p->c, &line, 65536, 10), 6);
	assert_string_equal(line, "b NOOP");
	assert_true(!test_measured() || heap_in_use() - before < 512 * 1024);
}

static void test_corrupt_input_breaks_the_connection(void **state)
{
	struct pair *p = *state;
	const unsigned char junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	char *line;

	assert_int_equal(conn_push_layer(p->c, &compress_deflate_layer), 0);
	/* read in one go with what follows: the command before the corrupt spot still counts */
	peer_send(p, "a NOOP\r\n");
	peer_write(p, junk, sizeof(junk)); /* a reserved block type */
	assert_int_equal(conn_read_line(p->c, &line, 100, 5), 6);
	assert_string_equal(line, "a NOOP");
	assert_int_equal(conn_read_line(p->c, &line, 100, 5), CONN_ERROR);
	assert_true(conn_broken(p->c));
}

static void test_eof_below(void **state)
{
	struct pair *p = *state;
	char *line;

	assert_int_equal(conn_push_layer(p->c, &compress_deflate_layer), 0);
	peer_send_flush(p, "a NO", 4, Z_SYNC_FLUSH);
	shutdown(p->sv[1], SHUT_WR);
	assert_int_equal(conn_read_line(p->c, &line, 100, 5), CONN_EOF);
}

/* Big output through a transport that takes 1000 octets per write; and after an idle release
 * (the deflate state freed) a new deflater goes on where the old one stopped. */
static void test_output_partial_writes_and_idle_release(void **state)
{
	struct pair *p = *state;
	const size_t big = 512 * 1024;
	char *data = malloc(big), *line;
	size_t before;

	p->wstep = 1000;
	assert_int_equal(conn_push_layer(p->c, &compress_deflate_layer), 0);
	for (size_t i = 0; i < big; i++)
		data[i] = "the quick brown fox\r\n"[i % 21];
	assert_int_equal(conn_write(p->c, data, big), 0);
	assert_int_equal(conn_flush(p->c), 0);
	peer_expect_len(p, data, big);
	before = heap_in_use();
	conn_release_buffers(p->c);
	/* the deflate state (~38 KiB) is given back */
	assert_true(!test_measured() || before - heap_in_use() >= 32 * 1024);
	assert_int_equal(conn_puts(p->c, "* 3 EXISTS\r\n"), 0);
	assert_int_equal(conn_flush(p->c), 0);
	peer_expect(p, "* 3 EXISTS\r\n");
	conn_release_buffers(p->c);
	conn_release_buffers(p->c); /* nothing left: harmless */
	peer_send(p, "DONE\r\n");
	assert_int_equal(conn_read_line(p->c, &line, 100, 5), 4);
	assert_int_equal(conn_puts(p->c, "i OK Idle completed.\r\n"), 0);
	assert_int_equal(conn_flush(p->c), 0);
	peer_expect(p, "i OK Idle completed.\r\n");
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_lines_both_ways, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_input_after_the_compress_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chunk_boundaries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pending_when_zlib_holds_output, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bomb_stops_at_the_line_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_input_breaks_the_connection, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_eof_below, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_output_partial_writes_and_idle_release, setup,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
