/* The `sqlite` auth store's statement helpers: prepare and step with the busy wait (see
 * store-sqlite.c), bind and copy out columns, report errors in the store's buffer. */
#include "auth/store-sqlite-private.h"
#include "common/clock.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STORE_BUSY_RETRY_MS 10

int store_fail(struct sqlite_store *s, const char *what, const char **error_r)
{
	snprintf(s->error, sizeof(s->error), "auth store: %s: %s", what, sqlite3_errmsg(s->db));
	*error_r = s->error;
	return -1;
}

static bool store_busy(int rc)
{
	rc &= 0xff;
	return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

/* True while a busy statement may be tried again: the busy timeout is not used up yet. */
static bool store_retry(const struct sqlite_store *s, long start_ms, int rc)
{
	if (!store_busy(rc) || clock_now_ms() - start_ms >= s->busy_timeout_ms)
		return false;
	usleep(STORE_BUSY_RETRY_MS * 1000);
	return true;
}

/* sqlite3_step, tried again while busy within the busy timeout. */
int store_step(const struct sqlite_store *s, sqlite3_stmt *stmt)
{
	long start = clock_now_ms();
	int rc;

	while (store_retry(s, start, rc = sqlite3_step(stmt)))
		sqlite3_reset(stmt);
	return rc;
}

int store_prepare(struct sqlite_store *s, const char *sql, sqlite3_stmt **stmt_r,
                  const char **error_r)
{
	long start = clock_now_ms();
	int rc;

	while (store_retry(s, start, rc = sqlite3_prepare_v2(s->db, sql, -1, stmt_r, NULL)))
		;
	if (rc != SQLITE_OK) {
		sqlite3_finalize(*stmt_r);
		*stmt_r = NULL;
		return store_fail(s, "prepare", error_r);
	}
	return 0;
}

/* Runs a statement that returns no rows; returns changes() or -1. */
int store_run(struct sqlite_store *s, sqlite3_stmt *stmt, const char **error_r)
{
	int rc = store_step(s, stmt);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		store_fail(s, "write", error_r);
		sqlite3_finalize(stmt);
		return -1;
	}
	sqlite3_finalize(stmt);
	return sqlite3_changes(s->db);
}

int store_exec(struct sqlite_store *s, const char *sql, const char **error_r)
{
	long start = clock_now_ms();
	int rc;

	while (store_retry(s, start, rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL)))
		;
	return rc == SQLITE_OK ? 0 : store_fail(s, "exec", error_r);
}

int store_delete(struct sqlite_store *s, const char *sql, int64_t a, int64_t b,
                 const char **error_r)
{
	sqlite3_stmt *stmt;

	if (store_prepare(s, sql, &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, a);
	if (sqlite3_bind_parameter_count(stmt) > 1)
		sqlite3_bind_int64(stmt, 2, b);
	return store_run(s, stmt, error_r) < 0 ? -1 : 0;
}

void bind_text(sqlite3_stmt *stmt, int idx, const char *text)
{
	sqlite3_bind_text(stmt, idx, text, -1, SQLITE_TRANSIENT);
}

void bind_hash(sqlite3_stmt *stmt, int idx, const unsigned char hash[AUTH_HASH_LEN])
{
	sqlite3_bind_blob(stmt, idx, hash, AUTH_HASH_LEN, SQLITE_TRANSIENT);
}

/* Copies a non-empty BLOB column; -1 for anything else (empty, NULL, text, a number): a row
 * of a shape this module never writes is a store error, never an empty factor. */
int store_blob_copy(sqlite3_stmt *stmt, int col, unsigned char **data_r, size_t *len_r)
{
	const void *blob;
	int len;

	if (sqlite3_column_type(stmt, col) != SQLITE_BLOB)
		return -1;
	blob = sqlite3_column_blob(stmt, col);
	len = sqlite3_column_bytes(stmt, col);
	if (blob == NULL || len <= 0)
		return -1;
	*data_r = xmalloc((size_t)len);
	memcpy(*data_r, blob, (size_t)len);
	*len_r = (size_t)len;
	return 0;
}

char *column_strdup(sqlite3_stmt *stmt, int col)
{
	const unsigned char *t = sqlite3_column_text(stmt, col);

	return xstrdup(t != NULL ? (const char *)t : "");
}

/* Runs a prepared, bound query and finalizes it: 1 when it returned a row, 0 when none. */
int store_exists(struct sqlite_store *s, sqlite3_stmt *stmt, const char *what, const char **error_r)
{
	int rc = store_step(s, stmt);

	sqlite3_finalize(stmt);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_fail(s, what, error_r);
}

int store_count(struct sqlite_store *s, const char *sql, int64_t id, unsigned *count_r,
                const char **error_r)
{
	sqlite3_stmt *stmt;
	int rc;

	*count_r = 0;
	if (store_prepare(s, sql, &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	rc = store_step(s, stmt);
	if (rc == SQLITE_ROW)
		*count_r = (unsigned)sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW ? 1 : store_fail(s, "count", error_r);
}
