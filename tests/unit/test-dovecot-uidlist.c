/* Dovecot's dovecot-uidlist and dovecot-keywords: the parsers (whole and one byte at a time, broken
 * and hostile files), and a maildir taken over through the storage interface (real files, real
 * index). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/test-storage-fixture.h"

#include "common/xalloc.h"
#include "storage/dovecot-keywords.h"
#include "storage/dovecot-uidlist.h"
#include "storage/storage.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ---- a maildir taken over ---- */

static int setup(void **state)
{
	struct fixture *f = test_fixture_new("dovecot", false);

	for (size_t i = 0; i < 3; i++) {
		char path[512];

		snprintf(path, sizeof(path), "%s/%s", f->root,
		         (const char *[]){"cur", "new", "tmp"}[i]);
		assert_int_equal(mkdir(path, 0700), 0);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	test_fixture_free(*state);
	return 0;
}

static void put(struct fixture *f, const char *rel, const char *text)
{
	test_fixture_put(f, rel, text, strlen(text));
}

static void unlink_rel(struct fixture *f, const char *rel)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", f->root, rel);
	(void)unlink(path);
}

static const struct mail *find_uid(struct fixture *f, uint32_t uid)
{
	ssize_t i = mailbox_find_uid(f->box, uid);

	assert_true(i >= 0);
	return mailbox_get(f->box, (size_t)i);
}

/* The names of the keywords set on m, space-separated, into out. */
static void keywords_of(struct fixture *f, const struct mail *m, char *out, size_t size)
{
	out[0] = '\0';
	for (unsigned i = 0; i < mailbox_keyword_count(f->box); i++) {
		if ((m->keywords & (1ULL << i)) == 0)
			continue;
		if (out[0] != '\0')
			strncat(out, " ", size - strlen(out) - 1);
		strncat(out, mailbox_keyword_name(f->box, i), size - strlen(out) - 1);
	}
}

/* A maildir as Dovecot leaves it: UIDs with gaps (expunged 2 and 5), keywords as letters. */
static void dovecot_maildir(struct fixture *f)
{
	put(f, "dovecot-uidlist",
	    "3 V1733000000 N8 G3085f01b7f11094c501100008c4a11c1\n"
	    "1 :1700000001.M1P1.host,S=2,W=3:2,S\n"
	    "3 :1700000003.M3P1.host,S=2,W=3:2,S\n"
	    "4 :1700000004.M4P1.host,S=2,W=3\n"
	    "7 :1700000007.M7P1.host,S=2,W=3\n");
	put(f, "dovecot-keywords", "0 $Forwarded\n1 Junk\n2 $label1\n");
	put(f, "cur/1700000001.M1P1.host,S=2,W=3:2,Sa", "a\n");
	put(f, "cur/1700000003.M3P1.host,S=2,W=3:2,FSbc", "b\n");
	put(f, "cur/1700000004.M4P1.host,S=2,W=3:2,", "c\n");
	/* still in new/ (Dovecot listed it, no client moved it) */
	put(f, "new/1700000007.M7P1.host,S=2,W=3", "d\n");
	/* delivered while no server ran: not in the list */
	put(f, "cur/1700000008.M8P1.host,S=2,W=3:2,", "e\n");
}

/* fresh: the UID of the message Dovecot did not list (a file in cur/ without a ",U=" field
 * gets a new one when the index is rebuilt). */
static void check_taken_over(struct fixture *f, uint32_t fresh)
{
	static const uint32_t uids[] = {1, 3, 4, 7};
	char kw[256];

	assert_int_equal(mailbox_uidvalidity(f->box), 1733000000);
	assert_int_equal(mailbox_count(f->box), 5);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(mailbox_get(f->box, i)->uid, uids[i]);
	/* the unlisted one gets a UID at or above Dovecot's next UID */
	assert_int_equal(mailbox_get(f->box, 4)->uid, fresh);
	assert_int_equal(mailbox_uidnext(f->box), fresh + 1);
	keywords_of(f, find_uid(f, 1), kw, sizeof(kw));
	assert_string_equal(kw, "$Forwarded");
	keywords_of(f, find_uid(f, 3), kw, sizeof(kw));
	assert_string_equal(kw, "Junk $label1");
	assert_int_equal(find_uid(f, 3)->flags & ~MAIL_RECENT, MAIL_FLAGGED | MAIL_SEEN);
	keywords_of(f, find_uid(f, 4), kw, sizeof(kw));
	assert_string_equal(kw, "");
	/* POP3 UIDLs as Dovecot's default pop3_uidl_format %08Xu%08Xv, in lower case */
	assert_string_equal(find_uid(f, 3)->uidl, "00000003674b7b40");
	assert_string_equal(find_uid(f, 7)->uidl, "00000007674b7b40");
}

static void test_takeover(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	uint32_t uid;

	dovecot_maildir(f);
	test_fixture_open_inbox(f);
	check_taken_over(f, 8);
	assert_string_equal(find_uid(f, 8)->uidl, "00000008674b7b40");
	/* what Dovecot had shown is not \Recent; the message it never saw is */
	assert_int_equal(find_uid(f, 3)->flags & MAIL_RECENT, 0);
	assert_int_equal(find_uid(f, 8)->flags & MAIL_RECENT, MAIL_RECENT);

	/* kept when reopened */
	test_fixture_open_inbox(f);
	check_taken_over(f, 8);

	/* a delivery after the move gets the next UID */
	put(f, "new/1700000100.M100P1.host", "f\n");
	assert_int_equal(mailbox_sync(f->box, &error), 0);
	assert_int_equal(mailbox_get(f->box, 5)->uid, 9);
	assert_string_equal(mailbox_get(f->box, 5)->uidl, "00000009674b7b40");
	assert_int_equal(mailbox_append(f->box, "g\n", 2, 0, 0, &uid, &error), 0);
	assert_int_equal(uid, 10);
}

/* The index lost after the move: the same UIDs, keywords and UIDLs again. */
static void test_takeover_index_lost(void **state)
{
	struct fixture *f = *state;

	dovecot_maildir(f);
	test_fixture_open_inbox(f);
	check_taken_over(f, 8);
	test_fixture_remove_index(f);
	test_fixture_open_inbox(f);
	check_taken_over(f, mailbox_get(f->box, 4)->uid);
	assert_true(mailbox_get(f->box, 4)->uid > 8);
	/* also with Dovecot's files gone: the UIDs twofold wrote into names stay, UIDLs keep
	 * their format */
	test_fixture_remove_index(f);
	unlink_rel(f, "dovecot-uidlist");
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_uidvalidity(f->box), 1733000000);
	assert_string_equal(find_uid(f, 7)->uidl, "00000007674b7b40");
}

/* A corrupt list (UIDs not ascending) is ignored whole: a mailbox as if new, UIDLs by name. */
static void test_corrupt_ignored(void **state)
{
	struct fixture *f = *state;

	put(f, "dovecot-uidlist",
	    "3 V1733000000 N8\n5 :1700000001.M1P1.host\n"
	    "3 :1700000003.M3P1.host\n");
	put(f, "cur/1700000001.M1P1.host:2,S", "a\n");
	put(f, "cur/1700000003.M3P1.host:2,S", "b\n");
	test_fixture_open_inbox(f);
	assert_true(mailbox_uidvalidity(f->box) != 1733000000);
	assert_int_equal(mailbox_count(f->box), 2);
	assert_int_equal(mailbox_get(f->box, 0)->uid, 1);
	assert_int_equal(mailbox_get(f->box, 1)->uid, 2);
	assert_string_equal(mailbox_get(f->box, 0)->uidl, "1700000001.M1P1.host");
}

/* Format 1 (Dovecot 1.0, the layout of Courier's courierimapuiddb) as Dovecot reads it. */
static void test_takeover_v1(void **state)
{
	struct fixture *f = *state;

	put(f, "dovecot-uidlist", uidlist_v1);
	put(f, "cur/1600000002.M2P2.old:2,S", "a\n");
	put(f, "cur/1600000005.M5P2.old:2,", "b\n");
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_uidvalidity(f->box), 1600000000);
	assert_int_equal(mailbox_get(f->box, 0)->uid, 2);
	assert_int_equal(mailbox_get(f->box, 1)->uid, 5);
	assert_int_equal(mailbox_uidnext(f->box), 20);
	assert_string_equal(mailbox_get(f->box, 1)->uidl, "000000055f5e1000");
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
	    cmocka_unit_test_setup_teardown(test_takeover, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_takeover_index_lost, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_takeover_v1, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
