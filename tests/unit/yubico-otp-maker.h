/*
 * Makes Yubico OTPs for the tests, written from Yubico's OTP specification and independent of
 * both twofold and libyubikey: the 16-byte token (private id, session counter, timestamp, use
 * counter, random, CRC-16), AES-128-ECB from OpenSSL's libcrypto, modhex by hand.
 */
#ifndef TWOFOLD_TEST_YUBICO_OTP_MAKER_H
#define TWOFOLD_TEST_YUBICO_OTP_MAKER_H

#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

struct otp_maker {
	uint8_t aes_key[16];
	uint8_t private_id[6];
	char public_id[13]; /* modhex */
};

struct otp_fields {
	uint16_t session; /* 15 bits; bit 15 would mean "caps lock was on" */
	uint8_t use;
	uint32_t timestamp; /* 24 bits */
	uint16_t random;
	int crc_delta; /* added to the CRC field: non-zero makes a bad CRC */
};

/* ISO 13239 CRC-16 as the spec gives it: init 0xffff, reflected polynomial 0x8408. */
static uint16_t otp_crc16(const uint8_t *buf, size_t len)
{
	uint16_t crc = 0xffff;

	for (size_t i = 0; i < len; i++) {
		crc ^= buf[i];
		for (int b = 0; b < 8; b++)
			crc =
			    (crc & 1) != 0 ? (uint16_t)((crc >> 1) ^ 0x8408) : (uint16_t)(crc >> 1);
	}
	return crc;
}

static void otp_aes_ecb(const uint8_t key[16], uint8_t block[16])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t out[32];
	int n = 0, m = 0;

	if (c == NULL || EVP_EncryptInit_ex(c, EVP_aes_128_ecb(), NULL, key, NULL) != 1 ||
	    EVP_CIPHER_CTX_set_padding(c, 0) != 1 ||
	    EVP_EncryptUpdate(c, out, &n, block, 16) != 1 ||
	    EVP_EncryptFinal_ex(c, out + n, &m) != 1 || n + m != 16)
		abort();
	memcpy(block, out, 16);
	EVP_CIPHER_CTX_free(c);
}

static void otp_modhex(const uint8_t *in, size_t len, char *out)
{
	static const char map[] = "cbdefghijklnrtuv";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = map[in[i] >> 4];
		out[2 * i + 1] = map[in[i] & 15];
	}
	out[2 * len] = '\0';
}

/* The 44-character OTP (public id, then the encrypted token) into out[45]. */
static void otp_make(const struct otp_maker *k, const struct otp_fields *f, char out[45])
{
	uint8_t t[16];
	uint16_t crc;

	memcpy(t, k->private_id, 6);
	t[6] = (uint8_t)(f->session & 0xff); /* all fields little-endian */
	t[7] = (uint8_t)(f->session >> 8);
	t[8] = (uint8_t)(f->timestamp & 0xff);
	t[9] = (uint8_t)((f->timestamp >> 8) & 0xff);
	t[10] = (uint8_t)((f->timestamp >> 16) & 0xff);
	t[11] = f->use;
	t[12] = (uint8_t)(f->random & 0xff);
	t[13] = (uint8_t)(f->random >> 8);
	crc = (uint16_t)(~otp_crc16(t, 14) + f->crc_delta);
	t[14] = (uint8_t)(crc & 0xff);
	t[15] = (uint8_t)(crc >> 8);
	otp_aes_ecb(k->aes_key, t);
	memcpy(out, k->public_id, 12);
	otp_modhex(t, 16, out + 12);
}

static void otp_hex(const uint8_t *in, size_t len, char *out)
{
	static const char map[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = map[in[i] >> 4];
		out[2 * i + 1] = map[in[i] & 15];
	}
	out[2 * len] = '\0';
}

#endif
