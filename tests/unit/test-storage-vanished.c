/* Expunged UIDs in the index (RFC 7162 QRESYNC): recorded with the MODSEQ of their expunge,
 * in ranges merged across UIDs no message holds, never holding a UID the view shows, kept over
 * a reopen, trimmed past their bound with the floor raised, and missing (the floor) for an
 * index upgraded from version 4. Real maildirs, real SQLite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/test-storage-fixture.h"

#include <sqlite3.h>

#define MESSAGES 10

static const char msg_text[] = "Subject: x\r\n\r\nbody\r\n";

static int setup(void **state)
{
	struct fixture *f = test_fixture_new("vanished", true);
	const char *error = NULL;

	assert_int_equal(mailbox_open_imap(f->st, "INBOX", false, &f->box, &error), 1);
	for (int i = 0; i < MESSAGES; i++)
		assert_int_equal(mailbox_append(f->box, msg_text, sizeof(msg_text) - 1, 0,
		                                1700000000 + i, NULL, &error),
		                 0);
	assert_int_equal(mailbox_sync(f->box, &error), 0);
	assert_int_equal(mailbox_count(f->box), MESSAGES);
	assert_int_equal(mailbox_get(f->box, 0)->uid, 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	test_fixture_free(*state);
	return 0;
}

/* Expunges the messages with these UIDs (0-terminated) and syncs: the view's HIGHESTMODSEQ
 * is then the expunge's. */
static uint64_t expunge_uids(struct fixture *f, const uint32_t *uids)
{
	bool remove[MESSAGES] = {false};
	const char *error = NULL;

	for (; *uids != 0; uids++) {
		ssize_t i = mailbox_find_uid(f->box, *uids);

		assert_true(i >= 0);
		remove[i] = true;
	}
	assert_int_equal(mailbox_expunge(f->box, remove, &error), 0);
	assert_int_equal(mailbox_sync(f->box, &error), 0);
	return mailbox_highest_modseq(f->box);
}

/* The ranges since since as "lo:hi,..." (lo alone when equal); "?" when not known. */
static void vanished_text(struct mailbox *box, uint64_t since, char *out, size_t size)
{
	struct mailbox_uid_range *r;
	const char *error = NULL;
	size_t count, len = 0;
	int ret = mailbox_vanished_since(box, since, &r, &count, &error);

	assert_true(ret >= 0);
	out[0] = '\0';
	if (ret == 0) {
		snprintf(out, size, "?");
		return;
	}
	for (size_t i = 0; i < count; i++) {
		len += (size_t)snprintf(out + len, size - len, i == 0 ? "%u" : ",%u", r[i].lo);
		if (r[i].hi != r[i].lo)
			len += (size_t)snprintf(out + len, size - len, ":%u", r[i].hi);
	}
	xfree(&r);
}

static void assert_vanished(struct mailbox *box, uint64_t since, const char *want)
{
	char text[256];

	vanished_text(box, since, text, sizeof(text));
	assert_string_equal(text, want);
}

/* Each expunge is known from the MODSEQ before it; ranges merge across UIDs no message holds,
 * taking the newest MODSEQ; and the record survives a reopen. */
static void test_record_and_merge(void **state)
{
	struct fixture *f = *state;
	uint64_t h0 = mailbox_highest_modseq(f->box), m1, m2, m3;

	assert_vanished(f->box, h0, "");
	m1 = expunge_uids(f, (const uint32_t[]){2, 3, 0});
	assert_true(m1 > h0);
	m2 = expunge_uids(f, (const uint32_t[]){5, 8, 0});
	assert_vanished(f->box, h0, "2:3,5,8");
	assert_vanished(f->box, m1, "5,8");
	assert_vanished(f->box, m2, "");
	/* 4 joins 2:3 and 5 into one range with its MODSEQ */
	m3 = expunge_uids(f, (const uint32_t[]){4, 0});
	assert_vanished(f->box, m2, "2:5");
	assert_vanished(f->box, m1, "2:5,8");
	assert_vanished(f->box, m3, "");
	/* the last message: no row above it, nothing to merge with */
	expunge_uids(f, (const uint32_t[]){10, 0});
	assert_vanished(f->box, m3, "10");
	test_fixture_open_inbox(f);
	assert_vanished(f->box, h0, "2:5,8,10");
	assert_int_equal(mailbox_count(f->box), MESSAGES - 6);
}

/* A view that has not synced since another session's expunge still shows the message: it is
 * left out (the view's next sync reports it). */
static void test_view_uids_left_out(void **state)
{
	struct fixture *f = *state;
	struct mail_storage *st2;
	struct mailbox *b = NULL;
	const char *error = NULL;
	uint64_t h0 = mailbox_highest_modseq(f->box);
	bool remove[MESSAGES] = {false};

	assert_int_equal(mail_storage_open(f->rootfd, &st2, &error), 0);
	assert_int_equal(mailbox_open_imap(st2, "INBOX", false, &b, &error), 1);
	remove[2] = remove[3] = true; /* UIDs 3 and 4 */
	assert_int_equal(mailbox_expunge(b, remove, &error), 0);
	assert_int_equal(mailbox_sync(b, &error), 0);
	/* above the view's HIGHESTMODSEQ: not known to it */
	assert_vanished(f->box, mailbox_highest_modseq(b), "?");
	assert_vanished(f->box, h0, "");
	assert_int_equal(mailbox_sync(f->box, &error), 0);
	assert_int_equal(mailbox_expunge(f->box, (bool[MESSAGES]){false, false, true, true}, &error),
	                 0);
	assert_vanished(f->box, h0, "3:4");
	mailbox_close(&b);
	mail_storage_close(&st2);
}

static void sql(const char *path, const char *text)
{
	sqlite3 *db;
	char *err = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, text, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", text, err);
	sqlite3_close(db);
}

static long long sql_int(const char *path, const char *text)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, text, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* An index from version 4 gets the table, with the floor at its HIGHESTMODSEQ: what was
 * expunged before is not known, what is expunged after is. */
static void test_upgrade_from_v4(void **state)
{
	struct fixture *f = *state;
	char path[512];
	uint64_t h;

	expunge_uids(f, (const uint32_t[]){2, 0});
	h = mailbox_highest_modseq(f->box);
	mailbox_close(&f->box);
	snprintf(path, sizeof(path), "%s/twofold.index", f->root);
	sql(path, "PRAGMA journal_mode = DELETE; DROP TABLE vanished;"
	          " DELETE FROM meta WHERE key = 'vanished_floor'; PRAGMA user_version = 4;");
	test_fixture_open_inbox(f);
	assert_int_equal(sql_int(path, "PRAGMA user_version"), 5);
	assert_int_equal(sql_int(path, "SELECT value FROM meta WHERE key = 'vanished_floor'"), h);
	assert_vanished(f->box, h - 1, "?");
	assert_vanished(f->box, h, "");
	expunge_uids(f, (const uint32_t[]){3, 0});
	assert_vanished(f->box, h, "3");
	assert_vanished(f->box, h - 1, "?");
}

/* A deleted index is rebuilt with MODSEQs above every one given out: what was expunged before
 * is not known to it. */
static void test_rebuilt_index_floor(void **state)
{
	struct fixture *f = *state;
	uint64_t m = expunge_uids(f, (const uint32_t[]){2, 0});

	test_fixture_remove_index(f);
	test_fixture_open_inbox(f);
	assert_vanished(f->box, m, "?");
	assert_vanished(f->box, mailbox_highest_modseq(f->box), "");
}

/* Past its bound the oldest ranges go and the floor rises above them; the newest stay. */
static void test_trimmed(void **state)
{
	struct fixture *f = *state;
	char path[512];
	uint64_t m;
	long long floor;

	snprintf(path, sizeof(path), "%s/twofold.index", f->root);
	mailbox_close(&f->box);
	/* ranges far above any UID, with old MODSEQs 1..20001 (no row lies between them), below
	 * a HIGHESTMODSEQ of 30000 */
	sql(path, "PRAGMA journal_mode = DELETE; UPDATE meta SET value = 30000 WHERE key = 'modseq';"
	          " WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20001)"
	          " INSERT INTO vanished (lo, hi, modseq) SELECT 1000000 + 2 * i, 1000000 + 2 * i,"
	          " i FROM n;");
	test_fixture_open_inbox(f);
	m = expunge_uids(f, (const uint32_t[]){4, 0});
	assert_int_equal(m, 30001);
	floor = sql_int(path, "SELECT value FROM meta WHERE key = 'vanished_floor'");
	assert_int_equal(floor, 5002); /* the 15001st newest */
	assert_int_equal(sql_int(path, "SELECT count(*) FROM vanished"), 15000);
	assert_int_equal(sql_int(path, "SELECT min(modseq) FROM vanished"), floor + 1);
	assert_vanished(f->box, m - 1, "4");
	assert_vanished(f->box, (uint64_t)floor - 1, "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_record_and_merge, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_view_uids_left_out, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upgrade_from_v4, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rebuilt_index_floor, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_trimmed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
