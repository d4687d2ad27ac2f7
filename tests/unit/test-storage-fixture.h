/* The fixture of the storage tests: a private maildir root (test-tmpdir.h) with its directory
 * fd, the storage and the mailbox a test opens in it, and files put into it by path; and the
 * checks the storage tests share (sync, sizes, looking a message up, another session's renames).
 * Include after cmocka.h. */
#ifndef TWOFOLD_TEST_STORAGE_FIXTURE_H
#define TWOFOLD_TEST_STORAGE_FIXTURE_H

#include "tests/unit/test-tmpdir.h"

#include "common/xalloc.h"
#include "storage/storage.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
	char root[256];
	int rootfd;
	struct mail_storage *st;
	struct mailbox *box;
};

/* A new empty root <tmp>/<prefix>-XXXXXX; the storage is opened when open_storage. */
static inline struct fixture *test_fixture_new(const char *prefix, bool open_storage)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	const char *error = NULL;

	test_tmpdir_make(f->root, sizeof(f->root), prefix);
	f->rootfd = open(f->root, O_RDONLY | O_DIRECTORY);
	assert_true(f->rootfd >= 0);
	if (open_storage)
		assert_int_equal(mail_storage_open(f->rootfd, &f->st, &error), 0);
	return f;
}

static inline void test_fixture_free(struct fixture *f)
{
	mailbox_close(&f->box);
	mail_storage_close(&f->st);
	close(f->rootfd);
	test_tmpdir_remove(f->root);
	free(f);
}

static inline void test_fixture_put(struct fixture *f, const char *rel, const void *data,
                                    size_t len)
{
	char path[1024];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->root, rel);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static inline bool test_fixture_exists(struct fixture *f, const char *rel)
{
	struct stat st;
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", f->root, rel);
	return lstat(path, &st) == 0;
}

/* The file name in dir whose key is key (followed by ':' or twofold's ',' fields) into out;
 * false when there is none. */
static inline bool test_fixture_find_name(struct fixture *f, const char *dir, const char *key,
                                          char *out, size_t size)
{
	char path[1024];
	size_t len = strlen(key);
	struct dirent *d;
	DIR *dp;

	snprintf(path, sizeof(path), "%s/%s", f->root, dir);
	dp = opendir(path);
	assert_non_null(dp);
	out[0] = '\0';
	while ((d = readdir(dp)) != NULL) {
		if (strncmp(d->d_name, key, len) == 0 &&
		    (d->d_name[len] == ':' || d->d_name[len] == ','))
			snprintf(out, size, "%s", d->d_name);
	}
	closedir(dp);
	return out[0] != '\0';
}

/* The storage opened again (a new session) and its INBOX in f->box: a read-write IMAP session
 * (claims \Recent). */
static inline void test_fixture_open_inbox(struct fixture *f)
{
	const char *error = NULL;

	mailbox_close(&f->box);
	mail_storage_close(&f->st);
	assert_int_equal(mail_storage_open(f->rootfd, &f->st, &error), 0);
	assert_int_equal(mailbox_open_imap(f->st, "INBOX", false, &f->box, &error), 1);
}

/* The mailbox closed and the INBOX's index files gone: the next open rebuilds it. */
static inline void test_fixture_remove_index(struct fixture *f)
{
	const char *names[] = {"twofold.index", "twofold.index-wal", "twofold.index-shm"};

	mailbox_close(&f->box);
	for (size_t i = 0; i < 3; i++) {
		char path[1024];

		snprintf(path, sizeof(path), "%s/%s", f->root, names[i]);
		assert_true(unlink(path) == 0 || errno == ENOENT);
	}
}

/* cmocka setup and teardown: an empty root whose storage the test opens, or a root whose
 * storage is open (its default folders made). */
static inline int test_fixture_setup(void **state)
{
	*state = test_fixture_new("storage", false);
	return 0;
}

static inline int test_fixture_setup_storage(void **state)
{
	*state = test_fixture_new("storage-imap", true);
	return 0;
}

static inline int test_fixture_teardown(void **state)
{
	test_fixture_free(*state);
	return 0;
}

/* A file of a string literal's bytes. */
#define PUT(f, rel, lit) test_fixture_put(f, rel, lit, sizeof(lit) - 1)

static inline void test_fixture_rename(struct fixture *f, const char *from, const char *to)
{
	char a[1024], b[1024];

	snprintf(a, sizeof(a), "%s/%s", f->root, from);
	snprintf(b, sizeof(b), "%s/%s", f->root, to);
	assert_int_equal(rename(a, b), 0);
}

static inline void test_fixture_unlink(struct fixture *f, const char *rel)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", f->root, rel);
	assert_int_equal(unlink(path), 0);
}

static inline size_t test_fixture_count_dir(struct fixture *f, const char *rel)
{
	char path[1024];
	struct dirent *d;
	size_t n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "%s/%s", f->root, rel);
	dir = opendir(path);
	assert_non_null(dir);
	while ((d = readdir(dir)) != NULL)
		n += d->d_name[0] == '.' ? 0 : 1;
	closedir(dir);
	return n;
}

/* The single file name in cur/ whose key is base (followed by ':' or twofold's ',' fields). */
static inline void test_fixture_cur_name(struct fixture *f, const char *base, char *out,
                                         size_t size)
{
	assert_true(test_fixture_find_name(f, "cur", base, out, size));
}

/* Renames the file of key in cur/ to its base + info (another session or tool changing flags). */
static inline void test_fixture_set_info(struct fixture *f, const char *key, const char *info)
{
	char name[256], from[300], to[300];

	test_fixture_cur_name(f, key, name, sizeof(name));
	snprintf(from, sizeof(from), "cur/%s", name);
	snprintf(to, sizeof(to), "cur/%.*s%s", (int)(strchr(name, ':') - name), name, info);
	test_fixture_rename(f, from, to);
}

static inline void test_fixture_unlink_key(struct fixture *f, const char *key)
{
	char name[256], rel[300];

	test_fixture_cur_name(f, key, name, sizeof(name));
	snprintf(rel, sizeof(rel), "cur/%s", name);
	test_fixture_unlink(f, rel);
}

static inline void test_fixture_deliver_three(struct fixture *f)
{
	PUT(f, "new/300.one.h", "one\n");
	PUT(f, "new/301.two.h", "two\n");
	PUT(f, "new/302.three.h", "three\n");
}

static inline struct mailbox *test_fixture_open_box(struct fixture *f, const char *name,
                                                    bool readonly)
{
	struct mailbox *box = NULL;
	const char *error = NULL;

	assert_int_equal(mailbox_open_imap(f->st, name, readonly, &box, &error), 1);
	return box;
}

static inline void test_fixture_sync(struct mailbox *box)
{
	const char *error = NULL;

	assert_int_equal(mailbox_sync(box, &error), 0);
}

static inline uint32_t test_fixture_append(struct mailbox *box, const char *data, unsigned flags)
{
	const char *error = NULL;
	uint32_t uid = 0;

	assert_int_equal(mailbox_append(box, data, strlen(data), flags, 0, &uid, &error), 0);
	return uid;
}

static inline const struct mail *test_fixture_find_uidl(struct fixture *f, const char *uidl)
{
	for (size_t i = 0; i < mailbox_count(f->box); i++) {
		if (strcmp(mailbox_get(f->box, i)->uidl, uidl) == 0)
			return mailbox_get(f->box, i);
	}
	fail_msg("uidl %s not in view", uidl);
	return NULL;
}

static inline size_t test_fixture_find_index(struct fixture *f, const char *uidl)
{
	for (size_t i = 0; i < mailbox_count(f->box); i++) {
		if (strcmp(mailbox_get(f->box, i)->uidl, uidl) == 0)
			return i;
	}
	fail_msg("uidl %s not in view", uidl);
	return 0;
}

static inline struct mail_sizes test_fixture_sizes(struct mailbox *box, size_t i)
{
	struct mail_sizes sizes = {0};
	const char *error = NULL;

	assert_int_equal(mailbox_msg_sizes(box, i, &sizes, &error), 1);
	return sizes;
}

static inline struct mail_sizes test_fixture_uidl_sizes(struct fixture *f, const char *uidl)
{
	return test_fixture_sizes(f->box, test_fixture_find_index(f, uidl));
}

#endif
