/*
 * The auth store module interface. A module only stores and fetches: it never decides policy
 * (which factors a login needs, lockout, replay windows live in auth/policy.c). Every function
 * returns -1 with *error_r on a store error (busy, I/O: the login becomes TEMPFAIL), 0 for
 * "no / not found / refused" and 1 for "yes / done", unless noted otherwise.
 *
 * A module is a const struct with designated initializers, found by name in a NULL-terminated
 * registry (auth_module_find). Further modules can be built against this header.
 */
#ifndef TWOFOLD_AUTH_MODULE_H
#define TWOFOLD_AUTH_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "auth/audit.h"

struct config;

#define AUTH_HASH_LEN 32 /* keyed BLAKE2b of app passwords, recovery codes, grace entries */

/* Every module's store begins with this. */
struct auth_store {
	const struct auth_module *module;
};

struct auth_user {
	int64_t id;
	char *name;   /* canonical */
	char *pwhash; /* crypto_pwhash_str output */
	bool enabled; /* false: locked by the admin */
	time_t created, last_login;
	unsigned stolen_signs; /* alarms (a right password with a code never valid for the user)
	                        * since the last success or the admin's unlock */
};

struct auth_apppass {
	int64_t id, user_id;
	unsigned char hash[AUTH_HASH_LEN];
	char *label;
	char *proto;                        /* "imap", "pop3", "all" */
	time_t created, expires, last_used; /* 0 = never */
	char *last_ip;
};

/* A registered security key (a WebAuthn credential). pubkey is in libfido2's raw form for alg
 * (see auth/webauthn.h). */
struct auth_webauthn {
	int64_t id, user_id;
	unsigned char *cred_id;
	size_t cred_id_len;
	int alg; /* COSE algorithm */
	unsigned char *pubkey;
	size_t pubkey_len;
	uint32_t sign_count;
	char *label;
	time_t created, last_used; /* last_used 0 = never */
	char *last_ip;
};

/* A WebAuthn challenge: random, single use, until it expires. */
#define AUTH_CHALLENGE_LEN 32
#define AUTH_PURPOSE_MAX   16

struct auth_challenge {
	unsigned char challenge[AUTH_CHALLENGE_LEN];
	char purpose[AUTH_PURPOSE_MAX]; /* what it may be answered for, e.g. "register" */
	int64_t user_id;                /* 0 = not bound to a user */
	int64_t bound_id;               /* the object it was issued for (a pending login), 0 = none */
	time_t expires;
};

/* A portal sign-in: the store keeps only the hash of the session id the browser holds. */
enum auth_portal_level {
	AUTH_PORTAL_ENROL = 1, /* from a single-use enrolment link: may add a security key only */
	AUTH_PORTAL_FULL,      /* password and second factor: everything */
	AUTH_PORTAL_KEY,       /* the password alone was right: may answer with a security key */
};

#define AUTH_PORTAL_CSRF_MAX 64

struct auth_portal_session {
	unsigned char hash[AUTH_HASH_LEN];
	int64_t user_id;
	char user[256]; /* filled by portal_session_get: the canonical name */
	enum auth_portal_level level;
	char csrf[AUTH_PORTAL_CSRF_MAX + 1];
	time_t created, expires;
};

/* An enrolled YubiKey (Yubico OTP). The public id is typed with every code; the AES key and the
 * private id are kept sealed under the server key, as TOTP seeds are. */
struct auth_yubikey {
	int64_t id, user_id;
	char public_id[32]; /* modhex, lower case */
	unsigned char *sealed;
	size_t sealed_len;
	int64_t counter;           /* last accepted (session << 8 | use), -1 before the first */
	time_t created, last_used; /* last_used 0 = never */
};

/* A login held for the user's approval: the password alone, right, from a user with a security
 * key. The holding auth process polls its state; whoever approves or denies changes it. */
enum auth_approval_state {
	AUTH_APPROVAL_PENDING,
	AUTH_APPROVAL_APPROVED,
	AUTH_APPROVAL_DENIED,
	AUTH_APPROVAL_CLOSED, /* the holder gave up on it (client gone, service stopping) */
};

struct auth_approval {
	int64_t id, user_id;
	char proto[16];
	char ip[64];
	char client_id[129]; /* IMAP ID name, "" if none */
	time_t created, expires, decided;
	enum auth_approval_state state;
	unsigned preapprove; /* minutes the approver allowed further logins from ip, 0 = none */
};

/* Housekeeping limits (see auth_module.prune). */
struct auth_prune {
	time_t failures_before;   /* failure counters whose window ended before this */
	time_t grace_before;      /* grace entries that expired before this */
	time_t sources_before;    /* successful-login sources last seen before this */
	time_t used_codes_before; /* used-code hashes recorded before this */
	time_t audit_before;      /* audit entries older than this */
	time_t approvals_before;  /* held-login requests opened before this */
	unsigned audit_max_rows;  /* and all but the newest this many; 0 = no cap */
	time_t portal_sessions_before; /* portal sessions that expired before this */
};

/* A failure counter: the policy names its kinds and keys (auth/policy.c). */
struct auth_failure {
	unsigned count; /* failures in a row; 0 = none */
	time_t last;    /* time of the latest */
	time_t prev;    /* time of the one before the latest; 0 = none */
};

struct auth_module {
	const char *name;

	int (*open)(const struct config *cfg, struct auth_store **store_r, const char **error_r);
	void (*close)(struct auth_store **store);

	/* Name lookups are case-insensitive (ASCII); user_r->name is the canonical name. */
	int (*user_get)(struct auth_store *store, const char *name, struct auth_user *user_r,
	                const char **error_r);
	/* user->id == 0: insert (0 if the name is taken; sets user->id). Else updates name, pwhash
	 * and enabled of that id (0 if the new name is another user's). */
	int (*user_put)(struct auth_store *store, struct auth_user *user, const char **error_r);
	/* Deletes the user and everything that belongs to them. */
	int (*user_del)(struct auth_store *store, int64_t user_id, const char **error_r);
	int (*user_list)(struct auth_store *store, void (*cb)(const struct auth_user *, void *),
	                 void *ctx, const char **error_r);

	/* Second factor data (e.g. a sealed TOTP seed), one active and one pending per kind.
	 * *data_r: caller wipes and frees. */
	int (*factor_get)(struct auth_store *store, int64_t user_id, const char *kind, bool pending,
	                  unsigned char **data_r, size_t *len_r, const char **error_r);
	int (*factor_put)(struct auth_store *store, int64_t user_id, const char *kind, bool pending,
	                  const unsigned char *data, size_t len, const char **error_r);
	int (*factor_del)(struct auth_store *store, int64_t user_id, const char *kind, bool pending,
	                  const char **error_r);

	/* Replaces all recovery code hashes of the user, atomically. */
	int (*recovery_replace)(struct auth_store *store, int64_t user_id,
	                        const unsigned char (*hashes)[AUTH_HASH_LEN], unsigned count,
	                        const char **error_r);
	/* Removes the code if present: 1 exactly once per code, even between processes. */
	int (*recovery_use)(struct auth_store *store, int64_t user_id,
	                    const unsigned char hash[AUTH_HASH_LEN], const char **error_r);
	int (*recovery_count)(struct auth_store *store, int64_t user_id, unsigned *count_r,
	                      const char **error_r);

	int (*apppass_add)(struct auth_store *store, const struct auth_apppass *ap, int64_t *id_r,
	                   const char **error_r);
	int (*apppass_list)(struct auth_store *store, int64_t user_id,
	                    void (*cb)(const struct auth_apppass *, void *), void *ctx,
	                    const char **error_r);
	/* Fills *ap_r (free with auth_apppass_clear) for the app password with this hash. */
	int (*apppass_find)(struct auth_store *store, const unsigned char hash[AUTH_HASH_LEN],
	                    struct auth_apppass *ap_r, const char **error_r);
	int (*apppass_touch)(struct auth_store *store, int64_t id, time_t now, const char *ip,
	                     const char **error_r);
	int (*apppass_revoke)(struct auth_store *store, int64_t user_id, int64_t id,
	                      const char **error_r);

	/* Security keys. webauthn_add: 0 when that credential id is registered already (to anyone).
	 * webauthn_find fills *k_r (free with auth_webauthn_clear) for a credential id. */
	int (*webauthn_add)(struct auth_store *store, const struct auth_webauthn *k, int64_t *id_r,
	                    const char **error_r);
	int (*webauthn_list)(struct auth_store *store, int64_t user_id,
	                     void (*cb)(const struct auth_webauthn *, void *), void *ctx,
	                     const char **error_r);
	int (*webauthn_find)(struct auth_store *store, const unsigned char *cred_id, size_t len,
	                     struct auth_webauthn *k_r, const char **error_r);
	/* 1 when any user has a security key, 0 when none does. */
	int (*webauthn_any)(struct auth_store *store, const char **error_r);
	/* The sign counter rule in one atomic statement: 1 when sign_count is above the stored
	 * counter or both are 0 (sign_count, last use and IP are stored), 0 when it is not (a
	 * cloned key, an assertion replayed in a race, or the key was removed meanwhile). */
	int (*webauthn_use)(struct auth_store *store, int64_t id, uint32_t sign_count, time_t now,
	                    const char *ip, const char **error_r);
	int (*webauthn_rename)(struct auth_store *store, int64_t user_id, int64_t id,
	                       const char *label, const char **error_r);
	int (*webauthn_remove)(struct auth_store *store, int64_t user_id, int64_t id,
	                       const char **error_r);

	/* WebAuthn challenges. challenge_put also forgets expired ones and all but the newest few
	 * of that user and purpose. challenge_take removes the challenge with that value, purpose
	 * and user in one statement, so it is taken exactly once even between processes: 1 with
	 * *c_r when it had not expired, 0 otherwise (unknown, taken before, or expired). */
	int (*challenge_put)(struct auth_store *store, const struct auth_challenge *c, time_t now,
	                     const char **error_r);
	int (*challenge_take)(struct auth_store *store,
	                      const unsigned char challenge[AUTH_CHALLENGE_LEN], const char *purpose,
	                      int64_t user_id, time_t now, struct auth_challenge *c_r,
	                      const char **error_r);

	/* Single-use enrolment invites, kept as a keyed hash of the token. invite_take marks the
	 * invite used in one statement: 1 with *user_id_r exactly once while it has not expired,
	 * 0 otherwise. */
	int (*invite_put)(struct auth_store *store, const unsigned char hash[AUTH_HASH_LEN],
	                  int64_t user_id, time_t now, time_t expires, const char **error_r);
	int (*invite_take)(struct auth_store *store, const unsigned char hash[AUTH_HASH_LEN],
	                   time_t now, int64_t *user_id_r, const char **error_r);

	/* YubiKeys. yubikey_add: 0 when the user has that public id already (yk->id, counter and
	 * last_used are ignored). yubikey_find fills *yk_r (free with auth_yubikey_clear). */
	int (*yubikey_add)(struct auth_store *store, const struct auth_yubikey *yk,
	                   const char **error_r);
	int (*yubikey_find)(struct auth_store *store, int64_t user_id, const char *public_id,
	                    struct auth_yubikey *yk_r, const char **error_r);
	int (*yubikey_list)(struct auth_store *store, int64_t user_id,
	                    void (*cb)(const struct auth_yubikey *, void *), void *ctx,
	                    const char **error_r);
	int (*yubikey_count)(struct auth_store *store, int64_t user_id, unsigned *count_r,
	                     const char **error_r);
	/* One atomic statement, like replay_check_and_set: 1 when counter is above the key's last
	 * accepted counter (which becomes counter; last_used becomes now), 0 when it is not. */
	int (*yubikey_use)(struct auth_store *store, int64_t id, int64_t counter, time_t now,
	                   const char **error_r);
	int (*yubikey_remove)(struct auth_store *store, int64_t user_id, const char *public_id,
	                      const char **error_r);

	/* Held logins. approval_open stores a (pending) and sets *id_r unless the user has a
	 * pending request that has not expired at a->created or had max or more opened since
	 * `since`, in one transaction: 1 opened, 0 not; *recent_r: how many the user had opened
	 * since `since`. approval_get fills *a_r by id. approval_list: the user's pending,
	 * unexpired at now, oldest first. approval_decide moves a pending request of that user,
	 * unexpired at now, to state (with preapprove minutes): 1 done, 0 when it is not such a
	 * request (any more). */
	int (*approval_open)(struct auth_store *store, const struct auth_approval *a, time_t since,
	                     unsigned max, int64_t *id_r, unsigned *recent_r, const char **error_r);
	int (*approval_get)(struct auth_store *store, int64_t id, struct auth_approval *a_r,
	                    const char **error_r);
	int (*approval_list)(struct auth_store *store, int64_t user_id, time_t now,
	                     void (*cb)(const struct auth_approval *, void *), void *ctx,
	                     const char **error_r);
	int (*approval_decide)(struct auth_store *store, int64_t user_id, int64_t id,
	                       enum auth_approval_state state, unsigned preapprove, time_t now,
	                       const char **error_r);

	/* RFC 6238 §5.2 in one atomic statement: 1 when step is newer than the last accepted step
	 * (which becomes step), 0 when it is not (replay or older code). */
	int (*replay_check_and_set)(struct auth_store *store, int64_t user_id, int64_t step,
	                            const char **error_r);

	/* Device grace entries: keyed hashes with an expiry. */
	int (*grace_check)(struct auth_store *store, const unsigned char hash[AUTH_HASH_LEN],
	                   time_t now, const char **error_r);
	int (*grace_put)(struct auth_store *store, int64_t user_id,
	                 const unsigned char hash[AUTH_HASH_LEN], time_t now, time_t expires,
	                 const char **error_r);
	int (*grace_clear)(struct auth_store *store, int64_t user_id, const char **error_r);

	/* Failure counters by kind and key (keys compare ASCII case-insensitively). A counter
	 * whose latest failure is more than `window` seconds before now counts as zero (and may be
	 * pruned). failure_record adds one failure at now, atomically, and fills *f_r with the
	 * result; failure_get fills *f_r (all zero: none). */
	int (*failure_get)(struct auth_store *store, const char *kind, const char *key, time_t now,
	                   struct auth_failure *f_r, const char **error_r);
	int (*failure_record)(struct auth_store *store, const char *kind, const char *key,
	                      time_t now, time_t window, struct auth_failure *f_r,
	                      const char **error_r);
	/* Puts a counter back to *to if it still is *from (nothing recorded since): 1 done, 0 it
	 * changed meanwhile (left as it is). */
	int (*failure_restore)(struct auth_store *store, const char *kind, const char *key,
	                       const struct auth_failure *from, const struct auth_failure *to,
	                       const char **error_r);
	int (*failure_reset)(struct auth_store *store, const char *kind, const char *key,
	                     const char **error_r);
	/* Removes the counters of this kind whose key begins with prefix. */
	int (*failure_reset_prefix)(struct auth_store *store, const char *kind, const char *prefix,
	                            const char **error_r);
	/* After a successful login: last_login = now. The alarms (stolen_signs) stay until
	 * stolen_clear: a login of the user's phone must not hide them from the admin. */
	int (*login_success)(struct auth_store *store, int64_t user_id, time_t now,
	                     const char **error_r);
	int (*stolen_mark)(struct auth_store *store, int64_t user_id, const char **error_r);
	int (*stolen_clear)(struct auth_store *store, int64_t user_id, const char **error_r);

	/* Where a user logged in successfully from: per source (a client address or network, as
	 * text), the time of the latest. source_get: 1 with *last_r, 0 never. */
	int (*source_put)(struct auth_store *store, int64_t user_id, const char *source, time_t now,
	                  const char **error_r);
	int (*source_get)(struct auth_store *store, int64_t user_id, const char *source,
	                  time_t *last_r, const char **error_r);

	/* Keyed hashes of codes a user logged in with. used_code_put records one at now and keeps
	 * only the user's newest `keep`; used_code_check: 1 when the hash was recorded at or after
	 * since. */
	int (*used_code_put)(struct auth_store *store, int64_t user_id,
	                     const unsigned char hash[AUTH_HASH_LEN], time_t now, unsigned keep,
	                     const char **error_r);
	int (*used_code_check)(struct auth_store *store, int64_t user_id,
	                       const unsigned char hash[AUTH_HASH_LEN], time_t since,
	                       const char **error_r);

	int (*audit_append)(struct auth_store *store, const struct admin_log_entry *entry,
	                    const char **error_r);
	/* Most recent first; name NULL = everyone. */
	int (*audit_list)(struct auth_store *store, const char *name, unsigned limit,
	                  void (*cb)(const struct admin_log_entry *, void *), void *ctx,
	                  const char **error_r);

	/* Portal sessions. get: 1 and *s_r for a session of that hash expiring after now, 0 when
	 * there is none (or it has expired). del: 1 when one was removed. */
	int (*portal_session_put)(struct auth_store *store, const struct auth_portal_session *s,
	                          const char **error_r);
	int (*portal_session_get)(struct auth_store *store, const unsigned char hash[AUTH_HASH_LEN],
	                          time_t now, struct auth_portal_session *s_r, const char **error_r);
	int (*portal_session_del)(struct auth_store *store, const unsigned char hash[AUTH_HASH_LEN],
	                          const char **error_r);

	/* Removes what auth_prune names, so that no table grows without bound (random user names
	 * and IPs, the audit log). May be NULL in a module that has nothing to prune. */
	int (*prune)(struct auth_store *store, const struct auth_prune *limits,
	             const char **error_r);
};

extern const struct auth_module auth_module_sqlite;

/* NULL if no module has that name. */
const struct auth_module *auth_module_find(const char *name);

/* Frees the members (wiping the password hash) and zeroes the struct. */
void auth_user_clear(struct auth_user *user);
void auth_apppass_clear(struct auth_apppass *ap);
void auth_webauthn_clear(struct auth_webauthn *k);
/* Frees the sealed secret and zeroes the struct. */
void auth_yubikey_clear(struct auth_yubikey *yk);

#endif
