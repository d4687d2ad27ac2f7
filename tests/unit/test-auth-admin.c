/* The auth store, the server key and the admin functions. */
#include "test-auth-env.h"
#include "auth/factor.h"
#include "auth/secretkey.h"

#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/wait.h>

static void test_module_registry(void **state)
{
	(void)state;
	assert_ptr_equal(auth_module_find("sqlite"), &auth_module_sqlite);
	assert_string_equal(auth_module_sqlite.name, "sqlite");
	assert_null(auth_module_find("nosuch"));
}

static int pragma_int(sqlite3 *db, const char *sql, char *text, size_t len)
{
	sqlite3_stmt *stmt;
	int v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	v = sqlite3_column_int(stmt, 0);
	if (text != NULL)
		snprintf(text, len, "%s", (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	return v;
}

static void test_store_files(void **state)
{
	struct env *e = *state;
	char mode[32];
	struct stat st;
	sqlite3 *db;

	assert_int_equal(stat(e->cfg->auth_database, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(e->cfg->auth_key_file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 32);
	assert_int_equal(sqlite3_open(e->cfg->auth_database, &db), SQLITE_OK);
	assert_int_equal(pragma_int(db, "PRAGMA user_version", NULL, 0), 2);
	pragma_int(db, "PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "wal");
	sqlite3_close(db);
	/* reopening a current store migrates nothing and keeps the data */
	env_add_user(e, "alice");
	env_close(e);
	env_open(e);
	const char *error;
	assert_int_equal(admin_user_add(e->p, "alice", TEST_PASSWORD, &error), -1);
	assert_non_null(strstr(error, "exists"));
}

/* A store of schema version 1 (users with their own lockout columns, failure counters without
 * a window) is taken over: users and counters stay, each counter gets the window its kind had. */
static void test_migrate_from_version_1(void **state)
{
	static const char v1[] =
	    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
	    " pwhash TEXT NOT NULL, enabled INTEGER NOT NULL DEFAULT 1,"
	    " created INTEGER NOT NULL DEFAULT 0, locked_until INTEGER NOT NULL DEFAULT 0,"
	    " lock_count INTEGER NOT NULL DEFAULT 0, stolen_signs INTEGER NOT NULL DEFAULT 0,"
	    " last_login INTEGER NOT NULL DEFAULT 0, last_step INTEGER NOT NULL DEFAULT -1);"
	    "CREATE TABLE factors (user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	    " kind TEXT NOT NULL, pending INTEGER NOT NULL, data BLOB NOT NULL,"
	    " PRIMARY KEY (user_id, kind, pending));"
	    "CREATE TABLE recovery (user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE "
	    "CASCADE,"
	    " hash BLOB NOT NULL, PRIMARY KEY (user_id, hash));"
	    "CREATE TABLE apppass (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES"
	    " users(id) ON DELETE CASCADE, hash BLOB NOT NULL UNIQUE, label TEXT NOT NULL,"
	    " proto TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL DEFAULT 0,"
	    " last_used INTEGER NOT NULL DEFAULT 0, last_ip TEXT NOT NULL DEFAULT '');"
	    "CREATE TABLE grace (hash BLOB PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES"
	    " users(id) ON DELETE CASCADE, expires INTEGER NOT NULL);"
	    "CREATE TABLE failures (kind TEXT NOT NULL, key TEXT NOT NULL COLLATE NOCASE,"
	    " count INTEGER NOT NULL, last INTEGER NOT NULL, PRIMARY KEY (kind, key));"
	    "CREATE TABLE audit (id INTEGER PRIMARY KEY, time INTEGER NOT NULL, user TEXT NOT NULL,"
	    " proto TEXT NOT NULL, ip TEXT NOT NULL, client_id TEXT NOT NULL,"
	    " factor TEXT NOT NULL, result TEXT NOT NULL, reason TEXT NOT NULL,"
	    " stolen INTEGER NOT NULL);"
	    "CREATE INDEX audit_user ON audit(user, id);"
	    "PRAGMA user_version = 1;";
	struct env *e = *state;
	char *hash, *sql, text[32];
	sqlite3 *db;

	env_close(e);
	assert_int_equal(unlink(e->cfg->auth_database), 0);
	assert_int_equal(sqlite3_open(e->cfg->auth_database, &db), SQLITE_OK);
	assert_int_equal(chmod(e->cfg->auth_database, 0600), 0);
	hash =
	    password_hash(TEST_PASSWORD, strlen(TEST_PASSWORD), &(struct password_params){1, 8192});
	sql =
	    xasprintf("%s INSERT INTO users (name, pwhash, locked_until, lock_count, stolen_signs)"
	              " VALUES ('old', '%s', 4000000900, 2, 3);"
	              "INSERT INTO failures VALUES ('ip', '192.0.2.1', 4, 4000000000),"
	              " ('user', 'old', 12, 4000000000);",
	              v1, hash);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(sql);
	xfree_secret_str(&hash);
	env_open(e);
	assert_int_equal(sqlite3_open(e->cfg->auth_database, &db), SQLITE_OK);
	assert_int_equal(pragma_int(db, "PRAGMA user_version", NULL, 0), 2);
	pragma_int(db, "SELECT expires FROM failures WHERE kind = 'ip'", text, sizeof(text));
	assert_string_equal(text, "4000086400");
	pragma_int(db, "SELECT expires FROM failures WHERE kind = 'user'", text, sizeof(text));
	assert_string_equal(text, "4002592000");
	assert_int_equal(pragma_int(db,
	                            "SELECT count(*) FROM pragma_table_info('users') "
	                            "WHERE name IN ('locked_until', 'lock_count')",
	                            NULL, 0),
	                 0);
	assert_int_equal(pragma_int(db, "SELECT stolen_signs FROM users", NULL, 0), 3);
	sqlite3_close(db);
	e->cfg->second_factor = SECOND_FACTOR_OPTIONAL;
	assert_int_equal(env_login(e, "old", TEST_PASSWORD, TEST_T0 + 10).result, AUTH_OK);
}

/* The store holds password hashes: one that group or others can read is refused like the key
 * (its WAL and shared-memory files inherit its mode). */
static void test_store_file_permissions(void **state)
{
	struct env *e = *state;
	struct auth_policy *p = NULL;
	const char *error = NULL;

	env_close(e);
	assert_int_equal(chmod(e->cfg->auth_database, 0644), 0);
	assert_int_equal(auth_policy_open(e->cfg, &p, &error), -1);
	assert_null(p);
	assert_non_null(strstr(error, "group or others"));
	assert_int_equal(chmod(e->cfg->auth_database, 0640), 0);
	assert_int_equal(auth_policy_open(e->cfg, &p, &error), -1);
	assert_int_equal(chmod(e->cfg->auth_database, 0600), 0);
	env_open(e);
}

static void test_key_file_permissions(void **state)
{
	struct env *e = *state;
	struct auth_policy *p = NULL;
	const char *error = NULL;
	int fd;

	env_close(e);
	assert_int_equal(chmod(e->cfg->auth_key_file, 0644), 0);
	assert_int_equal(auth_policy_open(e->cfg, &p, &error), -1);
	assert_null(p);
	assert_non_null(strstr(error, "group or others"));
	assert_int_equal(chmod(e->cfg->auth_key_file, 0660), 0);
	assert_int_equal(auth_policy_open(e->cfg, &p, &error), -1);
	assert_int_equal(chmod(e->cfg->auth_key_file, 0600), 0);
	/* a truncated key is refused too */
	fd = open(e->cfg->auth_key_file, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "short", 5), 5);
	close(fd);
	assert_int_equal(auth_policy_open(e->cfg, &p, &error), -1);
	assert_non_null(strstr(error, "size"));
	unlink(e->cfg->auth_key_file);
	env_open(e);
}

static void test_key_persists(void **state)
{
	struct env *e = *state;
	unsigned char before[32], after[32];
	size_t len;
	char *seed, *s;
	int fd;

	env_add_user(e, "bob");
	seed = env_enroll(e, "bob", &len);
	fd = open(e->cfg->auth_key_file, O_RDONLY);
	assert_int_equal(read(fd, before, 32), 32);
	close(fd);
	env_close(e);
	env_open(e);
	fd = open(e->cfg->auth_key_file, O_RDONLY);
	assert_int_equal(read(fd, after, 32), 32);
	close(fd);
	assert_memory_equal(before, after, 32);
	s = env_pwcode(e, seed, len, TEST_T0);
	assert_int_equal(env_login(e, "bob", s, TEST_T0).result, AUTH_OK);
	free(s);
	xfree_secret(seed, len);
}

/* Several processes starting at once (the auth service forks K of them) all get the same key. */
static void test_key_created_once_concurrently(void **state)
{
	struct env *e = *state;
	char *path = xasprintf("%s/concurrent.key", e->dir);
	struct secret_keys mine;
	pid_t pids[4];
	const char *error;

	for (int i = 0; i < 4; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct secret_keys keys;

			_exit(secretkey_load(path, &keys, &error) == 0 ? 0 : 1);
		}
	}
	for (int i = 0; i < 4; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(secretkey_load(path, &mine, &error), 0);
	secretkey_wipe(&mine);
	free(path);
}

static char *read_file(const char *path, size_t *len_r)
{
	struct stat st;
	char *data;
	int fd = open(path, O_RDONLY);

	*len_r = 0;
	if (fd < 0)
		return xstrdup("");
	assert_int_equal(fstat(fd, &st), 0);
	data = xmalloc((size_t)st.st_size + 1);
	assert_int_equal(read(fd, data, (size_t)st.st_size), st.st_size);
	close(fd);
	*len_r = (size_t)st.st_size;
	return data;
}

static void assert_not_in_files(const struct env *e, const void *needle, size_t len)
{
	const char *suffixes[] = {"", "-wal", "-shm"};

	for (size_t i = 0; i < 3; i++) {
		char *path = xasprintf("%s%s", e->cfg->auth_database, suffixes[i]);
		size_t dlen;
		char *data = read_file(path, &dlen);

		if (memmem(data, dlen, needle, len) != NULL)
			fail_msg("secret found in clear in %s", path);
		free(data);
		free(path);
	}
}

static void test_no_secrets_in_clear(void **state)
{
	struct env *e = *state;
	char *uri = NULL, *pw, **codes, *b32, *seed, *s;
	char norm[APPPASS_CHARS + 1];
	const char *error;
	size_t len;
	int64_t id;

	env_add_user(e, "carol");
	seed = env_enroll(e, "carol", &len);
	assert_int_equal(admin_totp_enroll(e->p, "carol", true, &uri, &error), 0);
	assert_int_equal(admin_apppass_add(e->p, "carol", "laptop", "all", 0, &pw, &id, &error), 0);
	assert_int_equal(admin_recovery_new(e->p, "carol", 10, &codes, &error), 0);
	s = env_pwcode(e, seed, len, TEST_T0);
	assert_int_equal(env_login(e, "carol", s, TEST_T0).result, AUTH_OK);
	assert_int_equal(env_login(e, "carol", pw, TEST_T0).result, AUTH_OK);

	/* the markers exist: a search that would find them if they were there */
	assert_not_in_files(e, TEST_PASSWORD, strlen(TEST_PASSWORD));
	assert_not_in_files(e, seed, len);
	b32 = strstr(uri, "secret=") + 7;
	assert_not_in_files(e, b32, 32);
	assert_not_in_files(e, pw, strlen(pw));
	assert_int_equal(apppass_normalize(pw, strlen(pw), norm), 1);
	assert_not_in_files(e, norm, APPPASS_CHARS);
	for (unsigned i = 0; i < 10; i++)
		assert_not_in_files(e, codes[i], strlen(codes[i]));
	/* and the search does work: the user name is stored in clear */
	size_t dlen;
	char *data = read_file(e->cfg->auth_database, &dlen);
	char *wal = xasprintf("%s-wal", e->cfg->auth_database);
	size_t wlen;
	char *wdata = read_file(wal, &wlen);
	assert_true(memmem(data, dlen, "carol", 5) != NULL || memmem(wdata, wlen, "carol", 5));
	free(wdata);
	free(wal);
	free(data);
	admin_codes_free(&codes, 10);
	xfree_secret_str(&pw);
	xfree_secret_str(&uri);
	free(s);
	xfree_secret(seed, len);
}

static void test_totp_uri(void **state)
{
	struct env *e = *state;
	const char *error;
	char *uri = NULL, *q;

	free(e->cfg->auth_issuer);
	e->cfg->auth_issuer = xstrdup("My Co:1");
	env_add_user(e, "dan@example.org");
	assert_int_equal(admin_totp_enroll(e->p, "dan@example.org", false, &uri, &error), 0);
	q = strchr(uri, '?');
	assert_non_null(q);
	assert_int_equal(strncmp(uri, "otpauth://totp/My%20Co%3A1:dan@example.org?secret=",
	                         strlen("otpauth://totp/My%20Co%3A1:dan@example.org?secret=")),
	                 0);
	assert_non_null(strstr(uri, "&issuer=My%20Co%3A1&algorithm=SHA1&digits=6&period=30"));
	q = strstr(uri, "secret=") + 7;
	assert_int_equal(strcspn(q, "&"), 32); /* 20-byte seed, no padding */
	assert_int_equal(strspn(q, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), 32);
	xfree_secret_str(&uri);
	assert_int_equal(admin_totp_enroll(e->p, "nobody", false, &uri, &error), -1);
	assert_non_null(strstr(error, "unknown user"));
}

static char *seed_from_uri(const char *uri, size_t *len_r)
{
	const char *b32 = strstr(uri, "secret=") + 7;
	char *seed = NULL;

	assert_int_equal(oath_base32_decode(b32, strcspn(b32, "&"), &seed, len_r), OATH_OK);
	return seed;
}

static void test_totp_pending_until_confirmed(void **state)
{
	struct env *e = *state;
	char *uri = NULL, *pending, *old, *s, code[16];
	size_t plen, olen;
	const char *error;

	env_add_user(e, "eve");
	old = env_enroll(e, "eve", &olen);
	assert_int_equal(admin_totp_enroll(e->p, "eve", true, &uri, &error), 0);
	pending = seed_from_uri(uri, &plen);
	/* the pending seed does not log in; the old one still does */
	s = env_pwcode(e, pending, plen, TEST_T0);
	assert_int_equal(env_login(e, "eve", s, TEST_T0).result, AUTH_FAIL);
	free(s);
	s = env_pwcode(e, old, olen, TEST_T0);
	assert_int_equal(env_login(e, "eve", s, TEST_T0).result, AUTH_OK);
	free(s);
	/* a wrong code does not confirm */
	env_code(e, old, olen, TEST_T0 + 300, code);
	assert_int_equal(admin_totp_confirm(e->p, "eve", code, TEST_T0 + 300, &error), -1);
	assert_non_null(strstr(error, "wrong code"));
	env_code(e, pending, plen, TEST_T0 + 300, code);
	if (admin_totp_confirm(e->p, "eve", code, TEST_T0 + 300, &error) != 0)
		fail_msg("confirm: %s", error);
	assert_int_equal(admin_totp_confirm(e->p, "eve", code, TEST_T0 + 300, &error), -1);
	/* the confirming code counts as used; the old seed is gone */
	s = xasprintf("%s%s", TEST_PASSWORD, code);
	assert_int_equal(env_login(e, "eve", s, TEST_T0 + 301).result, AUTH_FAIL);
	free(s);
	s = env_pwcode(e, old, olen, TEST_T0 + 330);
	assert_int_equal(env_login(e, "eve", s, TEST_T0 + 330).result, AUTH_FAIL);
	free(s);
	s = env_pwcode(e, pending, plen, TEST_T0 + 360);
	assert_int_equal(env_login(e, "eve", s, TEST_T0 + 360).result, AUTH_OK);
	free(s);
	/* removal */
	assert_int_equal(admin_totp_remove(e->p, "eve", &error), 0);
	assert_int_equal(admin_totp_remove(e->p, "eve", &error), -1);
	xfree_secret(old, olen);
	xfree_secret(pending, plen);
	xfree_secret_str(&uri);
}

static void test_names_and_passwords(void **state)
{
	struct env *e = *state;
	const char *error;

	(void)e;
	assert_true(admin_user_name_valid("alice"));
	assert_true(admin_user_name_valid("alice.b+tag@example.org"));
	assert_false(admin_user_name_valid(""));
	assert_false(admin_user_name_valid("../etc"));
	assert_false(admin_user_name_valid("a/b"));
	assert_false(admin_user_name_valid("a b"));
	assert_false(admin_user_name_valid(".hidden"));
	assert_false(admin_user_name_valid("a@b@c"));
	assert_false(admin_user_name_valid("caf\xc3\xa9\n"));
	assert_int_equal(admin_password_check("", &error), -1);
	assert_int_equal(admin_password_check("short", &error), -1);
	assert_non_null(strstr(error, "weak"));
	assert_int_equal(admin_password_check("password", &error), -1);
	assert_int_equal(admin_password_check("aaaaaaaaaaaa", &error), -1);
	assert_int_equal(admin_password_check("with\ttab in it", &error), -1);
	assert_int_equal(admin_password_check(TEST_PASSWORD, &error), 0);
	assert_int_equal(admin_user_add(e->p, "bad name", TEST_PASSWORD, &error), -1);
	assert_non_null(strstr(error, "bad user name"));
	assert_int_equal(admin_user_add(e->p, "frank", "short", &error), -1);
	assert_int_equal(admin_user_passwd(e->p, "ghost", TEST_PASSWORD, &error), -1);
	assert_non_null(strstr(error, "unknown user 'ghost'"));
	assert_int_equal(admin_user_del(e->p, "ghost", &error), -1);
	assert_int_equal(admin_user_lock(e->p, "ghost", &error), -1);
}

struct list_seen {
	unsigned n;
	struct admin_user_info info;
	char name[64];
};

static void list_cb(const struct admin_user_info *info, void *ctx)
{
	struct list_seen *seen = ctx;

	if (strcmp(info->name, "gus") == 0) {
		seen->info = *info;
		snprintf(seen->name, sizeof(seen->name), "%s", info->name);
	}
	seen->n++;
}

static void test_user_admin(void **state)
{
	struct env *e = *state;
	struct list_seen seen = {0};
	const char *error;
	char *pw, **codes;
	int64_t id;

	e->cfg->second_factor = SECOND_FACTOR_OPTIONAL;
	env_add_user(e, "gus");
	env_add_user(e, "hal");
	assert_int_equal(admin_user_add(e->p, "GUS", TEST_PASSWORD, &error), -1);
	assert_int_equal(admin_apppass_add(e->p, "gus", "a", "pop3", 0, &pw, &id, &error), 0);
	xfree_secret_str(&pw);
	assert_int_equal(admin_apppass_add(e->p, "gus", "b", "bogus", 0, &pw, &id, &error), -1);
	assert_int_equal(admin_recovery_new(e->p, "gus", 10, &codes, &error), 0);
	admin_codes_free(&codes, 10);
	assert_null(codes);
	/* canonical name from a case-insensitive login */
	struct auth_reply r = env_login(e, "Gus", TEST_PASSWORD, TEST_T0);
	assert_int_equal(r.result, AUTH_OK);
	assert_string_equal(r.user, "gus");
	assert_int_equal(admin_user_list(e->p, list_cb, &seen, &error), 0);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.name, "gus");
	assert_true(seen.info.enabled);
	assert_false(seen.info.has_totp);
	assert_int_equal(seen.info.apppasses, 1);
	assert_int_equal(seen.info.recovery_left, 10);
	assert_int_equal(seen.info.last_login, TEST_T0);
	/* new password */
	assert_int_equal(admin_user_passwd(e->p, "gus", "another fine password", &error), 0);
	assert_int_equal(env_login(e, "gus", TEST_PASSWORD, TEST_T0 + 1).result, AUTH_FAIL);
	assert_int_equal(env_login(e, "gus", "another fine password", TEST_T0 + 2).result, AUTH_OK);
	/* delete */
	assert_int_equal(admin_user_del(e->p, "gus", &error), 0);
	assert_int_equal(env_login(e, "gus", "another fine password", TEST_T0 + 3).result,
	                 AUTH_FAIL);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(admin_user_list(e->p, list_cb, &seen, &error), 0);
	assert_int_equal(seen.n, 1);
}

struct log_list {
	unsigned n;
	time_t times[8];
	char users[8][32];
};

static void log_cb(const struct admin_log_entry *entry, void *ctx)
{
	struct log_list *l = ctx;

	if (l->n < 8) {
		l->times[l->n] = entry->time;
		snprintf(l->users[l->n], sizeof(l->users[0]), "%s", entry->user);
	}
	l->n++;
}

static void test_log_order(void **state)
{
	struct env *e = *state;
	struct log_list l = {0};
	const char *error;

	env_add_user(e, "ida");
	env_login(e, "ida", "x1", TEST_T0);
	env_login(e, "jon", "x2", TEST_T0 + 1);
	env_login(e, "ida", "x3", TEST_T0 + 2);
	assert_int_equal(admin_log(e->p, NULL, 0, log_cb, &l, &error), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.times[0], TEST_T0 + 2);
	assert_int_equal(l.times[2], TEST_T0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(admin_log(e->p, "ida", 0, log_cb, &l, &error), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.users[0], "ida");
	assert_int_equal(l.times[0], TEST_T0 + 2);
	memset(&l, 0, sizeof(l));
	assert_int_equal(admin_log(e->p, NULL, 1, log_cb, &l, &error), 0);
	assert_int_equal(l.n, 1);
}

static void test_default_pwhash_params(void **state)
{
	struct config *cfg = config_defaults();
	struct password_params pw = {cfg->pwhash_opslimit, cfg->pwhash_memlimit};
	char *hash;

	(void)state;
	assert_int_equal(cfg->pwhash_opslimit, crypto_pwhash_OPSLIMIT_INTERACTIVE);
	assert_int_equal(cfg->pwhash_memlimit, crypto_pwhash_MEMLIMIT_INTERACTIVE);
	hash = password_hash(TEST_PASSWORD, strlen(TEST_PASSWORD), &pw);
	assert_non_null(hash);
	assert_int_equal(strncmp(hash, "$argon2id$", 10), 0);
	assert_int_equal(password_verify(hash, TEST_PASSWORD, strlen(TEST_PASSWORD)), 1);
	assert_int_equal(password_verify(hash, "wrong", 5), 0);
	assert_false(password_needs_rehash(hash, &pw));
	assert_true(password_needs_rehash(hash, &(struct password_params){1, 8192}));
	xfree_secret_str(&hash);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_module_registry),
	    cmocka_unit_test_setup_teardown(test_store_files, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_key_file_permissions, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_store_file_permissions, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_from_version_1, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_key_persists, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_key_created_once_concurrently, env_setup,
	                                    env_teardown),
	    cmocka_unit_test_setup_teardown(test_no_secrets_in_clear, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_totp_uri, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_totp_pending_until_confirmed, env_setup,
	                                    env_teardown),
	    cmocka_unit_test_setup_teardown(test_names_and_passwords, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_user_admin, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_log_order, env_setup, env_teardown),
	    cmocka_unit_test(test_default_pwhash_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
