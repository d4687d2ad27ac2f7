/* storage/beneath.c: no path leaves the directory fd it is relative to. A real tree: "md" is the
 * directory the calls are relative to, "other" a sibling (another user's maildir). Where openat2
 * is missing (valgrind 3.19 does not know it; kernels before 5.6) the fallback is checked
 * instead: plain names only, never a symlink followed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/test-tmpdir.h"

#include "storage/beneath.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool openat2_here;

static bool under_valgrind(void)
{
	const char *preload = getenv("LD_PRELOAD");

	return preload != NULL && strstr(preload, "vgpreload") != NULL;
}

static bool probe_openat2(void)
{
	struct open_how how = {.flags = O_PATH, .resolve = RESOLVE_BENEATH};
	long fd = syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof(how));

	if (fd >= 0)
		close((int)fd);
	return fd >= 0 || errno != ENOSYS;
}

struct fixture {
	char root[256];
	int md;    /* the confining directory */
	int other; /* outside it */
};

static void put(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int rootfd;

	test_tmpdir_make(f->root, sizeof(f->root), "beneath");
	rootfd = open(f->root, O_RDONLY | O_DIRECTORY);
	assert_true(rootfd >= 0);
	assert_int_equal(mkdirat(rootfd, "md", 0700), 0);
	assert_int_equal(mkdirat(rootfd, "other", 0700), 0);
	assert_int_equal(mkdirat(rootfd, "other/cur", 0700), 0);
	f->md = openat(rootfd, "md", O_RDONLY | O_DIRECTORY);
	f->other = openat(rootfd, "other", O_RDONLY | O_DIRECTORY);
	assert_true(f->md >= 0 && f->other >= 0);
	close(rootfd);
	assert_int_equal(mkdirat(f->md, "cur", 0700), 0);
	assert_int_equal(mkdirat(f->md, "new", 0700), 0);
	put(f->md, "cur/mine", "mine\n");
	put(f->other, "cur/theirs", "theirs\n");
	/* the links a maildir must not lead out through */
	assert_int_equal(symlinkat("../../other/cur/theirs", f->md, "cur/x"), 0);
	assert_int_equal(symlinkat("../other", f->md, ".Evil"), 0);
	/* and one that stays inside */
	assert_int_equal(symlinkat("../cur/mine", f->md, "new/y"), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->md);
	close(f->other);
	test_tmpdir_remove(f->root);
	free(f);
	return 0;
}

/* Refused as leading out: EXDEV; the fallback refuses a path with '/' the same way, and a
 * symlinked name by not following it. */
static void assert_exdev(int ret)
{
	assert_int_equal(ret, -1);
	if (openat2_here || (errno != ELOOP && errno != ENOTDIR))
		assert_int_equal(errno, EXDEV);
}

/* A path with a directory part: taken with openat2, refused by the fallback. */
static void assert_path_ok(int ret)
{
	if (openat2_here) {
		assert_true(ret >= 0);
		if (ret > 2)
			close(ret);
	} else {
		assert_exdev(ret);
	}
}

static int subdir(struct fixture *f, const char *name)
{
	int fd = openat(f->md, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

static void test_kernel_has_openat2(void **state)
{
	(void)state;
	/* the kernels this runs on have it: only valgrind may hide it */
	assert_true(openat2_here || under_valgrind());
}

static bool theirs_intact(struct fixture *f)
{
	char buf[16] = "";
	int fd = openat(f->other, "cur/theirs", O_RDONLY);

	if (fd < 0)
		return false;
	(void)!read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return strcmp(buf, "theirs\n") == 0;
}

static void test_open_inside(void **state)
{
	struct fixture *f = *state;
	int cur = subdir(f, "cur"), fd;

	assert_true((fd = beneath_open(cur, "mine", O_RDONLY | O_CLOEXEC, 0)) >= 0);
	close(fd);
	assert_true((fd = beneath_open(f->md, ".", O_RDONLY | O_DIRECTORY, 0)) >= 0);
	close(fd);
	assert_true((fd = beneath_open(cur, "z", O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0);
	close(fd);
	close(cur);
	assert_path_ok(beneath_open(f->md, "cur/mine", O_RDONLY | O_CLOEXEC, 0));
	/* a link that stays inside is followed when the caller follows links */
	assert_path_ok(beneath_open(f->md, "new/y", O_RDONLY, 0));
}

static void test_open_never_leaves(void **state)
{
	struct fixture *f = *state;

	assert_exdev(beneath_open(f->md, "../other/cur/theirs", O_RDONLY, 0));
	assert_exdev(beneath_open(f->md, "cur/../../other/cur/theirs", O_RDONLY, 0));
	assert_exdev(beneath_open(f->md, "/etc/hostname", O_RDONLY, 0));
	assert_exdev(beneath_open(f->md, "..", O_RDONLY | O_DIRECTORY, 0));
	/* through a symlinked file, and through a symlinked folder */
	assert_exdev(beneath_open(f->md, "cur/x", O_RDONLY, 0));
	assert_exdev(beneath_open(f->md, ".Evil/cur/theirs", O_RDONLY, 0));
	assert_exdev(beneath_open(f->md, ".Evil", O_RDONLY | O_DIRECTORY, 0));
	assert_exdev(beneath_open(f->md, ".Evil/cur/new", O_WRONLY | O_CREAT, 0600));
	assert_int_equal(faccessat(f->other, "cur/new", F_OK, 0), -1);
}

static void test_name_calls_never_leave(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	int cur;

	assert_exdev(beneath_unlink(f->md, ".Evil/cur/theirs", 0));
	assert_exdev(beneath_unlink(f->md, "../other/cur/theirs", 0));
	assert_exdev(beneath_rename(f->md, ".Evil/cur/theirs", f->md, "cur/stolen", 0));
	assert_exdev(beneath_rename(f->md, "cur/mine", f->md, ".Evil/cur/planted", 0));
	assert_exdev(beneath_link(f->md, ".Evil/cur/theirs", f->md, "cur/stolen"));
	assert_exdev(beneath_mkdir(f->md, ".Evil/cur/dir", 0700));
	assert_exdev(beneath_stat(f->md, ".Evil/cur/theirs", &st));
	assert_exdev(beneath_access(f->md, "../other/cur/theirs", F_OK));
	assert_exdev(beneath_unlink(f->md, "..", AT_REMOVEDIR));
	assert_true(theirs_intact(f));
	assert_int_equal(faccessat(f->other, "cur/planted", F_OK, 0), -1);
	/* the link itself is a name inside: it may be looked at and removed, not followed */
	cur = subdir(f, "cur");
	assert_int_equal(beneath_stat(cur, "x", &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(beneath_unlink(cur, "x", 0), 0);
	close(cur);
	assert_true(theirs_intact(f));
}

static void test_name_calls_inside_plain(void **state)
{
	struct fixture *f = *state;
	int cur = subdir(f, "cur"), new = subdir(f, "new");
	struct stat st;

	assert_int_equal(beneath_mkdir(f->md, ".Sent", 0700), 0);
	assert_int_equal(beneath_link(cur, "mine", new, "copy"), 0);
	assert_int_equal(beneath_rename(new, "copy", cur, "moved", RENAME_NOREPLACE), 0);
	assert_int_equal(beneath_stat(cur, "moved", &st), 0);
	assert_int_equal(beneath_access(cur, "moved", R_OK), 0);
	assert_int_equal(beneath_rename(cur, "moved", cur, "mine", RENAME_NOREPLACE), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(beneath_unlink(cur, "moved", 0), 0);
	assert_int_equal(beneath_unlink(f->md, ".Sent", AT_REMOVEDIR), 0);
	close(cur);
	close(new);
}

static void test_name_calls_inside(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	if (!openat2_here) {
		/* the fallback takes plain names only */
		assert_exdev(beneath_mkdir(f->md, "cur/dir", 0700));
		assert_exdev(beneath_stat(f->md, "cur/mine", &st));
		return;
	}
	assert_int_equal(beneath_mkdir(f->md, ".Sent", 0700), 0);
	assert_int_equal(beneath_mkdir(f->md, ".Sent/cur", 0700), 0);
	assert_int_equal(beneath_link(f->md, "cur/mine", f->md, ".Sent/cur/copy"), 0);
	assert_int_equal(beneath_rename(f->md, ".Sent/cur/copy", f->md, "new/moved", 0), 0);
	assert_int_equal(beneath_stat(f->md, "new/moved", &st), 0);
	assert_int_equal(beneath_access(f->md, "new/moved", R_OK), 0);
	assert_int_equal(beneath_rename(f->md, "new/moved", f->md, "cur/mine", RENAME_NOREPLACE),
	                 -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(beneath_unlink(f->md, "new/moved", 0), 0);
	assert_int_equal(beneath_unlink(f->md, ".Sent/cur", AT_REMOVEDIR), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kernel_has_openat2),
	    cmocka_unit_test_setup_teardown(test_open_inside, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_never_leaves, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_name_calls_never_leave, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_name_calls_inside_plain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_name_calls_inside, setup, teardown),
	};

	openat2_here = probe_openat2();

	return cmocka_run_group_tests(tests, NULL, NULL);
}
