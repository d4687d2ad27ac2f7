/*
 * Second factors, one file per kind behind one small interface: verify() looks at the presented
 * part of the secret for a user whose password (where one is needed) is already verified.
 * Also the helpers the admin side uses to mint codes and seeds.
 */
#ifndef TWOFOLD_AUTH_FACTOR_H
#define TWOFOLD_AUTH_FACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "auth/module.h"
#include "auth/policy.h"
#include "auth/secretkey.h"

struct config;

enum factor_result {
	FACTOR_OK,
	FACTOR_FAIL,      /* this factor, and it is wrong: ctx->reason says why */
	FACTOR_NEED_MORE, /* not this factor (wrong shape, not found): try the next way */
	FACTOR_TEMPFAIL,  /* store error: ctx->error */
};

struct factor_ctx {
	const struct config *cfg;
	struct auth_store *store;
	const struct secret_keys *keys;
	const struct auth_user *user;
	enum auth_proto proto;
	const char *ip;
	const char *net; /* the client's network for device grace (IPv4 /24, IPv6 /64), or "" */
	time_t now;
	/* out */
	const char *factor; /* name of the factor that decided, e.g. "grace" */
	const char *reason; /* on FACTOR_FAIL */
	bool genuine;       /* on FACTOR_FAIL: the code was valid once (older, replayed) */
	const char *error;  /* on FACTOR_TEMPFAIL */
};

struct auth_factor {
	const char *name;
	/* For a factor sent after the password: how many characters at the end of secret have
	 * its shape (0: none); the password is what comes before. NULL for other factors. */
	size_t (*tail)(const struct config *cfg, const char *secret, size_t len);
	/* 1 when the user has this factor enrolled, so that the password alone is not enough;
	 * -1 with ctx->error on a store error. NULL: enrolling it does not count. */
	int (*enrolled)(struct factor_ctx *ctx);
	enum factor_result (*verify)(struct factor_ctx *ctx, const char *presented, size_t len);
};

extern const struct auth_factor factor_totp;     /* presented: the code digits */
extern const struct auth_factor factor_recovery; /* presented: one recovery code */
extern const struct auth_factor factor_apppass;  /* presented: the whole secret */

/* Kinds stored with the module's factor_* functions. */
#define FACTOR_KIND_TOTP "totp"

/* The unambiguous alphabet of app passwords and recovery codes (Crockford base32, lower case:
 * no i, l, o, u). */
#define FACTOR_ALPHABET "0123456789abcdefghjkmnpqrstvwxyz"

/* Random code of groups*group_len characters from FACTOR_ALPHABET, groups joined by '-'. */
char *factor_random_code(unsigned groups, unsigned group_len);
/* Keyed BLAKE2b over the parts (each followed by a NUL byte) into out. */
void factor_keyed_hash(const unsigned char key[crypto_generichash_KEYBYTES],
                       const char *const *parts, const size_t *lens, size_t count,
                       unsigned char out[AUTH_HASH_LEN]);

/* TOTP (factor-totp.c) */
#define TOTP_SEED_LEN 20
/* Seals a seed for the store: nonce || secretbox. *blob_r: caller frees. */
void totp_seed_seal(const struct secret_keys *keys, const unsigned char *seed, size_t len,
                    unsigned char **blob_r, size_t *blob_len_r);
/* 1 with the seed in *seed_r (caller wipes with xfree_secret(seed, len)), 0 if it does not open. */
int totp_seed_open(const struct secret_keys *keys, const unsigned char *blob, size_t blob_len,
                   unsigned char **seed_r, size_t *len_r);
/* 1 when code (digits long) is valid at now within +-window steps; *step_r = its time step. */
int totp_check(const unsigned char *seed, size_t seed_len, const char *code, size_t code_len,
               time_t now, unsigned period, unsigned window, int64_t *step_r);
/* otpauth://totp/ISSUER:USER?secret=...&issuer=...&algorithm=SHA1&digits=D&period=P */
char *totp_uri(const char *issuer, const char *user, const unsigned char *seed, size_t len,
               unsigned digits, unsigned period);

/* Recovery codes (factor-recovery.c): "xxxxx-xxxxx". */
#define RECOVERY_CODE_LEN 11
char *recovery_code_generate(void);
/* True when s[0..len) looks like a recovery code (case-insensitive). */
bool recovery_code_shape(const char *s, size_t len);
void recovery_code_hash(const struct secret_keys *keys, int64_t user_id, const char *code,
                        size_t len, unsigned char out[AUTH_HASH_LEN]);

/* App passwords (factor-apppass.c): 20 characters (100 bits) shown as xxxxx-xxxxx-xxxxx-xxxxx;
 * dashes, spaces and case are ignored on input. */
#define APPPASS_CHARS 20
char *apppass_generate(void);
/* 1 with out[APPPASS_CHARS + 1] normalised when s looks like an app password. */
int apppass_normalize(const char *s, size_t len, char out[APPPASS_CHARS + 1]);
void apppass_hash(const struct secret_keys *keys, const char *normalized,
                  unsigned char out[AUTH_HASH_LEN]);
/* proto scope check: "all" or the protocol's own name. */
bool apppass_scope_allows(const char *scope, enum auth_proto proto);

#endif
