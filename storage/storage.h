/*
 * The mailbox interface. IMAP and POP3 speak only to this, never to maildir files. A storage is
 * opened from a directory fd (the user's maildir, handed over by the auth service) and everything
 * beneath is opened relative to it; no path ever leaves that directory.
 *
 * On disk (maildir backend): messages in cur/ as "<key>,S=<size>,W=<crlf size>,U=<uid>:2,<flags>"
 * (new/ is moved there on sync, adding the three fields; APPEND/COPY/MOVE write them too; files
 * other tools put into cur/ keep their names), and in each mailbox directory twofold.index
 * (SQLite, WAL: UIDs, sizes/dates once known, keywords, MODSEQs, \Recent floor, metadata cache,
 * UIDVALIDITY, UIDNEXT; may be deleted: UIDs come back from the ,U= fields, keywords and cache are
 * lost), twofold.uidvalidity (UIDVALIDITY and the UIDNEXT and HIGHESTMODSEQ floors that survive
 * an index deletion) and
 * twofold.lock (the POP3 lock). In the maildir root also "subscriptions", "twofold.folders"
 * (the special-use folders were created once) and "twofold.uidvalidity-last" (the last
 * UIDVALIDITY given out: each new mailbox gets a higher one, so none repeats for a name).
 * Maildir++ folders are the directories ".<name>".
 *
 * Results: int -1 error (with *error_r, a static or storage-owned message), 0 no / not found,
 * 1 yes, unless said otherwise. mail_error_of tells what kind of error a message is, so a
 * protocol picks its reply code without reading the text.
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

enum mail_error {
	MAIL_ERROR_OTHER,    /* an I/O error or a bug: logged, the client is told little */
	MAIL_ERROR_NOTFOUND, /* no such mailbox or message */
	MAIL_ERROR_EXISTS,   /* the mailbox exists already */
	/* the file system or the user's quota is full: nothing was lost, the operation can be
	 * tried again once there is room */
	MAIL_ERROR_NOSPACE,
	/* a message file that exists cannot be read: the others are served */
	MAIL_ERROR_UNAVAILABLE,
};

/* The messages storage gives for the kinds above (by these very pointers). */
extern const char mail_error_no_mailbox[], mail_error_no_message[], mail_error_exists[],
    mail_error_nospace[], mail_error_unavailable[];

/* The kind of an error message storage gave; MAIL_ERROR_OTHER for any other message. */
enum mail_error mail_error_of(const char *error);

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
	/* Stable unique id for POP3 UIDL: the message key = the maildir base name without flags and
	 * without the ,S= ,W= ,U= fields (twofold adds them, so they must not count). A key that is
	 * not 1-70 characters of 0x21-0x7E is replaced by the 32-character hex of its BLAKE2b-128
	 * hash (as stable). Unchanged by flag changes, index deletion and the fields twofold adds.
	 * A mailbox taken over from Dovecot keeps Dovecot's default UIDLs instead: UID and
	 * UIDVALIDITY as 8 hex digits each, lower case as Dovecot prints "%08Xu%08Xv" (index.h,
	 * mail_index_dovecot_uidl).
	 */
	const char *uidl;
	unsigned flags;    /* enum mail_flags */
	uint64_t keywords; /* bit i = mailbox_keyword_name(box, i) (IMAP keywords, max 64) */
	uint64_t modseq;   /* RFC 7162 MODSEQ: of its arrival or its last flag/keyword change */
	/* Sizes and date are not here: they may not be known yet, see mailbox_msg_sizes. */
};

/* Sizes and internal date of a message. Files that twofold named (",S=" ",W=" in the name) or
 * delivered through new/ have them from the first sync; files other tools put into cur/ without
 * ",W=" are measured (opened and read once) the first time someone asks, and the result is
 * kept in the index, so each such message is read once ever, not once per session. */
struct mail_sizes {
	uint64_t size;      /* bytes on disk */
	uint64_t crlf_size; /* octets when sent with CRLF line ends (RFC 822 size) */
	time_t date;        /* internal date: the file's mtime (or the time in a twofold name) */
};

/* Opens the maildir at dirfd (the fd is duplicated; caller keeps its own). Creates the maildir
 * structure (cur/ new/ tmp/) if missing. 0 ok, -1 error. */
int mail_storage_open(int dirfd, struct mail_storage **st_r, const char **error_r);
void mail_storage_close(struct mail_storage **st);

/* "INBOX" is the maildir root. Other names are Maildir++ folders (IMAP issue): "a.b" is the
 * directory ".a.b"; names with '/', "..", a leading or trailing '.' or control characters are
 * refused (-1). 1 opened (and synced once), 0 no such mailbox, -1 error. Does not claim
 * \Recent (POP3): messages no read-write IMAP session has seen carry MAIL_RECENT. */
int mailbox_open(struct mail_storage *st, const char *name, struct mailbox **box_r,
                 const char **error_r);
void mailbox_close(struct mailbox **box);

/* Picks up deliveries (new/ -> cur/) and external renames/removals. Messages already in the
 * view keep their position until mailbox_expunge; new ones are appended at the end, always
 * above the view's last UID (UIDs are given out under the index write lock in delivery order).
 * 0 ok, -1 error. */
int mailbox_sync(struct mailbox *box, const char **error_r);
/* Number of messages in the view and the n-th (0-based) one. */
size_t mailbox_count(const struct mailbox *box);
const struct mail *mailbox_get(const struct mailbox *box, size_t index);

/* True when the n-th message's file has vanished (deleted by another session or tool); it stays
 * in the view until mailbox_expunge, and mailbox_msg_open fails for it. */
bool mailbox_msg_gone(const struct mailbox *box, size_t index);
/* True when the n-th message's file is there but could not be read the last time it was opened
 * or measured (permissions, an I/O error). It stays in the view; its file name is logged once
 * per storage; mailbox_msg_open and measuring try again, so it is served once it can be read. */
bool mailbox_msg_unavailable(const struct mailbox *box, size_t index);
/* For a caller whose read of an open message failed (err from read(), or 0 when the file
 * changed size meanwhile): marks it unavailable, logged once. */
void mailbox_msg_read_failed(struct mailbox *box, size_t index, int err);
/* The n-th message's sizes and date, measuring it (and, when the caller walks the view in
 * order, the next unmeasured ones, on several threads) when they are not known yet. 1 ok,
 * 0 the message has vanished or is unavailable (nothing measured), -1 error. */
int mailbox_msg_sizes(struct mailbox *box, size_t index, struct mail_sizes *sizes_r,
                      const char **error_r);
/* The same, only the CRLF size. */
int mailbox_msg_crlf_size(struct mailbox *box, size_t index, uint64_t *size_r,
                          const char **error_r);
/* Measures every message of the view whose sizes are not known yet, at once (threads), for
 * callers that need them all (POP3 STAT/LIST, STATUS SIZE). Vanished and unavailable ones are
 * skipped (their mailbox_msg_sizes then returns 0). 0 ok, -1 error. */
int mailbox_measure_all(struct mailbox *box, const char **error_r);

/* IMAP UIDVALIDITY and UIDNEXT (as of the last sync); both persist in the index. */
uint32_t mailbox_uidvalidity(const struct mailbox *box);
uint32_t mailbox_uidnext(const struct mailbox *box);

/* Opens the message for reading (O_RDONLY|O_CLOEXEC, relative to the maildir). -1 if it vanished
 * (external delete; errno ENOENT), if it cannot be read (mailbox_msg_unavailable, *error_r
 * mail_error_of: MAIL_ERROR_UNAVAILABLE) or on error. */
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

/* The same for a message that arrives in pieces (IMAP APPEND's literal as it is read): begin
 * creates its file in box's tmp/, write appends to it (no copy is kept in memory), finish
 * commits as mailbox_append does, abort removes the file. After a failed write only abort
 * (or finish, which then fails with that error) is left. finish and abort free the save. */
struct mail_save;
int mailbox_save_begin(struct mailbox *box, struct mail_save **save_r, const char **error_r);
int mailbox_save_write(struct mail_save *save, const void *data, size_t len, const char **error_r);
/* Before the first write: the data is stored as sent instead of with LF line ends. For an IMAP
 * literal8 (RFC 3516), whose binary parts hold CR and LF octets that are data, not line ends. */
void mailbox_save_keep_crlf(struct mail_save *save);
int mailbox_save_finish(struct mail_save **save, unsigned flags, time_t internal_date,
                        uint32_t *uid_r, const char **error_r);
void mailbox_save_abort(struct mail_save **save);
/* Several messages added at once (IMAP MULTIAPPEND, RFC 3502). close ends a save's data: its
 * file in tmp/ is synced and closed with its internal date (<= 0: now), so a command can hold
 * many saves without an open file each; -1 (a write had failed, or the disk is full): the file
 * is gone, only abort is left. commit adds count closed saves of one mailbox in one index
 * transaction, in order, with flags[i]: all of them (their UIDs in uids_r, consecutive) or,
 * -1, none and every file removed. It frees the saves either way. */
int mailbox_save_close(struct mail_save *save, time_t internal_date, const char **error_r);
int mailbox_save_commit(struct mail_save **saves, size_t count, const unsigned *flags,
                        uint32_t *uids_r, const char **error_r);

/* ---------------------------------------------------------------------------------------------
 * For IMAP (issue #4). Mailbox names are given and returned exactly as IMAP puts them on the
 * wire (modified UTF-7, RFC 3501 5.1.3), hierarchy separator '.', no namespace prefix; "INBOX"
 * (any case) is the maildir root. A Maildir++ folder "a.b" is the directory ".a.b". Names with
 * '/', "..", an empty level, a leading '.', control bytes, or that are not valid modified UTF-7
 * are refused with -1 and a client-presentable *error_r.
 */
enum mailbox_special {
	MAILBOX_SPECIAL_NONE = 0,
	MAILBOX_SPECIAL_SENT = 1 << 0,
	MAILBOX_SPECIAL_DRAFTS = 1 << 1,
	MAILBOX_SPECIAL_TRASH = 1 << 2,
	MAILBOX_SPECIAL_JUNK = 1 << 3,
	MAILBOX_SPECIAL_ARCHIVE = 1 << 4,
};

struct mailbox_info {
	const char *name; /* wire name */
	unsigned special; /* enum mailbox_special */
	bool subscribed;
	bool has_children;
	bool
	    nonexistent; /* a parent implied by a child ("a" for "a.b"): \NonExistent / \Noselect */
};

/* Calls cb for every mailbox (INBOX first, then by name), including implied parents.
 * 0 ok, -1 error. Subscribed names whose mailbox is gone are listed with nonexistent = true and
 * subscribed = true (LSUB / LIST (SUBSCRIBED) need them). */
int mail_storage_list(struct mail_storage *st, void (*cb)(const struct mailbox_info *, void *),
                      void *ctx, const char **error_r);
/* The first time a user's storage is opened (no folder and no marker file yet), Sent, Drafts,
 * Trash, Junk and Archive are created and the marker written, so a folder the user deletes later
 * is not created again. Special-use is by these names. Called by mail_storage_open. */

/* 0 ok, -1 error ("already exists", "no such mailbox", "cannot delete INBOX", bad name, ...). */
int mailbox_create(struct mail_storage *st, const char *name, const char **error_r);
/* Deletes the folder and its messages; children stay (they keep "a" as an implied parent). */
int mailbox_delete(struct mail_storage *st, const char *name, const char **error_r);
/* Renames the folder and its children. Renaming INBOX moves its messages into a new folder and
 * leaves INBOX empty (RFC 3501). */
int mailbox_rename(struct mail_storage *st, const char *old_name, const char *new_name,
                   const char **error_r);
/* Subscriptions kept in the file "subscriptions" in the maildir root (one name per line). */
int mailbox_subscribe(struct mail_storage *st, const char *name, bool subscribe,
                      const char **error_r);

struct mailbox_status {
	uint32_t messages, recent, unseen, deleted, uidnext, uidvalidity;
	uint64_t highestmodseq;
	uint64_t size; /* sum of crlf_size; 0 unless asked for */
};
/* STATUS without disturbing \Recent. with_size: sum the sizes too, measuring the messages whose
 * size is not known yet (a STATUS without SIZE reads no message file). 1 ok, 0 no such mailbox,
 * -1 error. */
int mailbox_get_status(struct mail_storage *st, const char *name, bool with_size,
                       struct mailbox_status *status_r, const char **error_r);

/* Like mailbox_open; readonly (EXAMINE) does not claim \Recent. A session that opens read-write
 * gets MAIL_RECENT on messages no earlier session has seen (kept as a UID floor in the index). */
int mailbox_open_imap(struct mail_storage *st, const char *name, bool readonly,
                      struct mailbox **box_r, const char **error_r);
const char *mailbox_name(const struct mailbox *box);

/* The view is always in ascending UID order (IMAP sequence numbers). Binary search by UID:
 * the index of uid, or -1. */
ssize_t mailbox_find_uid(const struct mailbox *box, uint32_t uid);

/* Keywords: per-mailbox table of at most 64 names, persistent in the index. */
unsigned mailbox_keyword_count(const struct mailbox *box);
const char *mailbox_keyword_name(const struct mailbox *box, unsigned i);
/* The bit number of name, creating it when create is true. -1 when absent / table full. */
int mailbox_keyword_index(struct mailbox *box, const char *name, bool create);
/* Sets keywords to (keywords & ~clear) | set. 1 done, 0 vanished, -1 error. */
int mailbox_set_keywords(struct mailbox *box, size_t index, uint64_t set, uint64_t clear,
                         const char **error_r);

/* Copies the messages idx[0..count) of src into dst (hard links when possible, else copies
 * through tmp/) with their flags and keywords, as one: all of them (uids_r[i] = the new UID of
 * idx[i]) or none, so a failed copy leaves dst as it was. 1 copied, 0 one of them has vanished
 * (expunged by another session; nothing copied), -1 error (nothing copied). src may be dst. */
int mailbox_copy_many(struct mailbox *src, const size_t *idx, size_t count, struct mailbox *dst,
                      uint32_t *uids_r, const char **error_r);
/* One message: *uid_r = the new UID in dst. 0 ok, -1 error or vanished. */
int mailbox_copy(struct mailbox *src, size_t index, struct mailbox *dst, uint32_t *uid_r,
                 const char **error_r);
/* Moves it (a copy, then the source file removed: the message is then gone from src; call
 * mailbox_expunge to drop it from the view). 0 ok, -1 error. IMAP's MOVE of a set is
 * mailbox_copy_many and an expunge of the sources instead, all or nothing. */
int mailbox_move(struct mailbox *src, size_t index, struct mailbox *dst, uint32_t *uid_r,
                 const char **error_r);

/* Cached per-message metadata (ENVELOPE, BODYSTRUCTURE, ...), kept in the index so a second
 * FETCH does not re-parse the message. field: a short name. get: 1 found (appended to out),
 * 0 not cached. put: best effort, 0 ok, -1 error. */
struct buf;
int mailbox_cache_get(struct mailbox *box, size_t index, const char *field, struct buf *out);
int mailbox_cache_put(struct mailbox *box, size_t index, const char *field, const void *data,
                      size_t len);

/* An inotify fd that becomes readable when messages are delivered, renamed or removed in this
 * mailbox (new/ and cur/), for IDLE. Owned by the mailbox (closed by mailbox_close); drain it
 * with mailbox_watch_drain before the next poll. -1 on error. */
int mailbox_watch_fd(struct mailbox *box, const char **error_r);
void mailbox_watch_drain(struct mailbox *box);
/* The mailbox's directory (new/ and cur/ beneath it), for a watch made elsewhere: the watch
 * process (server/watch.h) watches what the worker hands it. Owned by the mailbox. */
int mailbox_watch_dirfd(const struct mailbox *box);
/* What an errno of inotify_init1 or inotify_add_watch means, naming the limit that was hit:
 * the plain strerror of EMFILE and ENOSPC points at open files and disks. */
const char *mailbox_watch_strerror(int err);

/* Changes found in messages already in the view, for IMAP untagged updates: the view indexes
 * whose flags/keywords were changed by another session or tool (each once, in no particular
 * order; this session's own mailbox_set_flags/set_keywords are not listed). They are found by
 * mailbox_sync and also between syncs, when a message is looked up again after another session
 * renamed its file (open, copy, flag change). The list grows until mailbox_changed_clear, so a
 * change found between syncs is not lost at the next one; an expunge renumbers it. Vanished
 * messages are not in this list: see mailbox_msg_gone. */
size_t mailbox_changed_count(const struct mailbox *box);
/* MODSEQ (RFC 7162): every flag or keyword change, arrival and expunge advances the mailbox's
 * HIGHESTMODSEQ, persistently; a change another session or tool made reaches the changed list
 * above with the message's new MODSEQ. This is the HIGHESTMODSEQ as of the last sync (or of
 * mailbox_changes_commit). */
uint64_t mailbox_highest_modseq(const struct mailbox *box);
/* QRESYNC (RFC 7162): the UIDs expunged after MODSEQ since, as ascending disjoint ranges
 * (*ranges_r allocated, xfree it), which may also hold UIDs expunged before since or never
 * given out, but never one of the view's. 1 done, 0 the mailbox does not know all of them
 * (since is below the floor of its record, see index.h, or above the view's HIGHESTMODSEQ:
 * the caller then reports every absent UID it is asked about), -1 error. */
struct mailbox_uid_range {
	uint32_t lo, hi;
};
int mailbox_vanished_since(struct mailbox *box, uint64_t since, struct mailbox_uid_range **ranges_r,
                           size_t *count_r, const char **error_r);
/* Several flag/keyword changes as one (one MODSEQ, one disk write): between begin and commit
 * only mailbox_set_flags, mailbox_set_keywords and reading the view. 0 ok, -1 error (after a
 * failed commit the changes already made to files stay, and get their MODSEQ at the next
 * sync). */
int mailbox_changes_begin(struct mailbox *box, const char **error_r);
int mailbox_changes_commit(struct mailbox *box, const char **error_r);
size_t mailbox_changed_index(const struct mailbox *box, size_t i);
/* The caller has reported the listed changes. */
void mailbox_changed_clear(struct mailbox *box);

#endif
