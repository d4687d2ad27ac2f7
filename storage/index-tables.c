/*
 * The index's tables beside the messages: the \Recent floor, keyword names with each message's
 * keyword set and its change sequence, and the cached metadata (ENVELOPE, BODYSTRUCTURE, ...)
 * of each message.
 */
#include "storage/index-private.h"
#include "common/buf.h"
#include "common/xalloc.h"

#include <string.h>

/* ---- \Recent ---- */

int mail_index_recent_floor(struct mail_index *idx, uint32_t *floor_r, const char **error_r)
{
	int ret = index_meta_get(idx, "recent", floor_r, error_r);

	if (ret == 0)
		*floor_r = 0;
	return ret < 0 ? -1 : 0;
}

int mail_index_set_recent_floor(struct mail_index *idx, uint32_t floor, const char **error_r)
{
	return index_meta_set(idx, "recent", floor, error_r);
}

/* ---- keywords ---- */

int mail_index_keywords_load(struct mail_index *idx, char *names[MAIL_INDEX_KEYWORDS_MAX],
                             unsigned *count_r, const char **error_r)
{
	sqlite3_stmt *st;
	unsigned count = 0;
	int ret;

	if (index_prepare(idx, "SELECT bit, name FROM kw ORDER BY bit", &st, error_r) < 0)
		return -1;
	while ((ret = sqlite3_step(st)) == SQLITE_ROW) {
		/* bits are given out densely, one transaction at a time */
		if (sqlite3_column_int(st, 0) != (int)count || count == MAIL_INDEX_KEYWORDS_MAX)
			break;
		names[count++] = xstrdup((const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	*count_r = count;
	if (ret != SQLITE_DONE && ret != SQLITE_ROW)
		return index_fail(idx, "keyword names", error_r);
	return 0;
}

int mail_index_keyword_add(struct mail_index *idx, unsigned bit, const char *name,
                           const char **error_r)
{
	sqlite3_stmt *st;
	int ret;

	if (index_prepare(idx, "INSERT INTO kw (bit, name) VALUES (?, ?)", &st, error_r) < 0)
		return -1;
	sqlite3_bind_int(st, 1, (int)bit);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	ret = sqlite3_step(st);
	sqlite3_finalize(st);
	if (ret != SQLITE_DONE)
		return index_fail(idx, "keyword add", error_r);
	return 0;
}

int mail_index_keyword_seq(struct mail_index *idx, uint32_t *seq_r, const char **error_r)
{
	int ret = index_meta_get(idx, "kwseq", seq_r, error_r);

	if (ret == 0)
		*seq_r = 0;
	return ret < 0 ? -1 : 0;
}

int mail_index_set_keywords(struct mail_index *idx, uint32_t uid, uint64_t set, uint64_t clear,
                            uint64_t *keywords_r, uint64_t *modseq_r, const char **error_r)
{
	sqlite3_stmt *st = idx->st_kw_set;
	uint32_t seq;
	int ret;

	*modseq_r = 0;
	if (mail_index_keyword_seq(idx, &seq, error_r) < 0)
		return -1;
	seq++;
	sqlite3_bind_int64(st, 1, uid);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)clear);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)set);
	sqlite3_bind_int64(st, 4, seq);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)(idx->highest_modseq + 1));
	ret = sqlite3_step(st);
	if (ret == SQLITE_ROW) {
		*keywords_r = (uint64_t)sqlite3_column_int64(st, 0);
		*modseq_r = (uint64_t)sqlite3_column_int64(st, 1);
	}
	while (ret == SQLITE_ROW)
		ret = sqlite3_step(st);
	sqlite3_reset(st);
	if (ret != SQLITE_DONE)
		return index_fail(idx, "set keywords", error_r);
	if (sqlite3_changes(idx->db) == 0)
		return 0;
	if (*modseq_r == idx->highest_modseq + 1)
		(void)mail_index_tx_modseq(idx);
	if (index_meta_set(idx, "kwseq", seq, error_r) < 0)
		return -1;
	return 1;
}

int mail_index_keyword_changes(struct mail_index *idx, uint32_t since, mail_index_kw_cb *cb,
                               void *ctx, const char **error_r)
{
	sqlite3_stmt *st = idx->st_kw_get;
	int ret;

	sqlite3_bind_int64(st, 1, since);
	while ((ret = sqlite3_step(st)) == SQLITE_ROW)
		cb(ctx, (uint32_t)sqlite3_column_int64(st, 0),
		   (uint64_t)sqlite3_column_int64(st, 1));
	sqlite3_reset(st);
	if (ret != SQLITE_DONE)
		return index_fail(idx, "keyword changes", error_r);
	return 0;
}

/* ---- metadata cache ---- */

int mail_index_cache_get(struct mail_index *idx, uint32_t uid, const char *field, struct buf *out)
{
	sqlite3_stmt *st = idx->st_cache_get;
	const char *error;
	int ret;

	sqlite3_bind_int64(st, 1, uid);
	sqlite3_bind_text(st, 2, field, -1, SQLITE_STATIC);
	ret = sqlite3_step(st);
	if (ret == SQLITE_ROW)
		buf_append(out, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (ret != SQLITE_ROW && ret != SQLITE_DONE)
		return index_fail(idx, "cache get", &error);
	return ret == SQLITE_ROW ? 1 : 0;
}

int mail_index_cache_put(struct mail_index *idx, uint32_t uid, const char *field, const void *data,
                         size_t len, const char **error_r)
{
	sqlite3_stmt *st = idx->st_cache_put;
	int ret;

	sqlite3_bind_int64(st, 1, uid);
	sqlite3_bind_text(st, 2, field, -1, SQLITE_STATIC);
	sqlite3_bind_blob64(st, 3, len == 0 ? "" : data, len, SQLITE_STATIC);
	ret = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (ret != SQLITE_DONE)
		return index_fail(idx, "cache put", error_r);
	return 0;
}

int mail_index_cache_copy(struct mail_index *src, uint32_t src_uid, struct mail_index *dst,
                          uint32_t dst_uid, const char **error_r)
{
	sqlite3_stmt *st;
	int ret;

	if (index_prepare(src, "SELECT field, data FROM cache WHERE uid = ?", &st, error_r) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, src_uid);
	while ((ret = sqlite3_step(st)) == SQLITE_ROW) {
		if (mail_index_cache_put(dst, dst_uid, (const char *)sqlite3_column_text(st, 0),
		                         sqlite3_column_blob(st, 1),
		                         (size_t)sqlite3_column_bytes(st, 1), error_r) < 0) {
			sqlite3_finalize(st);
			return -1;
		}
	}
	sqlite3_finalize(st);
	if (ret != SQLITE_DONE)
		return index_fail(src, "cache copy", error_r);
	return 0;
}

int mail_index_cache_range(struct mail_index *idx, uint32_t lo, uint32_t hi, const char *field,
                           mail_index_cache_cb *cb, void *ctx)
{
	sqlite3_stmt *st = idx->st_cache_range;
	const char *error;
	int ret;

	sqlite3_bind_int64(st, 1, lo);
	sqlite3_bind_int64(st, 2, hi);
	sqlite3_bind_text(st, 3, field, -1, SQLITE_STATIC);
	while ((ret = sqlite3_step(st)) == SQLITE_ROW)
		cb(ctx, (uint32_t)sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1),
		   (size_t)sqlite3_column_bytes(st, 1));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (ret != SQLITE_DONE)
		return index_fail(idx, "cache range", &error);
	return 0;
}
