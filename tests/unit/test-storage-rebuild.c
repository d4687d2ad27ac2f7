/* Storage, index rebuilds at scale: a first sync of many files (batched inserts, bulk load,
 * reordered listings, delivery order), two sessions building one index at once, a rebuild
 * killed midway. Real maildirs in a temp dir, real SQLite index, real processes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/test-storage-fixture.h"

#include "common/buf.h"
#include "common/xalloc.h"
#include "storage/storage.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Two processes syncing the same fresh deliveries at once agree on every UID. */
static void list_uids_n(struct fixture *f, const char *out, size_t expect)
{
	struct mail_storage *st = NULL;
	struct mailbox *box = NULL;
	const char *error = NULL;
	FILE *fp;

	if (mail_storage_open(f->rootfd, &st, &error) < 0 ||
	    mailbox_open(st, "INBOX", &box, &error) != 1 || (fp = fopen(out, "w")) == NULL)
		_exit(2);
	for (size_t i = 0; i < mailbox_count(box); i++)
		fprintf(fp, "%u %s\n", mailbox_get(box, i)->uid, mailbox_get(box, i)->uidl);
	_exit(fclose(fp) == 0 && mailbox_count(box) == expect ? 0 : 3);
}

static void list_uids(struct fixture *f, const char *out)
{
	list_uids_n(f, out, 300);
}

static void test_concurrent_sessions_agree(void **state)
{
	struct fixture *f = *state;
	char name[64], outs[2][1024], *texts[2];
	pid_t pids[2];
	int status;
	FILE *fp;

	test_fixture_open_inbox(f);
	mailbox_close(&f->box);
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "new/%d.c%d.h", 1000 + i, i);
		PUT(f, name, "m\n");
	}
	for (int p = 0; p < 2; p++) {
		snprintf(outs[p], sizeof(outs[p]), "%s/out%d", f->root, p);
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0)
			list_uids(f, outs[p]);
	}
	for (int p = 0; p < 2; p++) {
		long len;

		assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		fp = fopen(outs[p], "r");
		assert_non_null(fp);
		fseek(fp, 0, SEEK_END);
		len = ftell(fp);
		rewind(fp);
		texts[p] = xcalloc(1, (size_t)len + 1);
		assert_int_equal(fread(texts[p], 1, (size_t)len, fp), (size_t)len);
		fclose(fp);
	}
	assert_string_equal(texts[0], texts[1]);
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), 300);
	for (size_t i = 0; i < 300; i++)
		assert_int_equal(mailbox_get(f->box, i)->uid, i + 1);
	xfree(&texts[0]);
	xfree(&texts[1]);
}

/* A first sync of many files inserts its rows in batches: files with ",U=" keep their UIDs
 * (checked against the rows inserted before them), the others get fresh UIDs above them in
 * name order, and the view is in UID order. */
/* kept files named with ",U=" (UID 1000 + 3 i), then fresh ones without, in cur/ */
static void put_kept_and_fresh(struct fixture *f, size_t kept, size_t fresh)
{
	char path[300];

	test_fixture_open_inbox(f);
	mailbox_close(&f->box);
	for (size_t i = 0; i < kept; i++) {
		snprintf(path, sizeof(path), "cur/%04zu.kept.h,S=2,W=3,U=%zu:2,S", i, 1000 + 3 * i);
		PUT(f, path, "k\n");
	}
	for (size_t i = 0; i < fresh; i++) {
		snprintf(path, sizeof(path), "cur/%04zu.fresh.h:2,", i);
		PUT(f, path, "f\n");
	}
}

/* kept files named with ",U=", then fresh ones; every round rebuilds the index. */
static void check_batched_rebuild(struct fixture *f, size_t kept, size_t fresh)
{
	char uidl[64];

	put_kept_and_fresh(f, kept, fresh);
	for (int round = 0; round < 2; round++) {
		test_fixture_remove_index(f);
		test_fixture_open_inbox(f);
		assert_int_equal(mailbox_count(f->box), kept + fresh);
		for (size_t i = 0; i < kept; i++) {
			const struct mail *m = mailbox_get(f->box, i);

			snprintf(uidl, sizeof(uidl), "%04zu.kept.h", i);
			assert_string_equal(m->uidl, uidl);
			assert_int_equal(m->uid, 1000 + 3 * i);
		}
		for (size_t i = 0; i < fresh; i++) {
			const struct mail *m = mailbox_get(f->box, kept + i);

			snprintf(uidl, sizeof(uidl), "%04zu.fresh.h", i);
			assert_string_equal(m->uidl, uidl);
			assert_true(m->uid > mailbox_get(f->box, kept + i - 1)->uid);
			assert_int_equal(test_fixture_sizes(f->box, kept + i).crlf_size, 3);
		}
		/* the next session finds every row by its key, UIDs unchanged */
		{
			uint32_t last = mailbox_get(f->box, kept + fresh - 1)->uid;

			test_fixture_open_inbox(f);
			assert_int_equal(mailbox_count(f->box), kept + fresh);
			assert_int_equal(mailbox_get(f->box, kept + fresh - 1)->uid, last);
			assert_int_equal(mailbox_uidnext(f->box), last + 1);
		}
	}
}

static void test_many_uids_batched(void **state)
{
	check_batched_rebuild(*state, 100, 150);
}

/* Fresh files get UIDs in delivery order: by the time their names start with, then by name
 * (700 files written in a scrambled order, many sharing a time: every merge level of the sort
 * and its ties are used). */
static void test_fresh_delivery_order(void **state)
{
	enum { N = 700 };
	struct fixture *f = *state;
	char path[300], uidl[64], prev[64] = "";

	test_fixture_open_inbox(f);
	mailbox_close(&f->box);
	for (size_t k = 0; k < N; k++) {
		size_t i = (k * 337) % N; /* 337 is prime to N: every i once */

		snprintf(path, sizeof(path), "cur/%zu.M%zuP1.h:2,", 1700000000 + (i * 7919) % 50,
		         (i * 104729) % 1000);
		PUT(f, path, "x\n");
	}
	test_fixture_remove_index(f);
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), N);
	for (size_t i = 0; i < N; i++) {
		const struct mail *m = mailbox_get(f->box, i);
		unsigned long t, pt;

		snprintf(uidl, sizeof(uidl), "%s", m->uidl);
		if (i > 0) {
			assert_true(m->uid > mailbox_get(f->box, i - 1)->uid);
			assert_int_equal(sscanf(uidl, "%lu", &t), 1);
			assert_int_equal(sscanf(prev, "%lu", &pt), 1);
			assert_true(pt < t || (pt == t && strcmp(prev, uidl) < 0));
		}
		memcpy(prev, uidl, sizeof(prev));
	}
}

/* KEPT files with ",U=" (1000 + 3 i) and FRESH without, in cur/, for the rebuild tests. */
enum { BULK_KEPT = 700, BULK_FRESH = 900 };

static void put_bulk_files(struct fixture *f)
{
	put_kept_and_fresh(f, BULK_KEPT, BULK_FRESH);
}

static off_t file_size(struct fixture *f, const char *name)
{
	struct stat stbuf;

	return fstatat(f->rootfd, name, &stbuf, 0) == 0 ? stbuf.st_size : -1;
}

static char *read_text(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *text;
	long len;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	rewind(fp);
	text = xcalloc(1, (size_t)len + 1);
	assert_int_equal(fread(text, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	return text;
}

/* The open view's "uid uidl" lines. */
static char *view_text(struct fixture *f)
{
	struct buf b;
	char line[128];
	char *text;

	buf_init(&b);
	for (size_t i = 0; i < mailbox_count(f->box); i++) {
		snprintf(line, sizeof(line), "%u %s\n", mailbox_get(f->box, i)->uid,
		         mailbox_get(f->box, i)->uidl);
		buf_append_str(&b, line);
	}
	buf_append(&b, "", 1);
	text = xstrdup(b.data);
	buf_free(&b);
	return text;
}

/* Two sessions rebuilding a big index at once (bulk load, each leaving without closing, as a
 * crash would): the same UIDs in both and in a third session. The bulk commit leaves its pages
 * in the synced WAL (no checkpoint before the caller can answer); the last close moves them
 * into the main file, which alone gives the same UIDs. */
static void test_bulk_rebuild_concurrent(void **state)
{
	struct fixture *f = *state;
	char outs[2][1024], *texts[2], *mine;
	pid_t pids[2];
	int status;

	put_bulk_files(f);
	test_fixture_remove_index(f);
	for (int p = 0; p < 2; p++) {
		snprintf(outs[p], sizeof(outs[p]), "%s/out%d", f->root, p);
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0)
			list_uids_n(f, outs[p], BULK_KEPT + BULK_FRESH);
	}
	for (int p = 0; p < 2; p++) {
		assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		texts[p] = read_text(outs[p]);
	}
	assert_string_equal(texts[0], texts[1]);
	assert_true(file_size(f, "twofold.index-wal") > 64 * 1024);
	test_fixture_open_inbox(f);
	mine = view_text(f);
	assert_string_equal(mine, texts[0]);
	for (size_t i = 0; i < BULK_KEPT; i++)
		assert_int_equal(mailbox_get(f->box, i)->uid, 1000 + 3 * i);
	mailbox_close(&f->box);
	mail_storage_close(&f->st);
	assert_true(file_size(f, "twofold.index-wal") <= 0);
	assert_true(file_size(f, "twofold.index") > 64 * 1024);
	test_fixture_open_inbox(f);
	xfree(&mine);
	mine = view_text(f);
	assert_string_equal(mine, texts[0]);
	xfree(&mine);
	xfree(&texts[0]);
	xfree(&texts[1]);
}

/* A rebuild killed at some point (SIGKILL after 0..64 ms): the next session finds a usable
 * index (or none) and never a torn one: every message, ,U= UIDs kept, UIDs ascending, the
 * same in the session after it, and SQLite's integrity check passes. */
static void test_bulk_rebuild_killed(void **state)
{
	static const unsigned delays_us[] = {0, 1000, 2000, 4000, 8000, 16000, 32000, 64000};
	struct fixture *f = *state;
	char out[1024], path[300], *first, *again;
	int status;

	put_bulk_files(f);
	snprintf(out, sizeof(out), "%s/out", f->root);
	for (size_t d = 0; d < sizeof(delays_us) / sizeof(delays_us[0]); d++) {
		pid_t pid;
		sqlite3 *db;
		sqlite3_stmt *st;

		test_fixture_remove_index(f);
		mail_storage_close(&f->st);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			list_uids_n(f, out, BULK_KEPT + BULK_FRESH);
		usleep(delays_us[d]);
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		test_fixture_open_inbox(f);
		assert_int_equal(mailbox_count(f->box), BULK_KEPT + BULK_FRESH);
		for (size_t i = 0; i < BULK_KEPT + BULK_FRESH; i++) {
			if (i < BULK_KEPT)
				assert_int_equal(mailbox_get(f->box, i)->uid, 1000 + 3 * i);
			if (i > 0)
				assert_true(mailbox_get(f->box, i)->uid >
				            mailbox_get(f->box, i - 1)->uid);
		}
		first = view_text(f);
		test_fixture_open_inbox(f);
		again = view_text(f);
		assert_string_equal(first, again);
		snprintf(path, sizeof(path), "%s/twofold.index", f->root);
		assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
		                 SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
		                 SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
		sqlite3_finalize(st);
		sqlite3_close(db);
		xfree(&first);
		xfree(&again);
	}
}

/* The uid of key through the unique key index (forced), 0 when absent. */
static uint32_t key_index_uid(sqlite3 *db, const char *key)
{
	sqlite3_stmt *st;
	uint32_t uid = 0;

	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT uid FROM msg INDEXED BY msg_key WHERE key = ?",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		uid = (uint32_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return uid;
}

/* A rebuild big enough to load the empty table without its key index (re-created at the end
 * of the same transaction): the ,U= UIDs are kept, the index is whole and unique, and a
 * second session and a delivery find every key. */
static void test_bulk_rebuild_key_index(void **state)
{
	enum { KEPT = 1100, FRESH = 500 };
	struct fixture *f = *state;
	const char *error = NULL;
	char path[300], key[64];
	sqlite3 *db;
	sqlite3_stmt *st;

	check_batched_rebuild(f, KEPT, FRESH);
	snprintf(path, sizeof(path), "%s/twofold.index", f->root);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	for (size_t i = 0; i < KEPT + FRESH; i++) {
		const struct mail *m = mailbox_get(f->box, i);

		snprintf(key, sizeof(key), i < KEPT ? "%04zu.kept.h" : "%04zu.fresh.h",
		         i < KEPT ? i : i - KEPT);
		assert_int_equal(key_index_uid(db, key), m->uid);
	}
	/* unique: a second row with a present key is refused */
	assert_int_not_equal(sqlite3_exec(db,
	                                  "INSERT INTO msg (uid, key, size, vsize, date)"
	                                  " VALUES (999999, '0000.kept.h', 1, 1, 1)",
	                                  NULL, NULL, NULL),
	                     SQLITE_OK);
	sqlite3_close(db);
	/* a delivery is looked up and added by key */
	PUT(f, "new/zz.delivered.h", "d\n");
	assert_int_equal(mailbox_sync(f->box, &error), 0);
	assert_int_equal(mailbox_count(f->box), KEPT + FRESH + 1);
	assert_string_equal(mailbox_get(f->box, KEPT + FRESH)->uidl, "zz.delivered.h");
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), KEPT + FRESH + 1);
}

/* A new session on a mailbox whose index has rows finds 5,000 new files in cur/: the listing
 * is reordered with the indexed entries behind the new ones, and the view has both, the old
 * UIDs kept and the new ones above them. */
static void test_big_listing_with_indexed_entries(void **state)
{
	enum { OLD = 100, NEW = 5000 };
	struct fixture *f = *state;
	uint32_t old_uid[OLD];
	char path[300];

	test_fixture_open_inbox(f);
	for (size_t i = 0; i < OLD; i++) {
		snprintf(path, sizeof(path), "cur/%04zu.old.h:2,S", i);
		PUT(f, path, "o\n");
	}
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), OLD);
	for (size_t i = 0; i < OLD; i++)
		old_uid[i] = mailbox_get(f->box, i)->uid;
	mailbox_close(&f->box);
	for (size_t i = 0; i < NEW; i++) {
		snprintf(path, sizeof(path), "cur/%04zu.new.h:2,", i);
		PUT(f, path, "nn\n");
	}
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), OLD + NEW);
	for (size_t i = 0; i < OLD; i++) {
		snprintf(path, sizeof(path), "%04zu.old.h", i);
		assert_string_equal(mailbox_get(f->box, i)->uidl, path);
		assert_int_equal(mailbox_get(f->box, i)->uid, old_uid[i]);
		assert_int_equal(mailbox_get(f->box, i)->flags & MAIL_SEEN, MAIL_SEEN);
	}
	for (size_t i = 0; i < NEW; i += 250) {
		snprintf(path, sizeof(path), "%04zu.new.h", i);
		assert_string_equal(mailbox_get(f->box, OLD + i)->uidl, path);
		assert_true(mailbox_get(f->box, OLD + i)->uid > old_uid[OLD - 1]);
		assert_int_equal(test_fixture_sizes(f->box, OLD + i).crlf_size, 4);
		assert_int_equal(test_fixture_sizes(f->box, i % OLD).crlf_size, 3);
	}
}

/* A listing big enough to be reordered before it is indexed (SCAN_REORDER_MIN in scan-order.c):
 * UIDs, flags, names (files opened and renamed through them) and sizes come out right, and
 * later syncs of that view and a new session work on it. */
static void test_big_listing_reordered(void **state)
{
	enum { KEPT = 2500, FRESH = 2500 };
	struct fixture *f = *state;
	const char *error = NULL;
	char path[300];
	size_t i;

	check_batched_rebuild(f, KEPT, FRESH);
	test_fixture_remove_index(f);
	test_fixture_open_inbox(f);
	for (i = 0; i < KEPT + FRESH; i += 97) {
		const struct mail *m = mailbox_get(f->box, i);

		assert_int_equal(m->flags & MAIL_SEEN, i < KEPT ? MAIL_SEEN : 0);
		assert_int_equal(test_fixture_sizes(f->box, i).crlf_size, 3);
	}
	/* a flag change renames the file through the view's name */
	i = KEPT + 1234;
	assert_int_equal(mailbox_set_flags(f->box, i, MAIL_FLAGGED, 0, &error), 1);
	assert_true(test_fixture_exists(f, "cur/1234.fresh.h:2,F"));
	/* a delivery and an outside rename are picked up by the next sync */
	PUT(f, "new/zz.delivered.h", "d\n");
	test_fixture_set_info(f, "0007.kept.h", ":2,ST");
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_count(f->box), KEPT + FRESH + 1);
	assert_int_equal(test_fixture_find_uidl(f, "0007.kept.h")->flags & MAIL_DELETED,
	                 MAIL_DELETED);
	assert_int_equal(test_fixture_find_uidl(f, "zz.delivered.h")->uid,
	                 mailbox_get(f->box, KEPT + FRESH - 1)->uid + 1);
	/* another session sees the same */
	snprintf(path, sizeof(path), "%u", mailbox_get(f->box, KEPT + 1234)->uid);
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), KEPT + FRESH + 1);
	assert_int_equal(test_fixture_find_uidl(f, "1234.fresh.h")->flags & MAIL_FLAGGED,
	                 MAIL_FLAGGED);
	assert_int_equal(test_fixture_find_uidl(f, "1234.fresh.h")->uid,
	                 (uint32_t)strtoul(path, NULL, 10));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_concurrent_sessions_agree, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_many_uids_batched, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_bulk_rebuild_key_index, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_fresh_delivery_order, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_bulk_rebuild_concurrent, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_bulk_rebuild_killed, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_big_listing_reordered, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_big_listing_with_indexed_entries,
	                                    test_fixture_setup, test_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
