/*
 * The login policy: the one entry point every login goes through (the daemon's auth service and
 * `twofold auth test`). It decides which factors a login needs, applies lockout and replay rules
 * and writes the audit log; the store module only stores.
 */
#ifndef TWOFOLD_AUTH_POLICY_H
#define TWOFOLD_AUTH_POLICY_H

#include "common/auth-proto.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct config;
struct auth_store;

struct auth_request {
	const char *user;
	const char *secret; /* password+code, password+recovery code, or app password */
	enum auth_proto proto;
	const char *ip;        /* client IP as text, "" if unknown */
	const char *client_id; /* IMAP ID name or "", for the audit log only */
	time_t now;
	/* Called once the credentials are right, before the success is recorded or logged: -1
	 * (with *error_r) makes the login AUTH_TEMPFAIL, so no log says "ok" for a login the
	 * client saw fail (the auth service opens the maildir here). NULL: nothing to do. */
	int (*accept)(void *ctx, const char *user, const char **error_r);
	void *accept_ctx;
	/* The portal asks a signed-in user for the password again before a factor is removed:
	 * the secret is the password alone, right is AUTH_OK (factor "password-again"), wrong is
	 * counted as a wrong password at sign-in. Never set for a mail client's login. */
	bool password_again;
};

/* A login held for the user's approval: what the holder keeps (no secret) until it is decided. */
struct auth_hold {
	int64_t approval_id; /* the request in the store; 0 when it has none of its own (another
	                        is pending, or too many were made): it can pass only by a
	                        pre-approval of its IP */
	const char *refusal; /* why it has none: "approval-busy", "approval-rate" */
	int64_t user_id;
	char user[256]; /* canonical */
	enum auth_proto proto;
	char ip[64];
	char net[64]; /* the grace network of ip (auth/approval.h) */
	char client_id[129];
	time_t until; /* when it fails unless decided */
};

/* How a portal sign-in's security key answered (auth_policy_hold_finish records it). */
enum auth_hold_outcome {
	AUTH_HOLD_KEY_OK,      /* the user's security key answered the challenge */
	AUTH_HOLD_KEY_REFUSED, /* an assertion that does not verify: someone has the password */
	AUTH_HOLD_KEY_CLONED,  /* a valid signature with a counter that did not increase */
};

struct auth_reply {
	enum auth_result result;
	char user[256];        /* canonical user name on AUTH_OK */
	uint32_t delay_ms;     /* on AUTH_FAIL / AUTH_TEMPFAIL */
	enum auth_hint hint;   /* on AUTH_FAIL */
	const char *factor;    /* on AUTH_OK: totp, yubikey, grace, approval, recovery, apppass,
	                          password, webauthn */
	struct auth_hold hold; /* on AUTH_PENDING */
};

struct auth_policy;

/* Opens the store named by cfg ([auth] module, database, key_file). -1 with *error_r on failure. */
int auth_policy_open(const struct config *cfg, struct auth_policy **policy_r, const char **error_r);
void auth_policy_close(struct auth_policy **policy);
struct auth_store *auth_policy_store(struct auth_policy *policy);
/* One Argon2 verify of the unknown-user hash, as a login would run it, before the first login:
 * the process's hashing memory is set up now, not in a client's login, and a verify that does
 * not match its own fresh hash (a broken Argon2 build) is an error: -1 with *error_r. */
int auth_policy_warm_up(struct auth_policy *policy, const char **error_r);

/* Runs one login. Never sleeps: the caller applies reply->delay_ms. */
void auth_policy_login(struct auth_policy *policy, const struct auth_request *req,
                       struct auth_reply *reply);

/* For a login that was AUTH_PENDING, at now: 0 while it is still held; 1 once decided, with
 * *reply filled as auth_policy_login fills it (AUTH_OK after an approval; AUTH_FAIL after a
 * denial, counted as a failure and logged as a stolen-password alarm, or when the wait ran out;
 * AUTH_TEMPFAIL). accept: as in struct auth_request. Never sleeps. */
int auth_policy_hold_check(struct auth_policy *policy, const struct auth_hold *hold, time_t now,
                           int (*accept)(void *ctx, const char *user, const char **error_r),
                           void *accept_ctx, struct auth_reply *reply);
/* A portal sign-in that was AUTH_PENDING (the password alone, right, of a user with a security
 * key), once the key answered: recorded as a login with the same lockouts, counters, alarms and
 * audit. AUTH_OK (accept as in auth_request), AUTH_FAIL with the delay, or AUTH_TEMPFAIL. */
void auth_policy_hold_finish(struct auth_policy *policy, const struct auth_hold *hold,
                             enum auth_hold_outcome outcome, time_t now,
                             int (*accept)(void *ctx, const char *user, const char **error_r),
                             void *accept_ctx, struct auth_reply *reply);
/* The holder gives the login up (client gone, service stopping): logged, request closed. */
void auth_policy_hold_cancel(struct auth_policy *policy, const struct auth_hold *hold, time_t now);

#endif
