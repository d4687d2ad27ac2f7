/*
 * Held logins taken up again: a login held for the user's approval, once decided, and a portal
 * sign-in whose security key answered. Each resumes the login it was (its user, source,
 * counters, the log) and decides it with the policy's own steps.
 */
#include "auth/approval.h"
#include "auth/policy-login.h"

#include <string.h>

/* ---- held logins, once decided ---- */

/* Where a held login stands, as the result its login gets. */
static enum auth_result login_held(struct login *l, const struct auth_hold *hold)
{
	struct auth_policy *p = l->p;
	int rc;

	switch (approval_hold_poll(p, hold, l->req->now, &l->error)) {
	case APPROVAL_WAIT:
		return AUTH_PENDING;
	case APPROVAL_GRANTED:
		l->factor = "approval";
		l->fresh = true;
		if (approval_hold_granted(p, hold, l->req->now, &l->error) < 0)
			return login_tempfail(l, l->error);
		return login_ok(l, NULL, 0);
	case APPROVAL_GRACE:
		l->factor = "grace";
		return login_ok(l, NULL, 0);
	case APPROVAL_REFUSED:
		/* the password is known to someone the user does not trust: as a wrong code */
		l->factor = "approval";
		l->stolen = true;
		rc = login_charge_strict(l);
		return rc < 0 ? login_tempfail(l, l->error)
		              : login_fail(l, CLASS_FACTOR, "approval-denied");
	case APPROVAL_TIMEOUT:
		l->factor = "approval";
		l->uncounted = true;
		return login_fail(l, CLASS_UNGUESSED,
		                  hold->refusal != NULL ? hold->refusal : "approval-timeout");
	case APPROVAL_ERROR:
		break;
	}
	return login_tempfail(l, l->error);
}

/* The held login again, as the login it was (its user, source, counters, the log). 1 ready,
 * 0 the user is gone or disabled meanwhile (l->reason), -1 on a store error. */
static int login_resume(struct login *l, const struct auth_hold *hold)
{
	struct auth_policy *p = l->p;
	int rc = p->module->user_get(p->store, hold->user, &l->user, &l->error);

	login_where(l);
	if (rc < 0)
		return -1;
	login_keys(l);
	if (login_familiar(l) < 0)
		return -1;
	if (rc == 0 || l->user.id != hold->user_id || !l->user.enabled) {
		l->class = CLASS_LOCKED;
		l->reason = rc == 0 || l->user.id != hold->user_id ? "unknown-user" : "disabled";
		return 0;
	}
	return 1;
}

/* How a held login is taken up again: the step that decides it, and the caller's accept. */
struct hold_resume {
	enum auth_result (*decide)(struct login *l, const struct auth_hold *hold,
	                           enum auth_hold_outcome outcome);
	enum auth_hold_outcome outcome;
	int (*accept)(void *ctx, const char *user, const char **error_r);
	void *accept_ctx;
};

/* A request as the held login's own. */
static void login_hold_request(const struct auth_hold *hold, time_t now, struct auth_request *req)
{
	*req = (struct auth_request){.user = hold->user,
	                             .secret = "",
	                             .proto = hold->proto,
	                             .ip = hold->ip,
	                             .client_id = hold->client_id,
	                             .now = now};
}

/* A held login that fails before its time (denied, the account disabled) is answered only
 * when the wait would have run out: a refusal coming early would tell the client that the
 * password was right. */
static void login_hold_fail_delay(const struct auth_hold *hold, time_t now,
                                  struct auth_reply *reply)
{
	uint32_t left_ms;

	if (reply->result != AUTH_FAIL || hold->until <= now)
		return;
	left_ms = (uint32_t)(hold->until - now) * 1000u;
	if (reply->delay_ms < left_ms)
		reply->delay_ms = left_ms;
}

/* The held login resumed (login_resume) and handed to decide, as the login it was: the request
 * from the hold, the caller's accept step. */
static enum auth_result login_hold_resume(struct login *l, struct auth_request *req,
                                          const struct auth_hold *hold, time_t now,
                                          const struct hold_resume *how)
{
	int rc;

	login_hold_request(hold, now, req);
	req->accept = how->accept;
	req->accept_ctx = how->accept_ctx;
	rc = login_resume(l, hold);
	if (rc < 0)
		return login_tempfail(l, l->error);
	if (rc == 0)
		return AUTH_FAIL;
	return how->decide(l, hold, how->outcome);
}

static enum auth_result login_held_decide(struct login *l, const struct auth_hold *hold,
                                          enum auth_hold_outcome outcome)
{
	(void)outcome;
	return login_held(l, hold);
}

int auth_policy_hold_check(struct auth_policy *policy, const struct auth_hold *hold, time_t now,
                           int (*accept)(void *ctx, const char *user, const char **error_r),
                           void *accept_ctx, struct auth_reply *reply)
{
	const struct hold_resume how = {login_held_decide, 0, accept, accept_ctx};
	struct auth_request req;
	struct login l = {.p = policy, .req = &req};
	enum auth_result r;

	memset(reply, 0, sizeof(*reply));
	r = login_hold_resume(&l, &req, hold, now, &how);
	if (r != AUTH_PENDING) {
		login_reply(&l, login_finish(&l, r), reply);
		login_hold_fail_delay(hold, now, reply);
	}
	auth_user_clear(&l.user);
	return r != AUTH_PENDING;
}

void auth_policy_hold_cancel(struct auth_policy *policy, const struct auth_hold *hold, time_t now)
{
	struct auth_request req;
	struct login l = {.p = policy, .req = &req, .factor = "approval", .uncounted = true};

	login_hold_request(hold, now, &req);
	approval_hold_close(policy, hold, now);
	if (login_resume(&l, hold) > 0)
		(void)login_finish(&l, login_fail(&l, CLASS_UNGUESSED, "approval-cancelled"));
	auth_user_clear(&l.user);
}

/* ---- a portal sign-in's security key, once it answered ---- */

/* What the key's answer makes of the sign-in. A refusal is a wrong second factor after a right
 * password: counted like a wrong code (strict lockout) and marked as a stolen-password sign. */
static const struct hold_outcome_def {
	enum auth_result result;
	const char *reason;
	bool stolen;
} hold_outcomes[] = {
    [AUTH_HOLD_KEY_OK] = {AUTH_OK, "", false},
    [AUTH_HOLD_KEY_REFUSED] = {AUTH_FAIL, "bad-key", true},
    [AUTH_HOLD_KEY_CLONED] = {AUTH_FAIL, "cloned-key", true},
};

/* The resumed login (login_resume), decided: a lockout that came into force meanwhile still
 * refuses it, unchecked and uncounted. */
static enum auth_result login_key_decided(struct login *l, enum auth_hold_outcome outcome)
{
	const struct hold_outcome_def *d = &hold_outcomes[outcome];
	int rc;

	l->factor = "webauthn";
	if (login_find_lock(l) < 0)
		return login_tempfail(l, l->error);
	if (l->lock != NULL)
		return login_fail(l, CLASS_LOCKED, l->lock->reason);
	if (d->result == AUTH_OK) {
		l->fresh = true;
		l->key_proved = true;
		return login_ok(l, NULL, 0);
	}
	rc = login_charge_strict(l);
	if (rc <= 0)
		return rc < 0 ? login_tempfail(l, l->error) : login_fail(l, CLASS_LOCKED, "locked");
	l->stolen = d->stolen;
	return login_fail(l, CLASS_FACTOR, d->reason);
}

static enum auth_result login_key_decide(struct login *l, const struct auth_hold *hold,
                                         enum auth_hold_outcome outcome)
{
	(void)hold;
	return login_key_decided(l, outcome);
}

void auth_policy_hold_finish(struct auth_policy *policy, const struct auth_hold *hold,
                             enum auth_hold_outcome outcome, time_t now,
                             int (*accept)(void *ctx, const char *user, const char **error_r),
                             void *accept_ctx, struct auth_reply *reply)
{
	const struct hold_resume how = {login_key_decide, outcome, accept, accept_ctx};
	struct auth_request req;
	struct login l = {.p = policy, .req = &req};

	memset(reply, 0, sizeof(*reply));
	login_reply(&l, login_finish(&l, login_hold_resume(&l, &req, hold, now, &how)), reply);
	auth_user_clear(&l.user);
}
