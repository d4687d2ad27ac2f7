/*
 * The server key file: 32 random bytes, created 0600 on first use, refused when group or others
 * may access it. Sub-keys for each purpose are derived from it (crypto_kdf).
 */
#ifndef TWOFOLD_AUTH_SECRETKEY_H
#define TWOFOLD_AUTH_SECRETKEY_H

#include <sodium.h>

#define SECRETKEY_LEN 32

struct secret_keys {
	unsigned char seal[crypto_secretbox_KEYBYTES]; /* TOTP seeds at rest */
	unsigned char apppass[crypto_generichash_KEYBYTES];
	unsigned char recovery[crypto_generichash_KEYBYTES];
	unsigned char grace[crypto_generichash_KEYBYTES];
	unsigned char webauthn[crypto_generichash_KEYBYTES]; /* invite tokens, user handles */
};

/* Reads path (creating it if missing) and derives the sub-keys. -1 with *error_r (static). */
int secretkey_load(const char *path, struct secret_keys *keys_r, const char **error_r);
void secretkey_wipe(struct secret_keys *keys);
/* Reads exactly SECRETKEY_LEN bytes from fd (retrying partial reads). 0 ok; -1 on a short read
 * or an error, with key wiped (no partial key left in the caller's buffer). */
int secretkey_read_fd(int fd, unsigned char key[SECRETKEY_LEN]);

#endif
