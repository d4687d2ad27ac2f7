/* Unit tests for the SEARCH engine (server/imap/imap-search*.c): programs read by the real IMAP
 * parser, matched against a real maildir made through storage, results rendered exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/test-imap-command.h"
#include "tests/unit/test-tmpdir.h"

#include "common/buf.h"
#include "common/xalloc.h"
#include "server/imap/imap-parser.h"
#include "server/imap/imap-search.h"
#include "storage/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct fixture {
	char root[512];
	int rootfd;
	struct mail_storage *st;
	struct mailbox *box;
	struct imap_parser *parser;
};

/* 1: plain text, encoded-word subject, every address header */
static const char msg1[] = "Date: Mon, 7 Feb 1994 21:52:25 -0800\n"
                           "From: \"Fred Foobar\" <fred@example.com>\n"
                           "To: alice@example.org\n"
                           "Cc: bob@example.org\n"
                           "Bcc: carol@hidden.example\n"
                           "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus\n"
                           " =?ISO-8859-1?Q?K=F6ln?=\n"
                           "X-Priority: 1\n"
                           "\n"
                           "The quick brown fox\n";

/* 2: multipart with a base64 UTF-8 part and a quoted-printable Latin-1 part */
static const char msg2[] = "Date: Tue, 01 Mar 2022 10:00:00 +0000\n"
                           "From: bob@example.org\n"
                           "To: fred@example.com\n"
                           "Subject: Re: lunch\n"
                           "Content-Type: multipart/mixed; boundary=b\n"
                           "\n"
                           "--b\n"
                           "Content-Type: text/plain; charset=utf-8\n"
                           "Content-Transfer-Encoding: base64\n"
                           "\n"
                           /* "Ünïcödé body words" */
                           "w5xuw69jw7Zkw6kgYm9keSB3b3Jkcw==\n"
                           "--b\n"
                           "Content-Type: text/plain; charset=iso-8859-1\n"
                           "Content-Transfer-Encoding: quoted-printable\n"
                           "\n"
                           "Un caf=E9 cr=E8me, s'il vous pla=EEt, avec un tr=\n"
                           "=E8s long mot\n"
                           "--b--\n";

/* 3: no Date field, raw UTF-8 Greek subject, a nested message */
static const char msg3[] = "From: Zoe <zoe@example.net>\n"
                           "Subject: \xce\x91\xce\x92\xce\x93 greek\n"
                           "Content-Type: message/rfc822\n"
                           "\n"
                           "From: inner@example.net\n"
                           "Subject: innersubject\n"
                           "\n"
                           "nothing here\n";

/* 4: an attachment whose decoded bytes must not match BODY */
static const char msg4[] = "Date: 15 Jun 23 08:00 GMT\n"
                           "From: dan@example.com\n"
                           "Subject: attachment\n"
                           "Content-Type: multipart/mixed; boundary=zz\n"
                           "\n"
                           "--zz\n"
                           "Content-Type: text/plain\n"
                           "\n"
                           "see file\n"
                           "--zz\n"
                           "Content-Type: application/octet-stream\n"
                           "Content-Transfer-Encoding: base64\n"
                           "\n"
                           "aGlkZGVud29yZA==\n" /* "hiddenword" */
                           "--zz--\n";

static const struct {
	const char *data;
	size_t len;
	unsigned flags;
	time_t date;
} msgs[] = {
    {msg1, sizeof(msg1) - 1, MAIL_SEEN | MAIL_ANSWERED, 760003200},    /* 1994-01-31 08:00 UTC */
    {msg2, sizeof(msg2) - 1, MAIL_FLAGGED | MAIL_DELETED, 1646128800}, /* 2022-03-01 10:00 */
    {msg3, sizeof(msg3) - 1, MAIL_DRAFT, 1686787200},                  /* 2023-06-15 00:00 */
    {msg4, sizeof(msg4) - 1, 0, 1686873599},                           /* 2023-06-15 23:59:59 */
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	const char *error = NULL;
	int kw;

	setenv("TZ", "UTC", 1);
	tzset();
	test_tmpdir_make(f->root, sizeof(f->root), "imap-search");
	f->rootfd = open(f->root, O_RDONLY | O_DIRECTORY);
	assert_true(f->rootfd >= 0);
	assert_int_equal(mail_storage_open(f->rootfd, &f->st, &error), 0);
	/* messages 1-2 are seen by an earlier session; 3-4 arrive for this one (\Recent) */
	assert_int_equal(mailbox_open_imap(f->st, "INBOX", false, &f->box, &error), 1);
	for (size_t i = 0; i < 4; i++) {
		if (i == 2) {
			assert_int_equal(mailbox_sync(f->box, &error), 0);
			mailbox_close(&f->box);
			assert_int_equal(mailbox_open_imap(f->st, "INBOX", false, &f->box, &error),
			                 1);
		}
		assert_int_equal(mailbox_append(f->box, msgs[i].data, msgs[i].len, msgs[i].flags,
		                                msgs[i].date, NULL, &error),
		                 0);
	}
	assert_int_equal(mailbox_sync(f->box, &error), 0);
	assert_int_equal(mailbox_count(f->box), 4);
	kw = mailbox_keyword_index(f->box, "$Label1", true);
	assert_true(kw >= 0);
	assert_int_equal(mailbox_set_keywords(f->box, 1, (uint64_t)1 << kw, 0, &error), 1);
	f->parser = imap_parser_new(&imap_parser_limits_default);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	imap_parser_free(&f->parser);
	mailbox_close(&f->box);
	mail_storage_close(&f->st);
	close(f->rootfd);
	test_tmpdir_remove(f->root);
	free(f);
	return 0;
}

static const struct imap_arg *parse_cmd(struct fixture *f, const char *cmd, size_t len)
{
	const struct imap_arg *args = test_imap_command_parse(f->parser, cmd, len);

	assert_non_null(args);
	return args;
}

/* Runs SEARCH <program> over the mailbox: "1 3", "" or "BAD ..." / "NO BADCHARSET ...". */
/* What "$" names in the searches of the running test (SEARCHRES). */
static const uint32_t *test_saved;
static size_t test_saved_count;

static char *search_len(struct fixture *f, const char *program, size_t plen, bool uid)
{
	struct buf cmd, out;
	const struct imap_arg *args;
	struct imap_search *s = NULL;
	const char *error = NULL;
	bool badcs = true;
	uint32_t matches[8];
	size_t n = 0;

	buf_init(&cmd);
	buf_init(&out);
	buf_append_str(&cmd, "A1 SEARCH ");
	buf_append(&cmd, program, plen);
	buf_append_str(&cmd, "\r\n");
	args = parse_cmd(f, cmd.data, cmd.len);
	buf_free(&cmd);
	if (imap_search_parse(args, &s, &badcs, &error) < 0) {
		assert_non_null(error);
		return xasprintf("%s %s", badcs ? "NO BADCHARSET" : "BAD", error);
	}
	assert_false(badcs);
	imap_search_set_saved(s, test_saved, test_saved_count);
	for (size_t i = 0; i < mailbox_count(f->box); i++) {
		int ret = imap_search_match(s, f->box, i, (uint32_t)i + 1, 4, &error);

		assert_true(ret >= 0);
		if (ret == 1)
			matches[n++] = uid ? mailbox_get(f->box, i)->uid : (uint32_t)i + 1;
	}
	imap_search_render(s, "A1", uid, matches, n, &out);
	imap_search_free(&s);
	return out.data;
}

static void check(struct fixture *f, const char *program, const char *expect)
{
	char *out = search_len(f, program, strlen(program), false);
	const char *got = out;

	if (strncmp(got, "* SEARCH", 8) == 0)
		got += got[8] == ' ' ? 9 : 8;
	if (strcmp(got, expect) != 0)
		fail_msg("SEARCH %s: got \"%s\", want \"%s\"", program, got, expect);
	free(out);
}

static void test_flags(void **state)
{
	struct fixture *f = *state;

	check(f, "ALL", "1 2 3 4");
	check(f, "ANSWERED", "1");
	check(f, "UNANSWERED", "2 3 4");
	check(f, "DELETED", "2");
	check(f, "UNDELETED", "1 3 4");
	check(f, "DRAFT", "3");
	check(f, "UNDRAFT", "1 2 4");
	check(f, "FLAGGED", "2");
	check(f, "UNFLAGGED", "1 3 4");
	check(f, "seen", "1");
	check(f, "UNSEEN", "2 3 4");
	check(f, "RECENT", "3 4");
	check(f, "OLD", "1 2");
	check(f, "NEW", "3 4");
	check(f, "NEW DRAFT", "3");
	check(f, "KEYWORD $Label1", "2");
	check(f, "keyword $label1", "2"); /* keywords are case-insensitive */
	check(f, "UNKEYWORD $Label1", "1 3 4");
	check(f, "KEYWORD $Nothing", "");
	check(f, "UNKEYWORD $Nothing", "1 2 3 4");
}

static void test_sizes_and_sets(void **state)
{
	struct fixture *f = *state;
	/* sizes as sent with CRLF: every line of these LF files gains one octet */
	uint64_t s1 = test_imap_crlf_size(f->box, 0), s3 = test_imap_crlf_size(f->box, 2);
	char prog[64], *out;

	assert_int_equal(s1, sizeof(msg1) - 1 + 10);
	snprintf(prog, sizeof(prog), "LARGER %llu", (unsigned long long)s1);
	check(f, prog, "2 4");
	snprintf(prog, sizeof(prog), "LARGER %llu", (unsigned long long)s1 - 1);
	check(f, prog, "1 2 4");
	snprintf(prog, sizeof(prog), "SMALLER %llu", (unsigned long long)s3 + 1);
	check(f, prog, "3");
	snprintf(prog, sizeof(prog), "SMALLER %llu", (unsigned long long)s3);
	check(f, prog, "");
	check(f, "2:3", "2 3");
	check(f, "*", "4");
	check(f, "3:*", "3 4");
	check(f, "4:2", "2 3 4");
	check(f, "1,3,9", "1 3");
	snprintf(prog, sizeof(prog), "UID %u:*", mailbox_get(f->box, 2)->uid);
	check(f, prog, "3 4");
	snprintf(prog, sizeof(prog), "UID %u,%u", mailbox_get(f->box, 0)->uid,
	         mailbox_get(f->box, 3)->uid);
	check(f, prog, "1 4");
	check(f, "UID 4000000000", "");
	/* UID SEARCH reports UIDs */
	out = search_len(f, "DRAFT", 5, true);
	snprintf(prog, sizeof(prog), "* SEARCH %u", mailbox_get(f->box, 2)->uid);
	assert_string_equal(out, prog);
	free(out);
}

static void test_dates(void **state)
{
	struct fixture *f = *state;

	/* internal dates, whole days in the server's zone */
	check(f, "BEFORE 1-Mar-2022", "1");
	check(f, "ON 01-Mar-2022", "2");
	check(f, "SINCE 1-Mar-2022", "2 3 4");
	check(f, "ON 15-Jun-2023", "3 4");
	check(f, "SINCE 16-Jun-2023", "");
	check(f, "BEFORE \"31-Jan-1994\"", "");
	check(f, "ON 31-jan-1994", "1");
	/* Date: as written (its own zone); 3 has none and uses its internal date; 4 is 2-digit */
	check(f, "SENTON 7-Feb-1994", "1");
	check(f, "SENTBEFORE 8-Feb-1994", "1");
	check(f, "SENTSINCE 1-Mar-2022", "2 3 4");
	check(f, "SENTON 15-Jun-2023", "3 4");
	check(f, "SENTBEFORE 1-Mar-2022", "1");
}

static void test_headers(void **state)
{
	struct fixture *f = *state;

	check(f, "FROM fred", "1");
	check(f, "FROM FOOBAR", "1");
	check(f, "FROM \"fred foobar\"", "1");
	check(f, "TO fred", "2");
	check(f, "TO ALICE@example", "1");
	check(f, "CC bob", "1");
	check(f, "BCC carol@hidden", "1");
	check(f, "BCC bob", "");
	check(f, "SUBJECT lunch", "2");
	check(f, "SUBJECT innersubject", ""); /* only the top-level header */
	/* encoded-words decoded (two charsets, folded line), then case-folded */
	check(f,
	      "CHARSET UTF-8 SUBJECT \"gr\xc3\xbc\xc3\x9f"
	      "e aus k\xc3\xb6ln\"",
	      "1");
	check(f,
	      "CHARSET UTF-8 SUBJECT \"GR\xc3\x9c\xc3\x9f"
	      "E\"",
	      "1");
	check(f, "CHARSET UTF-8 SUBJECT {6}\r\n\xce\xb1\xce\xb2\xce\xb3", "3");
	check(f, "SUBJECT \"=?UTF-8?\"", ""); /* the encoded form is not what is searched */
	check(f, "HEADER X-Priority 1", "1");
	check(f, "HEADER x-priority \"\"", "1");
	check(f, "HEADER Date \"\"", "1 2 4");
	check(f, "HEADER X-Missing \"\"", "");
	check(f, "HEADER subject ATTACH", "4");
}

/* FROM TO CC BCC search the parsed addresses: comments, routes and quoting do not hide them. */
static void test_addresses_parsed(void **state)
{
	static const char m[] = "From: Ed (the editor) <ed (a) @ (b) example.net>\n"
	                        "To: <@route.example:frank@example.org>, team: gina@example.org;\n"
	                        "Cc: =?ISO-8859-1?Q?J=F6rg?= <jorg@x.example>\n"
	                        "Bcc: \"hal\"@example.org\n"
	                        "Subject: addresses\n"
	                        "\n"
	                        "body\n";
	struct fixture *f = *state;
	const char *error = NULL;

	assert_int_equal(mailbox_append(f->box, m, sizeof(m) - 1, 0, 0, NULL, &error), 0);
	assert_int_equal(mailbox_sync(f->box, &error), 0);
	check(f, "FROM ed@example.net", "5");
	check(f, "FROM \"ed <ed@example\"", "5");
	check(f, "FROM \"(a)\"", "");
	check(f, "TO frank@example.org", "5");
	check(f, "TO route.example", "");
	check(f, "TO gina@example.org", "5");
	check(f, "TO team", "5");
	check(f, "CHARSET UTF-8 CC \"j\xc3\xb6rg <jorg@\"", "5");
	check(f, "BCC hal@example.org", "5");
	/* HEADER still searches the text as written */
	check(f, "HEADER From \"(a) @ (b)\"", "5");
}

static void test_body_and_text(void **state)
{
	struct fixture *f = *state;

	check(f, "BODY QUICK", "1");
	check(f, "BODY fred", "");    /* the header is not the body */
	check(f, "TEXT fred", "1 2"); /* ... but is part of TEXT */
	check(f, "TEXT \"brown fox\"", "1");
	check(f,
	      "CHARSET UTF-8 BODY \"\xc3\xbcn\xc3\xaf"
	      "c\xc3\xb6"
	      "d\xc3\xa9 body\"",
	      "2");
	check(f, "CHARSET UTF-8 BODY \"caf\xc3\xa9 CR\xc3\x88ME\"", "2"); /* Latin-1, QP */
	check(f, "CHARSET UTF-8 BODY \"tr\xc3\xa8s long\"", "2");         /* soft line break */
	check(f, "BODY hiddenword", "");     /* attachments are not text */
	check(f, "BODY aGlkZGVud29yZA", ""); /* nor their encoded form */
	check(f, "BODY innersubject", "3");  /* a nested message's header is body */
	check(f, "BODY \"nothing here\"", "3");
	check(f, "BODY \"see file\"", "4");
	check(f, "TEXT \"\"", "1 2 3 4");
}

static void test_nesting(void **state)
{
	struct fixture *f = *state;
	struct buf prog;
	char *out;

	check(f, "OR SEEN FLAGGED", "1 2");
	check(f, "NOT (OR SEEN FLAGGED)", "3 4");
	check(f, "OR (SEEN ANSWERED) DRAFT", "1 3");
	check(f, "NOT NOT SEEN", "1");
	check(f, "OR OR SEEN DRAFT FLAGGED", "1 2 3");
	check(f, "(OR FROM fred FROM zoe) (NOT SUBJECT greek)", "1");
	check(f, "UNSEEN ((TEXT file)) 1:4", "4");
	check(f, "OR BODY quick NOT 1:3", "1 4");
	check(f, "NOT ALL", "");
	/* explicit nesting bound: 60 NOTs are fine, 100 are refused */
	buf_init(&prog);
	for (int i = 0; i < 60; i++)
		buf_append_str(&prog, "NOT ");
	buf_append_str(&prog, "SEEN");
	check(f, prog.data, "1");
	buf_reset(&prog);
	for (int i = 0; i < 100; i++)
		buf_append_str(&prog, "NOT ");
	buf_append_str(&prog, "SEEN");
	out = search_len(f, prog.data, prog.len, false);
	assert_string_equal(out, "BAD Search program nested too deeply");
	free(out);
	buf_free(&prog);
}

static void test_charsets_and_errors(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *program;
		const char *expect;
	} bad[] = {
	    {"CHARSET ISO-8859-1 FROM fred", "NO BADCHARSET Unsupported charset"},
	    {"CHARSET KOI8-R ALL", "NO BADCHARSET Unsupported charset"},
	    {"FOO", "BAD Unknown search key"},
	    {"FROM", "BAD Missing search argument"},
	    {"OR SEEN", "BAD Missing search argument"},
	    {"BEFORE 32-Jan-2020", "BAD Invalid search date"},
	    {"ON 1-Foo-2020", "BAD Invalid search date"},
	    {"SINCE 1-Jan-20", "BAD Invalid search date"},
	    {"LARGER x", "BAD Invalid number"},
	    {"LARGER -1", "BAD Invalid number"},
	    {"()", "BAD Empty search group"},
	    {"CHARSET UTF-8", "BAD Missing search keys"},
	    {"RETURN (FUZZY) ALL", "BAD Unsupported RETURN option"},
	    {"RETURN ALL", "BAD RETURN needs a list of options"},
	    {"RETURN (PARTIAL 1:5 ALL) ALL", "BAD RETURN cannot have both PARTIAL and ALL"},
	    {"RETURN (PARTIAL 1:5 PARTIAL 6:9) ALL", "BAD RETURN option given twice"},
	    {"RETURN (MIN MIN) ALL", "BAD RETURN option given twice"},
	    {"RETURN (PARTIAL) ALL", "BAD PARTIAL needs a range m:n or -m:-n"},
	    {"RETURN (PARTIAL 0:5) ALL", "BAD PARTIAL needs a range m:n or -m:-n"},
	    {"RETURN (PARTIAL 1:*) ALL", "BAD PARTIAL needs a range m:n or -m:-n"},
	    {"RETURN (PARTIAL -1:5) ALL", "BAD PARTIAL needs a range m:n or -m:-n"},
	    {"RETURN (PARTIAL 1:4294967296) ALL", "BAD PARTIAL needs a range m:n or -m:-n"},
	    {"RETURN (PARTIAL (1:5)) ALL", "BAD PARTIAL needs a range m:n or -m:-n"},
	    {"FROM (fred)", "BAD Invalid search string"},
	};
	char *out;

	check(f, "CHARSET US-ASCII FROM fred", "1");
	check(f, "charset utf-8 FROM fred", "1");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		out = search_len(f, bad[i].program, strlen(bad[i].program), false);
		if (strncmp(out, bad[i].expect, strlen(bad[i].expect)) != 0)
			fail_msg("SEARCH %s: got \"%s\", want \"%s\"", bad[i].program, out,
			         bad[i].expect);
		free(out);
	}
	/* a string that is not UTF-8, and a literal with a NUL */
	out = search_len(f, "CHARSET UTF-8 BODY {2}\r\n\xff\xfe", 26, false);
	assert_string_equal(out, "BAD Search string is not valid UTF-8");
	free(out);
	out = search_len(f, "BODY {3}\r\na\0b", 13, false);
	assert_string_equal(out, "BAD Invalid search string");
	free(out);
	/* '$' (SEARCHRES) with nothing saved names no message; "$1" is no set */
	check(f, "$", "");
	check(f, "UID $", "");
	out = search_len(f, "$1", 2, false);
	assert_memory_equal(out, "BAD ", 4);
	free(out);
}

/* "$" and "UID $" name the saved result (RFC 5182), whatever the sequence numbers. */
static void test_saved_result(void **state)
{
	struct fixture *f = *state;
	uint32_t saved[2] = {mailbox_get(f->box, 1)->uid, mailbox_get(f->box, 3)->uid};

	test_saved = saved;
	test_saved_count = 2;
	check(f, "$", "2 4");
	check(f, "UID $", "2 4");
	check(f, "NOT $", "1 3");
	check(f, "OR $ 1", "1 2 4");
	test_saved_count = 0;
	check(f, "$", "");
	test_saved = NULL;
}

static void render(const char *program, bool uid, const uint32_t *m, size_t n, const char *expect)
{
	struct imap_parser *p = imap_parser_new(&imap_parser_limits_default);
	char *cmd = xasprintf("A1 SEARCH %s\r\n", program);
	struct imap_search *s = NULL;
	const char *error = NULL;
	struct buf out;
	size_t used;
	bool badcs;

	assert_int_equal(imap_parser_feed(p, cmd, strlen(cmd), &used), IMAP_PARSE_DONE);
	assert_int_equal(imap_search_parse(imap_parser_args(p), &s, &badcs, &error), 0);
	buf_init(&out);
	imap_search_render(s, "A1", uid, m, n, &out);
	assert_string_equal(out.data, expect);
	buf_free(&out);
	imap_search_free(&s);
	imap_parser_free(&p);
	xfree(&cmd);
}

static void test_esearch_render(void **state)
{
	static const uint32_t m[] = {1, 2, 3, 5, 7, 8, 9, 4000000000u};

	render("ALL", false, m, 3, "* SEARCH 1 2 3");
	render("ALL", false, m, 0, "* SEARCH");
	render("RETURN (MIN MAX ALL COUNT) ALL", true, m, 8,
	       "* ESEARCH (TAG \"A1\") UID MIN 1 MAX 4000000000 ALL 1:3,5,7:9,4000000000 COUNT 8");
	render("RETURN (COUNT MIN) ALL", false, m, 7, "* ESEARCH (TAG \"A1\") MIN 1 COUNT 7");
	render("RETURN (ALL) ALL", false, m + 3, 1, "* ESEARCH (TAG \"A1\") ALL 5");
	render("RETURN () ALL", false, m, 2, "* ESEARCH (TAG \"A1\") ALL 1:2");
	/* nothing matched: MIN, MAX and ALL are left out, COUNT 0 stays */
	render("RETURN (MIN MAX ALL COUNT) ALL", false, m, 0, "* ESEARCH (TAG \"A1\") COUNT 0");
	render("RETURN (MAX) ALL", true, m, 0, "* ESEARCH (TAG \"A1\") UID");
}

/* RFC 5267 section 4.4 and RFC 9394: the window, the range echoed as written, NIL when empty;
 * MIN, MAX and COUNT still cover every match. */
static void test_partial_render(void **state)
{
	static const uint32_t m[] = {1, 2, 3, 5, 7, 8, 9, 4000000000u};

	render("RETURN (PARTIAL 2:4) ALL", true, m, 8,
	       "* ESEARCH (TAG \"A1\") UID PARTIAL (2:4 2:3,5)");
	render("RETURN (PARTIAL 4:2) ALL", false, m, 8,
	       "* ESEARCH (TAG \"A1\") PARTIAL (4:2 2:3,5)");
	render("RETURN (PARTIAL -1:-3) ALL", false, m, 8,
	       "* ESEARCH (TAG \"A1\") PARTIAL (-1:-3 8:9,4000000000)");
	render("RETURN (PARTIAL 7:100) ALL", false, m, 8,
	       "* ESEARCH (TAG \"A1\") PARTIAL (7:100 9,4000000000)");
	render("RETURN (PARTIAL -8:-100) ALL", false, m, 8,
	       "* ESEARCH (TAG \"A1\") PARTIAL (-8:-100 1)");
	render("RETURN (PARTIAL 9:10) ALL", false, m, 8,
	       "* ESEARCH (TAG \"A1\") PARTIAL (9:10 NIL)");
	render("RETURN (PARTIAL -9:-9) ALL", false, m, 8,
	       "* ESEARCH (TAG \"A1\") PARTIAL (-9:-9 NIL)");
	render("RETURN (partial 1:1 COUNT MIN MAX) ALL", false, m, 8,
	       "* ESEARCH (TAG \"A1\") MIN 1 MAX 4000000000 PARTIAL (1:1 1) COUNT 8");
	render("RETURN (PARTIAL 1:4294967295) ALL", false, m, 0,
	       "* ESEARCH (TAG \"A1\") PARTIAL (1:4294967295 NIL)");
	/* SORT's order: ranges only where it ascends by one */
	render("RETURN (ALL MIN MAX) ALL", false, (const uint32_t[]){9, 8, 2, 3, 4, 1}, 6,
	       "* ESEARCH (TAG \"A1\") MIN 9 MAX 1 ALL 9,8,2:4,1");
}

static void test_partial_window(void **state)
{
	size_t first, n;

	imap_search_partial_window(3, 5, 10, &first, &n);
	assert_true(first == 2 && n == 3);
	imap_search_partial_window(-1, -1, 10, &first, &n);
	assert_true(first == 9 && n == 1);
	imap_search_partial_window(-10, -20, 10, &first, &n);
	assert_true(first == 0 && n == 1);
	imap_search_partial_window(11, 4294967295, 10, &first, &n);
	assert_true(n == 0);
	imap_search_partial_window(1, 4294967295, 0, &first, &n);
	assert_true(n == 0);
}

static void test_return_flags(void **state)
{
	struct imap_parser *p = imap_parser_new(&imap_parser_limits_default);
	static const char cmd[] = "A1 SEARCH RETURN (MAX COUNT) CHARSET UTF-8 ALL\r\n";
	struct imap_search *s = NULL;
	const char *error = NULL;
	size_t used;
	bool badcs;

	assert_int_equal(imap_parser_feed(p, cmd, sizeof(cmd) - 1, &used), IMAP_PARSE_DONE);
	assert_int_equal(imap_search_parse(imap_parser_args(p), &s, &badcs, &error), 0);
	assert_true(imap_search_is_esearch(s));
	assert_int_equal(imap_search_return(s), IMAP_SEARCH_RETURN_MAX | IMAP_SEARCH_RETURN_COUNT);
	imap_search_free(&s);
	imap_parser_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_flags, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sizes_and_sets, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dates, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_headers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_addresses_parsed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_body_and_text, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nesting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_charsets_and_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_saved_result, setup, teardown),
	    cmocka_unit_test(test_esearch_render),
	    cmocka_unit_test(test_return_flags),
	    cmocka_unit_test(test_partial_render),
	    cmocka_unit_test(test_partial_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
