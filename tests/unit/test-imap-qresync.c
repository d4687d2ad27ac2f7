/* QRESYNC (RFC 7162 3.2): the UID set operations and SELECT's QRESYNC parameter parser, and
 * sessions (the fork-over-socketpair harness, a real maildir) answering ENABLE QRESYNC, SELECT
 * (QRESYNC ...) with VANISHED (EARLIER) and FETCH, UID FETCH (CHANGEDSINCE n VANISHED),
 * VANISHED instead of EXPUNGE (its own and another session's), [CLOSED] and CLOSE's
 * HIGHESTMODSEQ, with exact responses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "session-harness.h"

#include "common/buf.h"
#include "common/xalloc.h"
#include "server/imap/imap-condstore.h"
#include "server/imap/imap-uidset.h"

#include <stdio.h>
#include <string.h>

/* ---- UID sets and the parser ---- */

static void assert_set(const struct mailbox_uid_range *set, size_t count, const char *want)
{
	struct buf text;

	buf_init(&text);
	imap_uidset_render(&text, set, count);
	buf_append(&text, "", 1);
	assert_string_equal(text.data, want);
	buf_free(&text);
}

static void test_uidset(void **state)
{
	static const uint32_t present[] = {2, 3, 8, 20};
	static const struct mailbox_uid_range b[] = {{2, 7}, {9, 30}};
	struct mailbox_uid_range *set, *out;
	size_t count, n;

	(void)state;
	assert_int_equal(imap_uidset_parse("9:7,5,1:3,4,*", 20, &set, &count), 0);
	assert_set(set, count, "1:5,7:9,20");
	assert_int_equal(imap_uidset_size(set, count), 9);
	imap_uidset_intersect(set, count, b, 2, &out, &n);
	assert_set(out, n, "2:5,7,9,20");
	xfree(&out);
	imap_uidset_absent(set, count, present, 4, &out, &n);
	assert_set(out, n, "1,4:5,7,9");
	xfree(&out);
	xfree(&set);
	assert_int_equal(imap_uidset_parse("1,*", 0, &set, &count), -1);
	assert_int_equal(imap_uidset_parse("0", 5, &set, &count), -1);
	assert_int_equal(imap_uidset_parse("1,,2", 5, &set, &count), -1);
	assert_int_equal(imap_uidset_parse("4294967295:1", 0, &set, &count), 0);
	assert_set(set, count, "1:4294967295");
	xfree(&set);
}

static struct imap_parser *parse_line(const char *line)
{
	struct imap_parser *p = imap_parser_new(&imap_parser_limits_default);
	size_t used;

	assert_int_equal(imap_parser_feed(p, (const unsigned char *)line, strlen(line), &used),
	                 IMAP_PARSE_DONE);
	return p;
}

/* The n-th argument of "t X <args>" as SELECT parameters: the parse result. */
static int parse_params(const char *args, struct imap_select_params *sp)
{
	char line[512];
	struct imap_parser *p;
	const char *error;
	int r;

	snprintf(line, sizeof(line), "t X %s\r\n", args);
	p = parse_line(line);
	r = imap_select_params_parse(&imap_parser_args(p)->list[0], sp, &error);
	imap_parser_free(&p);
	return r;
}

static void test_select_params(void **state)
{
	struct imap_select_params sp;

	(void)state;
	assert_int_equal(parse_params("(QRESYNC (67890007 90060115194045000 41,43:211,214:541))",
	                              &sp),
	                 0);
	assert_true(sp.qresync && !sp.condstore);
	assert_int_equal(sp.q.uidvalidity, 67890007);
	assert_int_equal(sp.q.modseq, 90060115194045000ULL);
	assert_set(sp.q.known, sp.q.known_count, "41,43:211,214:541");
	assert_null(sp.q.seqs);
	imap_select_params_free(&sp);
	assert_int_equal(parse_params("(CONDSTORE QRESYNC (1 2 (1:3,5 1,4:5,9)))", &sp), 0);
	assert_true(sp.qresync && sp.condstore);
	assert_null(sp.q.known);
	assert_set(sp.q.seqs, sp.q.seqs_count, "1:3,5");
	assert_set(sp.q.uids, sp.q.uids_count, "1,4:5,9");
	imap_select_params_free(&sp);
	assert_int_equal(parse_params("(QRESYNC (1 2 1:10 (1:3 1:2)))", &sp), -1);
	imap_select_params_free(&sp);
	static const char *const bad[] = {
	    "(QRESYNC)",         "(QRESYNC (1))",          "(QRESYNC (0 1))",
	    "(QRESYNC (1 x))",   "(QRESYNC (1 2 1:*))",    "(QRESYNC (1 2) QRESYNC (1 2))",
	    "(QRESYNC 1)",       "(QRESYNC (1 2 3 4))",    "(QRESYNC (1 2 (1:2 1:2) 3))",
	    "(QRESYNC (1 2 ()))", "(QRESYNC (4294967296 1))",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_params(bad[i], &sp) != -1)
			fail_msg("accepted %s", bad[i]);
		imap_select_params_free(&sp);
	}
}

/* ---- sessions ---- */

static int setup(void **state)
{
	char name[64];

	(void)state;
	srv_setup("qresync", AUTH_PROTO_IMAP);
	for (int i = 1; i <= 5; i++) {
		snprintf(name, sizeof(name), "170000000%d.M%dP1.test", i, i);
		srv_write_msg("new", name, "Subject: m\r\n\r\nbody\r\n");
	}
	srv_cfg->login_timeout = 5;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	srv_teardown();
	return 0;
}

static void logout(struct srv *c)
{
	srv_send(c, "q LOGOUT\r\n");
	srv_imap_expect_tagged(c, "q OK");
	srv_wait(c);
}

static void login_qresync(struct srv *c)
{
	srv_imap_login(c);
	srv_send(c, "e ENABLE QRESYNC\r\n");
	srv_expect(c, "* ENABLED QRESYNC\r\n");
	srv_expect(c, "e OK Enabled.\r\n");
}

/* Sends a command and takes its untagged lines up to the tagged one (which must start with
 * tagged) into out, concatenated. */
static void run(struct srv *c, const char *cmd, const char *tagged, char *out, size_t size)
{
	size_t len = 0;
	const char *line;

	srv_send(c, cmd);
	out[0] = '\0';
	while ((line = srv_line(c))[0] == '*') {
		assert_true(len + strlen(line) < size);
		memcpy(out + len, line, strlen(line) + 1);
		len += strlen(line);
	}
	if (strncmp(line, tagged, strlen(tagged)) != 0)
		fail_msg("expected \"%s\", got \"%s\"", tagged, line);
}

/* The lines of out from the one starting with from. */
static const char *after(const char *out, const char *from)
{
	const char *p = strstr(out, from);

	if (p == NULL)
		fail_msg("no \"%s\" in \"%s\"", from, out);
	return p;
}

/* Session A: UID 2 \Seen (MODSEQ 3), UID 4 expunged (MODSEQ 5); returns UIDVALIDITY. */
static unsigned changes_by_a(void)
{
	struct srv a;
	char out[4096];
	unsigned uidvalidity;

	login_qresync(&a);
	run(&a, "s SELECT INBOX\r\n", "s OK", out, sizeof(out));
	assert_int_equal(sscanf(after(out, "* OK [UIDVALIDITY "), "* OK [UIDVALIDITY %u]",
	                        &uidvalidity),
	                 1);
	assert_non_null(strstr(out, "* OK [HIGHESTMODSEQ 2] Highest.\r\n"));
	srv_send(&a, "t STORE 2,4 +FLAGS (\\Seen)\r\n");
	srv_expect(&a, "* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent) MODSEQ (3))\r\n");
	srv_expect(&a, "* 4 FETCH (UID 4 FLAGS (\\Seen \\Recent) MODSEQ (3))\r\n");
	srv_expect(&a, "t OK Store completed.\r\n");
	srv_send(&a, "u UID STORE 4 +FLAGS.SILENT (\\Deleted)\r\n");
	srv_expect(&a, "* 4 FETCH (UID 4 MODSEQ (4))\r\n");
	srv_expect(&a, "u OK Store completed.\r\n");
	srv_send(&a, "x EXPUNGE\r\n");
	srv_expect(&a, "* VANISHED 4\r\n");
	srv_expect(&a, "* 4 RECENT\r\n");
	srv_expect(&a, "x OK [HIGHESTMODSEQ 5] Expunge completed.\r\n");
	logout(&a);
	return uidvalidity;
}

static void test_select_resync(void **state)
{
	char cmd[256], out[4096];
	unsigned v = changes_by_a();
	struct srv b;

	(void)state;
	srv_imap_login(&b);
	snprintf(cmd, sizeof(cmd), "s SELECT INBOX (QRESYNC (%u 2))\r\n", v);
	srv_send(&b, cmd);
	srv_expect(&b, "s BAD QRESYNC needs ENABLE QRESYNC.\r\n");
	logout(&b);

	login_qresync(&b);
	run(&b, cmd, "s OK [READ-WRITE] Select completed.\r\n", out, sizeof(out));
	assert_string_equal(after(out, "* OK [HIGHESTMODSEQ"),
	                    "* OK [HIGHESTMODSEQ 5] Highest.\r\n"
	                    "* VANISHED (EARLIER) 4\r\n"
	                    "* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (3))\r\n");
	/* known-uids limit both; the mailbox replaced is CLOSED first */
	snprintf(cmd, sizeof(cmd), "s EXAMINE INBOX (QRESYNC (%u 2 1,3:5))\r\n", v);
	run(&b, cmd, "s OK [READ-ONLY] Examine completed.\r\n", out, sizeof(out));
	assert_memory_equal(out, "* OK [CLOSED] Previous mailbox closed.\r\n", 40);
	assert_string_equal(after(out, "* OK [HIGHESTMODSEQ"),
	                    "* OK [HIGHESTMODSEQ 5] Highest.\r\n"
	                    "* VANISHED (EARLIER) 4\r\n");
	/* another UIDVALIDITY: the parameter is ignored */
	snprintf(cmd, sizeof(cmd), "s EXAMINE INBOX (QRESYNC (%u 2))\r\n", v + 1);
	run(&b, cmd, "s OK [READ-ONLY] Examine completed.\r\n", out, sizeof(out));
	assert_string_equal(after(out, "* OK [HIGHESTMODSEQ"), "* OK [HIGHESTMODSEQ 5] Highest.\r\n");
	/* up to date: nothing */
	snprintf(cmd, sizeof(cmd), "s EXAMINE INBOX (QRESYNC (%u 5))\r\n", v);
	run(&b, cmd, "s OK [READ-ONLY] Examine completed.\r\n", out, sizeof(out));
	assert_string_equal(after(out, "* OK [HIGHESTMODSEQ"), "* OK [HIGHESTMODSEQ 5] Highest.\r\n");
	logout(&b);
}

/* Below the record's floor (0 here) the mailbox answers with every absent UID the client
 * names, less those its sequence numbers show it knows about. */
static void test_select_below_floor(void **state)
{
	char cmd[256], out[4096];
	unsigned v = changes_by_a();
	struct srv b;

	(void)state;
	login_qresync(&b);
	snprintf(cmd, sizeof(cmd), "s EXAMINE INBOX (QRESYNC (%u 0 1:9))\r\n", v);
	run(&b, cmd, "s OK", out, sizeof(out));
	assert_string_equal(after(out, "* VANISHED"),
	                    "* VANISHED (EARLIER) 4\r\n"
	                    "* 1 FETCH (UID 1 FLAGS () MODSEQ (2))\r\n"
	                    "* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (3))\r\n"
	                    "* 3 FETCH (UID 3 FLAGS () MODSEQ (2))\r\n"
	                    "* 4 FETCH (UID 5 FLAGS () MODSEQ (2))\r\n");
	/* the client's message 4 is UID 5: it knew 4 was gone */
	snprintf(cmd, sizeof(cmd), "s EXAMINE INBOX (QRESYNC (%u 0 1:5 (1:4 1:3,5)))\r\n", v);
	run(&b, cmd, "s OK", out, sizeof(out));
	assert_null(strstr(out, "VANISHED"));
	/* its message 3 is no longer UID 3: all it names may be gone */
	snprintf(cmd, sizeof(cmd), "s EXAMINE INBOX (QRESYNC (%u 0 1:5 (1:3 1,2,4)))\r\n", v);
	run(&b, cmd, "s OK", out, sizeof(out));
	assert_non_null(strstr(out, "* VANISHED (EARLIER) 4\r\n"));
	logout(&b);
}

static void test_fetch_vanished(void **state)
{
	char out[4096];
	unsigned v = changes_by_a();
	struct srv b;

	(void)state;
	(void)v;
	login_qresync(&b);
	run(&b, "s SELECT INBOX\r\n", "s OK", out, sizeof(out));
	run(&b, "f UID FETCH 1:* (FLAGS) (CHANGEDSINCE 2 VANISHED)\r\n", "f OK Fetch completed.",
	    out, sizeof(out));
	assert_string_equal(out, "* VANISHED (EARLIER) 4\r\n"
	                         "* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (3))\r\n");
	run(&b, "f UID FETCH 1:3 (FLAGS) (CHANGEDSINCE 3 VANISHED)\r\n", "f OK Fetch completed.",
	    out, sizeof(out));
	assert_string_equal(out, "");
	srv_send(&b, "b1 FETCH 1:* (FLAGS) (CHANGEDSINCE 2 VANISHED)\r\n");
	srv_expect(&b, "b1 BAD VANISHED needs UID FETCH.\r\n");
	srv_send(&b, "b2 UID FETCH 1:* (FLAGS) (VANISHED)\r\n");
	srv_expect(&b, "b2 BAD FETCH modifiers need CHANGEDSINCE.\r\n");
	srv_send(&b, "c CLOSE\r\n");
	srv_expect(&b, "c OK [HIGHESTMODSEQ 5] Close completed.\r\n");
	logout(&b);
}

/* Session B's expunge reaches A as VANISHED at A's next NOOP; a MOVE is reported as one. */
static void test_other_session_vanished(void **state)
{
	struct srv a, b;
	char out[4096];

	(void)state;
	login_qresync(&a);
	run(&a, "s SELECT INBOX\r\n", "s OK", out, sizeof(out));
	srv_imap_login(&b);
	run(&b, "s SELECT INBOX\r\n", "s OK", out, sizeof(out));
	run(&b, "t STORE 1:2 +FLAGS.SILENT (\\Deleted)\r\n", "t OK", out, sizeof(out));
	run(&b, "x EXPUNGE\r\n", "x OK Expunge completed.", out, sizeof(out));
	assert_string_equal(out, "* 2 EXPUNGE\r\n* 1 EXPUNGE\r\n");
	run(&a, "n NOOP\r\n", "n OK NOOP completed.", out, sizeof(out));
	assert_string_equal(out, "* VANISHED 1:2\r\n* 3 RECENT\r\n");
	run(&a, "m MOVE 2 Trash\r\n", "m OK", out, sizeof(out));
	assert_non_null(strstr(out, "* VANISHED 4\r\n"));
	assert_null(strstr(out, "EXPUNGE"));
	logout(&b);
	logout(&a);
}

/* CLOSE tells the HIGHESTMODSEQ the client has seen everything up to, or none while another
 * session's expunge it was not told of lies in the view (FETCH may not report it). */
static void test_close_modseq(void **state)
{
	struct srv a, b;
	char out[4096];

	(void)state;
	login_qresync(&a);
	run(&a, "s SELECT INBOX\r\n", "s OK", out, sizeof(out));
	run(&a, "t STORE 5 +FLAGS.SILENT (\\Deleted)\r\n", "t OK", out, sizeof(out));
	assert_string_equal(out, "* 5 FETCH (UID 5 MODSEQ (3))\r\n");
	run(&a, "c CLOSE\r\n", "c OK [HIGHESTMODSEQ 3] Close completed.", out, sizeof(out));
	assert_string_equal(out, "");
	run(&a, "s SELECT INBOX\r\n", "s OK", out, sizeof(out));
	srv_imap_login(&b);
	run(&b, "s SELECT INBOX\r\n", "s OK", out, sizeof(out));
	run(&b, "t STORE 1 +FLAGS.SILENT (\\Deleted)\r\n", "t OK", out, sizeof(out));
	run(&b, "x EXPUNGE\r\n", "x OK", out, sizeof(out));
	run(&a, "f FETCH 2 (FLAGS)\r\n", "f OK", out, sizeof(out));
	assert_null(strstr(out, "VANISHED"));
	run(&a, "c CLOSE\r\n", "c OK Close completed.", out, sizeof(out));
	logout(&b);
	logout(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uidset),
	    cmocka_unit_test(test_select_params),
	    cmocka_unit_test_setup_teardown(test_select_resync, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_select_below_floor, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fetch_vanished, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_session_vanished, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_modseq, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
