/* Held logins (auth/approval.h, auth_policy_hold_check, admin-approval.c) on a fake clock: a
 * user with a security key sends the password alone; the login waits for a decision in the
 * store. Keys are registered with the software authenticator. */
/* the shared test headers hold helpers this file does not all use */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test-auth-env.h"
#include "test-authenticator.h"
#include "auth/policy-private.h"

#include <sqlite3.h>
#include <sys/wait.h>

#define T0   ((time_t)1800000000)
#define IP   "192.0.2.1"
#define WAIT 60

static struct ta_key alice_key;

/* Registers k for name through a registration challenge. */
static void key_register(struct env *e, const char *name, struct ta_key *k)
{
	struct admin_key_options o;
	struct admin_key_response resp;
	const char *error = NULL;
	struct ta_reg r;
	int64_t id = 0;

	if (admin_key_challenge(e->p, name, ADMIN_KEY_REGISTER, 0, T0, &o, &error) < 0)
		fail_msg("admin_key_challenge: %s", error);
	ta_register(&r, k, TA_NONE, o.challenge, TA_ORIGIN, TA_RP_ID, TA_UP);
	resp = (struct admin_key_response){.cred_id = k->id,
	                                   .cred_id_len = sizeof(k->id),
	                                   .client_data = r.cd.p,
	                                   .client_data_len = r.cd.len,
	                                   .attestation = r.att.p,
	                                   .attestation_len = r.att.len};
	if (admin_key_register(e->p, name, &resp, "key", IP, T0, &id, &error) < 0)
		fail_msg("admin_key_register: %s", error);
	ta_reg_free(&r);
	admin_key_options_free(&o);
}

static int hold_setup(void **state)
{
	struct env *e;

	env_setup(state);
	e = *state;
	e->cfg->portal_origin = xstrdup(TA_ORIGIN);
	e->cfg->approval_wait = WAIT;
	env_add_user(e, "alice");
	env_add_user(e, "bob");
	ta_key_new(&alice_key, WEBAUTHN_ALG_ES256);
	key_register(e, "alice", &alice_key);
	return 0;
}

static int hold_teardown(void **state)
{
	ta_key_free(&alice_key);
	return env_teardown(state);
}

static struct auth_reply login_at(struct env *e, const char *name, const char *secret,
                                  const char *ip, time_t now)
{
	struct auth_request req = {.user = name,
	                           .secret = secret,
	                           .proto = AUTH_PROTO_IMAP,
	                           .ip = ip,
	                           .client_id = "Thunderbird",
	                           .now = now};
	struct auth_reply reply;

	auth_policy_login(e->p, &req, &reply);
	return reply;
}

/* The password alone from IP at now: must be held. */
static struct auth_hold held(struct env *e, time_t now)
{
	struct auth_reply r = login_at(e, "alice", TEST_PASSWORD, IP, now);

	assert_int_equal(r.result, AUTH_PENDING);
	assert_int_equal(r.hold.until, now + WAIT);
	assert_string_equal(r.hold.user, "alice");
	return r.hold;
}

/* hold_check at now: 0 still held, else *reply. */
static int check(struct env *e, const struct auth_hold *h, time_t now, struct auth_reply *reply)
{
	return auth_policy_hold_check(e->p, h, now, NULL, NULL, reply);
}

struct rows {
	unsigned n;
	struct admin_approval_info first;
	char ip[64], client[129], proto[16];
};

static void row_cb(const struct admin_approval_info *a, void *ctx)
{
	struct rows *r = ctx;

	if (r->n++ > 0)
		return;
	r->first = *a;
	snprintf(r->ip, sizeof(r->ip), "%s", a->ip);
	snprintf(r->client, sizeof(r->client), "%s", a->client_id);
	snprintf(r->proto, sizeof(r->proto), "%s", a->proto);
}

static struct rows pending(struct env *e, time_t now)
{
	struct rows r = {0};
	const char *error = NULL;

	assert_int_equal(admin_approval_list(e->p, "alice", now, row_cb, &r, &error), 0);
	return r;
}

struct last {
	char factor[32], reason[64], result[16];
	bool stolen;
	unsigned n;
};

static void last_cb(const struct admin_log_entry *le, void *ctx)
{
	struct last *l = ctx;

	if (l->n++ > 0)
		return;
	snprintf(l->factor, sizeof(l->factor), "%s", le->factor);
	snprintf(l->reason, sizeof(l->reason), "%s", le->reason);
	snprintf(l->result, sizeof(l->result), "%s", le->result);
	l->stolen = le->stolen_password;
}

static struct last last_log_of(struct env *e, const char *name)
{
	struct last l = {0};
	const char *error = NULL;

	assert_int_equal(admin_log(e->p, name, 1, last_cb, &l, &error), 0);
	return l;
}

static struct last last_log(struct env *e)
{
	return last_log_of(e, "alice");
}

/* Failures in a row of alice's name at now (of any kind). */
static unsigned alice_failures(struct env *e, time_t now)
{
	struct policy_user_state st;
	const char *error = NULL;

	assert_int_equal(policy_user_state(e->p, "alice", now, &st, &error), 0);
	return st.failures;
}

static void test_hold_approve_and_grace(void **state)
{
	struct env *e = *state;
	struct auth_hold h;
	struct auth_reply r;
	struct rows rows;
	const char *error = NULL;

	e->cfg->mfa_grace = 8 * 3600;
	h = held(e, T0);
	rows = pending(e, T0 + 1);

	assert_true(h.approval_id > 0);
	assert_int_equal(rows.n, 1);
	assert_int_equal(rows.first.id, h.approval_id);
	assert_string_equal(rows.ip, IP);
	assert_string_equal(rows.client, "Thunderbird");
	assert_string_equal(rows.proto, "imap");
	assert_int_equal(rows.first.expires, T0 + WAIT);
	assert_int_equal(check(e, &h, T0 + 1, &r), 0);
	assert_int_equal(check(e, &h, T0 + WAIT - 1, &r), 0);
	assert_int_equal(admin_approval_approve(e->p, "alice", h.approval_id, 0, T0 + 2, &error),
	                 0);
	assert_int_equal(pending(e, T0 + 2).n, 0);
	assert_int_equal(check(e, &h, T0 + 2, &r), 1);
	assert_int_equal(r.result, AUTH_OK);
	assert_string_equal(r.user, "alice");
	assert_string_equal(r.factor, "approval");
	assert_string_equal(last_log(e).result, "ok");
	assert_string_equal(last_log(e).factor, "approval");
	/* device grace (mfa_grace, 8 h): the password alone from that IP passes at once */
	r = login_at(e, "alice", TEST_PASSWORD, IP, T0 + 3600);
	assert_int_equal(r.result, AUTH_OK);
	assert_string_equal(r.factor, "grace");
	/* from the same /24 too, as a TOTP code's grace; not from another network, not with a
	 * wrong password, not after the grace */
	assert_int_equal(login_at(e, "alice", TEST_PASSWORD, "192.0.2.77", T0 + 3600).result,
	                 AUTH_OK);
	assert_int_equal(login_at(e, "alice", TEST_PASSWORD, "192.0.3.1", T0 + 3601).result,
	                 AUTH_PENDING);
	assert_int_equal(login_at(e, "alice", "wrong password", IP, T0 + 3602).result, AUTH_FAIL);
	assert_int_equal(login_at(e, "alice", TEST_PASSWORD, IP, T0 + 2 + 8 * 3600 + 1).result,
	                 AUTH_PENDING);
}

static void test_deny_counts_and_alarms(void **state)
{
	struct env *e = *state;
	struct auth_hold h = held(e, T0);
	struct auth_reply r;
	const char *error = NULL;
	struct last l;

	assert_int_equal(admin_approval_deny(e->p, "alice", h.approval_id, T0 + 5, &error), 0);
	assert_int_equal(check(e, &h, T0 + 5, &r), 1);
	assert_int_equal(r.result, AUTH_FAIL);
	/* answered when the wait would have run out, as a wrong password is: no early tell */
	assert_int_equal(r.delay_ms, (WAIT - 5) * 1000);
	l = last_log(e);
	assert_string_equal(l.reason, "approval-denied");
	assert_true(l.stolen);
	assert_int_equal(alice_failures(e, T0 + 100), 1);
	/* decided: neither approved nor denied again */
	assert_int_equal(admin_approval_approve(e->p, "alice", h.approval_id, 0, T0 + 6, &error),
	                 -1);
	assert_non_null(strstr(error, "no pending login"));
}

static void test_timeout_is_not_a_failure(void **state)
{
	struct env *e = *state;
	struct auth_hold h = held(e, T0);
	struct auth_reply r;
	const char *error = NULL;

	assert_int_equal(check(e, &h, T0 + WAIT - 1, &r), 0);
	assert_int_equal(check(e, &h, T0 + WAIT, &r), 1);
	assert_int_equal(r.result, AUTH_FAIL);
	assert_int_equal(r.delay_ms, 0);
	assert_string_equal(last_log(e).reason, "approval-timeout");
	assert_false(last_log(e).stolen);
	assert_int_equal(alice_failures(e, T0 + 100), 0);
	assert_int_equal(pending(e, T0 + WAIT).n, 0);
	assert_int_equal(admin_approval_approve(e->p, "alice", h.approval_id, 0, T0 + WAIT, &error),
	                 -1);
}

/* Login at now from a fresh address: the reply's delay. */
static uint32_t delay_of(struct env *e, const char *name, const char *secret, unsigned n)
{
	char ip[32];
	struct auth_reply r;

	snprintf(ip, sizeof(ip), "198.51.100.%u", n);
	r = login_at(e, name, secret, ip, T0 + n);
	assert_int_equal(r.result, AUTH_FAIL);
	return r.delay_ms;
}

/* Not an oracle: a failure's wait depends on the secret's shape only. A secret without a code
 * at its end waits what a held login waits, whoever the user is (with a key, without, unknown);
 * one ending like a code fails as fast for everyone and is never held. */
static void test_wait_tells_nothing(void **state)
{
	struct env *e = *state;
	static const char *const users[] = {"alice", "bob", "nobody"};

	for (unsigned i = 0; i < 3; i++) {
		/* the first failure of each name: the shortest delay */
		assert_int_equal(delay_of(e, users[i], "wrong password123456", 10 + i), 2000);
		assert_int_equal(delay_of(e, users[i], "wrong password", 20 + i), WAIT * 1000);
	}
	assert_string_equal(last_log(e).reason, "bad-password");
	assert_string_equal(last_log_of(e, "nobody").reason, "unknown-user");
	assert_int_equal(pending(e, T0 + 30).n, 0);
	assert_int_equal(alice_failures(e, T0 + 100), 2);
}

/* A user with a key cannot be given a password ending like a code; one who had such a password
 * before the key is refused as fast as a wrong one, and not held. */
static void test_code_shaped_password(void **state)
{
	struct env *e = *state;
	struct ta_key bob_key;
	const char *error = NULL;
	struct auth_reply r;

	assert_int_equal(admin_user_passwd(e->p, "alice", "new password 123456", &error), -1);
	assert_non_null(strstr(error, "security key"));
	assert_int_equal(admin_user_passwd(e->p, "bob", "new password 123456", &error), 0);
	ta_key_new(&bob_key, WEBAUTHN_ALG_ES256);
	key_register(e, "bob", &bob_key);
	r = login_at(e, "bob", "new password 123456", IP, T0 + 1);
	assert_int_equal(r.result, AUTH_FAIL);
	assert_int_equal(r.delay_ms, 2000);
	assert_string_equal(last_log_of(e, "bob").reason, "code-shaped-password");
	assert_int_equal(pending(e, T0 + 1).n, 0);
	ta_key_free(&bob_key);
}

/* Where nobody has a key there are no held logins, and nothing to wait for. */
static void test_no_keys_no_wait(void **state)
{
	struct env *e;

	env_setup(state);
	e = *state;
	e->cfg->approval_wait = WAIT;
	env_add_user(e, "carol");
	assert_int_equal(delay_of(e, "carol", "wrong password", 1), 2000);
	assert_int_equal(delay_of(e, "nobody", "wrong password", 2), 2000);
	env_teardown(state);
}

/* One pending request per user: a second login waits without one, and passes only when its IP
 * gets pre-approved (here by the approval of the first, with pre-approval). */
static void test_one_pending_and_preapproval(void **state)
{
	struct env *e = *state;
	struct auth_hold first, second, third;
	struct auth_reply r;
	const char *error = NULL;

	e->cfg->mfa_grace = 0;
	first = held(e, T0);
	second = held(e, T0 + 1);
	third = held(e, T0 + 2);
	assert_int_equal(second.approval_id, 0);
	assert_string_equal(second.refusal, "approval-busy");
	assert_int_equal(pending(e, T0 + 2).n, 1);
	/* more than the configured maximum is refused */
	assert_int_equal(
	    admin_approval_approve(e->p, "alice", first.approval_id, 61, T0 + 3, &error), -1);
	assert_non_null(strstr(error, "at most 60 minutes"));
	assert_int_equal(
	    admin_approval_approve(e->p, "alice", first.approval_id, 10, T0 + 3, &error), 0);
	assert_int_equal(check(e, &first, T0 + 3, &r), 1);
	assert_string_equal(r.factor, "approval");
	assert_int_equal(check(e, &second, T0 + 3, &r), 1);
	assert_int_equal(r.result, AUTH_OK);
	assert_string_equal(r.factor, "grace");
	assert_int_equal(check(e, &third, T0 + 4, &r), 1);
	assert_int_equal(r.result, AUTH_OK);
	/* a new login within the 10 minutes passes at once; after them it is held again */
	assert_int_equal(login_at(e, "alice", TEST_PASSWORD, IP, T0 + 600).result, AUTH_OK);
	assert_int_equal(login_at(e, "alice", TEST_PASSWORD, IP, T0 + 3 + 601).result,
	                 AUTH_PENDING);
}

static void test_busy_waiter_times_out(void **state)
{
	struct env *e = *state;
	struct auth_hold first, second;
	struct auth_reply r;
	const char *error = NULL;

	e->cfg->mfa_grace = 0;
	first = held(e, T0);
	second = held(e, T0 + 1);
	/* approved without pre-approval (and no device grace): only the first passes */
	assert_int_equal(
	    admin_approval_approve(e->p, "alice", first.approval_id, 0, T0 + 2, &error), 0);
	assert_int_equal(check(e, &first, T0 + 2, &r), 1);
	assert_int_equal(r.result, AUTH_OK);
	assert_int_equal(check(e, &second, T0 + 2, &r), 0);
	assert_int_equal(check(e, &second, T0 + 1 + WAIT, &r), 1);
	assert_int_equal(r.result, AUTH_FAIL);
	assert_string_equal(last_log(e).reason, "approval-busy");
}

static void test_rate_limit(void **state)
{
	struct env *e = *state;
	struct auth_hold h;
	struct auth_reply r;
	time_t t = T0;

	e->cfg->approval_rate = 3;
	for (int i = 0; i < 3; i++, t += WAIT) {
		h = held(e, t);
		assert_true(h.approval_id > 0);
		assert_int_equal(check(e, &h, t + WAIT, &r), 1);
	}
	h = held(e, t);
	assert_int_equal(h.approval_id, 0);
	assert_string_equal(h.refusal, "approval-rate");
	assert_int_equal(pending(e, t).n, 0);
	assert_int_equal(check(e, &h, t + WAIT, &r), 1);
	assert_string_equal(last_log(e).reason, "approval-rate");
	/* an hour after the first, one more */
	h = held(e, T0 + 3601);
	assert_true(h.approval_id > 0);
}

static void test_approve_with_totp(void **state)
{
	struct env *e = *state;
	struct auth_hold h, h2;
	struct auth_reply r;
	const char *error = NULL;
	char code[16], wrong[16];
	size_t len;
	char *seed = env_enroll(e, "alice", &len);

	/* with TOTP enrolled the password alone is still held (no code at the end) */
	h = held(e, T0);
	env_code(e, seed, len, T0 + 5, code);
	snprintf(wrong, sizeof(wrong), "%06d", (atoi(code) + 1) % 1000000);
	assert_int_equal(
	    admin_approval_approve_totp(e->p, "alice", h.approval_id, wrong, 0, T0 + 5, &error),
	    -1);
	assert_non_null(strstr(error, "wrong or already used code"));
	assert_int_equal(check(e, &h, T0 + 5, &r), 0);
	assert_int_equal(
	    admin_approval_approve_totp(e->p, "alice", h.approval_id, code, 0, T0 + 5, &error), 0);
	assert_int_equal(check(e, &h, T0 + 5, &r), 1);
	assert_int_equal(r.result, AUTH_OK);
	/* the code is used up: not for the next request */
	h2 = held(e, T0 + 6 + 8 * 3600);
	assert_int_equal(admin_approval_approve_totp(e->p, "alice", h2.approval_id, code, 0,
	                                             T0 + 6 + 8 * 3600, &error),
	                 -1);
	xfree_secret(seed, len);
}

static struct admin_key_options approval_challenge(struct env *e, int64_t id, time_t now)
{
	struct admin_key_options o;
	const char *error = NULL;

	if (admin_approval_challenge(e->p, "alice", id, now, &o, &error) < 0)
		fail_msg("admin_approval_challenge: %s", error);
	return o;
}

/* alice's key answers challenge o; the answer is given for request id. */
static enum admin_key_result approve_by_key(struct env *e, struct admin_key_options *o, int64_t id,
                                            time_t now, const char **error)
{
	struct admin_key_response resp;
	struct ta_assert a;
	enum admin_key_result res;

	ta_assert(&a, &alice_key, o->challenge);
	resp = (struct admin_key_response){.cred_id = alice_key.id,
	                                   .cred_id_len = sizeof(alice_key.id),
	                                   .client_data = a.cd.p,
	                                   .client_data_len = a.cd.len,
	                                   .auth_data = a.ad.p,
	                                   .auth_data_len = a.ad.len,
	                                   .sig = a.sig.p,
	                                   .sig_len = a.sig.len};
	res = admin_approval_approve_key(e->p, "alice", id, &resp, "198.51.100.7", 0, now, error);
	ta_assert_free(&a);
	admin_key_options_free(o);
	return res;
}

/* The key's assertion must answer a challenge bound to this very request. */
static void test_approve_with_key(void **state)
{
	struct env *e = *state;
	struct auth_hold h = held(e, T0), other;
	struct admin_key_options o = approval_challenge(e, h.approval_id, T0 + 1), o2;
	struct auth_reply r;
	const char *error = NULL;

	assert_int_equal(approve_by_key(e, &o, h.approval_id, T0 + 1, &error), ADMIN_KEY_OK);
	assert_int_equal(check(e, &h, T0 + 1, &r), 1);
	assert_int_equal(r.result, AUTH_OK);
	/* a challenge for one request does not approve the next one */
	other = held(e, T0 + 100);
	o = approval_challenge(e, other.approval_id, T0 + 101);
	h = held(e, T0 + 100 + WAIT); /* the first timed out: a new request */
	assert_int_equal(check(e, &other, T0 + 100 + WAIT, &r), 1);
	assert_int_not_equal(h.approval_id, other.approval_id);
	assert_int_equal(approve_by_key(e, &o, h.approval_id, T0 + 101 + WAIT, &error),
	                 ADMIN_KEY_REFUSED);
	assert_non_null(strstr(error, "another login"));
	assert_int_equal(check(e, &h, T0 + 101 + WAIT, &r), 0);
	/* no challenge for a request that is not pending, or not this user's */
	assert_int_equal(admin_approval_challenge(e->p, "alice", other.approval_id, T0 + 101 + WAIT,
	                                          &o2, &error),
	                 -1);
	assert_int_equal(
	    admin_approval_challenge(e->p, "bob", h.approval_id, T0 + 101 + WAIT, &o2, &error), -1);
}

static void test_cancel_and_disabled(void **state)
{
	struct env *e = *state;
	struct auth_hold h = held(e, T0);
	struct auth_reply r;
	const char *error = NULL;

	auth_policy_hold_cancel(e->p, &h, T0 + 1);
	assert_int_equal(pending(e, T0 + 1).n, 0);
	assert_string_equal(last_log(e).reason, "approval-cancelled");
	assert_int_equal(alice_failures(e, T0 + 100), 0);
	/* an account locked by the admin while its login is held does not get in */
	h = held(e, T0 + 2);
	assert_int_equal(admin_approval_approve(e->p, "alice", h.approval_id, 0, T0 + 3, &error),
	                 0);
	assert_int_equal(admin_user_lock(e->p, "alice", &error), 0);
	assert_int_equal(check(e, &h, T0 + 3, &r), 1);
	assert_int_equal(r.result, AUTH_FAIL);
}

static void test_admin_refusals(void **state)
{
	struct env *e = *state;
	struct auth_hold h = held(e, T0);
	const char *error = NULL;

	/* bob cannot decide alice's request */
	assert_int_equal(admin_approval_approve(e->p, "bob", h.approval_id, 0, T0 + 1, &error), -1);
	assert_int_equal(admin_approval_deny(e->p, "bob", h.approval_id, T0 + 1, &error), -1);
	assert_int_equal(admin_approval_approve(e->p, "alice", 999, 0, T0 + 1, &error), -1);
	assert_int_equal(admin_preapprove(e->p, "alice", "not-an-ip", 5, T0, &error), -1);
	assert_int_equal(admin_preapprove(e->p, "alice", IP, 0, T0, &error), -1);
	assert_int_equal(admin_preapprove(e->p, "alice", IP, 61, T0, &error), -1);
	e->cfg->preapprove_max = 0;
	assert_int_equal(admin_preapprove(e->p, "alice", IP, 1, T0, &error), -1);
	assert_non_null(strstr(error, "off"));
	e->cfg->preapprove_max = 60;
	/* a pre-approved IP (written as the workers write it) lets the waiting login through */
	assert_int_equal(admin_preapprove(e->p, "alice", "2001:DB8::0:1", 5, T0 + 2, &error), 0);
	assert_int_equal(login_at(e, "alice", TEST_PASSWORD, "2001:db8::1", T0 + 3).result,
	                 AUTH_OK);
}

/* Process 0 approves the held request, process 1 denies it: 0 when the decision was taken. */
static int decide_child(struct env *e, int i, void *ctx)
{
	int64_t id = *(const int64_t *)ctx;
	const char *error = NULL;
	int rc = i == 0 ? admin_approval_approve(e->p, "alice", id, 0, T0 + 1, &error)
	                : admin_approval_deny(e->p, "alice", id, T0 + 1, &error);

	return rc == 0 ? 0 : 1;
}

/* Approve and deny at once from two processes: exactly one decision holds. */
static void test_decide_race(void **state)
{
	struct env *e = *state;
	struct auth_hold h = held(e, T0);
	int status[2];

	env_race(e, 2, decide_child, &h.approval_id, status);
	assert_int_equal((status[0] == 0) + (status[1] == 0), 1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, hold_setup, hold_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_hold_approve_and_grace),
	    T(test_deny_counts_and_alarms),
	    T(test_timeout_is_not_a_failure),
	    T(test_wait_tells_nothing),
	    T(test_code_shaped_password),
	    T(test_one_pending_and_preapproval),
	    T(test_busy_waiter_times_out),
	    T(test_rate_limit),
	    T(test_approve_with_totp),
	    T(test_approve_with_key),
	    T(test_cancel_and_disabled),
	    T(test_admin_refusals),
	    T(test_decide_race),
	    cmocka_unit_test(test_no_keys_no_wait),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
