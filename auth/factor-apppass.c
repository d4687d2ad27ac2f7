/*
 * App passwords: 100 random bits, shown once, stored as a keyed BLAKE2b hash (their entropy makes
 * Argon2 unnecessary), found by that hash. Each has a protocol scope and an optional expiry.
 */
#include "auth/factor.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <string.h>

char *apppass_generate(void)
{
	return factor_random_code(4, 5);
}

int apppass_normalize(const char *s, size_t len, char out[APPPASS_CHARS + 1])
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = (char)tolower((unsigned char)s[i]);

		if (c == '-' || c == ' ')
			continue;
		if (o == APPPASS_CHARS || c == '\0' || strchr(FACTOR_ALPHABET, c) == NULL) {
			sodium_memzero(out, APPPASS_CHARS + 1);
			return 0;
		}
		out[o++] = c;
	}
	out[o] = '\0';
	return o == APPPASS_CHARS ? 1 : 0;
}

void apppass_hash(const struct secret_keys *keys, const char *normalized,
                  unsigned char out[AUTH_HASH_LEN])
{
	const char *parts[1] = {normalized};
	size_t lens[1] = {strlen(normalized)};

	factor_keyed_hash(keys->apppass, parts, lens, 1, out);
}

bool apppass_scope_allows(const char *scope, enum auth_proto proto)
{
	if (strcmp(scope, "all") == 0)
		return true;
	return proto != AUTH_PROTO_OTHER && strcmp(scope, auth_proto_name(proto)) == 0;
}

static enum factor_result apppass_check(struct factor_ctx *ctx, const struct auth_apppass *ap)
{
	if (ap->user_id != ctx->user->id)
		return FACTOR_NEED_MORE;
	ctx->factor = "apppass";
	if (!apppass_scope_allows(ap->proto, ctx->proto)) {
		ctx->reason = "apppass-scope";
		return FACTOR_FAIL;
	}
	if (ap->expires != 0 && ctx->now >= ap->expires) {
		ctx->reason = "apppass-expired";
		return FACTOR_FAIL;
	}
	if (ctx->store->module->apppass_touch(ctx->store, ap->id, ctx->now, ctx->ip, &ctx->error) <
	    0)
		return FACTOR_TEMPFAIL;
	return FACTOR_OK;
}

static enum factor_result apppass_verify(struct factor_ctx *ctx, const char *secret, size_t len)
{
	char norm[APPPASS_CHARS + 1];
	unsigned char hash[AUTH_HASH_LEN];
	struct auth_apppass ap;
	enum factor_result res;
	int rc;

	if (apppass_normalize(secret, len, norm) == 0)
		return FACTOR_NEED_MORE;
	apppass_hash(ctx->keys, norm, hash);
	sodium_memzero(norm, sizeof(norm));
	rc = ctx->store->module->apppass_find(ctx->store, hash, &ap, &ctx->error);
	if (rc < 0)
		return FACTOR_TEMPFAIL;
	if (rc == 0)
		return FACTOR_NEED_MORE;
	res = apppass_check(ctx, &ap);
	auth_apppass_clear(&ap);
	return res;
}

const struct auth_factor factor_apppass = {
    .name = "apppass",
    .verify = apppass_verify,
};
