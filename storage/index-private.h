/* The index as index.c (opening, UIDs, messages) and index-tables.c (\Recent, keywords,
 * cached metadata) share it. Internal to storage/. */
#ifndef TWOFOLD_STORAGE_INDEX_PRIVATE_H
#define TWOFOLD_STORAGE_INDEX_PRIVATE_H

#include "storage/dovecot-keywords.h"
#include "storage/index.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

struct mail_index {
	sqlite3 *db;
	int dirfd;  /* not owned */
	int rootfd; /* the maildir root, while opening; not owned */
	uint32_t uidvalidity;
	uint32_t uidnext;       /* valid inside a transaction */
	uint32_t uidnext_begin; /* as stored when the transaction began */
	uint32_t floor;         /* UIDNEXT floor recorded in the side file */
	bool rebuild;
	bool in_tx;
	bool outdated;     /* written by an older version: rebuilt */
	bool bulk;         /* many rows: checkpoint left to a later commit or the close */
	bool big_cache;    /* page cache enlarged for this transaction */
	bool dovecot_uidl; /* taken over from Dovecot: POP3 UIDLs in Dovecot's default format */
	/* While a mailbox taken over from Dovecot is rebuilt: its dovecot-uidlist, and the
	 * keyword bit each info letter a..z stands for (-1 none). */
	struct dovecot_uidlist *dovecot;
	int8_t dovecot_kw[DOVECOT_KEYWORDS_MAX];
	sqlite3_stmt *st_lookup, *st_insert, *st_taken, *st_remove, *st_meta_get, *st_meta_set;
	sqlite3_stmt *st_cache_remove, *st_kw_set, *st_kw_get, *st_cache_get, *st_cache_put;
	sqlite3_stmt *st_cache_range, *st_set_sizes;
	sqlite3_stmt *st_insert_batch; /* INDEX_INSERT_BATCH rows, prepared when first needed */
	sqlite3_stmt *st_modseq_since, *st_set_mflags; /* index-modseq.c, when first needed */
	sqlite3_stmt *st_modseq_scan;                  /* changes below modseq_indexed */
	uint64_t modseq_indexed; /* msg_modseq holds the rows with a MODSEQ above this */
	/* index-vanished.c, when first needed */
	sqlite3_stmt *st_van_before, *st_van_after, *st_van_gap, *st_van_delete, *st_van_insert;
	sqlite3_stmt *st_van_since;
	bool vanished_added;     /* this transaction recorded expunged UIDs */
	uint64_t highest_modseq; /* as stored when the transaction began */
	bool modseq_used;      /* a row got highest_modseq + 1 in this transaction */
	uint64_t modseq_floor; /* HIGHESTMODSEQ floor recorded in the side file */
	/* Bulk load into the empty table: max_uid is the highest UID in it, and a row whose UID
	 * is max_uid + 1 is inserted with a NULL UID (SQLite appends it as max + 1 without
	 * seeking whether the UID is taken). */
	bool append_known;
	uint32_t max_uid;
};

/* -1 with *error_r from the connection's last error (a full disk said as such). */
int index_fail(struct mail_index *idx, const char *what, const char **error_r);
int index_prepare(struct mail_index *idx, const char *sql, sqlite3_stmt **st_r,
                  const char **error_r);
int index_meta_get(struct mail_index *idx, const char *key, uint32_t *value_r,
                   const char **error_r);
int index_meta_set(struct mail_index *idx, const char *key, uint32_t value, const char **error_r);

/* index-modseq.c: adds the MODSEQ columns to an older index (inside the opening transaction),
 * reads HIGHESTMODSEQ when a transaction begins, and stores it at its commit. */
int index_modseq_upgrade(struct mail_index *idx, const char **error_r);
/* A new index: the MODSEQ index, leaving out the rows of the first sync. */
int index_modseq_create(struct mail_index *idx, const char **error_r);
int index_modseq_begin(struct mail_index *idx, const char **error_r);
int index_modseq_commit(struct mail_index *idx, const char **error_r);
/* A new index of a mailbox whose side file has a HIGHESTMODSEQ floor: it starts there. */
int index_modseq_restart(struct mail_index *idx, const char **error_r);
/* Before a commit: true when this transaction's MODSEQ reaches the side file's floor, which
 * is then raised (the caller writes the side file). */
bool index_modseq_over_floor(struct mail_index *idx);

/* index-vanished.c: adds the table of expunged UIDs (to an older index, and to a new one after
 * its HIGHESTMODSEQ is set: the record is complete from there), records a removed UID, and
 * trims the table before a commit. */
int index_vanished_upgrade(struct mail_index *idx, const char **error_r);
int index_vanished_add(struct mail_index *idx, uint32_t uid, const char **error_r);
int index_vanished_commit(struct mail_index *idx, const char **error_r);

#endif
