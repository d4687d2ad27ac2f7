/*
 * The login policy: which factors a login needs, how the presented secret is split, lockouts
 * and delays, alarms, the hint a client gets, the audit log. The store module only stores; no
 * SQL here.
 *
 * The presented secret is tried as an app password alone (found by keyed hash: fast), then as
 * password + second factor, the factor found by the shape of the secret's end
 * (login_second_factors: a recovery code "xxxxx-xxxxx", the TOTP digits, a YubiKey OTP of 44
 * modhex characters; the shapes do not overlap). Every way except an app password costs exactly
 * one Argon2 verify, also for unknown, disabled and locked users.
 *
 * Failures are judged by where they come from: a source (an IPv4 address, an IPv6 /64) is
 * familiar to a user who logged in from it within familiar_days (at least mfa_grace). Each
 * failure counter is a row in the store, so lockouts survive restarts and hold for every auth
 * process (policy_counters; README "Security" has the numbers):
 *   ip        per source, every failure: the delay
 *   user      per name, every failure: the delay (the same for unknown names and for every
 *             kind of failure, so the delay tells nothing)
 *   stranger  per name, wrong passwords from unfamiliar sources: locks the user for
 *             unfamiliar sources only
 *   stranger-ip  per source, the same failures: locks the source for the users it is not
 *             familiar to (one address trying many names)
 *   device    per user and familiar source, wrong passwords: locks that source only
 *   strict    per user, right password with a wrong second factor: locks the user for all
 *             but app passwords from familiar sources. Charged before the code is looked at,
 *             so that parallel guesses cannot slip past a lockout; only a login with a fresh
 *             code takes one off, never grace or an app password
 *   unguessed per user and source, right password without a new code (a code the user logged
 *             in with before, no code at all): counted as strict only the first time
 * A counter at max_failures locks for `lockout` seconds, doubling with each further failure up
 * to lockout_max; attempts during a lockout are refused unchecked and not counted. App
 * passwords are not guessable (100 bits) and pass every lockout but the strict one.
 */
#include "auth/admin.h"
#include "auth/approval.h"
#include "auth/factor.h"
#include "auth/policy-login.h"
#include "common/config.h"
#include "common/log.h"
#include "common/text.h"
#include "common/xalloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <liboath/oath.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Right password, no new code (a stale client): this many per user and source count toward
 * the strict lockout, the rest only toward the delay (so nine stale clients at once still do
 * not lock the user out with the default max_failures). */
#define POLICY_UNGUESSED_COUNTED 1
/* Codes a user logged in with are remembered (keyed hashes) this long, the newest this many:
 * a client re-sending one is stale, not an attacker. */
#define POLICY_USED_CODE_WINDOW  (30 * 86400)
#define POLICY_USED_CODES_KEEP   32
#define POLICY_AUDIT_KEEP        (180 * 86400)
#define POLICY_AUDIT_MAX_ROWS    1000000
#define POLICY_PRUNE_INTERVAL    3600
#define POLICY_TEMPFAIL_DELAY_MS 1000


/* The lockouts a login can meet, checked in this order. */
static const struct login_lock login_locks[] = {
    {PC_STRICT, WHEN_ALWAYS, true, "locked"},
    {PC_DEVICE, WHEN_FAMILIAR, false, "locked-device"},
    {PC_STRANGER, WHEN_UNFAMILIAR, false, "locked-unfamiliar"},
    {PC_STRANGER_SOURCE, WHEN_UNFAMILIAR, false, "locked-source"},
};

/* The second factors a password may end with, tried in this order; their shapes must not
 * overlap. */
static const struct auth_factor *const login_second_factors[] = {
    &factor_recovery,
    &factor_totp,
    &factor_yubikey,
    NULL,
};

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

/* The address with the bits past prefix cleared, as "ADDR/PREFIX"; the address itself when
 * it is not of that family (or not an address at all). */
void policy_ip_prefix(const char *ip, int family, unsigned prefix, char *out, size_t size)
{
	union {
		struct in6_addr v6;
		unsigned char b[sizeof(struct in6_addr)];
	} a;
	char text[INET6_ADDRSTRLEN];
	size_t bytes = family == AF_INET ? 4 : 16;

	if (inet_pton(family, ip, &a) != 1 || (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a.v6))) {
		snprintf(out, size, "%s", ip);
		return;
	}
	for (size_t i = prefix / 8; i < bytes; i++)
		a.b[i] = 0;
	inet_ntop(family, &a, text, sizeof(text));
	snprintf(out, size, "%s/%u", text, prefix);
}

/* Where a login comes from. The source: an IPv4 address, an IPv6 /64 (one host usually has a
 * whole /64 to pick addresses from). The grace net: an IPv4 /24 or IPv6 /64, so that a device
 * whose lease was renewed with a neighbouring address is still the same client. */
void login_where(struct login *l)
{
	const char *ip = l->req->ip;

	if (strchr(ip, ':') != NULL)
		policy_ip_prefix(ip, AF_INET6, 64, l->source, sizeof(l->source));
	else
		snprintf(l->source, sizeof(l->source), "%s", ip);
	policy_grace_net(ip, l->net, sizeof(l->net));
}

void policy_grace_net(const char *ip, char *out, size_t size)
{
	policy_ip_prefix(ip, strchr(ip, ':') != NULL ? AF_INET6 : AF_INET,
	                 strchr(ip, ':') != NULL ? 64 : 24, out, size);
}

/* Keys of the counters: known users' counters under the canonical name, others' under the
 * name as presented (the store compares them ignoring case). */
void login_keys(struct login *l)
{
	const char *name = l->user.id != 0 ? l->user.name : l->req->user;

	snprintf(l->keys[KEY_SOURCE], POLICY_KEY_MAX, "%s", l->source);
	snprintf(l->keys[KEY_NAME], POLICY_KEY_MAX, "%s", name);
	snprintf(l->keys[KEY_PAIR], POLICY_KEY_MAX, "%s %s", name, l->source);
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
	ctx->net = l->net;
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

enum auth_result login_fail(struct login *l, enum login_class class, const char *reason)
{
	l->class = class;
	l->reason = reason;
	return AUTH_FAIL;
}

enum auth_result login_tempfail(struct login *l, const char *error)
{
	l->error = error;
	l->reason = "store-error";
	return AUTH_TEMPFAIL;
}

/* Whether the source is familiar: a successful login of this user from it within
 * familiar_days, or within mfa_grace (a device in grace is familiar). Looked up for unknown
 * users too (user id 0 matches nothing): the same work either way. */
int login_familiar(struct login *l)
{
	const struct config *cfg = l->p->cfg;
	time_t window = (time_t)cfg->familiar_days * 86400, last = 0;
	int rc;

	if (window < (time_t)cfg->mfa_grace)
		window = cfg->mfa_grace;
	if (l->source[0] == '\0')
		return 0;
	rc = l->p->module->source_get(l->p->store, l->user.id, l->source, &last, &l->error);
	if (rc < 0)
		return -1;
	l->familiar = l->user.id != 0 && rc == 1 && last >= l->req->now - window;
	return 0;
}

static bool login_lock_applies(const struct login *l, const struct login_lock *lock)
{
	return lock->when == WHEN_ALWAYS || (lock->when == WHEN_FAMILIAR) == l->familiar;
}

/* Finds the first lockout in force for this login. */
int login_find_lock(struct login *l)
{
	struct auth_failure f;

	for (size_t i = 0; i < sizeof(login_locks) / sizeof(login_locks[0]); i++) {
		if (!login_lock_applies(l, &login_locks[i]))
			continue;
		if (login_counter_get(l, login_locks[i].counter, &f) < 0)
			return -1;
		if (policy_lock_until(l->p->cfg, &f) > l->req->now) {
			l->lock = &login_locks[i];
			return 0;
		}
	}
	return 0;
}

/* Keyed hash of a second-factor code as this user logged in with it. */
static void login_code_hash(const struct login *l, unsigned char out[AUTH_HASH_LEN])
{
	char id[32], code[POLICY_SECRET_MAX + 1];
	const char *parts[3] = {"used-code", id, code};
	size_t lens[3];

	snprintf(id, sizeof(id), "%lld", (long long)l->user.id);
	for (size_t i = 0; i < l->tail_len; i++)
		code[i] = (char)tolower((unsigned char)l->tail[i]);
	code[l->tail_len] = '\0';
	lens[0] = strlen(parts[0]);
	lens[1] = strlen(id);
	lens[2] = l->tail_len;
	factor_keyed_hash(l->p->keys.grace, parts, lens, 3, out);
	sodium_memzero(code, sizeof(code));
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

/* Takes back this login's own charge of the strict counter: it was no failure after all (or
 * one not counted there). When another attempt was counted meanwhile, one failure comes off. */
static int login_uncharge_strict(struct login *l)
{
	struct auth_policy *p = l->p;
	int rc;

	if (!l->strict_charged)
		return 0;
	l->strict_charged = false;
	rc = p->module->failure_restore(p->store, policy_counters[PC_STRICT].kind,
	                                login_key(l, PC_STRICT), &l->strict, &l->strict_before,
	                                &l->error);
	if (rc < 0)
		return -1;
	return rc == 0 ? login_forgive(l, PC_STRICT) : 0;
}

/* Remembers the source and the code; what a success clears of the counters. */
static int login_remember(struct login *l)
{
	struct auth_policy *p = l->p;
	const struct auth_module *m = p->module;
	unsigned char hash[AUTH_HASH_LEN];
	time_t now = l->req->now;

	if (l->source[0] != '\0' &&
	    m->source_put(p->store, l->user.id, l->source, now, &l->error) < 0)
		return -1;
	if (l->tail != NULL) {
		login_code_hash(l, hash);
		if (m->used_code_put(p->store, l->user.id, hash, now, POLICY_USED_CODES_KEEP,
		                     &l->error) < 0)
			return -1;
	}
	/* The source's count stays: one user's success (an attacker's own account behind the
	 * same address) must not reopen a source locked for strangers. */
	if (login_uncharge_strict(l) < 0 || login_reset(l, PC_NAME) < 0 ||
	    login_reset(l, PC_DEVICE) < 0 || login_reset(l, PC_UNGUESSED) < 0)
		return -1;
	/* Only a proof of the password (and, for strict, of a new code) takes one failure off
	 * the counters that lock the user: a poller on grace or an app password must not reopen
	 * the door for an attacker's guesses every few minutes. */
	if (l->fresh && (l->tail != NULL || l->key_proved) && login_forgive(l, PC_STRICT) < 0)
		return -1;
	if (l->fresh && !l->familiar && login_forgive(l, PC_STRANGER) < 0)
		return -1;
	return 0;
}

enum auth_result login_ok(struct login *l, const char *password, size_t pwlen)
{
	struct auth_policy *p = l->p;

	if (l->req->accept != NULL &&
	    l->req->accept(l->req->accept_ctx, l->user.name, &l->error) < 0) {
		const char *error = l->error;

		/* the credentials were right: this attempt is no failure of the strict count */
		(void)login_uncharge_strict(l);
		login_tempfail(l, error);
		l->reason = "not-served";
		l->not_served = true;
		return AUTH_TEMPFAIL;
	}

	if (password != NULL && login_rehash(l, password, pwlen) < 0)
		return login_tempfail(l, l->error);
	if (p->module->login_success(p->store, l->user.id, l->req->now, &l->error) < 0 ||
	    login_remember(l) < 0)
		return login_tempfail(l, l->error);
	l->reason = "";
	return AUTH_OK;
}

/* Counts this attempt at a second factor before the factor is looked at: 1 go on, 0 a lockout
 * came into force meanwhile (another process's attempt) and this one is refused unchecked. */
int login_charge_strict(struct login *l)
{
	if (login_record(l, PC_STRICT, &l->strict) < 0)
		return -1;
	l->strict_charged = true;
	l->strict_before =
	    (struct auth_failure){.count = l->strict.count - 1, .last = l->strict.prev};
	return policy_lock_until(l->p->cfg, &l->strict_before) <= l->req->now ? 1 : 0;
}

/* A code the user logged in with before: a stale client re-sending it, not a guess. */
static enum auth_result login_code_failed(struct login *l, const struct factor_ctx *ctx)
{
	unsigned char hash[AUTH_HASH_LEN];
	int rc;

	login_code_hash(l, hash);
	rc = l->p->module->used_code_check(l->p->store, l->user.id, hash,
	                                   l->req->now - POLICY_USED_CODE_WINDOW, &l->error);
	if (rc < 0)
		return login_tempfail(l, l->error);
	if (rc == 1) {
		l->hint = AUTH_HINT_CODE_EXPIRED;
		return login_fail(l, CLASS_UNGUESSED, "stale-code");
	}
	/* an older code of the window, or a replay: it was valid once, it is no alarm */
	l->stolen = !ctx->genuine;
	return login_fail(l, CLASS_FACTOR, ctx->reason != NULL ? ctx->reason : "bad-code");
}

static enum auth_result login_second_factor(struct login *l, const struct auth_factor *f,
                                            size_t pwlen)
{
	struct factor_ctx ctx;
	int rc;

	l->tail = l->req->secret + pwlen;
	l->tail_len = l->secret_len - pwlen;
	rc = login_charge_strict(l);
	if (rc < 0)
		return login_tempfail(l, l->error);
	if (rc == 0)
		return login_fail(l, CLASS_LOCKED, "locked");
	login_factor_ctx(l, &ctx);
	switch (f->verify(&ctx, l->tail, l->tail_len)) {
	case FACTOR_OK:
		l->factor = ctx.factor != NULL ? ctx.factor : f->name;
		l->fresh = strcmp(l->factor, "grace") != 0;
		return login_ok(l, l->req->secret, pwlen);
	case FACTOR_TEMPFAIL:
		return login_tempfail(l, ctx.error);
	case FACTOR_FAIL:
	case FACTOR_NEED_MORE:
		break;
	}
	l->factor = ctx.factor != NULL ? ctx.factor : f->name;
	return login_code_failed(l, &ctx);
}

/* 1 when f counts for this user: it keeps no enrolment (recovery codes), or the user has it
 * enrolled; -1 on a store error. */
static int login_enrolled(struct login *l, const struct auth_factor *f)
{
	struct factor_ctx ctx;
	int rc;

	if (f->enrolled == NULL)
		return 1;
	login_factor_ctx(l, &ctx);
	rc = f->enrolled(&ctx);
	if (rc < 0)
		l->error = ctx.error;
	return rc;
}

/* Splits the secret into password + second factor (*factor_r NULL when it ends in none); the
 * password's length, or -1 on a store error. A user with codes gets the split by shape (a code of
 * another kind after the right password is a stolen-password alarm); a user whose only second
 * factor is a security key types no code, so a tail counts only for a factor that needs no
 * enrolment, and a password ending in digits or modhex letters stays whole. */
static ssize_t login_split(struct login *l, const struct auth_factor **factor_r)
{
	const char *s = l->req->secret;
	size_t len = l->secret_len;

	*factor_r = NULL;
	for (size_t i = 0; login_second_factors[i] != NULL; i++) {
		size_t tail = login_second_factors[i]->tail(l->p->cfg, s, len);
		int rc = tail > 0 && tail < len;

		if (rc > 0 && !l->has_factor)
			rc = login_enrolled(l, login_second_factors[i]);

		if (rc < 0)
			return -1;
		if (rc > 0) {
			*factor_r = login_second_factors[i];
			return (ssize_t)(len - tail);
		}
	}
	return (ssize_t)len;
}

/* 1 when the user has a second factor enrolled (the password alone is then not enough). */
static int login_has_second_factor(struct login *l)
{
	struct factor_ctx ctx;

	login_factor_ctx(l, &ctx);
	for (size_t i = 0; login_second_factors[i] != NULL; i++) {
		const struct auth_factor *f = login_second_factors[i];
		int rc = f->enrolled != NULL ? f->enrolled(&ctx) : 0;

		if (rc != 0) {
			l->error = ctx.error;
			return rc;
		}
	}
	return 0;
}

static enum auth_result login_password_only(struct login *l)
{
	if (login_verify(l, l->secret_len) != 1)
		return login_fail(l, CLASS_PASSWORD, "bad-password");
	if (l->p->cfg->second_factor == SECOND_FACTOR_OPTIONAL) {
		l->factor = "password";
		l->fresh = true;
		return login_ok(l, l->req->secret, l->secret_len);
	}
	return login_fail(l, CLASS_UNGUESSED, "no-second-factor");
}

/* The right password alone from a user with a security key: held for approval, unless the
 * client's network was approved or pre-approved before. */
static enum auth_result login_hold(struct login *l)
{
	int rc = approval_hold_start(l->p, &l->user, l->req, l->net, l->hold, &l->error);

	if (rc < 0)
		return login_tempfail(l, l->error);
	if (rc == 0) {
		l->factor = "grace";
		return login_ok(l, l->req->secret, l->secret_len);
	}
	l->factor = "approval";
	/* on record while it waits, so an admin reading the log sees it (decided: a second row) */
	l->reason = l->hold->refusal != NULL ? l->hold->refusal : "approval-wait";
	l->log_pending = true;
	return AUTH_PENDING;
}

/* The right password alone from a user with a security key, on the portal: the portal asks
 * for the key now, and auth_policy_hold_finish records the answer. Nothing is counted, but the
 * step is logged ("pending"): the key step may never come. */
static enum auth_result login_pending(struct login *l)
{
	struct auth_hold *h = l->hold;

	memset(h, 0, sizeof(*h));
	h->user_id = l->user.id;
	snprintf(h->user, sizeof(h->user), "%s", l->user.name);
	h->proto = l->req->proto;
	snprintf(h->ip, sizeof(h->ip), "%s", l->req->ip);
	policy_grace_net(l->req->ip, h->net, sizeof(h->net));
	if (policy_text_ok(l->req->client_id, POLICY_CLIENT_ID_MAX, true))
		snprintf(h->client_id, sizeof(h->client_id), "%s", l->req->client_id);
	h->until = l->req->now + ADMIN_CHALLENGE_LIFETIME;
	l->factor = "webauthn";
	l->reason = "key-needed";
	l->log_pending = true;
	return AUTH_PENDING;
}

/* Second factors enrolled, or a security key (whose login is held for approval). */
static int login_needs_more(struct login *l)
{
	int rc = login_has_second_factor(l);

	if (rc < 0)
		return -1;
	l->has_factor = rc > 0;
	l->has_key = false;
	/* a mail client's login is held; the portal asks for the key itself (login_pending) */
	if (l->hold != NULL &&
	    (l->req->proto == AUTH_PROTO_IMAP || l->req->proto == AUTH_PROTO_POP3 ||
	     l->req->proto == AUTH_PROTO_PORTAL)) {
		int keys = approval_user_has_key(l->p, l->user.id, &l->error);

		if (keys < 0)
			return -1;
		l->has_key = keys > 0;
	}
	return rc > 0 || l->has_key;
}

static enum auth_result login_password(struct login *l)
{
	const struct auth_factor *f;
	ssize_t pwlen;
	int rc;

	if (l->req->password_again) {
		l->factor = "password-again";
		return login_verify(l, l->secret_len) == 1
		           ? login_ok(l, NULL, 0)
		           : login_fail(l, CLASS_PASSWORD, "bad-password");
	}
	rc = login_needs_more(l);
	if (rc < 0)
		return login_tempfail(l, l->error);
	if (rc == 0)
		return login_password_only(l);
	pwlen = login_split(l, &f);
	if (pwlen < 0)
		return login_tempfail(l, l->error);
	if (login_verify(l, (size_t)pwlen) != 1)
		return login_fail(l, CLASS_PASSWORD, "bad-password");
	/* the portal's sign-in says at once that the key is next: no wait to hide it behind */
	if (f == NULL && l->has_key && l->req->proto == AUTH_PROTO_PORTAL)
		return login_pending(l);
	/* a code-shaped secret fails as fast as any such secret, so it is never held: a hold
	 * would tell the password was right */
	if (f == NULL && l->has_key && !l->coded)
		return login_hold(l);
	if (f == NULL) {
		/* someone elsewhere has the password; from a familiar source it is the user's own
		 * client set up without the code */
		l->stolen = !l->familiar;
		return login_fail(l, CLASS_UNGUESSED,
		                  l->has_key ? "code-shaped-password" : "missing-code");
	}
	return login_second_factor(l, f, (size_t)pwlen);
}

static enum auth_result login_apppass(struct login *l)
{
	struct factor_ctx ctx;

	/* an app password opens one device's mail, never the page that manages the factors; the
	 * portal's sign-in still meets the lockouts below */
	login_factor_ctx(l, &ctx);
	switch (l->req->proto == AUTH_PROTO_PORTAL
	            ? FACTOR_NEED_MORE
	            : factor_apppass.verify(&ctx, l->req->secret, l->secret_len)) {
	case FACTOR_OK:
		l->factor = "apppass";
		if (l->lock != NULL && l->lock->apppass_familiar_only && !l->familiar)
			return login_fail(l, CLASS_LOCKED, l->lock->reason);
		return login_ok(l, NULL, 0);
	case FACTOR_FAIL:
		l->factor = "apppass";
		return login_fail(l, CLASS_APPPASS, ctx.reason);
	case FACTOR_TEMPFAIL:
		return login_tempfail(l, ctx.error);
	case FACTOR_NEED_MORE:
		break;
	}
	if (l->lock != NULL) {
		login_burn(l, l->user.pwhash);
		return login_fail(l, CLASS_LOCKED, l->lock->reason);
	}
	return login_password(l);
}

static enum auth_result login_run(struct login *l)
{
	struct auth_policy *p = l->p;
	int rc = p->module->user_get(p->store, l->req->user, &l->user, &l->error);

	if (rc < 0)
		return login_tempfail(l, l->error);
	login_keys(l);
	if (login_familiar(l) < 0 || login_find_lock(l) < 0)
		return login_tempfail(l, l->error);
	if (rc == 0) {
		login_burn(l, p->dummy_hash);
		return login_fail(l, l->lock != NULL ? CLASS_LOCKED : CLASS_PASSWORD,
		                  "unknown-user");
	}
	if (!l->user.enabled) {
		login_burn(l, l->user.pwhash);
		return login_fail(l, l->lock != NULL ? CLASS_LOCKED : CLASS_PASSWORD, "disabled");
	}
	return login_apppass(l);
}

/* ---- after the decision: failures, audit ---- */

/* [auth] failure_delay for a first failure, doubling with each further one up to
 * failure_delay_max (by default 2, 4, 8, 15 s). */
static uint32_t policy_delay(const struct config *cfg, unsigned failures)
{
	uint64_t ms = cfg->failure_delay;

	for (unsigned i = 1; i < failures && ms < cfg->failure_delay_max; i++)
		ms *= 2;
	return (uint32_t)(ms < cfg->failure_delay_max ? ms : cfg->failure_delay_max);
}

static void login_log_lock(struct login *l, enum policy_counter pc, const struct auth_failure *f)
{
	time_t until = policy_lock_until(l->p->cfg, f);

	if (until > l->req->now)
		log_info("lockout: %s %s for %lld s after %u %s failures",
		         policy_counters[pc].key == KEY_SOURCE ? "source" : "user",
		         log_quote(login_key(l, pc)), (long long)(until - l->req->now), f->count,
		         policy_counters[pc].kind);
}

/* Right password, no new code: counted as strict for the first few per user and source. */
static int login_count_unguessed(struct login *l, bool *counted_r)
{
	struct auth_failure u;

	if (login_record(l, PC_UNGUESSED, &u) < 0)
		return -1;
	*counted_r = u.count <= POLICY_UNGUESSED_COUNTED;
	if (!*counted_r)
		return login_uncharge_strict(l);
	if (l->strict_charged)
		return 0;
	if (login_record(l, PC_STRICT, &l->strict) < 0)
		return -1;
	l->strict_charged = true;
	return 0;
}

/* A wrong password: against the source alone when it is familiar (the user's own client with
 * an old password), else against the user's and the source's dealings with strangers. */
static int login_count_password(struct login *l)
{
	static const enum policy_counter familiar[] = {PC_DEVICE},
	                                 stranger[] = {PC_STRANGER, PC_STRANGER_SOURCE};
	const enum policy_counter *pcs = l->familiar ? familiar : stranger;
	size_t n = l->familiar ? 1 : 2;
	struct auth_failure f;

	for (size_t i = 0; i < n; i++) {
		if (login_record(l, pcs[i], &f) < 0)
			return -1;
		login_log_lock(l, pcs[i], &f);
	}
	return 0;
}

/* Records the failure where its class counts and sets the delay; -1 on a store error. */
static int login_count_failure(struct login *l)
{
	struct auth_failure src = {0}, name = {0};
	bool by_source = true;

	if (l->class == CLASS_LOCKED) {
		l->delay_ms = l->p->cfg->failure_delay_max;
		return 0;
	}
	if (l->class == CLASS_UNGUESSED && login_count_unguessed(l, &by_source) < 0)
		return -1;
	by_source = by_source && l->class != CLASS_APPPASS;
	if ((by_source && login_record(l, PC_SOURCE, &src) < 0) ||
	    login_record(l, PC_NAME, &name) < 0)
		return -1;
	if (l->class == CLASS_PASSWORD && login_count_password(l) < 0)
		return -1;
	if (l->strict_charged)
		login_log_lock(l, PC_STRICT, &l->strict);
	l->delay_ms = policy_delay(l->p->cfg, src.count > name.count ? src.count : name.count);
	if (l->stolen && l->p->module->stolen_mark(l->p->store, l->user.id, &l->error) < 0)
		return -1;
	return 0;
}

static const char *policy_result_name(enum auth_result r)
{
	static const char *const names[] = {[AUTH_OK] = "ok",
	                                    [AUTH_FAIL] = "fail",
	                                    [AUTH_TEMPFAIL] = "tempfail",
	                                    [AUTH_PENDING] = "pending"};

	return names[r];
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

enum auth_result login_finish(struct login *l, enum auth_result r)
{
	if (r == AUTH_PENDING && !l->log_pending)
		return r; /* logged once decided */
	if (r == AUTH_FAIL && !l->uncounted && login_count_failure(l) < 0)
		r = login_tempfail(l, l->error);
	if (login_audit(l, r) < 0 && (r == AUTH_OK || r == AUTH_PENDING))
		r = login_tempfail(l, l->error);
	if (r == AUTH_TEMPFAIL)
		log_error("login for %s: temporary failure: %s", log_quote(l->req->user),
		          l->error != NULL ? l->error : "store error");
	return r;
}

/* Bounds the store's tables (failure counters for random names and IPs, sources, used codes,
 * expired grace, the audit log); runs at the first login and then at most once per interval. */
static void policy_prune(struct auth_policy *p, time_t now)
{
	time_t familiar = (time_t)p->cfg->familiar_days * 86400;
	struct auth_prune limits = {
	    .failures_before = now,
	    .grace_before = now,
	    .sources_before =
	        now - (familiar > (time_t)p->cfg->mfa_grace ? familiar : (time_t)p->cfg->mfa_grace),
	    .used_codes_before = now - POLICY_USED_CODE_WINDOW,
	    .audit_before = now - POLICY_AUDIT_KEEP,
	    .approvals_before = now - APPROVAL_KEEP,
	    .audit_max_rows = p->audit_max_rows,
	    .portal_sessions_before = now,
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
	return l->checked ? l->p->cfg->failure_delay_max : POLICY_TEMPFAIL_DELAY_MS;
}

bool policy_secret_coded(const struct config *cfg, const char *secret, size_t len)
{
	for (size_t i = 0; login_second_factors[i] != NULL; i++) {
		size_t tail = login_second_factors[i]->tail(cfg, secret, len);

		if (tail > 0 && tail < len)
			return true;
	}
	return false;
}

/* Where anyone has a security key, a mail client's login that fails with a secret not ending
 * in a code fails after the wait an unapproved held one gets. The wait depends on the secret's
 * shape and the installation only: it tells neither whether the password was right nor
 * whether the user exists or has a key. A store error waits too. */
static void login_shape_delay(const struct login *l, struct auth_reply *reply)
{
	const struct auth_module *m = l->p->module;
	uint32_t wait_ms = l->p->cfg->approval_wait * 1000u;
	const char *error = NULL;

	if (reply->result != AUTH_FAIL || l->coded || reply->delay_ms >= wait_ms ||
	    (l->req->proto != AUTH_PROTO_IMAP && l->req->proto != AUTH_PROTO_POP3))
		return;
	if (m->webauthn_any(l->p->store, &error) == 0)
		return;
	reply->delay_ms = wait_ms;
}

/* The reply for a decided login. */
void login_reply(const struct login *l, enum auth_result r, struct auth_reply *reply)
{
	reply->result = r;
	if (r == AUTH_OK || r == AUTH_PENDING) {
		snprintf(reply->user, sizeof(reply->user), "%s", l->user.name);
		reply->factor = l->factor;
		reply->delay_ms = 0;
	} else {
		reply->delay_ms = login_fail_delay(l, r);
		reply->hint = r == AUTH_FAIL ? l->hint : AUTH_HINT_NONE;
	}
}

void auth_policy_login(struct auth_policy *policy, const struct auth_request *req,
                       struct auth_reply *reply)
{
	struct login l = {.p = policy, .req = req, .hold = &reply->hold};

	memset(reply, 0, sizeof(*reply));
	reply->result = AUTH_FAIL;
	reply->delay_ms = policy->cfg->failure_delay;
	if (!login_input_ok(req))
		return;
	l.secret_len = strlen(req->secret);
	l.coded = policy_secret_coded(policy->cfg, req->secret, l.secret_len);
	login_where(&l);
	login_reply(&l, login_finish(&l, login_run(&l)), reply);
	login_shape_delay(&l, reply);
	auth_user_clear(&l.user);
	policy_prune(policy, req->now);
}
