/* POP3: the command parser (byte at a time), the dot-stuffing converter, and whole sessions run
 * in a child process over a socketpair against a real maildir, with a login of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "session-harness.h"

#include "common/xalloc.h"
#include "server/pop3/pop3-dot.h"
#include "server/pop3/pop3-parse.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- parser ---- */

struct parsed {
	enum pop3_parse_status st;
	char name[8];
	char args[1100];
	bool has_args;
	const char *error;
};

/* Feeds input in pieces of step bytes and collects every finished line. */
static size_t parse_all(const char *in, size_t len, size_t step, size_t max, struct parsed *out,
                        size_t out_max)
{
	struct pop3_parser p;
	size_t pos = 0, n = 0;

	pop3_parser_init(&p, max);
	while (pos < len) {
		size_t chunk = len - pos < step ? len - pos : step, off = 0;

		while (off < chunk) {
			struct pop3_cmd cmd;
			const char *error = NULL;
			size_t used;
			enum pop3_parse_status st =
			    pop3_parser_feed(&p, in + pos + off, chunk - off, &used, &cmd, &error);

			off += used;
			if (st == POP3_PARSE_MORE)
				continue;
			assert_true(n < out_max);
			memset(&out[n], 0, sizeof(out[n]));
			out[n].st = st;
			out[n].error = error;
			if (st == POP3_PARSE_DONE) {
				snprintf(out[n].name, sizeof(out[n].name), "%s", cmd.name);
				assert_int_equal(strlen(cmd.args), cmd.args_len);
				snprintf(out[n].args, sizeof(out[n].args), "%s", cmd.args);
				out[n].has_args = cmd.has_args;
			}
			n++;
		}
		pos += chunk;
	}
	pop3_parser_deinit(&p);
	return n;
}

static const char parse_input[] = "USER alice\r\n"
                                  "pass pass word 123\r\n"
                                  "noop\n"
                                  "LIST \r\n"
                                  "\r\n"
                                  "FOOBAR x\r\n"
                                  "RE7R 1\r\n"
                                  " STAT\r\n"
                                  "RETR 1\r2\r\n"
                                  "TOP 1 \x01\r\n"
                                  "RETR 3\r\n";

static void check_parse_input(const struct parsed *r, size_t n)
{
	assert_int_equal(n, 11);
	assert_int_equal(r[0].st, POP3_PARSE_DONE);
	assert_string_equal(r[0].name, "USER");
	assert_string_equal(r[0].args, "alice");
	assert_string_equal(r[1].name, "PASS");
	assert_string_equal(r[1].args, "pass word 123"); /* the rest of the line, spaces kept */
	assert_string_equal(r[2].name, "NOOP");
	assert_false(r[2].has_args);
	assert_string_equal(r[3].name, "LIST");
	assert_true(r[3].has_args);
	assert_string_equal(r[3].args, "");
	assert_int_equal(r[4].st, POP3_PARSE_ERROR);
	assert_string_equal(r[4].error, "Empty command");
	assert_int_equal(r[5].st, POP3_PARSE_ERROR);
	assert_string_equal(r[5].error, "Unknown command");
	assert_int_equal(r[6].st, POP3_PARSE_ERROR);
	assert_int_equal(r[7].st, POP3_PARSE_ERROR);
	assert_int_equal(r[8].st, POP3_PARSE_ERROR); /* a bare CR inside the line */
	assert_int_equal(r[9].st, POP3_PARSE_ERROR); /* a control byte */
	assert_int_equal(r[10].st, POP3_PARSE_DONE);
	assert_string_equal(r[10].name, "RETR");
	assert_string_equal(r[10].args, "3");
}

static void test_parser_byte_at_a_time(void **state)
{
	struct parsed r[16];
	size_t step;

	for (step = 1; step <= sizeof(parse_input); step++)
		check_parse_input(
		    r, parse_all(parse_input, sizeof(parse_input) - 1, step, 255, r, 16));
}

static void test_parser_long_lines(void **state)
{
	char in[2000];
	struct parsed r[4];
	size_t n;

	memset(in, 'a', sizeof(in));
	memcpy(in, "PASS ", 5);
	memcpy(in + 300, "\r\nNOOP\r\n", 8); /* 300 bytes: too long for 255 */
	n = parse_all(in, 308, 1, 255, r, 4);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].st, POP3_PARSE_ERROR);
	assert_string_equal(r[0].error, "Line too long");
	assert_int_equal(r[1].st, POP3_PARSE_DONE);
	assert_string_equal(r[1].name, "NOOP");
	/* exactly max bytes plus CRLF is fine, max + 1 is not */
	memcpy(in + 255, "\r\n", 2);
	n = parse_all(in, 257, 7, 255, r, 4);
	assert_int_equal(r[0].st, POP3_PARSE_DONE);
	assert_int_equal(strlen(r[0].args), 250);
	memcpy(in + 255, "a\r\n", 3);
	n = parse_all(in, 258, 7, 255, r, 4);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].st, POP3_PARSE_ERROR);
}

static void test_parse_line_and_helpers(void **state)
{
	struct pop3_parser p;
	struct pop3_cmd cmd;
	const char *error;
	char args[] = "  1  2 ", *argv[3];
	uint32_t n;

	pop3_parser_init(&p, 255);
	assert_int_equal(pop3_parse_line(&p, "top 1 10", 8, &cmd, &error), POP3_PARSE_DONE);
	assert_string_equal(cmd.name, "TOP");
	assert_string_equal(cmd.args, "1 10");
	assert_int_equal(pop3_parse_line(&p, "RETR\0 1", 7, &cmd, &error), POP3_PARSE_ERROR);
	assert_int_equal(pop3_parse_line(&p, "NOOP\n", 5, &cmd, &error), POP3_PARSE_ERROR);
	assert_int_equal(pop3_parse_line(&p, "QUIT", 4, &cmd, &error), POP3_PARSE_DONE);
	assert_string_equal(cmd.name, "QUIT");
	pop3_parser_deinit(&p);

	assert_int_equal(pop3_split_args(args, argv, 3), 2);
	assert_string_equal(argv[0], "1");
	assert_string_equal(argv[1], "2");
	strcpy(args, "1 2 3");
	assert_int_equal(pop3_split_args(args, argv, 2), -1);

	assert_int_equal(pop3_parse_number("4294967295", &n), 1);
	assert_int_equal(n, 4294967295u);
	assert_int_equal(pop3_parse_number("4294967296", &n), 0);
	assert_int_equal(pop3_parse_number("00000000001", &n), 0);
	assert_int_equal(pop3_parse_number("+1", &n), 0);
	assert_int_equal(pop3_parse_number("", &n), 0);
	assert_int_equal(pop3_parse_number("0", &n), 1);
	assert_int_equal(n, 0);
}

/* ---- dot-stuffing ---- */

static char *dot_all(const char *in, size_t len, size_t step, bool top, uint64_t lines,
                     size_t *out_len)
{
	struct pop3_dot d;
	char *out = xmalloc(2 * len + POP3_DOT_FINISH_MAX + 1);
	size_t pos = 0, o = 0;

	pop3_dot_init(&d, top, lines);
	while (pos < len) {
		size_t chunk = len - pos < step ? len - pos : step;

		o += pop3_dot_convert(&d, in + pos, chunk, out + o);
		pos += chunk;
	}
	o += pop3_dot_finish(&d, out + o);
	out[o] = '\0';
	*out_len = o;
	return out;
}

static void check_dot(const char *in, bool top, uint64_t lines, const char *expect)
{
	size_t step, len;

	for (step = 1; step <= strlen(in) + 1; step++) {
		char *out = dot_all(in, strlen(in), step, top, lines, &len);

		assert_int_equal(len, strlen(expect));
		assert_memory_equal(out, expect, len);
		free(out);
	}
}

static void test_dot_stuffing(void **state)
{
	check_dot("", false, 0, ".\r\n");
	check_dot("a\nb\n", false, 0, "a\r\nb\r\n.\r\n");
	check_dot("a\r\nb\r\n", false, 0, "a\r\nb\r\n.\r\n");
	check_dot("a\r\nb\nc", false, 0, "a\r\nb\r\nc\r\n.\r\n");
	check_dot(".\n..x\n.\r\nend.\n", false, 0, "..\r\n...x\r\n..\r\nend.\r\n.\r\n");
	check_dot("x\ry\n", false, 0, "x\ry\r\n.\r\n");
	check_dot(".", false, 0, "..\r\n.\r\n");
	check_dot("a\r", false, 0, "a\r\n.\r\n");
}

static const char top_msg[] = "Subject: t\nFrom: a\n\n1\n.2\n3\n4\n";

static void test_dot_top(void **state)
{
	check_dot(top_msg, true, 0, "Subject: t\r\nFrom: a\r\n\r\n.\r\n");
	check_dot(top_msg, true, 2, "Subject: t\r\nFrom: a\r\n\r\n1\r\n..2\r\n.\r\n");
	check_dot(top_msg, true, 100, "Subject: t\r\nFrom: a\r\n\r\n1\r\n..2\r\n3\r\n4\r\n.\r\n");
	check_dot("A: b\r\n\r\nbody\r\n", true, 0, "A: b\r\n\r\n.\r\n");
	/* no empty line: everything is header */
	check_dot("A: b\nC: d", true, 0, "A: b\r\nC: d\r\n.\r\n");
}

/* ---- sessions ---- */

/* A multi-line body up to and including ".\r\n"; returned raw (still dot-stuffed). */
static char *srv_multi(struct srv *c, size_t *len_r)
{
	char *end;

	for (;;) {
		if (c->in_len >= 3 && memcmp(c->in, ".\r\n", 3) == 0)
			end = c->in;
		else
			end = memmem(c->in, c->in_len, "\r\n.\r\n", 5);
		if (end != NULL)
			break;
		assert_true(srv_fill(c));
	}
	*len_r = (size_t)(end - c->in) + (end == c->in ? 3 : 5);
	end = xmalloc(*len_r + 1);
	srv_take(c, *len_r, end);
	return end;
}

static void srv_login(struct srv *c)
{
	srv_start(c);
	srv_expect(c, "+OK twofold ready.\r\n");
	srv_send(c, "USER alice\r\nPASS pass word123456\r\n");
	srv_expect(c, "+OK ");
	srv_expect(c, "+OK Logged in.");
}

static const char *const msg_text[] = {
    "Subject: one\n\nline\n.dot line\n..two dots\nend\n",
    "Subject: two\r\n\r\nalready crlf\r\n.\r\nmixed\nlast without newline",
    "Subject: three\n\n1\n2\n3\n4\n5\n",
};
#define MSG_COUNT 3

static size_t count_files(void)
{
	const char *sub[] = {"new", "cur"};
	size_t i, n = 0;

	for (i = 0; i < 2; i++) {
		char path[1024];
		DIR *d;
		struct dirent *e;

		snprintf(path, sizeof(path), "%s/%s", srv_maildir, sub[i]);
		d = opendir(path);
		assert_non_null(d);
		while ((e = readdir(d)) != NULL)
			n += e->d_name[0] != '.';
		closedir(d);
	}
	return n;
}

static int session_setup(void **state)
{
	(void)state;
	srv_setup("pop3", AUTH_PROTO_POP3);
	for (size_t i = 0; i < MSG_COUNT; i++) {
		char name[64];

		snprintf(name, sizeof(name), "17000000%02zu.M%zuP1.test", i, i);
		srv_write_msg("new", name, msg_text[i]);
	}
	return 0;
}

static int session_teardown(void **state)
{
	(void)state;
	srv_teardown();
	return 0;
}

/* The octets a message must arrive as, before dot-stuffing: LF -> CRLF, CRLF at the end. */
static char *expected_octets(const char *text, size_t *len_r)
{
	char *out = xmalloc(2 * strlen(text) + 3), *o = out;
	const char *p;

	for (p = text; *p != '\0'; p++) {
		if (*p == '\n' && (p == text || p[-1] != '\r'))
			*o++ = '\r';
		*o++ = *p;
	}
	if (o > out && o[-1] != '\n') {
		*o++ = '\r';
		*o++ = '\n';
	}
	*len_r = (size_t)(o - out);
	return out;
}

/* Removes the dot-stuffing and the terminating ".\r\n" from a multi-line body. */
static size_t unstuff(char *body, size_t len)
{
	char *r = body, *w = body;
	bool line_start = true;

	len -= 3;
	while (r < body + len) {
		if (line_start && *r == '.')
			r++;
		line_start = *r == '\n';
		*w++ = *r++;
	}
	return (size_t)(w - body);
}

static void test_session_preauth(void **state)
{
	struct srv c;
	size_t len;
	char *capa;

	srv_start(&c);
	srv_expect(&c, "+OK twofold ready.\r\n");
	srv_send(&c, "CAPA\r\n");
	srv_expect(&c, "+OK");
	capa = srv_multi(&c, &len);
	assert_non_null(strstr(capa, "\r\nSASL PLAIN\r\n"));
	assert_non_null(strstr(capa, "EXPIRE NEVER\r\n"));
	assert_non_null(strstr(capa, "IMPLEMENTATION twofold\r\n"));
	assert_non_null(strstr(capa, "PIPELINING\r\n"));
	assert_non_null(strstr(capa, "RESP-CODES\r\nAUTH-RESP-CODE\r\n"));
	free(capa);
	/* every failure looks alike */
	srv_send(&c, "USER alice\r\nPASS wrong\r\nUSER bob\r\nPASS pass word123456\r\n");
	srv_expect(&c, "+OK");
	srv_expect(&c, "-ERR [AUTH] Authentication failed.\r\n");
	srv_expect(&c, "+OK");
	srv_expect(&c, "-ERR [AUTH] Authentication failed.\r\n");
	srv_send(&c, "USER temp\r\nPASS x\r\n");
	srv_expect(&c, "+OK");
	srv_expect(&c, "-ERR [SYS/TEMP] ");
	srv_send(&c, "AUTH\r\n");
	srv_expect(&c, "+OK");
	capa = srv_multi(&c, &len);
	assert_string_equal(capa, "PLAIN\r\n.\r\n");
	free(capa);
	/* three bad commands end the session */
	srv_send(&c, "STAT\r\nXYZZY\r\n");
	srv_expect(&c, "-ERR Not logged in.");
	srv_expect(&c, "-ERR Unknown command.");
	srv_send(&c, "PASS x\r\n"); /* no USER since the last PASS */
	srv_expect(&c, "-ERR Too many bad commands");
	srv_expect_eof(&c);
	srv_wait(&c);
}

static void test_session_auth_plain(void **state)
{
	struct srv c;

	srv_start(&c);
	srv_expect(&c, "+OK twofold ready.");
	/* "\0alice\0wrong" */
	srv_send(&c, "AUTH PLAIN AGFsaWNlAHdyb25n\r\n");
	srv_expect(&c, "-ERR [AUTH] Authentication failed.\r\n");
	srv_send(&c, "AUTH PLAIN\r\n");
	srv_expect(&c, "+ \r\n");
	srv_send(&c, "*\r\n");
	srv_expect(&c, "-ERR ");
	srv_send(&c, "AUTH PLAIN\r\n");
	srv_expect(&c, "+ \r\n");
	/* "alice\0alice\0pass word123456" */
	srv_send(&c, "YWxpY2UAYWxpY2UAcGFzcyB3b3JkMTIzNDU2\r\n");
	srv_expect(&c, "+OK Logged in.");
	srv_send(&c, "STAT\r\nQUIT\r\n");
	srv_expect(&c, "+OK 3 ");
	srv_expect(&c, "+OK Logging out.");
	srv_expect_eof(&c);
	srv_wait(&c);

	srv_start(&c);
	srv_expect(&c, "+OK twofold ready.");
	/* initial response: "\0alice\0pass word123456" */
	srv_send(&c, "AUTH PLAIN AGFsaWNlAHBhc3Mgd29yZDEyMzQ1Ng==\r\n");
	srv_expect(&c, "+OK Logged in.");
	srv_send(&c, "QUIT\r\n");
	srv_expect(&c, "+OK Logging out.");
	srv_wait(&c);

	srv_start(&c);
	srv_expect(&c, "+OK twofold ready.");
	/* authzid differs: "bob\0alice\0pass word123456" */
	srv_send(&c, "AUTH PLAIN Ym9iAGFsaWNlAHBhc3Mgd29yZDEyMzQ1Ng==\r\nAUTH PLAIN !!!\r\n");
	srv_expect(&c, "-ERR [AUTH] Authentication failed.");
	srv_expect(&c, "-ERR Invalid base64");
	srv_send(&c, "QUIT\r\n");
	srv_expect(&c, "+OK Logging out.");
	srv_wait(&c);
	assert_int_equal(count_files(), MSG_COUNT);
}

static void test_session_retr_list(void **state)
{
	struct srv c;
	char line[64];
	size_t i, len;
	unsigned long sizes[MSG_COUNT], total = 0, n, sz;

	srv_login(&c);
	srv_send(&c, "LIST\r\n");
	srv_expect(&c, "+OK");
	free(srv_multi(&c, &len));
	for (i = 0; i < MSG_COUNT; i++) {
		char *body, *expect;
		size_t blen, elen;

		snprintf(line, sizeof(line), "LIST %zu\r\n", i + 1);
		srv_send(&c, line);
		assert_int_equal(sscanf(srv_line(&c), "+OK %lu %lu", &n, &sizes[i]), 2);
		assert_int_equal(n, i + 1);
		total += sizes[i];
		snprintf(line, sizeof(line), "RETR %zu\r\n", i + 1);
		srv_send(&c, line);
		srv_expect(&c, "+OK");
		body = srv_multi(&c, &blen);
		blen = unstuff(body, blen);
		expect = expected_octets(msg_text[i], &elen);
		assert_int_equal(blen, elen);
		assert_memory_equal(body, expect, elen);
		/* the size LIST gave is the octets sent, except the CRLF added to a last line */
		assert_int_equal(sizes[i] + (msg_text[i][strlen(msg_text[i]) - 1] != '\n' ? 2 : 0),
		                 blen);
		free(body);
		free(expect);
	}
	srv_send(&c, "STAT\r\n");
	assert_int_equal(sscanf(srv_line(&c), "+OK %lu %lu", &n, &sz), 2);
	assert_int_equal(n, MSG_COUNT);
	assert_int_equal(sz, total);
	srv_send(&c, "TOP 3 2\r\n");
	srv_expect(&c, "+OK");
	{
		char *body = srv_multi(&c, &len);

		assert_string_equal(body, "Subject: three\r\n\r\n1\r\n2\r\n.\r\n");
		free(body);
	}
	srv_send(&c, "LIST 0\r\nLIST 4\r\nLIST x\r\nRETR\r\nTOP 1\r\nSTAT 1\r\nLIST 1 2\r\n");
	for (i = 0; i < 7; i++)
		srv_expect(&c, "-ERR ");
	srv_send(&c, "QUIT\r\n");
	srv_expect(&c, "+OK Logging out.");
	srv_wait(&c);
	assert_int_equal(count_files(), MSG_COUNT); /* RETR alone deletes nothing by default */
}

static void test_session_uidl(void **state)
{
	struct srv c;
	char *a, *b;
	size_t la, lb;

	srv_login(&c);
	srv_send(&c, "UIDL\r\nUIDL 2\r\nQUIT\r\n");
	srv_expect(&c, "+OK");
	a = srv_multi(&c, &la);
	assert_non_null(strstr(a, "1 1700000000.M0P1.test\r\n"));
	assert_non_null(strstr(a, "2 1700000001.M1P1.test\r\n"));
	srv_expect(&c, "+OK 2 1700000001.M1P1.test\r\n");
	srv_expect(&c, "+OK Logging out.");
	srv_wait(&c);
	srv_login(&c);
	srv_send(&c, "UIDL\r\nQUIT\r\n");
	srv_expect(&c, "+OK");
	b = srv_multi(&c, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	srv_expect(&c, "+OK Logging out.");
	srv_wait(&c);
	free(a);
	free(b);
}

static void test_session_dele_quit(void **state)
{
	struct srv c;
	size_t len;
	char *list;

	srv_login(&c);
	/* pipelined: all answers in order */
	srv_send(&c, "DELE 1\r\nDELE 1\r\nRETR 1\r\nLIST\r\nSTAT\r\nRSET\r\nSTAT\r\nDELE 2\r\n"
	             "NOOP\r\n");
	srv_expect(&c, "+OK Message 1 deleted.");
	srv_expect(&c, "-ERR Message 1 already deleted.");
	srv_expect(&c, "-ERR Message 1 already deleted.");
	srv_expect(&c, "+OK");
	list = srv_multi(&c, &len);
	assert_true(strncmp(list, "2 ", 2) == 0);
	assert_null(strstr(list, "\r\n1 "));
	free(list);
	srv_expect(&c, "+OK 2 ");
	srv_expect(&c, "+OK");
	srv_expect(&c, "+OK 3 ");
	srv_expect(&c, "+OK Message 2 deleted.");
	srv_expect(&c, "+OK");
	assert_int_equal(count_files(), MSG_COUNT); /* nothing before QUIT */
	srv_send(&c, "QUIT\r\n");
	srv_expect(&c, "+OK Logging out.");
	srv_wait(&c);
	assert_int_equal(count_files(), MSG_COUNT - 1);

	srv_login(&c);
	srv_send(&c, "STAT\r\nUIDL\r\nQUIT\r\n");
	srv_expect(&c, "+OK 2 ");
	srv_expect(&c, "+OK");
	list = srv_multi(&c, &len);
	assert_null(strstr(list, "1700000001.M1P1.test"));
	free(list);
	srv_expect(&c, "+OK Logging out.");
	srv_wait(&c);
}

static void test_session_drop_and_shutdown_delete_nothing(void **state)
{
	struct srv c;

	srv_login(&c);
	srv_send(&c, "DELE 1\r\nDELE 2\r\n");
	srv_expect(&c, "+OK");
	srv_expect(&c, "+OK");
	close(c.fd); /* dropped */
	c.fd = -1;
	srv_wait(&c);
	assert_int_equal(count_files(), MSG_COUNT);

	srv_login(&c);
	srv_send(&c, "DELE 1\r\n");
	srv_expect(&c, "+OK");
	kill(c.pid, SIGTERM);
	srv_expect(&c, "-ERR [SYS/TEMP] Server shutting down.");
	srv_expect_eof(&c);
	srv_wait(&c);
	assert_int_equal(count_files(), MSG_COUNT);
}

static void test_session_in_use(void **state)
{
	/* two sessions' 1 MiB buffers on the heap: a 2 MiB frame looks like a stack switch to
	 * valgrind (--max-stackframe), which then reports every access to it */
	struct srv *pair = calloc(2, sizeof(*pair)), *a = &pair[0], *b = &pair[1];

	assert_non_null(pair);
	srv_login(a);
	srv_start(b);
	srv_expect(b, "+OK twofold ready.");
	srv_send(b, "USER alice\r\nPASS pass word123456\r\n");
	srv_expect(b, "+OK");
	srv_expect(b, "-ERR [IN-USE] ");
	srv_expect_eof(b);
	srv_wait(b);
	srv_send(a, "QUIT\r\n");
	srv_expect(a, "+OK Logging out.");
	srv_wait(a);
	/* the lock is gone with the session */
	srv_login(b);
	srv_send(b, "QUIT\r\n");
	srv_expect(b, "+OK Logging out.");
	srv_wait(b);
	free(pair);
}

static void test_session_delete_retrieved(void **state)
{
	struct srv c;
	size_t len;
	char *capa;

	srv_cfg->pop3_delete_retrieved = true;
	srv_login(&c);
	srv_send(&c, "CAPA\r\n");
	srv_expect(&c, "+OK");
	capa = srv_multi(&c, &len);
	assert_non_null(strstr(capa, "\r\nEXPIRE 0\r\n"));
	free(capa);
	srv_send(&c, "RETR 2\r\nTOP 3 1\r\n");
	srv_expect(&c, "+OK");
	free(srv_multi(&c, &len));
	srv_expect(&c, "+OK");
	free(srv_multi(&c, &len));
	srv_send(&c, "QUIT\r\n");
	srv_expect(&c, "+OK Logging out.");
	srv_wait(&c);
	assert_int_equal(count_files(), MSG_COUNT - 1); /* TOP is not a retrieval */

	/* RSET forgets retrievals too; a drop after RETR deletes nothing */
	srv_login(&c);
	srv_send(&c, "RETR 1\r\nRSET\r\nQUIT\r\n");
	srv_expect(&c, "+OK");
	free(srv_multi(&c, &len));
	srv_expect(&c, "+OK");
	srv_expect(&c, "+OK Logging out.");
	srv_wait(&c);
	srv_login(&c);
	srv_send(&c, "RETR 1\r\n");
	srv_expect(&c, "+OK");
	free(srv_multi(&c, &len));
	close(c.fd);
	c.fd = -1;
	srv_wait(&c);
	assert_int_equal(count_files(), MSG_COUNT - 1);
}

static void test_session_new_delivery_next_session(void **state)
{
	struct srv c;

	srv_login(&c);
	srv_write_msg("new", "1800000000.M9P9.test", "Subject: late\n\nhi\n");
	srv_send(&c, "STAT\r\nLIST 4\r\nQUIT\r\n");
	srv_expect(&c, "+OK 3 ");
	srv_expect(&c, "-ERR ");
	srv_expect(&c, "+OK Logging out.");
	srv_wait(&c);
	srv_login(&c);
	srv_send(&c, "STAT\r\nUIDL 4\r\nQUIT\r\n");
	srv_expect(&c, "+OK 4 ");
	srv_expect(&c, "+OK 4 1800000000.M9P9.test\r\n");
	srv_expect(&c, "+OK Logging out.");
	srv_wait(&c);
}

static void test_session_limits(void **state)
{
	struct srv c;
	char big[2100];

	/* post-login lines are limited to 255 octets, and the session goes on */
	srv_login(&c);
	memset(big, 'x', sizeof(big));
	memcpy(big, "LIST ", 5);
	memcpy(big + 300, "\r\nNOOP\r\n", 9);
	srv_send(&c, big);
	srv_expect(&c, "-ERR Line too long.");
	srv_expect(&c, "+OK");
	srv_send(&c, "QUIT\r\n");
	srv_expect(&c, "+OK Logging out.");
	srv_wait(&c);

	/* before login a 1 KiB AUTH line is fine, 2 KiB is not */
	srv_start(&c);
	srv_expect(&c, "+OK twofold ready.");
	memset(big, 'A', sizeof(big));
	memcpy(big, "AUTH PLAIN ", 11);
	memcpy(big + 999, "\r\n", 3); /* 988 base64 characters */
	srv_send(&c, big);
	srv_expect(&c, "-ERR [AUTH] Authentication failed.");
	memset(big, 'A', sizeof(big));
	memcpy(big, "AUTH PLAIN ", 11);
	memcpy(big + 2000, "\r\n", 3);
	srv_send(&c, big);
	srv_expect(&c, "-ERR Line too long.");
	srv_send(&c, "QUIT\r\n");
	srv_expect(&c, "+OK Logging out.");
	srv_wait(&c);

	/* the login timeout */
	srv_cfg->login_timeout = 1;
	srv_start(&c);
	srv_expect(&c, "+OK twofold ready.");
	srv_send(&c, "CAPA\r\n");
	srv_expect(&c, "+OK");
	free(srv_multi(&c, &(size_t){0}));
	srv_expect(&c, "-ERR Login timeout");
	srv_expect_eof(&c);
	srv_wait(&c);

	/* the idle timeout after login: the session ends without UPDATE */
	srv_cfg->login_timeout = 60;
	srv_cfg->idle_timeout = 1;
	srv_login(&c);
	srv_send(&c, "DELE 1\r\n");
	srv_expect(&c, "+OK");
	srv_expect(&c, "-ERR Disconnected for inactivity.");
	srv_expect_eof(&c);
	srv_wait(&c);
	assert_int_equal(count_files(), MSG_COUNT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parser_byte_at_a_time),
	    cmocka_unit_test(test_parser_long_lines),
	    cmocka_unit_test(test_parse_line_and_helpers),
	    cmocka_unit_test(test_dot_stuffing),
	    cmocka_unit_test(test_dot_top),
	    cmocka_unit_test_setup_teardown(test_session_preauth, session_setup, session_teardown),
	    cmocka_unit_test_setup_teardown(test_session_auth_plain, session_setup,
	                                    session_teardown),
	    cmocka_unit_test_setup_teardown(test_session_retr_list, session_setup,
	                                    session_teardown),
	    cmocka_unit_test_setup_teardown(test_session_uidl, session_setup, session_teardown),
	    cmocka_unit_test_setup_teardown(test_session_dele_quit, session_setup,
	                                    session_teardown),
	    cmocka_unit_test_setup_teardown(test_session_drop_and_shutdown_delete_nothing,
	                                    session_setup, session_teardown),
	    cmocka_unit_test_setup_teardown(test_session_in_use, session_setup, session_teardown),
	    cmocka_unit_test_setup_teardown(test_session_delete_retrieved, session_setup,
	                                    session_teardown),
	    cmocka_unit_test_setup_teardown(test_session_new_delivery_next_session, session_setup,
	                                    session_teardown),
	    cmocka_unit_test_setup_teardown(test_session_limits, session_setup, session_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
