/*
 * The per-mailbox index: an SQLite file "twofold.index" (0600, WAL) in the mailbox directory.
 * Maps a message key (the maildir base name without the ,S= ,W= ,U= fields, see maildir-name.h)
 * to its UID, cached sizes and date, and IMAP keywords; holds UIDVALIDITY, UIDNEXT, the \Recent
 * floor, the mailbox's keyword names and the metadata cache (rows keyed by uid + field, removed
 * with the message). The maildir file names stay the source of truth for the standard flags;
 * the index can be deleted at any time and is rebuilt, keeping the UIDs found in ",U=" file name
 * fields and, through the small side file "twofold.uidvalidity", UIDVALIDITY and a UIDNEXT floor
 * above every UID ever given out: a message whose UID cannot be recovered gets a fresh one above
 * the floor (to a client that looks like an expunge plus a new message, which IMAP allows), so
 * UIDVALIDITY need not change. The side file also keeps a floor above every MODSEQ given out,
 * where a rebuilt index's MODSEQs start. Keywords and cached metadata are lost with the index.
 *
 * SQLite is given a path of the form "/.twofold-dirfd/<fd>/twofold.index": a hook on the unix
 * VFS's system calls turns it into openat(fd, ...), so the index works beneath a directory fd in
 * a chroot that has no path to it.
 */
#ifndef TWOFOLD_STORAGE_INDEX_H
#define TWOFOLD_STORAGE_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct buf;
struct mail_index;

struct mail_index_rec {
	uint32_t uid;
	uint64_t size;
	uint64_t vsize;
	time_t date;
	uint64_t keywords;
	/* MODSEQ (RFC 7162) of the row's last change, and the flags (enum mail_flags, without
	 * MAIL_RECENT) its file had then: -1 when not known yet (an index from before MODSEQs).
	 * A new row gets the transaction's MODSEQ; callers set mflags. */
	uint64_t modseq;
	int mflags;
};

#define MAIL_INDEX_KEYWORDS_MAX 64
/* vsize of a row whose sizes and date are not measured yet (size and date are 0 then). */
#define MAIL_INDEX_VSIZE_UNKNOWN UINT64_MAX

/* Installs the dirfd system-call hooks (idempotent) and returns the SQLite path for name
 * beneath dirfd. Caller frees. */
char *mail_index_vfs_path(int dirfd, const char *name);
/* The SQLite VFS the index is opened with (index-vfs-wal.c: writes to WAL files gathered), and
 * its registration (idempotent; done by mail_index_vfs_path). */
#define MAIL_INDEX_VFS "twofold-index"
void mail_index_vfs_wal_register(void);

/* Opens or creates the index beneath dirfd. *rebuild_r is true when it was (re)created, or
 * when the session that created it ended before its first sync committed (a crash): that
 * rebuild goes on, trusting ",U=" fields, until a commit ends it. */
int mail_index_open(int dirfd, struct mail_index **idx_r, bool *rebuild_r, const char **error_r);
/* The same for a mailbox directory beneath the maildir root rootfd, where the UIDVALIDITY of a
 * new index is given out (once per storage, ascending: it never repeats for a name). */
int mail_index_open_in(int rootfd, int dirfd, struct mail_index **idx_r, bool *rebuild_r,
                       const char **error_r);
void mail_index_close(struct mail_index **idx);

uint32_t mail_index_uidvalidity(const struct mail_index *idx);
/* Read from the index (call inside a transaction for an exact value). */
int mail_index_uidnext(struct mail_index *idx, uint32_t *uidnext_r, const char **error_r);

/* 1 found, 0 not found, -1 error. */
int mail_index_lookup(struct mail_index *idx, const char *key, struct mail_index_rec *rec_r,
                      const char **error_r);
/* Calls cb for every row; cb returns 0 to go on. */
typedef void mail_index_row_cb(void *ctx, const char *key, const struct mail_index_rec *rec);
int mail_index_iterate(struct mail_index *idx, mail_index_row_cb *cb, void *ctx,
                       const char **error_r);

/* A write transaction (BEGIN IMMEDIATE: writers of all sessions are serialised). */
int mail_index_begin(struct mail_index *idx, const char **error_r);
int mail_index_commit(struct mail_index *idx, const char **error_r);
void mail_index_rollback(struct mail_index *idx);
bool mail_index_in_transaction(const struct mail_index *idx);

/* Inside a transaction. The next free UID (not yet consumed). */
uint32_t mail_index_next_uid(struct mail_index *idx);
/* Inside a transaction: gives key a UID. An existing row wins (its record is returned);
 * else want_uid (from a ",U=" field, 0 for none) is used when it is not taken and either at
 * least UIDNEXT or the index is being rebuilt; else a fresh UID. rec->uid is set; a new row
 * gets rec's sizes, date and keywords. *recovered_r tells whether want_uid was used or the row
 * existed. */
int mail_index_assign(struct mail_index *idx, const char *key, uint32_t want_uid,
                      struct mail_index_rec *rec, bool *recovered_r, const char **error_r);
/* The same for a key the caller has just found absent in this transaction (a sync that
 * looked every listed key up): no second lookup. */
int mail_index_assign_absent(struct mail_index *idx, const char *key, uint32_t want_uid,
                             struct mail_index_rec *rec, bool *recovered_r, const char **error_r);
/* Inside a transaction: stores the measured size, vsize and date of a row whose vsize was
 * MAIL_INDEX_VSIZE_UNKNOWN (a row measured meanwhile, or gone, is left alone). */
int mail_index_set_sizes(struct mail_index *idx, const struct mail_index_rec *rec,
                         const char **error_r);
/* mail_index_assign_absent for many keys at once (rows inserted several per statement): each
 * rec->uid is set; rows with want_uid get it as there. 0 ok, -1 error (roll back then). */
struct mail_index_new {
	const char *key;
	uint32_t want_uid;
	struct mail_index_rec *rec;
};
int mail_index_assign_absent_many(struct mail_index *idx, const struct mail_index_new *rows,
                                  size_t count, const char **error_r);
/* Inside a transaction: removes the row and its cached metadata, and records the UID as
 * expunged at the transaction's MODSEQ (index-vanished.c). */
int mail_index_remove(struct mail_index *idx, uint32_t uid, const char **error_r);
/* Drops SQLite's page cache: an idle session should not hold it (the OS caches the file). */
void mail_index_release_memory(struct mail_index *idx);
/* Ends the rebuild phase: from now on ",U=" fields below UIDNEXT are not trusted. */
void mail_index_rebuild_done(struct mail_index *idx);

/* A maildir that Dovecot served (dovecot-uidlist.h) is taken over when its index is created
 * and no side file exists: UIDVALIDITY and UIDNEXT are Dovecot's, and the rebuild gives each
 * file Dovecot's UID (after a ",U=" field) and the keywords its info letters stand for. The
 * same happens in a later rebuild while dovecot-uidlist keeps the mailbox's UIDVALIDITY.
 * True for such a mailbox: its POP3 UIDLs are what Dovecot's default "%08Xu%08Xv" gives. */
bool mail_index_dovecot_uidl(const struct mail_index *idx);
/* During that rebuild: the UID Dovecot gave key (0 none), and the keywords of the info letters
 * a..z in rest (a file name's ":2,<info>"). 0 otherwise. */
uint32_t mail_index_dovecot_uid(const struct mail_index *idx, const char *key);
uint64_t mail_index_dovecot_keywords(const struct mail_index *idx, const char *rest);

/* \Recent: UIDs at or above the floor have not been seen by a read-write session. The setter
 * is used inside a transaction. */
int mail_index_recent_floor(struct mail_index *idx, uint32_t *floor_r, const char **error_r);
int mail_index_set_recent_floor(struct mail_index *idx, uint32_t floor, const char **error_r);

/* Keyword names: names[bit] (caller frees each) for bits 0..*count_r. */
int mail_index_keywords_load(struct mail_index *idx, char *names[MAIL_INDEX_KEYWORDS_MAX],
                             unsigned *count_r, const char **error_r);
/* Inside a transaction. */
int mail_index_keyword_add(struct mail_index *idx, unsigned bit, const char *name,
                           const char **error_r);
/* Inside a transaction: keywords = (keywords & ~clear) | set; *keywords_r = the result and
 * *modseq_r the row's MODSEQ (the transaction's when they changed). 1 done, 0 no such row.
 * Bumps the keyword change sequence. */
int mail_index_set_keywords(struct mail_index *idx, uint32_t uid, uint64_t set, uint64_t clear,
                            uint64_t *keywords_r, uint64_t *modseq_r, const char **error_r);
/* The keyword change sequence and the rows changed after since. */
int mail_index_keyword_seq(struct mail_index *idx, uint32_t *seq_r, const char **error_r);
typedef void mail_index_kw_cb(void *ctx, uint32_t uid, uint64_t keywords);
int mail_index_keyword_changes(struct mail_index *idx, uint32_t since, mail_index_kw_cb *cb,
                               void *ctx, const char **error_r);

/* ---- MODSEQ (index-modseq.c) ----
 * Every change of a message's flags or keywords, and every new row, gets the MODSEQ of its
 * transaction: HIGHESTMODSEQ + 1, stored as HIGHESTMODSEQ at the commit. An expunge advances
 * it too. The flags of a file are in its name, which other tools may rename: a row keeps the
 * flags it was given its MODSEQ at, so that whoever finds different flags on disk gives the
 * message a new MODSEQ, once. */
/* Outside a transaction: the stored value (1 for an index with none yet). */
int mail_index_highest_modseq(struct mail_index *idx, uint64_t *modseq_r, const char **error_r);
/* Inside a transaction: this transaction's MODSEQ (HIGHESTMODSEQ becomes it at the commit). */
uint64_t mail_index_tx_modseq(struct mail_index *idx);
/* Inside a transaction: the row of uid has the file flags mflags; a different value than the
 * row's gives it the transaction's MODSEQ (or, when the row had none recorded, only records
 * them). *modseq_r = the row's MODSEQ afterwards. 1 done, 0 no such row. */
int mail_index_set_mflags(struct mail_index *idx, uint32_t uid, int mflags, uint64_t *modseq_r,
                          const char **error_r);
/* The rows whose MODSEQ is above since. */
typedef void mail_index_modseq_cb(void *ctx, uint32_t uid, uint64_t modseq);
int mail_index_modseq_changes(struct mail_index *idx, uint64_t since, mail_index_modseq_cb *cb,
                              void *ctx, const char **error_r);

/* ---- expunged UIDs (index-vanished.c), for QRESYNC (RFC 7162) ----
 * mail_index_remove records the UID with the transaction's MODSEQ, in ranges that may also
 * hold UIDs expunged earlier or never given out (never a row's UID). The floor is the lowest
 * MODSEQ the record is complete from (UINT64_MAX: from nowhere); below it, expunges are
 * missing (the index was upgraded, rebuilt, or the oldest ranges were trimmed). */
int mail_index_vanished_floor(struct mail_index *idx, uint64_t *floor_r, const char **error_r);
/* The ranges holding a UID expunged after MODSEQ since, ascending and disjoint. */
typedef void mail_index_range_cb(void *ctx, uint32_t lo, uint32_t hi);
int mail_index_vanished_since(struct mail_index *idx, uint64_t since, mail_index_range_cb *cb,
                              void *ctx, const char **error_r);

/* Metadata cache. get: 1 found (appended to out), 0 not, -1 error. put: inside a transaction;
 * ignored when the message row is gone. copy: every field of src_uid to dst_uid in dst
 * (dst inside a transaction). */
int mail_index_cache_get(struct mail_index *idx, uint32_t uid, const char *field, struct buf *out);
int mail_index_cache_put(struct mail_index *idx, uint32_t uid, const char *field, const void *data,
                         size_t len, const char **error_r);
/* Every row of field with a UID in [lo, hi], in UID order. */
typedef void mail_index_cache_cb(void *ctx, uint32_t uid, const void *data, size_t len);
int mail_index_cache_range(struct mail_index *idx, uint32_t lo, uint32_t hi, const char *field,
                           mail_index_cache_cb *cb, void *ctx);
int mail_index_cache_copy(struct mail_index *src, uint32_t src_uid, struct mail_index *dst,
                          uint32_t dst_uid, const char **error_r);

#endif
