/* Unit tests for SORT's pieces (server/imap/imap-subject.c, imap-sort-keys.c, imap-sort.c): the
 * base subject of RFC 5256 section 2.1, RFC 5322 dates in UTC, the address keys, and the order
 * of a real maildir's messages with their keys cached in the index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/test-imap-command.h"
#include "tests/unit/test-storage-fixture.h"

#include "common/buf.h"
#include "server/imap/imap-parser.h"
#include "server/imap/imap-sort.h"
#include "server/imap/imap-subject.h"

static void check_base(const char *subject, const char *want)
{
	struct buf b;

	buf_init(&b);
	imap_base_subject(subject, &b);
	if (strcmp(b.len > 0 ? b.data : "", want) != 0)
		fail_msg("base subject of \"%s\": \"%s\", want \"%s\"", subject ? subject : "(none)",
		         b.len > 0 ? b.data : "", want);
	buf_free(&b);
}

static void test_base_subject(void **state)
{
	(void)state;
	check_base("Hello", "Hello");
	check_base("Re: Hello", "Hello");
	check_base("RE:Hello", "Hello");
	check_base("Re: Re: re: Hello", "Hello");
	check_base("Fwd: Hello", "Hello");
	check_base("FW: Hello", "Hello");
	check_base("Re [2]: Hello", "Hello");
	check_base("[list] Re: Hello", "Hello");
	check_base("[list] [other] Re: [x] Fwd: Hello", "Hello");
	check_base("Hello (fwd)", "Hello");
	check_base("Hello (fwd) (FWD)  ", "Hello");
	check_base("[Fwd: Re: Hello]", "Hello");
	check_base("Re: [Fwd: [list] Hello (fwd)]", "Hello");
	check_base("  Hello \t  world  ", "Hello world");
	check_base("Hello\r\n\tworld", "Hello world");
	check_base("=?UTF-8?Q?Re=3A_Gr=C3=BC=C3=9Fe?=", "Grüße");
	/* a blob that is all there is stays; "Re" without its colon is a word */
	check_base("[list]", "[list]");
	check_base("Re: [list]", "[list]");
	check_base("Regarding", "Regarding");
	check_base("Re", "Re");
	check_base("Fwd:", "");
	check_base("", "");
	check_base(NULL, "");
	check_base("[unclosed Re: Hello", "[unclosed Re: Hello");
	check_base("[Fwd: no end", "[Fwd: no end");
}

static void test_subject_cmp(void **state)
{
	(void)state;
	assert_int_equal(imap_subject_cmp("apple", "APPLE"), 0);
	assert_true(imap_subject_cmp("apple", "Banana") < 0);
	assert_true(imap_subject_cmp("Banana", "apple") > 0);
	assert_true(imap_subject_cmp("", "a") < 0);
	assert_true(imap_subject_cmp("ab", "a") > 0);
	/* only ASCII letters fold: a byte above 0x7f sorts after every letter */
	assert_true(imap_subject_cmp("\xc3\x9c", "z") > 0);
}

static void check_date(const char *value, time_t want)
{
	time_t t = -1;

	if (imap_sort_date_parse(value, &t) != 1 || t != want)
		fail_msg("date \"%s\": %lld, want %lld", value, (long long)t, (long long)want);
}

static void test_dates(void **state)
{
	const time_t jan2_08 = 1704182400; /* 2024-01-02 08:00:00 UTC */
	time_t t;

	(void)state;
	check_date("Tue, 2 Jan 2024 10:00:00 +0200", jan2_08);
	check_date("2 Jan 2024 08:00:00 GMT", jan2_08);
	check_date("2 Jan 2024 08:00 UT", jan2_08);
	check_date("Tue, 02 Jan 2024 03:00:00 EST", jan2_08);
	check_date("Tue, 02 Jan 2024 00:00:00 PST (Pacific)", jan2_08);
	check_date("Tue, 2 Jan 2024 07:30:00 -0030", jan2_08);
	check_date("  Tue , 2 jan 2024 08:00:00 +0000", jan2_08);
	check_date("2 Jan 24 08:00:00 +0000", jan2_08);
	check_date("2 Jan 124 08:00:00 +0000", jan2_08);
	check_date("2 Jan 2024 08:00:00 Z", jan2_08); /* military zones count as -0000 */
	check_date("2 Jan 2024 08:00:00", jan2_08);
	check_date("1 Jan 1970 00:00:00 +0000", 0);
	assert_int_equal(imap_sort_date_parse("", &t), 0);
	assert_int_equal(imap_sort_date_parse("yesterday", &t), 0);
	assert_int_equal(imap_sort_date_parse("2 Foo 2024 08:00:00 +0000", &t), 0);
	assert_int_equal(imap_sort_date_parse("32 Jan 2024 08:00:00 +0000", &t), 0);
	assert_int_equal(imap_sort_date_parse("2 Jan 2024 25:00:00 +0000", &t), 0);
	assert_int_equal(imap_sort_date_parse("2 Jan 2024", &t), 0);
	assert_int_equal(imap_sort_date_parse("2 Jan 2024 08", &t), 0);
	assert_int_equal(imap_sort_date_parse("2 Jan 99999999999 08:00:00", &t), 0);
}

static void check_keys(const char *header, const char *want[SORT_TEXT_COUNT])
{
	struct imap_sort_keys keys;

	imap_sort_keys_parse(header, strlen(header), &keys);
	for (int i = 0; i < SORT_TEXT_COUNT; i++) {
		if (strcmp(keys.text[i], want[i]) != 0)
			fail_msg("key %d of \"%s\": \"%s\", want \"%s\"", i, header, keys.text[i],
			         want[i]);
	}
	imap_sort_keys_clear(&keys);
}

static void test_keys(void **state)
{
	struct imap_sort_keys keys;

	(void)state;
	check_keys("From: \"Fred Foobar\" <Fred@Example.com>, bob@example.org\n"
	           "To: undisclosed:;, alice (home) @ example.org\n"
	           "Cc: =?UTF-8?Q?J=C3=BCrgen?= <j@example.de>\n"
	           "Subject: Re: [x] Lunch\n"
	           "Message-ID: <\"a b\"@example.org> (comment)\n"
	           "In-Reply-To: <ignored@x>\n"
	           "References: <one@x>\n <two@x> junk <three@x\n\nbody\n",
	           (const char *[]){"Lunch", "Fred", "alice", "j", "Fred Foobar", "alice@example.org",
	                            "ab@example.org", "one@x two@x"});
	check_keys("Subject: none\nIn-Reply-To: <p@x> <q@x>\n\nReferences: <body@x>\n",
	           (const char *[]){"none", "", "", "", "", "", "", "p@x"});
	check_keys("From: \"=?ISO-8859-1?Q?Andr=E9?=\" <andre@example.fr>\nTo: <@route:x@y.z>\n\n",
	           (const char *[]){"", "andre", "x", "", "André", "x@y.z", "", ""});
	check_keys("", (const char *[]){"", "", "", "", "", "", "", ""});
	/* a reply or forward says so; only the last IMAP_SORT_REFERENCES_MAX references stay */
	imap_sort_keys_parse("Subject: Fwd: x\n\n", 16, &keys);
	assert_true(keys.reply);
	imap_sort_keys_clear(&keys);
	imap_sort_keys_parse("Subject: x\n\n", 13, &keys);
	assert_false(keys.reply);
	imap_sort_keys_clear(&keys);
	{
		struct buf h;

		buf_init(&h);
		buf_append_str(&h, "References:");
		for (int i = 0; i < IMAP_SORT_REFERENCES_MAX + 10; i++)
			buf_printf(&h, " <r%d@x>", i);
		buf_append_str(&h, "\n\n");
		imap_sort_keys_parse(h.data, h.len, &keys);
		assert_true(strncmp(keys.text[SORT_TEXT_REFERENCES], "r10@x r11@x ", 12) == 0);
		assert_non_null(strstr(keys.text[SORT_TEXT_REFERENCES], " r73@x"));
		assert_null(strstr(keys.text[SORT_TEXT_REFERENCES], "r9@x"));
		imap_sort_keys_clear(&keys);
		buf_free(&h);
	}
}

/* ---- the order of a real mailbox ---- */

static const char *const sort_msgs[] = {
    "From: carol@example.org\nSubject: Re: apple\nDate: 2 Jan 2024 10:00:00 +0000\n\nxx\n",
    "From: alice@example.org\nSubject: banana\nDate: 2 Jan 2024 09:00:00 +0000\n\nxxxxxxxx\n",
    "From: bob@example.org\nSubject: [list] Apple\n\nx\n",
};

/* Sorts the three messages by criteria (as sent: "(SUBJECT)"); want: their sequence numbers. */
static void sorted(struct mailbox *box, const char *criteria, const char *want)
{
	struct imap_parser *parser = imap_parser_new(&imap_parser_limits_default);
	const struct imap_arg *args;
	struct imap_sort *sort;
	const char *error = NULL;
	size_t idx[3] = {0, 1, 2};
	char cmd[128], got[16];

	snprintf(cmd, sizeof(cmd), "A1 SORT %s UTF-8 ALL\r\n", criteria);
	args = test_imap_command_parse(parser, cmd, strlen(cmd));
	assert_non_null(args);
	assert_int_equal(imap_sort_parse(&args->list[0], &sort, &error), 0);
	assert_int_equal(imap_sort_run(sort, box, idx, 3, &error), 0);
	snprintf(got, sizeof(got), "%zu %zu %zu", idx[0] + 1, idx[1] + 1, idx[2] + 1);
	if (strcmp(got, want) != 0)
		fail_msg("%s: %s, want %s", criteria, got, want);
	imap_sort_free(&sort);
	imap_parser_free(&parser);
}

static void test_run_and_cache(void **state)
{
	struct fixture *f = *state;
	struct buf cached;

	for (int i = 0; i < 3; i++)
		test_fixture_append(f->box, sort_msgs[i], 0);
	test_fixture_sync(f->box);
	sorted(f->box, "(SUBJECT)", "1 3 2");
	sorted(f->box, "(SUBJECT REVERSE FROM)", "1 3 2");
	sorted(f->box, "(REVERSE SUBJECT FROM)", "2 3 1");
	sorted(f->box, "(SIZE)", "3 1 2");
	/* the keys went into the index: a new session sorts from there, alike */
	buf_init(&cached);
	assert_int_equal(mailbox_cache_get(f->box, 2, "sort1", &cached), 1);
	assert_non_null(memmem(cached.data, cached.len, "\0Apple\0", 7));
	buf_free(&cached);
	test_fixture_open_inbox(f);
	sorted(f->box, "(FROM)", "2 3 1");
	sorted(f->box, "(DATE)", "2 1 3"); /* the third has no Date: its append time, later */
}

static int test_inbox_setup(void **state)
{
	struct fixture *f = test_fixture_new("sort", true);

	f->box = test_fixture_open_box(f, "INBOX", false);
	*state = f;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_base_subject),
	    cmocka_unit_test(test_subject_cmp),
	    cmocka_unit_test(test_dates),
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test_setup_teardown(test_run_and_cache, test_inbox_setup,
	                                    test_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
