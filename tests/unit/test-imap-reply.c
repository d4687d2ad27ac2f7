/* IMAP response writer helpers: string quoting vs literals, modified UTF-7 checks, number sets,
 * APPEND date-time parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/buf.h"
#include "server/imap/imap-client.h"
#include "server/imap/imap-reply.h"
#include "server/session.h"
#include "storage/storage.h"
#include "tests/unit/test-tmpdir.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

static void check_string(const char *in, size_t len, const char *expect, size_t expect_len)
{
	struct buf b;

	buf_init(&b);
	imap_append_string(&b, in, len);
	assert_int_equal(b.len, expect_len);
	assert_memory_equal(b.data, expect, expect_len);
	buf_free(&b);
}

static void test_strings(void **state)
{
	(void)state;
	check_string("plain", 5, "\"plain\"", 7);
	check_string("", 0, "\"\"", 2);
	check_string("a \"q\" \\ b", 9, "\"a \\\"q\\\" \\\\ b\"", 14);
	check_string("line\r\nbreak", 11, "{11}\r\nline\r\nbreak", 17);
	check_string("caf\xc3\xa9", 5, "{5}\r\ncaf\xc3\xa9", 10);
	check_string("nul\0x", 5, "{5}\r\nnul\0x", 10);
}

static void test_mailbox_names(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	imap_append_mailbox(&b, "inbox");
	buf_append_str(&b, " ");
	imap_append_mailbox(&b, "Sent");
	assert_string_equal(b.data, "\"INBOX\" \"Sent\"");
	buf_free(&b);
}

static void test_mutf7(void **state)
{
	(void)state;
	assert_true(imap_mutf7_is_valid("INBOX"));
	assert_true(imap_mutf7_is_valid("Entw&APw-rfe")); /* Entwürfe */
	assert_true(imap_mutf7_is_valid("&ZeVnLIqe-"));   /* 日本語 */
	assert_true(imap_mutf7_is_valid("Tom &- Jerry")); /* literal & */
	assert_true(imap_mutf7_is_valid("&2D3eAA-"));     /* U+1F600, a surrogate pair */
	assert_true(imap_mutf7_is_valid(""));
	assert_false(imap_mutf7_is_valid("Entw\xc3\xbcrfe")); /* raw UTF-8 */
	assert_false(imap_mutf7_is_valid("a&b"));             /* & not closed */
	assert_false(imap_mutf7_is_valid("&AGE-"));           /* encodes printable 'a' */
	assert_false(imap_mutf7_is_valid("&2D0-"));           /* lone high surrogate */
	assert_false(imap_mutf7_is_valid("&3gA-"));           /* lone low surrogate */
	assert_false(imap_mutf7_is_valid("&APw"));            /* no '-' */
	assert_false(imap_mutf7_is_valid("&APx-"));           /* stray non-zero bits */
	assert_false(imap_mutf7_is_valid("tab\there"));
	assert_false(imap_mutf7_is_valid("&AP-")); /* too few bits for a unit */
}

static void check_numset(const uint32_t *nums, size_t n, const char *expect)
{
	struct buf b;

	buf_init(&b);
	imap_append_numset(&b, nums, n);
	assert_int_equal(b.len, strlen(expect));
	assert_memory_equal(b.len > 0 ? b.data : "", expect, b.len);
	buf_free(&b);
}

static void test_numset(void **state)
{
	(void)state;
	check_numset((const uint32_t[]){1, 2, 3, 7, 9, 10}, 6, "1:3,7,9:10");
	check_numset((const uint32_t[]){5}, 1, "5");
	check_numset((const uint32_t[]){8, 3, 4}, 3, "8,3:4");
	check_numset(NULL, 0, "");
}

static void test_datetime(void **state)
{
	time_t t;

	(void)state;
	assert_int_equal(imap_parse_datetime("17-Jul-1996 02:44:25 -0700", &t), 0);
	assert_int_equal(t, 837596665);
	assert_int_equal(imap_parse_datetime(" 1-Jan-2020 00:00:00 +0000", &t), 0);
	assert_int_equal(t, 1577836800);
	assert_int_equal(imap_parse_datetime("01-jan-2020 01:30:00 +0130", &t), 0);
	assert_int_equal(t, 1577836800);
	assert_int_equal(imap_parse_datetime("1-Jan-2020 00:00:00 +0000", &t), 0);
	assert_int_equal(imap_parse_datetime("32-Jan-2020 00:00:00 +0000", &t), -1);
	assert_int_equal(imap_parse_datetime("01-Foo-2020 00:00:00 +0000", &t), -1);
	assert_int_equal(imap_parse_datetime("01-Jan-2020 24:00:00 +0000", &t), -1);
	assert_int_equal(imap_parse_datetime("01-Jan-2020 00:00:00 0000", &t), -1);
	assert_int_equal(imap_parse_datetime("01-Jan-2020 00:00:00 +0000x", &t), -1);
	assert_int_equal(imap_parse_datetime("", &t), -1);
}

/* Flags as STORE and APPEND give them: NIL is an atom like any other keyword (RFC 3501
 * flag-keyword = atom), alone or in a list. */
static int parse_flags_of(struct mailbox *box, const char *cmd, unsigned *flags_r,
                          uint64_t *keywords_r, const char **error_r)
{
	struct imap_parser *p = imap_parser_new(&imap_parser_limits_default);
	const struct imap_arg *args;
	size_t used;
	int ret;

	assert_int_equal(imap_parser_feed(p, cmd, strlen(cmd), &used), IMAP_PARSE_DONE);
	args = imap_parser_args(p);
	ret =
	    imap_parse_flags(box, &args->list[args->count - 1], true, flags_r, keywords_r, error_r);
	imap_parser_free(&p);
	return ret;
}

static void test_flags_nil_is_a_keyword(void **state)
{
	char root[256];
	int fd;
	struct mail_storage *st = NULL;
	struct mailbox *box = NULL;
	const char *error = NULL;
	unsigned flags;
	uint64_t keywords;
	int nil;

	(void)state;
	test_tmpdir_make(root, sizeof(root), "imap-reply");
	fd = open(root, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(mail_storage_open(fd, &st, &error), 0);
	assert_int_equal(mailbox_open_imap(st, "INBOX", false, &box, &error), 1);
	assert_int_equal(parse_flags_of(box, "a STORE 1 +FLAGS NIL\r\n", &flags, &keywords, &error),
	                 0);
	nil = mailbox_keyword_index(box, "NIL", false);
	assert_true(nil >= 0);
	assert_int_equal(flags, 0);
	assert_int_equal(keywords, 1ULL << nil);
	assert_int_equal(
	    parse_flags_of(box, "a STORE 1 FLAGS (\\Seen NIL)\r\n", &flags, &keywords, &error), 0);
	assert_int_equal(flags, MAIL_SEEN);
	assert_int_equal(keywords, 1ULL << nil);
	/* strings are no flags */
	assert_int_equal(
	    parse_flags_of(box, "a STORE 1 FLAGS (\"x\")\r\n", &flags, &keywords, &error), -1);
	mailbox_close(&box);
	mail_storage_close(&st);
	close(fd);
	test_tmpdir_remove(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_strings),  cmocka_unit_test(test_mailbox_names),
	    cmocka_unit_test(test_mutf7),    cmocka_unit_test(test_numset),
	    cmocka_unit_test(test_datetime), cmocka_unit_test(test_flags_nil_is_a_keyword),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
