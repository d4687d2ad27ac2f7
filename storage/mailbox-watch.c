/*
 * inotify on the mailbox's new/ and cur/ for IDLE. inotify_add_watch needs a path but the
 * worker is chrooted with only directory fds: fchdir into the mailbox directory, add the
 * watches by relative path, and fchdir back to where we were (held as an O_PATH fd: a worker
 * confined beneath the maildir may not open its working directory for reading).
 */
#include "storage/storage-private.h"

#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#define WATCH_MASK                                                                                 \
	(IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR | IN_DONT_FOLLOW)

static int watch_add(int fd, int dirfd, const char **error_r)
{
	int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int ret = -1;

	if (cwd < 0) {
		log_error("storage: watch: open .: %s", strerror(errno));
		*error_r = "mailbox watch error";
		return -1;
	}
	if (fchdir(dirfd) == 0 && inotify_add_watch(fd, "new", WATCH_MASK) >= 0 &&
	    inotify_add_watch(fd, "cur", WATCH_MASK) >= 0)
		ret = 0;
	if (ret < 0) {
		log_error("storage: watch: %s", mailbox_watch_strerror(errno));
		*error_r = "mailbox watch error";
	}
	if (fchdir(cwd) < 0)
		fatal("storage: cannot return to the working directory: %s", strerror(errno));
	close(cwd);
	return ret;
}

const char *mailbox_watch_strerror(int err)
{
	/* inotify's own limits come back as the errors of a full file table or disk */
	if (err == EMFILE)
		return "the limit on inotify instances per account (sysctl "
		       "fs.inotify.max_user_instances) or on open files (RLIMIT_NOFILE) is reached";
	if (err == ENOSPC)
		return "the limit on inotify watches per account (sysctl "
		       "fs.inotify.max_user_watches) is reached";
	return strerror(err);
}

int mailbox_watch_dirfd(const struct mailbox *box)
{
	return box->dirs.dirfd;
}

int mailbox_watch_fd(struct mailbox *box, const char **error_r)
{
	int fd;

	if (box->watch_fd >= 0)
		return box->watch_fd;
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0) {
		log_error("storage: inotify_init1: %s", mailbox_watch_strerror(errno));
		*error_r = "mailbox watch error";
		return -1;
	}
	if (watch_add(fd, box->dirs.dirfd, error_r) < 0) {
		close(fd);
		return -1;
	}
	box->watch_fd = fd;
	return fd;
}

void mailbox_watch_drain(struct mailbox *box)
{
	char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	if (box->watch_fd < 0)
		return;
	while (read(box->watch_fd, events, sizeof(events)) > 0)
		;
}
