/* Storage for IMAP, the folders: listing, subscriptions and special-use folders, names refused,
 * create, delete and rename, UIDVALIDITY per name, symlinks planted in the maildir. Real maildirs
 * in a temp dir, real SQLite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/test-storage-fixture.h"

#include "storage/storage.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- listing ---- */

struct listing {
	char text[4096];
};

static void list_cb(const struct mailbox_info *info, void *ctx)
{
	struct listing *l = ctx;
	size_t len = strlen(l->text);

	snprintf(l->text + len, sizeof(l->text) - len, "%s%s%s%s%s%s;", info->name,
	         info->subscribed ? " sub" : "", info->has_children ? " children" : "",
	         info->nonexistent ? " nonexistent" : "",
	         info->special != MAILBOX_SPECIAL_NONE ? " special" : "",
	         info->special == MAILBOX_SPECIAL_TRASH ? "-trash" : "");
}

static const char *list_all(struct fixture *f, struct listing *l)
{
	const char *error = NULL;

	l->text[0] = '\0';
	assert_int_equal(mail_storage_list(f->st, list_cb, l, &error), 0);
	return l->text;
}

static void test_special_use_created_once(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct listing l;

	assert_string_equal(list_all(f, &l), "INBOX;Archive sub special;Drafts sub special;"
	                                     "Junk sub special;Sent sub special;"
	                                     "Trash sub special-trash;");
	assert_true(test_fixture_exists(f, ".Sent/cur") && test_fixture_exists(f, ".Trash/new") &&
	            test_fixture_exists(f, ".Junk/tmp"));
	/* deleted by the user: not created again by a later open */
	assert_int_equal(mailbox_delete(f->st, "Junk", &error), 0);
	assert_int_equal(mailbox_subscribe(f->st, "Junk", false, &error), 0);
	mail_storage_close(&f->st);
	assert_int_equal(mail_storage_open(f->rootfd, &f->st, &error), 0);
	assert_false(test_fixture_exists(f, ".Junk"));
	assert_string_equal(list_all(f, &l), "INBOX;Archive sub special;Drafts sub special;"
	                                     "Sent sub special;Trash sub special-trash;");
}

static void test_existing_user_gets_no_defaults(void **state)
{
	struct fixture *f = *state;
	char root[300];
	int fd;
	struct mail_storage *st = NULL;
	const char *error = NULL;

	/* a maildir that already has folders (made by another server) keeps exactly those */
	snprintf(root, sizeof(root), "%s/old", f->root);
	assert_int_equal(mkdir(root, 0700), 0);
	snprintf(root, sizeof(root), "%s/old/.Mine", f->root);
	assert_int_equal(mkdir(root, 0700), 0);
	snprintf(root, sizeof(root), "%s/old", f->root);
	fd = open(root, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(mail_storage_open(fd, &st, &error), 0);
	assert_false(test_fixture_exists(f, "old/.Sent"));
	assert_true(test_fixture_exists(f, "old/twofold.folders"));
	mail_storage_close(&st);
	close(fd);
}

static void test_list_implied_parents_and_subscriptions(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct listing l;

	assert_int_equal(mailbox_delete(f->st, "Sent", &error), 0);
	assert_int_equal(mailbox_delete(f->st, "Drafts", &error), 0);
	assert_int_equal(mailbox_delete(f->st, "Junk", &error), 0);
	assert_int_equal(mailbox_delete(f->st, "Archive", &error), 0);
	assert_int_equal(mailbox_create(f->st, "a.b.c", &error), 0);
	assert_int_equal(mailbox_create(f->st, "x", &error), 0);
	assert_int_equal(mailbox_create(f->st, "x.y", &error), 0);
	assert_int_equal(mailbox_subscribe(f->st, "x.y", true, &error), 0);
	assert_int_equal(mailbox_subscribe(f->st, "gone.away", true, &error), 0);
	assert_int_equal(mailbox_subscribe(f->st, "inbox", true, &error), 0);
	assert_int_equal(mailbox_subscribe(f->st, "x.y", true, &error), 0); /* once only */
	assert_string_equal(list_all(f, &l),
	                    "INBOX sub;Archive sub nonexistent;Drafts sub nonexistent;"
	                    "Junk sub nonexistent;Sent sub nonexistent;Trash sub special-trash;"
	                    "a children nonexistent;a.b children nonexistent;a.b.c;"
	                    "gone.away sub nonexistent;x children;x.y sub;");
	assert_int_equal(mailbox_subscribe(f->st, "x.y", false, &error), 0);
	assert_int_equal(mailbox_subscribe(f->st, "Sent", false, &error), 0);
	assert_int_equal(mailbox_subscribe(f->st, "Drafts", false, &error), 0);
	assert_int_equal(mailbox_subscribe(f->st, "Junk", false, &error), 0);
	assert_int_equal(mailbox_subscribe(f->st, "Archive", false, &error), 0);
	assert_string_equal(list_all(f, &l),
	                    "INBOX sub;Trash sub special-trash;a children nonexistent;"
	                    "a.b children nonexistent;a.b.c;gone.away sub nonexistent;"
	                    "x children;x.y;");
}

/* ---- names ---- */

static void test_bad_names_refused(void **state)
{
	static const char *const bad[] = {
	    "..",
	    "../x",
	    "a/b",
	    "/etc",
	    ".hidden",
	    "a..b",
	    "",
	    "x.",
	    "x\ny",
	    "..INBOX",
	    "a.",
	    ".",
	    "&",
	    "&-&",
	    "&AGE-",
	    "&2D0-",
	    "&Jjo",
	    "&Jjo!-",
	    "a*b",
	    "a%",
	    "caf\xc3\xa9",
	    "&ZeVnLIqe-&ZeVnLIqe",
	};
	struct fixture *f = *state;
	struct mailbox *box = NULL;
	struct mailbox_status status;
	const char *error = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		error = NULL;
		if (strcmp(bad[i], "x.") != 0 && strcmp(bad[i], "a.") != 0) {
			assert_int_equal(mailbox_create(f->st, bad[i], &error), -1);
			assert_non_null(error);
		}
		assert_int_equal(mailbox_open_imap(f->st, bad[i], false, &box, &error), -1);
		assert_null(box);
		assert_int_equal(mailbox_get_status(f->st, bad[i], true, &status, &error), -1);
		assert_int_equal(mailbox_delete(f->st, bad[i], &error), -1);
		assert_int_equal(mailbox_rename(f->st, "Sent", bad[i], &error), -1);
		assert_int_equal(mailbox_subscribe(f->st, bad[i], true, &error), -1);
	}
	assert_true(test_fixture_exists(f, ".Sent"));
	/* a trailing separator asks for a future parent: "x." creates x */
	assert_int_equal(mailbox_create(f->st, "x.", &error), 0);
	assert_true(test_fixture_exists(f, ".x/cur"));
	/* valid modified UTF-7: "&-" is '&', "&AOk-" is e-acute, a surrogate pair */
	assert_int_equal(mailbox_create(f->st, "Tom &- Jerry", &error), 0);
	assert_int_equal(mailbox_create(f->st, "&AOk-t&AOk-", &error), 0);
	assert_int_equal(mailbox_create(f->st, "&2D3eAA-", &error), 0);
	assert_true(test_fixture_exists(f, ".&AOk-t&AOk-/cur"));
	box = test_fixture_open_box(f, "&AOk-t&AOk-", false);
	assert_string_equal(mailbox_name(box), "&AOk-t&AOk-");
	mailbox_close(&box);
}

/* ---- create / delete / rename ---- */

static void test_create_delete(void **state)
{
	struct fixture *f = *state;
	struct mailbox_status status;
	const char *error = NULL;

	assert_int_equal(mailbox_create(f->st, "Work", &error), 0);
	assert_true(test_fixture_exists(f, ".Work/cur") && test_fixture_exists(f, ".Work/new") &&
	            test_fixture_exists(f, ".Work/tmp"));
	assert_true(test_fixture_exists(f, ".Work/maildirfolder"));
	assert_int_equal(mailbox_create(f->st, "Work", &error), -1);
	assert_string_equal(error, "mailbox already exists");
	assert_int_equal(mailbox_create(f->st, "inbox", &error), -1);
	assert_int_equal(mailbox_create(f->st, "Work.Sub", &error), 0);
	f->box = test_fixture_open_box(f, "Work", false);
	test_fixture_append(f->box, "one\n", 0);
	mailbox_close(&f->box);

	assert_int_equal(mailbox_delete(f->st, "INBOX", &error), -1);
	assert_string_equal(error, "cannot delete INBOX");
	assert_int_equal(mailbox_delete(f->st, "Nope", &error), -1);
	assert_string_equal(error, "no such mailbox");
	assert_int_equal(mailbox_delete(f->st, "Work", &error), 0);
	assert_false(test_fixture_exists(f, ".Work"));
	assert_true(test_fixture_exists(f, ".Work.Sub/cur")); /* children stay */
	assert_int_equal(mailbox_get_status(f->st, "Work", true, &status, &error), 0);
	assert_int_equal(mailbox_get_status(f->st, "Work.Sub", true, &status, &error), 1);
	/* nothing left behind in the root but the folders and our files */
	{
		DIR *dp = opendir(f->root);
		struct dirent *d;

		while ((d = readdir(dp)) != NULL)
			assert_true(strncmp(d->d_name, "..deleted", 9) != 0);
		closedir(dp);
	}
}

static void test_rename_with_children(void **state)
{
	struct fixture *f = *state;
	struct mailbox_status status;
	const char *error = NULL;
	uint32_t uid, uidvalidity;

	assert_int_equal(mailbox_create(f->st, "a", &error), 0);
	assert_int_equal(mailbox_create(f->st, "a.b", &error), 0);
	assert_int_equal(mailbox_create(f->st, "a.b.c", &error), 0);
	assert_int_equal(mailbox_create(f->st, "ab", &error), 0); /* not a child of a */
	f->box = test_fixture_open_box(f, "a.b", false);
	uid = test_fixture_append(f->box, "hello\n", MAIL_SEEN);
	uidvalidity = mailbox_uidvalidity(f->box);
	mailbox_close(&f->box);

	assert_int_equal(mailbox_rename(f->st, "a", "ab", &error), -1);
	assert_string_equal(error, "mailbox already exists");
	assert_int_equal(mailbox_rename(f->st, "a", "a.b.x", &error), -1);
	assert_int_equal(mailbox_rename(f->st, "nope", "z", &error), -1);
	assert_string_equal(error, "no such mailbox");
	assert_int_equal(mailbox_rename(f->st, "a", "INBOX", &error), -1);
	assert_int_equal(mailbox_rename(f->st, "a", "z.q", &error), 0);
	assert_false(test_fixture_exists(f, ".a") || test_fixture_exists(f, ".a.b") ||
	             test_fixture_exists(f, ".a.b.c"));
	assert_true(test_fixture_exists(f, ".z.q") && test_fixture_exists(f, ".z.q.b") &&
	            test_fixture_exists(f, ".z.q.b.c"));
	assert_true(test_fixture_exists(f, ".ab"));
	/* messages, UIDs and UIDVALIDITY go with the folder */
	assert_int_equal(mailbox_get_status(f->st, "z.q.b", true, &status, &error), 1);
	assert_int_equal(status.messages, 1);
	assert_int_equal(status.uidvalidity, uidvalidity);
	f->box = test_fixture_open_box(f, "z.q.b", false);
	assert_int_equal(mailbox_get(f->box, 0)->uid, uid);
	assert_int_equal(mailbox_get(f->box, 0)->flags & MAIL_SEEN, MAIL_SEEN);
}

static void test_rename_inbox(void **state)
{
	struct fixture *f = *state;
	struct mailbox *old = NULL;
	const char *error = NULL;
	int kw;

	f->box = test_fixture_open_box(f, "INBOX", false);
	PUT(f, "new/100.one.h", "one\n");
	test_fixture_sync(f->box);
	test_fixture_append(f->box, "two\n", MAIL_FLAGGED);
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_count(f->box), 2);
	kw = mailbox_keyword_index(f->box, "$Label1", true);
	assert_true(kw >= 0);
	assert_int_equal(mailbox_set_keywords(f->box, 1, 1ULL << kw, 0, &error), 1);
	old = f->box;
	f->box = NULL;

	assert_int_equal(mailbox_rename(f->st, "INBOX", "Sent", &error), -1);
	assert_int_equal(mailbox_rename(f->st, "INBOX", "Old", &error), 0);
	f->box = test_fixture_open_box(f, "INBOX", false);
	assert_int_equal(mailbox_count(f->box), 0);
	mailbox_close(&f->box);
	f->box = test_fixture_open_box(f, "Old", false);
	assert_int_equal(mailbox_count(f->box), 2);
	assert_int_equal(mailbox_get(f->box, 1)->flags & MAIL_FLAGGED, MAIL_FLAGGED);
	kw = mailbox_keyword_index(f->box, "$label1", false);
	assert_true(kw >= 0);
	assert_int_equal(mailbox_get(f->box, 1)->keywords, 1ULL << kw);
	/* a session that had INBOX open sees its messages go */
	test_fixture_sync(old);
	assert_true(mailbox_msg_gone(old, 0) && mailbox_msg_gone(old, 1));
	mailbox_close(&old);
}

/* UIDVALIDITY never repeats for a name: deleted and created again (several times a second),
 * and no two mailboxes share one. */
static void test_uidvalidity_never_repeats(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	uint32_t seen[6];
	struct mailbox *box;

	for (int i = 0; i < 6; i++) {
		const char *name = i < 3 ? "Again" : (i == 3 ? "One" : i == 4 ? "Two" : "Three");

		assert_int_equal(mailbox_create(f->st, name, &error), 0);
		box = test_fixture_open_box(f, name, false);
		seen[i] = mailbox_uidvalidity(box);
		mailbox_close(&box);
		if (i < 3)
			assert_int_equal(mailbox_delete(f->st, name, &error), 0);
		/* given out in ascending order, so none can come back */
		if (i > 0)
			assert_true(seen[i] > seen[i - 1]);
	}
}

/* Another user's maildir beside this one, reached through symlinks planted in this one: a
 * folder ".Evil -> ../other" and a message "cur/x -> ../../other/cur/theirs". Neither is
 * served: the folder is no mailbox (listed nowhere, SELECT finds nothing), the message is in
 * no view, and nothing is read, written or created through them. */
static void test_symlinks_lead_nowhere(void **state)
{
	struct fixture *f = *state;
	struct mailbox *evil = NULL;
	const char *error = NULL;
	char other[300], target[400], path[400];
	struct listing l;

	snprintf(other, sizeof(other), "%s-other", f->root);
	assert_int_equal(mkdir(other, 0700), 0);
	snprintf(path, sizeof(path), "%s/cur", other);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/new", other);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/tmp", other);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/cur/1.theirs.h:2,", other);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("Subject: theirs\n\nsecret\n", fp);
	fclose(fp);
	snprintf(target, sizeof(target), "../%s", strrchr(other, '/') + 1);
	snprintf(path, sizeof(path), "%s/.Evil", f->root);
	assert_int_equal(symlink(target, path), 0);
	snprintf(target, sizeof(target), "../../%s/cur/1.theirs.h:2,", strrchr(other, '/') + 1);
	snprintf(path, sizeof(path), "%s/cur/2.x.h:2,", f->root);
	assert_int_equal(symlink(target, path), 0);
	PUT(f, "cur/3.mine.h:2,", "Subject: mine\n\nmine\n");

	assert_null(strstr(list_all(f, &l), "Evil"));
	assert_int_equal(mailbox_open_imap(f->st, "Evil", false, &evil, &error), 0);
	f->box = test_fixture_open_box(f, "INBOX", false);
	assert_int_equal(mailbox_count(f->box), 1);
	assert_string_equal(mailbox_get(f->box, 0)->uidl, "3.mine.h");
	snprintf(path, sizeof(path), "%s/twofold.index", other);
	assert_int_equal(access(path, F_OK), -1);
	test_tmpdir_remove(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_special_use_created_once,
	                                    test_fixture_setup_storage, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_existing_user_gets_no_defaults,
	                                    test_fixture_setup_storage, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_list_implied_parents_and_subscriptions,
	                                    test_fixture_setup_storage, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_names_refused, test_fixture_setup_storage,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_create_delete, test_fixture_setup_storage,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_rename_with_children, test_fixture_setup_storage,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_rename_inbox, test_fixture_setup_storage,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_uidvalidity_never_repeats,
	                                    test_fixture_setup_storage, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_symlinks_lead_nowhere, test_fixture_setup_storage,
	                                    test_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
