/*
 * The mailbox interface. IMAP and POP3 speak only to this, never to maildir files. A storage is
 * opened from a directory fd (the user's maildir, handed over by the auth service) and everything
 * beneath is opened relative to it; no path ever leaves that directory.
 *
 * On disk (maildir backend): messages in cur/ as "<base>:2,<flags>" (new/ is moved there on
 * sync), and in each mailbox directory twofold.index (SQLite, WAL: UIDs, cached sizes/dates,
 * UIDVALIDITY, UIDNEXT; a cache that may be deleted), twofold.uidvalidity (UIDVALIDITY and a
 * UIDNEXT floor that survive an index deletion) and twofold.lock (the POP3 lock).
 *
 * Results: int -1 error (with *error_r, a static or storage-owned message), 0 no / not found,
 * 1 yes, unless said otherwise.
 */
#ifndef TWOFOLD_STORAGE_H
#define TWOFOLD_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct mail_storage;
struct mailbox;

enum mail_flags {
	MAIL_SEEN = 1 << 0,
	MAIL_ANSWERED = 1 << 1,
	MAIL_FLAGGED = 1 << 2,
	MAIL_DELETED = 1 << 3,
	MAIL_DRAFT = 1 << 4,
	MAIL_RECENT = 1 << 5, /* session-only, never stored */
};

/* One message as the mailbox view sees it. Pointers stay valid until the next sync/expunge. */
struct mail {
	uint32_t uid;
	const char *uidl;     /* stable unique id for POP3 UIDL: maildir base name (no flags) */
	uint64_t size;        /* bytes on disk */
	uint64_t crlf_size;   /* octets when sent with CRLF line ends (RFC 822 size) */
	time_t internal_date; /* delivery time */
	unsigned flags;       /* enum mail_flags */
};

/* Opens the maildir at dirfd (the fd is duplicated; caller keeps its own). Creates the maildir
 * structure (cur/ new/ tmp/) if missing. 0 ok, -1 error. */
int mail_storage_open(int dirfd, struct mail_storage **st_r, const char **error_r);
void mail_storage_close(struct mail_storage **st);

/* "INBOX" is the maildir root. Other names are Maildir++ folders (IMAP issue): "a.b" is the
 * directory ".a.b"; names with '/', "..", a leading or trailing '.' or control characters are
 * refused (-1). 1 opened (and synced once), 0 no such mailbox, -1 error. */
int mailbox_open(struct mail_storage *st, const char *name, struct mailbox **box_r,
		 const char **error_r);
void mailbox_close(struct mailbox **box);

/* Picks up deliveries (new/ -> cur/) and external renames/removals. Messages already in the
 * view keep their position until mailbox_expunge; new ones are appended at the end.
 * 0 ok, -1 error. */
int mailbox_sync(struct mailbox *box, const char **error_r);
/* Number of messages in the view and the n-th (0-based) one. */
size_t mailbox_count(const struct mailbox *box);
const struct mail *mailbox_get(const struct mailbox *box, size_t index);

/* True when the n-th message's file has vanished (deleted by another session or tool); it stays
 * in the view until mailbox_expunge, and mailbox_msg_open fails for it. */
bool mailbox_msg_gone(const struct mailbox *box, size_t index);
/* IMAP UIDVALIDITY and UIDNEXT (as of the last sync); both persist in the index. */
uint32_t mailbox_uidvalidity(const struct mailbox *box);
uint32_t mailbox_uidnext(const struct mailbox *box);

/* Opens the message for reading (O_RDONLY|O_CLOEXEC, relative to the maildir). -1 if it vanished
 * (external delete) or on error. */
int mailbox_msg_open(struct mailbox *box, size_t index, const char **error_r);

/* Sets flags to (flags & ~clear) | set by renaming the file's :2, suffix. 1 done, 0 the message
 * has vanished, -1 error. MAIL_RECENT is kept in the view only. */
int mailbox_set_flags(struct mailbox *box, size_t index, unsigned set, unsigned clear,
		      const char **error_r);
/* Removes the messages whose index is marked in remove[0..count). Missing files are not an
 * error (someone else removed them). The view is compacted afterwards. 0 ok, -1 error (the
 * messages that could be removed are removed and gone from the view). */
int mailbox_expunge(struct mailbox *box, const bool *remove, const char **error_r);

/* Exclusive POP3 maildrop lock (flock on a lock file in the maildir). 1 locked, 0 in use by
 * another session, -1 error. Released by mailbox_close or process exit. */
int mailbox_lock_exclusive(struct mailbox *box, const char **error_r);

/* Appends a message: writes to tmp/ (O_EXCL, 0600), fsyncs, renames into cur/.
 * uid_r may be NULL. 0 ok, -1 error. The message joins the view at the next sync. */
int mailbox_append(struct mailbox *box, const void *data, size_t len, unsigned flags,
		   time_t internal_date, uint32_t *uid_r, const char **error_r);

#endif
