/* The login as policy.c, policy-count.c and policy-hold.c share it: one login being decided,
 * its failure counters and the steps the held-login path takes again. Not for other files. */
#ifndef TWOFOLD_AUTH_POLICY_LOGIN_H
#define TWOFOLD_AUTH_POLICY_LOGIN_H

#include "auth/policy-private.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLICY_USER_MAX      255
#define POLICY_SECRET_MAX    1024
#define POLICY_IP_MAX        64
#define POLICY_CLIENT_ID_MAX 128
#define POLICY_SOURCE_MAX    (POLICY_IP_MAX + 8)
#define POLICY_KEY_MAX       (POLICY_USER_MAX + POLICY_SOURCE_MAX + 2)

enum policy_key { KEY_SOURCE, KEY_NAME, KEY_PAIR, KEY_COUNT };

/* A failure counter: its name in the store, what it is keyed by, how long a quiet counter lives. */
struct policy_counter_def {
	const char *kind; /* in the store */
	enum policy_key key;
	time_t window;
};
extern const struct policy_counter_def policy_counters[PC_COUNT];

enum login_when { WHEN_ALWAYS, WHEN_FAMILIAR, WHEN_UNFAMILIAR };

/* A lockout a login can meet (login_locks in policy.c lists them in the order checked). */
struct login_lock {
	enum policy_counter counter;
	enum login_when when;
	bool apppass_familiar_only; /* app passwords pass only from familiar sources */
	const char *reason;
};

/* What a failed login was, for what it counts toward. */
enum login_class {
	CLASS_LOCKED,    /* refused unchecked: counts toward nothing */
	CLASS_PASSWORD,  /* wrong password, unknown or disabled user */
	CLASS_FACTOR,    /* right password, wrong second factor (strict is charged already) */
	CLASS_UNGUESSED, /* right password, no new code: a used one, none, none enrolled */
	CLASS_APPPASS,   /* an app password out of its scope or expired */
};

struct login {
	struct auth_policy *p;
	const struct auth_request *req;
	size_t secret_len;
	struct auth_user user; /* id 0: unknown user */
	bool familiar;         /* the source is familiar to this user */
	bool checked;          /* an Argon2 verify ran (real or burnt) */
	bool not_served;       /* credentials right, but the caller could not serve the user */
	bool fresh;            /* a success that proved a new code (or the password alone) */
	bool key_proved;       /* a success that a security key answered (portal sign-in) */
	bool log_pending;      /* a pending portal sign-in: its password step goes in the log */
	const struct login_lock *lock; /* in force, or NULL */
	enum login_class class;
	const char *factor;
	const char *reason;
	bool stolen;            /* alarm: right password, a code never valid for this user */
	bool has_key;           /* the user has a security key */
	bool has_factor;        /* the user has a code-typed second factor enrolled */
	bool coded;             /* the secret ends in something shaped like a code */
	bool uncounted;         /* a held login that ran out of time: not a failure */
	struct auth_hold *hold; /* filled when the login is held for approval */
	enum auth_hint hint;
	const char *error;
	uint32_t delay_ms;
	const char *tail; /* the second-factor part of the secret, or NULL */
	size_t tail_len;
	bool strict_charged; /* strict holds this login, strict_before what it held before */
	struct auth_failure strict, strict_before;
	char source[POLICY_SOURCE_MAX]; /* IPv4 address or IPv6 /64: familiarity, failures */
	char net[POLICY_SOURCE_MAX];    /* IPv4 /24 or IPv6 /64: device grace */
	char keys[KEY_COUNT][POLICY_KEY_MAX];
};

/* ---- the counters (policy-count.c) ---- */
const char *login_key(const struct login *l, enum policy_counter pc);
int login_counter_get(struct login *l, enum policy_counter pc, struct auth_failure *f);
int login_record(struct login *l, enum policy_counter pc, struct auth_failure *f);
int login_reset(struct login *l, enum policy_counter pc);
int login_forgive(struct login *l, enum policy_counter pc);

/* ---- the steps of a login (policy.c) ---- */
void policy_ip_prefix(const char *ip, int family, unsigned prefix, char *out, size_t size);
void login_where(struct login *l);
void login_keys(struct login *l);
int login_familiar(struct login *l);
int login_find_lock(struct login *l);
int login_charge_strict(struct login *l);
enum auth_result login_ok(struct login *l, const char *password, size_t pwlen);
enum auth_result login_fail(struct login *l, enum login_class class, const char *reason);
enum auth_result login_tempfail(struct login *l, const char *error);
enum auth_result login_finish(struct login *l, enum auth_result r);
void login_reply(const struct login *l, enum auth_result r, struct auth_reply *reply);

#endif
