/* Maildir file operations, all relative to directory fds. Internal to storage/. */
#ifndef TWOFOLD_MAILDIR_H
#define TWOFOLD_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct maildir_dirs {
	int dirfd, curfd, newfd, tmpfd;
};

/* Creates cur/ new/ tmp/ (0700) beneath dirfd where missing. */
int maildir_create_subdirs(int dirfd, const char **error_r);
/* Opens the mailbox directory name ("." for the root) beneath parentfd and its subdirs, creating
 * missing subdirs. 1 ok, 0 no such directory (or a symlink or file in its place), -1 error. */
int maildir_dirs_open(int parentfd, const char *name, struct maildir_dirs *dirs,
                      const char **error_r);
void maildir_dirs_close(struct maildir_dirs *dirs);

/* Calls cb for every entry of dirfd that may be a message file (no dot files, directories or
 * symlinks). One readdir pass. */
typedef void maildir_entry_cb(void *ctx, const char *name);
int maildir_readdir(int dirfd, maildir_entry_cb *cb, void *ctx, const char **error_r);

/* Reads an open message file: bytes on disk and octets with bare LF made CRLF. 0, or -1 with
 * errno (nothing logged: the caller knows whose file it is). */
int maildir_vsize_fd(int fd, uint64_t *size_r, uint64_t *vsize_r);
/* The same for a file fstat gave st_size for: a small file takes one read (the end of file is
 * known from that size, no second read); otherwise, or when the read disagrees, as above. */
int maildir_vsize_fd_sized(int fd, uint64_t st_size, uint64_t *size_r, uint64_t *vsize_r);
/* Octets of data with bare LF made CRLF. */
uint64_t maildir_vsize_mem(const void *data, size_t len);
/* The same for one chunk of a stream; *prev_cr (false at the start) carries the state. */
uint64_t maildir_vsize_chunk(const void *data, size_t len, bool *prev_cr);

/* renameat that never replaces an existing file. 0 ok, -1 with errno. */
int maildir_rename(int fromfd, const char *from, int tofd, const char *to);

/* A new unique base name "<sec>.M<usec>P<pid>Q<n>.<host>". Caller frees. */
char *maildir_unique_name(void);
/* The same with when (if > 0) as the seconds part: twofold names the files it writes after
 * their internal date, so that an index rebuild finds the date in the name without a stat. */
char *maildir_unique_name_at(time_t when);
/* A new message file in tmp/, for data that arrives in pieces: create tmp/name (O_EXCL, 0600,
 * *fd_r), write (any number of times), finish (the mtime set to date when not 0, fsync, close;
 * on failure the file is closed and removed). */
int maildir_tmp_create(int tmpfd, const char *name, int *fd_r, const char **error_r);
int maildir_tmp_write(int fd, const char *name, const void *data, size_t len,
                      const char **error_r);
int maildir_tmp_finish(int tmpfd, int fd, const char *name, time_t date, const char **error_r);

/* Files of tmp/ older than this are leftovers of a writer that died (the Maildir convention). */
#define MAILDIR_TMP_STALE_SECS (36 * 60 * 60)
/* Removes the entries of tmp/ (not directories) whose inode last changed before older_than:
 * ctime, which no writer can set back (an APPEND's file gets its internal date as mtime before
 * it is renamed into cur/). Returns how many were removed, -1 when tmp/ cannot be listed. */
int maildir_tmp_clean(int tmpfd, time_t older_than);

/* flock(LOCK_EX|LOCK_NB) on dirfd/name. 1 locked (*fd_r), 0 held elsewhere, -1 error. */
int maildir_lock(int dirfd, const char *name, int *fd_r, const char **error_r);

#endif
