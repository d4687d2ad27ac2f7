/* Held logins: requests in the store, polled by the holder (auth/approval.h). */
#include "auth/approval.h"
#include "auth/factor.h"
#include "auth/policy-private.h"
#include "common/config.h"
#include "common/log.h"

#include <stdio.h>
#include <string.h>

/* What the grace entry of an approved IP hashes in place of a code: no TOTP code or YubiKey OTP
 * looks like it. */
#define APPROVAL_GRACE_MARK "approval"

static void approval_count_key(const struct auth_webauthn *k, void *ctx)
{
	(void)k;
	(*(unsigned *)ctx)++;
}

int approval_user_has_key(struct auth_policy *p, int64_t user_id, const char **error_r)
{
	unsigned keys = 0;

	if (p->module->webauthn_list(p->store, user_id, approval_count_key, &keys, error_r) < 0)
		return -1;
	return keys > 0;
}

static void approval_grace_hash(struct auth_policy *p, int64_t user_id, const char *net,
                                unsigned char out[AUTH_HASH_LEN])
{
	struct auth_user user = {.id = user_id};
	struct factor_ctx ctx = {.cfg = p->cfg, .keys = &p->keys, .user = &user, .net = net};

	factor_grace_hash(&ctx, APPROVAL_GRACE_MARK, strlen(APPROVAL_GRACE_MARK), out);
}

int approval_grace_put(struct auth_policy *p, int64_t user_id, const char *net, time_t now,
                       time_t until, const char **error_r)
{
	unsigned char hash[AUTH_HASH_LEN];

	if (net[0] == '\0' || until <= now)
		return 0;
	approval_grace_hash(p, user_id, net, hash);
	return p->module->grace_put(p->store, user_id, hash, now, until, error_r) < 0 ? -1 : 0;
}

/* 1 when password-only logins of the user may pass from net now, 0 not, -1 store error. */
static int approval_grace_check(struct auth_policy *p, int64_t user_id, const char *net, time_t now,
                                const char **error_r)
{
	unsigned char hash[AUTH_HASH_LEN];

	if (net[0] == '\0')
		return 0;
	approval_grace_hash(p, user_id, net, hash);
	return p->module->grace_check(p->store, hash, now, error_r);
}

static void approval_hold_fill(const struct auth_user *user, const struct auth_request *req,
                               const char *net, time_t until, struct auth_hold *hold)
{
	memset(hold, 0, sizeof(*hold));
	hold->user_id = user->id;
	snprintf(hold->user, sizeof(hold->user), "%s", user->name);
	hold->proto = req->proto;
	snprintf(hold->ip, sizeof(hold->ip), "%s", req->ip);
	snprintf(hold->net, sizeof(hold->net), "%s", net);
	snprintf(hold->client_id, sizeof(hold->client_id), "%s",
	         req->client_id != NULL ? req->client_id : "");
	hold->until = until;
}

int approval_hold_start(struct auth_policy *p, const struct auth_user *user,
                        const struct auth_request *req, const char *net, struct auth_hold *hold,
                        const char **error_r)
{
	const struct config *cfg = p->cfg;
	struct auth_approval a = {.user_id = user->id, .created = req->now};
	unsigned recent = 0;
	int rc;

	rc = approval_grace_check(p, user->id, net, req->now, error_r);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	approval_hold_fill(user, req, net, req->now + (time_t)cfg->approval_wait, hold);
	snprintf(a.proto, sizeof(a.proto), "%s", auth_proto_name(req->proto));
	snprintf(a.ip, sizeof(a.ip), "%s", hold->ip);
	snprintf(a.client_id, sizeof(a.client_id), "%s", hold->client_id);
	a.expires = hold->until;
	rc = p->module->approval_open(p->store, &a, req->now - APPROVAL_RATE_WINDOW,
	                              cfg->approval_rate, &hold->approval_id, &recent, error_r);
	if (rc < 0)
		return -1;
	if (rc == 0)
		hold->refusal = recent >= cfg->approval_rate ? "approval-rate" : "approval-busy";
	return 1;
}

enum approval_poll approval_hold_poll(struct auth_policy *p, const struct auth_hold *hold,
                                      time_t now, const char **error_r)
{
	struct auth_approval a;
	int rc = 0;

	if (hold->approval_id != 0) {
		rc = p->module->approval_get(p->store, hold->approval_id, &a, error_r);
		if (rc < 0)
			return APPROVAL_ERROR;
		if (rc > 0 && a.state == AUTH_APPROVAL_APPROVED)
			return APPROVAL_GRANTED;
		if (rc > 0 && a.state == AUTH_APPROVAL_DENIED)
			return APPROVAL_REFUSED;
	}
	rc = approval_grace_check(p, hold->user_id, hold->net, now, error_r);
	if (rc < 0)
		return APPROVAL_ERROR;
	if (rc > 0)
		return APPROVAL_GRACE;
	return now >= hold->until ? APPROVAL_TIMEOUT : APPROVAL_WAIT;
}

int approval_hold_granted(struct auth_policy *p, const struct auth_hold *hold, time_t now,
                          const char **error_r)
{
	struct auth_approval a;
	time_t until = now + (time_t)p->cfg->mfa_grace, pre;

	if (p->module->approval_get(p->store, hold->approval_id, &a, error_r) < 0)
		return -1;
	pre = a.decided + (time_t)a.preapprove * 60;
	return approval_grace_put(p, hold->user_id, hold->net, now, pre > until ? pre : until,
	                          error_r);
}

void approval_hold_close(struct auth_policy *p, const struct auth_hold *hold, time_t now)
{
	const char *error = NULL;

	if (hold->approval_id != 0 &&
	    p->module->approval_decide(p->store, hold->user_id, hold->approval_id,
	                               AUTH_APPROVAL_CLOSED, 0, now, &error) < 0)
		log_warn("closing held login %lld: %s", (long long)hold->approval_id, error);
}
