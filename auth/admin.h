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

struct auth_policy;

struct admin_user_info {
	const char *name;
	bool enabled;
	bool has_totp;        /* active (confirmed) TOTP */
	unsigned apppasses;   /* active, unexpired */
	unsigned recovery_left;
	time_t locked_until;  /* 0 = not locked */
	unsigned failures;    /* consecutive failures since last success */
	unsigned stolen_password_signs; /* password-right-code-wrong events since last success */
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

struct admin_log_entry {
	time_t time;
	const char *user;   /* as presented (bounded, sanitised) */
	const char *proto;
	const char *ip;
	const char *client_id;
	const char *factor; /* totp, grace, recovery, apppass, password, none */
	const char *result; /* ok, fail, tempfail */
	const char *reason; /* unknown-user, bad-password, bad-code, replay, locked, ... */
	bool stolen_password; /* password right, second factor wrong */
};

/* Validates a user name (the rules the daemon applies to a login name too). */
bool admin_user_name_valid(const char *name);
/* Refuses empty or weak passwords with a reason. */
int admin_password_check(const char *password, const char **error_r);

int admin_user_add(struct auth_policy *p, const char *name, const char *password,
		   const char **error_r);
int admin_user_passwd(struct auth_policy *p, const char *name, const char *password,
		      const char **error_r);
int admin_user_del(struct auth_policy *p, const char *name, const char **error_r);
/* lock: disables logins until unlocked (not a timed lockout). unlock: clears both the admin lock
 * and any failure lockout and counters. */
int admin_user_lock(struct auth_policy *p, const char *name, const char **error_r);
int admin_user_unlock(struct auth_policy *p, const char *name, const char **error_r);
int admin_user_list(struct auth_policy *p, void (*cb)(const struct admin_user_info *, void *),
		    void *ctx, const char **error_r);

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

/* Replaces all recovery codes of the user with count new ones. codes_r: array of count strings,
 * free with admin_codes_free. */
int admin_recovery_new(struct auth_policy *p, const char *name, unsigned count, char ***codes_r,
		       const char **error_r);
void admin_codes_free(char ***codes, unsigned count);

/* Most recent first; name NULL = all users. */
int admin_log(struct auth_policy *p, const char *name, unsigned limit,
	      void (*cb)(const struct admin_log_entry *, void *), void *ctx, const char **error_r);

#endif
