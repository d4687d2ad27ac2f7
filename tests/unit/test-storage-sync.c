/* Storage, sync: UIDLs and UIDs kept across syncs, sessions and index rebuilds, deliveries
 * during a session, a damaged index, the index in a chroot. Real maildirs in a temp dir, real
 * SQLite index, real processes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/test-storage-fixture.h"

#include "storage/storage.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- UIDL and UIDs ---- */

static void test_uidl_stable(void **state)
{
	struct fixture *f = *state;
	uint32_t uidvalidity, uids[3], app_uid;
	const char *uidls[] = {"300.one.h", "301.two.h", "302.three.h"};
	const char *error = NULL;
	char name[256];

	test_fixture_open_inbox(f);
	test_fixture_deliver_three(f);
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_append(f->box, "app\n", 4, MAIL_SEEN, 0, &app_uid, &error), 0);
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_count(f->box), 4);
	uidvalidity = mailbox_uidvalidity(f->box);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(mailbox_get(f->box, i)->uidl, uidls[i]);
		uids[i] = mailbox_get(f->box, i)->uid;
	}
	assert_int_equal(mailbox_get(f->box, 3)->uid, app_uid);

	/* an external flag rename keeps UIDL and UID */
	test_fixture_set_info(f, "301.two.h", ":2,FS");
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_count(f->box), 4);
	assert_string_equal(mailbox_get(f->box, 1)->uidl, "301.two.h");
	assert_int_equal(mailbox_get(f->box, 1)->uid, uids[1]);
	assert_int_equal(mailbox_get(f->box, 1)->flags & ~MAIL_RECENT, MAIL_FLAGGED | MAIL_SEEN);

	/* reopen */
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_uidvalidity(f->box), uidvalidity);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(mailbox_get(f->box, i)->uidl, uidls[i]);
		assert_int_equal(mailbox_get(f->box, i)->uid, uids[i]);
	}

	/* index deleted: UIDLs unchanged, UIDVALIDITY kept, every message keeps its UID: the
	 * appended one and the delivered ones (,U= added on new/ -> cur/) */
	test_fixture_remove_index(f);
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), 4);
	assert_int_equal(mailbox_uidvalidity(f->box), uidvalidity);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(mailbox_get(f->box, i)->uidl, uidls[i]);
		assert_int_equal(mailbox_get(f->box, i)->uid, uids[i]);
	}
	assert_int_equal(mailbox_get(f->box, 3)->uid, app_uid);
	assert_true(mailbox_uidnext(f->box) > app_uid);
	test_fixture_cur_name(f, "301.two.h", name, sizeof(name));
	assert_non_null(strstr(name, ":2,FS"));
}

static void test_uids_persistent_monotonic(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	bool remove[3] = {false, false, true};
	uint32_t last;

	test_fixture_open_inbox(f);
	PUT(f, "new/400.a.h", "a\n");
	PUT(f, "new/401.b.h", "b\n");
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_get(f->box, 0)->uid, 1);
	assert_int_equal(mailbox_get(f->box, 1)->uid, 2);
	assert_int_equal(mailbox_uidnext(f->box), 3);

	PUT(f, "new/402.c.h", "c\n");
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), 3);
	assert_int_equal(mailbox_get(f->box, 0)->uid, 1);
	assert_int_equal(mailbox_get(f->box, 1)->uid, 2);
	assert_int_equal(mailbox_get(f->box, 2)->uid, 3);
	assert_int_equal(mailbox_get(f->box, 2)->flags, MAIL_RECENT);
	assert_int_equal(mailbox_get(f->box, 0)->flags, 0); /* seen by an earlier session */

	/* an expunged UID is never given out again */
	assert_int_equal(mailbox_expunge(f->box, remove, &error), 0);
	test_fixture_open_inbox(f);
	PUT(f, "new/403.d.h", "d\n");
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_count(f->box), 3);
	last = mailbox_get(f->box, 2)->uid;
	assert_int_equal(last, 4);
	assert_string_equal(mailbox_get(f->box, 2)->uidl, "403.d.h");

	/* delivery order follows the file dates, not readdir order */
	PUT(f, "new/zzz-early", "e\n");
	PUT(f, "new/aaa-late", "l\n");
	{
		struct timespec t[2] = {{.tv_sec = 1000}, {.tv_sec = 1000}};
		struct timespec u[2] = {{.tv_sec = 2000}, {.tv_sec = 2000}};
		char p[1024];

		snprintf(p, sizeof(p), "%s/new/zzz-early", f->root);
		assert_int_equal(utimensat(AT_FDCWD, p, t, 0), 0);
		snprintf(p, sizeof(p), "%s/new/aaa-late", f->root);
		assert_int_equal(utimensat(AT_FDCWD, p, u, 0), 0);
	}
	test_fixture_sync(f->box);
	assert_int_equal(test_fixture_find_uidl(f, "zzz-early")->uid, last + 1);
	assert_int_equal(test_fixture_find_uidl(f, "aaa-late")->uid, last + 2);
	assert_int_equal(test_fixture_uidl_sizes(f, "zzz-early").date, 1000);
}

/* ---- sessions ---- */

static void test_delivery_during_session(void **state)
{
	struct fixture *f = *state;
	struct mailbox *other = NULL;
	const char *error = NULL;

	test_fixture_open_inbox(f);
	PUT(f, "new/700.a.h", "a\n");
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_count(f->box), 1);
	assert_int_equal(mailbox_open(f->st, "INBOX", &other, &error), 1);
	PUT(f, "new/701.b.h", "bb\n");
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_count(f->box), 2);
	assert_string_equal(mailbox_get(f->box, 0)->uidl, "700.a.h");
	assert_string_equal(mailbox_get(f->box, 1)->uidl, "701.b.h");
	assert_int_equal(test_fixture_sizes(f->box, 1).crlf_size, 4);
	/* the other session sees the same UID */
	assert_int_equal(mailbox_sync(other, &error), 0);
	assert_int_equal(mailbox_count(other), 2);
	assert_int_equal(mailbox_get(other, 1)->uid, mailbox_get(f->box, 1)->uid);
	mailbox_close(&other);
}

static void test_damaged_index_rebuilt(void **state)
{
	struct fixture *f = *state;

	test_fixture_open_inbox(f);
	PUT(f, "new/800.a.h", "a\n");
	test_fixture_sync(f->box);
	test_fixture_remove_index(f);
	PUT(f, "twofold.index", "this is not an SQLite database, not at all, really not\n");
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), 1);
	assert_string_equal(mailbox_get(f->box, 0)->uidl, "800.a.h");
}

/* The worker's situation: chrooted into an empty directory, holding only the maildir fd. The
 * index (SQLite) must still work beneath that fd. */
static int chrooted_session(struct fixture *f, const char *jail)
{
	struct mail_storage *st = NULL;
	struct mailbox *box = NULL;
	const char *error = NULL;
	uint32_t uid;

	if (chroot(jail) < 0 || chdir("/") < 0)
		return 2;
	if (mail_storage_open(f->rootfd, &st, &error) < 0 ||
	    mailbox_open(st, "INBOX", &box, &error) != 1)
		return 3;
	if (mailbox_count(box) != 1 || mailbox_append(box, "x\n", 2, 0, 0, &uid, &error) < 0 ||
	    mailbox_sync(box, &error) < 0 || mailbox_count(box) != 2 ||
	    mailbox_get(box, 1)->uid != uid)
		return 4;
	mailbox_close(&box);
	mail_storage_close(&st);
	return 0;
}

static void test_index_in_chroot(void **state)
{
	struct fixture *f = *state;
	char jail[1024];
	int status;
	pid_t pid;

	if (geteuid() != 0)
		skip();
	test_fixture_open_inbox(f);
	mailbox_close(&f->box);
	PUT(f, "new/900.a.h", "a\n");
	snprintf(jail, sizeof(jail), "%s/jail", f->root);
	assert_int_equal(mkdir(jail, 0700), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(chrooted_session(f, jail));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(test_fixture_count_dir(f, "jail"), 0);
	/* the index written in the jail is the one a later session reads */
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), 2);
	assert_int_equal(mailbox_get(f->box, 0)->flags & ~MAIL_RECENT, 0);
}

static int chown_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return lchown(path, 65534, 65534);
}

/* A first sync in the jail, as an unprivileged user (as a worker is), big enough that building
 * the key index sorts more than SQLite keeps in memory: the sort spills to a temporary file,
 * which must go beside the index (the jail has no directory the worker may write). */
static void test_big_index_in_chroot(void **state)
{
	enum { FILES = 40000 };
	struct fixture *f = *state;
	char jail[1024], name[64];
	int status, curfd;
	pid_t pid;

	if (geteuid() != 0)
		skip();
	test_fixture_open_inbox(f);
	mailbox_close(&f->box);
	curfd = openat(f->rootfd, "cur", O_RDONLY | O_DIRECTORY);
	assert_true(curfd >= 0);
	for (int i = 0; i < FILES; i++) {
		int fd;

		snprintf(name, sizeof(name), "1700000000.M%dP77.a-rather-long-host-name:2,S", i);
		fd = openat(curfd, name, O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "x\n", 2), 2);
		close(fd);
	}
	close(curfd);
	snprintf(jail, sizeof(jail), "%s/jail", f->root);
	assert_int_equal(mkdir(jail, 0755), 0);
	assert_int_equal(nftw(f->root, chown_entry, 16, FTW_PHYS), 0);
	assert_int_equal(chown(jail, 0, 0), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct mail_storage *st = NULL;
		struct mailbox *box = NULL;
		const char *error = NULL;

		if (chroot(jail) < 0 || chdir("/") < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		if (mail_storage_open(f->rootfd, &st, &error) < 0 ||
		    mailbox_open(st, "INBOX", &box, &error) != 1)
			_exit(3);
		_exit(mailbox_count(box) == FILES ? 0 : 4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the sort's temporary files went beside the index, and are gone */
	{
		DIR *dir = opendir(f->root);
		struct dirent *d;

		assert_non_null(dir);
		while ((d = readdir(dir)) != NULL)
			assert_true(strncmp(d->d_name, "twofold.sort", 12) != 0);
		closedir(dir);
	}
	assert_int_equal(test_fixture_count_dir(f, "jail"), 0);
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), FILES);
}

/* A crash between an append's rename and its index commit leaves a file with ",U=" that the
 * index does not know: the next sync gives it that UID. A ",U=" below UIDNEXT that is already
 * taken (a copied file) gets a fresh UID instead. */
static void test_uid_from_name(void **state)
{
	struct fixture *f = *state;

	test_fixture_open_inbox(f);
	PUT(f, "new/1.a.h", "a\n");
	PUT(f, "new/2.b.h", "b\n");
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_uidnext(f->box), 3);
	PUT(f, "cur/3.c.h,S=2,W=3,U=50:2,S", "c\n");
	PUT(f, "cur/4.d.h,S=2,W=3,U=1:2,", "d\n");
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_count(f->box), 4);
	assert_int_equal(test_fixture_find_uidl(f, "3.c.h")->uid, 50);
	assert_int_equal(test_fixture_find_uidl(f, "3.c.h")->flags & ~MAIL_RECENT, MAIL_SEEN);
	assert_int_equal(test_fixture_find_uidl(f, "4.d.h")->uid, 3);
	assert_int_equal(mailbox_uidnext(f->box), 51);
	/* appended in UID order */
	assert_int_equal(mailbox_get(f->box, 2)->uid, 3);
	assert_int_equal(mailbox_get(f->box, 3)->uid, 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_uidl_stable, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_uids_persistent_monotonic, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_delivery_during_session, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_index_rebuilt, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_index_in_chroot, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_big_index_in_chroot, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_uid_from_name, test_fixture_setup,
	                                    test_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
