/*
 * Path calls that cannot leave the directory they are relative to: every path the storage
 * opens, creates, renames, links, removes or looks at goes through these. Opens use
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so neither "..", an absolute path nor a
 * symlink (a directory on the way, or the file itself when followed) leads out of dirfd. The
 * calls that act on a name rather than open it resolve the path's directory part the same way
 * and act on its last component, which must not be "..". A path that would lead out fails with
 * EXDEV. Otherwise results and errno as the system calls they stand for. Internal to storage/.
 *
 * On a kernel without openat2 (before 5.6) only plain names are taken (no '/'), and opens add
 * O_NOFOLLOW: stricter, never looser.
 */
#ifndef TWOFOLD_BENEATH_H
#define TWOFOLD_BENEATH_H

#include <dirent.h>
#include <sys/stat.h>
#include <sys/types.h>

/* openat(dirfd, path, flags, mode) */
int beneath_open(int dirfd, const char *path, int flags, mode_t mode);
/* The directory path (not a symlink) for readdir; NULL with errno. closedir() it. */
DIR *beneath_opendir(int dirfd, const char *path);
/* mkdirat */
int beneath_mkdir(int dirfd, const char *path, mode_t mode);
/* unlinkat (flags: 0 or AT_REMOVEDIR) */
int beneath_unlink(int dirfd, const char *path, int flags);
/* renameat2 (flags: 0 or RENAME_NOREPLACE) */
int beneath_rename(int fromfd, const char *from, int tofd, const char *to, unsigned flags);
/* linkat without following a symlink */
int beneath_link(int fromfd, const char *from, int tofd, const char *to);
/* fstatat, never following a symlink in the last component */
int beneath_stat(int dirfd, const char *path, struct stat *st);
/* faccessat (mode F_OK, R_OK, ...), never following a symlink in the last component */
int beneath_access(int dirfd, const char *path, int mode);

#endif
