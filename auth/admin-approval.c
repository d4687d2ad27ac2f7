/* Held logins for the portal and the CLI: list, approve (by a key, a TOTP code, or an admin's
 * word), deny, and pre-approve an IP (auth/admin.h). The holding auth process sees the decision
 * in the store. */
#include "auth/admin-private.h"
#include "auth/approval.h"
#include "auth/factor.h"
#include "common/config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

struct admin_approval_cb {
	void (*cb)(const struct admin_approval_info *, void *);
	void *ctx;
	time_t now;
};

static void admin_approval_one(const struct auth_approval *a, void *ctx)
{
	struct admin_approval_cb *c = ctx;
	struct admin_approval_info info = {
	    .id = a->id,
	    .proto = a->proto,
	    .ip = a->ip,
	    .client_id = a->client_id,
	    .created = a->created,
	    .expires = a->expires,
	};

	c->cb(&info, c->ctx);
}

static int admin_approval_list_call(struct auth_policy *p, struct auth_user *user, void *ctx,
                                    const char **error_r)
{
	const struct admin_approval_cb *c = ctx;

	return p->module->approval_list(p->store, user->id, c->now, admin_approval_one, ctx,
	                                error_r);
}

int admin_approval_list(struct auth_policy *p, const char *name, time_t now,
                        void (*cb)(const struct admin_approval_info *, void *), void *ctx,
                        const char **error_r)
{
	struct admin_approval_cb c = {.cb = cb, .ctx = ctx, .now = now};

	return admin_user_call(p, name, admin_approval_list_call, &c, error_r) < 0 ? -1 : 0;
}

static int admin_preapprove_check(struct auth_policy *p, unsigned minutes, const char **error_r)
{
	if (minutes <= p->cfg->preapprove_max)
		return 0;
	if (p->cfg->preapprove_max == 0)
		return admin_fail(p, error_r, "pre-approval is off ([auth] preapprove_max = 0)");
	return admin_fail(p, error_r, "pre-approval for at most %u minutes",
	                  p->cfg->preapprove_max);
}

/* Moves the user's pending request id to state. */
static int admin_approval_decide(struct auth_policy *p, const struct auth_user *user, int64_t id,
                                 enum auth_approval_state state, unsigned preapprove, time_t now,
                                 const char **error_r)
{
	const char *err = NULL;
	int rc = p->module->approval_decide(p->store, user->id, id, state, preapprove, now, &err);

	if (rc < 0)
		return admin_store_error(p, err, error_r);
	if (rc == 0)
		return admin_fail(p, error_r,
		                  "no pending login %lld for '%s' (decided or expired?)",
		                  (long long)id, user->name);
	return 0;
}

/* 1 when code is the user's current TOTP code, not used before (it is used up now); 0 when it
 * is not; -1 on a store error. The TOTP factor itself, without device grace (no IP). */
static int admin_approval_totp_ok(struct auth_policy *p, const struct auth_user *user,
                                  const char *code, time_t now, const char **error_r)
{
	struct factor_ctx ctx = {.cfg = p->cfg,
	                         .store = p->store,
	                         .keys = &p->keys,
	                         .user = user,
	                         .proto = AUTH_PROTO_OTHER,
	                         .ip = "",
	                         .net = "",
	                         .now = now};

	switch (factor_totp.verify(&ctx, code, strlen(code))) {
	case FACTOR_OK:
		return 1;
	case FACTOR_TEMPFAIL:
		return admin_store_error(p, ctx.error, error_r);
	case FACTOR_FAIL:
	case FACTOR_NEED_MORE:
		break;
	}
	*error_r = "wrong or already used code";
	return 0;
}

/* The decision on a request of the named user, once its proof (a TOTP code, when code is not
 * NULL) was checked. */
static int admin_approval_set(struct auth_policy *p, const char *name, int64_t id,
                              enum auth_approval_state state, const char *code, unsigned preapprove,
                              time_t now, const char **error_r)
{
	struct auth_user user;
	int rc;

	if (admin_preapprove_check(p, preapprove, error_r) < 0 ||
	    admin_get_user(p, name, &user, error_r) < 0)
		return -1;
	rc = code != NULL ? admin_approval_totp_ok(p, &user, code, now, error_r) : 1;
	if (rc > 0)
		rc = admin_approval_decide(p, &user, id, state, preapprove, now, error_r);
	else
		rc = -1;
	auth_user_clear(&user);
	return rc;
}

int admin_approval_approve(struct auth_policy *p, const char *name, int64_t id, unsigned preapprove,
                           time_t now, const char **error_r)
{
	return admin_approval_set(p, name, id, AUTH_APPROVAL_APPROVED, NULL, preapprove, now,
	                          error_r);
}

int admin_approval_deny(struct auth_policy *p, const char *name, int64_t id, time_t now,
                        const char **error_r)
{
	return admin_approval_set(p, name, id, AUTH_APPROVAL_DENIED, NULL, 0, now, error_r);
}

int admin_approval_approve_totp(struct auth_policy *p, const char *name, int64_t id,
                                const char *code, unsigned preapprove, time_t now,
                                const char **error_r)
{
	return admin_approval_set(p, name, id, AUTH_APPROVAL_APPROVED, code != NULL ? code : "",
	                          preapprove, now, error_r);
}

/* Only for a request of this user that is still pending: a challenge for another would be
 * refused later anyway, after the user touched the key for nothing. */
int admin_approval_challenge(struct auth_policy *p, const char *name, int64_t id, time_t now,
                             struct admin_key_options *opts_r, const char **error_r)
{
	struct auth_approval a;
	struct auth_user user;
	const char *err = NULL;
	int rc;

	memset(opts_r, 0, sizeof(*opts_r));
	if (admin_get_user(p, name, &user, error_r) < 0)
		return -1;
	rc = p->module->approval_get(p->store, id, &a, &err);
	if (rc < 0) {
		auth_user_clear(&user);
		return admin_store_error(p, err, error_r);
	}
	if (rc == 0 || a.user_id != user.id || a.state != AUTH_APPROVAL_PENDING || a.expires <= now)
		rc = admin_fail(p, error_r, "no pending login %lld for '%s' (decided or expired?)",
		                (long long)id, user.name);
	auth_user_clear(&user);
	if (rc < 0)
		return -1;
	return admin_key_challenge(p, name, ADMIN_KEY_APPROVE, id, now, opts_r, error_r);
}

enum admin_key_result admin_approval_approve_key(struct auth_policy *p, const char *name,
                                                 int64_t id, const struct admin_key_response *r,
                                                 const char *ip, unsigned preapprove, time_t now,
                                                 const char **error_r)
{
	enum admin_key_result res;
	int64_t bound = 0;

	if (admin_preapprove_check(p, preapprove, error_r) < 0)
		return ADMIN_KEY_REFUSED;
	res = admin_key_assert(p, name, ADMIN_KEY_APPROVE, r, ip, now, &bound, error_r);
	if (res != ADMIN_KEY_OK)
		return res;
	if (bound != id) {
		*error_r = "the key answered a challenge for another login";
		return ADMIN_KEY_REFUSED;
	}
	if (admin_approval_approve(p, name, id, preapprove, now, error_r) < 0)
		return ADMIN_KEY_REFUSED;
	return ADMIN_KEY_OK;
}

/* The canonical text of an IP address (as the workers send it), or NULL. */
static const char *admin_ip_canonical(const char *ip, char out[INET6_ADDRSTRLEN])
{
	struct in6_addr a6;
	struct in_addr a4;

	if (ip != NULL && inet_pton(AF_INET, ip, &a4) == 1)
		return inet_ntop(AF_INET, &a4, out, INET6_ADDRSTRLEN);
	if (ip != NULL && inet_pton(AF_INET6, ip, &a6) == 1)
		return inet_ntop(AF_INET6, &a6, out, INET6_ADDRSTRLEN);
	return NULL;
}

int admin_preapprove(struct auth_policy *p, const char *name, const char *ip, unsigned minutes,
                     time_t now, const char **error_r)
{
	char canonical[INET6_ADDRSTRLEN], net[INET6_ADDRSTRLEN + 8];
	struct auth_user user;
	const char *err = NULL;
	int rc;

	if (admin_ip_canonical(ip, canonical) == NULL) {
		*error_r = "not an IP address";
		return -1;
	}
	if (minutes == 0) {
		*error_r = "pre-approval needs a number of minutes";
		return -1;
	}
	if (admin_preapprove_check(p, minutes, error_r) < 0 ||
	    admin_get_user(p, name, &user, error_r) < 0)
		return -1;
	policy_grace_net(canonical, net, sizeof(net));
	rc = approval_grace_put(p, user.id, net, now, now + (time_t)minutes * 60, &err);
	auth_user_clear(&user);
	return rc < 0 ? admin_store_error(p, err, error_r) : 0;
}
