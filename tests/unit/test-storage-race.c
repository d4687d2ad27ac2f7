/* Two sessions on one maildir, with the interleaving forced: a directory listing of cur/ that
 * another session's flag change renames a file during. A listing may then miss the file under
 * both names (POSIX leaves it unspecified; ext4's hash order does it when the new name hashes
 * before the place the listing has reached). maildir_readdir is wrapped (-Wl,--wrap) to run the
 * other session's change in the middle of a listing and then to report the listing as such a
 * file system would. Real maildirs, real SQLite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/test-storage-fixture.h"

#include "common/xalloc.h"
#include "storage/maildir.h"
#include "storage/storage.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int __real_maildir_readdir(int dirfd, maildir_entry_cb *cb, void *ctx, const char **error_r);
int __wrap_maildir_readdir(int dirfd, maildir_entry_cb *cb, void *ctx, const char **error_r);
int __real_sqlite3_busy_timeout(sqlite3 *db, int ms);
int __wrap_sqlite3_busy_timeout(sqlite3 *db, int ms);

#define NAMES_MAX 64

/* What the next listing that holds a message file does in its middle. */
static struct {
	struct mailbox *box; /* the other session */
	size_t index;        /* its message to flag */
	unsigned flag;       /* with this flag */
	int ret;             /* mailbox_set_flags' result, done once the hook ran */
	bool armed, done;
	int busy_ms; /* when > 0, the busy timeout of indexes opened from now on */
} hook;

struct names {
	char *name[NAMES_MAX];
	size_t count;
};

static void names_add(void *ctx, const char *name)
{
	struct names *n = ctx;

	assert_true(n->count < NAMES_MAX);
	n->name[n->count++] = xstrdup(name);
}

static bool names_have_message(const struct names *n)
{
	for (size_t i = 0; i < n->count; i++) {
		if (strstr(n->name[i], ",U=") != NULL)
			return true;
	}
	return false;
}

/* The listing is read whole first; the other session's change runs; then the entries are
 * reported, but not a file renamed meanwhile (its old name is gone and its new one was not
 * there when the listing passed). */
int __wrap_maildir_readdir(int dirfd, maildir_entry_cb *cb, void *ctx, const char **error_r)
{
	struct names n = {.count = 0};
	const char *error = NULL;
	struct stat st;

	if (!hook.armed)
		return __real_maildir_readdir(dirfd, cb, ctx, error_r);
	if (__real_maildir_readdir(dirfd, names_add, &n, error_r) < 0)
		return -1;
	if (names_have_message(&n)) {
		hook.armed = false;
		hook.ret = mailbox_set_flags(hook.box, hook.index, hook.flag, 0, &error);
		hook.done = true;
	}
	for (size_t i = 0; i < n.count; i++) {
		if (fstatat(dirfd, n.name[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
			cb(ctx, n.name[i]);
		free(n.name[i]);
	}
	return 0;
}

/* The other session must not wait the server's 15 s for a lock this process holds. */
int __wrap_sqlite3_busy_timeout(sqlite3 *db, int ms)
{
	return __real_sqlite3_busy_timeout(db, hook.busy_ms > 0 ? hook.busy_ms : ms);
}

static int setup(void **state)
{
	memset(&hook, 0, sizeof(hook));
	*state = test_fixture_new("storage-race", true);
	return 0;
}

static int teardown(void **state)
{
	test_fixture_free(*state);
	return 0;
}

/* Session A flags message 1 while session B's sync lists cur/ to learn of messages 1 and 2.
 * B must end up with both, in UID order: a message it missed once must not come later below
 * one it has shown (it would be left out of B's view for good). */
static void test_flag_rename_during_listing(void **state)
{
	struct fixture *f = *state;
	struct mailbox *a, *b;
	const char *error = NULL;
	uint32_t uid1, uid2;

	b = test_fixture_open_box(f, "INBOX", false);
	hook.busy_ms = 100;
	a = test_fixture_open_box(f, "INBOX", false);
	hook.busy_ms = 0;
	uid1 = test_fixture_append(a, "Subject: one\n\n1\n", 0);
	uid2 = test_fixture_append(a, "Subject: two\n\n2\n", 0);
	test_fixture_sync(a);
	assert_int_equal(mailbox_count(a), 2);

	hook.box = a;
	hook.index = 0;
	hook.flag = MAIL_SEEN;
	hook.armed = true;
	test_fixture_sync(b);
	assert_true(hook.done);
	assert_int_equal(mailbox_count(b), 2);
	assert_int_equal(mailbox_get(b, 0)->uid, uid1);
	assert_int_equal(mailbox_get(b, 1)->uid, uid2);
	/* the change waited for the listing's lock (here: gave up after the short timeout) */
	assert_int_equal(hook.ret, -1);
	assert_int_equal(mailbox_get(a, 0)->flags & MAIL_SEEN, 0);

	/* done again outside the listing, the change is seen by b's next sync */
	assert_int_equal(mailbox_set_flags(a, 0, MAIL_SEEN, 0, &error), 1);
	test_fixture_sync(b);
	assert_int_equal(mailbox_count(b), 2);
	assert_int_equal(mailbox_get(b, 0)->uid, uid1);
	assert_int_equal(mailbox_get(b, 0)->flags & MAIL_SEEN, MAIL_SEEN);
	assert_int_equal(mailbox_get(b, 1)->uid, uid2);
	mailbox_close(&a);
	mailbox_close(&b);
}

/* A session looking for a file renamed behind its back (here: at an open) lists cur/ under the
 * lock as well: no flag change of another session runs meanwhile, so the file cannot be missed
 * by that listing and taken for expunged. */
static void test_relocate_listing_locked(void **state)
{
	struct fixture *f = *state;
	struct mailbox *a, *b;
	const char *error = NULL;
	int fd;

	a = test_fixture_open_box(f, "INBOX", false);
	test_fixture_append(a, "Subject: one\n\n1\n", 0);
	test_fixture_sync(a);
	hook.busy_ms = 100;
	b = test_fixture_open_box(f, "INBOX", false);
	hook.busy_ms = 0;
	test_fixture_sync(b);
	assert_int_equal(mailbox_set_flags(b, 0, MAIL_SEEN, 0, &error), 1);

	/* a's open misses the old name; during its listing b flags the message again */
	hook.box = b;
	hook.index = 0;
	hook.flag = MAIL_FLAGGED;
	hook.armed = true;
	fd = mailbox_msg_open(a, 0, &error);
	assert_true(hook.done);
	assert_int_equal(hook.ret, -1);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mailbox_get(a, 0)->flags & (MAIL_SEEN | MAIL_FLAGGED), MAIL_SEEN);
	assert_false(mailbox_msg_gone(a, 0));
	mailbox_close(&a);
	mailbox_close(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_flag_rename_during_listing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relocate_listing_locked, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
