#include "storage/maildir.h"
#include "storage/beneath.h"
#include "storage/storage.h"

#include "common/log.h"
#include "common/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define MAILDIR_DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* Logs, sets *error_r by errno (a full disk is mail_error_nospace) and keeps errno. */
static int maildir_sys_error(const char *what, const char *name, const char **error_r)
{
	int err = errno;

	log_error("maildir: %s %s: %s", what, log_quote(name), strerror(err));
	*error_r = err == ENOSPC || err == EDQUOT ? mail_error_nospace : "mailbox access error";
	errno = err;
	return -1;
}

int maildir_create_subdirs(int dirfd, const char **error_r)
{
	static const char *const subdirs[] = {"cur", "new", "tmp"};

	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		if (beneath_mkdir(dirfd, subdirs[i], 0700) < 0 && errno != EEXIST)
			return maildir_sys_error("mkdir", subdirs[i], error_r);
	}
	return 0;
}

int maildir_dirs_open(int parentfd, const char *name, struct maildir_dirs *dirs,
                      const char **error_r)
{
	dirs->curfd = dirs->newfd = dirs->tmpfd = -1;
	dirs->dirfd = beneath_open(parentfd, name, MAILDIR_DIR_FLAGS, 0);
	if (dirs->dirfd < 0) {
		if (errno == ENOENT)
			return 0;
		/* a symlink or a file where a folder would be: not a mailbox of this maildir */
		if (errno == ELOOP || errno == ENOTDIR || errno == EXDEV) {
			log_warn("maildir: %s is not a directory of the maildir: not served",
			         log_quote(name));
			return 0;
		}
		return maildir_sys_error("open", name, error_r);
	}
	if (maildir_create_subdirs(dirs->dirfd, error_r) < 0)
		goto fail;
	if ((dirs->curfd = beneath_open(dirs->dirfd, "cur", MAILDIR_DIR_FLAGS, 0)) < 0 ||
	    (dirs->newfd = beneath_open(dirs->dirfd, "new", MAILDIR_DIR_FLAGS, 0)) < 0 ||
	    (dirs->tmpfd = beneath_open(dirs->dirfd, "tmp", MAILDIR_DIR_FLAGS, 0)) < 0) {
		maildir_sys_error("open", "cur/new/tmp", error_r);
		goto fail;
	}
	return 1;
fail:
	maildir_dirs_close(dirs);
	return -1;
}

void maildir_dirs_close(struct maildir_dirs *dirs)
{
	int *fds[] = {&dirs->dirfd, &dirs->curfd, &dirs->newfd, &dirs->tmpfd};

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

int maildir_readdir(int dirfd, maildir_entry_cb *cb, void *ctx, const char **error_r)
{
	DIR *dir = beneath_opendir(dirfd, ".");
	struct dirent *d;

	if (dir == NULL)
		return maildir_sys_error("opendir", "", error_r);
	errno = 0;
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.' || (d->d_type != DT_REG && d->d_type != DT_UNKNOWN))
			continue;
		cb(ctx, d->d_name);
		errno = 0;
	}
	if (errno != 0) {
		closedir(dir);
		return maildir_sys_error("readdir", "", error_r);
	}
	closedir(dir);
	return 0;
}

/* Counts bare LFs; *prev_cr carries the last byte's state across chunks. */
static uint64_t maildir_bare_lfs(const unsigned char *p, size_t len, bool *prev_cr)
{
	const unsigned char *end = p + len, *lf;
	uint64_t count = 0;

	if (len == 0)
		return 0;
	for (const unsigned char *q = p; (lf = memchr(q, '\n', (size_t)(end - q))) != NULL;
	     q = lf + 1) {
		if (lf == p ? !*prev_cr : lf[-1] != '\r')
			count++;
	}
	*prev_cr = end[-1] == '\r';
	return count;
}

uint64_t maildir_vsize_mem(const void *data, size_t len)
{
	bool prev_cr = false;

	return len + maildir_bare_lfs(data, len, &prev_cr);
}

uint64_t maildir_vsize_chunk(const void *data, size_t len, bool *prev_cr)
{
	return len + maildir_bare_lfs(data, len, prev_cr);
}

int maildir_vsize_fd(int fd, uint64_t *size_r, uint64_t *vsize_r)
{
	const size_t chunk_size = 128 * 1024;
	unsigned char *chunk = xmalloc(chunk_size);
	uint64_t size = 0, lfs = 0;
	bool prev_cr = false;
	ssize_t n;

	while ((n = read(fd, chunk, chunk_size)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			free(chunk); /* keeps errno */
			return -1;
		}
		size += (uint64_t)n;
		lfs += maildir_bare_lfs(chunk, (size_t)n, &prev_cr);
	}
	xfree(&chunk);
	*size_r = size;
	*vsize_r = size + lfs;
	return 0;
}

/* Files smaller than this are read with one call into a stack buffer. */
#define MAILDIR_SMALL_READ (32 * 1024)

int maildir_vsize_fd_sized(int fd, uint64_t st_size, uint64_t *size_r, uint64_t *vsize_r)
{
	unsigned char small[MAILDIR_SMALL_READ];
	bool prev_cr = false;
	ssize_t n;

	if (st_size >= sizeof(small))
		return maildir_vsize_fd(fd, size_r, vsize_r);
	do
		n = read(fd, small, sizeof(small));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if ((uint64_t)n != st_size) {
		/* Not what fstat said (a short read, or the file changed): read it whole. */
		if (lseek(fd, 0, SEEK_SET) < 0)
			return -1;
		return maildir_vsize_fd(fd, size_r, vsize_r);
	}
	*size_r = (uint64_t)n;
	*vsize_r = (uint64_t)n + maildir_bare_lfs(small, (size_t)n, &prev_cr);
	return 0;
}

int maildir_rename(int fromfd, const char *from, int tofd, const char *to)
{
	if (beneath_rename(fromfd, from, tofd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* A file system without RENAME_NOREPLACE: link + unlink never replaces either. */
	if (beneath_link(fromfd, from, tofd, to) < 0)
		return -1;
	(void)beneath_unlink(fromfd, from, 0);
	return 0;
}

/* The host name part of a unique name: '/' and ':' are encoded as the maildir spec says. */
static void maildir_host(char *out, size_t size)
{
	char host[256];
	size_t o = 0;

	if (gethostname(host, sizeof(host)) < 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	for (const char *p = host; *p != '\0' && o + 5 < size; p++) {
		if (*p == '/' || *p == ':' || *p == ',')
			o += (size_t)snprintf(out + o, size - o, "\\%03o", (unsigned char)*p);
		else
			out[o++] = *p;
	}
	out[o] = '\0';
}

char *maildir_unique_name_at(time_t when)
{
	static unsigned counter;
	struct timeval tv;
	char host[256];

	gettimeofday(&tv, NULL);
	maildir_host(host, sizeof(host));
	return xasprintf("%lld.M%06ldP%ldQ%u.%s", (long long)(when > 0 ? when : tv.tv_sec),
	                 (long)tv.tv_usec, (long)getpid(), ++counter, host);
}

char *maildir_unique_name(void)
{
	return maildir_unique_name_at(0);
}

static int maildir_write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int maildir_tmp_create(int tmpfd, const char *name, int *fd_r, const char **error_r)
{
	*fd_r = beneath_open(tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	return *fd_r < 0 ? maildir_sys_error("create", name, error_r) : 0;
}

int maildir_tmp_write(int fd, const char *name, const void *data, size_t len,
                      const char **error_r)
{
	return maildir_write_all(fd, data, len) < 0 ? maildir_sys_error("write", name, error_r) : 0;
}

int maildir_tmp_finish(int tmpfd, int fd, const char *name, time_t date, const char **error_r)
{
	struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = date}};

	if ((date != 0 && futimens(fd, times) < 0) || fsync(fd) < 0) {
		maildir_sys_error("write", name, error_r);
		close(fd);
		(void)beneath_unlink(tmpfd, name, 0);
		return -1;
	}
	if (close(fd) < 0) {
		maildir_sys_error("close", name, error_r);
		(void)beneath_unlink(tmpfd, name, 0);
		return -1;
	}
	return 0;
}

static bool maildir_tmp_stale(int dirfd, const char *name, time_t older_than)
{
	struct stat st;

	return beneath_stat(dirfd, name, &st) == 0 && !S_ISDIR(st.st_mode) &&
	       st.st_ctime < older_than;
}

int maildir_tmp_clean(int tmpfd, time_t older_than)
{
	DIR *dir = beneath_opendir(tmpfd, ".");
	struct dirent *d;
	int removed = 0;

	if (dir == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0 ||
		    !maildir_tmp_stale(dirfd(dir), d->d_name, older_than))
			continue;
		if (beneath_unlink(dirfd(dir), d->d_name, 0) == 0) {
			log_info("maildir: removed tmp/%s, left by a writer that stopped",
			         d->d_name);
			removed++;
		}
	}
	closedir(dir);
	return removed;
}

int maildir_lock(int dirfd, const char *name, int *fd_r, const char **error_r)
{
	int fd = beneath_open(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return maildir_sys_error("open", name, error_r);
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno;

		if (err == EINTR)
			continue;
		close(fd);
		if (err == EWOULDBLOCK)
			return 0;
		errno = err;
		return maildir_sys_error("flock", name, error_r);
	}
	*fd_r = fd;
	return 1;
}
