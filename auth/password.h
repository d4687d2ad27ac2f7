/* Password hashes: Argon2id (libsodium crypto_pwhash_str strings) with configurable cost; verified
 * with libargon2 in a memory area kept per process when built with it (see password.c). */
#ifndef TWOFOLD_AUTH_PASSWORD_H
#define TWOFOLD_AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct password_params {
	uint64_t opslimit;
	size_t memlimit;
};

/* Returns a crypto_pwhash_str hash (caller frees with xfree_secret_str); NULL if out of memory
 * for the configured memlimit. */
char *password_hash(const char *password, size_t len, const struct password_params *params);
/* 1 when password matches hash, 0 when not (or hash is malformed). Always does the Argon2 work
 * the hash asks for. */
int password_verify(const char *hash, const char *password, size_t len);
/* True when hash was made with other parameters than params and should be redone. */
bool password_needs_rehash(const char *hash, const struct password_params *params);

#endif
