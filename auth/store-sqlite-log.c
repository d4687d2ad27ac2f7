/* The `sqlite` auth store: where users logged in from (familiar sources), the codes they
 * logged in with, and the audit log. */
#include "auth/store-sqlite-private.h"
#include "common/xalloc.h"

#include <sodium.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

int sqlite_source_put(struct auth_store *store, int64_t user_id, const char *source, time_t now,
                      const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;

	if (store_prepare(s,
	                  "INSERT INTO sources (user_id, source, last) VALUES (?1, ?2, ?3) "
	                  "ON CONFLICT (user_id, source) DO UPDATE SET last = max(last, ?3)",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	bind_text(stmt, 2, source);
	sqlite3_bind_int64(stmt, 3, now);
	return store_run(s, stmt, error_r) < 0 ? -1 : 1;
}

int sqlite_source_get(struct auth_store *store, int64_t user_id, const char *source, time_t *last_r,
                      const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	*last_r = 0;
	if (store_prepare(s, "SELECT last FROM sources WHERE user_id = ? AND source = ?", &stmt,
	                  error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	bind_text(stmt, 2, source);
	rc = store_step(s, stmt);
	if (rc == SQLITE_ROW)
		*last_r = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_fail(s, "read sources", error_r);
}

int sqlite_used_code_put(struct auth_store *store, int64_t user_id,
                         const unsigned char hash[AUTH_HASH_LEN], time_t now, unsigned keep,
                         const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;

	if (store_prepare(s,
	                  "INSERT INTO used_codes (user_id, hash, time) VALUES (?1, ?2, ?3) "
	                  "ON CONFLICT (user_id, hash) DO UPDATE SET time = max(time, ?3)",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	bind_hash(stmt, 2, hash);
	sqlite3_bind_int64(stmt, 3, now);
	if (store_run(s, stmt, error_r) < 0)
		return -1;
	return store_delete(s,
	                    "DELETE FROM used_codes WHERE user_id = ?1 AND rowid NOT IN "
	                    "(SELECT rowid FROM used_codes WHERE user_id = ?1 "
	                    "ORDER BY time DESC, rowid DESC LIMIT ?2)",
	                    user_id, keep, error_r) < 0
	           ? -1
	           : 1;
}

int sqlite_used_code_check(struct auth_store *store, int64_t user_id,
                           const unsigned char hash[AUTH_HASH_LEN], time_t since,
                           const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;

	if (store_prepare(s,
	                  "SELECT 1 FROM used_codes WHERE user_id = ? AND hash = ? AND time >= ?",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	bind_hash(stmt, 2, hash);
	sqlite3_bind_int64(stmt, 3, since);
	return store_exists(s, stmt, "read used codes", error_r);
}

/* ---- audit log ---- */

int sqlite_audit_append(struct auth_store *store, const struct admin_log_entry *e,
                        const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;

	if (store_prepare(s,
	                  "INSERT INTO audit (time, user, proto, ip, client_id, factor, result, "
	                  "reason, stolen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, e->time);
	bind_text(stmt, 2, e->user);
	bind_text(stmt, 3, e->proto);
	bind_text(stmt, 4, e->ip);
	bind_text(stmt, 5, e->client_id);
	bind_text(stmt, 6, e->factor);
	bind_text(stmt, 7, e->result);
	bind_text(stmt, 8, e->reason);
	sqlite3_bind_int(stmt, 9, e->stolen_password);
	return store_run(s, stmt, error_r) < 0 ? -1 : 1;
}

int sqlite_audit_list(struct auth_store *store, const char *name, unsigned limit,
                      void (*cb)(const struct admin_log_entry *, void *), void *ctx,
                      const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s,
	                  "SELECT time, user, proto, ip, client_id, factor, result, reason, stolen "
	                  "FROM audit WHERE ?1 IS NULL OR user = ?1 COLLATE NOCASE "
	                  "ORDER BY id DESC LIMIT ?2",
	                  &stmt, error_r) < 0)
		return -1;
	if (name != NULL)
		bind_text(stmt, 1, name);
	sqlite3_bind_int64(stmt, 2, limit == 0 ? -1 : (int64_t)limit);
	while ((rc = store_step(s, stmt)) == SQLITE_ROW) {
		struct admin_log_entry e = {
		    .time = sqlite3_column_int64(stmt, 0),
		    .user = (const char *)sqlite3_column_text(stmt, 1),
		    .proto = (const char *)sqlite3_column_text(stmt, 2),
		    .ip = (const char *)sqlite3_column_text(stmt, 3),
		    .client_id = (const char *)sqlite3_column_text(stmt, 4),
		    .factor = (const char *)sqlite3_column_text(stmt, 5),
		    .result = (const char *)sqlite3_column_text(stmt, 6),
		    .reason = (const char *)sqlite3_column_text(stmt, 7),
		    .stolen_password = sqlite3_column_int(stmt, 8) != 0,
		};
		cb(&e, ctx);
	}
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 1 : store_fail(s, "read audit log", error_r);
}
