/* Unit tests for the FETCH engine (server/imap/imap-fetch.c): real maildirs made through storage
 * in a temp dir, commands read by the real IMAP parser, output through a conn over a socketpair
 * drained by a reader thread. Expected strings are exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/test-imap-command.h"
#include "tests/unit/test-tmpdir.h"

#include "common/buf.h"
#include "common/xalloc.h"
#include "server/conn.h"
#include "server/imap/imap-fetch.h"
#include "server/imap/imap-fetch-test.h"
#include "server/imap/imap-parser.h"
#include "storage/storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/test-imap-fetch-fixture.h"

/* ---- tests ---- */

/* BODY[1], [1.HEADER], [1.TEXT], [1.1] of a message whose top-level type is message/rfc822. */
static void test_top_level_message_rfc822(void **state)
{
	static const char m[] = "Subject: fwd\r\n"
	                        "Content-Type: message/rfc822\r\n"
	                        "\r\n"
	                        "Subject: inner\r\n"
	                        "\r\n"
	                        "inner body\r\n";
	struct fixture *f = *state;
	const char *error = NULL;

	assert_int_equal(mailbox_append(f->box, m, sizeof(m) - 1, 0, 0, NULL, &error), 0);
	assert_int_equal(mailbox_sync(f->box, &error), 0);
	check_fetch(f, 2, "BODY.PEEK[1]",
	            "* 3 FETCH (BODY[1] {30}\r\nSubject: inner\r\n\r\ninner body\r\n)\r\n");
	check_fetch(f, 2, "BODY.PEEK[1.HEADER]",
	            "* 3 FETCH (BODY[1.HEADER] {18}\r\nSubject: inner\r\n\r\n)\r\n");
	check_fetch(f, 2, "BODY.PEEK[1.TEXT]",
	            "* 3 FETCH (BODY[1.TEXT] {12}\r\ninner body\r\n)\r\n");
	check_fetch(f, 2, "BODY.PEEK[1.1]", "* 3 FETCH (BODY[1.1] {12}\r\ninner body\r\n)\r\n");
	check_fetch(f, 2, "BODY.PEEK[TEXT]",
	            "* 3 FETCH (BODY[TEXT] {30}\r\nSubject: inner\r\n\r\ninner body\r\n)\r\n");
	check_fetch(f, 2, "BODY.PEEK[2]", "* 3 FETCH (BODY[2] NIL)\r\n");
}

static void test_flags_date_size_uid(void **state)
{
	struct fixture *f = *state;
	const struct mail *m1 = mailbox_get(f->box, 0);
	char *expect;
	const char *error;
	int kw;

	kw = mailbox_keyword_index(f->box, "$Work", true);
	assert_true(kw >= 0);
	assert_int_equal(mailbox_set_keywords(f->box, 0, (uint64_t)1 << kw, 0, &error), 1);
	assert_int_equal(mailbox_set_flags(f->box, 0, MAIL_ANSWERED, 0, &error), 1);
	/* 760000000 = 1994-01-31 07:06:40 UTC, shown in the server's zone (EST5) */
	expect =
	    xasprintf("* 1 FETCH (FLAGS (\\Answered \\Flagged \\Seen%s $Work) "
	              "INTERNALDATE \"31-Jan-1994 02:06:40 -0500\" RFC822.SIZE %zu UID %u)\r\n",
	              (m1->flags & MAIL_RECENT) != 0 ? " \\Recent" : "",
	              sizeof(msg_simple) - 1 + 11, m1->uid);
	check_fetch(f, 0, "(FLAGS INTERNALDATE RFC822.SIZE UID)", expect);
	free(expect);
	/* CRLF message: size unchanged; day of month zero-padded */
	expect =
	    xasprintf("* 2 FETCH (RFC822.SIZE %zu INTERNALDATE \"01-Mar-2022 05:00:00 -0500\")\r\n",
	              sizeof(msg_nested) - 1);
	check_fetch(f, 1, "(RFC822.SIZE INTERNALDATE)", expect);
	free(expect);
	assert_int_equal(test_imap_crlf_size(f->box, 1), sizeof(msg_nested) - 1);
}

static void test_envelope_quoting(void **state)
{
	struct fixture *f = *state;

	check_fetch(f, 0, "ENVELOPE",
	            "* 1 FETCH (ENVELOPE (\"Mon, 7 Feb 1994 21:52:25 -0800\" "
	            "\"afternoon meeting again\" "
	            "((\"Fred \\\"the\\\" Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) "
	            "((\"Fred \\\"the\\\" Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) "
	            "((\"Fred \\\"the\\\" Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) "
	            "((NIL NIL \"mooch\" \"owatagu.example\")(\"Joe Q. Public\" NIL \"joe\" "
	            "\"x.example\")) "
	            "((\"=?UTF-8?Q?J=C3=B6rg?=\" NIL \"jorg\" \"x.example\")) NIL NIL "
	            "\"<B27397-0100000@Blurdybloop.example>\"))\r\n");
}

static const char nested_body[] =
    "(((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 15 0)"
    "(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 9 0) \"alternative\")"
    "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 47 "
    "(NIL \"inner\" ((NIL NIL \"x\" \"y.example\")) ((NIL NIL \"x\" \"y.example\")) "
    "((NIL NIL \"x\" \"y.example\")) NIL NIL NIL NIL NIL) "
    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0) 3)"
    "(\"application\" \"octet-stream\" (\"name\" \"a.bin\") NIL NIL \"base64\" 8) \"mixed\")";

static const char nested_bodystructure[] =
    "(((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 15 0 NIL NIL NIL "
    "NIL)(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 9 0 NIL NIL NIL NIL) "
    "\"alternative\" (\"boundary\" \"inner\") NIL NIL NIL)"
    "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 47 "
    "(NIL \"inner\" ((NIL NIL \"x\" \"y.example\")) ((NIL NIL \"x\" \"y.example\")) "
    "((NIL NIL \"x\" \"y.example\")) NIL NIL NIL NIL NIL) "
    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 0 NIL NIL NIL NIL) 3 "
    "NIL NIL NIL NIL)"
    "(\"application\" \"octet-stream\" (\"name\" \"a.bin\") NIL NIL \"base64\" 8 NIL "
    "(\"attachment\" (\"filename\" \"a.bin\")) NIL NIL) "
    "\"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)";

static void test_bodystructure_nested(void **state)
{
	struct fixture *f = *state;
	char *expect;

	expect = xasprintf("* 2 FETCH (BODY %s BODYSTRUCTURE %s)\r\n", nested_body,
	                   nested_bodystructure);
	check_fetch(f, 1, "(BODY BODYSTRUCTURE)", expect);
	free(expect);
	/* single part, LF file: sizes and lines as sent with CRLF */
	check_fetch(
	    f, 0, "BODYSTRUCTURE",
	    "* 1 FETCH (BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	    "\"7bit\" 55 1 NIL NIL NIL NIL))\r\n");
}

static void test_cache_avoids_reparse(void **state)
{
	struct fixture *f = *state;
	unsigned long before = imap_fetch_parse_count();
	char *first, *second;

	first = fetch_msg(f, 1, "(ENVELOPE)", false);
	assert_int_equal(imap_fetch_parse_count(), before + 1);
	second = fetch_msg(f, 1, "(ENVELOPE)", false);
	assert_string_equal(first, second);
	/* the first parse filled BODY and BODYSTRUCTURE too */
	free(fetch_msg(f, 1, "(BODYSTRUCTURE BODY)", false));
	assert_int_equal(imap_fetch_parse_count(), before + 1);
	/* whole-message sections need no parse, part sections do */
	free(fetch_msg(f, 1, "BODY.PEEK[]", false));
	assert_int_equal(imap_fetch_parse_count(), before + 1);
	free(fetch_msg(f, 1, "BODY.PEEK[1.1]", false));
	assert_int_equal(imap_fetch_parse_count(), before + 2);
	free(first);
	free(second);
}

static char *crlf(const char *s)
{
	struct buf b;

	buf_init(&b);
	for (; *s != '\0'; s++) {
		if (*s == '\n' && (b.len == 0 || b.data[b.len - 1] != '\r'))
			buf_append_str(&b, "\r");
		buf_append(&b, s, 1);
	}
	buf_append_str(&b, "");
	return b.data;
}

static void test_whole_and_header_text(void **state)
{
	struct fixture *f = *state;
	char *conv = crlf(msg_simple), *expect;
	const char *body = strstr(conv, "\r\n\r\n") + 4;
	int hdr_len = (int)(body - conv);

	expect = xasprintf("* 1 FETCH (BODY[] {%zu}\r\n%s)\r\n", strlen(conv), conv);
	check_fetch(f, 0, "BODY.PEEK[]", expect);
	free(expect);
	expect = xasprintf("* 1 FETCH (RFC822 {%zu}\r\n%s RFC822.HEADER {%d}\r\n%.*s "
	                   "RFC822.TEXT {%zu}\r\n%s)\r\n",
	                   strlen(conv), conv, hdr_len, hdr_len, conv, strlen(body), body);
	check_fetch(f, 0, "(RFC822 RFC822.HEADER RFC822.TEXT)", expect);
	free(expect);
	expect = xasprintf("* 1 FETCH (BODY[HEADER] {%d}\r\n%.*s BODY[TEXT] {%zu}\r\n%s)\r\n",
	                   hdr_len, hdr_len, conv, strlen(body), body);
	check_fetch(f, 0, "(body.peek[header] BODY[text])", expect);
	free(expect);
	free(conv);
}

/* CRLF files go out unchanged; mixed line ends are converted LF by LF, a lone CR is data */
static void test_line_ends(void **state)
{
	struct fixture *f = *state;
	static const char mixed[] = "A: b\r\nC: d\n\nx\r\ny\rz\n";
	const char *error;
	char *expect;

	expect =
	    xasprintf("* 2 FETCH (BODY[] {%zu}\r\n%s)\r\n", sizeof(msg_nested) - 1, msg_nested);
	check_fetch(f, 1, "BODY.PEEK[]", expect);
	free(expect);
	assert_int_equal(mailbox_append(f->box, mixed, sizeof(mixed) - 1, 0, 0, NULL, &error), 0);
	assert_int_equal(mailbox_sync(f->box, &error), 0);
	check_fetch(f, 2, "(RFC822.SIZE BODY.PEEK[] BODY.PEEK[TEXT]<1.4> BODY.PEEK[HEADER])",
	            "* 3 FETCH (RFC822.SIZE 22 BODY[] {22}\r\nA: b\r\nC: d\r\n\r\nx\r\ny\rz\r\n "
	            "BODY[TEXT]<1> {4}\r\n\r\ny\r BODY[HEADER] {14}\r\nA: b\r\nC: d\r\n\r\n)\r\n");
}

static void test_part_sections(void **state)
{
	struct fixture *f = *state;

	check_fetch(f, 1, "BODY.PEEK[1.1]", "* 2 FETCH (BODY[1.1] {15}\r\nGr=C3=BC=C3=9Fe)\r\n");
	check_fetch(f, 1, "BODY.PEEK[1.2.MIME]",
	            "* 2 FETCH (BODY[1.2.MIME] {42}\r\n"
	            "Content-Type: text/html; charset=utf-8\r\n\r\n)\r\n");
	check_fetch(f, 1, "BODY.PEEK[2]",
	            "* 2 FETCH (BODY[2] {47}\r\n"
	            "From: x@y.example\r\nSubject: inner\r\n\r\ninner body)\r\n");
	check_fetch(f, 1, "BODY.PEEK[2.HEADER]",
	            "* 2 FETCH (BODY[2.HEADER] {37}\r\n"
	            "From: x@y.example\r\nSubject: inner\r\n\r\n)\r\n");
	check_fetch(f, 1, "BODY.PEEK[2.TEXT]", "* 2 FETCH (BODY[2.TEXT] {10}\r\ninner body)\r\n");
	check_fetch(f, 1, "BODY.PEEK[2.1]", "* 2 FETCH (BODY[2.1] {10}\r\ninner body)\r\n");
	check_fetch(f, 1, "BODY.PEEK[2.HEADER.FIELDS (subject)]",
	            "* 2 FETCH (BODY[2.HEADER.FIELDS (subject)] {18}\r\n"
	            "Subject: inner\r\n\r\n)\r\n");
	check_fetch(f, 1, "BODY.PEEK[3]", "* 2 FETCH (BODY[3] {8}\r\nc2VjcmV0)\r\n");
	/* parts that do not exist, and HEADER of a part that is not a message */
	check_fetch(f, 1, "(BODY.PEEK[4] BODY.PEEK[1.3] BODY.PEEK[3.HEADER])",
	            "* 2 FETCH (BODY[4] NIL BODY[1.3] NIL BODY[3.HEADER] NIL)\r\n");
	/* a non-multipart message: part 1 is its body */
	check_fetch(f, 0, "BODY.PEEK[1]",
	            "* 1 FETCH (BODY[1] {55}\r\n"
	            "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n)\r\n");
}

static void test_partials(void **state)
{
	struct fixture *f = *state;
	size_t size = sizeof(msg_simple) - 1 + 11;
	char *item, *expect;

	check_fetch(f, 0, "BODY.PEEK[]<0.6>", "* 1 FETCH (BODY[]<0> {6}\r\nDate: )\r\n");
	/* counted on the CRLF form: the first line is 36 octets + CRLF */
	check_fetch(f, 0, "BODY.PEEK[]<36.4>", "* 1 FETCH (BODY[]<36> {4}\r\n\r\nFr)\r\n");
	check_fetch(f, 0, "BODY.PEEK[TEXT]<6.100>",
	            "* 1 FETCH (BODY[TEXT]<6> {49}\r\n"
	            "Joe, do you think we can meet at 3:30 tomorrow?\r\n)\r\n");
	/* origin at and beyond the end: empty */
	item = xasprintf("BODY.PEEK[]<%zu.10>", size);
	expect = xasprintf("* 1 FETCH (BODY[]<%zu> {0}\r\n)\r\n", size);
	check_fetch(f, 0, item, expect);
	free(item);
	free(expect);
	check_fetch(f, 0, "BODY.PEEK[1]<99999.1>", "* 1 FETCH (BODY[1]<99999> {0}\r\n)\r\n");
	check_fetch(f, 1, "BODY.PEEK[2.HEADER.FIELDS (FROM)]<3.5>",
	            "* 2 FETCH (BODY[2.HEADER.FIELDS (FROM)]<3> {5}\r\nm: x@)\r\n");
	/* length 0 is not valid IMAP (nz-number): the parser refuses it */
	item = fetch_msg(f, 0, "BODY.PEEK[]<0.0>", false);
	assert_string_equal(item, "PARSER: Invalid partial");
	free(item);
}

static void test_header_fields(void **state)
{
	struct fixture *f = *state;

	/* names match case-insensitively; folded lines stay folded; order is the message's */
	check_fetch(f, 0, "BODY.PEEK[HEADER.FIELDS (SUBJECT from)]",
	            "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT from)] {96}\r\n"
	            "From: \"Fred \\\"the\\\" Foobar\" <foobar@Blurdybloop.example>\r\n"
	            "Subject: afternoon meeting\r\n again\r\n\r\n)\r\n");
	check_fetch(f, 0,
	            "BODY.PEEK[HEADER.FIELDS.NOT (Date From Subject To Message-ID "
	            "MIME-Version)]",
	            "* 1 FETCH (BODY[HEADER.FIELDS.NOT (Date From Subject To Message-ID "
	            "MIME-Version)] {90}\r\n"
	            "cc: =?UTF-8?Q?J=C3=B6rg?= <jorg@x.example>\r\n"
	            "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n)\r\n");
	/* no field matches: just the blank line; a prefix of a name is no match */
	check_fetch(f, 0, "BODY.PEEK[HEADER.FIELDS (X-None Subj)]",
	            "* 1 FETCH (BODY[HEADER.FIELDS (X-None Subj)] {2}\r\n\r\n)\r\n");
	/* names given as quoted strings and literals; rendered back as atoms or quoted */
	check_fetch(f, 0, "BODY.PEEK[HEADER.FIELDS (\"cc\" {7}\r\nSubject \"A b\")]",
	            "* 1 FETCH (BODY[HEADER.FIELDS (cc Subject \"A b\")] {82}\r\n"
	            "Subject: afternoon meeting\r\n again\r\n"
	            "cc: =?UTF-8?Q?J=C3=B6rg?= <jorg@x.example>\r\n\r\n)\r\n");
}

static void test_macros_and_uid(void **state)
{
	struct fixture *f = *state;
	const struct mail *m = mailbox_get(f->box, 1);
	char *out, *prefix;

	out = fetch_msg(f, 1, "FAST", true);
	prefix = xasprintf("* 2 FETCH (UID %u FLAGS (", m->uid);
	assert_memory_equal(out, prefix, strlen(prefix));
	assert_non_null(strstr(out, ") INTERNALDATE \"01-Mar-2022 05:00:00 -0500\" RFC822.SIZE "));
	assert_null(strstr(out, "ENVELOPE"));
	free(out);
	out = fetch_msg(f, 1, "ALL", false);
	free(prefix);
	prefix = xasprintf(" RFC822.SIZE %zu ENVELOPE (NIL \"nested\" ", sizeof(msg_nested) - 1);
	assert_non_null(strstr(out, prefix));
	assert_null(strstr(out, "BODY"));
	free(out);
	out = fetch_msg(f, 1, "full", false);
	assert_non_null(strstr(out, " ENVELOPE (NIL \"nested\" "));
	assert_non_null(strstr(out, " BODY (((\"text\" \"plain\""));
	free(out);
	/* UID already asked for is not repeated */
	out = fetch_msg(f, 1, "(FLAGS UID)", true);
	assert_non_null(strstr(out, "(FLAGS ("));
	assert_non_null(strstr(out, ") UID "));
	free(out);
	free(prefix);
}

static struct imap_fetch *parse_items(struct fixture *f, const char *items, const char **error_r)
{
	char *cmd = xasprintf("A FETCH 1:* %s\r\n", items);
	const struct imap_arg *args = parse_cmd(f, cmd);
	struct imap_fetch *fetch = NULL;

	xfree(&cmd);
	assert_non_null(args);
	assert_int_equal(args->count, 2);
	if (imap_fetch_parse(&args->list[1], false, &fetch, error_r) < 0)
		return NULL;
	return fetch;
}

static void test_parse_errors_and_seen(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
	    "FOO",           "(FLAGS FOO)", "(FLAGS ALL)", "BINARY.SIZE[1]<0.1>",
	    "(FLAGS (UID))", "\"FLAGS\"",   "NIL",         "(2 FLAGS)",
	    "(1:* FLAGS)",   "(* (FLAGS))", /* no whole argument lists */
	};
	static const struct {
		const char *items;
		bool seen;
	} seen[] = {
	    {"BODY[]", true},          {"BODY.PEEK[]", false},          {"RFC822", true},
	    {"RFC822.HEADER", false},  {"RFC822.TEXT", true},           {"(FLAGS BODY[1])", true},
	    {"FULL", false},           {"(BODY BODYSTRUCTURE)", false}, {"BINARY[1]", true},
	    {"BINARY.PEEK[1]", false}, {"BINARY.SIZE[1]", false},
	};
	struct imap_fetch *fetch;
	const char *error;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		error = NULL;
		assert_null(parse_items(f, bad[i], &error));
		assert_non_null(error);
	}
	for (size_t i = 0; i < sizeof(seen) / sizeof(seen[0]); i++) {
		fetch = parse_items(f, seen[i].items, &error);
		assert_non_null(fetch);
		assert_int_equal(imap_fetch_sets_seen(fetch), seen[i].seen);
		imap_fetch_free(&fetch);
	}
}

static void test_large_message_streams(void **state)
{
	struct fixture *f = *state;
	size_t lines = 60000, line_len = 50, size = lines * line_len;
	char *msg = xmalloc(size + 1), *out, *expect_head;
	const char *error;
	size_t pos = 0, crlf_size;

	pos += (size_t)sprintf(msg, "Subject: big\n\n");
	while (pos + line_len <= size) {
		memset(msg + pos, 'a' + (char)(pos % 26), line_len - 1);
		msg[pos + line_len - 1] = '\n';
		pos += line_len;
	}
	size = pos;
	assert_int_equal(mailbox_append(f->box, msg, size, 0, 0, NULL, &error), 0);
	assert_int_equal(mailbox_sync(f->box, &error), 0);
	assert_int_equal(mailbox_count(f->box), 3);
	crlf_size = size;
	for (size_t i = 0; i < size; i++)
		crlf_size += msg[i] == '\n';
	assert_int_equal(test_imap_crlf_size(f->box, 2), crlf_size);
	out = fetch_msg(f, 2, "BODY.PEEK[]", false);
	expect_head = xasprintf("* 3 FETCH (BODY[] {%zu}\r\n", crlf_size);
	assert_memory_equal(out, expect_head, strlen(expect_head));
	assert_int_equal(strlen(out), strlen(expect_head) + crlf_size + 3);
	/* every line of the literal ends in CRLF and the data is intact */
	{
		const char *p = out + strlen(expect_head);
		size_t k = 0;

		for (size_t i = 0; i < size; i++, k++) {
			if (msg[i] == '\n')
				assert_int_equal(p[k++], '\r');
			assert_int_equal(p[k], msg[i]);
		}
		assert_string_equal(p + k, ")\r\n");
	}
	free(out);
	/* a window in the middle */
	out = fetch_msg(f, 2, "BODY.PEEK[TEXT]<1000000.5>", false);
	{
		/* text lines are 49 letters + CRLF once converted; the text starts at 14 */
		size_t line = 1000000 / 51, col = 1000000 % 51, raw = 14 + line * line_len + col;
		char want[64];

		assert_true(col + 5 <= 49);
		snprintf(want, sizeof(want), "* 3 FETCH (BODY[TEXT]<1000000> {5}\r\n%.5s)\r\n",
		         msg + raw);
		assert_string_equal(out, want);
	}
	free(out);
	free(expect_head);
	free(msg);
}

/* Private_Dirty (KiB) of the executable's data and bss: its writable mappings and the
 * anonymous ones right after them (bss beyond the file), up to the heap. */
static size_t exe_data_dirty_kib(void)
{
	char exe[512], line[1024];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	FILE *fp = fopen("/proc/self/smaps", "r");
	bool counting = false, in_exe = false;
	size_t total = 0, kib;

	assert_true(n > 0);
	exe[n] = '\0';
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		unsigned long lo, hi;
		char perms[8], path[512] = "";

		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %511s", &lo, &hi, perms, path) >= 3 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			bool mine = strcmp(path, exe) == 0;

			counting = perms[1] == 'w' && (mine || (in_exe && path[0] == '\0'));
			in_exe = mine || (in_exe && path[0] == '\0' && counting);
			continue;
		}
		if (counting && sscanf(line, "Private_Dirty: %zu kB", &kib) == 1)
			total += kib;
	}
	fclose(fp);
	return total;
}

/* FETCH reads message files through chunk buffers that must not stay dirty in the worker
 * (static buffers did, 64 KiB each, for its life): a body FETCH and a parse of a 300 KB
 * message leave the executable's data and bss as dirty as before. Runs first, before other
 * tests of this process touch anything big. */
static void test_no_static_chunks(void **state)
{
	struct fixture *f = *state;
	size_t size = 300000, before, after;
	char *msg = xmalloc(size), *out;
	const char *error;

	memcpy(msg, "Subject: big\n\n", 14);
	for (size_t i = 14; i < size; i++)
		msg[i] = i % 64 == 63 ? '\n' : 'a' + (char)(i % 26);
	assert_int_equal(mailbox_append(f->box, msg, size, 0, 0, NULL, &error), 0);
	assert_int_equal(mailbox_sync(f->box, &error), 0);
	/* small fetches first: whatever they touch once is not counted */
	free(fetch_msg(f, 0, "BODY.PEEK[] BODYSTRUCTURE", false));
	before = exe_data_dirty_kib();
	out = fetch_msg(f, mailbox_count(f->box) - 1, "BODY.PEEK[] BODYSTRUCTURE", false);
	assert_non_null(strstr(out, "BODY[] {"));
	free(out);
	after = exe_data_dirty_kib();
	assert_true(after < before + 32);
	free(msg);
}

static void test_vanished_message(void **state)
{
	struct fixture *f = *state;
	struct imap_fetch *fetch = NULL;
	const char *error = NULL;
	char path[1024];
	struct dirent *de;
	DIR *dir;

	snprintf(path, sizeof(path), "%s/cur", f->root);
	dir = opendir(path);
	assert_non_null(dir);
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/cur/%s", f->root, de->d_name);
			assert_int_equal(unlink(path), 0);
		}
	}
	closedir(dir);
	fetch = parse_items(f, "BODY.PEEK[]", &error);
	assert_non_null(fetch);
	assert_int_equal(imap_fetch_write(fetch, f->box, 0, 1, f->conn, &error), 0);
	imap_fetch_free(&fetch);
	free(take_output(f));
}

/* A file that shrank under us: the literal is padded to its announced size, the response
 * closed, and the message reported unavailable (the caller's tagged NO says so). */
static void test_truncated_file(void **state)
{
	struct fixture *f = *state;
	struct imap_fetch *fetch;
	const char *error = NULL;
	char path[1024], *out, *expect;
	struct dirent *de;
	size_t size = test_imap_crlf_size(f->box, 0);
	DIR *dir;

	snprintf(path, sizeof(path), "%s/cur", f->root);
	assert_non_null(dir = opendir(path));
	while ((de = readdir(dir)) != NULL) {
		struct stat st;

		/* message 1 is the only file of its size */
		snprintf(path, sizeof(path), "%s/cur/%s", f->root, de->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    (size_t)st.st_size == sizeof(msg_simple) - 1)
			break;
	}
	closedir(dir);
	assert_non_null(de);
	assert_int_equal(truncate(path, 10), 0);
	fetch = parse_items(f, "BODY.PEEK[]", &error);
	assert_non_null(fetch);
	assert_int_equal(imap_fetch_write(fetch, f->box, 0, 1, f->conn, &error), 0);
	assert_true(mailbox_msg_unavailable(f->box, 0));
	imap_fetch_free(&fetch);
	out = take_output(f);
	expect =
	    xasprintf("* 1 FETCH (BODY[] {%zu}\r\nDate: Mon,%*s)\r\n", size, (int)size - 10, "");
	assert_string_equal(out, expect);
	free(out);
	free(expect);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_no_static_chunks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_top_level_message_rfc822, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flags_date_size_uid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_envelope_quoting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bodystructure_nested, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cache_avoids_reparse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_whole_and_header_text, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_line_ends, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_part_sections, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_partials, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_header_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_macros_and_uid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_errors_and_seen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_large_message_streams, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_vanished_message, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncated_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
