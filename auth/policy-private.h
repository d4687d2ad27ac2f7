/* The policy object, shared by policy.c, admin.c and the portal answers (service-portal.c). */
#ifndef TWOFOLD_AUTH_POLICY_PRIVATE_H
#define TWOFOLD_AUTH_POLICY_PRIVATE_H

#include "auth/module.h"
#include "auth/password.h"
#include "auth/policy.h"
#include "auth/secretkey.h"

struct auth_policy {
	const struct config *cfg; /* owned by the caller; outlives the policy */
	const struct auth_module *module;
	struct auth_store *store;
	struct secret_keys keys;
	struct password_params pw;
	char *dummy_hash;        /* unknown users are verified against this: the same Argon2 work */
	char dummy_pw[33];       /* its random password (auth_policy_warm_up), wiped at close */
	char error[512];         /* for error_r strings that need formatting */
	time_t next_prune;       /* the store's housekeeping runs at the first login after this */
	unsigned audit_max_rows; /* the audit log keeps at most this many entries */
};

/* The failure counters of the policy (policy.c explains each). */
enum policy_counter {
	PC_SOURCE,
	PC_NAME,
	PC_STRANGER,
	PC_STRANGER_SOURCE,
	PC_DEVICE,
	PC_STRICT,
	PC_UNGUESSED,
	PC_COUNT
};

/* The network device grace is kept for: an IPv4 /24, an IPv6 /64 ("" for ""). */
void policy_grace_net(const char *ip, char *out, size_t size);

/* True when the secret ends in something shaped like a second factor's code (TOTP digits, a
 * recovery code, a YubiKey OTP): such a secret is never held for approval. */
bool policy_secret_coded(const struct config *cfg, const char *secret, size_t len);

/* Until when a counter in this state locks; 0 when it does not. */
time_t policy_lock_until(const struct config *cfg, const struct auth_failure *f);

struct policy_user_state {
	unsigned failures;              /* failures in a row of this name, of any kind */
	time_t locked_until;            /* strict lockout: 0 = none */
	time_t unfamiliar_locked_until; /* lockout of unfamiliar sources: 0 = none */
};

int policy_user_state(struct auth_policy *p, const char *name, time_t now,
                      struct policy_user_state *state_r, const char **error_r);
/* Clears every failure counter of the user (its lockouts with them). */
int policy_user_forget_failures(struct auth_policy *p, const char *name, const char **error_r);
/* Forgets the failures counted against the source of ip (an IPv4 address, an IPv6 /64), which
 * lifts its block for users it is unfamiliar to; *source_r (size >= 64) says which source.
 * 0, -1 with *error_r (not an address, a store error). */
int policy_source_forget(struct auth_policy *p, const char *ip, char *source_r, size_t size,
                         const char **error_r);

#endif
