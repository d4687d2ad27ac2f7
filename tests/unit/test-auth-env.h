/* Shared set-up for the auth unit tests: a temp state dir, a low-cost config, a policy. */
#ifndef TWOFOLD_TEST_AUTH_ENV_H
#define TWOFOLD_TEST_AUTH_ENV_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/admin.h"
#include "auth/module.h"
#include "auth/password.h"
#include "auth/policy.h"
#include "common/config.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <sqlite3.h>
#include <ftw.h>
#include <liboath/oath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEST_PASSWORD "correct horse battery"
#define TEST_T0       ((time_t)4000000000) /* in the future, so lockouts show as active */

struct env {
	char dir[512];
	struct config *cfg;
	struct auth_policy *p;
};

static int env_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void env_init_cfg(struct env *e)
{
	const char *base = getenv("TWOFOLD_TEST_TMP");

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	mkdir(base, 0755);
	snprintf(e->dir, sizeof(e->dir), "%s/auth-XXXXXX", base);
	assert_non_null(mkdtemp(e->dir));
	e->cfg = config_defaults();
	free(e->cfg->state_dir);
	free(e->cfg->auth_database);
	free(e->cfg->auth_key_file);
	e->cfg->state_dir = xstrdup(e->dir);
	e->cfg->auth_database = xasprintf("%s/auth.db", e->dir);
	e->cfg->auth_key_file = xasprintf("%s/secret.key", e->dir);
	e->cfg->pwhash_opslimit = 1;
	e->cfg->pwhash_memlimit = 8192;
	e->cfg->mfa_grace = 0;
	/* the tests' users have plain names, which the default %d/%n template refuses */
	free(e->cfg->maildir);
	e->cfg->maildir = xasprintf("%s/mail/%%u", e->dir);
}

static void env_open(struct env *e)
{
	const char *error = NULL;

	if (auth_policy_open(e->cfg, &e->p, &error) < 0)
		fail_msg("auth_policy_open: %s", error);
}

static void env_close(struct env *e)
{
	auth_policy_close(&e->p);
}

/* What one of env_race's processes does; its result (0-255) is the process's exit status. */
typedef int env_race_fn(struct env *e, int i, void *ctx);

/* Runs fn(e, i, ctx) for i < n in n processes at once, each with a policy of its own on the
 * same store (as the auth service's processes are); e's own policy is closed meanwhile.
 * status_r[i] is what fn returned in process i. */
static inline void env_race(struct env *e, int n, env_race_fn *fn, void *ctx, int *status_r)
{
	pid_t pids[16];

	assert_true(n <= 16);
	env_close(e);
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			int rc;

			env_open(e);
			rc = fn(e, i, ctx);
			env_close(e);
			_exit(rc);
		}
	}
	for (int i = 0; i < n; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		status_r[i] = WEXITSTATUS(status);
	}
	env_open(e);
}

static int env_setup(void **state)
{
	struct env *e = xcalloc(1, sizeof(*e));

	log_init("test", true);
	log_set_level(LOG_LEVEL_WARN);
	env_init_cfg(e);
	env_open(e);
	*state = e;
	return 0;
}

static int env_teardown(void **state)
{
	struct env *e = *state;

	env_close(e);
	config_free(&e->cfg);
	nftw(e->dir, env_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(e);
	return 0;
}

static void env_add_user(struct env *e, const char *name)
{
	const char *error = NULL;

	if (admin_user_add(e->p, name, TEST_PASSWORD, &error) < 0)
		fail_msg("admin_user_add: %s", error);
}

/* Enrols TOTP (active at once) and returns the raw seed from the URI. */
static char *env_enroll(struct env *e, const char *name, size_t *len_r)
{
	const char *error = NULL;
	char *uri = NULL, *seed = NULL, *b32, *amp;

	if (admin_totp_enroll(e->p, name, false, &uri, &error) < 0)
		fail_msg("admin_totp_enroll: %s", error);
	b32 = strstr(uri, "secret=");
	assert_non_null(b32);
	b32 += strlen("secret=");
	amp = strchr(b32, '&');
	assert_non_null(amp);
	assert_int_equal(oath_base32_decode(b32, (size_t)(amp - b32), &seed, len_r), OATH_OK);
	xfree_secret_str(&uri);
	return seed;
}

static void env_code(const struct env *e, const char *seed, size_t len, time_t at, char out[16])
{
	assert_int_equal(
	    oath_totp_generate(seed, len, at, e->cfg->totp_period, 0, e->cfg->totp_digits, out),
	    OATH_OK);
}

static struct auth_reply env_login_ip(struct env *e, const char *user, const char *secret,
                                      enum auth_proto proto, const char *ip, time_t now)
{
	struct auth_request req = {
	    .user = user, .secret = secret, .proto = proto, .ip = ip, .client_id = "", .now = now};
	struct auth_reply reply;

	auth_policy_login(e->p, &req, &reply);
	return reply;
}

static struct auth_reply env_login(struct env *e, const char *user, const char *secret, time_t now)
{
	return env_login_ip(e, user, secret, AUTH_PROTO_IMAP, "192.0.2.1", now);
}

/* env_race's ctx for env_race_login: who logs in with what. */
struct env_race_creds {
	const char *user, *secret;
};

/* A login at TEST_T0 for env_race: 0 OK, 1 FAIL, 2 anything else. */
static inline int env_race_login(struct env *e, int i, void *ctx)
{
	const struct env_race_creds *l = ctx;
	struct auth_reply r;

	(void)i;
	r = env_login(e, l->user, l->secret, TEST_T0);
	return r.result == AUTH_OK ? 0 : r.result == AUTH_FAIL ? 1 : 2;
}

/* password + current code */
static char *env_pwcode(const struct env *e, const char *seed, size_t len, time_t at)
{
	char code[16];

	env_code(e, seed, len, at, code);
	return xasprintf("%s%s", TEST_PASSWORD, code);
}

/* The first column of the first row of a query on the store, opened beside the policy's. */
static inline long long env_sql_int(const struct env *e, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *stmt;
	long long n;

	assert_int_equal(sqlite3_open(e->cfg->auth_database, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	n = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return n;
}

static inline int env_sql_exec(const struct env *e, const char *sql)
{
	sqlite3 *db;
	int rc;

	assert_int_equal(sqlite3_open(e->cfg->auth_database, &db), SQLITE_OK);
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

#endif
