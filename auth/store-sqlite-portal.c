/* The `sqlite` auth store: portal sign-in sessions. */
#include "auth/store-sqlite-private.h"
#include "common/xalloc.h"

#include <sodium.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

int sqlite_portal_session_put(struct auth_store *store, const struct auth_portal_session *ps,
                              const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;

	if (store_prepare(
	        s,
	        "INSERT INTO portal_sessions (hash, user_id, level, csrf, created, expires) "
	        "VALUES (?, ?, ?, ?, ?, ?)",
	        &stmt, error_r) < 0)
		return -1;
	bind_hash(stmt, 1, ps->hash);
	sqlite3_bind_int64(stmt, 2, ps->user_id);
	sqlite3_bind_int(stmt, 3, (int)ps->level);
	bind_text(stmt, 4, ps->csrf);
	sqlite3_bind_int64(stmt, 5, ps->created);
	sqlite3_bind_int64(stmt, 6, ps->expires);
	return store_run(s, stmt, error_r) < 0 ? -1 : 1;
}

int sqlite_portal_session_get(struct auth_store *store, const unsigned char hash[AUTH_HASH_LEN],
                              time_t now, struct auth_portal_session *ps, const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s,
	                  "SELECT p.user_id, u.name, p.level, p.csrf, p.created, p.expires "
	                  "FROM portal_sessions p JOIN users u ON u.id = p.user_id "
	                  "WHERE p.hash = ? AND p.expires > ?",
	                  &stmt, error_r) < 0)
		return -1;
	bind_hash(stmt, 1, hash);
	sqlite3_bind_int64(stmt, 2, now);
	rc = store_step(s, stmt);
	if (rc == SQLITE_ROW) {
		memset(ps, 0, sizeof(*ps));
		memcpy(ps->hash, hash, AUTH_HASH_LEN);
		ps->user_id = sqlite3_column_int64(stmt, 0);
		snprintf(ps->user, sizeof(ps->user), "%s",
		         (const char *)sqlite3_column_text(stmt, 1));
		ps->level = (enum auth_portal_level)sqlite3_column_int(stmt, 2);
		snprintf(ps->csrf, sizeof(ps->csrf), "%s",
		         (const char *)sqlite3_column_text(stmt, 3));
		ps->created = sqlite3_column_int64(stmt, 4);
		ps->expires = sqlite3_column_int64(stmt, 5);
	}
	sqlite3_finalize(stmt);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_fail(s, "read portal session", error_r);
}

int sqlite_portal_session_del(struct auth_store *store, const unsigned char hash[AUTH_HASH_LEN],
                              const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int n;

	if (store_prepare(s, "DELETE FROM portal_sessions WHERE hash = ?", &stmt, error_r) < 0)
		return -1;
	bind_hash(stmt, 1, hash);
	n = store_run(s, stmt, error_r);
	return n < 0 ? -1 : n > 0;
}
