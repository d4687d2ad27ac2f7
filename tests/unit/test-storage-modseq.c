/* MODSEQ of messages and HIGHESTMODSEQ of mailboxes (RFC 7162) in the storage: advanced by
 * flag and keyword changes, arrivals and expunges, seen by other views, given to a file another
 * tool renamed, kept over a reopen, and added to an index from before MODSEQs. Real maildirs,
 * real SQLite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/test-storage-fixture.h"

#include "storage/index.h"

#include <sqlite3.h>

static const char msg_text[] = "Subject: x\r\n\r\nbody\r\n";

static int setup(void **state)
{
	struct fixture *f = test_fixture_new("modseq", true);
	const char *error = NULL;

	assert_int_equal(mailbox_open_imap(f->st, "INBOX", false, &f->box, &error), 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(mailbox_append(f->box, msg_text, sizeof(msg_text) - 1, 0,
		                                1700000000 + i, NULL, &error),
		                 0);
	assert_int_equal(mailbox_sync(f->box, &error), 0);
	assert_int_equal(mailbox_count(f->box), 3);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	test_fixture_free(*state);
	return 0;
}

static struct mailbox *open_view(struct fixture *f, struct mail_storage **st_r)
{
	struct mailbox *box = NULL;
	const char *error = NULL;

	assert_int_equal(mail_storage_open(f->rootfd, st_r, &error), 0);
	assert_int_equal(mailbox_open_imap(*st_r, "INBOX", false, &box, &error), 1);
	return box;
}

static bool changed_has(const struct mailbox *box, size_t index)
{
	for (size_t i = 0; i < mailbox_changed_count(box); i++) {
		if (mailbox_changed_index(box, i) == index)
			return true;
	}
	return false;
}

static void test_arrivals_and_flags(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	uint64_t h0 = mailbox_highest_modseq(f->box), m1;

	assert_true(h0 >= 2);
	assert_true(mailbox_get(f->box, 0)->modseq < mailbox_get(f->box, 2)->modseq);
	assert_int_equal(mailbox_get(f->box, 2)->modseq, h0);
	assert_int_equal(mailbox_set_flags(f->box, 1, MAIL_FLAGGED, 0, &error), 1);
	m1 = mailbox_get(f->box, 1)->modseq;
	assert_int_equal(m1, h0 + 1);
	/* no change, no new MODSEQ */
	assert_int_equal(mailbox_set_flags(f->box, 1, MAIL_FLAGGED, 0, &error), 1);
	assert_int_equal(mailbox_get(f->box, 1)->modseq, m1);
	assert_int_equal(mailbox_sync(f->box, &error), 0);
	assert_int_equal(mailbox_highest_modseq(f->box), m1);
	assert_false(changed_has(f->box, 1)); /* its own change */
	/* kept over a reopen */
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_highest_modseq(f->box), m1);
	assert_int_equal(mailbox_get(f->box, 1)->modseq, m1);
	assert_true(mailbox_get(f->box, 0)->modseq < m1);
}

static void test_keywords_and_expunge(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	uint64_t h0 = mailbox_highest_modseq(f->box);
	int bit = mailbox_keyword_index(f->box, "$Work", true);
	bool remove[3] = {true, false, false};

	assert_true(bit >= 0);
	assert_int_equal(mailbox_set_keywords(f->box, 2, 1ULL << bit, 0, &error), 1);
	assert_int_equal(mailbox_get(f->box, 2)->modseq, h0 + 1);
	assert_int_equal(mailbox_expunge(f->box, remove, &error), 0);
	assert_int_equal(mailbox_sync(f->box, &error), 0);
	assert_int_equal(mailbox_highest_modseq(f->box), h0 + 2);
}

/* Changes made as one share a MODSEQ. */
static void test_changes_as_one(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	uint64_t h0 = mailbox_highest_modseq(f->box);

	assert_int_equal(mailbox_changes_begin(f->box, &error), 0);
	assert_int_equal(mailbox_set_flags(f->box, 0, MAIL_SEEN, 0, &error), 1);
	assert_int_equal(mailbox_set_flags(f->box, 2, MAIL_SEEN, 0, &error), 1);
	assert_int_equal(mailbox_changes_commit(f->box, &error), 0);
	assert_int_equal(mailbox_get(f->box, 0)->modseq, h0 + 1);
	assert_int_equal(mailbox_get(f->box, 2)->modseq, h0 + 1);
	assert_int_equal(mailbox_highest_modseq(f->box), h0 + 1);
}

/* Another session's change reaches this view with its MODSEQ, also when the flags went back
 * to what this view had (only the MODSEQ tells). */
static void test_other_session(void **state)
{
	struct fixture *f = *state;
	struct mail_storage *st2 = NULL;
	struct mailbox *b = open_view(f, &st2);
	const char *error = NULL;
	uint64_t mb;

	assert_int_equal(mailbox_set_flags(b, 0, MAIL_ANSWERED, 0, &error), 1);
	mb = mailbox_get(b, 0)->modseq;
	assert_int_equal(mailbox_sync(f->box, &error), 0);
	assert_true(changed_has(f->box, 0));
	assert_int_equal(mailbox_get(f->box, 0)->flags & MAIL_ANSWERED, MAIL_ANSWERED);
	assert_int_equal(mailbox_get(f->box, 0)->modseq, mb);
	assert_int_equal(mailbox_highest_modseq(f->box), mb);
	mailbox_changed_clear(f->box);
	assert_int_equal(mailbox_set_flags(b, 1, MAIL_DRAFT, 0, &error), 1);
	assert_int_equal(mailbox_set_flags(b, 1, 0, MAIL_DRAFT, &error), 1);
	assert_int_equal(mailbox_sync(f->box, &error), 0);
	assert_true(changed_has(f->box, 1));
	assert_int_equal(mailbox_get(f->box, 1)->modseq, mailbox_get(b, 1)->modseq);
	assert_true(mailbox_get(f->box, 1)->modseq > mb);
	mailbox_close(&b);
	mail_storage_close(&st2);
}

/* key: the file's name up to twofold's fields (its UIDL here) */
static void rename_flagged(struct fixture *f, const char *key, const char *info)
{
	char name[512], from[1024], to[1024];

	assert_true(test_fixture_find_name(f, "cur", key, name, sizeof(name)));
	snprintf(from, sizeof(from), "%s/cur/%s", f->root, name);
	*strchr(name, ':') = '\0';
	snprintf(to, sizeof(to), "%s/cur/%s:2,%s", f->root, name, info);
	assert_int_equal(rename(from, to), 0);
}

/* Another MUA renames a file: the view that finds it gives the message a new MODSEQ, once;
 * a view opened later does not give it another. The same when no view was open. */
static void test_renamed_on_disk(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	uint64_t h0 = mailbox_highest_modseq(f->box), m;
	char key[256];

	snprintf(key, sizeof(key), "%s", mailbox_get(f->box, 1)->uidl);
	rename_flagged(f, key, "FS");
	assert_int_equal(mailbox_sync(f->box, &error), 0);
	assert_true(changed_has(f->box, 1));
	m = mailbox_get(f->box, 1)->modseq;
	assert_int_equal(m, h0 + 1);
	assert_int_equal(mailbox_highest_modseq(f->box), m);
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_get(f->box, 1)->modseq, m);
	assert_int_equal(mailbox_highest_modseq(f->box), m);
	/* renamed while no view is open */
	mailbox_close(&f->box);
	rename_flagged(f, key, "S");
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_get(f->box, 1)->flags & MAIL_FLAGGED, 0);
	assert_int_equal(mailbox_get(f->box, 1)->modseq, m + 1);
	assert_int_equal(mailbox_highest_modseq(f->box), m + 1);
}

static void sql(const char *path, const char *text)
{
	sqlite3 *db;
	char *err = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	if (sqlite3_exec(db, text, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", text, err);
	sqlite3_close(db);
}

static int sql_int(const char *path, const char *text)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int v;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, text, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* An index as version 3 wrote it (no MODSEQ columns) opens, keeps its UIDs and keywords, and
 * is upgraded: MODSEQs from 1, then advanced by changes. */
static void test_upgrade_from_v3(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	char path[512];
	int bit = mailbox_keyword_index(f->box, "$Old", true);
	uint32_t uid2 = mailbox_get(f->box, 2)->uid;

	assert_int_equal(mailbox_set_keywords(f->box, 2, 1ULL << bit, 0, &error), 1);
	mailbox_close(&f->box);
	snprintf(path, sizeof(path), "%s/twofold.index", f->root);
	sql(path, "PRAGMA journal_mode = DELETE; DROP INDEX msg_modseq;"
	          " ALTER TABLE msg DROP COLUMN modseq; ALTER TABLE msg DROP COLUMN mflags;"
	          " DELETE FROM meta WHERE key = 'modseq'; PRAGMA user_version = 3;");
	test_fixture_open_inbox(f);
	assert_int_equal(sql_int(path, "PRAGMA user_version"), 5);
	assert_int_equal(mailbox_count(f->box), 3);
	assert_int_equal(mailbox_get(f->box, 2)->uid, uid2);
	assert_int_equal(mailbox_get(f->box, 2)->keywords, 1ULL << bit);
	assert_int_equal(mailbox_highest_modseq(f->box), 1);
	assert_int_equal(mailbox_get(f->box, 0)->modseq, 1);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM msg WHERE mflags < 0"), 0);
	assert_int_equal(mailbox_set_flags(f->box, 0, MAIL_SEEN, 0, &error), 1);
	assert_int_equal(mailbox_get(f->box, 0)->modseq, 2);
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_highest_modseq(f->box), 2);
	assert_int_equal(mailbox_get(f->box, 0)->modseq, 2);
	assert_int_equal(mailbox_get(f->box, 1)->modseq, 1);
}

/* A deleted index is rebuilt with MODSEQs above every one given out before: a client that
 * asks for the changes since the HIGHESTMODSEQ it saw is sent every message again. */
static void test_rebuild_goes_on_above(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	uint64_t h;

	assert_int_equal(mailbox_set_flags(f->box, 0, MAIL_SEEN, 0, &error), 1);
	h = mailbox_get(f->box, 0)->modseq;
	test_fixture_remove_index(f);
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), 3);
	assert_true(mailbox_highest_modseq(f->box) > h);
	for (size_t i = 0; i < 3; i++)
		assert_true(mailbox_get(f->box, i)->modseq > h);
	h = mailbox_highest_modseq(f->box);
	assert_int_equal(mailbox_set_flags(f->box, 1, MAIL_SEEN, 0, &error), 1);
	assert_int_equal(mailbox_get(f->box, 1)->modseq, h + 1);
}

static void count_change(void *ctx, uint32_t uid, uint64_t modseq)
{
	(void)uid;
	(void)modseq;
	(*(size_t *)ctx)++;
}

static size_t changes_since(struct mail_index *idx, uint64_t since)
{
	const char *error = NULL;
	size_t n = 0;

	assert_int_equal(mail_index_modseq_changes(idx, since, count_change, &n, &error), 0);
	return n;
}

/* A new index's first sync gives every row one MODSEQ and leaves those rows out of the MODSEQ
 * index (building a big mailbox's index does not build a second one); changes since any MODSEQ
 * are found all the same, through that index or by a scan. */
static void test_first_sync_not_indexed(void **state)
{
	struct fixture *f = *state;
	struct mail_index *idx = NULL;
	const char *error = NULL;
	char path[512], query[256];
	bool rebuild;
	uint64_t m;

	test_fixture_remove_index(f);
	test_fixture_open_inbox(f);
	m = mailbox_get(f->box, 0)->modseq;
	assert_int_equal(mailbox_get(f->box, 2)->modseq, m);
	snprintf(path, sizeof(path), "%s/twofold.index", f->root);
	snprintf(query, sizeof(query),
	         "SELECT sql = 'CREATE INDEX msg_modseq ON msg (modseq) WHERE modseq > %llu'"
	         " FROM sqlite_master WHERE name = 'msg_modseq'",
	         (unsigned long long)m);
	assert_int_equal(sql_int(path, query), 1);
	assert_int_equal(mailbox_set_flags(f->box, 1, MAIL_SEEN, 0, &error), 1);
	assert_int_equal(mail_index_open(f->rootfd, &idx, &rebuild, &error), 0);
	assert_int_equal(changes_since(idx, m + 1), 0);
	assert_int_equal(changes_since(idx, m), 1);
	assert_int_equal(changes_since(idx, m - 1), 3);
	mail_index_close(&idx);
}

static void test_status_and_copy(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct mailbox_status status;
	struct mailbox *dst = NULL;
	uint32_t uid;
	uint64_t before;

	assert_int_equal(mailbox_create(f->st, "Other", &error), 0);
	assert_int_equal(mailbox_open(f->st, "Other", &dst, &error), 1);
	before = mailbox_highest_modseq(dst);
	assert_int_equal(mailbox_copy(f->box, 0, dst, &uid, &error), 0);
	assert_int_equal(mailbox_sync(dst, &error), 0);
	assert_int_equal(mailbox_highest_modseq(dst), before + 1);
	assert_int_equal(mailbox_get(dst, 0)->modseq, before + 1);
	mailbox_close(&dst);
	assert_int_equal(mailbox_get_status(f->st, "Other", false, &status, &error), 1);
	assert_int_equal(status.highestmodseq, before + 1);
	assert_int_equal(mailbox_get_status(f->st, "INBOX", false, &status, &error), 1);
	assert_int_equal(status.highestmodseq, mailbox_highest_modseq(f->box));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_arrivals_and_flags, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keywords_and_expunge, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_changes_as_one, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_renamed_on_disk, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upgrade_from_v3, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rebuild_goes_on_above, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_and_copy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_first_sync_not_indexed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
