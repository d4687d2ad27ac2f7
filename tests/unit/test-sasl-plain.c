/* SASL PLAIN decoding shared by IMAP AUTHENTICATE and POP3 AUTH */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "server/sasl-plain.h"

#include <sodium.h>
#include <string.h>

/* base64 of raw[0..len) */
static int decode_raw(const char *raw, size_t len, struct sasl_plain *p)
{
	char b64[256];

	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)raw, len,
	                  sodium_base64_VARIANT_ORIGINAL);
	return sasl_plain_decode(b64, strlen(b64), p);
}

#define RAW(s) s, sizeof(s) - 1

static void test_accepted(void **state)
{
	struct sasl_plain p;

	assert_int_equal(decode_raw(RAW("\0alice\0hunter2 123456"), &p), 1);
	assert_string_equal(p.authcid, "alice");
	assert_string_equal(p.password, "hunter2 123456");
	sasl_plain_free(&p);
	assert_null(p.bin);
	/* authzid equal to authcid is the same login */
	assert_int_equal(decode_raw(RAW("alice\0alice\0pw"), &p), 1);
	assert_string_equal(p.authcid, "alice");
	sasl_plain_free(&p);
}

static void test_refused(void **state)
{
	struct sasl_plain p;

	/* acting as someone else is not offered */
	assert_int_equal(decode_raw(RAW("bob\0alice\0pw"), &p), 0);
	sasl_plain_free(&p);
	assert_int_equal(decode_raw(RAW("\0\0pw"), &p), 0); /* empty authcid */
	sasl_plain_free(&p);
	assert_int_equal(decode_raw(RAW("\0alice"), &p), 0); /* no password part */
	sasl_plain_free(&p);
	assert_int_equal(decode_raw(RAW("\0alice\0pw\0extra"), &p), 0);
	sasl_plain_free(&p);
	assert_int_equal(sasl_plain_decode("not base64!", 11, &p), -1);
	sasl_plain_free(&p);
	assert_int_equal(sasl_plain_decode("AGFsaWNlAHB3=x", 14, &p), -1); /* trailing junk */
	sasl_plain_free(&p);
	assert_int_equal(sasl_plain_decode("", 0, &p), 0);
	sasl_plain_free(&p);
	/* bytes outside the alphabet, which libsodium's decoder alone takes as digits */
	assert_int_equal(sasl_plain_decode("AGFsaWNlAHB3\377\377k=", 16, &p), -1);
	sasl_plain_free(&p);
	assert_int_equal(sasl_plain_decode("AGFsaWNl\0HB3", 12, &p), -1);
	sasl_plain_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepted),
	    cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
