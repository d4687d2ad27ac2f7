/*
 * Expunged UIDs in the index (RFC 7162 QRESYNC): the table "vanished" holds ranges of UIDs with
 * the MODSEQ of the latest expunge among them. A range may also span UIDs expunged earlier or
 * never given out, as long as no row of msg lies inside it: a UID is never given out again, so
 * telling a client such a UID vanished is harmless, and ranges then stay fewer than rows + 1.
 * A merged range takes the newest MODSEQ: a client that asks since a MODSEQ in between hears
 * again of UIDs it knew were gone, which a client ignores.
 *
 * The floor (meta "vanished_floor") is the lowest MODSEQ from which the record is complete:
 * expunges before the table existed (an index upgraded or rebuilt) or trimmed away (more than
 * VANISHED_RANGES_MAX ranges) are not in it, and a client asking from below it is answered
 * from what the mailbox holds instead (every absent UID it names).
 */
#include "storage/index-private.h"

#define VANISHED_FLOOR_META "vanished_floor"
/* Ranges kept at most; the oldest go (raising the floor) down to VANISHED_RANGES_KEEP. */
#define VANISHED_RANGES_MAX  20000
#define VANISHED_RANGES_KEEP 15000

static const char vanished_table_sql[] =
    "CREATE TABLE IF NOT EXISTS vanished (lo INTEGER PRIMARY KEY, hi INTEGER NOT NULL,"
    " modseq INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS vanished_modseq ON vanished (modseq);"
    "PRAGMA user_version = 5;";

static int vanished_meta_set(struct mail_index *idx, uint64_t value, const char **error_r)
{
	sqlite3_stmt *st = idx->st_meta_set;
	int ret;

	sqlite3_bind_text(st, 1, VANISHED_FLOOR_META, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)value);
	ret = sqlite3_step(st);
	sqlite3_reset(st);
	if (ret != SQLITE_DONE)
		return index_fail(idx, "writing the vanished floor", error_r);
	return 0;
}

int mail_index_vanished_floor(struct mail_index *idx, uint64_t *floor_r, const char **error_r)
{
	sqlite3_stmt *st = idx->st_meta_get;
	int ret;

	sqlite3_bind_text(st, 1, VANISHED_FLOOR_META, -1, SQLITE_STATIC);
	ret = sqlite3_step(st);
	/* no floor recorded: nothing is known to be complete */
	*floor_r = ret == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : UINT64_MAX;
	sqlite3_reset(st);
	if (ret != SQLITE_ROW && ret != SQLITE_DONE)
		return index_fail(idx, "reading the vanished floor", error_r);
	return 0;
}

/* Inside the opening transaction, for a new index too: from now on every expunge is recorded,
 * so the record is complete from the HIGHESTMODSEQ the index has now. */
int index_vanished_upgrade(struct mail_index *idx, const char **error_r)
{
	uint64_t highest;

	if (sqlite3_exec(idx->db, vanished_table_sql, NULL, NULL, NULL) != SQLITE_OK)
		return index_fail(idx, "adding the vanished table", error_r);
	if (mail_index_highest_modseq(idx, &highest, error_r) < 0)
		return -1;
	return vanished_meta_set(idx, highest, error_r);
}

static int vanished_prepare(struct mail_index *idx, const char **error_r)
{
	if (idx->st_van_before != NULL)
		return 0;
	if (index_prepare(idx,
	                  "SELECT lo, hi FROM vanished WHERE lo <= ?1 ORDER BY lo DESC LIMIT 1",
	                  &idx->st_van_before, error_r) < 0 ||
	    index_prepare(idx, "SELECT lo, hi FROM vanished WHERE lo > ?1 ORDER BY lo LIMIT 1",
	                  &idx->st_van_after, error_r) < 0 ||
	    index_prepare(idx, "SELECT EXISTS (SELECT 1 FROM msg WHERE uid > ?1 AND uid < ?2)",
	                  &idx->st_van_gap, error_r) < 0 ||
	    index_prepare(idx, "DELETE FROM vanished WHERE lo BETWEEN ?1 AND ?2",
	                  &idx->st_van_delete, error_r) < 0 ||
	    index_prepare(idx, "INSERT INTO vanished (lo, hi, modseq) VALUES (?1, ?2, ?3)",
	                  &idx->st_van_insert, error_r) < 0 ||
	    index_prepare(idx, "SELECT lo, hi FROM vanished WHERE modseq > ?1 ORDER BY lo",
	                  &idx->st_van_since, error_r) < 0)
		return -1;
	return 0;
}

/* The range found by st for uid: 1 with *lo_r, *hi_r, 0 none. */
static int vanished_neighbour(struct mail_index *idx, sqlite3_stmt *st, uint32_t uid,
                              uint32_t *lo_r, uint32_t *hi_r, const char **error_r)
{
	int ret;

	sqlite3_bind_int64(st, 1, uid);
	ret = sqlite3_step(st);
	if (ret == SQLITE_ROW) {
		*lo_r = (uint32_t)sqlite3_column_int64(st, 0);
		*hi_r = (uint32_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (ret != SQLITE_ROW && ret != SQLITE_DONE)
		return index_fail(idx, "reading vanished ranges", error_r);
	return ret == SQLITE_ROW ? 1 : 0;
}

/* 1 when a row of msg lies strictly between lo and hi. */
static int vanished_gap_has_rows(struct mail_index *idx, uint32_t lo, uint32_t hi,
                                 const char **error_r)
{
	sqlite3_stmt *st = idx->st_van_gap;
	int ret, any;

	sqlite3_bind_int64(st, 1, lo);
	sqlite3_bind_int64(st, 2, hi);
	ret = sqlite3_step(st);
	any = ret == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);
	if (ret != SQLITE_ROW)
		return index_fail(idx, "reading vanished gaps", error_r);
	return any;
}

static int vanished_step(struct mail_index *idx, sqlite3_stmt *st, uint32_t a, uint32_t b,
                         uint64_t modseq, const char **error_r)
{
	int ret;

	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	if (sqlite3_bind_parameter_count(st) >= 3)
		sqlite3_bind_int64(st, 3, (sqlite3_int64)modseq);
	ret = sqlite3_step(st);
	sqlite3_reset(st);
	if (ret != SQLITE_DONE)
		return index_fail(idx, "writing vanished ranges", error_r);
	return 0;
}

/* The range [*lo, *hi] grows over a neighbour that no row separates from it. */
static int vanished_merge(struct mail_index *idx, uint32_t uid, uint32_t *lo, uint32_t *hi,
                          const char **error_r)
{
	uint32_t nlo, nhi;
	int ret;

	ret = vanished_neighbour(idx, idx->st_van_before, uid, &nlo, &nhi, error_r);
	if (ret > 0 && nhi >= uid) {
		*lo = nlo; /* already inside a range: it only takes the new MODSEQ */
		*hi = nhi;
		return 0;
	}
	if (ret > 0 && (ret = vanished_gap_has_rows(idx, nhi, uid, error_r)) == 0)
		*lo = nlo;
	if (ret < 0 ||
	    (ret = vanished_neighbour(idx, idx->st_van_after, uid, &nlo, &nhi, error_r)) < 0)
		return -1;
	if (ret > 0 && (ret = vanished_gap_has_rows(idx, uid, nlo, error_r)) == 0)
		*hi = nhi;
	return ret < 0 ? -1 : 0;
}

/* Inside a transaction, after uid's row is gone: uid joins the record at this transaction's
 * MODSEQ. */
int index_vanished_add(struct mail_index *idx, uint32_t uid, const char **error_r)
{
	uint64_t modseq = mail_index_tx_modseq(idx);
	uint32_t lo = uid, hi = uid;

	if (vanished_prepare(idx, error_r) < 0 || vanished_merge(idx, uid, &lo, &hi, error_r) < 0 ||
	    vanished_step(idx, idx->st_van_delete, lo, hi, 0, error_r) < 0 ||
	    vanished_step(idx, idx->st_van_insert, lo, hi, modseq, error_r) < 0)
		return -1;
	idx->vanished_added = true;
	return 0;
}

static int vanished_count_over(struct mail_index *idx, uint64_t *cut_r, const char **error_r)
{
	sqlite3_stmt *st;
	int ret;

	*cut_r = 0;
	if (index_prepare(idx,
	                  "SELECT modseq FROM vanished WHERE (SELECT count(*) FROM vanished) > ?1"
	                  " ORDER BY modseq DESC LIMIT 1 OFFSET ?2",
	                  &st, error_r) < 0)
		return -1;
	sqlite3_bind_int(st, 1, VANISHED_RANGES_MAX);
	sqlite3_bind_int(st, 2, VANISHED_RANGES_KEEP);
	ret = sqlite3_step(st);
	if (ret == SQLITE_ROW)
		*cut_r = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (ret != SQLITE_ROW && ret != SQLITE_DONE)
		return index_fail(idx, "counting vanished ranges", error_r);
	return ret == SQLITE_ROW ? 1 : 0;
}

/* Before the commit of a transaction that recorded expunges: past VANISHED_RANGES_MAX ranges,
 * the oldest go and the floor rises to the newest MODSEQ among them. */
int index_vanished_commit(struct mail_index *idx, const char **error_r)
{
	uint64_t cut, floor;
	sqlite3_stmt *st;
	int ret;

	if (!idx->vanished_added)
		return 0;
	if ((ret = vanished_count_over(idx, &cut, error_r)) <= 0)
		return ret;
	if (index_prepare(idx, "DELETE FROM vanished WHERE modseq <= ?1", &st, error_r) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)cut);
	ret = sqlite3_step(st);
	sqlite3_finalize(st);
	if (ret != SQLITE_DONE)
		return index_fail(idx, "trimming vanished ranges", error_r);
	if (mail_index_vanished_floor(idx, &floor, error_r) < 0)
		return -1;
	return floor != UINT64_MAX && floor >= cut ? 0 : vanished_meta_set(idx, cut, error_r);
}

int mail_index_vanished_since(struct mail_index *idx, uint64_t since, mail_index_range_cb *cb,
                              void *ctx, const char **error_r)
{
	sqlite3_stmt *st;
	int ret;

	if (vanished_prepare(idx, error_r) < 0)
		return -1;
	st = idx->st_van_since;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since);
	while ((ret = sqlite3_step(st)) == SQLITE_ROW)
		cb(ctx, (uint32_t)sqlite3_column_int64(st, 0),
		   (uint32_t)sqlite3_column_int64(st, 1));
	sqlite3_reset(st);
	if (ret != SQLITE_DONE)
		return index_fail(idx, "reading vanished ranges", error_r);
	return 0;
}
