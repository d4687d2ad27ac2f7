/* The portal's sign-in with password + security key, through the auth service's operations,
 * with the software authenticator: the password alone opens a session that may only answer
 * with the key; the key's answer makes it a full session (a new id) or ends it. */
/* the shared test headers hold helpers this file does not all use */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test-portal-call.h"
#include "test-authenticator.h"

#include <sodium.h>

struct sess {
	char sid[64], csrf[64];
};

static int setup(void **state)
{
	struct env *e;

	env_setup(state);
	e = *state;
	e->cfg->portal_origin = xstrdup(TA_ORIGIN);
	env_add_user(e, "alice");
	env_add_user(e, "bob");
	return 0;
}

static void register_key(struct env *e, const char *name, struct ta_key *k)
{
	struct admin_key_options o;
	struct admin_key_response resp;
	const char *error = NULL;
	struct ta_reg r;
	int64_t id;

	ta_key_new(k, WEBAUTHN_ALG_ES256);
	assert_int_equal(
	    admin_key_challenge(e->p, name, ADMIN_KEY_REGISTER, 0, time(NULL), &o, &error), 0);
	ta_register(&r, k, TA_NONE, o.challenge, TA_ORIGIN, TA_RP_ID, TA_UP);
	resp = (struct admin_key_response){.cred_id = k->id,
	                                   .cred_id_len = sizeof(k->id),
	                                   .client_data = r.cd.p,
	                                   .client_data_len = r.cd.len,
	                                   .attestation = r.att.p,
	                                   .attestation_len = r.att.len};
	if (admin_key_register(e->p, name, &resp, "key", "", time(NULL), &id, &error) < 0)
		fail_msg("admin_key_register: %s", error);
	ta_reg_free(&r);
	admin_key_options_free(&o);
}

/* The password alone: a session of level KEY. */
static struct sess password_step(struct env *e, const char *name)
{
	struct sess s;
	struct answer a;

	assert_int_equal(
	    call(e, "signin", "", "", 3, (const char *const[]){name, TEST_PASSWORD, ""}, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_OK);
	assert_int_equal(a.cols, 5);
	assert_string_equal(a.cells[4], "3");
	snprintf(s.sid, sizeof(s.sid), "%s", a.cells[0]);
	snprintf(s.csrf, sizeof(s.csrf), "%s", a.cells[1]);
	return s;
}

/* The challenge the key page would carry, decoded. */
static void key_challenge(struct env *e, const struct sess *s,
                          unsigned char challenge[WEBAUTHN_CHALLENGE_LEN])
{
	struct answer a;
	size_t len;

	assert_int_equal(call(e, "signin_key_options", s->sid, "", 0, NULL, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_OK);
	assert_int_equal(a.cols, 6);
	assert_int_equal(sodium_base642bin(challenge, WEBAUTHN_CHALLENGE_LEN, a.cells[0],
	                                   strlen(a.cells[0]), NULL, &len, NULL,
	                                   sodium_base64_VARIANT_URLSAFE_NO_PADDING),
	                 0);
	assert_int_equal(len, WEBAUTHN_CHALLENGE_LEN);
}

struct form {
	char f[5][2048];
};

static void b64(char *out, size_t size, const void *bin, size_t len)
{
	assert_true(sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING) <=
	            size);
	sodium_bin2base64(out, size, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* What the page's script posts for an assertion by k. */
static struct form answer_form(const struct ta_assert *as, const struct ta_key *k)
{
	struct form f;

	b64(f.f[0], sizeof(f.f[0]), as->cd.p, as->cd.len);
	b64(f.f[1], sizeof(f.f[1]), as->ad.p, as->ad.len);
	b64(f.f[2], sizeof(f.f[2]), as->sig.p, as->sig.len);
	b64(f.f[3], sizeof(f.f[3]), k->id, sizeof(k->id));
	f.f[4][0] = '\0';
	return f;
}

static void post_key(struct env *e, const struct sess *s, const char *csrf, const struct form *f,
                     struct answer *a)
{
	const char *argv[5] = {f->f[0], f->f[1], f->f[2], f->f[3], f->f[4]};

	assert_int_equal(call(e, "signin_key", s->sid, csrf, 5, argv, a), 0);
}

static uint32_t status_of(struct env *e, const char *op, const char *sid)
{
	struct answer a;

	assert_int_equal(call(e, op, sid, "", 0, NULL, &a), 0);
	return a.status;
}

static void test_password_then_key(void **state)
{
	struct env *e = *state;
	unsigned char ch[WEBAUTHN_CHALLENGE_LEN];
	struct sess s;
	struct ta_key k;
	struct ta_assert as;
	struct form f;
	struct answer a;
	char full[64];

	register_key(e, "alice", &k);
	s = password_step(e, "alice");
	/* the half session opens nothing but the key step (and leaving) */
	assert_int_equal(status_of(e, "session", s.sid), IPC_PORTAL_OK);
	assert_int_equal(status_of(e, "overview", s.sid), IPC_PORTAL_NO_SESSION);
	assert_int_equal(status_of(e, "key_options", s.sid), IPC_PORTAL_NO_SESSION);
	assert_int_equal(status_of(e, "apppass_list", s.sid), IPC_PORTAL_NO_SESSION);
	assert_int_equal(call(e, "key_register", s.sid, s.csrf, 4,
	                      (const char *const[]){"e30", "oA", "AAAA", "x"}, &a),
	                 0);
	assert_int_equal(a.status, IPC_PORTAL_NO_SESSION);
	key_challenge(e, &s, ch);
	ta_assert(&as, &k, ch);
	f = answer_form(&as, &k);
	/* without the CSRF token: refused, the session and the challenge stay */
	post_key(e, &s, "", &f, &a);
	assert_int_equal(a.status, IPC_PORTAL_BAD_CSRF);
	post_key(e, &s, s.csrf, &f, &a);
	assert_int_equal(a.status, IPC_PORTAL_OK);
	assert_int_equal(a.cols, 5);
	assert_string_equal(a.cells[4], "2");
	assert_string_not_equal(a.cells[0], s.sid);
	snprintf(full, sizeof(full), "%s", a.cells[0]);
	assert_int_equal(status_of(e, "session", s.sid), IPC_PORTAL_NO_SESSION);
	assert_int_equal(status_of(e, "overview", full), IPC_PORTAL_OK);
	/* the same answer again, from a new half session: its challenge is used up */
	s = password_step(e, "alice");
	post_key(e, &s, s.csrf, &f, &a);
	assert_int_equal(a.status, IPC_PORTAL_FAIL);
	assert_true(a.delay_ms >= 2000);
	assert_int_equal(status_of(e, "session", s.sid), IPC_PORTAL_NO_SESSION);
	ta_assert_free(&as);
	ta_key_free(&k);
}

/* Refusals: each a failure with the delay, the half session ended. */
static void expect_refused(struct env *e, const struct sess *s, const struct form *f)
{
	struct answer a;

	post_key(e, s, s->csrf, f, &a);
	assert_int_equal(a.status, IPC_PORTAL_FAIL);
	assert_true(a.delay_ms >= 2000);
	assert_int_equal(status_of(e, "session", s->sid), IPC_PORTAL_NO_SESSION);
}

static void test_refusals(void **state)
{
	struct env *e = *state;
	unsigned char ch[WEBAUTHN_CHALLENGE_LEN];
	struct ta_key k, bobs;
	struct ta_assert as;
	struct sess s;
	struct form f;
	struct answer a;

	register_key(e, "alice", &k);
	register_key(e, "bob", &bobs);
	/* a wrong origin in clientDataJSON (signed by the right key) */
	s = password_step(e, "alice");
	key_challenge(e, &s, ch);
	k.counter++;
	ta_assert_with(&as, &k, ch, "https://evil.example", TA_RP_ID, TA_UP, "webauthn.get");
	f = answer_form(&as, &k);
	expect_refused(e, &s, &f);
	ta_assert_free(&as);
	/* another user's credential */
	s = password_step(e, "alice");
	key_challenge(e, &s, ch);
	ta_assert(&as, &bobs, ch);
	f = answer_form(&as, &bobs);
	expect_refused(e, &s, &f);
	ta_assert_free(&as);
	/* a clone: a good signature whose counter is below the one stored at the last use */
	s = password_step(e, "alice");
	key_challenge(e, &s, ch);
	k.counter = 10;
	ta_assert(&as, &k, ch);
	f = answer_form(&as, &k);
	post_key(e, &s, s.csrf, &f, &a);
	assert_int_equal(a.status, IPC_PORTAL_OK);
	ta_assert_free(&as);
	s = password_step(e, "alice");
	key_challenge(e, &s, ch);
	k.counter = 5;
	ta_assert(&as, &k, ch);
	f = answer_form(&as, &k);
	expect_refused(e, &s, &f);
	ta_assert_free(&as);
	/* nothing that decodes */
	s = password_step(e, "alice");
	memset(&f, 0, sizeof(f));
	snprintf(f.f[0], sizeof(f.f[0]), "not base64!");
	expect_refused(e, &s, &f);
	assert_int_equal(env_sql_int(e, "SELECT count(*) FROM audit WHERE user = 'alice' AND "
	                                "result = 'fail' AND stolen = 1"),
	                 4);
	assert_int_equal(env_sql_int(e, "SELECT count(*) FROM audit WHERE user = 'alice' AND "
	                                "reason = 'cloned-key'"),
	                 1);
	ta_key_free(&k);
	ta_key_free(&bobs);
}

/* A user without a key: the password alone is a plain failure, no half session. */
static void test_no_key_no_half_session(void **state)
{
	struct env *e = *state;
	struct answer a;

	assert_int_equal(
	    call(e, "signin", "", "", 3, (const char *const[]){"bob", TEST_PASSWORD, ""}, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_FAIL);
	assert_int_equal(a.rows, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_password_then_key, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_refusals, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_no_key_no_half_session, setup, env_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
