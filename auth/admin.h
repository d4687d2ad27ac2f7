/*
 * Administration of the auth store for the `twofold` CLI: users, factors, app passwords,
 * recovery codes, the login log. Every function returns 0 on success or -1 with *error_r set to
 * one clear user-facing line (static or owned by the policy object: do not free).
 */
#ifndef TWOFOLD_AUTH_ADMIN_H
#define TWOFOLD_AUTH_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "auth/audit.h"
#include "auth/webauthn.h"

struct auth_policy;

struct admin_user_info {
	const char *name;
	bool enabled;
	bool has_totp;        /* active (confirmed) TOTP */
	unsigned keys;        /* security keys (WebAuthn) */
	unsigned apppasses;   /* active, unexpired */
	unsigned yubikeys;
	unsigned recovery_left;
	time_t locked_until;  /* lockout of every source (right password, wrong codes); 0 = none */
	time_t unfamiliar_locked_until; /* lockout of unfamiliar sources only; 0 = none */
	unsigned failures;    /* failures in a row of this name, of any kind */
	unsigned stolen_password_signs; /* alarms (a right password with a code never valid for
	                                 * the user) since the admin last cleared them */
	time_t last_login;    /* 0 = never */
};

struct admin_apppass_info {
	int64_t id;
	const char *label;
	const char *proto; /* "imap", "pop3", "all" */
	time_t created, expires; /* expires 0 = never */
	time_t last_used;        /* 0 = never */
	const char *last_ip;     /* "" if never */
};

struct admin_yubikey_info {
	const char *public_id; /* modhex */
	time_t created, last_used; /* last_used 0 = never */
};

/* A YubiKey's Yubico OTP values in the forms ykpersonalize takes (lower case, NUL-terminated). */
struct admin_yubikey_secrets {
	char aes_key[33];    /* 32 hex digits */
	char private_id[13]; /* 12 hex digits ("uid") */
	char public_id[13];  /* 12 modhex characters ("fixed") */
};

/* Validates a user name (the rules the daemon applies to a login name too). */
bool admin_user_name_valid(const char *name);
/* Refuses empty or weak passwords with a reason. */
int admin_password_check(const char *password, const char **error_r);

int admin_user_add(struct auth_policy *p, const char *name, const char *password,
		   const char **error_r);
/* Refuses the current password. */
int admin_user_passwd(struct auth_policy *p, const char *name, const char *password,
		      const char **error_r);
int admin_user_del(struct auth_policy *p, const char *name, const char **error_r);
/* Lifts the block of the source ip belongs to (its failures forgotten); *source_r (size >= 64)
 * names the source (an IPv6 address counts as its /64). */
int admin_source_unblock(struct auth_policy *p, const char *ip, char *source_r, size_t size,
                         const char **error_r);
/* Renames the user in the store (its factors and log stay with it); the new name must fit the
 * maildir template and be free. The maildir is the caller's to move. */
int admin_user_rename(struct auth_policy *p, const char *name, const char *new_name,
                      const char **error_r);
/* lock: disables logins until unlocked (not a timed lockout). unlock: clears the admin lock, every
 * failure lockout and counter of the user, and the stolen-password alarm. */
int admin_user_lock(struct auth_policy *p, const char *name, const char **error_r);
int admin_user_unlock(struct auth_policy *p, const char *name, const char **error_r);
int admin_user_list(struct auth_policy *p, void (*cb)(const struct admin_user_info *, void *),
		    void *ctx, const char **error_r);

/* Calls cb once with the admin_user_list entry of that user. */
int admin_user_show(struct auth_policy *p, const char *name,
		    void (*cb)(const struct admin_user_info *, void *), void *ctx,
		    const char **error_r);

/* Creates a new, pending TOTP seed; *uri_r is the otpauth:// URI (caller frees, contains the
 * secret: wipe with xfree_secret_str). The seed becomes active only with admin_totp_confirm, or
 * immediately when confirm is false. An earlier active seed stays active until confirmation. */
int admin_totp_enroll(struct auth_policy *p, const char *name, bool need_confirm, char **uri_r,
		      const char **error_r);
/* Checks a code against the pending seed and activates it (the code counts as used). */
int admin_totp_confirm(struct auth_policy *p, const char *name, const char *code, time_t now,
		       const char **error_r);
int admin_totp_remove(struct auth_policy *p, const char *name, const char **error_r);

/* proto: "imap", "pop3" or "all"; expires_days 0 = never. *password_r: caller wipes and frees. */
int admin_apppass_add(struct auth_policy *p, const char *name, const char *label, const char *proto,
		      unsigned expires_days, char **password_r, int64_t *id_r, const char **error_r);
int admin_apppass_list(struct auth_policy *p, const char *name,
		       void (*cb)(const struct admin_apppass_info *, void *), void *ctx,
		       const char **error_r);
int admin_apppass_revoke(struct auth_policy *p, const char *name, int64_t id, const char **error_r);

/* Enrols a YubiKey programmed elsewhere: aes_key 32 hex digits, private_id 12 hex digits,
 * public_id 12 modhex characters (either case). The AES key and private id are stored sealed
 * under the server key. admin_yubikey_values_valid checks the three formats alone. */
bool admin_yubikey_values_valid(const char *aes_key, const char *private_id,
				const char *public_id, const char **error_r);
int admin_yubikey_add(struct auth_policy *p, const char *name, const char *aes_key,
		      const char *private_id, const char *public_id, const char **error_r);
/* Makes new values (a public id starting with "vv", the prefix for keys programmed by their
 * owner) and enrols them; *secrets_r holds them for programming the key (wipe it after use). */
int admin_yubikey_generate(struct auth_policy *p, const char *name,
			   struct admin_yubikey_secrets *secrets_r, const char **error_r);
int admin_yubikey_list(struct auth_policy *p, const char *name,
		       void (*cb)(const struct admin_yubikey_info *, void *), void *ctx,
		       const char **error_r);
int admin_yubikey_remove(struct auth_policy *p, const char *name, const char *public_id,
			 const char **error_r);

/* Replaces all recovery codes of the user with count new ones. codes_r: array of count strings,
 * free with admin_codes_free. */
int admin_recovery_new(struct auth_policy *p, const char *name, unsigned count, char ***codes_r,
		       const char **error_r);
void admin_codes_free(char ***codes, unsigned count);

/* ---- security keys (WebAuthn; admin-key.c) ----
 * For the CLI and the auth service answering the portal alike: no HTTP here, the browser's
 * fields arrive base64url-decoded. The relying party is [portal] origin (RP ID: its host);
 * without it these functions fail with a clear error. */

#define ADMIN_KEYS_MAX           16  /* security keys per user */
#define ADMIN_CHALLENGE_LIFETIME 300 /* seconds a challenge may be answered in */
#define ADMIN_INVITE_HOURS_MAX   720
#define ADMIN_USER_HANDLE_LEN    32
#define ADMIN_INVITE_TOKEN_LEN   32 /* characters of FACTOR_ALPHABET: 160 bits */

struct admin_key_info {
	int64_t id;
	const char *label;
	const char *alg;           /* "ES256", "EdDSA", "RS256" */
	time_t created, last_used; /* last_used 0 = never */
	const char *last_ip;       /* "" if never */
};

/* What a challenge may be answered for. An approval challenge is bound to the held login it
 * was issued for (bound_id), and an answer returns that id. */
enum admin_key_purpose {
	ADMIN_KEY_REGISTER, /* navigator.credentials.create(): a new key */
	ADMIN_KEY_SIGNIN,   /* navigator.credentials.get(): the second factor of a portal sign-in */
	ADMIN_KEY_APPROVE,  /* navigator.credentials.get(): approve a held login */
};

struct admin_key_cred_id {
	unsigned char *id;
	size_t len;
};

/* The options the browser needs for the ceremony. Free with admin_key_options_free. */
struct admin_key_options {
	unsigned char challenge[WEBAUTHN_CHALLENGE_LEN];
	char rp_id[256];
	char user_name[256]; /* canonical; also the displayName */
	unsigned char user_handle[ADMIN_USER_HANDLE_LEN]; /* stable, opaque, not the name */
	time_t expires;
	/* the user's keys: excludeCredentials (register) or allowCredentials (sign-in, approve) */
	struct admin_key_cred_id *creds;
	size_t ncreds;
};

/* The browser's answer. Registration: cred_id (rawId), client_data, attestation. Assertion:
 * cred_id, client_data, auth_data, sig, and user_handle when the browser sent one. */
struct admin_key_response {
	const unsigned char *cred_id, *client_data, *attestation, *auth_data, *sig, *user_handle;
	size_t cred_id_len, client_data_len, attestation_len, auth_data_len, sig_len,
	    user_handle_len;
};

enum admin_key_result {
	ADMIN_KEY_OK,
	ADMIN_KEY_REFUSED,  /* error_r says why (for the log: do not show it to a stranger) */
	ADMIN_KEY_CLONED,   /* genuine, but the counter did not increase: the alarm is raised */
	ADMIN_KEY_TEMPFAIL, /* store error */
};

/* Issues a challenge (single use, ADMIN_CHALLENGE_LIFETIME) to the user for purpose. For a
 * sign-in or an approval the user must have a key. bound_id: 0, or the held login an approval
 * is for. */
int admin_key_challenge(struct auth_policy *p, const char *name, enum admin_key_purpose purpose,
                        int64_t bound_id, time_t now, struct admin_key_options *opts_r,
                        const char **error_r);
void admin_key_options_free(struct admin_key_options *opts);

/* §7.1 against the registration challenge issued to this user, which is used up whatever the
 * outcome. label: "" gives "security key". *id_r: the new key's id. */
int admin_key_register(struct auth_policy *p, const char *name, const struct admin_key_response *r,
                       const char *label, const char *ip, time_t now, int64_t *id_r,
                       const char **error_r);

/* §7.2 against a challenge issued to this user for purpose (used up whatever the outcome):
 * the key must be one of the user's, the signature good and the counter rule kept; then the
 * key's counter, last use and IP are stored. Every outcome is in the login log (factor
 * "webauthn", proto "portal"); a clone also marks the user (stolen_signs) and logs a warning.
 * Except for ADMIN_KEY_SIGNIN: that touch is the second step of a login, which the caller
 * records with auth_policy_hold_finish (log, counters, marks); a clone is still warned of.
 * *bound_id_r: the bound_id the challenge was issued with. */
enum admin_key_result admin_key_assert(struct auth_policy *p, const char *name,
                                       enum admin_key_purpose purpose,
                                       const struct admin_key_response *r, const char *ip,
                                       time_t now, int64_t *bound_id_r, const char **error_r);

int admin_key_list(struct auth_policy *p, const char *name,
                   void (*cb)(const struct admin_key_info *, void *), void *ctx,
                   const char **error_r);
int admin_key_rename(struct auth_policy *p, const char *name, int64_t id, const char *label,
                     const char **error_r);
int admin_key_remove(struct auth_policy *p, const char *name, int64_t id, const char **error_r);

/* A single-use enrolment invite valid for hours (1..ADMIN_INVITE_HOURS_MAX). *token_r
 * (ADMIN_INVITE_TOKEN_LEN characters, caller wipes and frees) is shown once: only its keyed
 * hash is stored. */
int admin_key_invite(struct auth_policy *p, const char *name, unsigned hours, time_t now,
                     char **token_r, time_t *expires_r, const char **error_r);
/* Uses up an invite: 0 with the user's id exactly once while it has not expired; -1 with
 * "invalid or expired invitation" otherwise (or a store error). */
int admin_key_invite_consume(struct auth_policy *p, const char *token, time_t now,
                             int64_t *user_id_r, const char **error_r);

/* ---- held logins (admin-approval.c) ----
 * A password-only login of a user with a security key waits for the user's decision (see
 * auth/approval.h). These take the user's name (the portal's signed-in user, or the admin's
 * argument) and the request's id; a request of another user, decided or expired is refused.
 * preapprove: minutes (0..[auth] preapprove_max) during which further password-only logins
 * from the request's IP pass without a new approval. */

struct admin_approval_info {
	int64_t id;
	const char *proto;     /* "imap", "pop3" */
	const char *ip;        /* the client's */
	const char *client_id; /* IMAP ID name, "" when the client sent none */
	time_t created, expires;
};

/* The user's pending requests, oldest first. */
int admin_approval_list(struct auth_policy *p, const char *name, time_t now,
                        void (*cb)(const struct admin_approval_info *, void *), void *ctx,
                        const char **error_r);
/* On the admin's word (the CLI): no proof asked. */
int admin_approval_approve(struct auth_policy *p, const char *name, int64_t id, unsigned preapprove,
                           time_t now, const char **error_r);
/* With the user's current TOTP code (used up: the replay rule of a login applies). */
int admin_approval_approve_totp(struct auth_policy *p, const char *name, int64_t id,
                                const char *code, unsigned preapprove, time_t now,
                                const char **error_r);
/* A challenge bound to request id, for navigator.credentials.get() on the portal. */
int admin_approval_challenge(struct auth_policy *p, const char *name, int64_t id, time_t now,
                             struct admin_key_options *opts_r, const char **error_r);
/* With a key's assertion over a challenge from admin_approval_challenge for this id. */
enum admin_key_result admin_approval_approve_key(struct auth_policy *p, const char *name,
                                                 int64_t id, const struct admin_key_response *r,
                                                 const char *ip, unsigned preapprove, time_t now,
                                                 const char **error_r);
int admin_approval_deny(struct auth_policy *p, const char *name, int64_t id, time_t now,
                        const char **error_r);
/* Lets password-only logins of the user from ip pass for minutes (1..preapprove_max) without
 * a new approval (replacing what that IP had). */
int admin_preapprove(struct auth_policy *p, const char *name, const char *ip, unsigned minutes,
                     time_t now, const char **error_r);

/* Most recent first; name NULL = all users. */
int admin_log(struct auth_policy *p, const char *name, unsigned limit,
	      void (*cb)(const struct admin_log_entry *, void *), void *ctx, const char **error_r);

#endif
