/* The `sqlite` auth store: security keys (WebAuthn credentials), the challenges issued for
 * them and the single-use invites to register one. */
#include "auth/store-sqlite-private.h"
#include "common/xalloc.h"

#include <sodium.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* Live challenges kept per user and purpose: a page reloaded many times cannot grow the table. */
#define STORE_CHALLENGES_KEPT 8

#define WEBAUTHN_COLUMNS                                                                           \
	"id, user_id, cred_id, alg, pubkey, sign_count, label, created, last_used, last_ip"

static unsigned char *column_blob(sqlite3_stmt *stmt, int col, size_t *len_r)
{
	size_t len = (size_t)sqlite3_column_bytes(stmt, col);
	unsigned char *p = xmalloc(len > 0 ? len : 1);

	if (len > 0)
		memcpy(p, sqlite3_column_blob(stmt, col), len);
	*len_r = len;
	return p;
}

static void webauthn_from_row(sqlite3_stmt *stmt, struct auth_webauthn *k)
{
	memset(k, 0, sizeof(*k));
	k->id = sqlite3_column_int64(stmt, 0);
	k->user_id = sqlite3_column_int64(stmt, 1);
	k->cred_id = column_blob(stmt, 2, &k->cred_id_len);
	k->alg = sqlite3_column_int(stmt, 3);
	k->pubkey = column_blob(stmt, 4, &k->pubkey_len);
	k->sign_count = (uint32_t)sqlite3_column_int64(stmt, 5);
	k->label = column_strdup(stmt, 6);
	k->created = sqlite3_column_int64(stmt, 7);
	k->last_used = sqlite3_column_int64(stmt, 8);
	k->last_ip = column_strdup(stmt, 9);
}

int sqlite_webauthn_add(struct auth_store *store, const struct auth_webauthn *k, int64_t *id_r,
                        const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s,
	                  "INSERT INTO webauthn_keys (user_id, cred_id, alg, pubkey, sign_count, "
	                  "label, created) VALUES (?, ?, ?, ?, ?, ?, ?) "
	                  "ON CONFLICT (cred_id) DO NOTHING",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, k->user_id);
	sqlite3_bind_blob(stmt, 2, k->cred_id, (int)k->cred_id_len, SQLITE_TRANSIENT);
	sqlite3_bind_int(stmt, 3, k->alg);
	sqlite3_bind_blob(stmt, 4, k->pubkey, (int)k->pubkey_len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 5, k->sign_count);
	bind_text(stmt, 6, k->label);
	sqlite3_bind_int64(stmt, 7, k->created);
	rc = store_run(s, stmt, error_r);
	if (rc <= 0)
		return rc;
	*id_r = sqlite3_last_insert_rowid(s->db);
	return 1;
}

int sqlite_webauthn_list(struct auth_store *store, int64_t user_id,
                         void (*cb)(const struct auth_webauthn *, void *), void *ctx,
                         const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s,
	                  "SELECT " WEBAUTHN_COLUMNS " FROM webauthn_keys WHERE user_id = ? "
	                  "ORDER BY id",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	while ((rc = store_step(s, stmt)) == SQLITE_ROW) {
		struct auth_webauthn k;

		webauthn_from_row(stmt, &k);
		cb(&k, ctx);
		auth_webauthn_clear(&k);
	}
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 1 : store_fail(s, "list security keys", error_r);
}

/* Whether anyone has a security key: held logins exist only then. */
int sqlite_webauthn_any(struct auth_store *store, const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;

	if (store_prepare(s, "SELECT 1 FROM webauthn_keys LIMIT 1", &stmt, error_r) < 0)
		return -1;
	return store_exists(s, stmt, "look for security keys", error_r);
}

int sqlite_webauthn_find(struct auth_store *store, const unsigned char *cred_id, size_t len,
                         struct auth_webauthn *k_r, const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	memset(k_r, 0, sizeof(*k_r));
	if (store_prepare(s, "SELECT " WEBAUTHN_COLUMNS " FROM webauthn_keys WHERE cred_id = ?",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_blob(stmt, 1, cred_id, (int)len, SQLITE_TRANSIENT);
	rc = store_step(s, stmt);
	if (rc == SQLITE_ROW)
		webauthn_from_row(stmt, k_r);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_fail(s, "find security key", error_r);
}

int sqlite_webauthn_use(struct auth_store *store, int64_t id, uint32_t sign_count, time_t now,
                        const char *ip, const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s,
	                  "UPDATE webauthn_keys SET sign_count = ?2, last_used = ?3, last_ip = ?4 "
	                  "WHERE id = ?1 AND (sign_count < ?2 OR (sign_count = 0 AND ?2 = 0))",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_int64(stmt, 2, sign_count);
	sqlite3_bind_int64(stmt, 3, now);
	bind_text(stmt, 4, ip);
	rc = store_run(s, stmt, error_r);
	return rc < 0 ? -1 : rc == 1;
}

int sqlite_webauthn_rename(struct auth_store *store, int64_t user_id, int64_t id, const char *label,
                           const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s, "UPDATE webauthn_keys SET label = ? WHERE user_id = ? AND id = ?",
	                  &stmt, error_r) < 0)
		return -1;
	bind_text(stmt, 1, label);
	sqlite3_bind_int64(stmt, 2, user_id);
	sqlite3_bind_int64(stmt, 3, id);
	rc = store_run(s, stmt, error_r);
	return rc < 0 ? -1 : rc > 0;
}

int sqlite_webauthn_remove(struct auth_store *store, int64_t user_id, int64_t id,
                           const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s, "DELETE FROM webauthn_keys WHERE user_id = ? AND id = ?", &stmt,
	                  error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	sqlite3_bind_int64(stmt, 2, id);
	rc = store_run(s, stmt, error_r);
	return rc < 0 ? -1 : rc > 0;
}

/* ---- WebAuthn challenges and enrolment invites ---- */

/* A user id column that is NULL for "no user" (0), so that the foreign key holds. */
static void bind_user(sqlite3_stmt *stmt, int idx, int64_t user_id)
{
	if (user_id == 0)
		sqlite3_bind_null(stmt, idx);
	else
		sqlite3_bind_int64(stmt, idx, user_id);
}

/* Expired challenges, and all but the newest few of this user and purpose. */
static int challenge_forget(struct sqlite_store *s, const struct auth_challenge *c, time_t now,
                            const char **error_r)
{
	sqlite3_stmt *stmt;

	if (store_prepare(s,
	                  "DELETE FROM webauthn_challenges WHERE expires <= ?1 OR "
	                  "(user_id IS ?2 AND purpose = ?3 AND challenge NOT IN "
	                  "(SELECT challenge FROM webauthn_challenges WHERE user_id IS ?2 AND "
	                  "purpose = ?3 ORDER BY expires DESC LIMIT ?4))",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, now);
	bind_user(stmt, 2, c->user_id);
	bind_text(stmt, 3, c->purpose);
	sqlite3_bind_int(stmt, 4, STORE_CHALLENGES_KEPT - 1);
	return store_run(s, stmt, error_r) < 0 ? -1 : 0;
}

int sqlite_challenge_put(struct auth_store *store, const struct auth_challenge *c, time_t now,
                         const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;

	if (challenge_forget(s, c, now, error_r) < 0 ||
	    store_prepare(s,
	                  "INSERT INTO webauthn_challenges (challenge, purpose, user_id, bound_id, "
	                  "expires) VALUES (?, ?, ?, ?, ?)",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_blob(stmt, 1, c->challenge, AUTH_CHALLENGE_LEN, SQLITE_TRANSIENT);
	bind_text(stmt, 2, c->purpose);
	bind_user(stmt, 3, c->user_id);
	sqlite3_bind_int64(stmt, 4, c->bound_id);
	sqlite3_bind_int64(stmt, 5, c->expires);
	return store_run(s, stmt, error_r) < 0 ? -1 : 1;
}

int sqlite_challenge_take(struct auth_store *store,
                          const unsigned char challenge[AUTH_CHALLENGE_LEN], const char *purpose,
                          int64_t user_id, time_t now, struct auth_challenge *c_r,
                          const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	memset(c_r, 0, sizeof(*c_r));
	if (store_prepare(s,
	                  "DELETE FROM webauthn_challenges WHERE challenge = ? AND purpose = ? AND "
	                  "user_id IS ? RETURNING bound_id, expires",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_blob(stmt, 1, challenge, AUTH_CHALLENGE_LEN, SQLITE_TRANSIENT);
	bind_text(stmt, 2, purpose);
	bind_user(stmt, 3, user_id);
	rc = store_step(s, stmt);
	if (rc == SQLITE_ROW) {
		memcpy(c_r->challenge, challenge, AUTH_CHALLENGE_LEN);
		snprintf(c_r->purpose, sizeof(c_r->purpose), "%s", purpose);
		c_r->user_id = user_id;
		c_r->bound_id = sqlite3_column_int64(stmt, 0);
		c_r->expires = sqlite3_column_int64(stmt, 1);
		rc = store_step(s, stmt);
	} else if (rc == SQLITE_DONE) {
		c_r->expires = 0; /* none: reads as expired below */
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(s, "take challenge", error_r);
	return c_r->expires > now ? 1 : 0;
}

/* Invites past their expiry, used or not, are of no further use. */
static int invite_forget(struct sqlite_store *s, time_t now, const char **error_r)
{
	sqlite3_stmt *stmt;

	if (store_prepare(s, "DELETE FROM webauthn_invites WHERE expires <= ?", &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, now);
	return store_run(s, stmt, error_r) < 0 ? -1 : 0;
}

int sqlite_invite_put(struct auth_store *store, const unsigned char hash[AUTH_HASH_LEN],
                      int64_t user_id, time_t now, time_t expires, const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;

	if (invite_forget(s, now, error_r) < 0 ||
	    store_prepare(s,
	                  "INSERT INTO webauthn_invites (hash, user_id, created, expires) "
	                  "VALUES (?, ?, ?, ?)",
	                  &stmt, error_r) < 0)
		return -1;
	bind_hash(stmt, 1, hash);
	sqlite3_bind_int64(stmt, 2, user_id);
	sqlite3_bind_int64(stmt, 3, now);
	sqlite3_bind_int64(stmt, 4, expires);
	return store_run(s, stmt, error_r) < 0 ? -1 : 1;
}

int sqlite_invite_take(struct auth_store *store, const unsigned char hash[AUTH_HASH_LEN],
                       time_t now, int64_t *user_id_r, const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc, taken = 0;

	*user_id_r = 0;
	if (store_prepare(s,
	                  "UPDATE webauthn_invites SET used = ?2 WHERE hash = ?1 AND used = 0 AND "
	                  "expires > ?2 RETURNING user_id",
	                  &stmt, error_r) < 0)
		return -1;
	bind_hash(stmt, 1, hash);
	sqlite3_bind_int64(stmt, 2, now);
	rc = store_step(s, stmt);
	if (rc == SQLITE_ROW) {
		*user_id_r = sqlite3_column_int64(stmt, 0);
		taken = 1;
		rc = store_step(s, stmt);
	}
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? taken : store_fail(s, "take invite", error_r);
}
