/*
 * The `sqlite` auth store module. Parameterised statements only; WAL. A statement that finds
 * the store locked by another process's write waits for it up to [auth] busy_timeout (SQLite's
 * busy handler, and a retry while that time is not used up: a stale WAL snapshot is reported
 * busy at once); after that the caller sees -1 (a TEMPFAIL login). Waiting, rather than failing
 * at once, keeps a login that meets another process's write from going uncounted.
 */
#include "auth/module.h"
#include "auth/store-sqlite-private.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const store_migrations[] = {
    /* version 1 */
    "CREATE TABLE users ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    " pwhash TEXT NOT NULL,"
    " enabled INTEGER NOT NULL DEFAULT 1,"
    " created INTEGER NOT NULL DEFAULT 0,"
    " locked_until INTEGER NOT NULL DEFAULT 0,"
    " lock_count INTEGER NOT NULL DEFAULT 0,"
    " stolen_signs INTEGER NOT NULL DEFAULT 0,"
    " last_login INTEGER NOT NULL DEFAULT 0,"
    " last_step INTEGER NOT NULL DEFAULT -1);"
    "CREATE TABLE factors ("
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " kind TEXT NOT NULL, pending INTEGER NOT NULL, data BLOB NOT NULL,"
    " PRIMARY KEY (user_id, kind, pending));"
    "CREATE TABLE recovery ("
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " hash BLOB NOT NULL, PRIMARY KEY (user_id, hash));"
    "CREATE TABLE apppass ("
    " id INTEGER PRIMARY KEY,"
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " hash BLOB NOT NULL UNIQUE, label TEXT NOT NULL, proto TEXT NOT NULL,"
    " created INTEGER NOT NULL, expires INTEGER NOT NULL DEFAULT 0,"
    " last_used INTEGER NOT NULL DEFAULT 0, last_ip TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE grace ("
    " hash BLOB PRIMARY KEY,"
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " expires INTEGER NOT NULL);"
    "CREATE TABLE failures ("
    " kind TEXT NOT NULL, key TEXT NOT NULL COLLATE NOCASE,"
    " count INTEGER NOT NULL, last INTEGER NOT NULL, PRIMARY KEY (kind, key));"
    "CREATE TABLE audit ("
    " id INTEGER PRIMARY KEY, time INTEGER NOT NULL, user TEXT NOT NULL,"
    " proto TEXT NOT NULL, ip TEXT NOT NULL, client_id TEXT NOT NULL,"
    " factor TEXT NOT NULL, result TEXT NOT NULL, reason TEXT NOT NULL,"
    " stolen INTEGER NOT NULL);"
    "CREATE INDEX audit_user ON audit(user, id);",
    /* version 2: failure counters carry their window's end and the time before the latest
     * (lockouts are derived from them); the users' own lockout columns go: a lockout in force
     * at the upgrade is lifted. */
    "ALTER TABLE failures ADD COLUMN prev INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE failures ADD COLUMN expires INTEGER NOT NULL DEFAULT 0;"
    "UPDATE failures SET expires = last + CASE kind WHEN 'ip' THEN 86400 ELSE 2592000 END;"
    "CREATE INDEX failures_expires ON failures(expires);"
    "ALTER TABLE users DROP COLUMN locked_until;"
    "ALTER TABLE users DROP COLUMN lock_count;",
};
#define STORE_VERSION ((int)(sizeof(store_migrations) / sizeof(store_migrations[0])))

/* Tables added since version 1 that need nothing of older data: made when missing at every
 * open, so that features added side by side never compete for a version number. */
static const char *const store_tables[] = {
    "CREATE TABLE IF NOT EXISTS webauthn_keys ("
    " id INTEGER PRIMARY KEY,"
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " cred_id BLOB NOT NULL UNIQUE, alg INTEGER NOT NULL, pubkey BLOB NOT NULL,"
    " sign_count INTEGER NOT NULL, label TEXT NOT NULL, created INTEGER NOT NULL,"
    " last_used INTEGER NOT NULL DEFAULT 0, last_ip TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX IF NOT EXISTS webauthn_keys_user ON webauthn_keys(user_id);",
    "CREATE TABLE IF NOT EXISTS webauthn_challenges ("
    " challenge BLOB PRIMARY KEY, purpose TEXT NOT NULL,"
    " user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,"
    " bound_id INTEGER NOT NULL, expires INTEGER NOT NULL);",
    "CREATE TABLE IF NOT EXISTS webauthn_invites ("
    " hash BLOB PRIMARY KEY,"
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " created INTEGER NOT NULL, expires INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0);",
    /* where users logged in from (familiar sources), codes they logged in with */
    "CREATE TABLE IF NOT EXISTS sources ("
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " source TEXT NOT NULL COLLATE NOCASE, last INTEGER NOT NULL,"
    " PRIMARY KEY (user_id, source));"
    "CREATE INDEX IF NOT EXISTS sources_last ON sources(last);",
    "CREATE TABLE IF NOT EXISTS used_codes ("
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " hash BLOB NOT NULL, time INTEGER NOT NULL, PRIMARY KEY (user_id, hash));"
    "CREATE INDEX IF NOT EXISTS used_codes_time ON used_codes(time);",
    "CREATE TABLE IF NOT EXISTS portal_sessions ("
    " hash BLOB PRIMARY KEY,"
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " level INTEGER NOT NULL, csrf TEXT NOT NULL,"
    " created INTEGER NOT NULL, expires INTEGER NOT NULL);",
    "CREATE TABLE IF NOT EXISTS yubikeys ("
    " id INTEGER PRIMARY KEY,"
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " public_id TEXT NOT NULL, sealed BLOB NOT NULL,"
    " counter INTEGER NOT NULL DEFAULT -1,"
    " created INTEGER NOT NULL, last_used INTEGER NOT NULL DEFAULT 0,"
    " UNIQUE (user_id, public_id));",
    /* logins held for the user's approval (auth/approval.h) */
    "CREATE TABLE IF NOT EXISTS approvals ("
    " id INTEGER PRIMARY KEY,"
    " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " proto TEXT NOT NULL, ip TEXT NOT NULL, client_id TEXT NOT NULL,"
    " created INTEGER NOT NULL, expires INTEGER NOT NULL,"
    " state INTEGER NOT NULL DEFAULT 0, decided INTEGER NOT NULL DEFAULT 0,"
    " preapprove INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS approvals_user ON approvals(user_id, created);",
};

/* ---- open / schema ---- */

static char store_open_error[600];

static int store_file_fail(const char **error_r, const char *path, const char *what)
{
	snprintf(store_open_error, sizeof(store_open_error), "auth store %s: %s", path, what);
	*error_r = store_open_error;
	return -1;
}

/* Creates the store file 0600, or checks the one that is there. */
static int store_create_file(const char *path, const char **error_r)
{
	struct stat st;
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600), rc;
	char what[128];

	if (fd < 0)
		return store_file_fail(error_r, path, strerror(errno));
	rc = fstat(fd, &st);
	close(fd);
	if (rc < 0)
		return store_file_fail(error_r, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return store_file_fail(error_r, path, "not a regular file");
	/* password hashes: like the key, refused when others may read them (SQLite gives the
	 * WAL and shared-memory files the same mode) */
	if ((st.st_mode & 077) != 0) {
		snprintf(
		    what, sizeof(what),
		    "accessible by group or others (mode %04o): refusing to use it, chmod 600 it",
		    (unsigned)(st.st_mode & 07777));
		return store_file_fail(error_r, path, what);
	}
	return 0;
}

static int store_migrate(struct sqlite_store *s, const char **error_r)
{
	sqlite3_stmt *stmt = NULL;
	int version, rc;

	if (store_exec(s, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	if (store_prepare(s, "PRAGMA user_version", &stmt, error_r) < 0)
		goto rollback;
	rc = store_step(s, stmt);
	version = rc == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : -1;
	sqlite3_finalize(stmt);
	if (version < 0 || version > STORE_VERSION) {
		snprintf(s->error, sizeof(s->error), "auth store: unknown schema version %d",
		         version);
		*error_r = s->error;
		goto rollback;
	}
	for (; version < STORE_VERSION; version++) {
		char pragma[64];

		if (store_exec(s, store_migrations[version], error_r) < 0)
			goto rollback;
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version + 1);
		if (store_exec(s, pragma, error_r) < 0)
			goto rollback;
	}
	for (size_t i = 0; i < sizeof(store_tables) / sizeof(store_tables[0]); i++)
		if (store_exec(s, store_tables[i], error_r) < 0)
			goto rollback;
	return store_exec(s, "COMMIT", error_r);
rollback:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* WAL with synchronous = NORMAL: a commit is a write() into the WAL, fsynced at checkpoints,
 * not per commit. Every write of a login (failure counts, lockout, replay step, audit) is
 * committed before the auth service answers, so a crash or kill of any twofold process never
 * loses one; only a crash of the machine (power, kernel) can lose the commits since the last
 * checkpoint, i.e. a few seconds of counts and audit lines, never a torn database. Per login
 * the store costs ~0.5 ms of CPU beside ~100 ms of Argon2 (perf, figure 2 of tests/bench), so
 * merging a login's statements into one transaction would not change login throughput; FULL
 * would block the auth process on an fsync per commit, to deny a few uncounted failures to an
 * attacker able to crash the machine. */
static int store_configure(struct sqlite_store *s, const char **error_r)
{
	sqlite3_busy_timeout(s->db, (int)s->busy_timeout_ms);
	if (store_exec(s, "PRAGMA journal_mode = WAL", error_r) < 0 ||
	    store_exec(s, "PRAGMA foreign_keys = ON", error_r) < 0 ||
	    store_exec(s, "PRAGMA synchronous = NORMAL", error_r) < 0 ||
	    store_exec(s, "PRAGMA secure_delete = ON", error_r) < 0)
		return -1;
	return store_migrate(s, error_r);
}

static void sqlite_close(struct auth_store **storep)
{
	struct sqlite_store *s = store_of(*storep);

	if (s == NULL)
		return;
	sqlite3_close_v2(s->db);
	free(s);
	*storep = NULL;
}

static int sqlite_open(const struct config *cfg, struct auth_store **store_r, const char **error_r)
{
	struct sqlite_store *s;
	static char errbuf[256];

	*store_r = NULL;
	if (store_create_file(cfg->auth_database, error_r) < 0)
		return -1;
	s = xcalloc(1, sizeof(*s));
	s->store.module = &auth_module_sqlite;
	s->busy_timeout_ms = cfg->auth_busy_timeout;
	if (sqlite3_open_v2(cfg->auth_database, &s->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL) != SQLITE_OK) {
		snprintf(errbuf, sizeof(errbuf), "cannot open %s: %s", cfg->auth_database,
		         sqlite3_errmsg(s->db));
		*error_r = errbuf;
		goto fail;
	}
	if (store_configure(s, error_r) < 0) {
		snprintf(errbuf, sizeof(errbuf), "%s", *error_r);
		*error_r = errbuf;
		goto fail;
	}
	*store_r = &s->store;
	return 0;
fail:
	sqlite3_close_v2(s->db);
	free(s);
	return -1;
}

/* ---- users ---- */

#define USER_COLUMNS "id, name, pwhash, enabled, created, last_login, stolen_signs"

static void user_from_row(sqlite3_stmt *stmt, struct auth_user *u)
{
	u->id = sqlite3_column_int64(stmt, 0);
	u->name = column_strdup(stmt, 1);
	u->pwhash = column_strdup(stmt, 2);
	u->enabled = sqlite3_column_int(stmt, 3) != 0;
	u->created = sqlite3_column_int64(stmt, 4);
	u->last_login = sqlite3_column_int64(stmt, 5);
	u->stolen_signs = (unsigned)sqlite3_column_int(stmt, 6);
}

static int sqlite_user_get(struct auth_store *store, const char *name, struct auth_user *user_r,
                           const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	memset(user_r, 0, sizeof(*user_r));
	if (store_prepare(s, "SELECT " USER_COLUMNS " FROM users WHERE name = ?", &stmt, error_r) <
	    0)
		return -1;
	bind_text(stmt, 1, name);
	rc = store_step(s, stmt);
	if (rc == SQLITE_ROW)
		user_from_row(stmt, user_r);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_fail(s, "read user", error_r);
}

static int sqlite_user_insert(struct sqlite_store *s, struct auth_user *user, const char **error_r)
{
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s,
	                  "INSERT INTO users (name, pwhash, enabled, created) VALUES (?, ?, ?, ?) "
	                  "ON CONFLICT (name) DO NOTHING",
	                  &stmt, error_r) < 0)
		return -1;
	bind_text(stmt, 1, user->name);
	bind_text(stmt, 2, user->pwhash);
	sqlite3_bind_int(stmt, 3, user->enabled);
	sqlite3_bind_int64(stmt, 4, user->created);
	rc = store_run(s, stmt, error_r);
	if (rc <= 0)
		return rc;
	user->id = sqlite3_last_insert_rowid(s->db);
	return 1;
}

static int sqlite_user_put(struct auth_store *store, struct auth_user *user, const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (user->id == 0)
		return sqlite_user_insert(s, user, error_r);
	/* OR IGNORE: a name another user has changes nothing (0), as an insert would */
	if (store_prepare(s, "UPDATE OR IGNORE users SET name = ?, pwhash = ?, enabled = ? WHERE id = ?",
	                  &stmt, error_r) < 0)
		return -1;
	bind_text(stmt, 1, user->name);
	bind_text(stmt, 2, user->pwhash);
	sqlite3_bind_int(stmt, 3, user->enabled);
	sqlite3_bind_int64(stmt, 4, user->id);
	rc = store_run(s, stmt, error_r);
	return rc < 0 ? -1 : rc > 0;
}

static int sqlite_user_del(struct auth_store *store, int64_t user_id, const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s, "DELETE FROM users WHERE id = ?", &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	rc = store_run(s, stmt, error_r);
	return rc < 0 ? -1 : rc > 0;
}

static int sqlite_user_list(struct auth_store *store, void (*cb)(const struct auth_user *, void *),
                            void *ctx, const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s, "SELECT " USER_COLUMNS " FROM users ORDER BY name", &stmt, error_r) <
	    0)
		return -1;
	while ((rc = store_step(s, stmt)) == SQLITE_ROW) {
		struct auth_user u;

		user_from_row(stmt, &u);
		cb(&u, ctx);
		auth_user_clear(&u);
	}
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 1 : store_fail(s, "list users", error_r);
}

/* ---- second factors ---- */

static int sqlite_factor_get(struct auth_store *store, int64_t user_id, const char *kind,
                             bool pending, unsigned char **data_r, size_t *len_r,
                             const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	*data_r = NULL;
	*len_r = 0;
	if (store_prepare(s,
	                  "SELECT data FROM factors WHERE user_id = ? AND kind = ? AND pending = ?",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	bind_text(stmt, 2, kind);
	sqlite3_bind_int(stmt, 3, pending);
	rc = store_step(s, stmt);
	if (rc == SQLITE_ROW && store_blob_copy(stmt, 0, data_r, len_r) < 0) {
		snprintf(s->error, sizeof(s->error),
		         "auth store: %s factor row of user %lld is empty or not a blob", kind,
		         (long long)user_id);
		*error_r = s->error;
		sqlite3_finalize(stmt);
		return -1;
	}
	sqlite3_finalize(stmt);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_fail(s, "read factor", error_r);
}

static int sqlite_factor_put(struct auth_store *store, int64_t user_id, const char *kind,
                             bool pending, const unsigned char *data, size_t len,
                             const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;

	if (store_prepare(s,
	                  "INSERT OR REPLACE INTO factors (user_id, kind, pending, data) "
	                  "VALUES (?, ?, ?, ?)",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	bind_text(stmt, 2, kind);
	sqlite3_bind_int(stmt, 3, pending);
	sqlite3_bind_blob(stmt, 4, data, (int)len, SQLITE_TRANSIENT);
	return store_run(s, stmt, error_r) < 0 ? -1 : 1;
}

static int sqlite_factor_del(struct auth_store *store, int64_t user_id, const char *kind,
                             bool pending, const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s, "DELETE FROM factors WHERE user_id = ? AND kind = ? AND pending = ?",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	bind_text(stmt, 2, kind);
	sqlite3_bind_int(stmt, 3, pending);
	rc = store_run(s, stmt, error_r);
	return rc < 0 ? -1 : rc > 0;
}

/* ---- YubiKeys ---- */

#define YUBIKEY_COLUMNS "id, user_id, public_id, sealed, counter, created, last_used"

static void yubikey_from_row(sqlite3_stmt *stmt, struct auth_yubikey *yk)
{
	const unsigned char *pub = sqlite3_column_text(stmt, 2);

	memset(yk, 0, sizeof(*yk));
	yk->id = sqlite3_column_int64(stmt, 0);
	yk->user_id = sqlite3_column_int64(stmt, 1);
	snprintf(yk->public_id, sizeof(yk->public_id), "%s", pub != NULL ? (const char *)pub : "");
	yk->sealed_len = (size_t)sqlite3_column_bytes(stmt, 3);
	yk->sealed = xmalloc(yk->sealed_len > 0 ? yk->sealed_len : 1);
	if (yk->sealed_len > 0)
		memcpy(yk->sealed, sqlite3_column_blob(stmt, 3), yk->sealed_len);
	yk->counter = sqlite3_column_int64(stmt, 4);
	yk->created = sqlite3_column_int64(stmt, 5);
	yk->last_used = sqlite3_column_int64(stmt, 6);
}

static int sqlite_yubikey_add(struct auth_store *store, const struct auth_yubikey *yk,
                              const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s,
	                  "INSERT INTO yubikeys (user_id, public_id, sealed, created) "
	                  "VALUES (?, ?, ?, ?) ON CONFLICT (user_id, public_id) DO NOTHING",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, yk->user_id);
	bind_text(stmt, 2, yk->public_id);
	sqlite3_bind_blob(stmt, 3, yk->sealed, (int)yk->sealed_len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 4, yk->created);
	rc = store_run(s, stmt, error_r);
	return rc < 0 ? -1 : rc > 0;
}

static int sqlite_yubikey_find(struct auth_store *store, int64_t user_id, const char *public_id,
                               struct auth_yubikey *yk_r, const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	memset(yk_r, 0, sizeof(*yk_r));
	if (store_prepare(
	        s, "SELECT " YUBIKEY_COLUMNS " FROM yubikeys WHERE user_id = ? AND public_id = ?",
	        &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	bind_text(stmt, 2, public_id);
	rc = store_step(s, stmt);
	if (rc == SQLITE_ROW)
		yubikey_from_row(stmt, yk_r);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_fail(s, "find YubiKey", error_r);
}

static int sqlite_yubikey_list(struct auth_store *store, int64_t user_id,
                               void (*cb)(const struct auth_yubikey *, void *), void *ctx,
                               const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s,
	                  "SELECT " YUBIKEY_COLUMNS " FROM yubikeys WHERE user_id = ? ORDER BY id",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	while ((rc = store_step(s, stmt)) == SQLITE_ROW) {
		struct auth_yubikey yk;

		yubikey_from_row(stmt, &yk);
		cb(&yk, ctx);
		auth_yubikey_clear(&yk);
	}
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 1 : store_fail(s, "list YubiKeys", error_r);
}

static int sqlite_yubikey_count(struct auth_store *store, int64_t user_id, unsigned *count_r,
                                const char **error_r)
{
	return store_count(store_of(store), "SELECT count(*) FROM yubikeys WHERE user_id = ?",
	                   user_id, count_r, error_r);
}

static int sqlite_yubikey_use(struct auth_store *store, int64_t id, int64_t counter, time_t now,
                              const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s,
	                  "UPDATE yubikeys SET counter = ?1, last_used = ?2 "
	                  "WHERE id = ?3 AND counter < ?1",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, counter);
	sqlite3_bind_int64(stmt, 2, now);
	sqlite3_bind_int64(stmt, 3, id);
	rc = store_run(s, stmt, error_r);
	return rc < 0 ? -1 : rc == 1;
}

static int sqlite_yubikey_remove(struct auth_store *store, int64_t user_id, const char *public_id,
                                 const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s, "DELETE FROM yubikeys WHERE user_id = ? AND public_id = ?", &stmt,
	                  error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	bind_text(stmt, 2, public_id);
	rc = store_run(s, stmt, error_r);
	return rc < 0 ? -1 : rc > 0;
}

/* ---- replay, grace ---- */

static int sqlite_replay_check_and_set(struct auth_store *store, int64_t user_id, int64_t step,
                                       const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s, "UPDATE users SET last_step = ? WHERE id = ? AND last_step < ?", &stmt,
	                  error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, step);
	sqlite3_bind_int64(stmt, 2, user_id);
	sqlite3_bind_int64(stmt, 3, step);
	rc = store_run(s, stmt, error_r);
	return rc < 0 ? -1 : rc == 1;
}

static int sqlite_grace_check(struct auth_store *store, const unsigned char hash[AUTH_HASH_LEN],
                              time_t now, const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;

	if (store_prepare(s, "SELECT 1 FROM grace WHERE hash = ? AND expires > ?", &stmt, error_r) <
	    0)
		return -1;
	bind_hash(stmt, 1, hash);
	sqlite3_bind_int64(stmt, 2, now);
	return store_exists(s, stmt, "read grace", error_r);
}

static int sqlite_grace_put(struct auth_store *store, int64_t user_id,
                            const unsigned char hash[AUTH_HASH_LEN], time_t now, time_t expires,
                            const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;

	/* Expired entries of this user go at the same time. */
	if (store_prepare(s, "DELETE FROM grace WHERE user_id = ? AND expires <= ?", &stmt,
	                  error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	sqlite3_bind_int64(stmt, 2, now);
	if (store_run(s, stmt, error_r) < 0)
		return -1;
	if (store_prepare(s,
	                  "INSERT OR REPLACE INTO grace (hash, user_id, expires) VALUES (?, ?, ?)",
	                  &stmt, error_r) < 0)
		return -1;
	bind_hash(stmt, 1, hash);
	sqlite3_bind_int64(stmt, 2, user_id);
	sqlite3_bind_int64(stmt, 3, expires);
	return store_run(s, stmt, error_r) < 0 ? -1 : 1;
}

static int sqlite_grace_clear(struct auth_store *store, int64_t user_id, const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;

	if (store_prepare(s, "DELETE FROM grace WHERE user_id = ?", &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	return store_run(s, stmt, error_r) < 0 ? -1 : 1;
}

/* ---- failures ---- */

static void failure_from_row(sqlite3_stmt *stmt, struct auth_failure *f)
{
	f->count = (unsigned)sqlite3_column_int(stmt, 0);
	f->last = sqlite3_column_int64(stmt, 1);
	f->prev = sqlite3_column_int64(stmt, 2);
}

static int sqlite_failure_get(struct auth_store *store, const char *kind, const char *key,
                              time_t now, struct auth_failure *f_r, const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	memset(f_r, 0, sizeof(*f_r));
	if (store_prepare(s,
	                  "SELECT count, last, prev FROM failures "
	                  "WHERE kind = ? AND key = ? AND expires >= ?",
	                  &stmt, error_r) < 0)
		return -1;
	bind_text(stmt, 1, kind);
	bind_text(stmt, 2, key);
	sqlite3_bind_int64(stmt, 3, now);
	rc = store_step(s, stmt);
	if (rc == SQLITE_ROW)
		failure_from_row(stmt, f_r);
	sqlite3_finalize(stmt);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : store_fail(s, "read failures", error_r);
}

static int sqlite_failure_record(struct auth_store *store, const char *kind, const char *key,
                                 time_t now, time_t window, struct auth_failure *f_r,
                                 const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	memset(f_r, 0, sizeof(*f_r));
	if (store_prepare(s,
	                  "INSERT INTO failures (kind, key, count, last, prev, expires) "
	                  "VALUES (?1, ?2, 1, ?3, 0, ?3 + ?4) "
	                  "ON CONFLICT (kind, key) DO UPDATE SET "
	                  "count = CASE WHEN expires < ?3 THEN 1 ELSE count + 1 END, "
	                  "prev = CASE WHEN expires < ?3 THEN 0 ELSE last END, "
	                  "last = ?3, expires = ?3 + ?4 "
	                  "RETURNING count, last, prev",
	                  &stmt, error_r) < 0)
		return -1;
	bind_text(stmt, 1, kind);
	bind_text(stmt, 2, key);
	sqlite3_bind_int64(stmt, 3, now);
	sqlite3_bind_int64(stmt, 4, window);
	rc = store_step(s, stmt);
	if (rc == SQLITE_ROW) {
		failure_from_row(stmt, f_r);
		rc = store_step(s, stmt);
	}
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 1 : store_fail(s, "record failure", error_r);
}

static int sqlite_failure_restore(struct auth_store *store, const char *kind, const char *key,
                                  const struct auth_failure *from, const struct auth_failure *to,
                                  const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(s,
	                  "UPDATE failures SET count = ?1, last = ?2, prev = ?3 "
	                  "WHERE kind = ?4 AND key = ?5 AND count = ?6 AND last = ?7 AND prev = ?8",
	                  &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int(stmt, 1, (int)to->count);
	sqlite3_bind_int64(stmt, 2, to->last);
	sqlite3_bind_int64(stmt, 3, to->prev);
	bind_text(stmt, 4, kind);
	bind_text(stmt, 5, key);
	sqlite3_bind_int(stmt, 6, (int)from->count);
	sqlite3_bind_int64(stmt, 7, from->last);
	sqlite3_bind_int64(stmt, 8, from->prev);
	rc = store_run(s, stmt, error_r);
	return rc < 0 ? -1 : rc > 0;
}

static int sqlite_failure_reset(struct auth_store *store, const char *kind, const char *key,
                                const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;

	if (store_prepare(s, "DELETE FROM failures WHERE kind = ? AND key = ?", &stmt, error_r) < 0)
		return -1;
	bind_text(stmt, 1, kind);
	bind_text(stmt, 2, key);
	return store_run(s, stmt, error_r) < 0 ? -1 : 1;
}

static int sqlite_failure_reset_prefix(struct auth_store *store, const char *kind,
                                       const char *prefix, const char **error_r)
{
	struct sqlite_store *s = store_of(store);
	sqlite3_stmt *stmt;

	if (store_prepare(s,
	                  "DELETE FROM failures WHERE kind = ?1 "
	                  "AND substr(key, 1, length(?2)) = ?2 COLLATE NOCASE",
	                  &stmt, error_r) < 0)
		return -1;
	bind_text(stmt, 1, kind);
	bind_text(stmt, 2, prefix);
	return store_run(s, stmt, error_r) < 0 ? -1 : 1;
}

/* ---- logins, alarms ---- */

static int store_user_update(struct sqlite_store *s, const char *sql, int64_t user_id,
                             const int64_t *arg, const char **error_r)
{
	sqlite3_stmt *stmt;

	if (store_prepare(s, sql, &stmt, error_r) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, user_id);
	if (arg != NULL)
		sqlite3_bind_int64(stmt, 2, *arg);
	return store_run(s, stmt, error_r) < 0 ? -1 : 1;
}

static int sqlite_login_success(struct auth_store *store, int64_t user_id, time_t now,
                                const char **error_r)
{
	int64_t t = now;

	return store_user_update(store_of(store), "UPDATE users SET last_login = ?2 WHERE id = ?1",
	                         user_id, &t, error_r);
}

static int sqlite_stolen_mark(struct auth_store *store, int64_t user_id, const char **error_r)
{
	return store_user_update(store_of(store),
	                         "UPDATE users SET stolen_signs = stolen_signs + 1 WHERE id = ?1",
	                         user_id, NULL, error_r);
}

static int sqlite_stolen_clear(struct auth_store *store, int64_t user_id, const char **error_r)
{
	return store_user_update(store_of(store), "UPDATE users SET stolen_signs = 0 WHERE id = ?1",
	                         user_id, NULL, error_r);
}

/* ---- housekeeping ---- */

static int sqlite_prune(struct auth_store *store, const struct auth_prune *l, const char **error_r)
{
	struct sqlite_store *s = store_of(store);

	if (store_delete(s, "DELETE FROM failures WHERE expires < ?1", l->failures_before, 0,
	                 error_r) < 0 ||
	    store_delete(s, "DELETE FROM grace WHERE expires < ?1", l->grace_before, 0, error_r) <
	        0 ||
	    store_delete(s, "DELETE FROM sources WHERE last < ?1", l->sources_before, 0, error_r) <
	        0 ||
	    store_delete(s, "DELETE FROM used_codes WHERE time < ?1", l->used_codes_before, 0,
	                 error_r) < 0 ||
	    store_delete(s, "DELETE FROM audit WHERE time < ?1", l->audit_before, 0, error_r) < 0 ||
	    store_delete(s, "DELETE FROM portal_sessions WHERE expires < ?1",
	                 l->portal_sessions_before, 0, error_r) < 0 ||
	    store_delete(s, "DELETE FROM approvals WHERE created < ?1", l->approvals_before, 0,
	                 error_r) < 0)
		return -1;
	if (l->audit_max_rows == 0)
		return 1;
	/* ids only grow: the newest audit_max_rows rows are the top ids */
	if (store_delete(s, "DELETE FROM audit WHERE id <= (SELECT max(id) FROM audit) - ?1",
	                 l->audit_max_rows, 0, error_r) < 0)
		return -1;
	return 1;
}

const struct auth_module auth_module_sqlite = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .user_get = sqlite_user_get,
    .user_put = sqlite_user_put,
    .user_del = sqlite_user_del,
    .user_list = sqlite_user_list,
    .factor_get = sqlite_factor_get,
    .factor_put = sqlite_factor_put,
    .factor_del = sqlite_factor_del,
    .recovery_replace = sqlite_recovery_replace,
    .recovery_use = sqlite_recovery_use,
    .recovery_count = sqlite_recovery_count,
    .apppass_add = sqlite_apppass_add,
    .apppass_list = sqlite_apppass_list,
    .apppass_find = sqlite_apppass_find,
    .apppass_touch = sqlite_apppass_touch,
    .apppass_revoke = sqlite_apppass_revoke,
    .webauthn_add = sqlite_webauthn_add,
    .webauthn_list = sqlite_webauthn_list,
    .webauthn_any = sqlite_webauthn_any,
    .webauthn_find = sqlite_webauthn_find,
    .webauthn_use = sqlite_webauthn_use,
    .webauthn_rename = sqlite_webauthn_rename,
    .webauthn_remove = sqlite_webauthn_remove,
    .challenge_put = sqlite_challenge_put,
    .challenge_take = sqlite_challenge_take,
    .invite_put = sqlite_invite_put,
    .invite_take = sqlite_invite_take,
    .yubikey_add = sqlite_yubikey_add,
    .yubikey_find = sqlite_yubikey_find,
    .yubikey_list = sqlite_yubikey_list,
    .yubikey_count = sqlite_yubikey_count,
    .yubikey_use = sqlite_yubikey_use,
    .yubikey_remove = sqlite_yubikey_remove,
    .approval_open = sqlite_approval_open,
    .approval_get = sqlite_approval_get,
    .approval_list = sqlite_approval_list,
    .approval_decide = sqlite_approval_decide,
    .replay_check_and_set = sqlite_replay_check_and_set,
    .grace_check = sqlite_grace_check,
    .grace_put = sqlite_grace_put,
    .grace_clear = sqlite_grace_clear,
    .failure_get = sqlite_failure_get,
    .failure_record = sqlite_failure_record,
    .failure_restore = sqlite_failure_restore,
    .failure_reset = sqlite_failure_reset,
    .failure_reset_prefix = sqlite_failure_reset_prefix,
    .login_success = sqlite_login_success,
    .stolen_mark = sqlite_stolen_mark,
    .stolen_clear = sqlite_stolen_clear,
    .source_put = sqlite_source_put,
    .source_get = sqlite_source_get,
    .used_code_put = sqlite_used_code_put,
    .used_code_check = sqlite_used_code_check,
    .audit_append = sqlite_audit_append,
    .audit_list = sqlite_audit_list,
    .portal_session_put = sqlite_portal_session_put,
    .portal_session_get = sqlite_portal_session_get,
    .portal_session_del = sqlite_portal_session_del,
    .prune = sqlite_prune,
};
