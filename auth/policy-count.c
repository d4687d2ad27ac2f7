/*
 * The policy's failure counters (policy.c explains each): how long a counter locks, a login's
 * counters in the store, and what the admin side reads and clears of them.
 */
#include "auth/policy-login.h"
#include "common/config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* A source's failures are forgotten after a quiet day, a user name's after a quiet month,
 * known user or not: counters for random names can then be pruned without making unknown
 * names behave differently. */
#define POLICY_SOURCE_WINDOW 86400
#define POLICY_NAME_WINDOW   (30 * 86400)

const struct policy_counter_def policy_counters[PC_COUNT] = {
    [PC_SOURCE] = {"ip", KEY_SOURCE, POLICY_SOURCE_WINDOW},
    [PC_NAME] = {"user", KEY_NAME, POLICY_NAME_WINDOW},
    [PC_STRANGER] = {"stranger", KEY_NAME, POLICY_NAME_WINDOW},
    [PC_STRANGER_SOURCE] = {"stranger-ip", KEY_SOURCE, POLICY_SOURCE_WINDOW},
    [PC_DEVICE] = {"device", KEY_PAIR, POLICY_SOURCE_WINDOW},
    [PC_STRICT] = {"strict", KEY_NAME, POLICY_NAME_WINDOW},
    [PC_UNGUESSED] = {"unguessed", KEY_PAIR, POLICY_SOURCE_WINDOW},
};

/* Seconds a counter at count failures locks for; 0 below max_failures. */
static time_t policy_lock_duration(const struct config *cfg, unsigned count)
{
	uint64_t d = cfg->lockout;

	if (count < cfg->max_failures)
		return 0;
	for (unsigned i = cfg->max_failures; i < count && d < cfg->lockout_max; i++)
		d *= 2;
	return (time_t)(d < cfg->lockout_max ? d : cfg->lockout_max);
}

time_t policy_lock_until(const struct config *cfg, const struct auth_failure *f)
{
	time_t d = policy_lock_duration(cfg, f->count);

	return d == 0 ? 0 : f->last + d;
}

const char *login_key(const struct login *l, enum policy_counter pc)
{
	return l->keys[policy_counters[pc].key];
}

/* Counters of a source need one; without a client address they are left alone. */
static bool login_counts(const struct login *l, enum policy_counter pc)
{
	return policy_counters[pc].key == KEY_NAME || l->source[0] != '\0';
}

int login_counter_get(struct login *l, enum policy_counter pc, struct auth_failure *f)
{
	struct auth_policy *p = l->p;

	memset(f, 0, sizeof(*f));
	if (!login_counts(l, pc))
		return 0;
	return p->module->failure_get(p->store, policy_counters[pc].kind, login_key(l, pc),
	                              l->req->now, f, &l->error) < 0
	           ? -1
	           : 0;
}

int login_record(struct login *l, enum policy_counter pc, struct auth_failure *f)
{
	struct auth_policy *p = l->p;

	memset(f, 0, sizeof(*f));
	if (!login_counts(l, pc))
		return 0;
	return p->module->failure_record(p->store, policy_counters[pc].kind, login_key(l, pc),
	                                 l->req->now, policy_counters[pc].window, f, &l->error) < 0
	           ? -1
	           : 0;
}

int login_reset(struct login *l, enum policy_counter pc)
{
	struct auth_policy *p = l->p;

	if (!login_counts(l, pc))
		return 0;
	return p->module->failure_reset(p->store, policy_counters[pc].kind, login_key(l, pc),
	                                &l->error) < 0
	           ? -1
	           : 0;
}

/* Takes one failure off a counter (unless another process changed it meanwhile). */
int login_forgive(struct login *l, enum policy_counter pc)
{
	struct auth_policy *p = l->p;
	struct auth_failure f, less;

	if (login_counter_get(l, pc, &f) < 0)
		return -1;
	if (f.count == 0)
		return 0;
	less = f;
	less.count--;
	return p->module->failure_restore(p->store, policy_counters[pc].kind, login_key(l, pc), &f,
	                                  &less, &l->error) < 0
	           ? -1
	           : 0;
}

/* ---- for the admin side ---- */

int policy_user_state(struct auth_policy *p, const char *name, time_t now,
                      struct policy_user_state *state_r, const char **error_r)
{
	const struct auth_module *m = p->module;
	struct auth_failure f;

	memset(state_r, 0, sizeof(*state_r));
	if (m->failure_get(p->store, policy_counters[PC_NAME].kind, name, now, &f, error_r) < 0)
		return -1;
	state_r->failures = f.count;
	if (m->failure_get(p->store, policy_counters[PC_STRICT].kind, name, now, &f, error_r) < 0)
		return -1;
	state_r->locked_until = policy_lock_until(p->cfg, &f);
	if (m->failure_get(p->store, policy_counters[PC_STRANGER].kind, name, now, &f, error_r) < 0)
		return -1;
	state_r->unfamiliar_locked_until = policy_lock_until(p->cfg, &f);
	if (state_r->locked_until <= now)
		state_r->locked_until = 0;
	if (state_r->unfamiliar_locked_until <= now)
		state_r->unfamiliar_locked_until = 0;
	return 0;
}

int policy_source_forget(struct auth_policy *p, const char *ip, char *source_r, size_t size,
                         const char **error_r)
{
	unsigned char a[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, ip, a) != 1 && inet_pton(AF_INET6, ip, a) != 1) {
		*error_r = "not an IPv4 or IPv6 address";
		return -1;
	}
	/* the key a login from ip counts under (login_where) */
	if (strchr(ip, ':') != NULL)
		policy_ip_prefix(ip, AF_INET6, 64, source_r, size);
	else
		snprintf(source_r, size, "%s", ip);
	for (size_t pc = 0; pc < PC_COUNT; pc++)
		if (policy_counters[pc].key == KEY_SOURCE &&
		    p->module->failure_reset(p->store, policy_counters[pc].kind, source_r,
		                             error_r) < 0)
			return -1;
	return 0;
}

int policy_user_forget_failures(struct auth_policy *p, const char *name, const char **error_r)
{
	const struct auth_module *m = p->module;
	char prefix[POLICY_KEY_MAX];

	snprintf(prefix, sizeof(prefix), "%s ", name);
	for (size_t pc = 0; pc < PC_COUNT; pc++) {
		const struct policy_counter_def *d = &policy_counters[pc];
		int rc = 0;

		if (d->key == KEY_NAME)
			rc = m->failure_reset(p->store, d->kind, name, error_r);
		else if (d->key == KEY_PAIR)
			rc = m->failure_reset_prefix(p->store, d->kind, prefix, error_r);
		if (rc < 0)
			return -1;
	}
	return 0;
}
