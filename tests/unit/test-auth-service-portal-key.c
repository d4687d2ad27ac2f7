/* The portal's sign-in with password + security key, through the auth service's operations,
 * with the software authenticator: the password alone opens a session that may only answer
 * with the key; the key's answer makes it a full session (a new id) or ends it. Also the
 * pending approvals: held IMAP logins listed and decided (key touch, TOTP code, deny). */
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

/* ---- pending approvals: held IMAP logins decided on the portal ---- */

#define HELD_IP "198.51.100.7"

/* A full session through the password and the key. */
static struct sess full_session(struct env *e, const char *name, struct ta_key *k)
{
	unsigned char ch[WEBAUTHN_CHALLENGE_LEN];
	struct sess s = password_step(e, name), full;
	struct ta_assert as;
	struct form f;
	struct answer a;

	key_challenge(e, &s, ch);
	k->counter++;
	ta_assert(&as, k, ch);
	f = answer_form(&as, k);
	post_key(e, &s, s.csrf, &f, &a);
	assert_int_equal(a.status, IPC_PORTAL_OK);
	snprintf(full.sid, sizeof(full.sid), "%s", a.cells[0]);
	snprintf(full.csrf, sizeof(full.csrf), "%s", a.cells[1]);
	ta_assert_free(&as);
	return full;
}

/* An IMAP login of name with the password alone: held, with a request of its own. */
static struct auth_hold held(struct env *e, const char *name)
{
	struct auth_reply r =
	    env_login_ip(e, name, TEST_PASSWORD, AUTH_PROTO_IMAP, HELD_IP, time(NULL));

	assert_int_equal(r.result, AUTH_PENDING);
	assert_true(r.hold.approval_id > 0);
	return r.hold;
}

/* 0 while the held login waits; 1 decided, *r its result. */
static int decided(struct env *e, const struct auth_hold *h, struct auth_reply *r)
{
	return auth_policy_hold_check(e->p, h, time(NULL), NULL, NULL, r);
}

/* The session's pending list: rows, and the first row's id and decoded challenge. */
static uint32_t pending(struct env *e, const struct sess *s, char id[24],
                        unsigned char challenge[WEBAUTHN_CHALLENGE_LEN])
{
	struct answer a;
	size_t len;

	assert_int_equal(call(e, "approval_list", s->sid, "", 0, NULL, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_OK);
	if (a.rows == 0)
		return 0;
	assert_int_equal(a.cols, 12);
	assert_string_equal(a.cells[1], "imap");
	assert_string_equal(a.cells[2], HELD_IP);
	snprintf(id, 24, "%s", a.cells[0]);
	assert_int_equal(sodium_base642bin(challenge, WEBAUTHN_CHALLENGE_LEN, a.cells[6],
	                                   strlen(a.cells[6]), NULL, &len, NULL,
	                                   sodium_base64_VARIANT_URLSAFE_NO_PADDING),
	                 0);
	return a.rows;
}

static uint32_t approve_key(struct env *e, const struct sess *s, const char *csrf, const char *id,
                            const struct form *f)
{
	const char *argv[7] = {id, "0", f->f[0], f->f[1], f->f[2], f->f[3], f->f[4]};
	struct answer a;

	assert_int_equal(call(e, "approval_key", s->sid, csrf, 7, argv, &a), 0);
	return a.status;
}

/* Listed for its user only, with a challenge bound to it; another user's key, or the key
 * without the CSRF token, approve nothing; the user's key touch lets the login through. */
static void test_approval_by_key(void **state)
{
	struct env *e = *state;
	unsigned char ch[WEBAUTHN_CHALLENGE_LEN];
	struct ta_key k, bobs;
	struct ta_assert as;
	struct auth_reply r;
	struct auth_hold h;
	struct sess s, sb;
	struct form f;
	struct answer a;
	char id[24], other[24];

	register_key(e, "alice", &k);
	register_key(e, "bob", &bobs);
	s = full_session(e, "alice", &k);
	sb = full_session(e, "bob", &bobs);
	h = held(e, "alice");
	assert_int_equal(pending(e, &sb, other, ch), 0);
	assert_int_equal(pending(e, &s, id, ch), 1);
	assert_int_equal(atoll(id), h.approval_id);
	/* bob can neither deny nor approve alice's login, not even with her challenge */
	assert_int_equal(
	    call(e, "approval_deny", sb.sid, sb.csrf, 1, (const char *const[]){id}, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_REFUSED);
	bobs.counter++;
	ta_assert(&as, &bobs, ch);
	f = answer_form(&as, &bobs);
	assert_int_equal(approve_key(e, &sb, sb.csrf, id, &f), IPC_PORTAL_REFUSED);
	ta_assert_free(&as);
	/* bob's key over alice's challenge, in alice's session */
	assert_int_equal(pending(e, &s, id, ch), 1);
	ta_assert(&as, &bobs, ch);
	f = answer_form(&as, &bobs);
	assert_int_equal(approve_key(e, &s, s.csrf, id, &f), IPC_PORTAL_REFUSED);
	ta_assert_free(&as);
	assert_int_equal(decided(e, &h, &r), 0);
	/* alice's key: without the token refused, with it the login goes through */
	assert_int_equal(pending(e, &s, id, ch), 1);
	k.counter++;
	ta_assert(&as, &k, ch);
	f = answer_form(&as, &k);
	assert_int_equal(approve_key(e, &s, "", id, &f), IPC_PORTAL_BAD_CSRF);
	assert_int_equal(approve_key(e, &s, s.csrf, id, &f), IPC_PORTAL_OK);
	ta_assert_free(&as);
	assert_int_equal(decided(e, &h, &r), 1);
	assert_int_equal(r.result, AUTH_OK);
	assert_string_equal(r.factor, "approval");
	assert_int_equal(pending(e, &s, id, ch), 0);
	ta_key_free(&k);
	ta_key_free(&bobs);
}

/* Approved with a TOTP code (once: the same code again approves nothing), or denied. */
static void test_approval_by_code_and_denial(void **state)
{
	struct env *e = *state;
	unsigned char ch[WEBAUTHN_CHALLENGE_LEN];
	struct ta_key k;
	struct auth_reply r;
	struct auth_hold h;
	struct answer a;
	struct sess s;
	char id[24], code[16], *seed;
	size_t len;

	register_key(e, "alice", &k);
	s = full_session(e, "alice", &k);
	seed = env_enroll(e, "alice", &len);
	env_code(e, seed, len, time(NULL), code);
	h = held(e, "alice");
	assert_int_equal(pending(e, &s, id, ch), 1);
	assert_int_equal(call(e, "approval_totp", s.sid, s.csrf, 3,
	                      (const char *const[]){id, "000000", "0"}, &a),
	                 0);
	assert_int_equal(a.status, IPC_PORTAL_REFUSED);
	assert_int_equal(decided(e, &h, &r), 0);
	assert_int_equal(
	    call(e, "approval_totp", s.sid, s.csrf, 3, (const char *const[]){id, code, "0"}, &a),
	    0);
	assert_int_equal(a.status, IPC_PORTAL_OK);
	assert_int_equal(decided(e, &h, &r), 1);
	assert_int_equal(r.result, AUTH_OK);
	/* the next held login: the used code approves nothing; deny fails it as an alarm */
	h = held(e, "alice");
	assert_int_equal(pending(e, &s, id, ch), 1);
	assert_int_equal(
	    call(e, "approval_totp", s.sid, s.csrf, 3, (const char *const[]){id, code, "0"}, &a),
	    0);
	assert_int_equal(a.status, IPC_PORTAL_REFUSED);
	assert_int_equal(call(e, "approval_deny", s.sid, s.csrf, 1, (const char *const[]){id}, &a),
	                 0);
	assert_int_equal(a.status, IPC_PORTAL_OK);
	assert_int_equal(decided(e, &h, &r), 1);
	assert_int_equal(r.result, AUTH_FAIL);
	assert_int_equal(env_sql_int(e, "SELECT count(*) FROM audit WHERE user = 'alice' AND "
	                                "reason = 'approval-denied' AND stolen = 1"),
	                 1);
	/* not a number, or not pending any more */
	assert_int_equal(call(e, "approval_deny", s.sid, s.csrf, 1, (const char *const[]){"x"}, &a),
	                 0);
	assert_int_equal(a.status, IPC_PORTAL_REFUSED);
	assert_int_equal(call(e, "approval_deny", s.sid, s.csrf, 1, (const char *const[]){id}, &a),
	                 0);
	assert_int_equal(a.status, IPC_PORTAL_REFUSED);
	free(seed);
	ta_key_free(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_password_then_key, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_refusals, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_no_key_no_half_session, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_approval_by_key, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_approval_by_code_and_denial, setup, env_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
