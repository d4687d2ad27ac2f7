/* Dovecot's dovecot-uidlist and dovecot-keywords: the parsers (whole and one byte at a time, broken
 * and hostile files). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/xalloc.h"
#include "storage/dovecot-keywords.h"
#include "storage/dovecot-uidlist.h"

#include <stdlib.h>
#include <string.h>

/* What Dovecot 2.3 writes: records appended after the header's N, extension fields, names with
 * and without info, a name listed twice (moved back after an expunge: the later UID counts). */
static const char uidlist_v3[] =
    "3 V1733000000 N7 G3085f01b7f11094c501100008c4a11c1\n"
    "1 :1700000001.M1P1.host,S=10,W=11:2,S\n"
    "3 W12 S11 G0123456789abcdef0123456789abcdef :1700000003.M3P1.host,S=11,W=12:2,Sab\n"
    "4 :1700000004.M4P1.host\n"
    "6 :1700000001.M1P1.host,S=10,W=11:2,\n"
    "9 P0000000900000001 :1700000009.M9P1.host:2,\n";

/* Courier's courierimapuiddb and Dovecot 1.0: "1 <uidvalidity> <next uid>", "<uid> <name>". */
static const char uidlist_v1[] = "1 1600000000 20\n"
                                 "2 1600000002.M2P2.old:2,S\n"
                                 "5 1600000005.M5P2.old\n";

static struct dovecot_uidlist *parse_chunks(const char *text, size_t len, size_t chunk,
                                            const char **error_r)
{
	struct dovecot_uidlist_parser *p = dovecot_uidlist_parser_new();
	struct dovecot_uidlist *list = NULL;

	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		(void)dovecot_uidlist_parser_feed(p, text + off, n, error_r);
	}
	if (dovecot_uidlist_parser_finish(&p, &list, error_r) < 0)
		return NULL;
	assert_null(p);
	return list;
}

static struct dovecot_uidlist *parse(const char *text, const char **error_r)
{
	return parse_chunks(text, strlen(text), strlen(text) + 1, error_r);
}

static void check_v3(const struct dovecot_uidlist *list)
{
	assert_non_null(list);
	assert_int_equal(dovecot_uidlist_uidvalidity(list), 1733000000);
	/* appended records went past the header's N 7 */
	assert_int_equal(dovecot_uidlist_next_uid(list), 10);
	assert_int_equal(dovecot_uidlist_count(list), 4);
	/* keys as twofold makes them: no ,S= ,W= fields, no info */
	assert_int_equal(dovecot_uidlist_lookup(list, "1700000001.M1P1.host"), 6);
	assert_int_equal(dovecot_uidlist_lookup(list, "1700000003.M3P1.host"), 3);
	assert_int_equal(dovecot_uidlist_lookup(list, "1700000004.M4P1.host"), 4);
	assert_int_equal(dovecot_uidlist_lookup(list, "1700000009.M9P1.host"), 9);
	assert_int_equal(dovecot_uidlist_lookup(list, "1700000002.M2P1.host"), 0);
	assert_int_equal(dovecot_uidlist_lookup(list, ""), 0);
}

static void test_v3(void **state)
{
	const char *error = NULL;
	struct dovecot_uidlist *list;

	(void)state;
	list = parse(uidlist_v3, &error);
	assert_null(error);
	check_v3(list);
	dovecot_uidlist_free(&list);
	assert_null(list);
}

static void test_v3_byte_at_a_time(void **state)
{
	const char *error = NULL;
	struct dovecot_uidlist *list;

	(void)state;
	for (size_t chunk = 1; chunk <= 7; chunk++) {
		list = parse_chunks(uidlist_v3, sizeof(uidlist_v3) - 1, chunk, &error);
		check_v3(list);
		dovecot_uidlist_free(&list);
	}
}

static void test_v1(void **state)
{
	const char *error = NULL;
	struct dovecot_uidlist *list = parse(uidlist_v1, &error);

	(void)state;
	assert_non_null(list);
	assert_int_equal(dovecot_uidlist_uidvalidity(list), 1600000000);
	assert_int_equal(dovecot_uidlist_next_uid(list), 20);
	assert_int_equal(dovecot_uidlist_lookup(list, "1600000002.M2P2.old"), 2);
	assert_int_equal(dovecot_uidlist_lookup(list, "1600000005.M5P2.old"), 5);
	dovecot_uidlist_free(&list);
}

/* A record being appended when the file was read is left out, not taken half. */
static void test_unterminated_last_line(void **state)
{
	const char *error = NULL;
	struct dovecot_uidlist *list = parse("3 V5 N3\n1 :10.a.h\n2 :10.b", &error);

	(void)state;
	assert_non_null(list);
	assert_int_equal(dovecot_uidlist_count(list), 1);
	assert_int_equal(dovecot_uidlist_lookup(list, "10.b"), 0);
	assert_int_equal(dovecot_uidlist_next_uid(list), 3);
	dovecot_uidlist_free(&list);
}

static void test_broken_refused(void **state)
{
	static const char *const broken[] = {
	    "",                            /* no header */
	    "2 5 3\n",                     /* version 2 */
	    "3 N5\n",                      /* no UIDVALIDITY */
	    "3 V0 N5\n",                   /* UIDVALIDITY 0 */
	    "3 V7\n",                      /* no next UID */
	    "1 7 x\n",                     /* bad next UID */
	    "3 V7 N99999999999\n",         /* above 32 bits */
	    "3 V7 N5\n2 :a.b\n2 :a.c\n",   /* the same UID twice */
	    "3 V7 N5\n3 :a.b\n2 :a.c\n",   /* not ascending */
	    "3 V7 N5\n0 :a.b\n",           /* UID 0 */
	    "3 V7 N5\n4294967295 :a.b\n",  /* UID 2^32 - 1: no next UID above it */
	    "1 7 5\n5 a.b\n",              /* version 1: UID at the next UID */
	    "3 V7 N5\n1 :../etc/passwd\n", /* a path */
	    "3 V7 N5\n1 W12 S11\n",        /* fields but no name */
	    "3 V7 N5\nx :a.b\n",           /* no UID */
	    "3 V7 N5\n1:a.b\n",            /* no space after the UID */
	};
	const char *error;

	(void)state;
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		error = NULL;
		if (parse(broken[i], &error) != NULL)
			fail_msg("accepted: %s", broken[i]);
		assert_non_null(error);
	}
}

static void test_bounds(void **state)
{
	struct dovecot_uidlist_parser *p = dovecot_uidlist_parser_new();
	struct dovecot_uidlist *list = NULL;
	char *line = xmalloc(DOVECOT_UIDLIST_LINE_MAX + 2);
	const char *error = NULL;

	(void)state;
	/* a line just too long is refused, whatever its split */
	memcpy(line, "3 V7 N5 ", 8);
	memset(line + 8, 'x', DOVECOT_UIDLIST_LINE_MAX + 1 - 8);
	line[DOVECOT_UIDLIST_LINE_MAX + 1] = '\n';
	assert_int_equal(dovecot_uidlist_parser_feed(p, line, 100, &error), 0);
	assert_int_equal(
	    dovecot_uidlist_parser_feed(p, line + 100, DOVECOT_UIDLIST_LINE_MAX + 2 - 100, &error),
	    -1);
	assert_string_equal(error, "line too long");
	/* and stays refused */
	assert_int_equal(dovecot_uidlist_parser_feed(p, "\n", 1, &error), -1);
	assert_int_equal(dovecot_uidlist_parser_finish(&p, &list, &error), -1);
	assert_null(list);
	assert_null(p);
	/* the longest line is fine */
	p = dovecot_uidlist_parser_new();
	line[DOVECOT_UIDLIST_LINE_MAX] = '\n';
	assert_int_equal(dovecot_uidlist_parser_feed(p, line, DOVECOT_UIDLIST_LINE_MAX + 1, &error),
	                 0);
	assert_int_equal(dovecot_uidlist_parser_finish(&p, &list, &error), 0);
	dovecot_uidlist_free(&list);
	/* a NUL byte inside a line */
	assert_null(parse_chunks("3 V7 N5\n1 :a\0b\n", 15, 15, &error));
	xfree(&line);
}

static void test_keywords(void **state)
{
	static const char text[] = "0 $Forwarded\n1 Junk\n3 bad(name\n25 Last\n2 NonJunk";
	struct dovecot_keywords kw;
	const char *error = NULL;

	(void)state;
	assert_int_equal(dovecot_keywords_parse(text, sizeof(text) - 1, &kw, &error), 0);
	assert_string_equal(kw.names[0], "$Forwarded");
	assert_string_equal(kw.names[1], "Junk");
	assert_null(kw.names[2]); /* unterminated last line */
	assert_null(kw.names[3]); /* no IMAP atom */
	assert_string_equal(kw.names[25], "Last");
	dovecot_keywords_clear(&kw);
	assert_null(kw.names[0]);

	assert_int_equal(dovecot_keywords_parse("26 x\n", 5, &kw, &error), -1);
	assert_int_equal(dovecot_keywords_parse("1 a\n1 b\n", 8, &kw, &error), -1);
	assert_int_equal(dovecot_keywords_parse("x a\n", 4, &kw, &error), -1);
	assert_int_equal(dovecot_keywords_parse("0a\n", 3, &kw, &error), -1);
	assert_null(kw.names[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v3),
	    cmocka_unit_test(test_v3_byte_at_a_time),
	    cmocka_unit_test(test_v1),
	    cmocka_unit_test(test_unterminated_last_line),
	    cmocka_unit_test(test_broken_refused),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_keywords),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
