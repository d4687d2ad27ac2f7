/* Storage, message operations: maildir file names, deliveries and flags, deletions, the
 * exclusive lock, APPEND, names that could escape, tmp/ cleaning. Real maildirs in a temp dir,
 * real SQLite index, real processes for the lock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/test-storage-fixture.h"

#include "common/xalloc.h"
#include "storage/maildir-name.h"
#include "storage/maildir.h"
#include "storage/storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static size_t read_msg(struct fixture *f, size_t i, char *buf, size_t size)
{
	const char *error = NULL;
	int fd = mailbox_msg_open(f->box, i, &error);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, size);
	assert_true(n >= 0);
	close(fd);
	return (size_t)n;
}

/* ---- file names ---- */

static void test_name_parse(void **state)
{
	struct maildir_name n;
	const char *name = "1700000000.M1P2.host,S=1234,W=1260,U=17:2,FSa";
	char *rest;

	assert_int_equal(maildir_name_parse(name, &n), 1);
	assert_int_equal(n.base_len, strlen("1700000000.M1P2.host,S=1234,W=1260,U=17"));
	assert_string_equal(n.rest, ":2,FSa");
	assert_true(n.has_info && n.has_size && n.has_vsize && n.has_uid);
	assert_int_equal(n.size, 1234);
	assert_int_equal(n.vsize, 1260);
	assert_int_equal(n.uid, 17);
	assert_int_equal(n.flags, MAIL_FLAGGED | MAIL_SEEN);

	assert_int_equal(maildir_name_parse("plain", &n), 1);
	assert_string_equal(n.rest, "");
	assert_false(n.has_info || n.has_size || n.has_vsize || n.has_uid);
	assert_int_equal(maildir_name_parse("x,S=12a,W=,U=0,U=99999999999:2,", &n), 1);
	assert_false(n.has_size || n.has_vsize || n.has_uid);
	assert_int_equal(maildir_name_parse(".hidden", &n), 0);
	assert_int_equal(maildir_name_parse("", &n), 0);
	assert_int_equal(maildir_name_parse(":2,S", &n), 0);

	assert_int_equal(maildir_info_flags("DFPRST"),
	                 MAIL_DRAFT | MAIL_FLAGGED | MAIL_ANSWERED | MAIL_SEEN | MAIL_DELETED);
	rest = maildir_rest_with_flags(":2,Sab", MAIL_FLAGGED | MAIL_DRAFT);
	assert_string_equal(rest, ":2,DFab"); /* S cleared, keywords kept, sorted */
	xfree(&rest);
	rest = maildir_rest_with_flags(":1,weird", MAIL_SEEN);
	assert_string_equal(rest, ":2,S");
	xfree(&rest);
	rest = maildir_rest_with_flags("", 0);
	assert_string_equal(rest, ":2,");
	xfree(&rest);
}

/* ---- deliveries, flags ---- */

static void test_delivery_moved_to_cur(void **state)
{
	struct fixture *f = *state;
	const struct mail *m;

	test_fixture_open_inbox(f); /* creates cur/ new/ tmp/ */
	PUT(f, "new/1700000000.M1P1.host", "Subject: a\n\nhello\n");
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_count(f->box), 1);
	assert_int_equal(test_fixture_count_dir(f, "new"), 0);
	/* the UID is kept in the name (,U=), with the sizes, so an index rebuild finds them */
	assert_true(test_fixture_exists(f, "cur/1700000000.M1P1.host,S=18,W=21,U=1:2,"));
	m = mailbox_get(f->box, 0);
	assert_string_equal(m->uidl, "1700000000.M1P1.host");
	assert_int_equal(m->uid, 1);
	assert_int_equal(test_fixture_sizes(f->box, 0).size, 18);
	assert_int_equal(test_fixture_sizes(f->box, 0).crlf_size, 21);
	assert_int_equal(m->flags & ~MAIL_RECENT, 0);
	assert_true((m->flags & MAIL_RECENT) != 0);
	assert_true(test_fixture_exists(f, "twofold.index"));
}

static void test_flags_parsed_and_set(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	const struct mail *m;
	char name[256];

	test_fixture_open_inbox(f);
	PUT(f, "cur/100.a.host:2,FS", "a\n");
	PUT(f, "cur/101.b.host:2,DRT", "b\n");
	PUT(f, "cur/102.c.host:2,Sa", "c\n");
	PUT(f, "cur/103.d.host", "d\n"); /* no info at all */
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_count(f->box), 4);
	assert_int_equal(test_fixture_find_uidl(f, "100.a.host")->flags & ~MAIL_RECENT,
	                 MAIL_FLAGGED | MAIL_SEEN);
	assert_int_equal(test_fixture_find_uidl(f, "101.b.host")->flags & ~MAIL_RECENT,
	                 MAIL_DRAFT | MAIL_ANSWERED | MAIL_DELETED);
	assert_int_equal(test_fixture_find_uidl(f, "103.d.host")->flags & ~MAIL_RECENT, 0);

	for (size_t i = 0; i < mailbox_count(f->box); i++) {
		m = mailbox_get(f->box, i);
		if (strcmp(m->uidl, "100.a.host") == 0)
			assert_int_equal(
			    mailbox_set_flags(f->box, i, MAIL_ANSWERED, MAIL_FLAGGED, &error), 1);
		else if (strcmp(m->uidl, "102.c.host") == 0)
			assert_int_equal(mailbox_set_flags(f->box, i, MAIL_FLAGGED, 0, &error), 1);
		else if (strcmp(m->uidl, "103.d.host") == 0)
			assert_int_equal(mailbox_set_flags(f->box, i, MAIL_SEEN, 0, &error), 1);
	}
	assert_true(test_fixture_exists(f, "cur/100.a.host:2,RS"));
	assert_false(test_fixture_exists(f, "cur/100.a.host:2,FS"));
	assert_true(test_fixture_exists(f, "cur/102.c.host:2,FSa"));
	assert_true(test_fixture_exists(f, "cur/103.d.host:2,S"));
	assert_int_equal(test_fixture_find_uidl(f, "100.a.host")->flags & ~MAIL_RECENT,
	                 MAIL_ANSWERED | MAIL_SEEN);

	/* persisted in the file names: a new session sees them */
	test_fixture_open_inbox(f);
	assert_int_equal(test_fixture_find_uidl(f, "100.a.host")->flags, MAIL_ANSWERED | MAIL_SEEN);
	assert_int_equal(test_fixture_find_uidl(f, "102.c.host")->flags, MAIL_FLAGGED | MAIL_SEEN);
	test_fixture_cur_name(f, "101.b.host", name, sizeof(name));
	assert_string_equal(name, "101.b.host:2,DRT");
}

/* ---- deletions ---- */

static void test_external_delete(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	bool remove[2] = {true, false};
	char buf[16];

	test_fixture_open_inbox(f);
	PUT(f, "new/500.a.h", "a\n");
	PUT(f, "new/501.b.h", "b\n");
	test_fixture_sync(f->box);
	test_fixture_unlink_key(f, "500.a.h");
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_count(f->box), 2);
	assert_true(mailbox_msg_gone(f->box, 0));
	assert_false(mailbox_msg_gone(f->box, 1));
	assert_int_equal(mailbox_msg_open(f->box, 0, &error), -1);
	assert_int_equal(mailbox_set_flags(f->box, 0, MAIL_SEEN, 0, &error), 0);
	assert_int_equal(read_msg(f, 1, buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "b\n", 2);
	assert_int_equal(mailbox_expunge(f->box, remove, &error), 0);
	assert_int_equal(mailbox_count(f->box), 1);
	assert_string_equal(mailbox_get(f->box, 0)->uidl, "501.b.h");

	/* deleted without a sync in between: msg_open notices too */
	test_fixture_unlink_key(f, "501.b.h");
	assert_int_equal(mailbox_msg_open(f->box, 0, &error), -1);
	assert_true(mailbox_msg_gone(f->box, 0));
}

static void test_expunge_removes_files(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	bool remove[3] = {true, false, true};
	char buf[16], name[256];

	test_fixture_open_inbox(f);
	test_fixture_deliver_three(f);
	test_fixture_sync(f->box);
	/* another session changed a flag meanwhile: expunge still finds the file */
	test_fixture_set_info(f, "302.three.h", ":2,S");
	assert_int_equal(mailbox_expunge(f->box, remove, &error), 0);
	assert_int_equal(mailbox_count(f->box), 1);
	assert_string_equal(mailbox_get(f->box, 0)->uidl, "301.two.h");
	assert_int_equal(test_fixture_count_dir(f, "cur"), 1);
	test_fixture_cur_name(f, "301.two.h", name, sizeof(name));
	assert_int_equal(read_msg(f, 0, buf, sizeof(buf)), 4);
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), 1);

	/* a message renamed by another session is still readable */
	test_fixture_set_info(f, "301.two.h", ":2,RS");
	assert_int_equal(read_msg(f, 0, buf, sizeof(buf)), 4);
	assert_int_equal(mailbox_get(f->box, 0)->flags, MAIL_ANSWERED | MAIL_SEEN);
}

/* ---- lock ---- */

static int child_lock(struct fixture *f)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct mail_storage *st = NULL;
		struct mailbox *box = NULL;
		const char *error = NULL;

		if (mail_storage_open(f->rootfd, &st, &error) < 0 ||
		    mailbox_open(st, "INBOX", &box, &error) != 1)
			_exit(3);
		_exit(mailbox_lock_exclusive(box, &error) == 1 ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_lock_exclusive(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;

	test_fixture_open_inbox(f);
	assert_int_equal(child_lock(f), 1); /* free */
	assert_int_equal(mailbox_lock_exclusive(f->box, &error), 1);
	assert_int_equal(mailbox_lock_exclusive(f->box, &error), 1); /* idempotent */
	assert_int_equal(child_lock(f), 0);                          /* in use */
	mailbox_close(&f->box);
	assert_int_equal(child_lock(f), 1); /* released by close */
}

/* ---- append ---- */

static void test_append(void **state)
{
	static const char msg[] = "Subject: hi\n\nbody line\r\nlast";
	struct fixture *f = *state;
	const char *error = NULL;
	const struct mail *m;
	struct stat st;
	char path[1024], buf[128];
	uint32_t uid1, uid2;
	int found = 0;
	struct dirent *d;
	DIR *dir;

	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_append(f->box, msg, sizeof(msg) - 1, MAIL_SEEN | MAIL_FLAGGED,
	                                1000000000, &uid1, &error),
	                 0);
	assert_int_equal(mailbox_append(f->box, "x", 1, 0, 0, &uid2, &error), 0);
	assert_true(uid2 > uid1);
	assert_int_equal(test_fixture_count_dir(f, "tmp"), 0);
	assert_int_equal(test_fixture_count_dir(f, "cur"), 2);
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_count(f->box), 2);
	m = mailbox_get(f->box, 0);
	assert_int_equal(m->uid, uid1);
	/* stored with LF line ends, the CRLF size as sent */
	assert_int_equal(test_fixture_sizes(f->box, 0).size, sizeof(msg) - 1 - 1);
	assert_int_equal(test_fixture_sizes(f->box, 0).crlf_size, sizeof(msg) - 1 + 2);
	assert_int_equal(test_fixture_sizes(f->box, 0).date, 1000000000);
	assert_int_equal(m->flags, MAIL_SEEN | MAIL_FLAGGED | MAIL_RECENT);
	assert_int_equal(read_msg(f, 0, buf, sizeof(buf)), sizeof(msg) - 1 - 1);
	assert_memory_equal(buf, "Subject: hi\n\nbody line\nlast", sizeof(msg) - 1 - 1);

	snprintf(path, sizeof(path), "%s/cur", f->root);
	dir = opendir(path);
	assert_non_null(dir);
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.' || strstr(d->d_name, ":2,FS") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/cur/%s", f->root, d->d_name);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
		assert_int_equal(st.st_mtime, 1000000000);
		assert_non_null(strstr(d->d_name, ",S=27,W=30,U="));
		found++;
	}
	closedir(dir);
	assert_int_equal(found, 1);
	snprintf(path, sizeof(path), "%s/twofold.index", f->root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

/* CRLF becomes LF however the message arrives in pieces; a CR before a CR, a lone CR and a CR
 * at the very end stay, so the CRLF size of the file is the size of what was sent. */
static void test_append_stores_lf(void **state)
{
	static const char msg[] = "a\r\nb\r\r\nc\nd\re\r\n\r";
	static const char stored[] = "a\nb\r\r\nc\nd\re\n\r";
	const size_t len = sizeof(msg) - 1, crlf_size = len + 1; /* one bare LF, after c */
	struct fixture *f = *state;
	const char *error = NULL;
	char buf[64];

	test_fixture_open_inbox(f);
	for (size_t cut = 0; cut <= len; cut++) {
		struct mail_save *sv;

		assert_int_equal(mailbox_save_begin(f->box, &sv, &error), 0);
		assert_int_equal(mailbox_save_write(sv, msg, cut, &error), 0);
		assert_int_equal(mailbox_save_write(sv, msg + cut, len - cut, &error), 0);
		assert_int_equal(mailbox_save_finish(&sv, 0, 0, NULL, &error), 0);
	}
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_count(f->box), len + 1);
	for (size_t i = 0; i <= len; i++) {
		assert_int_equal(read_msg(f, i, buf, sizeof(buf)), sizeof(stored) - 1);
		assert_memory_equal(buf, stored, sizeof(stored) - 1);
		assert_int_equal(test_fixture_sizes(f->box, i).size, sizeof(stored) - 1);
		assert_int_equal(test_fixture_sizes(f->box, i).crlf_size, crlf_size);
	}
}

/* A literal8 message is stored as sent: its binary parts' CR and LF octets are data. */
static void test_append_keep_crlf(void **state)
{
	static const char msg[] = "a\r\nb\n\0\r";
	struct fixture *f = *state;
	const char *error = NULL;
	struct mail_save *sv;
	char buf[64];

	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_save_begin(f->box, &sv, &error), 0);
	mailbox_save_keep_crlf(sv);
	assert_int_equal(mailbox_save_write(sv, msg, sizeof(msg) - 1, &error), 0);
	assert_int_equal(mailbox_save_finish(&sv, 0, 0, NULL, &error), 0);
	test_fixture_sync(f->box);
	assert_int_equal(read_msg(f, 0, buf, sizeof(buf)), sizeof(msg) - 1);
	assert_memory_equal(buf, msg, sizeof(msg) - 1);
	assert_int_equal(test_fixture_sizes(f->box, 0).crlf_size, sizeof(msg) - 1 + 1);
}

/* MULTIAPPEND: closed saves are committed together with consecutive UIDs, or none of them. */
static void test_save_commit_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct mail_save *sv[3];
	unsigned flags[3] = {MAIL_SEEN, 0, MAIL_FLAGGED};
	uint32_t uids[3];

	test_fixture_open_inbox(f);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 3; i++) {
			assert_int_equal(mailbox_save_begin(f->box, &sv[i], &error), 0);
			assert_int_equal(mailbox_save_write(sv[i], "Subject: m\n\nx\n", 15, &error),
			                 0);
			/* the first round leaves the last one open: not complete, so none goes in
			 */
			if (round == 1 || i < 2)
				assert_int_equal(mailbox_save_close(sv[i], 1000000000 + i, &error),
				                 0);
		}
		assert_int_equal(test_fixture_count_dir(f, "tmp"), 3);
		assert_int_equal(mailbox_save_commit(sv, 3, flags, uids, &error),
		                 round == 0 ? -1 : 0);
		for (int i = 0; i < 3; i++)
			assert_null(sv[i]);
		assert_int_equal(test_fixture_count_dir(f, "tmp"), 0);
		assert_int_equal(test_fixture_count_dir(f, "cur"), round == 0 ? 0 : 3);
	}
	assert_int_equal(uids[1], uids[0] + 1);
	assert_int_equal(uids[2], uids[0] + 2);
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_count(f->box), 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(mailbox_get(f->box, (size_t)i)->uid, uids[i]);
		assert_int_equal(mailbox_get(f->box, (size_t)i)->flags & ~MAIL_RECENT, flags[i]);
		assert_int_equal(test_fixture_sizes(f->box, (size_t)i).date, 1000000000 + i);
	}
}

/* ---- names that could escape ---- */

static void test_path_escape_refused(void **state)
{
	static const char *const bad[] = {
	    "..", "../x", "a/b", "/etc", ".hidden", "a..b", "", "trailing.", "x\ny", "..INBOX",
	};
	struct fixture *f = *state;
	struct mailbox *box = NULL;
	const char *error = NULL;
	char path[1024];

	test_fixture_open_inbox(f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mailbox_open(f->st, bad[i], &box, &error), -1);
		assert_null(box);
	}
	assert_int_equal(mailbox_open(f->st, "NoSuch", &box, &error), 0);
	assert_null(box);

	/* a real Maildir++ folder opens; a symlinked one does not */
	snprintf(path, sizeof(path), "%s/.Custom", f->root);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(mailbox_open(f->st, "Custom", &box, &error), 1);
	assert_int_equal(mailbox_count(box), 0);
	mailbox_close(&box);
	snprintf(path, sizeof(path), "%s/.Evil", f->root);
	assert_int_equal(symlink("/tmp", path), 0);
	assert_int_equal(mailbox_open(f->st, "Evil", &box, &error), 0); /* no such mailbox */
	assert_null(box);

	/* a symlink in cur/ is no message */
	snprintf(path, sizeof(path), "%s/cur/600.link.h:2,", f->root);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_count(f->box), 0);
}

/* ---- tmp/ ---- */

/* Stale by ctime only: no writer can set it back, while an APPEND gives its file an old mtime
 * (the internal date) before renaming it into cur/. */
static void test_tmp_clean_by_ctime(void **state)
{
	struct fixture *f = *state;
	struct timespec old[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
	char path[1024];
	int tmpfd;

	test_fixture_open_inbox(f);
	PUT(f, "tmp/appending", "Subject: x\n");
	snprintf(path, sizeof(path), "%s/tmp/appending", f->root);
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	snprintf(path, sizeof(path), "%s/tmp/subdir", f->root);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/tmp", f->root);
	tmpfd = open(path, O_RDONLY | O_DIRECTORY);
	assert_true(tmpfd >= 0);
	assert_int_equal(maildir_tmp_clean(tmpfd, time(NULL) - MAILDIR_TMP_STALE_SECS), 0);
	assert_true(test_fixture_exists(f, "tmp/appending"));
	/* seen from 36 hours later */
	assert_int_equal(maildir_tmp_clean(tmpfd, time(NULL) + 2), 1);
	assert_false(test_fixture_exists(f, "tmp/appending"));
	assert_true(test_fixture_exists(f, "tmp/subdir"));
	close(tmpfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_tmp_clean_by_ctime, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test(test_name_parse),
	    cmocka_unit_test_setup_teardown(test_delivery_moved_to_cur, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_flags_parsed_and_set, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_external_delete, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_expunge_removes_files, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_lock_exclusive, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_append, test_fixture_setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_append_stores_lf, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_path_escape_refused, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_append_keep_crlf, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_save_commit_all_or_nothing, test_fixture_setup,
	                                    test_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
