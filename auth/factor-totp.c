/*
 * TOTP (RFC 6238) through liboath, with the replay rule of §5.2 kept atomically in the store and
 * device grace: a code accepted with the password from one client network (an IPv4 /24, an IPv6
 * /64: a renewed lease is the same client) is accepted again from that network for
 * cfg->mfa_grace seconds (the password is still verified every time, by the policy).
 */
#include "auth/factor.h"
#include "common/config.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <liboath/oath.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void totp_seed_seal(const struct secret_keys *keys, const unsigned char *seed, size_t len,
                    unsigned char **blob_r, size_t *blob_len_r)
{
	size_t blob_len = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len;
	unsigned char *blob = xmalloc(blob_len);

	randombytes_buf(blob, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(blob + crypto_secretbox_NONCEBYTES, seed, len, blob, keys->seal);
	*blob_r = blob;
	*blob_len_r = blob_len;
}

int totp_seed_open(const struct secret_keys *keys, const unsigned char *blob, size_t blob_len,
                   unsigned char **seed_r, size_t *len_r)
{
	const size_t overhead = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;
	unsigned char *seed;

	*seed_r = NULL;
	*len_r = 0;
	if (blob_len <= overhead)
		return 0;
	seed = xmalloc(blob_len - overhead);
	if (crypto_secretbox_open_easy(seed, blob + crypto_secretbox_NONCEBYTES,
	                               blob_len - crypto_secretbox_NONCEBYTES, blob,
	                               keys->seal) != 0) {
		xfree_secret(seed, blob_len - overhead);
		return 0;
	}
	*seed_r = seed;
	*len_r = blob_len - overhead;
	return 1;
}

struct totp_cmp {
	const char *code;
	size_t len;
};

/* liboath's comparison hook: constant time, 0 when equal. */
static int totp_cmp_ct(void *handle, const char *test_otp)
{
	const struct totp_cmp *c = handle;

	if (strlen(test_otp) != c->len)
		return 1;
	return sodium_memcmp(test_otp, c->code, c->len) == 0 ? 0 : 1;
}

static bool totp_code_shape(const char *code, size_t len)
{
	if (len < 6 || len > 8)
		return false;
	for (size_t i = 0; i < len; i++)
		if (code[i] < '0' || code[i] > '9')
			return false;
	return true;
}

int totp_check(const unsigned char *seed, size_t seed_len, const char *code, size_t code_len,
               time_t now, unsigned period, unsigned window, int64_t *step_r)
{
	struct totp_cmp cmp = {.code = code, .len = code_len};
	uint64_t counter = 0;
	int pos = 0, rc;

	*step_r = -1;
	if (!totp_code_shape(code, code_len))
		return 0;
	rc = oath_totp_validate4_callback((const char *)seed, seed_len, now, period, 0,
	                                  (unsigned)code_len, window, &pos, &counter, 0,
	                                  totp_cmp_ct, &cmp);
	if (rc < 0)
		return 0;
	*step_r = (int64_t)counter;
	return 1;
}

static char *totp_urlencode(const char *s)
{
	size_t len = strlen(s);
	char *out = xmalloc(len * 3 + 1), *o = out;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~' || c == '@')
			*o++ = (char)c;
		else
			o += sprintf(o, "%%%02X", c);
	}
	*o = '\0';
	return out;
}

char *totp_uri(const char *issuer, const char *user, const unsigned char *seed, size_t len,
               unsigned digits, unsigned period)
{
	char *b32 = NULL, *iss = totp_urlencode(issuer), *usr = totp_urlencode(user), *uri;
	size_t b32_len = 0;

	if (oath_base32_encode((const char *)seed, len, &b32, &b32_len) != OATH_OK)
		fatal("base32 encoding failed");
	/* Authenticator apps want the secret without '=' padding. */
	while (b32_len > 0 && b32[b32_len - 1] == '=')
		b32[--b32_len] = '\0';
	uri = xasprintf("otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=%u"
	                "&period=%u",
	                iss, usr, b32, iss, digits, period);
	xfree_secret(b32, b32_len);
	free(iss);
	free(usr);
	return uri;
}

/* Keyed hash of (user, code, where): where is the client's network. */
static void totp_grace_hash(const struct factor_ctx *ctx, const char *code, size_t len,
                            const char *where, unsigned char out[AUTH_HASH_LEN])
{
	char id[32];
	const char *parts[3] = {id, code, where};
	size_t lens[3];

	snprintf(id, sizeof(id), "%lld", (long long)ctx->user->id);
	lens[0] = strlen(id);
	lens[1] = len;
	lens[2] = strlen(where);
	factor_keyed_hash(ctx->keys->grace, parts, lens, 3, out);
}

/* 1 when this code is in grace for the client's network. Entries made before grace followed a
 * network were keyed by the client's address: they are honoured until they run out (mfa_grace
 * at most), so that clients in grace at an upgrade do not look like guessers. */
static int totp_grace_check(struct factor_ctx *ctx, const char *code, size_t len,
                            const unsigned char grace[AUTH_HASH_LEN])
{
	const struct auth_module *m = ctx->store->module;
	unsigned char by_address[AUTH_HASH_LEN];
	int rc;

	if (!factor_grace_on(ctx))
		return 0;
	rc = m->grace_check(ctx->store, grace, ctx->now, &ctx->error);
	if (rc != 0 || strcmp(ctx->ip, ctx->net) == 0)
		return rc;
	totp_grace_hash(ctx, code, len, ctx->ip, by_address);
	return m->grace_check(ctx->store, by_address, ctx->now, &ctx->error);
}

/* 1 when the seed was found and opened. */
static int totp_load_seed(struct factor_ctx *ctx, unsigned char **seed_r, size_t *len_r)
{
	unsigned char *blob;
	size_t blob_len;
	int rc;

	rc = ctx->store->module->factor_get(ctx->store, ctx->user->id, FACTOR_KIND_TOTP, false,
	                                    &blob, &blob_len, &ctx->error);
	if (rc <= 0)
		return rc;
	rc = totp_seed_open(ctx->keys, blob, blob_len, seed_r, len_r);
	free(blob);
	if (rc == 0)
		ctx->error = "TOTP seed does not open with the server key";
	return rc == 1 ? 1 : -1;
}

static enum factor_result totp_accept(struct factor_ctx *ctx, int64_t step,
                                      const unsigned char grace[AUTH_HASH_LEN])
{
	const struct auth_module *m = ctx->store->module;
	int rc = m->replay_check_and_set(ctx->store, ctx->user->id, step, &ctx->error);

	if (rc < 0)
		return FACTOR_TEMPFAIL;
	if (rc == 0) {
		ctx->reason = "replay";
		ctx->genuine = true;
		return FACTOR_FAIL;
	}
	if (factor_grace_on(ctx) &&
	    m->grace_put(ctx->store, ctx->user->id, grace, ctx->now,
	                 ctx->now + (time_t)ctx->cfg->mfa_grace, &ctx->error) < 0)
		return FACTOR_TEMPFAIL;
	ctx->factor = "totp";
	return FACTOR_OK;
}

static enum factor_result totp_verify(struct factor_ctx *ctx, const char *code, size_t len)
{
	unsigned char grace[AUTH_HASH_LEN], *seed = NULL;
	size_t seed_len = 0;
	int64_t step;
	int rc;

	if (len != ctx->cfg->totp_digits || !totp_code_shape(code, len)) {
		ctx->reason = "bad-code";
		return FACTOR_FAIL;
	}
	totp_grace_hash(ctx, code, len, ctx->net, grace);
	rc = totp_grace_check(ctx, code, len, grace);
	if (rc != 0) {
		ctx->factor = "grace";
		return rc < 0 ? FACTOR_TEMPFAIL : FACTOR_OK;
	}
	rc = totp_load_seed(ctx, &seed, &seed_len);
	if (rc < 0)
		return FACTOR_TEMPFAIL;
	if (rc == 0) {
		ctx->reason = "no-totp";
		return FACTOR_FAIL;
	}
	rc = totp_check(seed, seed_len, code, len, ctx->now, ctx->cfg->totp_period,
	                ctx->cfg->totp_window, &step);
	xfree_secret(seed, seed_len);
	if (rc == 0) {
		ctx->reason = "bad-code";
		return FACTOR_FAIL;
	}
	return totp_accept(ctx, step, grace);
}

/* The last totp_digits characters, when they are all digits. */
static size_t totp_tail(const struct config *cfg, const char *secret, size_t len)
{
	size_t digits = cfg->totp_digits;

	if (len < digits)
		return 0;
	for (size_t i = len - digits; i < len; i++)
		if (secret[i] < '0' || secret[i] > '9')
			return 0;
	return digits;
}

static int totp_enrolled(struct factor_ctx *ctx)
{
	unsigned char *blob = NULL;
	size_t len;
	int rc = ctx->store->module->factor_get(ctx->store, ctx->user->id, FACTOR_KIND_TOTP, false,
	                                        &blob, &len, &ctx->error);

	free(blob);
	return rc;
}

const struct auth_factor factor_totp = {
    .name = "totp",
    .tail = totp_tail,
    .enrolled = totp_enrolled,
    .verify = totp_verify,
};
