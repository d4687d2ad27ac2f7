/* The fixture of the storage tests: a private maildir root (test-tmpdir.h) with its directory
 * fd, the storage and the mailbox a test opens in it, and files put into it by path. Include
 * after cmocka.h. */
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

#endif
