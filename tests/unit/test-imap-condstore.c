/* CONDSTORE (RFC 7162): its parameter parsers, and sessions (the fork-over-socketpair
 * harness, a real maildir) answering ENABLE, SELECT (CONDSTORE), FETCH MODSEQ / CHANGEDSINCE,
 * STORE UNCHANGEDSINCE with [MODIFIED], SEARCH MODSEQ, STATUS HIGHESTMODSEQ and the MODSEQ of
 * another session's change, with exact responses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "session-harness.h"

#include "common/xalloc.h"
#include "server/imap/imap-condstore.h"

#include <stdio.h>
#include <string.h>

/* ---- parsers ---- */

static void test_modseq_numbers(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(imap_modseq_parse("1", false, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(imap_modseq_parse("9223372036854775807", false, &v), 0);
	assert_int_equal(v, INT64_MAX);
	assert_int_equal(imap_modseq_parse("9223372036854775808", false, &v), -1);
	assert_int_equal(imap_modseq_parse("99999999999999999999", false, &v), -1);
	assert_int_equal(imap_modseq_parse("0", false, &v), -1);
	assert_int_equal(imap_modseq_parse("0", true, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(imap_modseq_parse("01", true, &v), -1);
	assert_int_equal(imap_modseq_parse("", true, &v), -1);
	assert_int_equal(imap_modseq_parse("1a", true, &v), -1);
	assert_int_equal(imap_modseq_parse("-1", true, &v), -1);
}

/* An argument tree made by the real parser from a command line. */
static struct imap_parser *parse_line(const char *line)
{
	struct imap_parser *p = imap_parser_new(&imap_parser_limits_default);
	size_t used;

	assert_int_equal(imap_parser_feed(p, (const unsigned char *)line, strlen(line), &used),
	                 IMAP_PARSE_DONE);
	return p;
}

static const struct imap_arg *arg_n(struct imap_parser *p, unsigned n)
{
	const struct imap_arg *root = imap_parser_args(p);

	assert_true(n < root->count);
	return &root->list[n];
}

static void test_modifier_lists(void **state)
{
	struct imap_parser *p = parse_line("t X (CHANGEDSINCE 12 VANISHED) (UNCHANGEDSINCE 0)"
	                                   " (CONDSTORE) (CHANGEDSINCE) (UNCHANGEDSINCE 1 2)"
	                                   " (CHANGEDSINCE 1 CHANGEDSINCE 2) (FOO) ()\r\n");
	struct imap_fetch_mods fm;
	struct imap_select_params sp;
	const char *error;
	uint64_t u;

	(void)state;
	assert_int_equal(imap_fetch_mods_parse(arg_n(p, 0), &fm, &error), 0);
	assert_int_equal(fm.changedsince, 12);
	assert_true(fm.changedsince_set && fm.vanished);
	assert_int_equal(imap_store_mods_parse(arg_n(p, 1), &u, &error), 0);
	assert_int_equal(u, 0);
	assert_int_equal(imap_select_params_parse(arg_n(p, 2), &sp, &error), 0);
	assert_true(sp.condstore);
	assert_int_equal(imap_fetch_mods_parse(arg_n(p, 3), &fm, &error), -1);
	assert_int_equal(imap_store_mods_parse(arg_n(p, 4), &u, &error), -1);
	assert_int_equal(imap_fetch_mods_parse(arg_n(p, 5), &fm, &error), -1);
	assert_int_equal(imap_select_params_parse(arg_n(p, 6), &sp, &error), -1);
	assert_int_equal(imap_fetch_mods_parse(arg_n(p, 7), &fm, &error), -1);
	assert_int_equal(imap_store_mods_parse(arg_n(p, 0), &u, &error), -1);
	imap_parser_free(&p);
}

static void test_search_key(void **state)
{
	struct imap_parser *p =
	    parse_line("t SEARCH MODSEQ 5 MODSEQ \"/flags/\\\\draft\" all 6 MODSEQ \"/x\" all 1"
	               " MODSEQ \"/flags/a\" bad 1 MODSEQ\r\n");
	const struct imap_arg *root = imap_parser_args(p);
	uint64_t v;

	(void)state;
	assert_int_equal(imap_search_modseq_parse(&root->list[0], root->count, &v), 2);
	assert_int_equal(v, 5);
	assert_int_equal(imap_search_modseq_parse(&root->list[2], root->count - 2, &v), 4);
	assert_int_equal(v, 6);
	assert_int_equal(imap_search_modseq_parse(&root->list[6], root->count - 6, &v), -1);
	assert_int_equal(imap_search_modseq_parse(&root->list[10], root->count - 10, &v), -1);
	assert_int_equal(imap_search_modseq_parse(&root->list[14], 1, &v), -1);
	imap_parser_free(&p);
}

/* ---- sessions ---- */

/* Skips untagged lines up to one that starts with prefix. */
static void srv_expect_untagged(struct srv *c, const char *prefix)
{
	const char *line;

	do {
		line = srv_line(c);
		if (line[0] != '*')
			fail_msg("expected \"%s\", got \"%s\"", prefix, line);
	} while (strncmp(line, prefix, strlen(prefix)) != 0);
}

static int setup(void **state)
{
	(void)state;
	srv_setup("condstore", AUTH_PROTO_IMAP);
	srv_write_msg("new", "1700000001.M1P1.test", "Subject: one\r\n\r\nfirst\r\n");
	srv_write_msg("new", "1700000002.M2P1.test", "Subject: two\r\n\r\nsecond\r\n");
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

/* The two messages arrived in one transaction: MODSEQ 2 each (an index starts at 1). */
static void test_enable_select_fetch(void **state)
{
	struct srv c;

	(void)state;
	srv_imap_login(&c);
	srv_send(&c, "e1 ENABLE CONDSTORE\r\n");
	srv_expect(&c, "* ENABLED CONDSTORE\r\n");
	srv_expect(&c, "e1 OK Enabled.\r\n");
	srv_send(&c, "e2 ENABLE condstore\r\n");
	srv_expect(&c, "* ENABLED\r\n");
	srv_expect(&c, "e2 OK Enabled.\r\n");
	srv_send(&c, "s SELECT INBOX (CONDSTORE)\r\n");
	srv_expect_untagged(&c, "* OK [HIGHESTMODSEQ 2] Highest.\r\n");
	srv_expect(&c, "s OK [READ-WRITE] Select completed.\r\n");
	srv_send(&c, "f1 FETCH 1:* (UID MODSEQ)\r\n");
	srv_expect(&c, "* 1 FETCH (UID 1 MODSEQ (2))\r\n");
	srv_expect(&c, "* 2 FETCH (UID 2 MODSEQ (2))\r\n");
	srv_expect(&c, "f1 OK Fetch completed.\r\n");
	srv_send(&c, "t1 STORE 1 +FLAGS (\\Seen)\r\n");
	srv_expect(&c, "* 1 FETCH (FLAGS (\\Seen \\Recent) MODSEQ (3))\r\n");
	srv_expect(&c, "t1 OK Store completed.\r\n");
	srv_send(&c, "f2 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 2)\r\n");
	srv_expect(&c, "* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) MODSEQ (3))\r\n");
	srv_expect(&c, "f2 OK Fetch completed.\r\n");
	srv_send(&c, "st STATUS INBOX (HIGHESTMODSEQ MESSAGES)\r\n");
	srv_expect(&c, "* STATUS \"INBOX\" (HIGHESTMODSEQ 3 MESSAGES 2)\r\n");
	srv_expect(&c, "st OK Status completed.\r\n");
	logout(&c);
}

static void test_unchangedsince_and_search(void **state)
{
	struct srv c;

	(void)state;
	srv_imap_login(&c);
	srv_send(&c, "s SELECT INBOX\r\n");
	srv_expect_untagged(&c, "* OK [HIGHESTMODSEQ 2] Highest.\r\n");
	srv_expect(&c, "s OK [READ-WRITE] Select completed.\r\n");
	/* not enabled yet: no MODSEQ */
	srv_send(&c, "t1 STORE 2 +FLAGS (\\Answered)\r\n");
	srv_expect(&c, "* 2 FETCH (FLAGS (\\Answered \\Recent))\r\n");
	srv_expect(&c, "t1 OK Store completed.\r\n");
	/* message 2 changed since 2: not stored, reported in MODIFIED; .SILENT still tells a
	 * CONDSTORE client the new MODSEQ */
	srv_send(&c, "t2 UID STORE 1:2 (UNCHANGEDSINCE 2) +FLAGS.SILENT (\\Flagged)\r\n");
	srv_expect(&c, "* 1 FETCH (UID 1 MODSEQ (4))\r\n");
	srv_expect(&c, "t2 OK [MODIFIED 2] Store completed.\r\n");
	srv_send(&c, "t3 STORE 1:2 (UNCHANGEDSINCE 0) -FLAGS (\\Flagged)\r\n");
	srv_expect(&c, "t3 OK [MODIFIED 1:2] Store completed.\r\n");
	srv_send(&c, "r1 SEARCH MODSEQ 4\r\n");
	srv_expect(&c, "* SEARCH 1 (MODSEQ 4)\r\n");
	srv_expect(&c, "r1 OK Search completed.\r\n");
	srv_send(&c, "r2 SEARCH MODSEQ \"/flags/\\\\draft\" all 3\r\n");
	srv_expect(&c, "* SEARCH 1 2 (MODSEQ 4)\r\n");
	srv_expect(&c, "r2 OK Search completed.\r\n");
	srv_send(&c, "r3 UID SEARCH RETURN (ALL) MODSEQ 5\r\n");
	srv_expect(&c, "* ESEARCH (TAG \"r3\") UID\r\n");
	srv_expect(&c, "r3 OK Search completed.\r\n");
	srv_send(&c, "r4 SEARCH RETURN (COUNT) MODSEQ 1\r\n");
	srv_expect(&c, "* ESEARCH (TAG \"r4\") COUNT 2 MODSEQ 4\r\n");
	srv_expect(&c, "r4 OK Search completed.\r\n");
	logout(&c);
}

static void test_bad_modifiers(void **state)
{
	struct srv c;

	(void)state;
	srv_imap_login(&c);
	srv_send(&c, "b0 SELECT INBOX (FOO)\r\n");
	srv_expect(&c, "b0 BAD Invalid SELECT parameters.\r\n");
	srv_send(&c, "s EXAMINE INBOX (CONDSTORE)\r\n");
	srv_imap_expect_tagged(&c, "s OK [READ-ONLY] Examine completed.\r\n");
	srv_send(&c, "b1 FETCH 1 (FLAGS) (CHANGEDSINCE x)\r\n");
	srv_expect(&c, "b1 BAD Invalid FETCH modifiers.\r\n");
	srv_send(&c, "b2 UID FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n");
	srv_expect(&c, "b2 BAD VANISHED needs ENABLE QRESYNC.\r\n");
	srv_send(&c, "b3 STORE 1 (UNCHANGEDSINCE) +FLAGS (\\Seen)\r\n");
	srv_expect(&c, "b3 BAD Invalid STORE modifiers.\r\n");
	srv_send(&c, "b4 SEARCH MODSEQ\r\n");
	srv_expect(&c, "b4 BAD Invalid MODSEQ search key\r\n");
	srv_send(&c, "b5 SEARCH MODSEQ 99999999999999999999\r\n");
	srv_expect(&c, "b5 BAD Invalid MODSEQ search key\r\n");
	logout(&c);
}

/* Session B's change reaches session A with its MODSEQ. */
static void test_other_session(void **state)
{
	struct srv a, b;

	(void)state;
	srv_imap_login(&a);
	srv_imap_login(&b);
	srv_send(&a, "s SELECT INBOX (CONDSTORE)\r\n");
	srv_imap_expect_tagged(&a, "s OK");
	srv_send(&b, "s SELECT INBOX\r\n");
	srv_imap_expect_tagged(&b, "s OK");
	srv_send(&b, "t STORE 2 +FLAGS (\\Flagged)\r\n");
	srv_imap_expect_tagged(&b, "t OK Store completed.\r\n");
	srv_send(&a, "n NOOP\r\n");
	srv_expect(&a, "* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent) MODSEQ (3))\r\n");
	srv_expect(&a, "n OK NOOP completed.\r\n");
	/* A has not synced since B's change: its conditional STORE still sees it */
	srv_send(&b, "t2 STORE 1 +FLAGS (\\Deleted)\r\n");
	srv_imap_expect_tagged(&b, "t2 OK Store completed.\r\n");
	srv_send(&a, "t UID STORE 1 (UNCHANGEDSINCE 3) +FLAGS (\\Seen)\r\n");
	srv_imap_expect_tagged(&a, "t OK [MODIFIED 1] Store completed.\r\n");
	logout(&b);
	logout(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_modseq_numbers),
	    cmocka_unit_test(test_modifier_lists),
	    cmocka_unit_test(test_search_key),
	    cmocka_unit_test_setup_teardown(test_enable_select_fetch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unchangedsince_and_search, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_modifiers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_session, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
