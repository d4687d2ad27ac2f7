/* A private directory for one unit test, under $TWOFOLD_TEST_TMP (the build's tests/tmp, set by
 * ctest) or /tmp, and its removal. Include after cmocka.h. */
#ifndef TWOFOLD_TEST_TMPDIR_H
#define TWOFOLD_TEST_TMPDIR_H

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* Makes <base>/<prefix>-XXXXXX into buf. */
static inline void test_tmpdir_make(char *buf, size_t size, const char *prefix)
{
	const char *base = getenv("TWOFOLD_TEST_TMP");

	if (base == NULL || (mkdir(base, 0700) < 0 && errno != EEXIST))
		base = "/tmp";
	snprintf(buf, size, "%s/%s-XXXXXX", base, prefix);
	assert_non_null(mkdtemp(buf));
}

static inline int test_tmpdir_rm_entry(const char *path, const struct stat *sb, int type,
                                       struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* rm -rf path */
static inline void test_tmpdir_remove(const char *path)
{
	nftw(path, test_tmpdir_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
