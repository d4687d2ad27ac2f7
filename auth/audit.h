/*
 * One row of the login log: what the policy writes through the store module (audit_append) and
 * what the CLI and the portal read back. Apart from admin.h so that a store module, built
 * against module.h, needs nothing of the CLI's administration API.
 */
#ifndef TWOFOLD_AUTH_AUDIT_H
#define TWOFOLD_AUTH_AUDIT_H

#include <stdbool.h>
#include <time.h>

struct admin_log_entry {
	time_t time;
	const char *user; /* as presented (bounded, sanitised) */
	const char *proto;
	const char *ip;
	const char *client_id;
	const char *factor;   /* totp, yubikey, grace, recovery, apppass, password, none */
	const char *result;   /* ok, fail, tempfail */
	const char *reason;   /* unknown-user, bad-password, bad-code, replay, locked, ... */
	bool stolen_password; /* password right, second factor wrong */
};

#endif
