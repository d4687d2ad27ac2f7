/* The login policy: TOTP, replay, grace, lockout, recovery, app passwords, bad input. */
#include "test-auth-env.h"
#include "auth/factor.h"
#include "auth/password-test.h"
#include "auth/policy-private.h"

#include <ctype.h>
#include <sqlite3.h>
#include <sys/wait.h>

static void test_rfc6238_vectors(void **state)
{
	static const struct {
		time_t t;
		const char *code;
	} v[] = {
	    {59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
	    {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
	};
	const unsigned char *seed = (const unsigned char *)"12345678901234567890";
	char out[16];
	int64_t step;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(oath_totp_generate((const char *)seed, 20, v[i].t, 30, 0, 8, out),
		                 OATH_OK);
		assert_string_equal(out, v[i].code);
		assert_int_equal(totp_check(seed, 20, v[i].code, 8, v[i].t, 30, 0, &step), 1);
		assert_int_equal(step, v[i].t / 30);
		/* one step later, with window 0, it is no longer valid */
		assert_int_equal(totp_check(seed, 20, v[i].code, 8, v[i].t + 30, 30, 0, &step), 0);
	}
}

static void test_window_edges(void **state)
{
	struct env *e = *state;
	size_t len;
	char *seed, *s;

	env_add_user(e, "alice");
	seed = env_enroll(e, "alice", &len);
	s = env_pwcode(e, seed, len, TEST_T0 - 60);
	assert_int_equal(env_login(e, "alice", s, TEST_T0).result, AUTH_FAIL);
	free(s);
	s = env_pwcode(e, seed, len, TEST_T0 + 60);
	assert_int_equal(env_login(e, "alice", s, TEST_T0).result, AUTH_FAIL);
	free(s);
	s = env_pwcode(e, seed, len, TEST_T0 - 30);
	assert_int_equal(env_login(e, "alice", s, TEST_T0).result, AUTH_OK);
	free(s);
	s = env_pwcode(e, seed, len, TEST_T0 + 30);
	struct auth_reply r = env_login(e, "alice", s, TEST_T0);
	assert_int_equal(r.result, AUTH_OK);
	assert_string_equal(r.user, "alice");
	assert_string_equal(r.factor, "totp");
	free(s);
	xfree_secret(seed, len);
}

static void test_replay_and_older_code(void **state)
{
	struct env *e = *state;
	size_t len;
	char *seed, *now_code, *old_code;

	env_add_user(e, "bob");
	seed = env_enroll(e, "bob", &len);
	now_code = env_pwcode(e, seed, len, TEST_T0);
	old_code = env_pwcode(e, seed, len, TEST_T0 - 30);
	assert_int_equal(env_login(e, "bob", now_code, TEST_T0).result, AUTH_OK);
	assert_int_equal(env_login(e, "bob", now_code, TEST_T0 + 1).result, AUTH_FAIL);
	/* older in-window code after a newer one */
	assert_int_equal(env_login(e, "bob", old_code, TEST_T0 + 2).result, AUTH_FAIL);
	free(now_code);
	free(old_code);
	now_code = env_pwcode(e, seed, len, TEST_T0 + 30);
	assert_int_equal(env_login(e, "bob", now_code, TEST_T0 + 30).result, AUTH_OK);
	free(now_code);
	xfree_secret(seed, len);
}

static void test_two_process_race(void **state)
{
	struct env *e = *state;
	int status[2];
	size_t len;
	char *seed, *s;

	env_add_user(e, "carol");
	seed = env_enroll(e, "carol", &len);
	s = env_pwcode(e, seed, len, TEST_T0);
	env_race(e, 2, env_race_login, &(struct env_race_creds){"carol", s}, status);
	assert_int_equal((status[0] == 0) + (status[1] == 0), 1);
	assert_int_equal((status[0] == 1) + (status[1] == 1), 1);
	free(s);
	xfree_secret(seed, len);
}

static void test_grace(void **state)
{
	struct env *e = *state;
	struct auth_reply r;
	size_t len;
	char *seed, *s, code[16], *wrongpw;

	e->cfg->mfa_grace = 3600;
	env_add_user(e, "dave");
	seed = env_enroll(e, "dave", &len);
	s = env_pwcode(e, seed, len, TEST_T0);
	env_code(e, seed, len, TEST_T0, code);
	wrongpw = xasprintf("wrong password%s", code);
	assert_int_equal(env_login(e, "dave", s, TEST_T0).result, AUTH_OK);
	r = env_login(e, "dave", s, TEST_T0 + 600);
	assert_int_equal(r.result, AUTH_OK);
	assert_string_equal(r.factor, "grace");
	/* the password is still checked */
	assert_int_equal(env_login(e, "dave", wrongpw, TEST_T0 + 601).result, AUTH_FAIL);
	/* another network gets no grace (test-auth-lockout: within the /24 it does) */
	r = env_login_ip(e, "dave", s, AUTH_PROTO_IMAP, "198.51.100.1", TEST_T0 + 602);
	assert_int_equal(r.result, AUTH_FAIL);
	/* grace runs out */
	assert_int_equal(env_login(e, "dave", s, TEST_T0 + 3601).result, AUTH_FAIL);
	/* strict: the same credential again is a replay */
	e->cfg->mfa_grace = 0;
	free(s);
	s = env_pwcode(e, seed, len, TEST_T0 + 4000);
	assert_int_equal(env_login(e, "dave", s, TEST_T0 + 4000).result, AUTH_OK);
	assert_int_equal(env_login(e, "dave", s, TEST_T0 + 4001).result, AUTH_FAIL);
	free(s);
	free(wrongpw);
	xfree_secret(seed, len);
}

struct lock_info {
	time_t locked_until;
	unsigned failures;
	unsigned stolen;
};

static void lock_info_cb(const struct admin_user_info *info, void *ctx)
{
	struct lock_info *li = ctx;

	li->locked_until = info->locked_until;
	li->failures = info->failures;
	li->stolen = info->stolen_password_signs;
}

static struct lock_info lock_info_of(struct env *e)
{
	struct lock_info li = {0};
	const char *error;

	assert_int_equal(admin_user_list(e->p, lock_info_cb, &li, &error), 0);
	return li;
}

static void fail_n(struct env *e, const char *user, time_t now, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(env_login(e, user, "wrong password123456", now + i).result,
		                 AUTH_FAIL);
}

static const char *wrong_code(const struct env *e, const char *seed, size_t len, time_t at);

/* The right password with n wrong codes, one a second from now. */
static void fail_codes(struct env *e, const char *user, const char *seed, size_t len, time_t now,
                       unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		char *s = xasprintf("%s%s", TEST_PASSWORD, wrong_code(e, seed, len, now + i));

		assert_int_equal(env_login(e, user, s, now + i).result, AUTH_FAIL);
		free(s);
	}
}

static void test_delay_escalation(void **state)
{
	struct env *e = *state;
	const uint32_t expect[] = {2000, 4000, 8000, 15000, 15000, 15000};

	env_add_user(e, "erin");
	for (size_t i = 0; i < 6; i++) {
		struct auth_reply r = env_login(e, "erin", "nope nope", TEST_T0 + (time_t)i);

		assert_int_equal(r.result, AUTH_FAIL);
		assert_int_equal(r.delay_ms, expect[i]);
	}
	/* per IP too: a new user name from the same IP is slowed down */
	assert_int_equal(env_login(e, "someone-else", "x", TEST_T0 + 10).delay_ms, 15000);
	assert_int_equal(
	    env_login_ip(e, "someone-else", "x", AUTH_PROTO_IMAP, "192.0.2.7", TEST_T0 + 11)
	        .delay_ms,
	    4000);
}

/* [auth] failure_delay and failure_delay_max set the doubling; 0 turns it off. */
static void test_delay_configured(void **state)
{
	struct env *e = *state;
	const uint32_t expect[] = {300, 600, 1000, 1000};

	e->cfg->failure_delay = 300;
	e->cfg->failure_delay_max = 1000;
	env_add_user(e, "erin");
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(env_login(e, "erin", "nope nope", TEST_T0 + (time_t)i).delay_ms,
		                 expect[i]);
	e->cfg->failure_delay = e->cfg->failure_delay_max = 0;
	assert_int_equal(env_login(e, "frank", "x", TEST_T0 + 7).delay_ms, 0);
}

/* An IPv6 host picks addresses from (at least) a /64: its failures count together. */
static void test_ipv6_failures_per_64(void **state)
{
	struct env *e = *state;

	assert_int_equal(
	    env_login_ip(e, "u1", "x", AUTH_PROTO_IMAP, "2001:db8:1:2::1", TEST_T0).delay_ms, 2000);
	assert_int_equal(
	    env_login_ip(e, "u2", "x", AUTH_PROTO_IMAP, "2001:db8:1:2:aaaa::9", TEST_T0 + 1)
	        .delay_ms,
	    4000);
	assert_int_equal(env_login_ip(e, "u3", "x", AUTH_PROTO_IMAP,
	                              "2001:db8:1:2:ffff:ffff:ffff:ffff", TEST_T0 + 2)
	                     .delay_ms,
	                 8000);
	/* the next /64, and IPv4, count on their own */
	assert_int_equal(
	    env_login_ip(e, "u4", "x", AUTH_PROTO_IMAP, "2001:db8:1:3::1", TEST_T0 + 3).delay_ms,
	    2000);
	assert_int_equal(
	    env_login_ip(e, "u5", "x", AUTH_PROTO_IMAP, "192.0.2.33", TEST_T0 + 4).delay_ms, 2000);
	assert_int_equal(
	    env_login_ip(e, "u6", "x", AUTH_PROTO_IMAP, "192.0.2.34", TEST_T0 + 5).delay_ms, 2000);
}

/* The strict lockout: the right password with wrong codes. */
static void test_lockout(void **state)
{
	struct env *e = *state;
	const char *error;
	time_t t = TEST_T0;
	size_t len;
	char *seed, *s;

	e->cfg->max_failures = 3;
	e->cfg->lockout = 100;
	e->cfg->lockout_max = 250;
	env_add_user(e, "frank");
	seed = env_enroll(e, "frank", &len);
	fail_codes(e, "frank", seed, len, t, 2);
	assert_int_equal(lock_info_of(e).failures, 2);
	assert_int_equal(lock_info_of(e).locked_until, 0);
	fail_codes(e, "frank", seed, len, t + 2, 1);
	assert_int_equal(lock_info_of(e).locked_until, t + 2 + 100);
	assert_int_equal(lock_info_of(e).failures, 3);
	/* correct credential during the lock still fails, also after reopening the store */
	s = env_pwcode(e, seed, len, t + 30);
	assert_int_equal(env_login(e, "frank", s, t + 30).result, AUTH_FAIL);
	free(s);
	env_close(e);
	env_open(e);
	s = env_pwcode(e, seed, len, t + 60);
	assert_int_equal(env_login(e, "frank", s, t + 60).result, AUTH_FAIL);
	free(s);
	/* after the lock, without a success between, one more failure locks again: doubled;
	 * then capped */
	t += 120;
	fail_codes(e, "frank", seed, len, t, 1);
	assert_int_equal(lock_info_of(e).locked_until, t + 200);
	assert_int_equal(lock_info_of(e).failures, 4);
	t += 300;
	fail_codes(e, "frank", seed, len, t, 1);
	assert_int_equal(lock_info_of(e).locked_until, t + 250);
	/* admin unlock clears it */
	assert_int_equal(admin_user_unlock(e->p, "frank", &error), 0);
	assert_int_equal(lock_info_of(e).locked_until, 0);
	s = env_pwcode(e, seed, len, t + 90);
	assert_int_equal(env_login(e, "frank", s, t + 90).result, AUTH_OK);
	free(s);
	/* wrong passwords (a stranger's) never make the strict lockout */
	fail_n(e, "frank", t + 100, 3);
	assert_int_equal(lock_info_of(e).locked_until, 0);
	xfree_secret(seed, len);
}

static void test_admin_lock(void **state)
{
	struct env *e = *state;
	const char *error;

	e->cfg->second_factor = SECOND_FACTOR_OPTIONAL;
	env_add_user(e, "gina");
	assert_int_equal(env_login(e, "gina", TEST_PASSWORD, TEST_T0).result, AUTH_OK);
	assert_int_equal(admin_user_lock(e->p, "gina", &error), 0);
	assert_int_equal(env_login(e, "gina", TEST_PASSWORD, TEST_T0 + 1).result, AUTH_FAIL);
	assert_int_equal(admin_user_unlock(e->p, "gina", &error), 0);
	assert_int_equal(env_login(e, "gina", TEST_PASSWORD, TEST_T0 + 2).result, AUTH_OK);
}

static void test_recovery_single_use(void **state)
{
	struct env *e = *state;
	const char *error;
	struct auth_reply r;
	char **codes, *s;
	size_t len;
	char *seed;

	env_add_user(e, "hank");
	seed = env_enroll(e, "hank", &len);
	assert_int_equal(admin_recovery_new(e->p, "hank", 10, &codes, &error), 0);
	for (unsigned i = 0; i < 10; i++) {
		assert_int_equal(strlen(codes[i]), RECOVERY_CODE_LEN);
		assert_true(recovery_code_shape(codes[i], RECOVERY_CODE_LEN));
	}
	s = xasprintf("%s%s", TEST_PASSWORD, codes[0]);
	r = env_login(e, "hank", s, TEST_T0);
	assert_int_equal(r.result, AUTH_OK);
	assert_string_equal(r.factor, "recovery");
	assert_int_equal(env_login(e, "hank", s, TEST_T0 + 1).result, AUTH_FAIL);
	free(s);
	/* upper case works too; a wrong password with a good code does not use it up */
	for (char *c = codes[1]; *c != '\0'; c++)
		*c = (char)toupper((unsigned char)*c);
	s = xasprintf("bad password%s", codes[1]);
	assert_int_equal(env_login(e, "hank", s, TEST_T0 + 2).result, AUTH_FAIL);
	free(s);
	s = xasprintf("%s%s", TEST_PASSWORD, codes[1]);
	assert_int_equal(env_login(e, "hank", s, TEST_T0 + 3).result, AUTH_OK);
	free(s);
	admin_codes_free(&codes, 10);
	xfree_secret(seed, len);
}

struct ap_seen {
	int64_t id;
	time_t last_used;
	char last_ip[64];
};

static void ap_seen_cb(const struct admin_apppass_info *info, void *ctx)
{
	struct ap_seen *seen = ctx;

	seen->id = info->id;
	seen->last_used = info->last_used;
	snprintf(seen->last_ip, sizeof(seen->last_ip), "%s", info->last_ip);
}

static void test_apppass_scope_expiry_revoke(void **state)
{
	struct env *e = *state;
	time_t now = time(NULL);
	struct ap_seen seen = {0};
	const char *error;
	struct auth_reply r;
	char *pw, *pw2, *spaced;
	int64_t id, id2;

	env_add_user(e, "ivy");
	assert_int_equal(admin_apppass_add(e->p, "ivy", "phone", "imap", 0, &pw, &id, &error), 0);
	assert_int_equal(strlen(pw), 23);
	r = env_login_ip(e, "ivy", pw, AUTH_PROTO_POP3, "192.0.2.5", now);
	assert_int_equal(r.result, AUTH_FAIL);
	r = env_login_ip(e, "ivy", pw, AUTH_PROTO_IMAP, "192.0.2.5", now);
	assert_int_equal(r.result, AUTH_OK);
	assert_string_equal(r.factor, "apppass");
	/* spaces instead of dashes, upper case */
	spaced = xstrdup(pw);
	for (char *c = spaced; *c != '\0'; c++)
		*c = *c == '-' ? ' ' : (char)toupper((unsigned char)*c);
	assert_int_equal(env_login(e, "ivy", spaced, now + 1).result, AUTH_OK);
	/* someone else's name with ivy's app password */
	env_add_user(e, "jack");
	assert_int_equal(env_login(e, "jack", pw, now + 2).result, AUTH_FAIL);
	assert_int_equal(admin_apppass_list(e->p, "ivy", ap_seen_cb, &seen, &error), 0);
	assert_int_equal(seen.id, id);
	assert_int_equal(seen.last_used, now + 1);
	assert_string_equal(seen.last_ip, "192.0.2.1");
	assert_int_equal(admin_apppass_revoke(e->p, "ivy", id, &error), 0);
	assert_int_equal(env_login(e, "ivy", pw, now + 3).result, AUTH_FAIL);
	assert_int_equal(admin_apppass_revoke(e->p, "ivy", id, &error), -1);
	/* expiry */
	assert_int_equal(admin_apppass_add(e->p, "ivy", "", "all", 1, &pw2, &id2, &error), 0);
	assert_int_equal(env_login_ip(e, "ivy", pw2, AUTH_PROTO_POP3, "", now + 10).result,
	                 AUTH_OK);
	assert_int_equal(env_login(e, "ivy", pw2, now + 86400 + 60).result, AUTH_FAIL);
	xfree_secret_str(&pw);
	xfree_secret_str(&pw2);
	free(spaced);
}

static void test_unknown_user_dummy_work(void **state)
{
	struct env *e = *state;
	unsigned long before;
	struct auth_reply r1, r2;

	env_add_user(e, "kate");
	before = password_verify_count;
	r1 = env_login_ip(e, "nobody", "whatever123456", AUTH_PROTO_IMAP, "192.0.2.10", TEST_T0);
	assert_int_equal(password_verify_count, before + 1);
	r2 = env_login_ip(e, "kate", "whatever123456", AUTH_PROTO_IMAP, "192.0.2.11", TEST_T0);
	assert_int_equal(password_verify_count, before + 2);
	assert_int_equal(r1.result, AUTH_FAIL);
	assert_int_equal(r2.result, AUTH_FAIL);
	assert_int_equal(r1.delay_ms, r2.delay_ms);
	assert_memory_equal(&r1, &r2, sizeof(r1));
}

static void count_entries(const struct admin_log_entry *entry, void *ctx)
{
	(void)entry;
	(*(unsigned *)ctx)++;
}

/* The auth service's start: one verify of the unknown-user hash, which must match; a hash
 * that does not verify (a broken Argon2 build) stops it. */
static void test_warm_up(void **state)
{
	struct env *e = *state;
	unsigned long before = password_verify_count;
	const char *error = NULL;
	char *good;

	assert_int_equal(auth_policy_warm_up(e->p, &error), 0);
	assert_int_equal(password_verify_count, before + 1);
	good = e->p->dummy_hash;
	e->p->dummy_hash = password_hash("another", 7, &e->p->pw);
	assert_non_null(e->p->dummy_hash);
	assert_int_equal(auth_policy_warm_up(e->p, &error), -1);
	assert_non_null(error);
	xfree_secret_str(&e->p->dummy_hash);
	e->p->dummy_hash = good;
}

static void test_bad_input_refused(void **state)
{
	struct env *e = *state;
	char long_user[300], long_secret[1100];
	unsigned long before;
	unsigned entries = 0;
	const char *error;

	env_add_user(e, "lena");
	memset(long_user, 'a', sizeof(long_user) - 1);
	long_user[sizeof(long_user) - 1] = '\0';
	memset(long_secret, 'b', sizeof(long_secret) - 1);
	long_secret[sizeof(long_secret) - 1] = '\0';
	before = password_verify_count;
	assert_int_equal(env_login(e, "le\xffna", TEST_PASSWORD, TEST_T0).result, AUTH_FAIL);
	assert_int_equal(env_login(e, "lena", "pass\x01word123456", TEST_T0).result, AUTH_FAIL);
	assert_int_equal(env_login(e, "le\nna", TEST_PASSWORD, TEST_T0).result, AUTH_FAIL);
	assert_int_equal(env_login(e, "lena", "\xc0\xafoverlong", TEST_T0).result, AUTH_FAIL);
	assert_int_equal(env_login(e, long_user, TEST_PASSWORD, TEST_T0).result, AUTH_FAIL);
	assert_int_equal(env_login(e, "lena", long_secret, TEST_T0).result, AUTH_FAIL);
	assert_int_equal(env_login(e, "", TEST_PASSWORD, TEST_T0).result, AUTH_FAIL);
	/* refused before any lookup: no Argon2, no audit entry */
	assert_int_equal(password_verify_count, before);
	assert_int_equal(admin_log(e->p, NULL, 0, count_entries, &entries, &error), 0);
	assert_int_equal(entries, 0);
}

static void test_second_factor_modes(void **state)
{
	struct env *e = *state;
	size_t len;
	char *seed;

	env_add_user(e, "mia");
	assert_int_equal(env_login(e, "mia", TEST_PASSWORD, TEST_T0).result, AUTH_FAIL);
	e->cfg->second_factor = SECOND_FACTOR_OPTIONAL;
	struct auth_reply r = env_login(e, "mia", TEST_PASSWORD, TEST_T0 + 1);
	assert_int_equal(r.result, AUTH_OK);
	assert_string_equal(r.factor, "password");
	assert_int_equal(env_login(e, "mia", "wrong password", TEST_T0 + 2).result, AUTH_FAIL);
	/* once enrolled, the factor is needed even when optional */
	seed = env_enroll(e, "mia", &len);
	assert_int_equal(env_login(e, "mia", TEST_PASSWORD, TEST_T0 + 3).result, AUTH_FAIL);
	xfree_secret(seed, len);
}

struct log_seen {
	unsigned n;
	bool stolen;
	char reason[64];
};

static void log_seen_cb(const struct admin_log_entry *entry, void *ctx)
{
	struct log_seen *seen = ctx;

	if (seen->n++ == 0) {
		seen->stolen = entry->stolen_password;
		snprintf(seen->reason, sizeof(seen->reason), "%s", entry->reason);
	}
}

/* A 6-digit code valid at none of the steps around at. */
static const char *wrong_code(const struct env *e, const char *seed, size_t len, time_t at)
{
	static char wrong[16];
	char valid[3][16];

	for (int i = 0; i < 3; i++)
		env_code(e, seed, len, at + (i - 1) * 30, valid[i]);
	for (unsigned n = 0;; n++) {
		snprintf(wrong, sizeof(wrong), "%06u", n);
		if (strcmp(wrong, valid[0]) != 0 && strcmp(wrong, valid[1]) != 0 &&
		    strcmp(wrong, valid[2]) != 0)
			return wrong;
	}
}

static void test_stolen_password_sign(void **state)
{
	struct env *e = *state;
	struct log_seen seen = {0};
	const char *error;
	size_t len;
	char *seed, *s;

	env_add_user(e, "ned");
	seed = env_enroll(e, "ned", &len);
	s = xasprintf("%s%s", TEST_PASSWORD, wrong_code(e, seed, len, TEST_T0));
	assert_int_equal(env_login(e, "ned", s, TEST_T0).result, AUTH_FAIL);
	assert_int_equal(admin_log(e->p, "ned", 1, log_seen_cb, &seen, &error), 0);
	assert_true(seen.stolen);
	assert_string_equal(seen.reason, "bad-code");
	assert_int_equal(lock_info_of(e).stolen, 1);
	free(s);
	/* wrong password is not a stolen-password sign */
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(env_login(e, "ned", "not the password123456", TEST_T0 + 1).result,
	                 AUTH_FAIL);
	assert_int_equal(admin_log(e->p, "ned", 1, log_seen_cb, &seen, &error), 0);
	assert_false(seen.stolen);
	assert_string_equal(seen.reason, "bad-password");
	xfree_secret(seed, len);
}

static void test_busy_store_tempfail(void **state)
{
	struct env *e = *state;
	const char *error;
	struct auth_reply r;
	sqlite3 *db;
	size_t len;
	char *seed, *s, *ap;
	int64_t id;

	env_close(e);
	e->cfg->auth_busy_timeout = 200;
	env_open(e);
	env_add_user(e, "olga");
	seed = env_enroll(e, "olga", &len);
	assert_int_equal(admin_apppass_add(e->p, "olga", "x", "all", 0, &ap, &id, &error), 0);
	s = env_pwcode(e, seed, len, TEST_T0);
	assert_int_equal(sqlite3_open(e->cfg->auth_database, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE; UPDATE users SET enabled = enabled",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	/* the password was checked: delayed like the slowest failure, not cheaper than one */
	r = env_login(e, "olga", s, TEST_T0);
	assert_int_equal(r.result, AUTH_TEMPFAIL);
	assert_int_equal(r.delay_ms, 15000);
	r = env_login(e, "olga", ap, TEST_T0);
	assert_int_equal(r.result, AUTH_TEMPFAIL);
	assert_int_equal(r.delay_ms, 1000);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	/* nothing was consumed: the same code works now */
	assert_int_equal(env_login(e, "olga", s, TEST_T0 + 1).result, AUTH_OK);
	free(s);
	xfree_secret_str(&ap);
	xfree_secret(seed, len);
}

/* Another process writes the store for ms milliseconds (from when this returns). */
static pid_t hold_write_lock(const struct env *e, unsigned ms)
{
	int fds[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sqlite3 *db;

		if (sqlite3_open(e->cfg->auth_database, &db) != SQLITE_OK ||
		    sqlite3_exec(db, "BEGIN IMMEDIATE; UPDATE users SET enabled = enabled", NULL,
		                 NULL, NULL) != SQLITE_OK ||
		    write(fds[1], "x", 1) != 1)
			_exit(1);
		usleep(ms * 1000);
		_exit(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : 1);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	return pid;
}

/* A write of a few seconds (a big housekeeping delete, the CLI) makes a login wait, not fail
 * uncounted: the guess is answered and counted once the store is free. */
static void test_busy_store_waits_and_counts(void **state)
{
	struct env *e = *state;
	int status;
	pid_t pid;

	env_add_user(e, "oscar");
	pid = hold_write_lock(e, 2500);
	assert_int_equal(env_login(e, "oscar", "wrong password123456", TEST_T0).result, AUTH_FAIL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(lock_info_of(e).failures, 1);
}

/* A factor row of a shape the module never writes (empty, text) is a store error: the login is
 * a temporary failure and `user list` names the row, never a crash or a user without TOTP. */
static void test_factor_row_unexpected_shape(void **state)
{
	static const char *const bad[] = {"X''", "'text'", "42"};
	struct env *e = *state;
	const char *error = NULL;
	struct lock_info li;
	size_t len;
	char *seed, *s, sql[128];

	e->cfg->second_factor = SECOND_FACTOR_OPTIONAL;
	env_add_user(e, "opal");
	seed = env_enroll(e, "opal", &len);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(sql, sizeof(sql), "UPDATE factors SET data = %s", bad[i]);
		assert_int_equal(env_sql_exec(e, sql), SQLITE_OK);
		s = env_pwcode(e, seed, len, TEST_T0 + 30 * (time_t)i);
		assert_int_equal(env_login(e, "opal", s, TEST_T0 + 30 * (time_t)i).result,
		                 AUTH_TEMPFAIL);
		free(s);
		assert_int_equal(
		    env_login(e, "opal", TEST_PASSWORD, TEST_T0 + 30 * (time_t)i).result,
		    AUTH_TEMPFAIL);
		assert_int_equal(admin_user_list(e->p, lock_info_cb, &li, &error), -1);
		assert_non_null(strstr(error, "totp factor row of user 1 is empty or not a blob"));
	}
	xfree_secret(seed, len);
}

/* Failures for random user names from random IPs, and the audit log, must not grow without
 * bound: old rows go, and a user name's failures are forgotten after the same quiet time
 * whether the user exists or not (or the difference would tell names apart). */
static void test_prune_bounds_tables(void **state)
{
	struct env *e = *state;
	time_t t = TEST_T0, month = 31 * 86400;
	char name[32], ip[32];

	env_add_user(e, "pat");
	for (unsigned i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "random%u", i);
		snprintf(ip, sizeof(ip), "198.51.100.%u", i);
		env_login_ip(e, name, "wrong password123456", AUTH_PROTO_IMAP, ip, t + i);
	}
	fail_n(e, "pat", t + 30, 4);
	env_login_ip(e, "ghost", "wrong password123456", AUTH_PROTO_IMAP, "203.0.113.1", t + 40);
	for (unsigned i = 0; i < 3; i++)
		env_login_ip(e, "ghost", "wrong password123456", AUTH_PROTO_IMAP, "203.0.113.1",
		             t + 41 + i);
	assert_int_equal(env_sql_int(e, "SELECT count(*) FROM failures"), 20 * 4 + 4 + 4);
	assert_int_equal(env_sql_int(e, "SELECT count(*) FROM audit"), 28);
	/* a quiet month later: the first login prunes; known and unknown names start afresh */
	assert_int_equal(
	    env_login_ip(e, "pat", "wrong password123456", AUTH_PROTO_IMAP, "192.0.2.50", t + month)
	        .delay_ms,
	    2000);
	assert_int_equal(env_sql_int(e, "SELECT count(*) FROM failures"), 4);
	assert_int_equal(env_login_ip(e, "ghost", "wrong password123456", AUTH_PROTO_IMAP,
	                              "192.0.2.51", t + month + 1)
	                     .delay_ms,
	                 2000);
	/* the audit log: entries older than half a year go, and at most audit_max_rows stay */
	env_login(e, "pat", "wrong password123456", t + 200 * 86400);
	assert_int_equal(env_sql_int(e, "SELECT count(*) FROM audit"), 3);
	assert_int_equal(env_sql_int(e, "SELECT min(time) FROM audit"), t + month);
	e->p->audit_max_rows = 5;
	for (unsigned i = 0; i < 10; i++)
		env_login(e, "pat", "wrong password123456", t + 201 * 86400 + i);
	assert_int_equal(env_sql_int(e, "SELECT count(*) FROM audit"), 13);
	env_login(e, "pat", "wrong password123456", t + 202 * 86400);
	assert_int_equal(env_sql_int(e, "SELECT count(*) FROM audit"), 5);
	assert_int_equal(env_sql_int(e, "SELECT max(time) FROM audit"), t + 202 * 86400);
}

/* Grace entries of a user who never comes back go once expired. */
static void test_prune_expired_grace(void **state)
{
	struct env *e = *state;
	size_t len;
	char *seed, *s;

	e->cfg->mfa_grace = 3600;
	env_add_user(e, "quinn");
	seed = env_enroll(e, "quinn", &len);
	s = env_pwcode(e, seed, len, TEST_T0);
	assert_int_equal(env_login(e, "quinn", s, TEST_T0).result, AUTH_OK);
	free(s);
	assert_int_equal(env_sql_int(e, "SELECT count(*) FROM grace"), 1);
	env_login(e, "someone", "wrong password123456", TEST_T0 + 3599);
	assert_int_equal(env_sql_int(e, "SELECT count(*) FROM grace"), 1);
	env_login(e, "someone", "wrong password123456", TEST_T0 + 7200);
	assert_int_equal(env_sql_int(e, "SELECT count(*) FROM grace"), 0);
	xfree_secret(seed, len);
}

static void test_password_rehash(void **state)
{
	struct env *e = *state;
	struct auth_user u;
	const char *error;

	e->cfg->second_factor = SECOND_FACTOR_OPTIONAL;
	env_add_user(e, "pete");
	env_close(e);
	e->cfg->pwhash_opslimit = 3;
	env_open(e);
	assert_int_equal(env_login(e, "pete", TEST_PASSWORD, TEST_T0).result, AUTH_OK);
	assert_int_equal(auth_module_sqlite.user_get(auth_policy_store(e->p), "pete", &u, &error),
	                 1);
	assert_non_null(strstr(u.pwhash, ",t=3,"));
	assert_false(password_needs_rehash(u.pwhash, &(struct password_params){3, 8192}));
	auth_user_clear(&u);
	assert_int_equal(env_login(e, "pete", TEST_PASSWORD, TEST_T0 + 1).result, AUTH_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc6238_vectors),
	    cmocka_unit_test_setup_teardown(test_window_edges, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_replay_and_older_code, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_two_process_race, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_grace, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_delay_escalation, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_lockout, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_delay_configured, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_failures_per_64, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_admin_lock, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_recovery_single_use, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_apppass_scope_expiry_revoke, env_setup,
	                                    env_teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_user_dummy_work, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_warm_up, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_input_refused, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_second_factor_modes, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_stolen_password_sign, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_busy_store_tempfail, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_busy_store_waits_and_counts, env_setup,
	                                    env_teardown),
	    cmocka_unit_test_setup_teardown(test_factor_row_unexpected_shape, env_setup,
	                                    env_teardown),
	    cmocka_unit_test_setup_teardown(test_password_rehash, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_prune_bounds_tables, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_prune_expired_grace, env_setup, env_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
