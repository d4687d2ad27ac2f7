/* One-time recovery codes: "xxxxx-xxxxx", stored as keyed BLAKE2b bound to the user. */
#include "auth/factor.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <string.h>

char *recovery_code_generate(void)
{
	return factor_random_code(2, 5);
}

static bool recovery_char(char c)
{
	return strchr(FACTOR_ALPHABET, tolower((unsigned char)c)) != NULL && c != '\0';
}

bool recovery_code_shape(const char *s, size_t len)
{
	if (len != RECOVERY_CODE_LEN || s[5] != '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (i != 5 && !recovery_char(s[i]))
			return false;
	return true;
}

void recovery_code_hash(const struct secret_keys *keys, int64_t user_id, const char *code,
                        size_t len, unsigned char out[AUTH_HASH_LEN])
{
	char id[32], norm[RECOVERY_CODE_LEN + 1];
	const char *parts[2] = {id, norm};
	size_t lens[2];

	if (len > RECOVERY_CODE_LEN)
		len = RECOVERY_CODE_LEN;
	for (size_t i = 0; i < len; i++)
		norm[i] = (char)tolower((unsigned char)code[i]);
	norm[len] = '\0';
	snprintf(id, sizeof(id), "%lld", (long long)user_id);
	lens[0] = strlen(id);
	lens[1] = len;
	factor_keyed_hash(keys->recovery, parts, lens, 2, out);
	sodium_memzero(norm, sizeof(norm));
}

static enum factor_result recovery_verify(struct factor_ctx *ctx, const char *code, size_t len)
{
	unsigned char hash[AUTH_HASH_LEN];
	int rc;

	if (!recovery_code_shape(code, len))
		return FACTOR_NEED_MORE;
	recovery_code_hash(ctx->keys, ctx->user->id, code, len, hash);
	rc = ctx->store->module->recovery_use(ctx->store, ctx->user->id, hash, &ctx->error);
	if (rc < 0)
		return FACTOR_TEMPFAIL;
	if (rc == 0) {
		ctx->reason = "bad-recovery-code";
		return FACTOR_FAIL;
	}
	ctx->factor = "recovery";
	return FACTOR_OK;
}

static size_t recovery_tail(const struct config *cfg, const char *secret, size_t len)
{
	(void)cfg;
	if (len < RECOVERY_CODE_LEN ||
	    !recovery_code_shape(secret + len - RECOVERY_CODE_LEN, RECOVERY_CODE_LEN))
		return 0;
	return RECOVERY_CODE_LEN;
}

const struct auth_factor factor_recovery = {
    .name = "recovery",
    .tail = recovery_tail,
    .verify = recovery_verify,
};
