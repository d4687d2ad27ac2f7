#include "auth/factor.h"
#include "common/config.h"
#include "common/xalloc.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

char *factor_random_code(unsigned groups, unsigned group_len)
{
	size_t len = (size_t)groups * group_len + (groups > 0 ? groups - 1 : 0);
	char *out = xmalloc(len + 1);
	size_t o = 0;

	for (unsigned g = 0; g < groups; g++) {
		if (g > 0)
			out[o++] = '-';
		for (unsigned i = 0; i < group_len; i++)
			out[o++] = FACTOR_ALPHABET[randombytes_uniform(32)];
	}
	out[o] = '\0';
	return out;
}

void factor_keyed_hash(const unsigned char key[crypto_generichash_KEYBYTES],
                       const char *const *parts, const size_t *lens, size_t count,
                       unsigned char out[AUTH_HASH_LEN])
{
	crypto_generichash_state st;
	static const unsigned char nul = 0;

	crypto_generichash_init(&st, key, crypto_generichash_KEYBYTES, AUTH_HASH_LEN);
	for (size_t i = 0; i < count; i++) {
		crypto_generichash_update(&st, (const unsigned char *)parts[i], lens[i]);
		crypto_generichash_update(&st, &nul, 1);
	}
	crypto_generichash_final(&st, out, AUTH_HASH_LEN);
	sodium_memzero(&st, sizeof(st));
}

/* Grace is for mail clients that re-send a saved password+code; the portal, which manages the
 * factors, wants a fresh code every time and gives none of its codes a second life. */
bool factor_grace_on(const struct factor_ctx *ctx)
{
	return ctx->cfg->mfa_grace > 0 && ctx->net[0] != '\0' && ctx->proto != AUTH_PROTO_PORTAL;
}

void factor_grace_hash(const struct factor_ctx *ctx, const char *code, size_t len,
                       unsigned char out[AUTH_HASH_LEN])
{
	char id[32];
	const char *parts[3] = {id, code, ctx->net};
	size_t lens[3];

	snprintf(id, sizeof(id), "%lld", (long long)ctx->user->id);
	lens[0] = strlen(id);
	lens[1] = len;
	lens[2] = strlen(ctx->net);
	factor_keyed_hash(ctx->keys->grace, parts, lens, 3, out);
}
