/* Unit tests for FETCH BINARY, BINARY.PEEK and BINARY.SIZE (RFC 3516) in the FETCH engine:
 * decoded quoted-printable and base64 parts, literal8 exactly when what is sent holds a NUL,
 * partial windows at every boundary of the decoded data (and across the engine's read and
 * decode chunks), unknown encodings, composite parts. Expected strings are exact. */
#include "tests/unit/test-imap-fetch-fixture.h"

#include "server/imap/imap-fetch-test.h"

static const char msg_binary[] = "From: a@b.example\r\n"
                                 "Subject: binary\r\n"
                                 "MIME-Version: 1.0\r\n"
                                 "Content-Type: multipart/mixed; boundary=\"b\"\r\n"
                                 "\r\n"
                                 "--b\r\n"
                                 "Content-Type: text/plain; charset=utf-8\r\n"
                                 "Content-Transfer-Encoding: Quoted-Printable\r\n"
                                 "\r\n"
                                 "Gr=C3=BC=C3=9Fe soft=\r\n"
                                 "break=0Aend\r\n"
                                 "line2\r\n"
                                 "--b\r\n"
                                 "Content-Type: application/octet-stream\r\n"
                                 "Content-Transfer-Encoding: base64\r\n"
                                 "\r\n"
                                 "AGJp\r\n"
                                 "bgB0YWls\r\n"
                                 "--b\r\n"
                                 "Content-Type: application/x-foo\r\n"
                                 "Content-Transfer-Encoding: x-uuencode\r\n"
                                 "\r\n"
                                 "begin 644 x\r\n"
                                 "--b\r\n"
                                 "Content-Type: text/plain\r\n"
                                 "Content-Transfer-Encoding: 7bit\r\n"
                                 "\r\n"
                                 "plain line one\r\n"
                                 "line two\r\n"
                                 "--b\r\n"
                                 "Content-Type: application/octet-stream\r\n"
                                 "Content-Transfer-Encoding: binary\r\n"
                                 "\r\n"
                                 "x\ny\r\n"
                                 "--b--\r\n";

/* Appends m as message 3 (index 2). */
static void add_message(struct fixture *f, const char *m, size_t len)
{
	const char *error = NULL;

	assert_int_equal(mailbox_append(f->box, m, len, 0, 0, NULL, &error), 0);
	assert_int_equal(mailbox_sync(f->box, &error), 0);
}

/* FETCH items of message index: its response, or "UNKNOWN-CTE" when the engine refused it. */
static char *fetch_binary_len(struct fixture *f, size_t index, const char *items, size_t *len_r)
{
	char *cmd = xasprintf("A FETCH 1 %s\r\n", items);
	const struct imap_arg *args = test_imap_command_parse(f->parser, cmd, strlen(cmd));
	struct imap_fetch *fetch = NULL;
	const char *error = NULL;
	char *out;
	int ret;

	xfree(&cmd);
	assert_non_null(args);
	if (imap_fetch_parse(&args->list[1], false, &fetch, &error) < 0)
		return xasprintf("BAD: %s", error);
	ret = imap_fetch_write(fetch, f->box, index, (uint32_t)index + 1, f->conn, &error);
	out = take_output_len(f, len_r);
	if (ret == 0 && imap_fetch_unknown_cte(fetch)) {
		assert_string_equal(out, ""); /* nothing of the message was sent */
		xfree(&out);
		out = xstrdup("UNKNOWN-CTE");
		*len_r = strlen(out);
	} else {
		assert_int_equal(ret, 1);
		assert_false(imap_fetch_unknown_cte(fetch));
	}
	imap_fetch_free(&fetch);
	return out;
}

static char *fetch_binary(struct fixture *f, size_t index, const char *items)
{
	size_t len;

	return fetch_binary_len(f, index, items, &len);
}

/* Compares with expect of expect_len octets (responses may hold NULs). */
static void check_binary(struct fixture *f, size_t index, const char *items, const char *expect,
                         size_t expect_len)
{
	size_t len;
	char *out = fetch_binary_len(f, index, items, &len);

	if (len != expect_len || memcmp(out, expect, expect_len) != 0) {
		fprintf(stderr, "FETCH %s:\n got: %s\nwant: %s\n", items, out, expect);
		fail();
	}
	free(out);
}

#define CHECK(f, index, items, expect) check_binary(f, index, items, expect, sizeof(expect) - 1)

static void test_quoted_printable(void **state)
{
	struct fixture *f = *state;

	add_message(f, msg_binary, sizeof(msg_binary) - 1);
	/* soft break gone, =0A a lone LF, the hard line break CRLF though the file has LF */
	CHECK(f, 2, "BINARY.PEEK[1]",
	      "* 3 FETCH (BINARY[1] {28}\r\nGr\xc3\xbc\xc3\x9f"
	      "e softbreak\nend\r\nline2)\r\n");
	CHECK(f, 2, "BINARY.SIZE[1]", "* 3 FETCH (BINARY.SIZE[1] 28)\r\n");
	/* partials count decoded octets */
	CHECK(f, 2, "BINARY.PEEK[1]<2.2>", "* 3 FETCH (BINARY[1]<2> {2}\r\n\xc3\xbc)\r\n");
	CHECK(f, 2, "BINARY.PEEK[1]<17.2>", "* 3 FETCH (BINARY[1]<17> {2}\r\n\ne)\r\n");
	CHECK(f, 2, "BINARY.PEEK[1]<27.10>", "* 3 FETCH (BINARY[1]<27> {1}\r\n2)\r\n");
	CHECK(f, 2, "BINARY.PEEK[1]<28.1>", "* 3 FETCH (BINARY[1]<28> {0}\r\n)\r\n");
	/* the nested message's QP part */
	CHECK(f, 1, "(BINARY.SIZE[1.1] BINARY.PEEK[1.1])",
	      "* 2 FETCH (BINARY.SIZE[1.1] 7 BINARY[1.1] {7}\r\nGr\xc3\xbc\xc3\x9f"
	      "e)\r\n");
}

static void test_base64_and_nul(void **state)
{
	struct fixture *f = *state;

	add_message(f, msg_binary, sizeof(msg_binary) - 1);
	CHECK(f, 2, "BINARY.PEEK[2]", "* 3 FETCH (BINARY[2] ~{9}\r\n\0bin\0tail)\r\n");
	CHECK(f, 2, "BINARY.SIZE[2]", "* 3 FETCH (BINARY.SIZE[2] 9)\r\n");
	/* literal8 only when the window sent holds a NUL */
	CHECK(f, 2, "BINARY.PEEK[2]<0.1>", "* 3 FETCH (BINARY[2]<0> ~{1}\r\n\0)\r\n");
	CHECK(f, 2, "BINARY.PEEK[2]<1.3>", "* 3 FETCH (BINARY[2]<1> {3}\r\nbin)\r\n");
	CHECK(f, 2, "BINARY.PEEK[2]<1.4>", "* 3 FETCH (BINARY[2]<1> ~{4}\r\nbin\0)\r\n");
	CHECK(f, 2, "BINARY.PEEK[2]<5.100>", "* 3 FETCH (BINARY[2]<5> {4}\r\ntail)\r\n");
	CHECK(f, 2, "BINARY.PEEK[2]<8.1>", "* 3 FETCH (BINARY[2]<8> {1}\r\nl)\r\n");
	CHECK(f, 2, "BINARY.PEEK[2]<9.1>", "* 3 FETCH (BINARY[2]<9> {0}\r\n)\r\n");
	CHECK(f, 2, "BINARY.PEEK[2]<4294967296.1>",
	      "* 3 FETCH (BINARY[2]<4294967296> {0}\r\n)\r\n");
	CHECK(f, 1, "BINARY.PEEK[3]", "* 2 FETCH (BINARY[3] {6}\r\nsecret)\r\n");
	/* BODY is unchanged */
	CHECK(f, 2, "BODY.PEEK[2]", "* 3 FETCH (BODY[2] {14}\r\nAGJp\r\nbgB0YWls)\r\n");
}

static void test_identity_encodings(void **state)
{
	struct fixture *f = *state;

	add_message(f, msg_binary, sizeof(msg_binary) - 1);
	/* 7bit: text, CRLF line ends */
	CHECK(f, 2, "(BINARY.SIZE[4] BINARY.PEEK[4])",
	      "* 3 FETCH (BINARY.SIZE[4] 24 BINARY[4] {24}\r\nplain line one\r\nline two)\r\n");
	/* binary: the octets as they are, line ends included */
	CHECK(f, 2, "(BINARY.SIZE[5] BINARY.PEEK[5] BODY.PEEK[5])",
	      "* 3 FETCH (BINARY.SIZE[5] 3 BINARY[5] {3}\r\nx\ny BODY[5] {4}\r\nx\r\ny)\r\n");
	/* a non-multipart message without Content-Transfer-Encoding: part 1 is its body */
	CHECK(f, 0, "BINARY.PEEK[1]<0.5>", "* 1 FETCH (BINARY[1]<0> {5}\r\nHello)\r\n");
}

static void test_composite_parts_and_missing(void **state)
{
	struct fixture *f = *state;
	char *body, *binary;

	/* multipart and message/rfc822 parts and the whole message: sent as BODY sends them */
	CHECK(f, 1, "BINARY.PEEK[2]",
	      "* 2 FETCH (BINARY[2] {47}\r\n"
	      "From: x@y.example\r\nSubject: inner\r\n\r\ninner body)\r\n");
	CHECK(f, 1, "BINARY.SIZE[2]", "* 2 FETCH (BINARY.SIZE[2] 47)\r\n");
	body = fetch_binary(f, 1, "BODY.PEEK[1]");
	binary = fetch_binary(f, 1, "BINARY.PEEK[1]");
	assert_string_equal(binary + strlen("* 2 FETCH (BINARY"), body + strlen("* 2 FETCH (BODY"));
	free(body);
	free(binary);
	body = fetch_binary(f, 0, "BODY.PEEK[]");
	binary = fetch_binary(f, 0, "BINARY.PEEK[]");
	assert_string_equal(binary + strlen("* 1 FETCH (BINARY"), body + strlen("* 1 FETCH (BODY"));
	free(body);
	free(binary);
	CHECK(f, 0, "BINARY.SIZE[]", "* 1 FETCH (BINARY.SIZE[] 406)\r\n");
	/* a part that does not exist */
	CHECK(f, 1, "(BINARY.PEEK[9] BINARY.SIZE[9] BINARY.PEEK[1.5])",
	      "* 2 FETCH (BINARY[9] NIL BINARY.SIZE[9] 0 BINARY[1.5] NIL)\r\n");
}

static void test_unknown_cte(void **state)
{
	struct fixture *f = *state;
	char *out;

	add_message(f, msg_binary, sizeof(msg_binary) - 1);
	CHECK(f, 2, "BINARY.PEEK[3]", "UNKNOWN-CTE");
	CHECK(f, 2, "BINARY.SIZE[3]", "UNKNOWN-CTE");
	CHECK(f, 2, "(FLAGS BINARY.PEEK[1] BINARY.PEEK[3])", "UNKNOWN-CTE");
	/* BODY of it is fine, and the next message is not refused for it */
	CHECK(f, 2, "BODY.PEEK[3]", "* 3 FETCH (BODY[3] {11}\r\nbegin 644 x)\r\n");
	out = fetch_binary(f, 1, "BINARY.PEEK[3]");
	assert_string_equal(out, "* 2 FETCH (BINARY[3] {6}\r\nsecret)\r\n");
	free(out);
}

static void test_syntax(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
	    "BINARY[HEADER]", "BINARY[1.MIME]",  "BINARY[TEXT]", "BINARY.SIZE[1]<0.5>",
	    "BINARY[1]<0.0>", "BINARY.PEEKX[1]", "BINARY.SIZE",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *cmd = xasprintf("A FETCH 1 %s\r\n", bad[i]);
		const struct imap_arg *args = test_imap_command_parse(f->parser, cmd, strlen(cmd));
		struct imap_fetch *fetch = NULL;
		const char *error = NULL;

		xfree(&cmd);
		assert_true(args == NULL ||
		            imap_fetch_parse(&args->list[1], false, &fetch, &error) < 0);
		assert_null(fetch);
	}
}

/* A base64 encoder for the test's data (the server only decodes). */
static void b64_lines(const unsigned char *in, size_t len, struct buf *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t col = 0;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		char q[4];

		v |= i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0;
		v |= i + 2 < len ? in[i + 2] : 0;
		q[0] = a[v >> 18];
		q[1] = a[(v >> 12) & 63];
		q[2] = i + 1 < len ? a[(v >> 6) & 63] : '=';
		q[3] = i + 2 < len ? a[v & 63] : '=';
		buf_append(out, q, 4);
		if ((col += 4) == 76) {
			buf_append_str(out, "\r\n");
			col = 0;
		}
	}
	buf_append_str(out, "\r\n");
}

/* A quoted-printable encoder for the test's data: every octet escaped that must be, soft line
 * breaks every 72 columns, so escapes and breaks fall across the server's read chunks. */
static void qp_lines(const unsigned char *in, size_t len, struct buf *out)
{
	size_t col = 0;

	for (size_t i = 0; i < len; i++) {
		if (col >= 72) {
			buf_append_str(out, "=\r\n");
			col = 0;
		}
		if (in[i] >= 33 && in[i] <= 126 && in[i] != '=') {
			buf_append(out, &in[i], 1);
			col++;
		} else {
			buf_printf(out, "=%02X", in[i]);
			col += 3;
		}
	}
	buf_append_str(out, "=\r\n"); /* a hard line break would be content */
}

/* The whole decoded part, and its size, as the data encoded. */
static void check_whole(struct fixture *f, const unsigned char *data, size_t size)
{
	char *head = xasprintf("* 3 FETCH (BINARY[1] ~{%zu}\r\n", size);
	size_t len;
	char *out = fetch_binary_len(f, 2, "BINARY.PEEK[1]", &len);

	assert_int_equal(len, strlen(head) + size + 3);
	assert_memory_equal(out, head, strlen(head));
	assert_memory_equal(out + strlen(head), data, size);
	free(out);
	free(head);
}

static void test_large_quoted_printable(void **state)
{
	struct fixture *f = *state;
	enum { SIZE = 150000 };
	unsigned char *data = xmalloc(SIZE);
	struct buf m;

	for (size_t i = 0; i < SIZE; i++)
		data[i] = (unsigned char)((i * 13 + i / 97) % 256);
	buf_init(&m);
	buf_append_str(&m, "Content-Type: application/octet-stream\r\n"
	                   "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	qp_lines(data, SIZE, &m);
	add_message(f, m.data, m.len);
	CHECK(f, 2, "BINARY.SIZE[1]", "* 3 FETCH (BINARY.SIZE[1] 150000)\r\n");
	check_whole(f, data, SIZE);
	buf_free(&m);
	xfree(&data);
}

/* 200,000 decoded octets: every window is right across the 64 KiB reads and 4 KiB decodes. */
static void test_large_partials(void **state)
{
	static const uint64_t offsets[] = {0, 4095, 4096, 65535, 65536, 65537, 131071, 199999};
	struct fixture *f = *state;
	enum { SIZE = 200000 };
	unsigned char *data = xmalloc(SIZE);
	struct buf m;
	char *out, *item, *head;

	for (size_t i = 0; i < SIZE; i++)
		data[i] = (unsigned char)((i * 7 + i / 251) % 256);
	buf_init(&m);
	buf_append_str(&m, "Content-Type: application/octet-stream\r\n"
	                   "Content-Transfer-Encoding: base64\r\n\r\n");
	b64_lines(data, SIZE, &m);
	add_message(f, m.data, m.len);
	CHECK(f, 2, "BINARY.SIZE[1]", "* 3 FETCH (BINARY.SIZE[1] 200000)\r\n");
	check_whole(f, data, SIZE);
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		uint64_t o = offsets[i], n = o + 3 <= SIZE ? 3 : SIZE - o;
		bool nul = memchr(data + o, 0, n) != NULL;

		size_t len;

		item = xasprintf("BINARY.PEEK[1]<%llu.3>", (unsigned long long)o);
		out = fetch_binary_len(f, 2, item, &len);
		assert_int_equal(len, strlen("* 3 FETCH (BINARY[1]<> {}\r\n)\r\n") + n + nul +
		                          strlen(item) - strlen("BINARY.PEEK[1]<.3>") + 1);
		head = xasprintf("* 3 FETCH (BINARY[1]<%llu> %s{%llu}\r\n", (unsigned long long)o,
		                 nul ? "~" : "", (unsigned long long)n);
		assert_memory_equal(out, head, strlen(head));
		assert_memory_equal(out + strlen(head), data + o, n);
		assert_memory_equal(out + strlen(head) + n, ")\r\n", 3);
		free(head);
		free(out);
		xfree(&item);
	}
	buf_free(&m);
	xfree(&data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_quoted_printable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_base64_and_nul, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_encodings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_composite_parts_and_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_cte, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_syntax, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_large_partials, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_large_quoted_printable, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
