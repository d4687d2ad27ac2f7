/*
 * A message of a mailbox view: finding its file again after another session renamed it,
 * opening it, changing its flags by renaming it, unlinking it, expunging, and the exclusive
 * lock a mailbox takes for an operation that must see nothing change.
 */
#include "storage/storage-sync.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "storage/beneath.h"
#include "storage/bigarray.h"
#include "storage/maildir-name.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAILBOX_LOCK_FILE "twofold.lock"
/* Times a message file renamed meanwhile is looked for again before an open gives up. */
#define MSG_RELOCATE_ATTEMPTS 4

/* ---- message access ---- */

/* A file renamed behind our back (another session changed flags): finds its current name via
 * one fresh listing of cur/. 1 found, 0 gone, -1 error. */
int mailbox_msg_relocate(struct mailbox *box, size_t index, const char **error_r)
{
	if (mailbox_msgs_relocate(box, &index, 1, error_r) < 0)
		return -1;
	return box->msgs[index].gone ? 0 : 1;
}

/* A listing can miss a file that a tool outside the server renames while it runs (the name
 * moves to a place the listing has passed): a message is gone only when a second listing misses
 * it too, as in sync_known. Taking a live message for gone would expunge it from the view. */
static int msgs_relocate(struct mailbox *box, const size_t *idx, size_t count, const char **error_r)
{
	size_t missing = count;

	for (int pass = 0; pass < 2 && missing > 0; pass++) {
		struct scan sc;

		if (scan_dir(box->dirs.curfd, &sc, error_r) < 0)
			return -1;
		missing = 0;
		for (size_t i = 0; i < count; i++) {
			struct msg_rec *m = &box->msgs[idx[i]];
			struct scan_entry *e;

			if (m->gone || (pass > 0 && m->relocated))
				continue;
			e = scan_lookup(&sc, m->key);
			if (e == NULL) {
				missing++;
				m->gone = pass > 0 && msg_probe(box, idx[i]) == 0;
				continue;
			}
			m->relocated = true;
			if (rec_set_name(box, m, e))
				mailbox_mark_flags_changed(box, idx[i]);
		}
		scan_free(&sc);
	}
	for (size_t i = 0; i < count; i++)
		box->msgs[idx[i]].relocated = false;
	return 0;
}

/* The listings run under the write lock, as the renames of our sessions do
 * (msg_rename_locked): none of those can make them miss a file. */
int mailbox_msgs_relocate(struct mailbox *box, const size_t *idx, size_t count,
                          const char **error_r)
{
	int ret;

	if (mail_index_in_transaction(box->index))
		return msgs_relocate(box, idx, count, error_r);
	if (mail_index_begin(box->index, error_r) < 0)
		return -1;
	ret = msgs_relocate(box, idx, count, error_r);
	mail_index_rollback(box->index); /* nothing was written */
	return ret;
}

int mailbox_msg_relocate_unlocked(struct mailbox *box, size_t index, const char **error_r)
{
	if (msgs_relocate(box, &index, 1, error_r) < 0)
		return -1;
	return box->msgs[index].gone ? 0 : 1;
}

/* Why the n-th message did not open (err): vanished meanwhile (a race with another session,
 * not worth more than a debug line), its file cannot be read, or the process is out of
 * something. -1 with errno err. */
static int msg_open_failed(struct mailbox *box, size_t index, int err, const char **error_r)
{
	struct msg_rec *m = &box->msgs[index];

	if (err == ENOENT || err == ELOOP) {
		log_debug("storage: message uid %u vanished while opened", m->mail.uid);
		*error_r = "message has been expunged";
	} else if (mailbox_unreadable_errno(err)) {
		mailbox_msg_set_unavailable(box, index, err);
		*error_r = mail_error_unavailable;
	} else {
		log_error("storage: open message uid %u: %s", m->mail.uid, strerror(err));
		*error_r = "mailbox access error";
	}
	errno = err;
	return -1;
}

int mailbox_msg_open(struct mailbox *box, size_t index, const char **error_r)
{
	int fd, ret;

	if (index >= box->count || box->msgs[index].gone) {
		*error_r = "message has been expunged";
		errno = ENOENT;
		return -1;
	}
	fd = beneath_open(box->dirs.curfd, box->msgs[index].name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC,
	                  0);
	/* renamed by other sessions' flag changes, maybe again while it was looked for */
	for (int attempt = 0; fd < 0 && errno == ENOENT && attempt < MSG_RELOCATE_ATTEMPTS;
	     attempt++) {
		if ((ret = mailbox_msg_relocate(box, index, error_r)) <= 0) {
			if (ret == 0)
				*error_r = "message has been expunged";
			errno = ret == 0 ? ENOENT : EIO;
			return -1;
		}
		fd = beneath_open(box->dirs.curfd, box->msgs[index].name,
		                  O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
	}
	if (fd < 0)
		return msg_open_failed(box, index, errno, error_r);
	box->msgs[index].unavailable = false;
	return fd;
}

/* A rename in cur/ is done under the mailbox's write lock. A listing of cur/ can miss, under
 * both names, a file renamed while it runs; the locked sync learns of new messages from its
 * listing, so a missed file would show up at a later sync below a UID this session already
 * announced, out of the order sequence numbers depend on. With every rename of our own
 * sessions held off while a sync lists, only a tool outside the server can cause that (and
 * sync_append_new then leaves the message out of that view). 0, -1 with errno. */
int msg_rename_locked(struct mailbox *box, const char *from, const char *to)
{
	const char *error;
	int ret, err;

	if (mail_index_in_transaction(box->index))
		return maildir_rename(box->dirs.curfd, from, box->dirs.curfd, to);
	if (mail_index_begin(box->index, &error) < 0) {
		errno = EAGAIN; /* the lock is held too long: msg_set_flags logs it */
		return -1;
	}
	ret = maildir_rename(box->dirs.curfd, from, box->dirs.curfd, to);
	err = errno;
	mail_index_rollback(box->index); /* nothing was written: only the lock is let go */
	errno = err;
	return ret;
}

/* Gives the file its new name. An unchanged name is checked to be still the file's: if
 * another session renamed it meanwhile, its change and this one are merged after a relocate,
 * not lost. 0, -1 with errno (ENOENT: not under the name the view knows). */
static int msg_rename(struct mailbox *box, const struct msg_rec *m, const char *name)
{
	struct stat st;

	if (strcmp(name, m->name) == 0)
		return beneath_stat(box->dirs.curfd, m->name, &st);
	if (strlen(name) > NAME_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return msg_rename_locked(box, m->name, name);
}

/* 1 renamed (or nothing to change), 0 the file is gone, -1 error. */
static int msg_set_flags(struct mailbox *box, size_t index, unsigned set, unsigned clear,
                         const char **error_r)
{
	struct msg_rec *m = &box->msgs[index];

	for (int attempt = 0;; attempt++) {
		struct maildir_name parsed;
		unsigned flags = (m->mail.flags & ~clear) | set;
		char *rest, *name;
		int ret;

		maildir_name_parse(m->name, &parsed);
		rest = maildir_rest_with_flags(parsed.rest, flags & ~(unsigned)MAIL_RECENT);
		name = xasprintf("%.*s%s", (int)parsed.base_len, m->name, rest);
		xfree(&rest);
		if (msg_rename(box, m, name) == 0) {
			msg_strings_rename(box, m, name);
			xfree(&name);
			m->mail.flags = flags;
			return 1;
		}
		xfree(&name);
		if (errno != ENOENT || attempt == MSG_RELOCATE_ATTEMPTS) {
			log_error("storage: rename uid %u: %s", m->mail.uid, strerror(errno));
			*error_r = "mailbox access error";
			return -1;
		}
		/* renamed by another session (maybe again since the last look), or expunged */
		if ((ret = mailbox_msg_relocate(box, index, error_r)) <= 0)
			return ret;
	}
}

/* The rename and the index row's flags and MODSEQ change under one write lock: a sync of
 * another session sees both or neither. */
int mailbox_set_flags(struct mailbox *box, size_t index, unsigned set, unsigned clear,
                      const char **error_r)
{
	unsigned old;
	bool own;
	int ret;

	if (index >= box->count) {
		*error_r = mail_error_no_message;
		return -1;
	}
	if (box->msgs[index].gone)
		return 0;
	own = !mail_index_in_transaction(box->index);
	if (own && mail_index_begin(box->index, error_r) < 0)
		return -1;
	old = box->msgs[index].mail.flags;
	ret = msg_set_flags(box, index, set, clear, error_r);
	if (ret > 0 && box->msgs[index].mail.flags != old &&
	    mailbox_modseq_flags_set(box, index, error_r) < 0)
		ret = -1;
	if (own && ret < 0)
		mail_index_rollback(box->index);
	else if (own && mail_index_commit(box->index, error_r) < 0)
		ret = -1;
	if (ret == 0)
		box->msgs[index].gone = true;
	return ret;
}

/* ---- expunge ---- */

int mailbox_msg_unlink(struct mailbox *box, size_t index, const char **error_r)
{
	struct msg_rec *m = &box->msgs[index];

	for (int attempt = 0;; attempt++) {
		if (m->gone)
			return 0;
		if (beneath_unlink(box->dirs.curfd, m->name, 0) == 0)
			return 1;
		if (errno != ENOENT) {
			log_error("storage: unlink uid %u: %s", m->mail.uid, strerror(errno));
			*error_r = "mailbox access error";
			return -1;
		}
		if (attempt == MSG_RELOCATE_ATTEMPTS)
			return 0;
		if (mailbox_msg_relocate(box, index, error_r) < 0)
			return -1;
	}
}

/* The rows of the messages this session unlinked. A message found gone was removed by another
 * session, which drops its row, or by another tool, whose row stays (harmless: no file gets
 * its key again). A listing that missed a live file being renamed must not cost it its row:
 * the file would come back under a new UID. */
static int expunge_index(struct mailbox *box, const bool *removed, const char **error_r)
{
	if (mail_index_begin(box->index, error_r) < 0)
		return -1;
	(void)mail_index_tx_modseq(box->index); /* an expunge advances HIGHESTMODSEQ */
	for (size_t i = 0; i < box->count; i++) {
		if (removed[i] &&
		    mail_index_remove(box->index, box->msgs[i].mail.uid, error_r) < 0) {
			mail_index_rollback(box->index);
			return -1;
		}
	}
	return mail_index_commit(box->index, error_r);
}

/* Changes not yet taken by mailbox_changed_clear stay listed, under their new indexes. */
static void view_compact(struct mailbox *box, const bool *removed)
{
	size_t out = 0;

	mailbox_cache_invalidate(box); /* view indexes move */
	box->changed_count = 0;
	for (size_t i = 0; i < box->count; i++) {
		if (removed[i]) {
			msg_strings_drop(box, &box->msgs[i]);
			continue;
		}
		box->msgs[out] = box->msgs[i];
		if (box->msgs[out].changed) {
			box->msgs[out].changed = false;
			mailbox_mark_changed(box, out);
		}
		out++;
	}
	box->count = out;
}

int mailbox_expunge(struct mailbox *box, const bool *remove, const char **error_r)
{
	bool *removed = xcalloc(box->count + 1, sizeof(*removed));
	bool *unlinked = xcalloc(box->count + 1, sizeof(*unlinked));
	bool any = false, own = false;
	int ret = 0;

	mailbox_cache_flush(box, false);
	for (size_t i = 0; i < box->count; i++) {
		int r;

		if (!remove[i])
			continue;
		if ((r = mailbox_msg_unlink(box, i, error_r)) < 0) {
			ret = -1;
			continue;
		}
		removed[i] = any = true;
		unlinked[i] = r > 0;
		own = own || r > 0;
	}
	if (own) {
		const char *index_error;

		/* Make the unlinks durable: a deleted POP3 message must not come back. */
		if (fsync(box->dirs.curfd) < 0)
			log_warn("storage: fsync cur: %s", strerror(errno));
		/* The messages are gone whatever the index says (a full disk fails its write):
		 * rows left behind are harmless, no file will have that key again. */
		if (expunge_index(box, unlinked, &index_error) < 0)
			log_warn("storage: expunged messages stay in the index: %s", index_error);
	}
	if (any) {
		view_compact(box, removed);
		msg_strings_tidy(box);
	}
	xfree(&removed);
	xfree(&unlinked);
	return ret;
}

/* ---- lock ---- */

int mailbox_lock_exclusive(struct mailbox *box, const char **error_r)
{
	if (box->lock_fd >= 0)
		return 1;
	return maildir_lock(box->dirs.dirfd, MAILBOX_LOCK_FILE, &box->lock_fd, error_r);
}
