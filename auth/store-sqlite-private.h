/*
 * What the files of the `sqlite` auth store module share: the store, the statement helpers
 * (store-sqlite-stmt.c) and the module functions of each group of tables, which
 * store-sqlite.c puts into auth_module_sqlite.
 */
#ifndef TWOFOLD_AUTH_STORE_SQLITE_PRIVATE_H
#define TWOFOLD_AUTH_STORE_SQLITE_PRIVATE_H

#include "auth/module.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct sqlite_store {
	struct auth_store store;
	sqlite3 *db;
	long busy_timeout_ms;
	char error[256];
};

static inline struct sqlite_store *store_of(struct auth_store *store)
{
	return (struct sqlite_store *)store;
}

/* ---- statements (store-sqlite-stmt.c) ---- */

int store_fail(struct sqlite_store *s, const char *what, const char **error_r);
int store_step(const struct sqlite_store *s, sqlite3_stmt *stmt);
int store_prepare(struct sqlite_store *s, const char *sql, sqlite3_stmt **stmt_r,
                  const char **error_r);
int store_run(struct sqlite_store *s, sqlite3_stmt *stmt, const char **error_r);
int store_exec(struct sqlite_store *s, const char *sql, const char **error_r);
int store_delete(struct sqlite_store *s, const char *sql, int64_t a, int64_t b,
                 const char **error_r);
void bind_text(sqlite3_stmt *stmt, int idx, const char *text);
void bind_hash(sqlite3_stmt *stmt, int idx, const unsigned char hash[AUTH_HASH_LEN]);
int store_blob_copy(sqlite3_stmt *stmt, int col, unsigned char **data_r, size_t *len_r);
char *column_strdup(sqlite3_stmt *stmt, int col);
int store_exists(struct sqlite_store *s, sqlite3_stmt *stmt, const char *what,
                 const char **error_r);
int store_count(struct sqlite_store *s, const char *sql, int64_t id, unsigned *count_r,
                const char **error_r);

/* ---- recovery codes, app passwords (store-sqlite-codes.c) ---- */

int sqlite_recovery_replace(struct auth_store *store, int64_t user_id,
                            const unsigned char (*hashes)[AUTH_HASH_LEN], unsigned count,
                            const char **error_r);
int sqlite_recovery_use(struct auth_store *store, int64_t user_id,
                        const unsigned char hash[AUTH_HASH_LEN], const char **error_r);
int sqlite_recovery_count(struct auth_store *store, int64_t user_id, unsigned *count_r,
                          const char **error_r);
int sqlite_apppass_add(struct auth_store *store, const struct auth_apppass *ap, int64_t *id_r,
                       const char **error_r);
int sqlite_apppass_list(struct auth_store *store, int64_t user_id,
                        void (*cb)(const struct auth_apppass *, void *), void *ctx,
                        const char **error_r);
int sqlite_apppass_find(struct auth_store *store, const unsigned char hash[AUTH_HASH_LEN],
                        struct auth_apppass *ap_r, const char **error_r);
int sqlite_apppass_touch(struct auth_store *store, int64_t id, time_t now, const char *ip,
                         const char **error_r);
int sqlite_apppass_revoke(struct auth_store *store, int64_t user_id, int64_t id,
                          const char **error_r);

/* ---- held logins (store-sqlite-approval.c) ---- */

int sqlite_approval_open(struct auth_store *store, const struct auth_approval *a, time_t since,
                         unsigned max, int64_t *id_r, unsigned *recent_r, const char **error_r);
int sqlite_approval_get(struct auth_store *store, int64_t id, struct auth_approval *a_r,
                        const char **error_r);
int sqlite_approval_list(struct auth_store *store, int64_t user_id, time_t now,
                         void (*cb)(const struct auth_approval *, void *), void *ctx,
                         const char **error_r);
int sqlite_approval_decide(struct auth_store *store, int64_t user_id, int64_t id,
                           enum auth_approval_state state, unsigned preapprove, time_t now,
                           const char **error_r);

/* ---- familiar sources, used codes, the audit log (store-sqlite-log.c) ---- */

int sqlite_source_put(struct auth_store *store, int64_t user_id, const char *source, time_t now,
                      const char **error_r);
int sqlite_source_get(struct auth_store *store, int64_t user_id, const char *source, time_t *last_r,
                      const char **error_r);
int sqlite_used_code_put(struct auth_store *store, int64_t user_id,
                         const unsigned char hash[AUTH_HASH_LEN], time_t now, unsigned keep,
                         const char **error_r);
int sqlite_used_code_check(struct auth_store *store, int64_t user_id,
                           const unsigned char hash[AUTH_HASH_LEN], time_t since,
                           const char **error_r);
int sqlite_audit_append(struct auth_store *store, const struct admin_log_entry *e,
                        const char **error_r);
int sqlite_audit_list(struct auth_store *store, const char *name, unsigned limit,
                      void (*cb)(const struct admin_log_entry *, void *), void *ctx,
                      const char **error_r);

/* ---- security keys, their challenges and invites (store-sqlite-keys.c) ---- */

int sqlite_webauthn_add(struct auth_store *store, const struct auth_webauthn *k, int64_t *id_r,
                        const char **error_r);
int sqlite_webauthn_list(struct auth_store *store, int64_t user_id,
                         void (*cb)(const struct auth_webauthn *, void *), void *ctx,
                         const char **error_r);
int sqlite_webauthn_any(struct auth_store *store, const char **error_r);
int sqlite_webauthn_find(struct auth_store *store, const unsigned char *cred_id, size_t len,
                         struct auth_webauthn *k_r, const char **error_r);
int sqlite_webauthn_use(struct auth_store *store, int64_t id, uint32_t sign_count, time_t now,
                        const char *ip, const char **error_r);
int sqlite_webauthn_rename(struct auth_store *store, int64_t user_id, int64_t id, const char *label,
                           const char **error_r);
int sqlite_webauthn_remove(struct auth_store *store, int64_t user_id, int64_t id,
                           const char **error_r);
int sqlite_challenge_put(struct auth_store *store, const struct auth_challenge *c, time_t now,
                         const char **error_r);
int sqlite_challenge_take(struct auth_store *store,
                          const unsigned char challenge[AUTH_CHALLENGE_LEN], const char *purpose,
                          int64_t user_id, time_t now, struct auth_challenge *c_r,
                          const char **error_r);
int sqlite_invite_put(struct auth_store *store, const unsigned char hash[AUTH_HASH_LEN],
                      int64_t user_id, time_t now, time_t expires, const char **error_r);
int sqlite_invite_take(struct auth_store *store, const unsigned char hash[AUTH_HASH_LEN],
                       time_t now, int64_t *user_id_r, const char **error_r);

/* ---- portal sessions (store-sqlite-portal.c) ---- */

int sqlite_portal_session_put(struct auth_store *store, const struct auth_portal_session *ps,
                              const char **error_r);
int sqlite_portal_session_get(struct auth_store *store, const unsigned char hash[AUTH_HASH_LEN],
                              time_t now, struct auth_portal_session *ps, const char **error_r);
int sqlite_portal_session_del(struct auth_store *store, const unsigned char hash[AUTH_HASH_LEN],
                              const char **error_r);

#endif
