/*
 * Security keys (WebAuthn) for the CLI and the portal (auth/admin.h): challenges kept single
 * use by the store, registration and assertion checked by auth/webauthn.c, the sign-counter
 * rule kept atomically by the store, and enrolment invites.
 */
#include "auth/admin-private.h"
#include "auth/factor.h"
#include "auth/webauthn.h"
#include "common/config.h"
#include "common/log.h"
#include "common/text.h"
#include "common/xalloc.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN_KEY_LABEL_MAX     64
#define ADMIN_KEY_DEFAULT_LABEL "security key"
#define ADMIN_KEY_IP_MAX        64

_Static_assert(ADMIN_USER_HANDLE_LEN == AUTH_HASH_LEN, "user handle is one keyed hash");
_Static_assert(WEBAUTHN_CHALLENGE_LEN == AUTH_CHALLENGE_LEN, "one challenge size");

static const char *const admin_key_purposes[] = {
    [ADMIN_KEY_REGISTER] = "register",
    [ADMIN_KEY_SIGNIN] = "signin",
    [ADMIN_KEY_APPROVE] = "approve",
};

/* The relying party is [portal] origin; *rp_id_r (its host) is the caller's to free. */
static int admin_key_rp(struct auth_policy *p, struct webauthn_rp *rp, char **rp_id_r,
                        const char **error_r)
{
	const char *origin = p->cfg->portal_origin;

	*rp_id_r = origin != NULL ? config_origin_host(origin) : NULL;
	if (*rp_id_r == NULL)
		return admin_fail(p, error_r,
		                  "security keys need [portal] origin = https://HOST[:PORT] in %s",
		                  p->cfg->path != NULL ? p->cfg->path : "the configuration");
	rp->id = *rp_id_r;
	rp->origin = origin;
	return 0;
}

/* The WebAuthn user.id: opaque and stable, derived from the user's id with the server key. */
static void admin_key_user_handle(struct auth_policy *p, int64_t user_id,
                                  unsigned char out[ADMIN_USER_HANDLE_LEN])
{
	char id[32];
	const char *parts[2] = {"user-handle", id};
	size_t lens[2];

	snprintf(id, sizeof(id), "%" PRId64, user_id);
	lens[0] = strlen(parts[0]);
	lens[1] = strlen(id);
	factor_keyed_hash(p->keys.webauthn, parts, lens, 2, out);
}

/* A client IP fit for the store and the log, or "". */
static const char *admin_key_ip(const char *ip)
{
	return ip != NULL && text_is_sane(ip, strlen(ip), ADMIN_KEY_IP_MAX) ? ip : "";
}

/* ---- challenges ---- */

static void admin_key_collect(const struct auth_webauthn *k, void *ctx)
{
	struct admin_key_options *o = ctx;
	struct admin_key_cred_id *c;

	o->creds = xreallocarray(o->creds, o->ncreds + 1, sizeof(*o->creds));
	c = &o->creds[o->ncreds++];
	c->id = xmalloc(k->cred_id_len);
	memcpy(c->id, k->cred_id, k->cred_id_len);
	c->len = k->cred_id_len;
}

void admin_key_options_free(struct admin_key_options *opts)
{
	for (size_t i = 0; i < opts->ncreds; i++)
		free(opts->creds[i].id);
	free(opts->creds);
	memset(opts, 0, sizeof(*opts));
}

/* A registration needs room for one more key; a sign-in or an approval needs a key. */
static int admin_key_purpose_ok(struct auth_policy *p, const struct admin_key_options *o,
                                enum admin_key_purpose purpose, const char **error_r)
{
	if (purpose == ADMIN_KEY_REGISTER && o->ncreds >= ADMIN_KEYS_MAX)
		return admin_fail(p, error_r,
		                  "'%s' has %d security keys already (the most allowed)",
		                  o->user_name, ADMIN_KEYS_MAX);
	if (purpose != ADMIN_KEY_REGISTER && o->ncreds == 0)
		return admin_fail(p, error_r, "'%s' has no security key", o->user_name);
	return 0;
}

static int admin_key_issue(struct auth_policy *p, const struct auth_user *user,
                           enum admin_key_purpose purpose, int64_t bound_id, time_t now,
                           struct admin_key_options *o, const char **error_r)
{
	struct auth_challenge c = {.user_id = user->id, .bound_id = bound_id};
	const char *err = NULL;

	snprintf(o->user_name, sizeof(o->user_name), "%s", user->name);
	if (p->module->webauthn_list(p->store, user->id, admin_key_collect, o, &err) < 0)
		return admin_store_error(p, err, error_r);
	if (admin_key_purpose_ok(p, o, purpose, error_r) < 0)
		return -1;
	randombytes_buf(c.challenge, sizeof(c.challenge));
	snprintf(c.purpose, sizeof(c.purpose), "%s", admin_key_purposes[purpose]);
	c.expires = now + ADMIN_CHALLENGE_LIFETIME;
	if (p->module->challenge_put(p->store, &c, now, &err) < 0)
		return admin_store_error(p, err, error_r);
	memcpy(o->challenge, c.challenge, sizeof(o->challenge));
	o->expires = c.expires;
	admin_key_user_handle(p, user->id, o->user_handle);
	return 0;
}

int admin_key_challenge(struct auth_policy *p, const char *name, enum admin_key_purpose purpose,
                        int64_t bound_id, time_t now, struct admin_key_options *opts_r,
                        const char **error_r)
{
	struct webauthn_rp rp;
	struct auth_user user;
	char *rp_id = NULL;
	int rc = -1;

	memset(opts_r, 0, sizeof(*opts_r));
	if (admin_key_rp(p, &rp, &rp_id, error_r) < 0)
		return -1;
	snprintf(opts_r->rp_id, sizeof(opts_r->rp_id), "%s", rp_id);
	free(rp_id);
	if (admin_get_user(p, name, &user, error_r) < 0)
		return -1;
	rc = admin_key_issue(p, &user, purpose, bound_id, now, opts_r, error_r);
	auth_user_clear(&user);
	if (rc < 0)
		admin_key_options_free(opts_r);
	return rc;
}

/* Takes back the challenge named in clientDataJSON, issued to this user for purpose: it is
 * used up here, whatever comes next. 1 taken, 0 refused (error set), -1 store error. */
static int admin_key_take(struct auth_policy *p, const struct auth_user *user,
                          enum admin_key_purpose purpose, const struct admin_key_response *r,
                          time_t now, struct auth_challenge *c, const char **error_r)
{
	unsigned char challenge[WEBAUTHN_CHALLENGE_LEN];
	const char *err = NULL;
	int rc;

	if (webauthn_client_challenge(r->client_data, r->client_data_len, challenge) == 0) {
		*error_r = "clientDataJSON: no challenge in it";
		return 0;
	}
	rc = p->module->challenge_take(p->store, challenge, admin_key_purposes[purpose], user->id,
	                               now, c, &err);
	if (rc < 0)
		return admin_store_error(p, err, error_r);
	if (rc == 0)
		*error_r = "not a challenge issued for this (unknown, used or expired)";
	return rc;
}

/* ---- registration ---- */

static int admin_key_store_new(struct auth_policy *p, const struct auth_user *user,
                               const struct webauthn_key *key, const char *label, time_t now,
                               int64_t *id_r, const char **error_r)
{
	struct auth_webauthn k = {
	    .user_id = user->id,
	    .cred_id = (unsigned char *)key->id,
	    .cred_id_len = key->id_len,
	    .alg = key->alg,
	    .pubkey = (unsigned char *)key->pubkey,
	    .pubkey_len = key->pubkey_len,
	    .sign_count = key->sign_count,
	    .label = (char *)label,
	    .created = now,
	};
	const char *err = NULL;
	unsigned count = 0;
	int rc = p->module->webauthn_list(p->store, user->id, admin_count_key, &count, &err);

	if (rc >= 0 && count >= ADMIN_KEYS_MAX)
		return admin_fail(p, error_r,
		                  "'%s' has %d security keys already (the most allowed)",
		                  user->name, ADMIN_KEYS_MAX);
	if (rc >= 0)
		rc = p->module->webauthn_add(p->store, &k, id_r, &err);
	if (rc < 0)
		return admin_store_error(p, err, error_r);
	if (rc == 0)
		return admin_fail(p, error_r, "%s", "this security key is registered already");
	return 0;
}

static int admin_key_verify_new(struct auth_policy *p, const struct auth_user *user,
                                const struct webauthn_rp *rp, const struct admin_key_response *r,
                                time_t now, struct webauthn_key *key, const char **error_r)
{
	struct webauthn_registration reg = {.client_data = r->client_data,
	                                    .client_data_len = r->client_data_len,
	                                    .attestation = r->attestation,
	                                    .attestation_len = r->attestation_len};
	struct webauthn_outcome out;
	struct auth_challenge c;
	const char *reason = NULL;
	int rc = admin_key_take(p, user, ADMIN_KEY_REGISTER, r, now, &c, &reason);

	if (rc <= 0)
		return rc < 0 ? -1 : admin_fail(p, error_r, "%s", reason);
	if (webauthn_register(rp, c.challenge, &reg, key, &out, &reason) != WEBAUTHN_OK)
		return admin_fail(p, error_r, "%s", reason);
	/* the rawId the browser reports is the credential id the authenticator attested */
	if (r->cred_id_len != key->id_len || memcmp(r->cred_id, key->id, key->id_len) != 0)
		return admin_fail(p, error_r, "%s", "rawId is not the attested credential id");
	return 0;
}

static int admin_key_label(struct auth_policy *p, const char *label, const char **out,
                           const char **error_r)
{
	if (label == NULL || label[0] == '\0') {
		*out = ADMIN_KEY_DEFAULT_LABEL;
		return 0;
	}
	if (!text_is_sane(label, strlen(label), ADMIN_KEY_LABEL_MAX))
		return admin_fail(p, error_r, "%s", "bad label (at most 64 printable characters)");
	*out = label;
	return 0;
}

int admin_key_register(struct auth_policy *p, const char *name, const struct admin_key_response *r,
                       const char *label, const char *ip, time_t now, int64_t *id_r,
                       const char **error_r)
{
	struct webauthn_key key;
	struct webauthn_rp rp;
	struct auth_user user;
	char *rp_id = NULL;
	int rc;

	*id_r = 0;
	if (admin_key_label(p, label, &label, error_r) < 0 ||
	    admin_key_rp(p, &rp, &rp_id, error_r) < 0)
		return -1;
	if (admin_get_user(p, name, &user, error_r) < 0) {
		free(rp_id);
		return -1;
	}
	rc = admin_key_verify_new(p, &user, &rp, r, now, &key, error_r);
	if (rc == 0)
		rc = admin_key_store_new(p, &user, &key, label, now, id_r, error_r);
	if (rc == 0)
		log_info("security key %" PRId64 " (%s) registered for %s from %s", *id_r,
		         webauthn_alg_name(key.alg), log_quote(user.name),
		         log_quote(admin_key_ip(ip)));
	auth_user_clear(&user);
	free(rp_id);
	return rc;
}

/* ---- assertion ---- */

/* The stored key of this user with the credential id the browser names, as webauthn.c takes
 * it. 1 found, 0 not one of this user's keys (error set), -1 store error. */
static int admin_key_find(struct auth_policy *p, const struct auth_user *user,
                          const struct admin_key_response *r, int64_t *id_r,
                          struct webauthn_key *key, const char **error_r)
{
	struct auth_webauthn k;
	const char *err = NULL;
	int rc = p->module->webauthn_find(p->store, r->cred_id, r->cred_id_len, &k, &err);

	if (rc < 0)
		return admin_store_error(p, err, error_r);
	if (rc == 1 && (k.user_id != user->id || k.cred_id_len > sizeof(key->id) ||
	                k.pubkey_len > sizeof(key->pubkey)))
		rc = 0;
	if (rc == 1) {
		memset(key, 0, sizeof(*key));
		memcpy(key->id, k.cred_id, k.cred_id_len);
		key->id_len = k.cred_id_len;
		key->alg = k.alg;
		memcpy(key->pubkey, k.pubkey, k.pubkey_len);
		key->pubkey_len = k.pubkey_len;
		key->sign_count = k.sign_count;
		*id_r = k.id;
	} else {
		*error_r = "not a security key of this user";
	}
	auth_webauthn_clear(&k);
	return rc;
}

/* A user handle, when the browser sends one, must be this user's. */
static bool admin_key_handle_ok(struct auth_policy *p, const struct auth_user *user,
                                const struct admin_key_response *r)
{
	unsigned char handle[ADMIN_USER_HANDLE_LEN];

	if (r->user_handle_len == 0)
		return true;
	admin_key_user_handle(p, user->id, handle);
	return r->user_handle_len == sizeof(handle) &&
	       sodium_memcmp(r->user_handle, handle, sizeof(handle)) == 0;
}

struct admin_key_check {
	const struct auth_user *user;
	enum admin_key_purpose purpose;
	const struct admin_key_response *r;
	const char *ip;
	time_t now;
	int64_t bound_id;
	const char *reason;
};

/* Everything after the challenge is taken: the key, the ceremony, the counter in the store. */
static enum admin_key_result admin_key_check_key(struct auth_policy *p, struct admin_key_check *c,
                                                 const struct webauthn_rp *rp,
                                                 const unsigned char *challenge)
{
	struct webauthn_assertion as = {.client_data = c->r->client_data,
	                                .client_data_len = c->r->client_data_len,
	                                .auth_data = c->r->auth_data,
	                                .auth_data_len = c->r->auth_data_len,
	                                .sig = c->r->sig,
	                                .sig_len = c->r->sig_len};
	struct webauthn_outcome out;
	struct webauthn_key key;
	enum webauthn_result res;
	int64_t id = 0;
	int rc = admin_key_find(p, c->user, c->r, &id, &key, &c->reason);

	if (rc <= 0)
		return rc < 0 ? ADMIN_KEY_TEMPFAIL : ADMIN_KEY_REFUSED;
	if (!admin_key_handle_ok(p, c->user, c->r)) {
		c->reason = "userHandle is not this user's";
		return ADMIN_KEY_REFUSED;
	}
	res = webauthn_assert(rp, challenge, &as, &key, &out, &c->reason);
	if (res != WEBAUTHN_OK)
		return res == WEBAUTHN_CLONED ? ADMIN_KEY_CLONED : ADMIN_KEY_REFUSED;
	rc = p->module->webauthn_use(p->store, id, out.sign_count, c->now, admin_key_ip(c->ip),
	                             &c->reason);
	if (rc == 0) /* another process stored this counter or a higher one first */
		c->reason = "signature counter did not increase: a cloned key";
	return rc < 0 ? ADMIN_KEY_TEMPFAIL : rc == 0 ? ADMIN_KEY_CLONED : ADMIN_KEY_OK;
}

static enum admin_key_result admin_key_check_all(struct auth_policy *p, struct admin_key_check *c,
                                                 const struct webauthn_rp *rp)
{
	struct auth_challenge ch;
	int rc = admin_key_take(p, c->user, c->purpose, c->r, c->now, &ch, &c->reason);

	if (rc <= 0)
		return rc < 0 ? ADMIN_KEY_TEMPFAIL : ADMIN_KEY_REFUSED;
	c->bound_id = ch.bound_id;
	return admin_key_check_key(p, c, rp, ch.challenge);
}

/* The login log records every key touch; a clone also marks the user and warns. A sign-in's
 * touch is the second step of a login, which the policy records (auth_policy_hold_finish):
 * only the lines for the admin go out for it here. */
static enum admin_key_result admin_key_audit(struct auth_policy *p, const struct admin_key_check *c,
                                             enum admin_key_result res)
{
	const struct auth_module *m = p->module;
	struct admin_log_entry e = {
	    .time = c->now,
	    .user = c->user->name,
	    .proto = "portal",
	    .ip = admin_key_ip(c->ip),
	    .client_id = "",
	    .factor = "webauthn",
	    .result = res == ADMIN_KEY_OK         ? "ok"
	              : res == ADMIN_KEY_TEMPFAIL ? "tempfail"
	                                          : "fail",
	    .reason = res == ADMIN_KEY_OK       ? admin_key_purposes[c->purpose]
	              : res == ADMIN_KEY_CLONED ? "cloned-key"
	                                        : "bad-key",
	    .stolen_password = res == ADMIN_KEY_CLONED,
	};
	const char *err = NULL;

	if (res == ADMIN_KEY_CLONED)
		log_warn("ALARM: cloned security key? user=%s ip=%s: %s", log_quote(e.user),
		         e.ip[0] != '\0' ? log_quote(e.ip) : "-", c->reason);
	else
		log_info("security key %s: user=%s ip=%s reason=%s%s%s", e.result,
		         log_quote(e.user), e.ip[0] != '\0' ? log_quote(e.ip) : "-", e.reason,
		         res != ADMIN_KEY_OK ? ": " : "",
		         res != ADMIN_KEY_OK && c->reason != NULL ? c->reason : "");
	if (c->purpose == ADMIN_KEY_SIGNIN)
		return res;
	if ((res == ADMIN_KEY_CLONED && m->stolen_mark(p->store, c->user->id, &err) < 0) ||
	    m->audit_append(p->store, &e, &err) < 0) {
		log_error("security key of %s: cannot record the outcome: %s", log_quote(e.user),
		          err != NULL ? err : "store error");
		return res == ADMIN_KEY_OK ? ADMIN_KEY_TEMPFAIL : res;
	}
	return res;
}

enum admin_key_result admin_key_assert(struct auth_policy *p, const char *name,
                                       enum admin_key_purpose purpose,
                                       const struct admin_key_response *r, const char *ip,
                                       time_t now, int64_t *bound_id_r, const char **error_r)
{
	struct admin_key_check c = {.purpose = purpose, .r = r, .ip = ip, .now = now};
	enum admin_key_result res;
	struct webauthn_rp rp;
	struct auth_user user;
	char *rp_id = NULL;

	*bound_id_r = 0;
	if (admin_key_rp(p, &rp, &rp_id, error_r) < 0)
		return ADMIN_KEY_REFUSED;
	if (admin_get_user(p, name, &user, error_r) < 0) {
		free(rp_id);
		return ADMIN_KEY_REFUSED;
	}
	c.user = &user;
	res = admin_key_audit(p, &c, admin_key_check_all(p, &c, &rp));
	if (res == ADMIN_KEY_OK)
		*bound_id_r = c.bound_id;
	else
		admin_fail(p, error_r, "%s", c.reason != NULL ? c.reason : "refused");
	auth_user_clear(&user);
	free(rp_id);
	return res;
}

/* ---- list, rename, remove ---- */

struct admin_key_list_cb {
	void (*cb)(const struct admin_key_info *, void *);
	void *ctx;
};

static void admin_key_list_one(const struct auth_webauthn *k, void *ctx)
{
	const struct admin_key_list_cb *c = ctx;
	const char *alg = webauthn_alg_name(k->alg);
	struct admin_key_info info = {
	    .id = k->id,
	    .label = k->label,
	    .alg = alg != NULL ? alg : "?",
	    .created = k->created,
	    .last_used = k->last_used,
	    .last_ip = k->last_ip,
	};

	c->cb(&info, c->ctx);
}

static int admin_key_list_call(struct auth_policy *p, struct auth_user *user, void *ctx,
                               const char **error_r)
{
	return p->module->webauthn_list(p->store, user->id, admin_key_list_one, ctx, error_r);
}

int admin_key_list(struct auth_policy *p, const char *name,
                   void (*cb)(const struct admin_key_info *, void *), void *ctx,
                   const char **error_r)
{
	struct admin_key_list_cb c = {.cb = cb, .ctx = ctx};

	return admin_user_call(p, name, admin_key_list_call, &c, error_r) < 0 ? -1 : 0;
}

/* rc of a module call on one key of the user: 1 done, 0 no such key, -1 store error. */
static int admin_key_done(struct auth_policy *p, const char *name, int rc, const char *err,
                          const char **error_r)
{
	if (rc < 0)
		return admin_store_error(p, err, error_r);
	if (rc == 0)
		return admin_fail(p, error_r, "no security key with that id for '%s'", name);
	return 0;
}

int admin_key_rename(struct auth_policy *p, const char *name, int64_t id, const char *label,
                     const char **error_r)
{
	struct auth_user user;
	const char *err = NULL;
	int rc;

	if (admin_key_label(p, label, &label, error_r) < 0 ||
	    admin_get_user(p, name, &user, error_r) < 0)
		return -1;
	rc = p->module->webauthn_rename(p->store, user.id, id, label, &err);
	auth_user_clear(&user);
	return admin_key_done(p, name, rc, err, error_r);
}

int admin_key_remove(struct auth_policy *p, const char *name, int64_t id, const char **error_r)
{
	struct auth_user user;
	const char *err = NULL;
	int rc;

	if (admin_get_user(p, name, &user, error_r) < 0)
		return -1;
	rc = p->module->webauthn_remove(p->store, user.id, id, &err);
	auth_user_clear(&user);
	if (rc > 0)
		log_info("security key %" PRId64 " of %s removed", id, log_quote(name));
	return admin_key_done(p, name, rc, err, error_r);
}

/* ---- enrolment invites ---- */

static void admin_key_invite_hash(struct auth_policy *p, const char *token,
                                  unsigned char out[AUTH_HASH_LEN])
{
	const char *parts[2] = {"invite", token};
	size_t lens[2] = {strlen(parts[0]), strlen(token)};

	factor_keyed_hash(p->keys.webauthn, parts, lens, 2, out);
}

int admin_key_invite(struct auth_policy *p, const char *name, unsigned hours, time_t now,
                     char **token_r, time_t *expires_r, const char **error_r)
{
	unsigned char hash[AUTH_HASH_LEN];
	struct auth_user user;
	const char *err = NULL;
	char *token;
	int rc;

	*token_r = NULL;
	if (hours == 0 || hours > ADMIN_INVITE_HOURS_MAX)
		return admin_fail(p, error_r, "an invitation lasts 1 to %d hours",
		                  ADMIN_INVITE_HOURS_MAX);
	if (admin_get_user(p, name, &user, error_r) < 0)
		return -1;
	token = factor_random_code(1, ADMIN_INVITE_TOKEN_LEN);
	admin_key_invite_hash(p, token, hash);
	*expires_r = now + (time_t)hours * 3600;
	rc = p->module->invite_put(p->store, hash, user.id, now, *expires_r, &err);
	auth_user_clear(&user);
	if (rc < 0) {
		xfree_secret_str(&token);
		return admin_store_error(p, err, error_r);
	}
	*token_r = token;
	return 0;
}

static bool admin_key_token_shape(const char *token)
{
	size_t len = token != NULL ? strnlen(token, ADMIN_INVITE_TOKEN_LEN + 1) : 0;

	return len == ADMIN_INVITE_TOKEN_LEN && strspn(token, FACTOR_ALPHABET) == len;
}

int admin_key_invite_consume(struct auth_policy *p, const char *token, time_t now,
                             int64_t *user_id_r, const char **error_r)
{
	unsigned char hash[AUTH_HASH_LEN];
	const char *err = NULL;
	int rc;

	*user_id_r = 0;
	if (!admin_key_token_shape(token))
		return admin_fail(p, error_r, "%s", "invalid or expired invitation");
	admin_key_invite_hash(p, token, hash);
	rc = p->module->invite_take(p->store, hash, now, user_id_r, &err);
	if (rc < 0)
		return admin_store_error(p, err, error_r);
	if (rc == 0)
		return admin_fail(p, error_r, "%s", "invalid or expired invitation");
	return 0;
}
