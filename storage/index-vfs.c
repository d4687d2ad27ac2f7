/*
 * Lets SQLite open files beneath a directory fd. The unix VFS calls open/stat/... through a
 * table that xSetSystemCall can replace; our replacements recognise paths under the reserved
 * prefix "/.twofold-dirfd/<fd>/<name>" and use the *at() calls, and pass every other path to
 * the original function, so other SQLite users in the process (the auth store) are unaffected.
 */
#include "storage/index.h"
#include "storage/beneath.h"

#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INDEX_VFS_PREFIX "/.twofold-dirfd/"

typedef int open_fn(const char *, int, int);
typedef int access_fn(const char *, int);
typedef int stat_fn(const char *, struct stat *);
typedef int unlink_fn(const char *);
typedef ssize_t readlink_fn(const char *, char *, size_t);

static open_fn *orig_open;
static access_fn *orig_access;
static stat_fn *orig_stat, *orig_lstat;
static unlink_fn *orig_unlink;
static readlink_fn *orig_readlink;

/* 1 and the fd and name (name "." for the directory itself) when path is ours, 0 if not, -1
 * (errno set) when it is ours but malformed. */
static int index_vfs_split(const char *path, int *fd_r, const char **name_r)
{
	const char *p = path + strlen(INDEX_VFS_PREFIX);
	char *end;
	long fd;

	if (strncmp(path, INDEX_VFS_PREFIX, strlen(INDEX_VFS_PREFIX)) != 0)
		return 0;
	errno = 0;
	fd = strtol(p, &end, 10);
	if (errno != 0 || end == p || fd < 0 || fd > 1 << 20 || (*end != '/' && *end != '\0')) {
		errno = ENOENT;
		return -1;
	}
	*fd_r = (int)fd;
	*name_r = *end == '\0' || end[1] == '\0' ? "." : end + 1;
	if (strchr(*name_r, '/') != NULL || strcmp(*name_r, "..") == 0) {
		errno = EACCES;
		return -1;
	}
	return 1;
}

static int index_vfs_open(const char *path, int flags, int mode)
{
	const char *name;
	int fd, ret = index_vfs_split(path, &fd, &name);

	if (ret == 0)
		return orig_open(path, flags, mode);
	if (ret < 0)
		return -1;
	return beneath_open(fd, name, flags | O_NOFOLLOW | O_CLOEXEC, 0600);
}

static int index_vfs_access(const char *path, int mode)
{
	const char *name;
	int fd, ret = index_vfs_split(path, &fd, &name);

	if (ret == 0)
		return orig_access(path, mode);
	if (ret < 0)
		return -1;
	return beneath_access(fd, name, mode);
}

static int index_vfs_stat(const char *path, struct stat *st)
{
	const char *name;
	int fd, ret = index_vfs_split(path, &fd, &name);

	if (ret == 0)
		return orig_stat(path, st);
	if (ret < 0)
		return -1;
	return beneath_stat(fd, name, st);
}

static int index_vfs_lstat(const char *path, struct stat *st)
{
	const char *name;
	int fd, ret = index_vfs_split(path, &fd, &name);

	if (ret == 0)
		return orig_lstat(path, st);
	if (ret < 0)
		return -1;
	return beneath_stat(fd, name, st);
}

static int index_vfs_unlink(const char *path)
{
	const char *name;
	int fd, ret = index_vfs_split(path, &fd, &name);

	if (ret == 0)
		return orig_unlink(path);
	if (ret < 0)
		return -1;
	return beneath_unlink(fd, name, 0);
}

static ssize_t index_vfs_readlink(const char *path, char *buf, size_t size)
{
	const char *name;
	int fd, ret = index_vfs_split(path, &fd, &name);

	if (ret == 0)
		return orig_readlink(path, buf, size);
	errno = EINVAL; /* never follow a link of ours */
	return -1;
}

static void index_vfs_hook(sqlite3_vfs *vfs, const char *name, sqlite3_syscall_ptr fn,
                           sqlite3_syscall_ptr *orig_r)
{
	*orig_r = vfs->xGetSystemCall(vfs, name);
	if (*orig_r == NULL || vfs->xSetSystemCall(vfs, name, fn) != SQLITE_OK)
		fatal("index: cannot hook SQLite system call %s", name);
}

#define INDEX_VFS_HOOK(vfs, name, fn, orig)                                                        \
	index_vfs_hook(vfs, name, (sqlite3_syscall_ptr)fn, (sqlite3_syscall_ptr *)&orig)

static void index_vfs_install(void)
{
	static bool installed = false;
	sqlite3_vfs *vfs;

	if (installed)
		return;
	if (sqlite3_initialize() != SQLITE_OK || (vfs = sqlite3_vfs_find("unix")) == NULL ||
	    vfs->iVersion < 3)
		fatal("index: SQLite unix VFS unavailable");
	INDEX_VFS_HOOK(vfs, "open", index_vfs_open, orig_open);
	INDEX_VFS_HOOK(vfs, "access", index_vfs_access, orig_access);
	INDEX_VFS_HOOK(vfs, "stat", index_vfs_stat, orig_stat);
	INDEX_VFS_HOOK(vfs, "lstat", index_vfs_lstat, orig_lstat);
	INDEX_VFS_HOOK(vfs, "unlink", index_vfs_unlink, orig_unlink);
	INDEX_VFS_HOOK(vfs, "readlink", index_vfs_readlink, orig_readlink);
	mail_index_vfs_wal_register();
	installed = true;
}

char *mail_index_vfs_path(int dirfd, const char *name)
{
	index_vfs_install();
	return xasprintf(INDEX_VFS_PREFIX "%d/%s", dirfd, name);
}
