/* Security keys through the admin functions (auth/admin-key.c) and the store: challenges,
 * registration, assertion, the clone alarm, invites; with the software authenticator. */
/* the shared test headers hold helpers this file does not all use */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test-auth-env.h"
#include "test-authenticator.h"
#include "auth/factor.h"
#include "auth/policy-private.h"

#include <fcntl.h>

#include <sqlite3.h>
#include <sys/wait.h>

#define NOW ((time_t)1800000000)

static int keys_setup(void **state)
{
	struct env *e;

	env_setup(state);
	e = *state;
	e->cfg->portal_origin = xstrdup(TA_ORIGIN);
	env_add_user(e, "alice");
	env_add_user(e, "bob");
	return 0;
}

static struct admin_key_options challenge_for(struct env *e, const char *name,
                                              enum admin_key_purpose purpose, time_t now)
{
	struct admin_key_options o;
	const char *error = NULL;

	if (admin_key_challenge(e->p, name, purpose, 0, now, &o, &error) < 0)
		fail_msg("admin_key_challenge: %s", error);
	return o;
}

static struct admin_key_response reg_response(const struct ta_reg *r, const struct ta_key *k)
{
	return (struct admin_key_response){.cred_id = k->id,
	                                   .cred_id_len = sizeof(k->id),
	                                   .client_data = r->cd.p,
	                                   .client_data_len = r->cd.len,
	                                   .attestation = r->att.p,
	                                   .attestation_len = r->att.len};
}

static struct admin_key_response assert_response(const struct ta_assert *a, const struct ta_key *k)
{
	return (struct admin_key_response){.cred_id = k->id,
	                                   .cred_id_len = sizeof(k->id),
	                                   .client_data = a->cd.p,
	                                   .client_data_len = a->cd.len,
	                                   .auth_data = a->ad.p,
	                                   .auth_data_len = a->ad.len,
	                                   .sig = a->sig.p,
	                                   .sig_len = a->sig.len};
}

/* Registers k for name through a fresh challenge; returns the key's id. */
static int64_t register_key(struct env *e, const char *name, struct ta_key *k, const char *label)
{
	struct admin_key_options o = challenge_for(e, name, ADMIN_KEY_REGISTER, NOW);
	struct admin_key_response resp;
	const char *error = NULL;
	struct ta_reg r;
	int64_t id = 0;

	ta_register(&r, k, TA_NONE, o.challenge, TA_ORIGIN, TA_RP_ID, TA_UP);
	resp = reg_response(&r, k);
	if (admin_key_register(e->p, name, &resp, label, "192.0.2.9", NOW, &id, &error) < 0)
		fail_msg("admin_key_register: %s", error);
	assert_true(id > 0);
	ta_reg_free(&r);
	admin_key_options_free(&o);
	return id;
}

/* k answers a challenge issued to `to` for `issued_for`; the answer is given in name's name
 * for purpose (k's counter goes up first). */
static enum admin_key_result answer_as(struct env *e, const char *to,
                                       enum admin_key_purpose issued_for, const char *name,
                                       enum admin_key_purpose purpose, struct ta_key *k, time_t now,
                                       const char **error)
{
	struct admin_key_options o = challenge_for(e, to, issued_for, now);
	struct admin_key_response resp;
	struct ta_assert a;
	enum admin_key_result res;
	int64_t bound;

	ta_assert(&a, k, o.challenge);
	resp = assert_response(&a, k);
	res = admin_key_assert(e->p, name, purpose, &resp, "192.0.2.10", now, &bound, error);
	ta_assert_free(&a);
	admin_key_options_free(&o);
	return res;
}

static enum admin_key_result sign_in(struct env *e, const char *name, struct ta_key *k, time_t now,
                                     const char **error)
{
	return answer_as(e, name, ADMIN_KEY_SIGNIN, name, ADMIN_KEY_SIGNIN, k, now, error);
}

/* An approval's touch: recorded in the log by admin_key_assert itself (a sign-in's is not). */
static enum admin_key_result approve(struct env *e, const char *name, struct ta_key *k, time_t now,
                                     const char **error)
{
	return answer_as(e, name, ADMIN_KEY_APPROVE, name, ADMIN_KEY_APPROVE, k, now, error);
}

static void assert_refused_for(enum admin_key_result res, const char *const *error,
                               const char *expect)
{
	assert_int_equal(res, ADMIN_KEY_REFUSED);
	if (strstr(*error, expect) == NULL)
		fail_msg("refused for '%s', expected '%s'", *error, expect);
}

struct key_rows {
	unsigned n;
	char labels[20][80], algs[20][8], ips[20][64];
	int64_t ids[20];
	time_t last_used[20];
};

static void key_row(const struct admin_key_info *k, void *ctx)
{
	struct key_rows *r = ctx;

	assert_true(r->n < 20);
	snprintf(r->labels[r->n], sizeof(r->labels[0]), "%s", k->label);
	snprintf(r->algs[r->n], sizeof(r->algs[0]), "%s", k->alg);
	snprintf(r->ips[r->n], sizeof(r->ips[0]), "%s", k->last_ip);
	r->ids[r->n] = k->id;
	r->last_used[r->n] = k->last_used;
	r->n++;
}

static struct key_rows list_keys(struct env *e, const char *name)
{
	struct key_rows rows = {0};
	const char *error = NULL;

	if (admin_key_list(e->p, name, key_row, &rows, &error) < 0)
		fail_msg("admin_key_list: %s", error);
	return rows;
}

struct log_rows {
	unsigned n;
	char reasons[20][32], results[20][16], factors[20][16];
	bool stolen[20];
};

static void log_row(const struct admin_log_entry *l, void *ctx)
{
	struct log_rows *r = ctx;

	if (r->n == 20)
		return;
	snprintf(r->reasons[r->n], 32, "%s", l->reason);
	snprintf(r->results[r->n], 16, "%s", l->result);
	snprintf(r->factors[r->n], 16, "%s", l->factor);
	r->stolen[r->n] = l->stolen_password;
	r->n++;
}

static struct log_rows log_of(struct env *e, const char *name)
{
	struct log_rows rows = {0};
	const char *error;

	assert_int_equal(admin_log(e->p, name, 0, log_row, &rows, &error), 0);
	return rows;
}

static void test_register_and_sign_in(void **state)
{
	struct env *e = *state;
	struct admin_key_options o;
	const char *error = NULL;
	struct key_rows rows;
	struct log_rows log;
	struct ta_key k;
	int64_t id;

	ta_key_new(&k, WEBAUTHN_ALG_EDDSA);
	o = challenge_for(e, "alice", ADMIN_KEY_REGISTER, NOW);
	assert_string_equal(o.rp_id, TA_RP_ID);
	assert_string_equal(o.user_name, "alice");
	assert_int_equal(o.ncreds, 0);
	assert_int_equal(o.expires, NOW + ADMIN_CHALLENGE_LIFETIME);
	admin_key_options_free(&o);
	id = register_key(e, "alice", &k, "blue key");
	rows = list_keys(e, "alice");
	assert_int_equal(rows.n, 1);
	assert_int_equal(rows.ids[0], id);
	assert_string_equal(rows.labels[0], "blue key");
	assert_string_equal(rows.algs[0], "EdDSA");
	assert_int_equal(rows.last_used[0], 0);
	/* the sign-in challenge lists the key, and the key answers it */
	o = challenge_for(e, "alice", ADMIN_KEY_SIGNIN, NOW);
	assert_int_equal(o.ncreds, 1);
	assert_memory_equal(o.creds[0].id, k.id, sizeof(k.id));
	admin_key_options_free(&o);
	assert_int_equal(sign_in(e, "alice", &k, NOW + 5, &error), ADMIN_KEY_OK);
	rows = list_keys(e, "alice");
	assert_int_equal(rows.last_used[0], NOW + 5);
	assert_string_equal(rows.ips[0], "192.0.2.10");
	/* a sign-in's touch is a login's second step: the policy records it (test-auth-key-signin)
	 */
	assert_int_equal(log_of(e, "alice").n, 0);
	assert_int_equal(approve(e, "alice", &k, NOW + 6, &error), ADMIN_KEY_OK);
	log = log_of(e, "alice");
	assert_int_equal(log.n, 1);
	assert_string_equal(log.factors[0], "webauthn");
	assert_string_equal(log.results[0], "ok");
	assert_string_equal(log.reasons[0], "approve");
	/* a registration challenge now excludes the key */
	o = challenge_for(e, "alice", ADMIN_KEY_REGISTER, NOW);
	assert_int_equal(o.ncreds, 1);
	admin_key_options_free(&o);
	ta_key_free(&k);
}

static void test_every_algorithm(void **state)
{
	const int algs[] = {WEBAUTHN_ALG_ES256, WEBAUTHN_ALG_EDDSA, WEBAUTHN_ALG_RS256};
	struct env *e = *state;
	const char *error = NULL;

	for (size_t i = 0; i < 3; i++) {
		struct ta_key k;

		ta_key_new(&k, algs[i]);
		register_key(e, "bob", &k, NULL);
		assert_int_equal(sign_in(e, "bob", &k, NOW, &error), ADMIN_KEY_OK);
		ta_key_free(&k);
	}
	assert_string_equal(list_keys(e, "bob").labels[2], "security key");
}

/* Answering the same challenge twice, with the same or a new response. */
static void test_challenge_single_use(void **state)
{
	struct env *e = *state;
	struct admin_key_options o = challenge_for(e, "alice", ADMIN_KEY_REGISTER, NOW);
	struct admin_key_response resp;
	const char *error = NULL;
	struct ta_key k;
	struct ta_reg r;
	struct ta_assert a;
	int64_t id, bound;

	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	ta_register(&r, &k, TA_NONE, o.challenge, TA_ORIGIN, TA_RP_ID, TA_UP);
	resp = reg_response(&r, &k);
	assert_int_equal(admin_key_register(e->p, "alice", &resp, "", "", NOW, &id, &error), 0);
	assert_int_equal(admin_key_register(e->p, "alice", &resp, "", "", NOW, &id, &error), -1);
	assert_non_null(strstr(error, "not a challenge issued"));
	ta_reg_free(&r);
	admin_key_options_free(&o);
	o = challenge_for(e, "alice", ADMIN_KEY_SIGNIN, NOW);
	ta_assert(&a, &k, o.challenge);
	resp = assert_response(&a, &k);
	assert_int_equal(
	    admin_key_assert(e->p, "alice", ADMIN_KEY_SIGNIN, &resp, "", NOW, &bound, &error),
	    ADMIN_KEY_OK);
	ta_assert_free(&a);
	k.counter += 10; /* a fresh, valid signature over the used challenge */
	ta_assert_with(&a, &k, o.challenge, TA_ORIGIN, TA_RP_ID, TA_UP, "webauthn.get");
	resp = assert_response(&a, &k);
	assert_int_equal(
	    admin_key_assert(e->p, "alice", ADMIN_KEY_SIGNIN, &resp, "", NOW, &bound, &error),
	    ADMIN_KEY_REFUSED);
	assert_non_null(strstr(error, "not a challenge issued"));
	assert_int_equal(log_of(e, "alice").n, 0); /* the policy records sign-ins */
	ta_assert_free(&a);
	admin_key_options_free(&o);
	ta_key_free(&k);
}

/* A failed answer uses the challenge up too: no second try against the same one. */
static void test_challenge_used_up_by_failure(void **state)
{
	struct env *e = *state;
	struct admin_key_options o;
	struct admin_key_response resp;
	const char *error = NULL;
	struct ta_key k;
	struct ta_assert a;
	int64_t bound;

	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	register_key(e, "alice", &k, NULL);
	o = challenge_for(e, "alice", ADMIN_KEY_SIGNIN, NOW);
	ta_assert(&a, &k, o.challenge);
	a.sig.p[10] ^= 1;
	resp = assert_response(&a, &k);
	assert_int_equal(
	    admin_key_assert(e->p, "alice", ADMIN_KEY_SIGNIN, &resp, "", NOW, &bound, &error),
	    ADMIN_KEY_REFUSED);
	assert_non_null(strstr(error, "signature invalid"));
	a.sig.p[10] ^= 1;
	assert_int_equal(
	    admin_key_assert(e->p, "alice", ADMIN_KEY_SIGNIN, &resp, "", NOW, &bound, &error),
	    ADMIN_KEY_REFUSED);
	assert_non_null(strstr(error, "not a challenge issued"));
	ta_assert_free(&a);
	admin_key_options_free(&o);
	ta_key_free(&k);
}

static void test_challenge_expires(void **state)
{
	struct env *e = *state;
	const char *error = NULL;
	struct ta_key k;

	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	register_key(e, "alice", &k, NULL);
	/* issued at NOW, answered at the last second and one second later */
	struct admin_key_options o = challenge_for(e, "alice", ADMIN_KEY_SIGNIN, NOW);
	struct admin_key_options late = challenge_for(e, "alice", ADMIN_KEY_SIGNIN, NOW);
	struct ta_assert a;
	struct admin_key_response resp;
	int64_t bound;

	ta_assert(&a, &k, o.challenge);
	resp = assert_response(&a, &k);
	assert_int_equal(admin_key_assert(e->p, "alice", ADMIN_KEY_SIGNIN, &resp, "",
	                                  NOW + ADMIN_CHALLENGE_LIFETIME - 1, &bound, &error),
	                 ADMIN_KEY_OK);
	ta_assert_free(&a);
	ta_assert(&a, &k, late.challenge);
	resp = assert_response(&a, &k);
	assert_int_equal(admin_key_assert(e->p, "alice", ADMIN_KEY_SIGNIN, &resp, "",
	                                  NOW + ADMIN_CHALLENGE_LIFETIME, &bound, &error),
	                 ADMIN_KEY_REFUSED);
	assert_non_null(strstr(error, "not a challenge issued"));
	ta_assert_free(&a);
	admin_key_options_free(&o);
	admin_key_options_free(&late);
	ta_key_free(&k);
}

/* A challenge answers only for the user and the purpose it was issued for. */
static void test_challenge_scope(void **state)
{
	struct env *e = *state;
	struct admin_key_options o;
	struct admin_key_response resp;
	const char *error = NULL;
	struct ta_key ka, kb;
	struct ta_reg r;
	int64_t id;

	ta_key_new(&ka, WEBAUTHN_ALG_ES256);
	ta_key_new(&kb, WEBAUTHN_ALG_ES256);
	register_key(e, "alice", &ka, NULL);
	register_key(e, "bob", &kb, NULL);
	/* a sign-in challenge is not an approval challenge */
	assert_refused_for(
	    answer_as(e, "alice", ADMIN_KEY_SIGNIN, "alice", ADMIN_KEY_APPROVE, &ka, NOW, &error),
	    &error, "not a challenge issued");
	/* bob's challenge answered in alice's name: refused, even with alice's own key */
	assert_refused_for(
	    answer_as(e, "bob", ADMIN_KEY_SIGNIN, "alice", ADMIN_KEY_SIGNIN, &ka, NOW, &error),
	    &error, "not a challenge issued");
	/* a sign-in challenge cannot register a key */
	o = challenge_for(e, "alice", ADMIN_KEY_SIGNIN, NOW);
	ta_register(&r, &kb, TA_NONE, o.challenge, TA_ORIGIN, TA_RP_ID, TA_UP);
	resp = reg_response(&r, &kb);
	assert_int_equal(admin_key_register(e->p, "alice", &resp, "", "", NOW, &id, &error), -1);
	assert_non_null(strstr(error, "not a challenge issued"));
	ta_reg_free(&r);
	admin_key_options_free(&o);
	ta_key_free(&ka);
	ta_key_free(&kb);
}

/* Bob's key, properly signed over alice's challenge, does not sign alice in; nor does a key
 * nobody registered. */
static void test_other_users_credential(void **state)
{
	struct env *e = *state;
	const char *error = NULL;
	struct ta_key ka, kb, unknown;

	ta_key_new(&ka, WEBAUTHN_ALG_ES256);
	ta_key_new(&kb, WEBAUTHN_ALG_ES256);
	ta_key_new(&unknown, WEBAUTHN_ALG_ES256);
	register_key(e, "alice", &ka, NULL);
	register_key(e, "bob", &kb, NULL);
	assert_refused_for(sign_in(e, "alice", &kb, NOW, &error), &error,
	                   "not a security key of this user");
	assert_refused_for(sign_in(e, "alice", &unknown, NOW, &error), &error,
	                   "not a security key of this user");
	assert_int_equal(sign_in(e, "alice", &ka, NOW, &error), ADMIN_KEY_OK);
	ta_key_free(&ka);
	ta_key_free(&kb);
	ta_key_free(&unknown);
}

static void user_row(const struct admin_user_info *u, void *ctx)
{
	if (strcmp(u->name, "alice") == 0)
		*(struct admin_user_info *)ctx = *u;
}

/* A clone (counter not increasing): refused apart from a plain refusal, logged as an alarm,
 * the user marked. */
static void test_cloned_key_alarm(void **state)
{
	struct env *e = *state;
	struct admin_user_info info = {0};
	const char *error = NULL;
	struct log_rows log;
	struct ta_key k;

	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	k.counter = 40;
	register_key(e, "alice", &k, NULL);
	assert_int_equal(approve(e, "alice", &k, NOW, &error), ADMIN_KEY_OK); /* 41 */
	k.counter = 40;                                                       /* the clone */
	assert_int_equal(approve(e, "alice", &k, NOW, &error), ADMIN_KEY_CLONED);
	assert_non_null(strstr(error, "cloned"));
	log = log_of(e, "alice");
	assert_string_equal(log.reasons[0], "cloned-key");
	assert_string_equal(log.results[0], "fail");
	assert_true(log.stolen[0]);
	assert_int_equal(admin_user_list(e->p, user_row, &info, &error), 0);
	assert_int_equal(info.stolen_password_signs, 1);
	assert_int_equal(info.keys, 1);
	/* the genuine key goes on working */
	k.counter = 42;
	assert_int_equal(sign_in(e, "alice", &k, NOW, &error), ADMIN_KEY_OK);
	ta_key_free(&k);
}

static void test_user_handle_and_raw_id(void **state)
{
	struct env *e = *state;
	struct admin_key_options o;
	struct admin_key_response resp;
	const char *error = NULL;
	unsigned char wrong[ADMIN_USER_HANDLE_LEN];
	struct ta_key k, other;
	struct ta_assert a;
	struct ta_reg r;
	int64_t bound, id;

	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	ta_key_new(&other, WEBAUTHN_ALG_ES256);
	register_key(e, "alice", &k, NULL);
	o = challenge_for(e, "alice", ADMIN_KEY_SIGNIN, NOW);
	ta_assert(&a, &k, o.challenge);
	resp = assert_response(&a, &k);
	memcpy(wrong, o.user_handle, sizeof(wrong));
	wrong[0] ^= 1;
	resp.user_handle = wrong;
	resp.user_handle_len = sizeof(wrong);
	assert_int_equal(
	    admin_key_assert(e->p, "alice", ADMIN_KEY_SIGNIN, &resp, "", NOW, &bound, &error),
	    ADMIN_KEY_REFUSED);
	assert_non_null(strstr(error, "userHandle"));
	ta_assert_free(&a);
	admin_key_options_free(&o);
	o = challenge_for(e, "alice", ADMIN_KEY_SIGNIN, NOW);
	ta_assert(&a, &k, o.challenge);
	resp = assert_response(&a, &k);
	resp.user_handle = o.user_handle;
	resp.user_handle_len = sizeof(o.user_handle);
	assert_int_equal(
	    admin_key_assert(e->p, "alice", ADMIN_KEY_SIGNIN, &resp, "", NOW, &bound, &error),
	    ADMIN_KEY_OK);
	ta_assert_free(&a);
	admin_key_options_free(&o);
	/* the handle is the same for every challenge of a user, and differs between users */
	struct admin_key_options o1 = challenge_for(e, "alice", ADMIN_KEY_REGISTER, NOW);
	struct admin_key_options o2 = challenge_for(e, "alice", ADMIN_KEY_REGISTER, NOW);
	struct admin_key_options o3 = challenge_for(e, "bob", ADMIN_KEY_REGISTER, NOW);
	assert_memory_equal(o1.user_handle, o2.user_handle, ADMIN_USER_HANDLE_LEN);
	assert_memory_not_equal(o1.user_handle, o3.user_handle, ADMIN_USER_HANDLE_LEN);
	assert_memory_not_equal(o1.challenge, o2.challenge, WEBAUTHN_CHALLENGE_LEN);
	/* registration: rawId must be the attested credential id */
	ta_register(&r, &k, TA_NONE, o1.challenge, TA_ORIGIN, TA_RP_ID, TA_UP);
	resp = reg_response(&r, &other);
	assert_int_equal(admin_key_register(e->p, "alice", &resp, "", "", NOW, &id, &error), -1);
	assert_non_null(strstr(error, "rawId"));
	ta_reg_free(&r);
	admin_key_options_free(&o1);
	admin_key_options_free(&o2);
	admin_key_options_free(&o3);
	ta_key_free(&k);
	ta_key_free(&other);
}

/* The same credential cannot be registered twice, for the same user or another. */
static void test_duplicate_and_limit(void **state)
{
	struct env *e = *state;
	struct admin_key_options o;
	struct admin_key_response resp;
	const char *error = NULL;
	struct ta_key k;
	struct ta_reg r;
	int64_t id;

	ta_key_new(&k, WEBAUTHN_ALG_EDDSA);
	register_key(e, "alice", &k, NULL);
	o = challenge_for(e, "bob", ADMIN_KEY_REGISTER, NOW);
	ta_register(&r, &k, TA_NONE, o.challenge, TA_ORIGIN, TA_RP_ID, TA_UP);
	resp = reg_response(&r, &k);
	assert_int_equal(admin_key_register(e->p, "bob", &resp, "", "", NOW, &id, &error), -1);
	assert_non_null(strstr(error, "registered already"));
	ta_reg_free(&r);
	admin_key_options_free(&o);
	ta_key_free(&k);
	for (int i = 1; i < ADMIN_KEYS_MAX; i++) {
		ta_key_new(&k, WEBAUTHN_ALG_EDDSA);
		register_key(e, "alice", &k, NULL);
		ta_key_free(&k);
	}
	assert_int_equal(list_keys(e, "alice").n, ADMIN_KEYS_MAX);
	assert_int_equal(admin_key_challenge(e->p, "alice", ADMIN_KEY_REGISTER, 0, NOW, &o, &error),
	                 -1);
	assert_non_null(strstr(error, "the most allowed"));
	assert_int_equal(o.ncreds, 0);
}

static void test_approval_bound(void **state)
{
	struct env *e = *state;
	struct admin_key_options o;
	struct admin_key_response resp;
	const char *error = NULL;
	struct ta_key k;
	struct ta_assert a;
	int64_t bound = -1;

	assert_int_equal(admin_key_challenge(e->p, "alice", ADMIN_KEY_APPROVE, 42, NOW, &o, &error),
	                 -1);
	assert_non_null(strstr(error, "no security key"));
	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	register_key(e, "alice", &k, NULL);
	assert_int_equal(admin_key_challenge(e->p, "alice", ADMIN_KEY_APPROVE, 42, NOW, &o, &error),
	                 0);
	ta_assert(&a, &k, o.challenge);
	resp = assert_response(&a, &k);
	assert_int_equal(
	    admin_key_assert(e->p, "alice", ADMIN_KEY_APPROVE, &resp, "", NOW, &bound, &error),
	    ADMIN_KEY_OK);
	assert_int_equal(bound, 42);
	assert_string_equal(log_of(e, "alice").reasons[0], "approve");
	ta_assert_free(&a);
	admin_key_options_free(&o);
	ta_key_free(&k);
}

static void test_needs_portal_origin(void **state)
{
	struct env *e = *state;
	struct admin_key_options o;
	const char *error = NULL;

	xfree(&e->cfg->portal_origin);
	assert_int_equal(admin_key_challenge(e->p, "alice", ADMIN_KEY_REGISTER, 0, NOW, &o, &error),
	                 -1);
	assert_non_null(strstr(error, "[portal] origin"));
	assert_int_equal(
	    admin_key_challenge(e->p, "nobody", ADMIN_KEY_REGISTER, 0, NOW, &o, &error), -1);
}

static void test_rename_remove(void **state)
{
	struct env *e = *state;
	struct admin_key_options o;
	const char *error = NULL;
	char long_label[80];
	struct ta_key k, spare;
	int64_t id;

	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	ta_key_new(&spare, WEBAUTHN_ALG_ES256);
	id = register_key(e, "alice", &k, "old");
	register_key(e, "alice", &spare, "spare");
	assert_int_equal(admin_key_rename(e->p, "alice", id, "new name", &error), 0);
	assert_string_equal(list_keys(e, "alice").labels[0], "new name");
	memset(long_label, 'x', sizeof(long_label) - 1);
	long_label[sizeof(long_label) - 1] = '\0';
	assert_int_equal(admin_key_rename(e->p, "alice", id, long_label, &error), -1);
	assert_int_equal(admin_key_rename(e->p, "alice", id, "tab\there", &error), -1);
	assert_int_equal(admin_key_rename(e->p, "bob", id, "mine", &error), -1);
	assert_non_null(strstr(error, "no security key with that id"));
	assert_int_equal(admin_key_remove(e->p, "bob", id, &error), -1);
	assert_int_equal(list_keys(e, "alice").n, 2);
	assert_int_equal(admin_key_remove(e->p, "alice", id, &error), 0);
	assert_int_equal(list_keys(e, "alice").n, 1);
	assert_string_equal(list_keys(e, "alice").labels[0], "spare");
	assert_refused_for(sign_in(e, "alice", &k, NOW, &error), &error,
	                   "not a security key of this user");
	assert_int_equal(admin_key_remove(e->p, "alice", id, &error), -1);
	/* without keys, no sign-in challenge */
	assert_int_equal(admin_key_remove(e->p, "alice", list_keys(e, "alice").ids[0], &error), 0);
	assert_int_equal(admin_key_challenge(e->p, "alice", ADMIN_KEY_SIGNIN, 0, NOW, &o, &error),
	                 -1);
	assert_non_null(strstr(error, "no security key"));
	ta_key_free(&k);
	ta_key_free(&spare);
}

/* needle is in none of the store's files (main, WAL, shared memory). */
static void assert_not_in_db(const struct env *e, const char *needle)
{
	const char *suffixes[] = {"", "-wal", "-shm"};

	for (size_t i = 0; i < 3; i++) {
		char *path = xasprintf("%s%s", e->cfg->auth_database, suffixes[i]);
		struct tbuf data = {0};
		char buf[4096];
		ssize_t n;
		int fd = open(path, O_RDONLY);

		while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
			tbuf_add(&data, buf, (size_t)n);
		if (fd >= 0)
			close(fd);
		if (data.len > 0 && memmem(data.p, data.len, needle, strlen(needle)) != NULL)
			fail_msg("%s found in clear in %s", needle, path);
		tbuf_free(&data);
		free(path);
	}
}

static void test_invites(void **state)
{
	struct env *e = *state;
	const char *error = NULL;
	char *token = NULL, *other = NULL, *old = NULL, *scratch = NULL;
	time_t expires;
	int64_t uid = 0;
	struct auth_user alice;

	assert_int_equal(e->p->module->user_get(e->p->store, "alice", &alice, &error), 1);
	assert_int_equal(admin_key_invite(e->p, "alice", 24, NOW, &token, &expires, &error), 0);
	assert_int_equal(strlen(token), ADMIN_INVITE_TOKEN_LEN);
	assert_int_equal(strspn(token, FACTOR_ALPHABET), ADMIN_INVITE_TOKEN_LEN);
	assert_int_equal(expires, NOW + 24 * 3600);
	assert_int_equal(admin_key_invite(e->p, "alice", 1, NOW - 3600, &old, &expires, &error), 0);
	assert_int_equal(admin_key_invite(e->p, "bob", 24, NOW, &other, &expires, &error), 0);
	assert_string_not_equal(token, other);
	/* only a keyed hash is stored */
	env_close(e);
	assert_not_in_db(e, token);
	env_open(e);
	assert_int_equal(admin_key_invite_consume(e->p, token, NOW + 100, &uid, &error), 0);
	assert_int_equal(uid, alice.id);
	assert_int_equal(admin_key_invite_consume(e->p, token, NOW + 101, &uid, &error), -1);
	assert_non_null(strstr(error, "invalid or expired"));
	assert_int_equal(admin_key_invite_consume(e->p, old, NOW, &uid, &error), -1);
	assert_int_equal(admin_key_invite_consume(e->p, "short", NOW, &uid, &error), -1);
	assert_int_equal(admin_key_invite_consume(e->p, NULL, NOW, &uid, &error), -1);
	other[0] = other[0] == 'a' ? 'b' : 'a';
	assert_int_equal(admin_key_invite_consume(e->p, other, NOW, &uid, &error), -1);
	assert_int_equal(admin_key_invite(e->p, "alice", 0, NOW, &scratch, &expires, &error), -1);
	assert_null(scratch);
	assert_int_equal(admin_key_invite(e->p, "alice", ADMIN_INVITE_HOURS_MAX + 1, NOW, &scratch,
	                                  &expires, &error),
	                 -1);
	/* a user's deletion takes the invites with it */
	xfree_secret_str(&token);
	assert_int_equal(admin_key_invite(e->p, "bob", 24, NOW, &token, &expires, &error), 0);
	assert_int_equal(admin_user_del(e->p, "bob", &error), 0);
	assert_int_equal(admin_key_invite_consume(e->p, token, NOW, &uid, &error), -1);
	auth_user_clear(&alice);
	xfree_secret_str(&token);
	xfree_secret_str(&other);
	xfree_secret_str(&old);
}

struct atomic_race {
	const struct auth_challenge *c;
	int64_t user_id, key_id;
};

/* Even processes take the challenge, odd ones store the key's counter: 10 done, 11 not. */
static int atomic_child(struct env *e, int i, void *ctx)
{
	const struct atomic_race *a = ctx;
	struct auth_challenge got;
	const char *error;
	int rc;

	if (i % 2 == 0)
		rc = e->p->module->challenge_take(e->p->store, a->c->challenge, "signin",
		                                  a->user_id, NOW, &got, &error);
	else
		rc = e->p->module->webauthn_use(e->p->store, a->key_id, 5, NOW, "", &error);
	return rc == 1 ? 10 : rc == 0 ? 11 : 12;
}

/* Several processes taking the same challenge, or storing the same counter, at once: exactly
 * one succeeds (the store does each in one statement). */
static void test_atomic_between_processes(void **state)
{
	struct env *e = *state;
	struct auth_challenge c = {.bound_id = 7, .expires = NOW + 60};
	struct auth_user alice;
	struct ta_key k;
	const char *error;
	int64_t id;
	int wins = 0, status[6];

	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	id = register_key(e, "alice", &k, NULL);
	assert_int_equal(e->p->module->user_get(e->p->store, "alice", &alice, &error), 1);
	c.user_id = alice.id;
	snprintf(c.purpose, sizeof(c.purpose), "signin");
	randombytes_buf(c.challenge, sizeof(c.challenge));
	assert_int_equal(e->p->module->challenge_put(e->p->store, &c, NOW, &error), 1);
	env_race(e, 6, atomic_child, &(struct atomic_race){&c, alice.id, id}, status);
	for (int i = 0; i < 6; i++) {
		assert_true(status[i] != 12);
		wins += status[i] == 10;
	}
	assert_int_equal(wins, 2); /* one take, one counter update */
	auth_user_clear(&alice);
	ta_key_free(&k);
}

/* A store made before these tables existed gains them at open and keeps its data (whatever its
 * schema version: the tables do not depend on one). */
static void test_schema_additive(void **state)
{
	struct env *e = *state;
	const char *error = NULL;
	sqlite3 *db;
	struct ta_key k;

	env_close(e);
	assert_int_equal(sqlite3_open(e->cfg->auth_database, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                              "DROP TABLE webauthn_keys; DROP TABLE webauthn_challenges; "
	                              "DROP TABLE webauthn_invites;",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	env_open(e);
	assert_int_equal(admin_user_add(e->p, "alice", TEST_PASSWORD, &error), -1); /* kept */
	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	register_key(e, "alice", &k, NULL);
	assert_int_equal(sign_in(e, "alice", &k, NOW, &error), ADMIN_KEY_OK);
	ta_key_free(&k);
}

/* Issuing many challenges keeps only the newest few of a user and purpose. */
static void test_challenges_bounded(void **state)
{
	struct env *e = *state;
	struct admin_key_options first = challenge_for(e, "alice", ADMIN_KEY_REGISTER, NOW);
	struct admin_key_response resp;
	const char *error = NULL;
	struct ta_key k;
	struct ta_reg r;
	sqlite3 *db;
	sqlite3_stmt *stmt;
	int64_t id;

	for (int i = 0; i < 50; i++) {
		struct admin_key_options o = challenge_for(e, "alice", ADMIN_KEY_REGISTER, NOW + i);

		admin_key_options_free(&o);
	}
	assert_int_equal(sqlite3_open(e->cfg->auth_database, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM webauthn_challenges", -1, &stmt, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(stmt, 0), 8);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	/* the oldest is gone */
	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	ta_register(&r, &k, TA_NONE, first.challenge, TA_ORIGIN, TA_RP_ID, TA_UP);
	resp = reg_response(&r, &k);
	assert_int_equal(admin_key_register(e->p, "alice", &resp, "", "", NOW, &id, &error), -1);
	ta_reg_free(&r);
	admin_key_options_free(&first);
	ta_key_free(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_register_and_sign_in, keys_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_every_algorithm, keys_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_challenge_single_use, keys_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_challenge_used_up_by_failure, keys_setup,
	                                    env_teardown),
	    cmocka_unit_test_setup_teardown(test_challenge_expires, keys_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_challenge_scope, keys_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_other_users_credential, keys_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_cloned_key_alarm, keys_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_user_handle_and_raw_id, keys_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_duplicate_and_limit, keys_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_approval_bound, keys_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_needs_portal_origin, keys_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_rename_remove, keys_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_invites, keys_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_atomic_between_processes, keys_setup,
	                                    env_teardown),
	    cmocka_unit_test_setup_teardown(test_schema_additive, keys_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_challenges_bounded, keys_setup, env_teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
