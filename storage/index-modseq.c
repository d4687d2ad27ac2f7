/*
 * MODSEQ in the index (RFC 7162): each row's msg.modseq and msg.mflags, HIGHESTMODSEQ in the
 * meta table as "modseq". One transaction's changes share one MODSEQ, HIGHESTMODSEQ + 1, which
 * becomes HIGHESTMODSEQ at its commit: the write lock orders transactions, so MODSEQs only
 * grow, and a session that read HIGHESTMODSEQ n has seen every change up to n.
 */
#include "storage/index-private.h"

#include <stdio.h>

#define MODSEQ_META "modseq"
/* The rows a new index's first sync lists all share one MODSEQ and are never looked up by it:
 * msg_modseq leaves them out ("modseq > N", N recorded in the meta table under this key), so
 * that building a big mailbox's index does not also build an index of its MODSEQs. Changes
 * since a MODSEQ below N are found by a scan. An index without the key indexes every row. */
#define MODSEQ_INDEXED_META "modseq_indexed"
/* The side file (index.c) records a floor this far above HIGHESTMODSEQ, rewritten only when
 * HIGHESTMODSEQ reaches it: a rebuilt index goes on above every MODSEQ a client has seen. */
#define MODSEQ_RESERVATION 100000

/* An index from before MODSEQs: every message starts at 1 with its flags unknown, so the
 * first sync that lists it records them without a change. */
static const char modseq_upgrade_sql[] =
    "ALTER TABLE msg ADD COLUMN modseq INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE msg ADD COLUMN mflags INTEGER NOT NULL DEFAULT -1;"
    "CREATE INDEX IF NOT EXISTS msg_modseq ON msg (modseq);"
    "PRAGMA user_version = 4;";

int index_modseq_upgrade(struct mail_index *idx, const char **error_r)
{
	if (sqlite3_exec(idx->db, modseq_upgrade_sql, NULL, NULL, NULL) != SQLITE_OK)
		return index_fail(idx, "adding MODSEQ columns", error_r);
	return 0;
}

/* A 64-bit meta value; dflt when absent. */
static int modseq_meta_get(struct mail_index *idx, const char *key, uint64_t dflt,
                           uint64_t *value_r, const char **error_r)
{
	sqlite3_stmt *st = idx->st_meta_get;
	int ret;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	ret = sqlite3_step(st);
	*value_r = ret == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : dflt;
	sqlite3_reset(st);
	if (ret != SQLITE_ROW && ret != SQLITE_DONE)
		return index_fail(idx, "reading a MODSEQ", error_r);
	return 0;
}

static int modseq_read(struct mail_index *idx, uint64_t *modseq_r, const char **error_r)
{
	if (modseq_meta_get(idx, MODSEQ_META, 1, modseq_r, error_r) < 0)
		return -1;
	if (*modseq_r == 0)
		*modseq_r = 1;
	return 0;
}

int index_modseq_begin(struct mail_index *idx, const char **error_r)
{
	idx->modseq_used = false;
	return modseq_read(idx, &idx->highest_modseq, error_r);
}

static int modseq_meta_set(struct mail_index *idx, const char *key, uint64_t value,
                           const char **error_r)
{
	sqlite3_stmt *st = idx->st_meta_set;
	int ret;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)value);
	ret = sqlite3_step(st);
	sqlite3_reset(st);
	if (ret != SQLITE_DONE)
		return index_fail(idx, "writing a MODSEQ", error_r);
	return 0;
}

static int modseq_write(struct mail_index *idx, uint64_t modseq, const char **error_r)
{
	return modseq_meta_set(idx, MODSEQ_META, modseq, error_r);
}

/* Called after index_modseq_restart: the next transaction, normally the first sync, gives its
 * rows HIGHESTMODSEQ + 1. */
int index_modseq_create(struct mail_index *idx, const char **error_r)
{
	uint64_t highest;
	char sql[128];

	if (modseq_read(idx, &highest, error_r) < 0 ||
	    modseq_meta_set(idx, MODSEQ_INDEXED_META, highest + 1, error_r) < 0)
		return -1;
	snprintf(sql, sizeof(sql), "CREATE INDEX msg_modseq ON msg (modseq) WHERE modseq > %llu",
	         (unsigned long long)(highest + 1));
	if (sqlite3_exec(idx->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return index_fail(idx, "creating the MODSEQ index", error_r);
	return 0;
}

int index_modseq_commit(struct mail_index *idx, const char **error_r)
{
	if (!idx->modseq_used)
		return 0;
	return modseq_write(idx, idx->highest_modseq + 1, error_r);
}

int index_modseq_restart(struct mail_index *idx, const char **error_r)
{
	if (idx->modseq_floor == 0)
		return 0;
	return modseq_write(idx, idx->modseq_floor, error_r);
}

bool index_modseq_over_floor(struct mail_index *idx)
{
	if (!idx->modseq_used || idx->highest_modseq + 1 < idx->modseq_floor)
		return false;
	idx->modseq_floor = idx->highest_modseq + 1 + MODSEQ_RESERVATION;
	return true;
}

int mail_index_highest_modseq(struct mail_index *idx, uint64_t *modseq_r, const char **error_r)
{
	if (idx->in_tx) {
		*modseq_r = idx->highest_modseq + (idx->modseq_used ? 1 : 0);
		return 0;
	}
	return modseq_read(idx, modseq_r, error_r);
}

uint64_t mail_index_tx_modseq(struct mail_index *idx)
{
	idx->modseq_used = true;
	return idx->highest_modseq + 1;
}

/* The changes query names the partial index's own term, so SQLite can use it. */
static int modseq_prepare(struct mail_index *idx, const char **error_r)
{
	char sql[128];

	if (idx->st_set_mflags != NULL)
		return 0;
	if (modseq_meta_get(idx, MODSEQ_INDEXED_META, 0, &idx->modseq_indexed, error_r) < 0)
		return -1;
	snprintf(sql, sizeof(sql), "SELECT uid, modseq FROM msg WHERE modseq > ? AND modseq > %llu",
	         (unsigned long long)idx->modseq_indexed);
	if (index_prepare(idx,
	                  "UPDATE msg SET modseq = CASE WHEN mflags < 0 THEN modseq ELSE ?3 END,"
	                  " mflags = ?2 WHERE uid = ?1 AND mflags != ?2 RETURNING modseq",
	                  &idx->st_set_mflags, error_r) < 0 ||
	    index_prepare(idx, sql, &idx->st_modseq_since, error_r) < 0 ||
	    index_prepare(idx, "SELECT uid, modseq FROM msg WHERE modseq > ?",
	                  &idx->st_modseq_scan, error_r) < 0)
		return -1;
	return 0;
}

/* The row's MODSEQ when its flags are already mflags (or it is gone: 0). */
static int modseq_of_row(struct mail_index *idx, uint32_t uid, uint64_t *modseq_r,
                         const char **error_r)
{
	sqlite3_stmt *st;
	int ret;

	if (index_prepare(idx, "SELECT modseq FROM msg WHERE uid = ?", &st, error_r) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, uid);
	ret = sqlite3_step(st);
	*modseq_r = ret == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (ret != SQLITE_ROW && ret != SQLITE_DONE)
		return index_fail(idx, "reading MODSEQ", error_r);
	return ret == SQLITE_ROW ? 1 : 0;
}

int mail_index_set_mflags(struct mail_index *idx, uint32_t uid, int mflags, uint64_t *modseq_r,
                          const char **error_r)
{
	sqlite3_stmt *st;
	uint64_t next = idx->highest_modseq + 1;
	int ret;

	if (modseq_prepare(idx, error_r) < 0)
		return -1;
	st = idx->st_set_mflags;
	sqlite3_bind_int64(st, 1, uid);
	sqlite3_bind_int(st, 2, mflags);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)next);
	ret = sqlite3_step(st);
	if (ret == SQLITE_ROW)
		*modseq_r = (uint64_t)sqlite3_column_int64(st, 0);
	while (ret == SQLITE_ROW)
		ret = sqlite3_step(st);
	sqlite3_reset(st);
	if (ret != SQLITE_DONE)
		return index_fail(idx, "set flags", error_r);
	if (sqlite3_changes(idx->db) == 0)
		return modseq_of_row(idx, uid, modseq_r, error_r);
	if (*modseq_r == next)
		(void)mail_index_tx_modseq(idx);
	return 1;
}

int mail_index_modseq_changes(struct mail_index *idx, uint64_t since, mail_index_modseq_cb *cb,
                              void *ctx, const char **error_r)
{
	sqlite3_stmt *st;
	int ret;

	if (modseq_prepare(idx, error_r) < 0)
		return -1;
	st = since >= idx->modseq_indexed ? idx->st_modseq_since : idx->st_modseq_scan;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since);
	while ((ret = sqlite3_step(st)) == SQLITE_ROW)
		cb(ctx, (uint32_t)sqlite3_column_int64(st, 0),
		   (uint64_t)sqlite3_column_int64(st, 1));
	sqlite3_reset(st);
	if (ret != SQLITE_DONE)
		return index_fail(idx, "MODSEQ changes", error_r);
	return 0;
}
