/*
 * The login policy (issue #2): which factors a login needs, how the presented secret is split,
 * lockout and delays, the audit log. The store module only stores; no SQL here.
 *
 * The presented secret is tried as: an app password alone (found by keyed hash: fast), then
 * password + recovery code ("xxxxx-xxxxx" at the end), then password + TOTP code (the last
 * `digits` characters, all digits). The two splits cannot both match: a recovery code has a '-'
 * where a code has a digit. Every way except an app password costs exactly one Argon2 verify,
 * also for unknown, disabled and locked users.
 */
#include "auth/factor.h"
#include "auth/policy-private.h"
#include "common/config.h"
#include "common/log.h"
#include "common/text.h"
#include "common/xalloc.h"

#include <arpa/inet.h>
#include <liboath/oath.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_USER_MAX          255
#define POLICY_SECRET_MAX        1024
#define POLICY_IP_MAX            64
#define POLICY_CLIENT_ID_MAX     128
#define POLICY_IP_FAILURE_WINDOW 86400 /* an IP's failures are forgotten after a quiet day */
/* A user name's failures are forgotten after a quiet month, known user or not: counters for
 * random names can then be pruned without making unknown names behave differently. */
#define POLICY_USER_FAILURE_WINDOW (30 * 86400)
#define POLICY_AUDIT_KEEP          (180 * 86400)
#define POLICY_AUDIT_MAX_ROWS      1000000
#define POLICY_PRUNE_INTERVAL      3600
#define POLICY_TEMPFAIL_DELAY_MS   1000

static const uint32_t policy_delays_ms[] = {2000, 4000, 8000, 15000};
#define POLICY_MAX_DELAY_MS 15000

struct login {
	struct auth_policy *p;
	const struct auth_request *req;
	size_t secret_len;
	struct auth_user user; /* id 0: unknown user */
	bool locked;           /* in a timed lockout now */
	bool checked;          /* an Argon2 verify ran (real or burnt) */
	bool not_served;       /* credentials right, but the caller could not serve the user */
	const char *factor;
	const char *reason;
	bool stolen; /* password right, second factor wrong */
	const char *error;
	uint32_t delay_ms;
	char ip_key[POLICY_IP_MAX + 8]; /* what IP failures are counted under */
};

const char *auth_proto_name(enum auth_proto proto)
{
	switch (proto) {
	case AUTH_PROTO_IMAP:
		return "imap";
	case AUTH_PROTO_POP3:
		return "pop3";
	case AUTH_PROTO_OTHER:
		break;
	}
	return "other";
}

int auth_proto_parse(const char *name, enum auth_proto *proto_r)
{
	if (strcmp(name, "imap") == 0)
		*proto_r = AUTH_PROTO_IMAP;
	else if (strcmp(name, "pop3") == 0)
		*proto_r = AUTH_PROTO_POP3;
	else
		return -1;
	return 0;
}

/* ---- open / close ---- */

static int policy_make_dummy(struct auth_policy *p, const char **error_r)
{
	char *pw = p->dummy_pw;
	size_t len = sizeof(p->dummy_pw) - 1;

	randombytes_buf(pw, len);
	for (size_t i = 0; i < len; i++)
		pw[i] = FACTOR_ALPHABET[(unsigned char)pw[i] % 32];
	pw[len] = '\0';
	p->dummy_hash = password_hash(pw, len, &p->pw);
	if (p->dummy_hash == NULL) {
		*error_r = "cannot compute an Argon2 hash with the configured pwhash_memlimit";
		return -1;
	}
	return 0;
}

int auth_policy_open(const struct config *cfg, struct auth_policy **policy_r, const char **error_r)
{
	static char errbuf[600];
	struct auth_policy *p;

	*policy_r = NULL;
	if (sodium_init() < 0 || oath_init() != OATH_OK) {
		*error_r = "cannot initialise libsodium or liboath";
		return -1;
	}
	p = xcalloc(1, sizeof(*p));
	p->cfg = cfg;
	p->pw.opslimit = cfg->pwhash_opslimit;
	p->pw.memlimit = cfg->pwhash_memlimit;
	p->audit_max_rows = POLICY_AUDIT_MAX_ROWS;
	p->module = auth_module_find(cfg->auth_module);
	if (p->module == NULL) {
		snprintf(errbuf, sizeof(errbuf), "unknown auth module '%s'", cfg->auth_module);
		*error_r = errbuf;
		goto fail;
	}
	if (secretkey_load(cfg->auth_key_file, &p->keys, error_r) < 0 ||
	    p->module->open(cfg, &p->store, error_r) < 0 || policy_make_dummy(p, error_r) < 0)
		goto fail;
	*policy_r = p;
	return 0;
fail:
	auth_policy_close(&p);
	return -1;
}

void auth_policy_close(struct auth_policy **policy)
{
	struct auth_policy *p = *policy;

	if (p == NULL)
		return;
	if (p->store != NULL)
		p->module->close(&p->store);
	secretkey_wipe(&p->keys);
	xfree_secret_str(&p->dummy_hash);
	sodium_memzero(p->dummy_pw, sizeof(p->dummy_pw));
	free(p);
	*policy = NULL;
}

struct auth_store *auth_policy_store(struct auth_policy *policy)
{
	return policy->store;
}

int auth_policy_warm_up(struct auth_policy *policy, const char **error_r)
{
	if (password_verify(policy->dummy_hash, policy->dummy_pw, strlen(policy->dummy_pw)) != 1) {
		*error_r = "Argon2 self-test failed: a fresh hash does not verify";
		return -1;
	}
	return 0;
}

/* ---- input ---- */

static bool policy_text_ok(const char *s, size_t max, bool may_be_empty)
{
	size_t len;

	if (s == NULL)
		return false;
	len = strnlen(s, max + 1);
	if (len == 0)
		return may_be_empty;
	return text_is_sane(s, len, max);
}

static bool login_input_ok(const struct auth_request *req)
{
	return policy_text_ok(req->user, POLICY_USER_MAX, false) &&
	       policy_text_ok(req->secret, POLICY_SECRET_MAX, false) &&
	       policy_text_ok(req->ip, POLICY_IP_MAX, true);
}

/* IPv6 failures count per /64: one host usually has a whole /64 to pick addresses from. */
static void policy_ip_key(const char *ip, char *out, size_t size)
{
	char text[INET6_ADDRSTRLEN];
	struct in6_addr a;

	if (inet_pton(AF_INET6, ip, &a) != 1 || IN6_IS_ADDR_V4MAPPED(&a)) {
		snprintf(out, size, "%s", ip);
		return;
	}
	memset(a.s6_addr + 8, 0, 8);
	inet_ntop(AF_INET6, &a, text, sizeof(text));
	snprintf(out, size, "%s/64", text);
}

/* ---- the login ---- */

static void login_factor_ctx(struct login *l, struct factor_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->cfg = l->p->cfg;
	ctx->store = l->p->store;
	ctx->keys = &l->p->keys;
	ctx->user = &l->user;
	ctx->proto = l->req->proto;
	ctx->ip = l->req->ip;
	ctx->now = l->req->now;
}

/* Argon2 work whose result does not matter: the same cost as a real verify. */
static void login_burn(struct login *l, const char *hash)
{
	l->checked = true;
	(void)password_verify(hash, l->req->secret, l->secret_len);
}

static int login_verify(struct login *l, size_t pwlen)
{
	l->checked = true;
	return password_verify(l->user.pwhash, l->req->secret, pwlen);
}

static enum auth_result login_fail(struct login *l, const char *reason)
{
	l->reason = reason;
	return AUTH_FAIL;
}

static enum auth_result login_tempfail(struct login *l, const char *error)
{
	l->error = error;
	l->reason = "store-error";
	return AUTH_TEMPFAIL;
}

static int login_rehash(struct login *l, const char *password, size_t len)
{
	struct auth_policy *p = l->p;
	char *hash;

	if (!password_needs_rehash(l->user.pwhash, &p->pw))
		return 0;
	hash = password_hash(password, len, &p->pw);
	if (hash == NULL)
		return 0; /* keep the old hash; the login itself is fine */
	xfree_secret_str(&l->user.pwhash);
	l->user.pwhash = hash;
	return p->module->user_put(p->store, &l->user, &l->error) < 0 ? -1 : 0;
}

static enum auth_result login_ok(struct login *l, const char *password, size_t pwlen)
{
	struct auth_policy *p = l->p;
	const struct auth_module *m = p->module;

	if (l->req->accept != NULL &&
	    l->req->accept(l->req->accept_ctx, l->user.name, &l->error) < 0) {
		login_tempfail(l, l->error);
		l->reason = "not-served";
		l->not_served = true;
		return AUTH_TEMPFAIL;
	}

	if (password != NULL && login_rehash(l, password, pwlen) < 0)
		return login_tempfail(l, l->error);
	if (m->login_success(p->store, l->user.id, l->req->now, &l->error) < 0 ||
	    m->failure_reset(p->store, AUTH_FAILURE_USER, l->user.name, &l->error) < 0)
		return login_tempfail(l, l->error);
	if (l->req->ip[0] != '\0' &&
	    m->failure_reset(p->store, AUTH_FAILURE_IP, l->ip_key, &l->error) < 0)
		return login_tempfail(l, l->error);
	l->reason = "";
	return AUTH_OK;
}

static enum auth_result login_second_factor(struct login *l, const struct auth_factor *f,
                                            size_t pwlen)
{
	const char *secret = l->req->secret;
	struct factor_ctx ctx;
	enum factor_result res;

	login_factor_ctx(l, &ctx);
	res = f->verify(&ctx, secret + pwlen, l->secret_len - pwlen);
	l->factor = ctx.factor != NULL ? ctx.factor : f->name;
	switch (res) {
	case FACTOR_OK:
		return login_ok(l, secret, pwlen);
	case FACTOR_TEMPFAIL:
		return login_tempfail(l, ctx.error);
	case FACTOR_FAIL:
	case FACTOR_NEED_MORE:
		break;
	}
	l->stolen = true;
	return login_fail(l, ctx.reason != NULL ? ctx.reason : "bad-code");
}

static bool login_code_suffix(const char *s, size_t len, unsigned digits)
{
	if (len <= digits)
		return false;
	for (size_t i = len - digits; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Splits the secret into password + second factor; *factor_r NULL when it has no such tail. */
static size_t login_split(struct login *l, const struct auth_factor **factor_r)
{
	const char *s = l->req->secret;
	size_t len = l->secret_len;
	unsigned digits = l->p->cfg->totp_digits;

	if (len > RECOVERY_CODE_LEN &&
	    recovery_code_shape(s + len - RECOVERY_CODE_LEN, RECOVERY_CODE_LEN)) {
		*factor_r = &factor_recovery;
		return len - RECOVERY_CODE_LEN;
	}
	if (login_code_suffix(s, len, digits)) {
		*factor_r = &factor_totp;
		return len - digits;
	}
	*factor_r = NULL;
	return len;
}

static enum auth_result login_password_only(struct login *l)
{
	if (login_verify(l, l->secret_len) != 1)
		return login_fail(l, "bad-password");
	if (l->p->cfg->second_factor == SECOND_FACTOR_OPTIONAL) {
		l->factor = "password";
		return login_ok(l, l->req->secret, l->secret_len);
	}
	return login_fail(l, "no-second-factor");
}

static enum auth_result login_password(struct login *l)
{
	struct auth_policy *p = l->p;
	const struct auth_factor *f;
	unsigned char *blob = NULL;
	size_t blob_len, pwlen;
	int rc;

	rc = p->module->factor_get(p->store, l->user.id, FACTOR_KIND_TOTP, false, &blob, &blob_len,
	                           &l->error);
	free(blob);
	if (rc < 0)
		return login_tempfail(l, l->error);
	if (rc == 0)
		return login_password_only(l);
	pwlen = login_split(l, &f);
	if (login_verify(l, pwlen) != 1)
		return login_fail(l, "bad-password");
	if (f == NULL) {
		l->stolen = true;
		return login_fail(l, "missing-code");
	}
	return login_second_factor(l, f, pwlen);
}

static enum auth_result login_apppass(struct login *l)
{
	struct factor_ctx ctx;

	login_factor_ctx(l, &ctx);
	switch (factor_apppass.verify(&ctx, l->req->secret, l->secret_len)) {
	case FACTOR_OK:
		l->factor = "apppass";
		return login_ok(l, NULL, 0);
	case FACTOR_FAIL:
		l->factor = "apppass";
		return login_fail(l, ctx.reason);
	case FACTOR_TEMPFAIL:
		return login_tempfail(l, ctx.error);
	case FACTOR_NEED_MORE:
		break;
	}
	return login_password(l);
}

static enum auth_result login_run(struct login *l)
{
	struct auth_policy *p = l->p;
	int rc = p->module->user_get(p->store, l->req->user, &l->user, &l->error);

	if (rc < 0)
		return login_tempfail(l, l->error);
	if (rc == 0) {
		login_burn(l, p->dummy_hash);
		return login_fail(l, "unknown-user");
	}
	if (!l->user.enabled) {
		login_burn(l, l->user.pwhash);
		return login_fail(l, "disabled");
	}
	if (l->user.locked_until > l->req->now) {
		l->locked = true;
		login_burn(l, l->user.pwhash);
		return login_fail(l, "locked");
	}
	return login_apppass(l);
}

/* ---- after the decision: failures, lockout, audit ---- */

static uint32_t policy_delay(unsigned failures)
{
	size_t n = sizeof(policy_delays_ms) / sizeof(policy_delays_ms[0]);

	if (failures == 0)
		return policy_delays_ms[0];
	return policy_delays_ms[failures - 1 < n ? failures - 1 : n - 1];
}

static time_t policy_lock_duration(const struct config *cfg, unsigned lock_count)
{
	uint64_t d = cfg->lockout;

	for (unsigned i = 1; i < lock_count && d < cfg->lockout_max; i++)
		d *= 2;
	return (time_t)(d < cfg->lockout_max ? d : cfg->lockout_max);
}

static int login_lock(struct login *l)
{
	struct auth_policy *p = l->p;
	unsigned count = l->user.lock_count + 1;
	time_t until = l->req->now + policy_lock_duration(p->cfg, count);

	log_info("user %s locked for %lld s after %u failures", log_quote(l->user.name),
	         (long long)(until - l->req->now), p->cfg->max_failures);
	l->locked = true;
	return p->module->lock_set(p->store, l->user.id, until, count, &l->error);
}

/* Counts the failure per user and per IP and sets the delay; -1 on a store error. */
static int login_count_failure(struct login *l)
{
	struct auth_policy *p = l->p;
	const struct auth_module *m = p->module;
	const char *key = l->user.id != 0 ? l->user.name : l->req->user;
	unsigned ufail = 0, ipfail = 0;
	time_t now = l->req->now;

	if (l->req->ip[0] != '\0' &&
	    m->failure_record(p->store, AUTH_FAILURE_IP, l->ip_key, now,
	                      now - POLICY_IP_FAILURE_WINDOW, &ipfail, &l->error) < 0)
		return -1;
	if (!l->locked &&
	    m->failure_record(p->store, AUTH_FAILURE_USER, key, now,
	                      now - POLICY_USER_FAILURE_WINDOW, &ufail, &l->error) < 0)
		return -1;
	/* max_failures consecutive failures lock the user. Until a success resets the count, every
	 * further failure after the lock has run out locks again, for twice as long (attempts
	 * during a lock are refused unchecked and not counted). With the defaults (10, 900 s,
	 * 24 h) an attacker holding the password gets about 380 code guesses in a year: with a
	 * +-1 step window that is a 0.11% chance, under the 1% the design asks for; locking only
	 * every max_failures failures would allow 10 a day, 1.1%. */
	if (l->user.id != 0 && !l->locked && ufail >= p->cfg->max_failures && login_lock(l) < 0)
		return -1;
	l->delay_ms =
	    l->locked ? POLICY_MAX_DELAY_MS : policy_delay(ufail > ipfail ? ufail : ipfail);
	if (l->stolen && m->stolen_mark(p->store, l->user.id, &l->error) < 0)
		return -1;
	return 0;
}

static const char *policy_result_name(enum auth_result r)
{
	return r == AUTH_OK ? "ok" : r == AUTH_FAIL ? "fail" : "tempfail";
}

static int login_audit(struct login *l, enum auth_result r)
{
	const struct auth_request *req = l->req;
	const char *client_id =
	    policy_text_ok(req->client_id, POLICY_CLIENT_ID_MAX, true) ? req->client_id : "";
	struct admin_log_entry e = {
	    .time = req->now,
	    .user = l->user.id != 0 ? l->user.name : req->user,
	    .proto = auth_proto_name(req->proto),
	    .ip = req->ip,
	    .client_id = client_id,
	    .factor = l->factor != NULL ? l->factor : "none",
	    .result = policy_result_name(r),
	    .reason = l->reason != NULL ? l->reason : "",
	    .stolen_password = l->stolen,
	};

	log_info("login %s: user=%s proto=%s ip=%s factor=%s%s%s%s", e.result, log_quote(e.user),
	         e.proto, e.ip[0] != '\0' ? log_quote(e.ip) : "-", e.factor,
	         e.reason[0] != '\0' ? " reason=" : "", e.reason,
	         e.stolen_password ? " STOLEN-PASSWORD?" : "");
	return l->p->module->audit_append(l->p->store, &e, &l->error);
}

static enum auth_result login_finish(struct login *l, enum auth_result r)
{
	if (r == AUTH_FAIL && login_count_failure(l) < 0)
		r = login_tempfail(l, l->error);
	if (login_audit(l, r) < 0 && r == AUTH_OK)
		r = login_tempfail(l, l->error);
	if (r == AUTH_TEMPFAIL)
		log_error("login for %s: temporary failure: %s", log_quote(l->req->user),
		          l->error != NULL ? l->error : "store error");
	return r;
}

/* Bounds the store's tables (failure counters for random names and IPs, expired grace, the
 * audit log); runs at the first login and then at most once per interval. */
static void policy_prune(struct auth_policy *p, time_t now)
{
	struct auth_prune limits = {
	    .ip_failures_before = now - POLICY_IP_FAILURE_WINDOW,
	    .user_failures_before = now - POLICY_USER_FAILURE_WINDOW,
	    .grace_before = now,
	    .audit_before = now - POLICY_AUDIT_KEEP,
	    .audit_max_rows = p->audit_max_rows,
	};
	const char *error = NULL;

	if (p->module->prune == NULL || now < p->next_prune)
		return;
	p->next_prune = now + POLICY_PRUNE_INTERVAL;
	if (p->module->prune(p->store, &limits, &error) < 0)
		log_warn("auth store housekeeping failed (next try in an hour): %s",
		         error != NULL ? error : "store error");
}

/* A temporary failure after a secret was checked costs what a failure costs at most: a store
 * kept busy must not buy an attacker quick, uncounted guesses. */
static uint32_t login_fail_delay(const struct login *l, enum auth_result r)
{
	if (r == AUTH_FAIL)
		return l->delay_ms;
	if (l->not_served)
		return 0; /* the credentials were right: no guess to slow down */
	return l->checked ? POLICY_MAX_DELAY_MS : POLICY_TEMPFAIL_DELAY_MS;
}

void auth_policy_login(struct auth_policy *policy, const struct auth_request *req,
                       struct auth_reply *reply)
{
	struct login l = {.p = policy, .req = req};
	enum auth_result r;

	memset(reply, 0, sizeof(*reply));
	reply->result = AUTH_FAIL;
	reply->delay_ms = policy_delays_ms[0];
	if (!login_input_ok(req))
		return;
	l.secret_len = strlen(req->secret);
	policy_ip_key(req->ip, l.ip_key, sizeof(l.ip_key));
	r = login_finish(&l, login_run(&l));
	reply->result = r;
	if (r == AUTH_OK) {
		snprintf(reply->user, sizeof(reply->user), "%s", l.user.name);
		reply->factor = l.factor;
		reply->delay_ms = 0;
	} else {
		reply->delay_ms = login_fail_delay(&l, r);
	}
	auth_user_clear(&l.user);
	policy_prune(policy, req->now);
}
