/* Search contexts (RFC 5267 section 4) in sessions of the fork-over-socketpair harness, on a
 * real maildir: SEARCH and SORT with RETURN (UPDATE) keep their results and report ADDTO and
 * REMOVEFROM for this session's STORE, another session's change, an arrival and an expunge;
 * CANCELUPDATE, tag reuse and NOUPDATE, with exact responses. Run under valgrind too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "session-harness.h"

#include <stdio.h>
#include <string.h>

static void expect_untagged(struct srv *c, const char *prefix)
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
	srv_setup("context", AUTH_PROTO_IMAP);
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

static void select_inbox(struct srv *c)
{
	srv_send(c, "s SELECT INBOX\r\n");
	srv_imap_expect_tagged(c, "s OK [READ-WRITE]");
}

static void logout(struct srv *c)
{
	srv_send(c, "q LOGOUT\r\n");
	srv_imap_expect_tagged(c, "q OK");
	srv_wait(c);
}

static void test_search_context(void **state)
{
	struct srv c;

	(void)state;
	srv_imap_login(&c);
	select_inbox(&c);
	srv_send(&c, "u1 UID SEARCH RETURN (UPDATE) UNSEEN\r\n");
	srv_expect(&c, "* ESEARCH (TAG \"u1\") UID\r\n");
	srv_expect(&c, "u1 OK Search completed.\r\n");
	srv_send(&c, "t1 STORE 1 +FLAGS (\\Seen)\r\n");
	srv_expect(&c, "* 1 FETCH (FLAGS (\\Seen \\Recent))\r\n");
	srv_expect(&c, "* ESEARCH (TAG \"u1\") UID REMOVEFROM (0 1)\r\n");
	srv_expect(&c, "t1 OK Store completed.\r\n");
	/* a STORE that changes nothing the search reads reports nothing */
	srv_send(&c, "t2 STORE 1:2 +FLAGS (\\Answered)\r\n");
	srv_expect(&c, "* 1 FETCH (FLAGS (\\Answered \\Seen \\Recent))\r\n");
	srv_expect(&c, "* 2 FETCH (FLAGS (\\Answered \\Recent))\r\n");
	srv_expect(&c, "t2 OK Store completed.\r\n");
	srv_send(&c, "t3 STORE 1 -FLAGS.SILENT (\\Seen)\r\n");
	srv_expect(&c, "* ESEARCH (TAG \"u1\") UID ADDTO (0 1)\r\n");
	srv_expect(&c, "t3 OK Store completed.\r\n");
	srv_send(&c, "t4 STORE 2 +FLAGS.SILENT (\\Deleted)\r\n");
	srv_expect(&c, "t4 OK Store completed.\r\n");
	srv_send(&c, "x EXPUNGE\r\n");
	srv_expect(&c, "* ESEARCH (TAG \"u1\") UID REMOVEFROM (0 2)\r\n");
	srv_expect(&c, "* 2 EXPUNGE\r\n");
	srv_expect(&c, "* 1 RECENT\r\n");
	srv_expect(&c, "x OK Expunge completed.\r\n");
	srv_send(&c, "c1 CANCELUPDATE \"u1\"\r\n");
	srv_expect(&c, "c1 OK Updates cancelled.\r\n");
	srv_send(&c, "t5 STORE 1 +FLAGS.SILENT (\\Seen)\r\n");
	srv_expect(&c, "t5 OK Store completed.\r\n");
	srv_send(&c, "c2 CANCELUPDATE \"u1\"\r\n");
	srv_expect(&c, "c2 BAD No search with that tag is being updated.\r\n");
	logout(&c);
}

/* A SORT context keeps the sort order: an arrival goes where the criteria put it. */
static void test_sort_context_and_arrival(void **state)
{
	struct srv c;

	(void)state;
	srv_imap_login(&c);
	select_inbox(&c);
	srv_send(&c, "o1 SORT RETURN (UPDATE ALL) (REVERSE SUBJECT) UTF-8 ALL\r\n");
	srv_expect(&c, "* ESEARCH (TAG \"o1\") ALL 2,1\r\n");
	srv_expect(&c, "o1 OK Sort completed.\r\n");
	srv_write_msg("new", "1700000003.M3P1.test", "Subject: three\r\n\r\nthird\r\n");
	srv_send(&c, "n NOOP\r\n");
	srv_expect(&c, "* 3 EXISTS\r\n");
	srv_expect(&c, "* 3 RECENT\r\n");
	/* two > three > one, reversed */
	srv_expect(&c, "* ESEARCH (TAG \"o1\") ADDTO (2 3)\r\n");
	srv_expect(&c, "n OK NOOP completed.\r\n");
	srv_send(&c, "t STORE 3 +FLAGS.SILENT (\\Deleted)\r\n");
	srv_expect(&c, "t OK Store completed.\r\n");
	srv_send(&c, "x EXPUNGE\r\n");
	srv_expect(&c, "* ESEARCH (TAG \"o1\") REMOVEFROM (2 3)\r\n");
	srv_expect(&c, "* 3 EXPUNGE\r\n");
	srv_expect(&c, "* 2 RECENT\r\n");
	srv_expect(&c, "x OK Expunge completed.\r\n");
	logout(&c);
}

/* Session B's flag change reaches A's context at A's next NOOP. */
static void test_other_session(void **state)
{
	struct srv a, b;

	(void)state;
	srv_imap_login(&a);
	srv_imap_login(&b);
	select_inbox(&a);
	select_inbox(&b);
	srv_send(&a, "f SEARCH RETURN (UPDATE COUNT) FLAGGED\r\n");
	srv_expect(&a, "* ESEARCH (TAG \"f\") COUNT 0\r\n");
	srv_expect(&a, "f OK Search completed.\r\n");
	srv_send(&b, "t STORE 2 +FLAGS (\\Flagged)\r\n");
	srv_imap_expect_tagged(&b, "t OK Store completed.\r\n");
	srv_send(&a, "n NOOP\r\n");
	expect_untagged(&a, "* 2 FETCH (UID 2 FLAGS (\\Flagged");
	srv_expect(&a, "* ESEARCH (TAG \"f\") ADDTO (0 2)\r\n");
	srv_expect(&a, "n OK NOOP completed.\r\n");
	logout(&b);
	logout(&a);
}

static void test_tag_reuse_and_limit(void **state)
{
	static const char *const tags[] = {"a1", "a2", "a3", "a4"};
	char cmd[64];
	struct srv c;

	(void)state;
	srv_imap_login(&c);
	select_inbox(&c);
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		snprintf(cmd, sizeof(cmd), "%s SEARCH RETURN (UPDATE) ALL\r\n", tags[i]);
		srv_send(&c, cmd);
		srv_imap_expect_tagged(&c, tags[i]);
	}
	srv_send(&c, "a1 SORT RETURN (UPDATE) (DATE) UTF-8 ALL\r\n");
	srv_expect(&c, "a1 BAD Tag reuse.\r\n");
	srv_send(&c, "a5 SEARCH RETURN (UPDATE MIN) ALL\r\n");
	srv_expect(&c, "* ESEARCH (TAG \"a5\") MIN 1\r\n");
	srv_expect(&c, "* NO [NOUPDATE \"a5\"] Too many contexts.\r\n");
	srv_expect(&c, "a5 OK Search completed.\r\n");
	srv_send(&c, "c CANCELUPDATE \"a1\" \"a9\"\r\n");
	srv_expect(&c, "c BAD No search with that tag is being updated.\r\n");
	srv_send(&c, "c CANCELUPDATE \"a1\" \"a2\"\r\n");
	srv_expect(&c, "c OK Updates cancelled.\r\n");
	srv_send(&c, "a6 SEARCH RETURN (UPDATE COUNT) ALL\r\n");
	srv_expect(&c, "* ESEARCH (TAG \"a6\") COUNT 2\r\n");
	srv_expect(&c, "a6 OK Search completed.\r\n");
	/* UNSELECT ends them all */
	srv_send(&c, "u UNSELECT\r\n");
	srv_imap_expect_tagged(&c, "u OK");
	select_inbox(&c);
	srv_send(&c, "c CANCELUPDATE \"a3\"\r\n");
	srv_expect(&c, "c BAD No search with that tag is being updated.\r\n");
	logout(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_search_context, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sort_context_and_arrival, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tag_reuse_and_limit, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
