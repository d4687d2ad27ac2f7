#include "storage/beneath.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h> /* renameat2 */
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

#define BENEATH_RESOLVE (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)

static int beneath_openat2(int dirfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
	    .flags = (uint64_t)(unsigned)flags,
	    .mode = (flags & (O_CREAT | O_TMPFILE)) != 0 ? mode : 0,
	    .resolve = BENEATH_RESOLVE,
	};

	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/* Asked once per process (threads may race to ask: they get the same answer). */
static bool beneath_openat2_works(void)
{
	static int works = -1;
	int fd;

	if (works < 0) {
		fd = beneath_openat2(AT_FDCWD, ".", O_PATH | O_CLOEXEC, 0);
		works = fd >= 0 || errno != ENOSYS;
		if (fd >= 0)
			close(fd);
	}
	return works;
}

/* Without openat2: a plain name only (no '/', not ".."), opened without following a link. */
static int beneath_openat_plain(int dirfd, const char *path, int flags, mode_t mode)
{
	if (strchr(path, '/') != NULL || strcmp(path, "..") == 0) {
		errno = EXDEV;
		return -1;
	}
	return openat(dirfd, path, flags | O_NOFOLLOW, mode);
}

/* Tries after EAGAIN: a path with ".." raced with a rename elsewhere on the file system. */
#define BENEATH_TRIES 3

int beneath_open(int dirfd, const char *path, int flags, mode_t mode)
{
	int fd = -1;

	if (!beneath_openat2_works())
		return beneath_openat_plain(dirfd, path, flags, mode);
	for (int i = 0; i < BENEATH_TRIES; i++) {
		fd = beneath_openat2(dirfd, path, flags, mode);
		if (fd >= 0 || errno != EAGAIN)
			break;
	}
	return fd;
}

DIR *beneath_opendir(int dirfd, const char *path)
{
	int fd = beneath_open(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
	DIR *dir;
	int err;

	if (fd < 0)
		return NULL;
	if ((dir = fdopendir(fd)) == NULL) {
		err = errno;
		close(fd);
		errno = err;
	}
	return dir;
}

/* Splits path into the directory it names an entry of (opened beneath dirfd when path has a
 * directory part; *parent_r == dirfd otherwise) and that entry's name. -1 with errno. */
static int beneath_parent(int dirfd, const char *path, int *parent_r, const char **name_r)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];

	*name_r = slash != NULL ? slash + 1 : path;
	if (strcmp(*name_r, "..") == 0 || path[0] == '/') {
		errno = EXDEV;
		return -1;
	}
	if (slash == NULL) {
		*parent_r = dirfd;
		return 0;
	}
	if (!beneath_openat2_works()) {
		errno = EXDEV;
		return -1;
	}
	if ((size_t)(slash - path) >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	*parent_r = beneath_open(dirfd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
	return *parent_r < 0 ? -1 : 0;
}

static void beneath_parent_close(int dirfd, int parent)
{
	int err = errno;

	if (parent != dirfd)
		close(parent);
	errno = err;
}

/* Calls fn on the parent directory and last component of path. */
typedef int beneath_name_fn(int parent, const char *name, const void *arg);

static int beneath_at(int dirfd, const char *path, beneath_name_fn *fn, const void *arg)
{
	const char *name;
	int parent, ret;

	if (beneath_parent(dirfd, path, &parent, &name) < 0)
		return -1;
	ret = fn(parent, name, arg);
	beneath_parent_close(dirfd, parent);
	return ret;
}

static int beneath_mkdir_at(int parent, const char *name, const void *arg)
{
	return mkdirat(parent, name, *(const mode_t *)arg);
}

int beneath_mkdir(int dirfd, const char *path, mode_t mode)
{
	return beneath_at(dirfd, path, beneath_mkdir_at, &mode);
}

static int beneath_unlink_at(int parent, const char *name, const void *arg)
{
	return unlinkat(parent, name, *(const int *)arg);
}

int beneath_unlink(int dirfd, const char *path, int flags)
{
	return beneath_at(dirfd, path, beneath_unlink_at, &flags);
}

static int beneath_stat_at(int parent, const char *name, const void *arg)
{
	return fstatat(parent, name, (struct stat *)arg, AT_SYMLINK_NOFOLLOW);
}

int beneath_stat(int dirfd, const char *path, struct stat *st)
{
	return beneath_at(dirfd, path, beneath_stat_at, st);
}

static int beneath_access_at(int parent, const char *name, const void *arg)
{
	return faccessat(parent, name, *(const int *)arg, AT_SYMLINK_NOFOLLOW);
}

int beneath_access(int dirfd, const char *path, int mode)
{
	return beneath_at(dirfd, path, beneath_access_at, &mode);
}

/* Both parents of a two-path call (rename, link), or -1 with errno and none left open. */
static int beneath_parents(int fromfd, const char *from, int tofd, const char *to, int parents[2],
                           const char *names[2])
{
	if (beneath_parent(fromfd, from, &parents[0], &names[0]) < 0)
		return -1;
	if (beneath_parent(tofd, to, &parents[1], &names[1]) < 0) {
		beneath_parent_close(fromfd, parents[0]);
		return -1;
	}
	return 0;
}

int beneath_rename(int fromfd, const char *from, int tofd, const char *to, unsigned flags)
{
	const char *names[2];
	int parents[2], ret;

	if (beneath_parents(fromfd, from, tofd, to, parents, names) < 0)
		return -1;
	ret = renameat2(parents[0], names[0], parents[1], names[1], flags);
	beneath_parent_close(fromfd, parents[0]);
	beneath_parent_close(tofd, parents[1]);
	return ret;
}

int beneath_link(int fromfd, const char *from, int tofd, const char *to)
{
	const char *names[2];
	int parents[2], ret;

	if (beneath_parents(fromfd, from, tofd, to, parents, names) < 0)
		return -1;
	ret = linkat(parents[0], names[0], parents[1], names[1], 0);
	beneath_parent_close(fromfd, parents[0]);
	beneath_parent_close(tofd, parents[1]);
	return ret;
}
