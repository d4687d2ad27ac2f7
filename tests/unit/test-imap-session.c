/* IMAP sessions run in a child process over a socketpair against a real maildir, with
 * its own login: command input byte at a time, pipelining, literals (synchronising,
 * LITERAL+, refused over APPENDLIMIT before the data), pre-login limits, nesting, untagged
 * updates from a second session, IDLE woken by a delivery, shutdown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "session-harness.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- fixtures ---- */

static int setup(void **state)
{
	(void)state;
	srv_setup("imap", AUTH_PROTO_IMAP);
	srv_write_msg("new", "1700000001.M1P1.test", "Subject: one\r\n\r\nfirst\r\n");
	srv_write_msg("new", "1700000002.M2P1.test", "Subject: two\r\n\r\nsecond\r\n");
	srv_cfg->imap_append_limit = 4096;
	srv_cfg->imap_idle_keepalive = 10;
	srv_cfg->login_timeout = 5;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	srv_teardown();
	return 0;
}

/* ---- tests ---- */

static void test_byte_at_a_time_and_pipelining(void **state)
{
	struct srv c;

	(void)state;
	srv_start(&c);
	srv_expect(&c, "* OK [CAPABILITY IMAP4rev1 ");
	srv_send_slowly(&c, "i1 ID (\"name\" \"unit\")\r\nl1 LOGIN alice \"pass word123456\"\r\n");
	srv_expect(&c, "* ID (\"name\" \"twofold\")\r\n");
	srv_expect(&c, "i1 OK ID completed.\r\n");
	srv_expect(&c, "l1 OK [CAPABILITY ");
	{
		char id[64] = "";

		srv_client_id(id, sizeof(id));
		assert_string_equal(id, "unit");
	}
	/* a literal split byte by byte, then three commands in one write */
	srv_send_slowly(&c, "s1 SELECT {5}\r\n");
	srv_expect(&c, "+ OK\r\n");
	srv_send_slowly(&c, "INBOX\r\n");
	srv_imap_expect_tagged(&c, "s1 OK [READ-WRITE] Select completed.\r\n");
	srv_send(&c, "n1 NOOP\r\nf1 FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\nq LOGOUT\r\n");
	srv_expect(&c, "n1 OK NOOP completed.\r\n");
	srv_expect(&c, "* 2 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {16}\r\n");
	srv_expect(&c, "Subject: two\r\n");
	srv_expect(&c, "\r\n");
	srv_expect(&c, ")\r\n");
	srv_expect(&c, "f1 OK Fetch completed.\r\n");
	srv_expect(&c, "* BYE Logging out.\r\n");
	srv_expect(&c, "q OK Logout completed.\r\n");
	srv_expect_eof(&c);
	srv_wait(&c);
}

static void test_prelogin_limits(void **state)
{
	struct srv c;

	(void)state;
	srv_start(&c);
	srv_expect(&c, "* OK ");
	srv_send(&c, "a LOGIN {5}\r\n");
	srv_expect(&c, "a BAD Literals are not allowed before login.\r\n");
	srv_send(&c, "b LOGIN alice wrong\r\n");
	srv_expect(&c, "b NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
	srv_send(&c, "c LOGIN temp x\r\n");
	srv_expect(&c, "c NO [UNAVAILABLE] ");
	srv_send(&c, "d SELECT INBOX\r\n");
	srv_expect(&c, "d BAD Not logged in.\r\n");
	srv_send(&c, "e FROB\r\n");
	srv_expect(&c, "e BAD Unknown command.\r\n");
	srv_expect(&c, "* BYE Too many invalid commands.\r\n");
	srv_expect_eof(&c);
	srv_wait(&c);
}

static void test_login_timeout(void **state)
{
	struct srv c;
	time_t t0 = time(NULL);

	(void)state;
	srv_cfg->login_timeout = 1;
	srv_start(&c);
	srv_expect(&c, "* OK ");
	srv_expect(&c, "* BYE Login timeout, closing connection.\r\n");
	assert_true(time(NULL) - t0 <= 3);
	srv_expect_eof(&c);
	srv_wait(&c);
}

/* A storage error's kind, not its wording, picks the RFC 5530 code. */
static void test_storage_error_codes(void **state)
{
	struct srv c;

	(void)state;
	srv_imap_login(&c);
	srv_send(&c, "c1 CREATE Box\r\n");
	srv_imap_expect_tagged(&c, "c1 OK ");
	srv_send(&c, "c2 CREATE Box\r\n");
	srv_imap_expect_tagged(&c,
	                       "c2 NO [ALREADYEXISTS] Create failed: mailbox already exists\r\n");
	srv_send(&c, "r1 RENAME Nowhere Elsewhere\r\n");
	srv_imap_expect_tagged(&c, "r1 NO [NONEXISTENT] Rename failed: no such mailbox\r\n");
	srv_send(&c, "r2 RENAME Box Box\r\n");
	srv_imap_expect_tagged(&c,
	                       "r2 NO [ALREADYEXISTS] Rename failed: mailbox already exists\r\n");
	srv_send(&c, "q LOGOUT\r\n");
	srv_imap_expect_tagged(&c, "q OK ");
	srv_expect_eof(&c);
	srv_wait(&c);
}

static void test_append_literals_and_limit(void **state)
{
	struct srv c;
	char big[8192];

	(void)state;
	srv_imap_login(&c);
	srv_send(&c, "a1 APPEND INBOX (\\Seen) {24}\r\n");
	srv_expect(&c, "+ OK\r\n");
	srv_send(&c, "Subject: 3\r\n\r\nthird one\r\n\r\n");
	srv_expect(&c, "a1 OK [APPENDUID ");
	/* over APPENDLIMIT: refused before the data; a LITERAL+ one is read and dropped */
	srv_send(&c, "a2 APPEND INBOX {5000}\r\n");
	srv_expect(&c, "a2 NO [TOOBIG] Message is larger than the APPENDLIMIT (4096).\r\n");
	snprintf(big, sizeof(big), "a3 APPEND INBOX {5000+}\r\n");
	memset(big + strlen(big), 'x', 5000);
	memcpy(big + 25 + 5000, "\r\n", 3);
	assert_int_equal(strlen(big), 25 + 5000 + 2);
	srv_send(&c, big);
	srv_expect(&c, "a3 NO [TOOBIG] ");
	srv_send(&c, "s STATUS INBOX (MESSAGES)\r\n");
	srv_expect(&c, "* STATUS \"INBOX\" (MESSAGES 3)\r\n");
	srv_expect(&c, "s OK Status completed.\r\n");
	srv_send(&c, "q LOGOUT\r\n");
	srv_imap_expect_tagged(&c, "q OK");
	srv_wait(&c);
}

static void test_nesting_bad_and_session_goes_on(void **state)
{
	struct srv c;
	static char line[30100];
	size_t n = 0;

	(void)state;
	srv_imap_login(&c);
	n += (size_t)sprintf(line, "x SEARCH ");
	for (int i = 0; i < 10000; i++)
		line[n++] = '(';
	memcpy(line + n, "ALL", 3);
	n += 3;
	for (int i = 0; i < 10000; i++)
		line[n++] = ')';
	memcpy(line + n, "\r\n", 3);
	srv_send(&c, line);
	srv_expect(&c, "x BAD ");
	srv_send(&c, "y NOOP\r\n");
	srv_expect(&c, "y OK ");
	srv_send(&c, "q LOGOUT\r\n");
	srv_imap_expect_tagged(&c, "q OK");
	srv_wait(&c);
}

static void test_updates_from_another_session_and_idle(void **state)
{
	struct srv a, b;

	(void)state;
	srv_imap_login(&a);
	srv_imap_login(&b);
	srv_send(&a, "s SELECT INBOX\r\n");
	srv_imap_expect_tagged(&a, "s OK");
	srv_send(&b, "s SELECT INBOX\r\n");
	srv_imap_expect_tagged(&b, "s OK");
	srv_send(&b, "i IDLE\r\n");
	srv_expect(&b, "+ idling\r\n");
	srv_send(&a, "t STORE 1 +FLAGS (\\Deleted)\r\n");
	srv_expect(&a, "* 1 FETCH (FLAGS (\\Deleted");
	srv_expect(&a, "t OK Store completed.\r\n");
	srv_expect(&b, "* 1 FETCH (UID 1 FLAGS (\\Deleted");
	srv_send(&a, "e EXPUNGE\r\n");
	srv_expect(&a, "* 1 EXPUNGE\r\n");
	/* RECENT follows the expunge of a recent message down */
	srv_expect(&a, "* 1 RECENT\r\n");
	srv_expect(&a, "e OK Expunge completed.\r\n");
	srv_expect(&b, "* 1 EXPUNGE\r\n");
	srv_write_msg("new", "1700000009.M9P1.test", "Subject: new\r\n\r\nnew\r\n");
	srv_expect(&b, "* 2 EXISTS\r\n");
	srv_expect(&b, "* ");
	/* SIGTERM while idling: BYE */
	kill(b.pid, SIGTERM);
	srv_expect(&b, "* BYE Server shutting down.\r\n");
	srv_expect_eof(&b);
	srv_wait(&b);
	srv_send(&a, "q LOGOUT\r\n");
	srv_imap_expect_tagged(&a, "q OK");
	srv_wait(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_byte_at_a_time_and_pipelining, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prelogin_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_login_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_storage_error_codes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_append_literals_and_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nesting_bad_and_session_goes_on, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_updates_from_another_session_and_idle, setup,
	                                    teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
