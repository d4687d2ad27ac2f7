/*
 * Held logins (inside auth/ only): a user with a security key logs in from a mail client with
 * the password alone; when it is right the login waits, held by the auth process that got it,
 * until the user approves it (portal, TOTP code, or an admin's `twofold login approve`), denies
 * it, or [auth] approval_wait runs out. The request lives in the store, so whichever process
 * decides, the holder sees it when it polls. At most one pending request per user and
 * approval_rate new ones an hour; a login beyond that is held all the same (the client cannot
 * tell) and can pass only by a pre-approval of its network. An approved login, and a
 * pre-approval, let further password-only logins from that network (an IPv4 /24, an IPv6 /64,
 * as for a TOTP code's device grace) through for a while: a grace entry keyed by user and
 * network.
 */
#ifndef TWOFOLD_AUTH_APPROVAL_H
#define TWOFOLD_AUTH_APPROVAL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "auth/module.h"
#include "auth/policy.h"

#define APPROVAL_RATE_WINDOW 3600  /* approval_rate counts the requests of this many seconds */
#define APPROVAL_KEEP        86400 /* requests are pruned this long after they were opened */

enum approval_poll {
	APPROVAL_WAIT,    /* still pending */
	APPROVAL_GRANTED, /* approved by the user (or an admin) */
	APPROVAL_GRACE,   /* its IP was pre-approved meanwhile */
	APPROVAL_REFUSED, /* denied */
	APPROVAL_TIMEOUT, /* approval_wait ran out */
	APPROVAL_ERROR,   /* store error: *error_r */
};

/* 1 when the user has a security key registered, 0 when not, -1 on a store error. */
int approval_user_has_key(struct auth_policy *p, int64_t user_id, const char **error_r);

/* A right password alone from a user with a key, from the grace network net: 0 when it may
 * pass without a hold (approved or pre-approved before), 1 held (*hold filled), -1 on a store
 * error. */
int approval_hold_start(struct auth_policy *p, const struct auth_user *user,
                        const struct auth_request *req, const char *net, struct auth_hold *hold,
                        const char **error_r);
/* Where a held login stands at now. */
enum approval_poll approval_hold_poll(struct auth_policy *p, const struct auth_hold *hold,
                                      time_t now, const char **error_r);
/* After an approval: the grace entry for the hold's network (mfa_grace, or the approver's
 * pre-approval when longer). -1 on a store error. */
int approval_hold_granted(struct auth_policy *p, const struct auth_hold *hold, time_t now,
                          const char **error_r);
/* The holder gives up on it (client gone, service stopping): the request is closed. */
void approval_hold_close(struct auth_policy *p, const struct auth_hold *hold, time_t now);

/* Lets password-only logins of the user from the grace network net through until `until`
 * (replacing what it had). */
int approval_grace_put(struct auth_policy *p, int64_t user_id, const char *net, time_t now,
                       time_t until, const char **error_r);

#endif
