#include "auth/password.h"
#include "common/xalloc.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

unsigned long password_verify_count;

char *password_hash(const char *password, size_t len, const struct password_params *params)
{
	char *out = xmalloc(crypto_pwhash_STRBYTES);

	if (crypto_pwhash_str(out, password, len, params->opslimit, params->memlimit) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

int password_verify(const char *hash, const char *password, size_t len)
{
	password_verify_count++;
	return crypto_pwhash_str_verify(hash, password, len) == 0 ? 1 : 0;
}

bool password_needs_rehash(const char *hash, const struct password_params *params)
{
	return crypto_pwhash_str_needs_rehash(hash, params->opslimit, params->memlimit) != 0;
}
