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
extern const struct auth_factor factor_yubikey;  /* presented: one YubiKey OTP */

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

/* Device grace (factor.c): on when [auth] mfa_grace > 0 and the client's network is known; the
 * entry is a keyed hash of user id, the accepted code and the network (ctx->net). */
bool factor_grace_on(const struct factor_ctx *ctx);
void factor_grace_hash(const struct factor_ctx *ctx, const char *code, size_t len,
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

/* YubiKey OTP (factor-yubikey.c; the yubikey_otp_ and yubikey_secret_ names are ours, the
 * other yubikey_ names are libyubikey's). An OTP is 12 modhex characters of public id and 32 of
 * one AES-128 block; upper case (caps lock) is accepted and folded. */
#define YUBIKEY_OTP_LEN        44
#define YUBIKEY_PUBLIC_ID_LEN  12 /* modhex characters */
#define YUBIKEY_PRIVATE_ID_LEN 6  /* bytes; 12 hex digits */
#define YUBIKEY_AES_KEY_LEN    16 /* bytes; 32 hex digits */
/* What the store keeps sealed (totp_seed_seal): the AES key, then the private id. */
#define YUBIKEY_SECRET_LEN (YUBIKEY_AES_KEY_LEN + YUBIKEY_PRIVATE_ID_LEN)

struct yubikey_otp {
	char public_id[YUBIKEY_PUBLIC_ID_LEN + 1];               /* lower case */
	char token[YUBIKEY_OTP_LEN - YUBIKEY_PUBLIC_ID_LEN + 1]; /* modhex, lower case */
};

/* True when s[0..len) is len modhex characters (either case). */
bool yubikey_modhex_shape(const char *s, size_t len);
/* True when s[0..len) looks like a YubiKey OTP. */
bool yubikey_otp_shape(const char *s, size_t len);
/* 1 with *otp_r filled when s[0..len) is an OTP, 0 when it is not one. */
int yubikey_otp_parse(const char *s, size_t len, struct yubikey_otp *otp_r);
/* Decrypts the token with the secret (YUBIKEY_SECRET_LEN bytes): 1 with the counter pair
 * (session counter << 8 | use counter) in *counter_r when the CRC is right and the private id
 * matches, 0 otherwise. */
int yubikey_otp_decrypt(const struct yubikey_otp *otp, const unsigned char *secret,
                        uint32_t *counter_r);

#endif
