/* auth/password.c: Argon2id verify agrees with libsodium for every string shape, and the kept
 * hashing area (libargon2 builds) is really used. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/password.h"
#include "common/xalloc.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define PW "correct horse"

/* Made by libsodium 1.0.18 crypto_pwhash_str / crypto_pwhash_argon2i_str, 64 KiB, t=3. */
static const char kat_id[] = "$argon2id$v=19$m=64,t=3,p=1$ywpI2tEsv3mzDDEZJPaPeA$"
                             "BVWvHQLLjivqODJn1Tpeyk/dO4NPR7AYYBn0wxsn6Qc";
static const char kat_i[] = "$argon2i$v=19$m=64,t=3,p=1$I2B/UMQz1Z7Dn0+2Jd02KA$"
                            "O+GiWCuzOSqKEb9fc1FU7bB56iZvxXIQL+VvZsjMSPc";

/* libsodium declares the string as char[crypto_pwhash_STRBYTES] (it reads only up to the NUL):
 * give it a buffer of at least that size, so a fortified build sees no over-read. */
static int sodium_says(const char *hash, const char *pw)
{
	size_t len = strlen(hash);
	char *str = xcalloc(len + 1 > crypto_pwhash_STRBYTES ? len + 1 : crypto_pwhash_STRBYTES, 1);
	int r;

	memcpy(str, hash, len);
	r = crypto_pwhash_str_verify(str, pw, strlen(pw)) == 0 ? 1 : 0;
	free(str);
	return r;
}

static void check_agrees(const char *hash, const char *pw)
{
	int expect = sodium_says(hash, pw);

	if (password_verify(hash, pw, strlen(pw)) != expect)
		fail_msg("password_verify disagrees with libsodium (%d) on '%s'", expect, hash);
}

static void test_known_answers(void **state)
{
	(void)state;
	assert_int_equal(password_verify(kat_id, PW, strlen(PW)), 1);
	assert_int_equal(password_verify(kat_id, PW "!", strlen(PW) + 1), 0);
	assert_int_equal(password_verify(kat_id, PW, strlen(PW) - 1), 0);
	assert_int_equal(password_verify(kat_id, "", 0), 0);
	assert_int_equal(password_verify(kat_i, PW, strlen(PW)), 1);
	assert_int_equal(password_verify(kat_i, "correct hors", 12), 0);
}

static void test_fresh_hashes(void **state)
{
	static const struct password_params params[] = {{1, 8192}, {2, 65536}, {3, 1 << 20}};
	char pw[] = "tr0ub4dor&3";

	(void)state;
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		char *hash = password_hash(pw, strlen(pw), &params[i]);

		assert_non_null(hash);
		assert_int_equal(password_verify(hash, pw, strlen(pw)), 1);
		for (size_t k = 0; k < strlen(pw); k++) {
			pw[k] ^= 1;
			assert_int_equal(password_verify(hash, pw, strlen(pw)), 0);
			pw[k] ^= 1;
		}
		/* the same again: the kept area is reused and must not carry anything over */
		assert_int_equal(password_verify(hash, pw, strlen(pw)), 1);
		xfree_secret_str(&hash);
	}
}

/* Every change of one character of the string: the verdict is libsodium's. */
static void test_tampered_strings_agree(void **state)
{
	char s[sizeof(kat_id)];
	static const char repl[] = "0+/$,=aAzZ9";

	(void)state;
	for (size_t i = 0; i < sizeof(kat_id) - 1; i++)
		for (size_t r = 0; r < sizeof(repl) - 1; r++) {
			memcpy(s, kat_id, sizeof(s));
			if (s[i] == repl[r])
				continue;
			s[i] = repl[r];
			check_agrees(s, PW);
		}
}

static void test_other_shapes_agree(void **state)
{
	static const char *const shapes[] = {
	    "$argon2id$v=19$m=64,t=3,p=1$ywpI2tEsv3mzDDEZJPaPeA$"
	    "BVWvHQLLjivqODJn1Tpeyk/dO4NPR7AYYBn0wxsn6Qd", /* spare bits set */
	    "$argon2id$v=19$m=064,t=3,p=1$ywpI2tEsv3mzDDEZJPaPeA$"
	    "BVWvHQLLjivqODJn1Tpeyk/dO4NPR7AYYBn0wxsn6Qc",
	    "$argon2id$v=19$m=64,t=3,p=2$ywpI2tEsv3mzDDEZJPaPeA$"
	    "BVWvHQLLjivqODJn1Tpeyk/dO4NPR7AYYBn0wxsn6Qc",
	    "$argon2id$v=19$m=64,t=0,p=1$ywpI2tEsv3mzDDEZJPaPeA$"
	    "BVWvHQLLjivqODJn1Tpeyk/dO4NPR7AYYBn0wxsn6Qc",
	    "$argon2id$v=19$m=64,t=3,p=1$ywpI2tEsv3mzDDEZJPaPeA$"
	    "BVWvHQLLjivqODJn1Tpeyk/dO4NPR7AYYBn0wxsn6Q",
	    "$argon2id$v=19$m=64,t=3,p=1$ywpI2tEsv3mzDDEZJPaPeA$"
	    "BVWvHQLLjivqODJn1Tpeyk/dO4NPR7AYYBn0wxsn6Qc$",
	    "$argon2id$v=19$m=64,t=3,p=1$ywpI2tEsv3mzDDEZJPaPe$"
	    "BVWvHQLLjivqODJn1Tpeyk/dO4NPR7AYYBn0wxsn6Qc",
	    "$argon2id$v=16$m=64,t=3,p=1$ywpI2tEsv3mzDDEZJPaPeA$"
	    "BVWvHQLLjivqODJn1Tpeyk/dO4NPR7AYYBn0wxsn6Qc",
	    "$argon2id$v=19$m=99999999999,t=3,p=1$ywpI2tEsv3mzDDEZJPaPeA$"
	    "BVWvHQLLjivqODJn1Tpeyk/dO4NPR7AYYBn0wxsn6Qc",
	    "$argon2id$v=19$m=64,t=3,p=1",
	    "",
	    "$",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		check_agrees(shapes[i], PW);
}

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* 16 MiB is 4096 pages: libsodium maps and faults them in on every verify; the kept area is
 * faulted in once. */
static void test_area_kept(void **state)
{
	struct password_params p = {1, 16u << 20};
	char *hash = password_hash(PW, strlen(PW), &p);
	long before;

	(void)state;
	assert_non_null(hash);
	assert_int_equal(password_verify(hash, PW, strlen(PW)), 1);
	before = minor_faults();
	assert_int_equal(password_verify(hash, PW, strlen(PW)), 1);
	assert_int_equal(password_verify(hash, "x", 1), 0);
#ifdef TWOFOLD_HAVE_LIBARGON2
	assert_true(minor_faults() - before < 256);
#else
	assert_true(minor_faults() - before >= 4096);
#endif
	xfree_secret_str(&hash);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_answers),
	    cmocka_unit_test(test_fresh_hashes),
	    cmocka_unit_test(test_tampered_strings_agree),
	    cmocka_unit_test(test_other_shapes_agree),
	    cmocka_unit_test(test_area_kept),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
