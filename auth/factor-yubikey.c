/*
 * YubiKey OTP (Yubico OTP) as a second factor, validated here without any cloud service: an OTP
 * is the key's public id (12 modhex characters) and one AES-128 block (32 more) that holds the
 * private id, the session and use counters, a timestamp, random bytes and a CRC-16. libyubikey
 * decrypts it with the AES key enrolled for that public id; the private id must match and the
 * (session, use) counter pair must be above the last one accepted, which the store checks and
 * sets in one statement, so a code works once even between auth processes. Device grace works
 * as for TOTP: the same code again, from the same IP, for mfa_grace seconds.
 */
#include "auth/factor.h"
#include "common/config.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <endian.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yubikey.h>

bool yubikey_modhex_shape(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\0' ||
		    strchr(YUBIKEY_MODHEX_MAP, tolower((unsigned char)s[i])) == NULL)
			return false;
	return true;
}

bool yubikey_otp_shape(const char *s, size_t len)
{
	return len == YUBIKEY_OTP_LEN && yubikey_modhex_shape(s, len);
}

int yubikey_otp_parse(const char *s, size_t len, struct yubikey_otp *otp_r)
{
	memset(otp_r, 0, sizeof(*otp_r));
	if (!yubikey_otp_shape(s, len))
		return 0;
	for (size_t i = 0; i < YUBIKEY_PUBLIC_ID_LEN; i++)
		otp_r->public_id[i] = (char)tolower((unsigned char)s[i]);
	for (size_t i = YUBIKEY_PUBLIC_ID_LEN; i < len; i++)
		otp_r->token[i - YUBIKEY_PUBLIC_ID_LEN] = (char)tolower((unsigned char)s[i]);
	return 1;
}

int yubikey_otp_decrypt(const struct yubikey_otp *otp, const unsigned char *secret,
                        uint32_t *counter_r)
{
	yubikey_token_st tok;
	int ok;

	*counter_r = 0;
	/* yubikey_parse decodes the modhex text (NUL-terminated, 32 characters) itself */
	yubikey_parse((const uint8_t *)otp->token, secret, &tok);
	ok = yubikey_crc_ok_p((const uint8_t *)&tok) &&
	     sodium_memcmp(tok.uid, secret + YUBIKEY_AES_KEY_LEN, YUBIKEY_PRIVATE_ID_LEN) == 0;
	if (ok)
		*counter_r = (uint32_t)yubikey_counter(le16toh(tok.ctr)) << 8 | tok.use;
	sodium_memzero(&tok, sizeof(tok));
	return ok ? 1 : 0;
}

/* 1 when the code decrypts with the key's secret, 0 when not, -1 when the secret does not open
 * with the server key (ctx->error). */
static int yubikey_check(struct factor_ctx *ctx, const struct auth_yubikey *yk,
                         const struct yubikey_otp *otp, uint32_t *counter_r)
{
	unsigned char *secret;
	size_t len;
	int rc;

	if (totp_seed_open(ctx->keys, yk->sealed, yk->sealed_len, &secret, &len) != 1 ||
	    len != YUBIKEY_SECRET_LEN) {
		if (secret != NULL)
			xfree_secret(secret, len);
		ctx->error = "YubiKey secret does not open with the server key";
		return -1;
	}
	rc = yubikey_otp_decrypt(otp, secret, counter_r);
	xfree_secret(secret, len);
	return rc;
}

static enum factor_result yubikey_accept(struct factor_ctx *ctx, const struct auth_yubikey *yk,
                                         uint32_t counter, const unsigned char *grace)
{
	const struct auth_module *m = ctx->store->module;
	int rc = m->yubikey_use(ctx->store, yk->id, counter, ctx->now, &ctx->error);

	if (rc < 0)
		return FACTOR_TEMPFAIL;
	if (rc == 0) {
		ctx->reason = "replay";
		ctx->genuine = true; /* the key made it: an older code, or one used before */
		return FACTOR_FAIL;
	}
	if (factor_grace_on(ctx) &&
	    m->grace_put(ctx->store, ctx->user->id, grace, ctx->now,
	                 ctx->now + (time_t)ctx->cfg->mfa_grace, &ctx->error) < 0)
		return FACTOR_TEMPFAIL;
	ctx->factor = "yubikey";
	return FACTOR_OK;
}

static enum factor_result yubikey_verify_otp(struct factor_ctx *ctx, const struct yubikey_otp *otp,
                                             const unsigned char *grace)
{
	struct auth_yubikey yk;
	enum factor_result res;
	uint32_t counter;
	int rc;

	rc = ctx->store->module->yubikey_find(ctx->store, ctx->user->id, otp->public_id, &yk,
	                                      &ctx->error);
	if (rc < 0)
		return FACTOR_TEMPFAIL;
	if (rc == 0) {
		ctx->reason = "unknown-yubikey";
		return FACTOR_FAIL;
	}
	rc = yubikey_check(ctx, &yk, otp, &counter);
	if (rc > 0) {
		res = yubikey_accept(ctx, &yk, counter, grace);
	} else {
		ctx->reason = rc == 0 ? "bad-code" : NULL;
		res = rc == 0 ? FACTOR_FAIL : FACTOR_TEMPFAIL;
	}
	auth_yubikey_clear(&yk);
	return res;
}

static enum factor_result yubikey_verify(struct factor_ctx *ctx, const char *code, size_t len)
{
	unsigned char grace[AUTH_HASH_LEN];
	char folded[YUBIKEY_OTP_LEN + 1];
	struct yubikey_otp otp;
	int rc;

	if (yubikey_otp_parse(code, len, &otp) == 0) {
		ctx->reason = "bad-code";
		return FACTOR_FAIL;
	}
	/* folded: a code typed with caps lock on is the same code */
	snprintf(folded, sizeof(folded), "%s%s", otp.public_id, otp.token);
	factor_grace_hash(ctx, folded, YUBIKEY_OTP_LEN, grace);
	if (factor_grace_on(ctx)) {
		rc = ctx->store->module->grace_check(ctx->store, grace, ctx->now, &ctx->error);
		if (rc != 0) {
			ctx->factor = "grace";
			return rc < 0 ? FACTOR_TEMPFAIL : FACTOR_OK;
		}
	}
	return yubikey_verify_otp(ctx, &otp, grace);
}

/* The last 44 characters, when they are all modhex. */
static size_t yubikey_tail(const struct config *cfg, const char *secret, size_t len)
{
	(void)cfg;
	if (len < YUBIKEY_OTP_LEN ||
	    !yubikey_otp_shape(secret + len - YUBIKEY_OTP_LEN, YUBIKEY_OTP_LEN))
		return 0;
	return YUBIKEY_OTP_LEN;
}

static int yubikey_enrolled(struct factor_ctx *ctx)
{
	unsigned count = 0;

	if (ctx->store->module->yubikey_count(ctx->store, ctx->user->id, &count, &ctx->error) < 0)
		return -1;
	return count > 0;
}

const struct auth_factor factor_yubikey = {
    .name = "yubikey",
    .tail = yubikey_tail,
    .enrolled = yubikey_enrolled,
    .verify = yubikey_verify,
};
