/* The maildir backend's shared internals (storage.c, mailbox-*.c, folder.c). Not for others. */
#ifndef TWOFOLD_STORAGE_PRIVATE_H
#define TWOFOLD_STORAGE_PRIVATE_H

#include "common/buf.h"
#include "storage/index.h"
#include "storage/maildir-name.h"
#include "storage/maildir.h"
#include "storage/storage.h"

#include <limits.h>

struct mail_storage {
	int dirfd;
	/* message files logged as unreadable ("<mailbox>/<key>"), each logged once */
	char **unreadable;
	size_t unreadable_count, unreadable_cap;
	bool unreadable_more; /* more than that, not logged each */
};

/* A message of the view. Its strings (key, name, mail.uidl) are the view's name pool's, never
 * freed alone (msg-strings.c). */
struct msg_rec {
	struct mail mail;        /* mail.uidl: key itself, or a Dovecot UIDL or the key's hash */
	char *key;               /* index key (maildir_name_key_to) */
	char *name;              /* current file name in cur/ */
	struct mail_sizes sizes; /* valid when measured */
	bool measured;
	bool gone;
	bool unavailable; /* the file is there but could not be read (logged once) */
	bool changed;     /* in the changed list (until mailbox_changed_clear) */
	bool relocated;   /* found by the listing of mailbox_msgs_relocate, while it runs */
};

struct cache_pending {
	uint32_t uid;
	char *field;
	void *data;
	size_t len;
};

/* Cached metadata of one field for view indexes [first, first + count), read in one query. */
#define CACHE_CHUNK_SIZE 256
#define CACHE_CHUNKS     4
struct cache_chunk {
	char *field; /* NULL: unused */
	size_t first, count;
	struct buf data; /* the values, one after another */
	size_t off[CACHE_CHUNK_SIZE], len[CACHE_CHUNK_SIZE];
	bool have[CACHE_CHUNK_SIZE];
	unsigned age;
};

/* Sizes measured lazily, written to the index in one transaction with the cache entries. */
struct sizes_pending {
	uint32_t uid;
	struct mail_sizes sizes;
};

struct mailbox {
	struct mail_storage *st;
	char *name; /* wire name, "INBOX" for the root */
	struct maildir_dirs dirs;
	struct mail_index *index;
	bool rebuild;
	bool claim_recent; /* a read-write IMAP session */
	struct msg_rec *msgs;
	size_t count, cap;
	struct name_pool *names; /* every string of msgs[] (msg-strings.c) */
	uint32_t uidnext;
	int lock_fd;
	bool cur_known;
	struct timespec cur_mtime;
	time_t cur_scanned;
	time_t tmp_cleaned; /* when tmp/ was last cleaned of stale files, 0 never */

	char *kw[MAIL_INDEX_KEYWORDS_MAX];
	unsigned kw_count;
	uint32_t kwseq; /* keyword changes up to this sequence are in the view */

	size_t *changed;
	size_t changed_count, changed_cap;
	uint64_t modseq;   /* HIGHESTMODSEQ the view has caught up with, 0 before its first sync */
	bool modseq_check; /* flags found changed on disk: their rows are checked at the sync */

	int watch_fd;

	struct cache_pending *pending;
	size_t pending_count, pending_bytes;
	struct cache_chunk chunks[CACHE_CHUNKS];
	unsigned chunk_clock;

	struct sizes_pending *sizes_pending;
	size_t sizes_pending_count, sizes_pending_cap;
	size_t measure_next;   /* view index where in-order measuring would go on */
	size_t measure_window; /* messages measured at once when it does */
};

/* storage.c */
void mailbox_mark_changed(struct mailbox *box, size_t index);
/* mailbox-modseq.c: the same for flags found changed on disk (they may need a new MODSEQ). */
void mailbox_mark_flags_changed(struct mailbox *box, size_t index);
int mailbox_modseq_sync(struct mailbox *box, const char **error_r);
int mailbox_modseq_catch_up(struct mailbox *box, const char **error_r);
int mailbox_modseq_flags_set(struct mailbox *box, size_t index, const char **error_r);
/* Opens name (wire name) with recent handling. 1, 0 no such mailbox, -1. */
int mailbox_open_internal(struct mail_storage *st, const char *name, bool claim_recent,
                          struct mailbox **box_r, const char **error_r);
/* Fresh cur/ listing lookup of a message whose file was renamed behind our back. */
int mailbox_msg_relocate(struct mailbox *box, size_t index, const char **error_r);
/* The same for several view indexes with one listing. 0 ok (each found or marked gone), -1.
 * Both take box's write lock for the listing unless box's index is in a transaction. */
int mailbox_msgs_relocate(struct mailbox *box, const size_t *idx, size_t count,
                          const char **error_r);
/* mailbox_msg_relocate without taking the lock: for a caller holding another mailbox's lock,
 * which could otherwise wait on a session holding this one and waiting for that one. */
int mailbox_msg_relocate_unlocked(struct mailbox *box, size_t index, const char **error_r);
/* Removes the message's file (found again when another session renamed it). 1 removed, 0
 * already gone (removed by someone else), -1 error. The view and the index are left to the
 * caller. */
int mailbox_msg_unlink(struct mailbox *box, size_t index, const char **error_r);
/* Reloads the keyword names from the index. */
int mailbox_keywords_reload(struct mailbox *box, const char **error_r);
/* An IMAP flag-keyword atom: no system flag, no atom-specials. */
bool mailbox_keyword_valid(const char *name);

/* mailbox-cache.c: writes pending cache entries and measured sizes (inside the caller's
 * transaction when in_tx, else in one of its own). */
void mailbox_cache_flush(struct mailbox *box, bool in_tx);
void mailbox_cache_discard(struct mailbox *box);
/* Forgets the chunks read ahead (the view or the cache changed). */
void mailbox_cache_invalidate(struct mailbox *box);

/* mailbox-measure.c */
enum measure_result {
	MEASURE_ERROR = -1,     /* the mailbox cannot go on (no memory, no fds): *error_r */
	MEASURE_GONE = 0,       /* the file vanished */
	MEASURE_OK = 1,         /* *sizes_r set */
	MEASURE_UNREADABLE = 2, /* the file is there but cannot be read: *err_r */
};
/* Measures one file of a maildir directory: sizes and date, from the name's ",S=" ",W=" and
 * leading time when all are there, else from one open, fstat and read. */
enum measure_result maildir_measure(int dirfd, const char *name, const struct maildir_name *parsed,
                                    struct mail_sizes *sizes_r, int *err_r, const char **error_r);
/* Measures items[0..count) (name and parsed set; sizes, ret and err filled) on up to
 * MEASURE_THREADS_MAX threads (maildir-measure-many.c). 0 ok, -1 error (first MEASURE_ERROR). */
struct measure_item {
	const char *name;
	const struct maildir_name *parsed;
	struct mail_sizes sizes;
	enum measure_result ret;
	int err; /* errno of MEASURE_UNREADABLE */
};
int maildir_measure_many(int dirfd, struct measure_item *items, size_t count, const char **error_r);
void mailbox_sizes_discard(struct mailbox *box);

/* mailbox-unreadable.c */
/* True when err, from opening or reading one message file, concerns that file alone (not the
 * process: no memory, no descriptors). */
bool mailbox_unreadable_errno(int err);
/* Logs that the file name (in subdir of box) of the message with key cannot be read (err; 0:
 * it changed while being read), once per storage and message. */
void mailbox_unreadable_note(struct mailbox *box, const char *key, const char *subdir,
                             const char *name, int err);
/* Marks the n-th message unavailable and notes it. */
void mailbox_msg_set_unavailable(struct mailbox *box, size_t index, int err);
void mailbox_unreadable_free(struct mail_storage *st);

/* folder.c */
/* Maps a wire name to the directory beneath the maildir root ("." for INBOX). NULL and
 * *error_r when the name is refused. Caller frees. */
char *folder_dir_name(const char *name, const char **error_r);
/* The name with INBOX's spelling made canonical ("inbox.x" -> "INBOX.x"). Caller frees. */
char *folder_canonical_name(const char *name);
/* Creates the special-use folders the first time a storage is opened. */
int folder_create_defaults(struct mail_storage *st, const char **error_r);

#endif
