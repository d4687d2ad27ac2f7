/* The `sqlite` auth store: recovery codes and app passwords, both kept as keyed hashes. */
#include "auth/store-sqlite-private.h"
#include "common/xalloc.h"

#include <sodium.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

static int recovery_insert(struct sqlite_store *s, int64_t user_id,
                           const unsigned char hash[AUTH_HASH_LEN], const char **error_r)
{
	sqlite3_stmt *stmt;

	if (store_prepare(s, "INSERT OR IGNORE INTO recovery (user_id, hash) VALUES (?, ?)", &stmt,
	                  error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	bind_hash(stmt, 2, hash);
	return store_run(s, stmt, error_r);
}

int sqlite_recovery_replace(struct auth_store *store, int64_t user_id,
                            const unsigned char (*hashes)[AUTH_HASH_LEN], unsigned count,
                            const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;

	if (store_exec(s, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	if (store_prepare(s, "DELETE FROM recovery WHERE user_id = ?", &stmt, error_r) < 0)
		goto rollback;
	sqlite3_bind_int64(stmt, 1, user_id);
	if (store_run(s, stmt, error_r) < 0)
		goto rollback;
	for (unsigned i = 0; i < count; i++)
		if (recovery_insert(s, user_id, hashes[i], error_r) < 0)
			goto rollback;
	if (store_exec(s, "COMMIT", error_r) < 0)
		goto rollback;
	return 1;
rollback:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int sqlite_recovery_use(struct auth_store *store, int64_t user_id,
                        const unsigned char hash[AUTH_HASH_LEN], const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s, "DELETE FROM recovery WHERE user_id = ? AND hash = ?", &stmt,
	                  error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	bind_hash(stmt, 2, hash);
	rc = store_run(s, stmt, error_r);
	return rc < 0 ? -1 : rc == 1;
}

int sqlite_recovery_count(struct auth_store *store, int64_t user_id, unsigned *count_r,
                          const char **error_r)
{
	return store_count(store_of(store), "SELECT count(*) FROM recovery WHERE user_id = ?",
	                   user_id, count_r, error_r);
}

/* ---- app passwords ---- */

#define APPPASS_COLUMNS "id, user_id, hash, label, proto, created, expires, last_used, last_ip"

static void apppass_from_row(sqlite3_stmt *stmt, struct auth_apppass *ap)
{
	memset(ap, 0, sizeof(*ap));
	ap->id = sqlite3_column_int64(stmt, 0);
	ap->user_id = sqlite3_column_int64(stmt, 1);
	if (sqlite3_column_bytes(stmt, 2) == AUTH_HASH_LEN)
		memcpy(ap->hash, sqlite3_column_blob(stmt, 2), AUTH_HASH_LEN);
	ap->label = column_strdup(stmt, 3);
	ap->proto = column_strdup(stmt, 4);
	ap->created = sqlite3_column_int64(stmt, 5);
	ap->expires = sqlite3_column_int64(stmt, 6);
	ap->last_used = sqlite3_column_int64(stmt, 7);
	ap->last_ip = column_strdup(stmt, 8);
}

int sqlite_apppass_add(struct auth_store *store, const struct auth_apppass *ap, int64_t *id_r,
                       const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;

	if (store_prepare(s,
	                  "INSERT INTO apppass (user_id, hash, label, proto, created, expires) "
	                  "VALUES (?, ?, ?, ?, ?, ?)",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, ap->user_id);
	bind_hash(stmt, 2, ap->hash);
	bind_text(stmt, 3, ap->label);
	bind_text(stmt, 4, ap->proto);
	sqlite3_bind_int64(stmt, 5, ap->created);
	sqlite3_bind_int64(stmt, 6, ap->expires);
	if (store_run(s, stmt, error_r) < 0)
		return -1;
	*id_r = sqlite3_last_insert_rowid(s->db);
	return 1;
}

int sqlite_apppass_list(struct auth_store *store, int64_t user_id,
                        void (*cb)(const struct auth_apppass *, void *), void *ctx,
                        const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s,
	                  "SELECT " APPPASS_COLUMNS " FROM apppass WHERE user_id = ? ORDER BY id",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	while ((rc = store_step(s, stmt)) == SQLITE_ROW) {
		struct auth_apppass ap;

		apppass_from_row(stmt, &ap);
		cb(&ap, ctx);
		auth_apppass_clear(&ap);
	}
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 1 : store_fail(s, "list app passwords", error_r);
}

int sqlite_apppass_find(struct auth_store *store, const unsigned char hash[AUTH_HASH_LEN],
                        struct auth_apppass *ap_r, const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	memset(ap_r, 0, sizeof(*ap_r));
	if (store_prepare(s, "SELECT " APPPASS_COLUMNS " FROM apppass WHERE hash = ?", &stmt,
	                  error_r) < 0)
		return -1;
	bind_hash(stmt, 1, hash);
	rc = store_step(s, stmt);
	if (rc == SQLITE_ROW)
		apppass_from_row(stmt, ap_r);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_fail(s, "find app password", error_r);
}

int sqlite_apppass_touch(struct auth_store *store, int64_t id, time_t now, const char *ip,
                         const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;

	if (store_prepare(s, "UPDATE apppass SET last_used = ?, last_ip = ? WHERE id = ?", &stmt,
	                  error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, now);
	bind_text(stmt, 2, ip);
	sqlite3_bind_int64(stmt, 3, id);
	return store_run(s, stmt, error_r) < 0 ? -1 : 1;
}

int sqlite_apppass_revoke(struct auth_store *store, int64_t user_id, int64_t id,
                          const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s, "DELETE FROM apppass WHERE user_id = ? AND id = ?", &stmt, error_r) <
	    0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	sqlite3_bind_int64(stmt, 2, id);
	rc = store_run(s, stmt, error_r);
	return rc < 0 ? -1 : rc > 0;
}
