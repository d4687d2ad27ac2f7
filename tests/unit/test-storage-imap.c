/* Storage for IMAP: \Recent, keywords, the changed list, copy/move, the metadata cache, UIDLs,
 * the inotify watch, and order and deletions across sessions. Real maildirs in a temp dir, real
 * SQLite, real processes. The folders are test-storage-folders.c's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/test-storage-fixture.h"

#include "common/buf.h"
#include "common/xalloc.h"
#include "storage/storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- status and \Recent ---- */

static void test_recent_claimed_once(void **state)
{
	struct fixture *f = *state;
	struct mailbox *ro, *rw2;
	struct mailbox_status status;
	const char *error = NULL;

	PUT(f, "new/1.a.h", "a\n");
	PUT(f, "new/2.b.h", "b\n");
	assert_int_equal(mailbox_get_status(f->st, "INBOX", true, &status, &error), 1);
	assert_int_equal(status.messages, 2);
	assert_int_equal(status.recent, 2);
	assert_int_equal(status.unseen, 2);
	assert_int_equal(status.size, 6);
	assert_int_equal(status.uidnext, 3);
	/* EXAMINE sees them recent and leaves them so */
	ro = test_fixture_open_box(f, "INBOX", true);
	assert_true(mailbox_get(ro, 0)->flags & MAIL_RECENT);
	mailbox_close(&ro);
	/* the first SELECT claims them */
	f->box = test_fixture_open_box(f, "INBOX", false);
	assert_true(mailbox_get(f->box, 0)->flags & MAIL_RECENT);
	assert_true(mailbox_get(f->box, 1)->flags & MAIL_RECENT);
	rw2 = test_fixture_open_box(f, "INBOX", false);
	assert_false(mailbox_get(rw2, 0)->flags & MAIL_RECENT);
	assert_false(mailbox_get(rw2, 1)->flags & MAIL_RECENT);
	assert_int_equal(mailbox_get_status(f->st, "INBOX", true, &status, &error), 1);
	assert_int_equal(status.recent, 0);
	/* a delivery during both sessions is recent in exactly one of them */
	PUT(f, "new/3.c.h", "c\n");
	test_fixture_sync(rw2);
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_count(f->box), 3);
	assert_int_equal(mailbox_count(rw2), 3);
	assert_true(mailbox_get(rw2, 2)->flags & MAIL_RECENT);
	assert_false(mailbox_get(f->box, 2)->flags & MAIL_RECENT);
	mailbox_close(&rw2);
}

/* ---- keywords ---- */

static void test_keywords_persist(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	char name[64];
	int a, b, last;

	f->box = test_fixture_open_box(f, "INBOX", false);
	test_fixture_append(f->box, "1\n", 0);
	test_fixture_append(f->box, "2\n", 0);
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_keyword_index(f->box, "$Junk", false), -1);
	a = mailbox_keyword_index(f->box, "$Junk", true);
	b = mailbox_keyword_index(f->box, "work", true);
	assert_int_equal(a, 0);
	assert_int_equal(b, 1);
	assert_int_equal(mailbox_keyword_index(f->box, "$JUNK", true), a); /* case-insensitive */
	assert_int_equal(mailbox_keyword_index(f->box, "\\Seen", true), -1);
	assert_int_equal(mailbox_keyword_index(f->box, "a b", true), -1);
	assert_int_equal(mailbox_keyword_count(f->box), 2);
	assert_int_equal(mailbox_set_keywords(f->box, 0, 1ULL << a | 1ULL << b, 0, &error), 1);
	assert_int_equal(mailbox_set_keywords(f->box, 1, 1ULL << b, 0, &error), 1);
	assert_int_equal(mailbox_set_keywords(f->box, 0, 0, 1ULL << b, &error), 1);
	assert_int_equal(mailbox_get(f->box, 0)->keywords, 1ULL << a);

	mailbox_close(&f->box);
	f->box = test_fixture_open_box(f, "INBOX", false);
	assert_int_equal(mailbox_keyword_count(f->box), 2);
	assert_string_equal(mailbox_keyword_name(f->box, 0), "$Junk");
	assert_string_equal(mailbox_keyword_name(f->box, 1), "work");
	assert_null(mailbox_keyword_name(f->box, 2));
	assert_int_equal(mailbox_get(f->box, 0)->keywords, 1ULL << a);
	assert_int_equal(mailbox_get(f->box, 1)->keywords, 1ULL << b);

	/* at most 64 names */
	for (int i = 2; i < 64; i++) {
		snprintf(name, sizeof(name), "k%d", i);
		assert_int_equal(mailbox_keyword_index(f->box, name, true), i);
	}
	last = mailbox_keyword_index(f->box, "one-too-many", true);
	assert_int_equal(last, -1);
	assert_int_equal(mailbox_set_keywords(f->box, 1, 1ULL << 63, 0, &error), 1);
	mailbox_close(&f->box);
	f->box = test_fixture_open_box(f, "INBOX", false);
	assert_int_equal(mailbox_keyword_count(f->box), 64);
	assert_string_equal(mailbox_keyword_name(f->box, 63), "k63");
	assert_int_equal(mailbox_get(f->box, 1)->keywords, 1ULL << b | 1ULL << 63);
}

/* ---- changed list ---- */

static void test_changed_after_external_rename(void **state)
{
	struct fixture *f = *state;
	struct mailbox *other;
	const char *error = NULL;
	char name[256], from[600], to[600];
	int kw;

	f->box = test_fixture_open_box(f, "INBOX", false);
	PUT(f, "new/10.a.h", "a\n");
	PUT(f, "new/11.b.h", "b\n");
	PUT(f, "new/12.c.h", "c\n");
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_changed_count(f->box), 0);
	other = test_fixture_open_box(f, "INBOX", false);

	/* another session sets a flag and a keyword; a tool renames a third file */
	assert_int_equal(mailbox_set_flags(other, 0, MAIL_SEEN, 0, &error), 1);
	kw = mailbox_keyword_index(other, "done", true);
	assert_int_equal(mailbox_set_keywords(other, 1, 1ULL << kw, 0, &error), 1);
	assert_true(test_fixture_find_name(f, "cur", "12.c.h", name, sizeof(name)));
	snprintf(from, sizeof(from), "%s/cur/%s", f->root, name);
	snprintf(to, sizeof(to), "%s/cur/%.*s:2,F", f->root, (int)(strchr(name, ':') - name), name);
	assert_int_equal(rename(from, to), 0);
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_changed_count(f->box), 3);
	assert_int_equal(mailbox_changed_index(f->box, 0) + mailbox_changed_index(f->box, 1) +
	                     mailbox_changed_index(f->box, 2),
	                 0 + 1 + 2);
	assert_int_equal(mailbox_get(f->box, 0)->flags & MAIL_SEEN, MAIL_SEEN);
	assert_string_equal(mailbox_keyword_name(f->box, (unsigned)kw), "done");
	assert_int_equal(mailbox_get(f->box, 1)->keywords, 1ULL << kw);
	assert_int_equal(mailbox_get(f->box, 2)->flags & ~MAIL_RECENT, MAIL_FLAGGED);
	/* own changes are no news; the list lasts until the caller takes it */
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_changed_count(f->box), 3);
	mailbox_changed_clear(f->box);
	assert_int_equal(mailbox_set_flags(f->box, 2, MAIL_SEEN, 0, &error), 1);
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_changed_count(f->box), 0);
	/* the other session learns of it */
	test_fixture_sync(other);
	assert_int_equal(mailbox_changed_count(other), 1);
	assert_int_equal(mailbox_changed_index(other, 0), 2);
	mailbox_close(&other);
}

/* A change found between syncs (a lookup after another session renamed the file) is still
 * listed after the next sync, and an expunge renumbers it. */
static void test_changed_between_syncs_kept(void **state)
{
	struct fixture *f = *state;
	struct mailbox *other;
	const char *error = NULL;
	int fd;

	f->box = test_fixture_open_box(f, "INBOX", false);
	for (int i = 0; i < 3; i++)
		test_fixture_append(f->box, "Subject: x\n\nx\n", 0);
	test_fixture_sync(f->box);
	other = test_fixture_open_box(f, "INBOX", false);
	assert_int_equal(mailbox_set_flags(other, 2, MAIL_FLAGGED, 0, &error), 1);
	/* the open finds the file under its new name: the new flags are known now */
	fd = mailbox_msg_open(f->box, 2, &error);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mailbox_get(f->box, 2)->flags & MAIL_FLAGGED, MAIL_FLAGGED);
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_changed_count(f->box), 1);
	assert_int_equal(mailbox_changed_index(f->box, 0), 2);
	/* message 1 goes: the change moves with its message */
	{
		bool remove[3] = {true, false, false};

		assert_int_equal(mailbox_expunge(f->box, remove, &error), 0);
	}
	assert_int_equal(mailbox_changed_count(f->box), 1);
	assert_int_equal(mailbox_changed_index(f->box, 0), 1);
	mailbox_changed_clear(f->box);
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_changed_count(f->box), 0);
	mailbox_close(&other);
}

/* A set copied as one: a source expunged meanwhile fails the whole copy and leaves the
 * destination as before (no file, no UID taken); the rest copies on the retry. */
static void test_copy_many_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	struct mailbox *dst;
	const char *error = NULL;
	size_t idx[3] = {0, 1, 2};
	uint32_t uids[3] = {0}, next;
	char name[256], path[600];
	DIR *dp;
	struct dirent *d;
	size_t files = 0;

	assert_int_equal(mailbox_create(f->st, "Dest", &error), 0);
	f->box = test_fixture_open_box(f, "INBOX", false);
	PUT(f, "new/30.a.h", "a\n");
	PUT(f, "new/31.b.h", "b\n");
	PUT(f, "new/32.c.h", "c\n");
	test_fixture_sync(f->box);
	dst = test_fixture_open_box(f, "Dest", false);
	next = mailbox_uidnext(dst);
	/* another session expunges the third (the view does not know yet) */
	assert_true(test_fixture_find_name(f, "cur", "32.c.h", name, sizeof(name)));
	snprintf(path, sizeof(path), "%s/cur/%s", f->root, name);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mailbox_copy_many(f->box, idx, 3, dst, uids, &error), 0);
	snprintf(path, sizeof(path), "%s/.Dest/cur", f->root);
	dp = opendir(path);
	assert_non_null(dp);
	while ((d = readdir(dp)) != NULL)
		files += d->d_name[0] != '.';
	closedir(dp);
	assert_int_equal(files, 0);
	test_fixture_sync(dst);
	assert_int_equal(mailbox_count(dst), 0);
	assert_int_equal(mailbox_uidnext(dst), next);
	assert_true(mailbox_msg_gone(f->box, 2));
	/* the rest, with the source renamed by a flag change meanwhile */
	assert_true(test_fixture_find_name(f, "cur", "31.b.h", name, sizeof(name)));
	{
		char from[600], to[600];

		snprintf(from, sizeof(from), "%s/cur/%s", f->root, name);
		snprintf(to, sizeof(to), "%s/cur/%.*s:2,S", f->root,
		         (int)(strchr(name, ':') - name), name);
		assert_int_equal(rename(from, to), 0);
	}
	assert_int_equal(mailbox_copy_many(f->box, idx, 2, dst, uids, &error), 1);
	assert_int_equal(uids[0], next);
	assert_int_equal(uids[1], next + 1);
	test_fixture_sync(dst);
	assert_int_equal(mailbox_count(dst), 2);
	assert_int_equal(mailbox_get(dst, 1)->flags & MAIL_SEEN, MAIL_SEEN);
	mailbox_close(&dst);
}

/* ---- copy / move ---- */

static void test_copy_move_keep_flags(void **state)
{
	struct fixture *f = *state;
	struct mailbox *dst;
	const char *error = NULL;
	uint32_t c1, c2, m1, last;
	struct buf b;
	int kw, dkw;
	char buf[16];
	int fd;

	assert_int_equal(mailbox_create(f->st, "Dest", &error), 0);
	f->box = test_fixture_open_box(f, "INBOX", false);
	PUT(f, "new/20.a.h", "alpha\n");
	test_fixture_sync(f->box);
	test_fixture_append(f->box, "beta\n", MAIL_SEEN | MAIL_ANSWERED);
	test_fixture_sync(f->box);
	kw = mailbox_keyword_index(f->box, "$Forwarded", true);
	assert_int_equal(mailbox_keyword_index(f->box, "first", true), kw + 1);
	assert_int_equal(mailbox_set_keywords(f->box, 0, 1ULL << (kw + 1), 0, &error), 1);
	assert_int_equal(mailbox_set_keywords(f->box, 1, 1ULL << kw, 0, &error), 1);
	assert_int_equal(mailbox_set_flags(f->box, 0, MAIL_FLAGGED, 0, &error), 1);
	assert_int_equal(mailbox_cache_put(f->box, 1, "envelope", "(ENV)", 5), 0);

	dst = test_fixture_open_box(f, "Dest", false);
	test_fixture_append(dst, "existing\n", 0);
	test_fixture_sync(dst);
	last = mailbox_get(dst, 0)->uid;
	assert_int_equal(mailbox_copy(f->box, 1, dst, &c1, &error), 0);
	assert_int_equal(mailbox_copy(f->box, 0, dst, &c2, &error), 0);
	assert_int_equal(mailbox_move(f->box, 0, dst, &m1, &error), 0);
	assert_true(c1 > last && c2 > c1 && m1 > c2);
	test_fixture_sync(dst);
	assert_int_equal(mailbox_count(dst), 4);
	for (size_t i = 1; i < 4; i++)
		assert_true(mailbox_get(dst, i)->uid > mailbox_get(dst, i - 1)->uid);
	assert_int_equal(mailbox_get(dst, mailbox_find_uid(dst, c1))->flags & ~MAIL_RECENT,
	                 MAIL_SEEN | MAIL_ANSWERED);
	dkw = mailbox_keyword_index(dst, "$Forwarded", false);
	assert_true(dkw >= 0);
	assert_int_equal(mailbox_get(dst, mailbox_find_uid(dst, c1))->keywords, 1ULL << dkw);
	assert_int_equal(mailbox_get(dst, mailbox_find_uid(dst, m1))->flags & ~MAIL_RECENT,
	                 MAIL_FLAGGED);
	dkw = mailbox_keyword_index(dst, "first", false);
	assert_int_equal(mailbox_get(dst, mailbox_find_uid(dst, m1))->keywords, 1ULL << dkw);
	/* the data is the same, the cached metadata came along */
	fd = mailbox_msg_open(dst, (size_t)mailbox_find_uid(dst, m1), &error);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "alpha\n", 6);
	close(fd);
	buf_init(&b);
	assert_int_equal(mailbox_cache_get(dst, (size_t)mailbox_find_uid(dst, c1), "envelope", &b),
	                 1);
	assert_int_equal(b.len, 5);
	buf_free(&b);
	assert_int_equal(test_fixture_sizes(dst, (size_t)mailbox_find_uid(dst, c1)).date,
	                 test_fixture_sizes(f->box, 1).date);

	/* moved: gone from the source, copied: still there */
	assert_true(mailbox_msg_gone(f->box, 0));
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_count(f->box), 2);
	{
		bool remove[2] = {true, false};

		assert_int_equal(mailbox_expunge(f->box, remove, &error), 0);
	}
	assert_int_equal(mailbox_count(f->box), 1);
	/* UIDs survive an index rebuild of the destination (,U= in the names) */
	mailbox_close(&dst);
	{
		char path[600];

		snprintf(path, sizeof(path), "%s/.Dest/twofold.index", f->root);
		assert_int_equal(unlink(path), 0);
	}
	dst = test_fixture_open_box(f, "Dest", false);
	assert_int_equal(mailbox_count(dst), 4);
	assert_true(mailbox_find_uid(dst, c1) >= 0 && mailbox_find_uid(dst, c2) >= 0 &&
	            mailbox_find_uid(dst, m1) >= 0);
	mailbox_close(&dst);
}

/* ---- metadata cache ---- */

static int count_cache_rows(struct fixture *f, const char *dir)
{
	char path[600];
	sqlite3 *db;
	sqlite3_stmt *st;
	int n;

	snprintf(path, sizeof(path), "%s/%s/twofold.index", f->root, dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM cache", -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void test_cache_get_put_removed(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	bool remove[2] = {true, false};
	struct buf b;

	f->box = test_fixture_open_box(f, "INBOX", false);
	test_fixture_append(f->box, "a\n", 0);
	test_fixture_append(f->box, "b\n", 0);
	test_fixture_sync(f->box);
	buf_init(&b);
	assert_int_equal(mailbox_cache_get(f->box, 0, "envelope", &b), 0);
	assert_int_equal(mailbox_cache_put(f->box, 0, "envelope", "(E0)", 4), 0);
	assert_int_equal(mailbox_cache_put(f->box, 0, "bodystructure", "(B0)", 4), 0);
	assert_int_equal(mailbox_cache_put(f->box, 1, "envelope", "(E1)", 4), 0);
	assert_int_equal(mailbox_cache_put(f->box, 1, "envelope", "(E1b)", 5), 0);
	assert_int_equal(mailbox_cache_get(f->box, 1, "envelope", &b), 1);
	assert_string_equal(b.data, "(E1b)");
	/* persistent: another session reads it */
	mailbox_close(&f->box);
	f->box = test_fixture_open_box(f, "INBOX", false);
	buf_reset(&b);
	assert_int_equal(mailbox_cache_get(f->box, 0, "bodystructure", &b), 1);
	assert_string_equal(b.data, "(B0)");
	buf_reset(&b);
	assert_int_equal(mailbox_cache_get(f->box, 1, "envelope", &b), 1);
	assert_string_equal(b.data, "(E1b)");
	assert_int_equal(count_cache_rows(f, "."), 3);
	/* removed with the message */
	assert_int_equal(mailbox_expunge(f->box, remove, &error), 0);
	assert_int_equal(count_cache_rows(f, "."), 1);
	buf_reset(&b);
	assert_int_equal(mailbox_cache_get(f->box, 0, "envelope", &b), 1);
	assert_string_equal(b.data, "(E1b)");
	buf_free(&b);
}

/* ---- UIDL ---- */

static void test_uidl_bounded_and_stable(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	char longname[200], rel[300], uidl_long[80], uidl_8bit[80];
	const struct mail *m;

	memset(longname, 'x', 100);
	strcpy(longname + 100, ".host");
	snprintf(rel, sizeof(rel), "new/%s", longname);
	PUT(f, rel, "long\n");
	PUT(f, "new/1.caf\xc3\xa9.h", "eightbit\n");
	PUT(f, "new/1.ok.h", "ok\n");
	f->box = test_fixture_open_box(f, "INBOX", false);
	assert_int_equal(mailbox_count(f->box), 3);
	for (size_t i = 0; i < 3; i++) {
		const char *u = mailbox_get(f->box, i)->uidl;

		assert_true(strlen(u) >= 1 && strlen(u) <= 70);
		for (const char *p = u; *p != '\0'; p++)
			assert_true(*p >= 0x21 && *p <= 0x7e);
	}
	for (size_t i = 0; i < 3; i++) {
		m = mailbox_get(f->box, i);
		if (test_fixture_sizes(f->box, i).size == 5 && strlen(m->uidl) == 32)
			snprintf(uidl_long, sizeof(uidl_long), "%s", m->uidl);
		else if (test_fixture_sizes(f->box, i).size == 9)
			snprintf(uidl_8bit, sizeof(uidl_8bit), "%s", m->uidl);
		else
			assert_string_equal(m->uidl, "1.ok.h");
	}
	assert_int_equal(strlen(uidl_long), 32);
	assert_int_equal(strlen(uidl_8bit), 32);
	assert_string_not_equal(uidl_long, uidl_8bit);
	/* stable across flag changes and an index deletion */
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(mailbox_set_flags(f->box, i, MAIL_SEEN, 0, &error), 1);
	mailbox_close(&f->box);
	assert_int_equal(unlinkat(f->rootfd, "twofold.index", 0), 0);
	f->box = test_fixture_open_box(f, "INBOX", false);
	assert_int_equal(mailbox_count(f->box), 3);
	{
		int found = 0;

		for (size_t i = 0; i < 3; i++) {
			const char *u = mailbox_get(f->box, i)->uidl;

			found += strcmp(u, uidl_long) == 0 || strcmp(u, uidl_8bit) == 0 ||
			         strcmp(u, "1.ok.h") == 0;
		}
		assert_int_equal(found, 3);
	}
}

/* ---- inotify ---- */

static void test_watch_fd_wakes_on_delivery(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct pollfd pfd;
	int fd, status;
	pid_t pid;

	f->box = test_fixture_open_box(f, "INBOX", false);
	fd = mailbox_watch_fd(f->box, &error);
	assert_true(fd >= 0);
	assert_int_equal(mailbox_watch_fd(f->box, &error), fd); /* one per mailbox */
	pfd = (struct pollfd){.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 0), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char tmp[600], dst[600];
		FILE *fp;

		usleep(100 * 1000);
		snprintf(tmp, sizeof(tmp), "%s/tmp/77.x.h", f->root);
		snprintf(dst, sizeof(dst), "%s/new/77.x.h", f->root);
		fp = fopen(tmp, "w");
		_exit(fp != NULL && fputs("hi\n", fp) >= 0 && fclose(fp) == 0 &&
		              rename(tmp, dst) == 0
		          ? 0
		          : 1);
	}
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	mailbox_watch_drain(f->box);
	assert_int_equal(poll(&pfd, 1, 0), 0);
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_count(f->box), 1);
	/* the sync's own move new/ -> cur/ is an event too: drain, then quiet */
	mailbox_watch_drain(f->box);
	assert_int_equal(poll(&pfd, 1, 0), 0);
	/* the working directory is where it was */
	{
		char cwd1[1024], cwd2[1024];
		struct mailbox *other = test_fixture_open_box(f, "Sent", false);

		assert_non_null(getcwd(cwd1, sizeof(cwd1)));
		assert_true(mailbox_watch_fd(other, &error) >= 0);
		assert_non_null(getcwd(cwd2, sizeof(cwd2)));
		assert_string_equal(cwd1, cwd2);
		mailbox_close(&other);
	}
}

/* ---- order and deletions across sessions ---- */

static void test_view_ascends_under_concurrent_appends(void **state)
{
	struct fixture *f = *state;
	int status;
	pid_t pid;

	f->box = test_fixture_open_box(f, "INBOX", false);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct mail_storage *st = NULL;
		struct mailbox *box = NULL;
		const char *error = NULL;
		char path[600];
		uint32_t uid;

		if (mail_storage_open(f->rootfd, &st, &error) < 0 ||
		    mailbox_open_imap(st, "INBOX", false, &box, &error) != 1)
			_exit(2);
		for (int i = 0; i < 150; i++) {
			/* appends and plain deliveries interleaved */
			if (mailbox_append(box, "x\n", 2, 0, 0, &uid, &error) < 0)
				_exit(3);
			snprintf(path, sizeof(path), "%s/new/%d.d%d.h", f->root, 5000 + i, i);
			FILE *fp = fopen(path, "w");
			if (fp == NULL || fclose(fp) != 0)
				_exit(4);
		}
		_exit(0);
	}
	for (int round = 0; round < 400; round++) {
		test_fixture_sync(f->box);
		for (size_t i = 1; i < mailbox_count(f->box); i++)
			assert_true(mailbox_get(f->box, i)->uid > mailbox_get(f->box, i - 1)->uid);
		if (waitpid(pid, &status, WNOHANG) == pid) {
			assert_int_equal(WEXITSTATUS(status), 0);
			pid = 0;
			break;
		}
		usleep(2000);
	}
	if (pid != 0) {
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_count(f->box), 300);
	for (size_t i = 1; i < mailbox_count(f->box); i++)
		assert_true(mailbox_get(f->box, i)->uid > mailbox_get(f->box, i - 1)->uid);
}

static void test_pop3_and_imap_deletions(void **state)
{
	struct fixture *f = *state;
	struct mailbox *pop = NULL;
	const char *error = NULL;
	bool pop_remove[3] = {false, true, false};
	bool imap_remove[3] = {false, false, true};

	PUT(f, "new/1.a.h", "a\n");
	PUT(f, "new/2.b.h", "b\n");
	PUT(f, "new/3.c.h", "c\n");
	f->box = test_fixture_open_box(f, "INBOX", false);
	assert_int_equal(mailbox_open(f->st, "INBOX", &pop, &error), 1);
	assert_int_equal(mailbox_lock_exclusive(pop, &error), 1);
	/* IMAP expunges the third; POP3 (view fixed) deletes the second at QUIT */
	assert_int_equal(mailbox_expunge(f->box, imap_remove, &error), 0);
	assert_int_equal(mailbox_msg_open(pop, 2, &error), -1);
	assert_true(mailbox_msg_gone(pop, 2));
	assert_int_equal(mailbox_expunge(pop, pop_remove, &error), 0);
	mailbox_close(&pop);
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_count(f->box), 2);
	assert_false(mailbox_msg_gone(f->box, 0));
	assert_true(mailbox_msg_gone(f->box, 1));
	/* a fresh POP3 session sees one message */
	assert_int_equal(mailbox_open(f->st, "INBOX", &pop, &error), 1);
	assert_int_equal(mailbox_count(pop), 1);
	assert_string_equal(mailbox_get(pop, 0)->uidl, "1.a.h");
	mailbox_close(&pop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_recent_claimed_once, test_fixture_setup_storage,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_keywords_persist, test_fixture_setup_storage,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_changed_after_external_rename,
	                                    test_fixture_setup_storage, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_changed_between_syncs_kept,
	                                    test_fixture_setup_storage, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_copy_move_keep_flags, test_fixture_setup_storage,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_copy_many_all_or_nothing,
	                                    test_fixture_setup_storage, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_cache_get_put_removed, test_fixture_setup_storage,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_uidl_bounded_and_stable,
	                                    test_fixture_setup_storage, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_watch_fd_wakes_on_delivery,
	                                    test_fixture_setup_storage, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_view_ascends_under_concurrent_appends,
	                                    test_fixture_setup_storage, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_pop3_and_imap_deletions,
	                                    test_fixture_setup_storage, test_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
