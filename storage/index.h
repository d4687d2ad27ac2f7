/*
 * The per-mailbox index: an SQLite file "twofold.index" (0600, WAL) in the mailbox directory.
 * Maps a maildir base name to its UID and cached sizes and date; holds UIDVALIDITY and UIDNEXT.
 * The maildir file names stay the source of truth for flags; the index can be deleted at any time
 * and is rebuilt, keeping the UIDs found in ",U=" file name fields and, through the small side
 * file "twofold.uidvalidity", UIDVALIDITY and a UIDNEXT floor above every UID ever given out:
 * a message whose UID cannot be recovered gets a fresh one above the floor (to a client that
 * looks like an expunge plus a new message, which IMAP allows), so UIDVALIDITY need not change.
 *
 * SQLite is given a path of the form "/.twofold-dirfd/<fd>/twofold.index": a hook on the unix
 * VFS's system calls turns it into openat(fd, ...), so the index works beneath a directory fd in
 * a chroot that has no path to it.
 */
#ifndef TWOFOLD_STORAGE_INDEX_H
#define TWOFOLD_STORAGE_INDEX_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct mail_index;

struct mail_index_rec {
	uint32_t uid;
	uint64_t size;
	uint64_t vsize;
	time_t date;
};

/* Installs the dirfd system-call hooks (idempotent) and returns the SQLite path for name
 * beneath dirfd. Caller frees. */
char *mail_index_vfs_path(int dirfd, const char *name);

/* Opens or creates the index beneath dirfd. *rebuild_r is true when it was (re)created. */
int mail_index_open(int dirfd, struct mail_index **idx_r, bool *rebuild_r, const char **error_r);
void mail_index_close(struct mail_index **idx);

uint32_t mail_index_uidvalidity(const struct mail_index *idx);
/* Read from the index (call inside a transaction for an exact value). */
int mail_index_uidnext(struct mail_index *idx, uint32_t *uidnext_r, const char **error_r);

/* 1 found, 0 not found, -1 error. */
int mail_index_lookup(struct mail_index *idx, const char *base, struct mail_index_rec *rec_r,
                      const char **error_r);
/* Calls cb for every row; cb returns 0 to go on. */
typedef void mail_index_row_cb(void *ctx, const char *base, const struct mail_index_rec *rec);
int mail_index_iterate(struct mail_index *idx, mail_index_row_cb *cb, void *ctx,
                       const char **error_r);

/* A write transaction (BEGIN IMMEDIATE: writers of all sessions are serialised). */
int mail_index_begin(struct mail_index *idx, const char **error_r);
int mail_index_commit(struct mail_index *idx, const char **error_r);
void mail_index_rollback(struct mail_index *idx);

/* Inside a transaction. The next free UID (not yet consumed). */
uint32_t mail_index_next_uid(struct mail_index *idx);
/* Inside a transaction: gives base a UID. An existing row wins (its record is returned);
 * else want_uid (from a ",U=" field, 0 for none) is used when it is not taken and either at
 * least UIDNEXT or the index is being rebuilt; else a fresh UID. rec->uid is set.
 * *recovered_r tells whether want_uid was used or the row existed. */
int mail_index_assign(struct mail_index *idx, const char *base, uint32_t want_uid,
                      struct mail_index_rec *rec, bool *recovered_r, const char **error_r);
/* Inside a transaction. */
int mail_index_remove(struct mail_index *idx, const char *base, const char **error_r);
/* Drops SQLite's page cache: an idle session should not hold it (the OS caches the file). */
void mail_index_release_memory(struct mail_index *idx);
/* Ends the rebuild phase: from now on ",U=" fields below UIDNEXT are not trusted. */
void mail_index_rebuild_done(struct mail_index *idx);

#endif
