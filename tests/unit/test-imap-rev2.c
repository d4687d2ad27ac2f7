/* IMAP4rev2 responses (RFC 9051) and SEARCHRES (RFC 5182) in sessions of the fork-over-socketpair
 * harness, on a real maildir, with exact responses; run under valgrind too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "session-harness.h"

#include <string.h>

static void skip_untagged(struct srv *c, const char *prefix)
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
	srv_setup("rev2", AUTH_PROTO_IMAP);
	srv_write_msg("new", "1700000001.M1P1.test", "Subject: one\r\n\r\nfirst\r\n");
	srv_write_msg("new", "1700000002.M2P1.test", "Subject: two\r\n\r\nsecond\r\n");
	srv_write_msg("new", "1700000003.M3P1.test", "Subject: three\r\n\r\nthird\r\n");
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

static void test_rev2_responses(void **state)
{
	struct srv c;

	(void)state;
	srv_imap_login(&c);
	srv_send(&c, "e ENABLE IMAP4rev2\r\n");
	srv_expect(&c, "* ENABLED IMAP4rev2\r\n");
	srv_expect(&c, "e OK Enabled.\r\n");
	srv_send(&c, "s SELECT INBOX\r\n");
	skip_untagged(&c, "* OK [PERMANENTFLAGS");
	srv_expect(&c, "* 3 EXISTS\r\n");
	skip_untagged(&c, "* OK [HIGHESTMODSEQ");
	srv_expect(&c, "* LIST (\\HasNoChildren) \".\" \"INBOX\"\r\n");
	srv_expect(&c, "s OK [READ-WRITE] Select completed.\r\n");
	srv_send(&c, "f FETCH 1 (FLAGS)\r\n");
	srv_expect(&c, "* 1 FETCH (FLAGS ())\r\n");
	srv_expect(&c, "f OK Fetch completed.\r\n");
	srv_send(&c, "t STORE 2 +FLAGS (\\Deleted)\r\n");
	srv_expect(&c, "* 2 FETCH (FLAGS (\\Deleted))\r\n");
	srv_expect(&c, "t OK Store completed.\r\n");
	srv_send(&c, "r SEARCH UNDELETED\r\n");
	srv_expect(&c, "* ESEARCH (TAG \"r\") ALL 1,3\r\n");
	srv_expect(&c, "r OK Search completed.\r\n");
	srv_send(&c, "st STATUS INBOX (DELETED MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN SIZE "
	             "APPENDLIMIT HIGHESTMODSEQ)\r\n");
	skip_untagged(&c, "* STATUS \"INBOX\" (DELETED 1 MESSAGES 3 ");
	srv_expect(&c, "st OK Status completed.\r\n");
	srv_send(&c, "x EXPUNGE\r\n");
	srv_expect(&c, "* 2 EXPUNGE\r\n");
	srv_expect(&c, "x OK Expunge completed.\r\n");
	logout(&c);
}

static void test_searchres(void **state)
{
	struct srv c;

	(void)state;
	srv_imap_login(&c);
	srv_send(&c, "s SELECT INBOX\r\n");
	srv_imap_expect_tagged(&c, "s OK [READ-WRITE]");
	srv_send(&c, "r1 SEARCH RETURN (SAVE) OR 1 3\r\n");
	srv_expect(&c, "r1 OK Search completed.\r\n");
	srv_send(&c, "f UID FETCH $ (UID)\r\n");
	srv_expect(&c, "* 1 FETCH (UID 1)\r\n");
	srv_expect(&c, "* 3 FETCH (UID 3)\r\n");
	srv_expect(&c, "f OK Fetch completed.\r\n");
	srv_send(&c, "r2 SEARCH NOT $\r\n");
	srv_expect(&c, "* SEARCH 2\r\n");
	srv_expect(&c, "r2 OK Search completed.\r\n");
	/* MAX alone keeps only the last */
	srv_send(&c, "r3 UID SEARCH RETURN (SAVE MAX) $\r\n");
	srv_expect(&c, "* ESEARCH (TAG \"r3\") UID MAX 3\r\n");
	srv_expect(&c, "r3 OK Search completed.\r\n");
	srv_send(&c, "t STORE $ +FLAGS.SILENT (\\Deleted)\r\n");
	srv_expect(&c, "t OK Store completed.\r\n");
	srv_send(&c, "x UID EXPUNGE $\r\n");
	srv_expect(&c, "* 3 EXPUNGE\r\n");
	srv_imap_expect_tagged(&c, "x OK");
	/* the expunged message left "$" */
	srv_send(&c, "r4 SEARCH $\r\n");
	srv_expect(&c, "* SEARCH\r\n");
	srv_expect(&c, "r4 OK Search completed.\r\n");
	srv_send(&c, "r5 SORT RETURN (SAVE) (SUBJECT) UTF-8 ALL\r\n");
	srv_expect(&c, "r5 OK Sort completed.\r\n");
	srv_send(&c, "c COPY $ INBOX\r\n");
	srv_imap_expect_tagged(&c, "c OK [COPYUID ");
	srv_send(&c, "u UNSELECT\r\n");
	srv_imap_expect_tagged(&c, "u OK");
	srv_send(&c, "s SELECT INBOX\r\n");
	srv_imap_expect_tagged(&c, "s OK [READ-WRITE]");
	srv_send(&c, "r6 SEARCH $\r\n");
	srv_expect(&c, "* SEARCH\r\n");
	srv_expect(&c, "r6 OK Search completed.\r\n");
	logout(&c);
}

/* UID FETCH's PARTIAL modifier (RFC 9394 3.3): a window of the messages the set names. */
static void test_fetch_partial(void **state)
{
	struct srv c;

	(void)state;
	srv_imap_login(&c);
	srv_send(&c, "s SELECT INBOX\r\n");
	srv_imap_expect_tagged(&c, "s OK [READ-WRITE]");
	srv_send(&c, "f1 UID FETCH 1:* (UID) (PARTIAL 2:3)\r\n");
	srv_expect(&c, "* 2 FETCH (UID 2)\r\n");
	srv_expect(&c, "* 3 FETCH (UID 3)\r\n");
	srv_expect(&c, "f1 OK Fetch completed.\r\n");
	srv_send(&c, "f2 UID FETCH 2:* (UID) (PARTIAL -1:-1)\r\n");
	srv_expect(&c, "* 3 FETCH (UID 3)\r\n");
	srv_expect(&c, "f2 OK Fetch completed.\r\n");
	srv_send(&c, "f3 UID FETCH 1:* (UID) (PARTIAL 4:9)\r\n");
	srv_expect(&c, "f3 OK Fetch completed.\r\n");
	srv_send(&c, "f4 FETCH 1:3 (UID) (PARTIAL -2:-3)\r\n");
	srv_expect(&c, "* 1 FETCH (UID 1)\r\n");
	srv_expect(&c, "* 2 FETCH (UID 2)\r\n");
	srv_expect(&c, "f4 OK Fetch completed.\r\n");
	/* with CHANGEDSINCE: the window of the changed ones, which carry MODSEQ */
	srv_send(&c, "f5 UID FETCH 1:* (UID) (PARTIAL -1:-1 CHANGEDSINCE 0)\r\n");
	skip_untagged(&c, "* 3 FETCH (UID 3 MODSEQ (");
	srv_expect(&c, "f5 OK Fetch completed.\r\n");
	srv_send(&c, "b1 UID FETCH 1:* (UID) (PARTIAL 0:2)\r\n");
	srv_expect(&c, "b1 BAD Invalid FETCH modifiers.\r\n");
	srv_send(&c, "b2 UID FETCH 1:* (UID) (PARTIAL 1:2 PARTIAL 3:4)\r\n");
	srv_expect(&c, "b2 BAD Invalid FETCH modifiers.\r\n");
	srv_send(&c, "b3 UID FETCH 1:* (UID) (PARTIAL 1:2 VANISHED)\r\n");
	srv_expect(&c, "b3 BAD FETCH modifiers need CHANGEDSINCE.\r\n");
	logout(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_rev2_responses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_searchres, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fetch_partial, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
