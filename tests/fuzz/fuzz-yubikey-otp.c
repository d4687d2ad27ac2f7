/*
 * The YubiKey OTP path of a login: the last 44 characters of a password are parsed as an OTP
 * and the token decrypted with an enrolled key's secret; and the admin's three values (AES key,
 * private id, public id) as `twofold yubikey add` takes them. Only 44 modhex characters parse,
 * into the folded input; a decrypted counter pair never exceeds 15 + 8 bits.
 */
#include "auth/admin.h"
#include "auth/factor.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char fuzz_secret[YUBIKEY_SECRET_LEN] = {
    0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15,
    0x88, 0x09, 0xcf, 0x4f, 0x3c, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f,
};

static void fuzz_otp(const char *s, size_t len)
{
	bool shape = yubikey_otp_shape(s, len);
	struct yubikey_otp otp;
	uint32_t counter;

	if (yubikey_otp_parse(s, len, &otp) != (shape ? 1 : 0))
		abort();
	if (!shape)
		return;
	if (strlen(otp.public_id) != YUBIKEY_PUBLIC_ID_LEN ||
	    strlen(otp.token) != YUBIKEY_OTP_LEN - YUBIKEY_PUBLIC_ID_LEN)
		abort();
	for (size_t i = 0; i < len; i++) {
		char c = i < YUBIKEY_PUBLIC_ID_LEN ? otp.public_id[i]
		                                   : otp.token[i - YUBIKEY_PUBLIC_ID_LEN];

		if (c != tolower((unsigned char)s[i]))
			abort();
	}
	if (yubikey_otp_decrypt(&otp, fuzz_secret, &counter) == 1 && counter >= 1u << 23)
		abort();
}

/* The input split at NUL bytes into the three admin values. */
static void fuzz_admin_values(const char *s, size_t len)
{
	const char *parts[3] = {NULL, NULL, NULL};
	const char *error = NULL;
	size_t n = 0;

	for (size_t i = 0; i < len && n < 3; n++) {
		parts[n] = s + i;
		i += strlen(s + i) + 1;
	}
	if (admin_yubikey_values_valid(parts[0], parts[1], parts[2], &error)) {
		if (strlen(parts[0]) != 32 || strlen(parts[1]) != 12 || strlen(parts[2]) != 12)
			abort();
	} else if (error == NULL) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_otp(s, size);
	if (size >= YUBIKEY_OTP_LEN)
		fuzz_otp(s + size - YUBIKEY_OTP_LEN, YUBIKEY_OTP_LEN);
	fuzz_admin_values(s, size);
	free(s);
	return 0;
}
