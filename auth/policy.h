/*
 * The login policy: the one entry point every login goes through (the daemon's auth service and
 * `twofold auth test`). It decides which factors a login needs, applies lockout and replay rules
 * and writes the audit log; the store module only stores.
 */
#ifndef TWOFOLD_AUTH_POLICY_H
#define TWOFOLD_AUTH_POLICY_H

#include <stdint.h>
#include <time.h>

struct config;
struct auth_store;

enum auth_result {
	AUTH_OK,       /* user_r holds the canonical user name */
	AUTH_FAIL,     /* delay_ms holds the delay to apply before answering the client */
	AUTH_TEMPFAIL, /* store busy or broken: try again later; never a success */
};

/* PORTAL: a sign-in to the self-service portal, where an app password never counts. */
enum auth_proto { AUTH_PROTO_IMAP, AUTH_PROTO_POP3, AUTH_PROTO_OTHER, AUTH_PROTO_PORTAL };

/* What a failed login may tell the client beyond "failed". Given only to a client that sent
 * the right password with a code this user logged in with before: it tells nothing to anyone
 * without the credential. */
enum auth_hint {
	AUTH_HINT_NONE,
	AUTH_HINT_CODE_EXPIRED, /* send the password with the current code */
};

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
};

struct auth_reply {
	enum auth_result result;
	char user[256];      /* canonical user name on AUTH_OK */
	uint32_t delay_ms;   /* on AUTH_FAIL / AUTH_TEMPFAIL */
	enum auth_hint hint; /* on AUTH_FAIL */
	const char *factor;  /* on AUTH_OK: totp, yubikey, grace, recovery, apppass, password */
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

const char *auth_proto_name(enum auth_proto proto);
/* "imap" / "pop3" / "portal" -> proto; -1 if unknown. */
int auth_proto_parse(const char *name, enum auth_proto *proto_r);

#endif
