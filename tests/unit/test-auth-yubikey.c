/* YubiKey OTP: parsing, decryption, the counter rule, the login split, enrolment. Codes come
 * from yubico-otp-maker.h (the spec, OpenSSL's AES), never from twofold or libyubikey. */
#include "test-auth-env.h"
#include "auth/factor.h"
#include "auth/policy-private.h"
#include "yubico-otp-maker.h"

#include <ctype.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/wait.h>

#define TEST_IP "192.0.2.1"

/* A key with random secrets, enrolled for name through the admin function as given values. */
static struct otp_maker key_enrol(struct env *e, const char *name)
{
	struct otp_maker k;
	char aes[33], priv[13];
	uint8_t pub[6];
	const char *error = NULL;

	randombytes_buf(k.aes_key, sizeof(k.aes_key));
	randombytes_buf(k.private_id, sizeof(k.private_id));
	randombytes_buf(pub, sizeof(pub));
	otp_modhex(pub, sizeof(pub), k.public_id);
	otp_hex(k.aes_key, 16, aes);
	otp_hex(k.private_id, 6, priv);
	if (admin_yubikey_add(e->p, name, aes, priv, k.public_id, &error) < 0)
		fail_msg("admin_yubikey_add: %s", error);
	return k;
}

static char *pw_otp(const struct otp_maker *k, uint16_t session, uint8_t use)
{
	struct otp_fields f = {.session = session,
	                       .use = use,
	                       .timestamp = 0x123456,
	                       .random = (uint16_t)randombytes_random()};
	char otp[45];

	otp_make(k, &f, otp);
	return xasprintf("%s%s", TEST_PASSWORD, otp);
}

struct last_log {
	char reason[64], factor[32];
	bool stolen;
	bool seen;
};

static void last_log_cb(const struct admin_log_entry *entry, void *ctx)
{
	struct last_log *l = ctx;

	if (l->seen)
		return;
	l->seen = true;
	l->stolen = entry->stolen_password;
	snprintf(l->reason, sizeof(l->reason), "%s", entry->reason);
	snprintf(l->factor, sizeof(l->factor), "%s", entry->factor);
}

static struct last_log last_log(struct env *e, const char *name)
{
	struct last_log l = {0};
	const char *error;

	assert_int_equal(admin_log(e->p, name, 1, last_log_cb, &l, &error), 0);
	assert_true(l.seen);
	return l;
}

/* Logs in with secret and checks the result and (on failure) the reason in the audit log. */
static void login_expect(struct env *e, const char *name, const char *secret, time_t now,
                         enum auth_result want, const char *reason)
{
	struct auth_reply r = env_login(e, name, secret, now);

	assert_int_equal(r.result, want);
	if (want == AUTH_OK)
		assert_string_equal(r.factor, "yubikey");
	if (reason != NULL)
		assert_string_equal(last_log(e, name).reason, reason);
}

/* ---- parsing and decryption ---- */

static void test_otp_shape_and_parse(void **state)
{
	const char *good = "vvccccbbbbddeefghijklnrtuvcbdefghijklnrtuvcb";
	struct yubikey_otp otp;
	char buf[64];

	(void)state;
	assert_int_equal(strlen(good), 44);
	assert_int_equal(yubikey_otp_parse(good, 44, &otp), 1);
	assert_string_equal(otp.public_id, "vvccccbbbbdd");
	assert_string_equal(otp.token, good + 12);
	/* caps lock: folded to the same code */
	for (size_t i = 0; i < 44; i++)
		buf[i] = (char)toupper((unsigned char)good[i]);
	assert_int_equal(yubikey_otp_parse(buf, 44, &otp), 1);
	assert_string_equal(otp.public_id, "vvccccbbbbdd");
	assert_string_equal(otp.token, good + 12);
	/* one short, one long, one non-modhex letter, a digit, a NUL */
	assert_int_equal(yubikey_otp_parse(good, 43, &otp), 0);
	assert_false(yubikey_otp_shape(good, 45));
	memcpy(buf, good, 45);
	buf[20] = 'a';
	assert_int_equal(yubikey_otp_parse(buf, 44, &otp), 0);
	buf[20] = '1';
	assert_int_equal(yubikey_otp_parse(buf, 44, &otp), 0);
	buf[20] = '\0';
	assert_int_equal(yubikey_otp_parse(buf, 44, &otp), 0);
}

static void secret_of(const struct otp_maker *k, unsigned char out[YUBIKEY_SECRET_LEN])
{
	memcpy(out, k->aes_key, 16);
	memcpy(out + 16, k->private_id, 6);
}

static void test_decrypt_counters_crc_private_id(void **state)
{
	struct otp_maker k = {.public_id = "vvcbdefghijk"}, other;
	struct otp_fields f = {.session = 0x1234, .use = 0x56, .timestamp = 0xabcdef, .random = 7};
	unsigned char secret[YUBIKEY_SECRET_LEN];
	struct yubikey_otp otp;
	char code[45];
	uint32_t counter;

	(void)state;
	randombytes_buf(k.aes_key, 16);
	randombytes_buf(k.private_id, 6);
	secret_of(&k, secret);
	otp_make(&k, &f, code);
	assert_int_equal(yubikey_otp_parse(code, 44, &otp), 1);
	assert_int_equal(yubikey_otp_decrypt(&otp, secret, &counter), 1);
	assert_int_equal(counter, 0x123456);
	/* the caps-lock bit of the session counter is not part of the counter */
	f.session = 0x8000 | 0x1234;
	otp_make(&k, &f, code);
	assert_int_equal(yubikey_otp_parse(code, 44, &otp), 1);
	assert_int_equal(yubikey_otp_decrypt(&otp, secret, &counter), 1);
	assert_int_equal(counter, 0x123456);
	/* a bad CRC */
	f.session = 0x1234;
	f.crc_delta = 1;
	otp_make(&k, &f, code);
	assert_int_equal(yubikey_otp_parse(code, 44, &otp), 1);
	assert_int_equal(yubikey_otp_decrypt(&otp, secret, &counter), 0);
	/* the right AES key with another private id, and another AES key */
	f.crc_delta = 0;
	other = k;
	other.private_id[5] ^= 1;
	otp_make(&other, &f, code);
	assert_int_equal(yubikey_otp_parse(code, 44, &otp), 1);
	assert_int_equal(yubikey_otp_decrypt(&otp, secret, &counter), 0);
	other = k;
	other.aes_key[0] ^= 0x80;
	otp_make(&other, &f, code);
	assert_int_equal(yubikey_otp_parse(code, 44, &otp), 1);
	assert_int_equal(yubikey_otp_decrypt(&otp, secret, &counter), 0);
}

/* ---- logins ---- */

static void test_login_once_and_counter_rule(void **state)
{
	struct env *e = *state;
	struct otp_maker k;
	char *s1, *s2, *old, *next_session, *same;

	env_add_user(e, "alice");
	k = key_enrol(e, "alice");
	old = pw_otp(&k, 3, 1);
	s1 = pw_otp(&k, 3, 2);
	s2 = pw_otp(&k, 3, 3);
	same = pw_otp(&k, 3, 3); /* same counters, other random: still not newer */
	next_session = pw_otp(&k, 4, 0);
	login_expect(e, "alice", s1, TEST_T0, AUTH_OK, "");
	/* the same code again: the user's own client re-sending it (no alarm) */
	login_expect(e, "alice", s1, TEST_T0 + 1, AUTH_FAIL, "stale-code");
	assert_false(last_log(e, "alice").stolen);
	/* a code the key made before the last one accepted: genuine, but too old */
	login_expect(e, "alice", old, TEST_T0 + 2, AUTH_FAIL, "replay");
	assert_false(last_log(e, "alice").stolen);
	login_expect(e, "alice", s2, TEST_T0 + 3, AUTH_OK, "");
	login_expect(e, "alice", same, TEST_T0 + 4, AUTH_FAIL, "replay");
	/* a new session starts the use counter again from 0: still newer */
	login_expect(e, "alice", next_session, TEST_T0 + 5, AUTH_OK, "");
	free(s1);
	free(s2);
	free(old);
	free(same);
	free(next_session);
}

static void test_login_refusals(void **state)
{
	struct env *e = *state;
	struct otp_fields f = {.session = 1, .use = 1, .timestamp = 1};
	struct otp_maker k, bobs, stranger;
	char otp[45], *s;
	size_t len;

	env_add_user(e, "alice");
	env_add_user(e, "bob");
	k = key_enrol(e, "alice");
	bobs = key_enrol(e, "bob");
	stranger = k;
	randombytes_buf(stranger.aes_key, 16);
	/* bad CRC */
	f.crc_delta = 3;
	otp_make(&k, &f, otp);
	s = xasprintf("%s%s", TEST_PASSWORD, otp);
	login_expect(e, "alice", s, TEST_T0, AUTH_FAIL, "bad-code");
	free(s);
	f.crc_delta = 0;
	/* another user's key; the same public id with another AES key */
	s = pw_otp(&bobs, 1, 1);
	login_expect(e, "alice", s, TEST_T0 + 1, AUTH_FAIL, "unknown-yubikey");
	free(s);
	s = pw_otp(&stranger, 1, 1);
	login_expect(e, "alice", s, TEST_T0 + 2, AUTH_FAIL, "bad-code");
	free(s);
	/* truncated: one character short is no OTP at all */
	s = pw_otp(&k, 1, 1);
	len = strlen(s);
	s[len - 1] = '\0';
	login_expect(e, "alice", s, TEST_T0 + 3, AUTH_FAIL, NULL);
	assert_string_not_equal(last_log(e, "alice").reason, "");
	free(s);
	/* the password is checked first; a wrong one uses nothing up */
	otp_make(&k, &f, otp);
	s = xasprintf("not the password%s", otp);
	login_expect(e, "alice", s, TEST_T0 + 4, AUTH_FAIL, "bad-password");
	assert_false(last_log(e, "alice").stolen);
	free(s);
	s = xasprintf("%s%s", TEST_PASSWORD, otp);
	login_expect(e, "alice", s, TEST_T0 + 5, AUTH_OK, "");
	free(s);
}

static void test_caps_lock_code(void **state)
{
	struct env *e = *state;
	struct otp_maker k;
	char *s, *upper;

	env_add_user(e, "carl");
	k = key_enrol(e, "carl");
	s = pw_otp(&k, 1, 0);
	upper = xstrdup(s);
	for (size_t i = strlen(TEST_PASSWORD); upper[i] != '\0'; i++)
		upper[i] = (char)toupper((unsigned char)upper[i]);
	login_expect(e, "carl", upper, TEST_T0, AUTH_OK, "");
	/* and it is the same code: not again in lower case */
	login_expect(e, "carl", s, TEST_T0 + 1, AUTH_FAIL, "stale-code");
	free(s);
	free(upper);
}

/* The split looks for an OTP only for users with a YubiKey; TOTP keeps working beside it; a
 * YubiKey alone is a second factor. */
static void test_split_with_totp_and_alone(void **state)
{
	struct env *e = *state;
	struct otp_maker k;
	size_t len;
	char *seed, *s;

	env_add_user(e, "dora");
	env_add_user(e, "emil");
	k = key_enrol(e, "dora");
	/* no TOTP, a YubiKey: the password alone is not enough */
	login_expect(e, "dora", TEST_PASSWORD, TEST_T0, AUTH_FAIL, "missing-code");
	e->cfg->second_factor = SECOND_FACTOR_OPTIONAL;
	login_expect(e, "dora", TEST_PASSWORD, TEST_T0 + 1, AUTH_FAIL, "missing-code");
	e->cfg->second_factor = SECOND_FACTOR_REQUIRED;
	seed = env_enroll(e, "dora", &len);
	s = env_pwcode(e, seed, len, TEST_T0 + 2);
	assert_string_equal(env_login(e, "dora", s, TEST_T0 + 2).factor, "totp");
	free(s);
	s = pw_otp(&k, 1, 0);
	login_expect(e, "dora", s, TEST_T0 + 3, AUTH_OK, "");
	free(s);
	/* emil has TOTP and no YubiKey: his right password with dora's code is a code never
	 * valid for him, a stolen-password alarm */
	xfree_secret(seed, len);
	seed = env_enroll(e, "emil", &len);
	s = pw_otp(&k, 1, 1);
	assert_int_equal(env_login(e, "emil", s, TEST_T0 + 4).result, AUTH_FAIL);
	assert_string_equal(last_log(e, "emil").reason, "unknown-yubikey");
	assert_true(last_log(e, "emil").stolen);
	free(s);
	xfree_secret(seed, len);
}

static void test_grace_same_ip(void **state)
{
	struct env *e = *state;
	struct otp_maker k;
	struct auth_reply r;
	char *s;

	e->cfg->mfa_grace = 3600;
	env_add_user(e, "fay");
	k = key_enrol(e, "fay");
	s = pw_otp(&k, 1, 0);
	login_expect(e, "fay", s, TEST_T0, AUTH_OK, "");
	r = env_login(e, "fay", s, TEST_T0 + 60);
	assert_int_equal(r.result, AUTH_OK);
	assert_string_equal(r.factor, "grace");
	/* grace is per network (IPv4 /24): not from another one */
	r = env_login_ip(e, "fay", s, AUTH_PROTO_POP3, "198.51.100.9", TEST_T0 + 61);
	assert_int_equal(r.result, AUTH_FAIL);
	assert_int_equal(env_login(e, "fay", s, TEST_T0 + 3601).result, AUTH_FAIL);
	free(s);
}

/* The counter is checked and set in one statement: two processes with the same code, one wins. */
static void test_two_process_race(void **state)
{
	struct env *e = *state;
	struct otp_maker k;
	int status[2];
	char *s;

	env_add_user(e, "gus");
	k = key_enrol(e, "gus");
	s = pw_otp(&k, 9, 9);
	env_race(e, 2, env_race_login, &(struct env_race_creds){"gus", s}, status);
	assert_int_equal((status[0] == 0) + (status[1] == 0), 1);
	assert_int_equal((status[0] == 1) + (status[1] == 1), 1);
	free(s);
}

static void test_busy_store_uses_nothing(void **state)
{
	struct env *e = *state;
	struct otp_maker k;
	sqlite3 *db;
	char *s;

	env_add_user(e, "hal");
	k = key_enrol(e, "hal");
	s = pw_otp(&k, 2, 0);
	assert_int_equal(sqlite3_open(e->cfg->auth_database, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE; UPDATE users SET enabled = enabled",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	assert_int_equal(env_login(e, "hal", s, TEST_T0).result, AUTH_TEMPFAIL);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	login_expect(e, "hal", s, TEST_T0 + 1, AUTH_OK, "");
	free(s);
}

/* ---- enrolment ---- */

struct yk_seen {
	unsigned n;
	char public_id[16];
};

static void yk_seen_cb(const struct admin_yubikey_info *info, void *ctx)
{
	struct yk_seen *seen = ctx;

	seen->n++;
	snprintf(seen->public_id, sizeof(seen->public_id), "%s", info->public_id);
}

static void user_yubikeys_cb(const struct admin_user_info *info, void *ctx)
{
	if (strcmp(info->name, "ida") == 0)
		*(unsigned *)ctx = info->yubikeys;
}

static void test_admin_generate_list_remove(void **state)
{
	struct env *e = *state;
	struct admin_yubikey_secrets v;
	struct otp_maker k;
	struct yk_seen seen = {0};
	const char *error;
	unsigned count = 99;
	char *s;

	env_add_user(e, "ida");
	assert_int_equal(admin_yubikey_generate(e->p, "ida", &v, &error), 0);
	assert_int_equal(strlen(v.aes_key), 32);
	assert_int_equal(strspn(v.aes_key, "0123456789abcdef"), 32);
	assert_int_equal(strspn(v.private_id, "0123456789abcdef"), 12);
	assert_int_equal(strlen(v.private_id), 12);
	assert_int_equal(strlen(v.public_id), 12);
	assert_int_equal(strncmp(v.public_id, "vv", 2), 0);
	assert_int_equal(strspn(v.public_id, "cbdefghijklnrtuv"), 12);
	/* the generated values are what the key will use */
	for (int i = 0; i < 16; i++)
		sscanf(v.aes_key + 2 * i, "%2hhx", &k.aes_key[i]);
	for (int i = 0; i < 6; i++)
		sscanf(v.private_id + 2 * i, "%2hhx", &k.private_id[i]);
	memcpy(k.public_id, v.public_id, 13);
	s = pw_otp(&k, 1, 0);
	login_expect(e, "ida", s, TEST_T0, AUTH_OK, "");
	free(s);
	assert_int_equal(admin_yubikey_list(e->p, "ida", yk_seen_cb, &seen, &error), 0);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.public_id, v.public_id);
	assert_int_equal(admin_user_list(e->p, user_yubikeys_cb, &count, &error), 0);
	assert_int_equal(count, 1);
	/* the same key twice */
	assert_int_equal(
	    admin_yubikey_add(e->p, "ida", v.aes_key, v.private_id, v.public_id, &error), -1);
	assert_non_null(strstr(error, "enrolled already"));
	/* remove (upper case accepted), then its codes are refused and removing again fails */
	for (char *c = v.public_id; *c != '\0'; c++)
		*c = (char)toupper((unsigned char)*c);
	assert_int_equal(admin_yubikey_remove(e->p, "ida", v.public_id, &error), 0);
	s = pw_otp(&k, 1, 1);
	assert_int_equal(env_login(e, "ida", s, TEST_T0 + 1).result, AUTH_FAIL);
	free(s);
	assert_int_equal(admin_yubikey_remove(e->p, "ida", v.public_id, &error), -1);
	assert_non_null(strstr(error, "no YubiKey"));
	assert_int_equal(admin_yubikey_remove(e->p, "ida", "notmodhex123", &error), -1);
	assert_int_equal(admin_yubikey_generate(e->p, "nobody", &v, &error), -1);
	assert_non_null(strstr(error, "unknown user"));
	sodium_memzero(&v, sizeof(v));
}

static void test_admin_bad_formats(void **state)
{
	static const struct {
		const char *aes, *priv, *pub, *error;
	} bad[] = {
	    {"00112233445566778899aabbccddeef", "0a0b0c0d0e0f", "vvcccccccccc", "AES key"},
	    {"00112233445566778899aabbccddeeffa", "0a0b0c0d0e0f", "vvcccccccccc", "AES key"},
	    {"00112233445566778899aabbccddeefg", "0a0b0c0d0e0f", "vvcccccccccc", "AES key"},
	    {"00112233445566778899aabbccddeeff", "0a0b0c0d0e0", "vvcccccccccc", "private id"},
	    {"00112233445566778899aabbccddeeff", "0a0b0c0d0e0z", "vvcccccccccc", "private id"},
	    {"00112233445566778899aabbccddeeff", "0a0b0c0d0e0f", "vvccccccccc", "public id"},
	    {"00112233445566778899aabbccddeeff", "0a0b0c0d0e0f", "vvccccccccca", "public id"},
	    {"00112233445566778899aabbccddeeff", "0a0b0c0d0e0f", "012345678901", "public id"},
	    {NULL, "0a0b0c0d0e0f", "vvcccccccccc", "AES key"},
	};
	struct env *e = *state;
	const char *error;

	env_add_user(e, "jo");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		error = NULL;
		assert_int_equal(
		    admin_yubikey_add(e->p, "jo", bad[i].aes, bad[i].priv, bad[i].pub, &error), -1);
		assert_non_null(strstr(error, bad[i].error));
		assert_false(
		    admin_yubikey_values_valid(bad[i].aes, bad[i].priv, bad[i].pub, &error));
	}
	/* upper-case hex and modhex are fine */
	assert_true(admin_yubikey_values_valid("00112233445566778899AABBCCDDEEFF", "0A0B0C0D0E0F",
	                                       "VVCCCCCCCCCC", &error));
	assert_int_equal(admin_yubikey_add(e->p, "jo", "00112233445566778899AABBCCDDEEFF",
	                                   "0A0B0C0D0E0F", "VVCCCCCCCCCC", &error),
	                 0);
}

static bool file_has(const char *path, const void *needle, size_t len)
{
	FILE *f = fopen(path, "rb");
	char *data;
	long size;
	bool found;

	if (f == NULL)
		return false;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	data = xmalloc((size_t)size + 1);
	assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	found = memmem(data, (size_t)size, needle, len) != NULL;
	free(data);
	return found;
}

/* The AES key and the private id are stored sealed: neither, in hex or binary, is in any file
 * of the store; the public id is (in clear, which shows that the search works). */
static void test_secrets_sealed_at_rest(void **state)
{
	struct env *e = *state;
	struct otp_maker k;
	char *wal, aes[33], priv[13];
	bool pub_found;

	env_add_user(e, "kim");
	k = key_enrol(e, "kim");
	otp_hex(k.aes_key, 16, aes);
	otp_hex(k.private_id, 6, priv);
	wal = xasprintf("%s-wal", e->cfg->auth_database);
	const char *files[] = {e->cfg->auth_database, wal};
	pub_found = false;
	for (size_t i = 0; i < 2; i++) {
		assert_false(file_has(files[i], k.aes_key, 16));
		assert_false(file_has(files[i], aes, 32));
		assert_false(file_has(files[i], k.private_id, 6));
		assert_false(file_has(files[i], priv, 12));
		pub_found = pub_found || file_has(files[i], k.public_id, 12);
	}
	assert_true(pub_found);
	free(wal);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_otp_shape_and_parse),
	    cmocka_unit_test(test_decrypt_counters_crc_private_id),
	    cmocka_unit_test_setup_teardown(test_login_once_and_counter_rule, env_setup,
	                                    env_teardown),
	    cmocka_unit_test_setup_teardown(test_login_refusals, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_caps_lock_code, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_split_with_totp_and_alone, env_setup,
	                                    env_teardown),
	    cmocka_unit_test_setup_teardown(test_grace_same_ip, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_two_process_race, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_busy_store_uses_nothing, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_admin_generate_list_remove, env_setup,
	                                    env_teardown),
	    cmocka_unit_test_setup_teardown(test_admin_bad_formats, env_setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_secrets_sealed_at_rest, env_setup, env_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
