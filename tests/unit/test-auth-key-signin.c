/* The login policy for users with a security key: a portal sign-in with the password alone is
 * pending (nothing counted, the step logged), and auth_policy_hold_finish records the key's
 * answer as the login's outcome (success, or a failure counted like a wrong code with the
 * stolen-password mark). Also: a portal sign-in meets the same lockouts as IMAP. */
/* the shared set-up has helpers this file does not need */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test-auth-env.h"
#include "auth/policy-private.h"

#define NOW  ((time_t)1800000000)
#define HOME "192.0.2.1"
#define AWAY "198.51.100.7"

/* A stored key is all the policy looks at (the assertion itself is admin-key.c's). */
static void add_key(struct env *e, const char *name, unsigned char tag)
{
	unsigned char cred[16], pub[65];
	struct auth_user user;
	struct auth_webauthn k = {.alg = -7, .label = "key", .created = NOW};
	const char *error = NULL;
	int64_t id;

	memset(cred, tag, sizeof(cred));
	memset(pub, 4, sizeof(pub));
	assert_int_equal(e->p->module->user_get(auth_policy_store(e->p), name, &user, &error), 1);
	k.user_id = user.id;
	k.cred_id = cred;
	k.cred_id_len = sizeof(cred);
	k.pubkey = pub;
	k.pubkey_len = sizeof(pub);
	assert_int_equal(e->p->module->webauthn_add(auth_policy_store(e->p), &k, &id, &error), 1);
	auth_user_clear(&user);
}

static int setup(void **state)
{
	struct env *e;

	env_setup(state);
	e = *state;
	env_add_user(e, "alice");
	add_key(e, "alice", 1);
	return 0;
}

static struct auth_reply portal(struct env *e, const char *secret, const char *ip, time_t now)
{
	return env_login_ip(e, "alice", secret, AUTH_PROTO_PORTAL, ip, now);
}

struct last_log {
	char result[16], factor[16], reason[32];
	bool stolen;
	unsigned n;
};

static void last_row(const struct admin_log_entry *l, void *ctx)
{
	struct last_log *r = ctx;

	if (r->n++ > 0)
		return; /* newest first */
	snprintf(r->result, sizeof(r->result), "%s", l->result);
	snprintf(r->factor, sizeof(r->factor), "%s", l->factor);
	snprintf(r->reason, sizeof(r->reason), "%s", l->reason);
	r->stolen = l->stolen_password;
}

static struct last_log log_of(struct env *e, const char *name)
{
	struct last_log r = {0};
	const char *error = NULL;

	assert_int_equal(admin_log(e->p, name, 0, last_row, &r, &error), 0);
	return r;
}

static struct last_log last_log(struct env *e)
{
	return log_of(e, "alice");
}

static void user_row(const struct admin_user_info *u, void *ctx)
{
	*(struct admin_user_info *)ctx = *u;
}

static struct admin_user_info info_of(struct env *e)
{
	struct admin_user_info info;
	const char *error = NULL;

	assert_int_equal(admin_user_show(e->p, "alice", user_row, &info, &error), 0);
	return info;
}

static struct auth_reply finish(struct env *e, const struct auth_hold *h, enum auth_hold_outcome o,
                                time_t now)
{
	struct auth_reply reply;

	auth_policy_hold_finish(e->p, h, o, now, NULL, NULL, &reply);
	return reply;
}

/* The right password alone: pending, with the hold filled and nothing counted. */
static void test_password_alone_is_pending(void **state)
{
	struct env *e = *state;
	struct auth_reply r = portal(e, TEST_PASSWORD, AWAY, NOW);
	struct last_log log;

	assert_int_equal(r.result, AUTH_PENDING);
	assert_int_equal(r.delay_ms, 0);
	assert_string_equal(r.hold.user, "alice");
	assert_true(r.hold.user_id > 0);
	assert_int_equal(r.hold.proto, AUTH_PROTO_PORTAL);
	assert_string_equal(r.hold.ip, AWAY);
	assert_int_equal(r.hold.approval_id, 0);
	assert_int_equal(r.hold.until, NOW + ADMIN_CHALLENGE_LIFETIME);
	log = last_log(e);
	assert_string_equal(log.result, "pending");
	assert_string_equal(log.reason, "key-needed");
	assert_false(log.stolen);
	assert_int_equal(info_of(e).failures, 0);
	assert_int_equal(info_of(e).stolen_password_signs, 0);
	/* a wrong password is refused as ever, with the delay */
	r = portal(e, "not the password", AWAY, NOW + 1);
	assert_int_equal(r.result, AUTH_FAIL);
	assert_true(r.delay_ms >= 2000);
	assert_string_equal(last_log(e).reason, "bad-password");
}

/* Only the portal asks for the key itself: an IMAP login with the password alone is held for
 * the user's approval (a request in the store), not a portal sign-in step. */
static void test_imap_password_alone_is_held(void **state)
{
	struct env *e = *state;
	struct auth_reply r = env_login_ip(e, "alice", TEST_PASSWORD, AUTH_PROTO_IMAP, AWAY, NOW);

	assert_int_equal(r.result, AUTH_PENDING);
	assert_true(r.hold.approval_id > 0);
	assert_int_equal(r.hold.proto, AUTH_PROTO_IMAP);
	auth_policy_hold_cancel(e->p, &r.hold, NOW + 1);
}

/* A user with only a key (no TOTP) and second_factor required: the key counts as a factor. */
static void test_key_is_a_second_factor(void **state)
{
	struct env *e = *state;
	struct auth_reply r;

	env_add_user(e, "bob");
	r = env_login_ip(e, "bob", TEST_PASSWORD, AUTH_PROTO_PORTAL, AWAY, NOW);
	assert_int_equal(r.result, AUTH_FAIL); /* no factor at all: password alone is not enough */
	r = portal(e, TEST_PASSWORD, AWAY, NOW);
	assert_int_equal(r.result, AUTH_PENDING);
}

static void test_key_ok(void **state)
{
	struct env *e = *state;
	struct auth_reply r = portal(e, TEST_PASSWORD, AWAY, NOW);
	struct auth_hold h = r.hold;
	struct last_log log;

	r = finish(e, &h, AUTH_HOLD_KEY_OK, NOW + 10);
	assert_int_equal(r.result, AUTH_OK);
	assert_string_equal(r.user, "alice");
	assert_string_equal(r.factor, "webauthn");
	log = last_log(e);
	assert_string_equal(log.result, "ok");
	assert_string_equal(log.factor, "webauthn");
	assert_int_equal(log.n, 2); /* the password step, then the key */
	assert_int_equal(info_of(e).last_login, NOW + 10);
}

/* A refused key: a failure with the mark, counted toward the strict lockout, which then
 * refuses even the right password with the key. */
static void test_key_refused_counts(void **state)
{
	struct env *e = *state;
	struct auth_reply r;
	struct last_log log;
	unsigned i;

	for (i = 0; i < e->cfg->max_failures; i++) {
		r = portal(e, TEST_PASSWORD, AWAY, NOW + i);
		assert_int_equal(r.result, AUTH_PENDING);
		r = finish(e, &r.hold, AUTH_HOLD_KEY_REFUSED, NOW + i);
		assert_int_equal(r.result, AUTH_FAIL);
		assert_true(r.delay_ms >= 2000);
	}
	log = last_log(e);
	assert_string_equal(log.result, "fail");
	assert_string_equal(log.reason, "bad-key");
	assert_true(log.stolen);
	assert_int_equal(info_of(e).stolen_password_signs, e->cfg->max_failures);
	assert_true(info_of(e).locked_until > NOW);
	r = portal(e, TEST_PASSWORD, AWAY, NOW + i);
	assert_int_equal(r.result, AUTH_FAIL);
	assert_string_equal(last_log(e).reason, "locked");
}

/* A lockout that comes into force between the password and the key holds too. */
static void test_lock_meanwhile(void **state)
{
	struct env *e = *state;
	struct auth_reply first = portal(e, TEST_PASSWORD, AWAY, NOW), r;

	assert_int_equal(first.result, AUTH_PENDING);
	for (unsigned i = 0; i < e->cfg->max_failures; i++) {
		r = portal(e, TEST_PASSWORD, AWAY, NOW);
		r = finish(e, &r.hold, AUTH_HOLD_KEY_REFUSED, NOW);
	}
	r = finish(e, &first.hold, AUTH_HOLD_KEY_OK, NOW + 1);
	assert_int_equal(r.result, AUTH_FAIL);
	assert_string_equal(last_log(e).reason, "locked");
}

static void test_key_cloned(void **state)
{
	struct env *e = *state;
	struct auth_reply r = portal(e, TEST_PASSWORD, HOME, NOW);
	struct last_log log;

	r = finish(e, &r.hold, AUTH_HOLD_KEY_CLONED, NOW);
	assert_int_equal(r.result, AUTH_FAIL);
	log = last_log(e);
	assert_string_equal(log.reason, "cloned-key");
	assert_true(log.stolen);
	assert_int_equal(info_of(e).stolen_password_signs, 1);
}

/* Disabled between the password and the key: refused, uncounted. */
static void test_user_disabled_meanwhile(void **state)
{
	struct env *e = *state;
	struct auth_reply r = portal(e, TEST_PASSWORD, HOME, NOW);
	const char *error = NULL;

	assert_int_equal(admin_user_lock(e->p, "alice", &error), 0);
	r = finish(e, &r.hold, AUTH_HOLD_KEY_OK, NOW);
	assert_int_equal(r.result, AUTH_FAIL);
	assert_string_equal(last_log(e).reason, "disabled");
	assert_int_equal(info_of(e).failures, 0);
}

/* A source locked for strangers (wrong passwords) is locked on the portal too: even the right
 * password and code from there are refused unchecked. */
static void test_portal_meets_source_lock(void **state)
{
	struct env *e = *state;
	struct auth_reply r;
	size_t len;
	char *seed, *pwcode;

	env_add_user(e, "carol");
	seed = env_enroll(e, "carol", &len);
	for (unsigned i = 0; i < e->cfg->max_failures; i++) {
		r = env_login_ip(e, "carol", "wrong password", AUTH_PROTO_PORTAL, AWAY, NOW + i);
		assert_int_equal(r.result, AUTH_FAIL);
	}
	pwcode = env_pwcode(e, seed, len, NOW + 60);
	r = env_login_ip(e, "carol", pwcode, AUTH_PROTO_PORTAL, AWAY, NOW + 60);
	assert_int_equal(r.result, AUTH_FAIL);
	assert_string_equal(log_of(e, "carol").reason, "locked-unfamiliar");
	free(pwcode);
	free(seed);
}

/* Password and code from a user who has a key too: the code decides at once. */
static void test_code_beside_key(void **state)
{
	struct env *e = *state;
	size_t len;
	char *seed = env_enroll(e, "alice", &len), *pwcode = env_pwcode(e, seed, len, NOW);
	struct auth_reply r = portal(e, pwcode, AWAY, NOW);

	assert_int_equal(r.result, AUTH_OK);
	assert_string_equal(r.factor, "totp");
	r = portal(e, TEST_PASSWORD, AWAY, NOW + 1);
	assert_int_equal(r.result, AUTH_PENDING);
	free(pwcode);
	free(seed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_password_alone_is_pending, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_imap_password_alone_is_held, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_key_is_a_second_factor, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_key_ok, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_key_refused_counts, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_lock_meanwhile, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_key_cloned, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_user_disabled_meanwhile, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_portal_meets_source_lock, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_code_beside_key, setup, env_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
