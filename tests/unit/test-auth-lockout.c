/* Lockouts judged by where failures come from, alarms, hints, roaming: the login policy with
 * a fake clock (req.now), simulated over days and a year. */
#include "test-auth-env.h"
#include "auth/factor.h"
#include "auth/password-test.h"
#include "auth/policy-private.h"

#include <sqlite3.h>
#include <sys/wait.h>

#define HOME_LAPTOP "198.51.100.10"
#define HOME_PHONE  "198.51.100.20"
#define STRANGER    "203.0.113.5"

struct user_seen {
	const char *name;
	struct admin_user_info info; /* name not kept */
	bool found;
};

static void user_seen_cb(const struct admin_user_info *info, void *ctx)
{
	struct user_seen *seen = ctx;

	if (strcmp(info->name, seen->name) == 0) {
		seen->info = *info;
		seen->info.name = NULL;
		seen->found = true;
	}
}

static struct admin_user_info info_of(struct env *e, const char *name)
{
	struct user_seen seen = {.name = name};
	const char *error;

	assert_int_equal(admin_user_list(e->p, user_seen_cb, &seen, &error), 0);
	assert_true(seen.found);
	return seen.info;
}

struct newest {
	char reason[64];
	bool stolen;
	unsigned n;
};

static void newest_cb(const struct admin_log_entry *entry, void *ctx)
{
	struct newest *n = ctx;

	if (n->n++ == 0) {
		snprintf(n->reason, sizeof(n->reason), "%s", entry->reason);
		n->stolen = entry->stolen_password;
	}
}

/* The reason of the newest audit entry of name. */
static struct newest newest_of(struct env *e, const char *name)
{
	struct newest n = {0};
	const char *error;

	assert_int_equal(admin_log(e->p, name, 1, newest_cb, &n, &error), 0);
	return n;
}

static struct auth_reply login_from(struct env *e, const char *user, const char *secret,
                                    const char *ip, time_t now)
{
	return env_login_ip(e, user, secret, AUTH_PROTO_IMAP, ip, now);
}

/* password + the code valid at `at`, logged in from ip at `at`. */
static struct auth_reply login_code(struct env *e, const char *user, const char *seed, size_t len,
                                    const char *ip, time_t at)
{
	char *s = env_pwcode(e, seed, len, at);
	struct auth_reply r = login_from(e, user, s, ip, at);

	free(s);
	return r;
}

/* password + a 6-digit code valid at none of the steps around at */
static char *pw_wrong_code(const struct env *e, const char *password, const char *seed, size_t len,
                           time_t at)
{
	char valid[3][16], wrong[16];
	unsigned n = (unsigned)(at / 7) % 1000000;

	for (int i = 0; i < 3; i++)
		env_code(e, seed, len, at + (i - 1) * 30, valid[i]);
	do {
		snprintf(wrong, sizeof(wrong), "%06u", n);
		n = (n + 1) % 1000000;
	} while (strcmp(wrong, valid[0]) == 0 || strcmp(wrong, valid[1]) == 0 ||
	         strcmp(wrong, valid[2]) == 0);
	return xasprintf("%s%s", password, wrong);
}

static void stranger_ip(unsigned i, char out[32])
{
	snprintf(out, 32, "10.%u.%u.%u", i / 62500 % 250, i / 250 % 250, i % 250 + 1);
}

static char *add_apppass(struct env *e, const char *name, const char *proto)
{
	const char *error;
	char *ap;
	int64_t id;

	assert_int_equal(admin_apppass_add(e->p, name, "device", proto, 0, &ap, &id, &error), 0);
	return ap;
}

/* A stranger spraying wrong passwords from 1,000 addresses locks the user out of unfamiliar
 * sources only: the laptop and the phone that logged in from home keep working, and an app
 * password works from anywhere. */
static void test_stranger_spray_cannot_lock_out_familiar_device(void **state)
{
	struct env *e = *state;
	time_t t = TEST_T0;
	struct admin_user_info info;
	char ip[32], guess[64], *seed, *ap;
	size_t len;

	env_add_user(e, "rita");
	seed = env_enroll(e, "rita", &len);
	ap = add_apppass(e, "rita", "imap");
	assert_int_equal(login_code(e, "rita", seed, len, HOME_LAPTOP, t).result, AUTH_OK);
	assert_int_equal(login_from(e, "rita", ap, HOME_PHONE, t).result, AUTH_OK);
	for (unsigned i = 0; i < 1000; i++) {
		stranger_ip(i, ip);
		snprintf(guess, sizeof(guess), "Guess-%u-123456", i);
		assert_int_equal(login_from(e, "rita", guess, ip, t + 1 + i).result, AUTH_FAIL);
	}
	t += 1001;
	info = info_of(e, "rita");
	assert_true(info.unfamiliar_locked_until > t);
	assert_int_equal(info.locked_until, 0);
	assert_int_equal(info.stolen_password_signs, 0);
	/* the right credential from a source rita never used is refused unchecked */
	assert_int_equal(login_code(e, "rita", seed, len, STRANGER, t + 30).result, AUTH_FAIL);
	assert_string_equal(newest_of(e, "rita").reason, "locked-unfamiliar");
	/* home: the laptop with a new code, the phone's app password */
	assert_int_equal(login_code(e, "rita", seed, len, HOME_LAPTOP, t + 60).result, AUTH_OK);
	assert_int_equal(login_from(e, "rita", ap, HOME_PHONE, t + 61).result, AUTH_OK);
	/* on the road: an app password is not guessable and passes this lockout */
	assert_int_equal(login_from(e, "rita", ap, "192.0.2.77", t + 62).result, AUTH_OK);
	/* the spray never raised the alarm and never counted toward the strict lockout */
	info = info_of(e, "rita");
	assert_int_equal(info.stolen_password_signs, 0);
	assert_int_equal(info.locked_until, 0);
	xfree_secret_str(&ap);
	xfree_secret(seed, len);
}

/* A lockout of unfamiliar sources falls on a name whether or not the user exists: the same
 * replies, the same Argon2 work, the same delays. */
static void test_unknown_name_locked_like_known(void **state)
{
	struct env *e = *state;
	char ip[32];

	env_add_user(e, "kate");
	for (unsigned i = 0; i < 14; i++) {
		unsigned long before = password_verify_count;
		struct auth_reply known, unknown;

		stranger_ip(i, ip);
		known = login_from(e, "kate", "wrong password123456", ip, TEST_T0 + i);
		stranger_ip(100 + i, ip);
		unknown = login_from(e, "nobody", "wrong password123456", ip, TEST_T0 + i);
		assert_int_equal(password_verify_count, before + 2);
		assert_memory_equal(&known, &unknown, sizeof(known));
		assert_int_equal(known.delay_ms, i < 3 ? 2000u << i : 15000);
	}
	assert_string_equal(newest_of(e, "kate").reason, "locked-unfamiliar");
	assert_string_equal(newest_of(e, "nobody").reason, "unknown-user");
}

/* One source failing for many names is locked for users it is unfamiliar to; a user who logs
 * in from there (a shared office address) is not hindered, nor is an app password. */
static void test_source_lock(void **state)
{
	struct env *e = *state;
	const char *office = "198.51.100.66";
	char name[32], *seed_s, *seed_t, *ap;
	size_t len_s, len_t;
	time_t t = TEST_T0;

	env_add_user(e, "sam");
	env_add_user(e, "tia");
	seed_s = env_enroll(e, "sam", &len_s);
	seed_t = env_enroll(e, "tia", &len_t);
	ap = add_apppass(e, "sam", "all");
	assert_int_equal(login_code(e, "tia", seed_t, len_t, office, t).result, AUTH_OK);
	for (unsigned i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "guess%u", i);
		assert_int_equal(
		    login_from(e, name, "wrong password123456", office, t + 1 + i).result,
		    AUTH_FAIL);
	}
	t += 30;
	assert_int_equal(login_code(e, "sam", seed_s, len_s, office, t).result, AUTH_FAIL);
	assert_string_equal(newest_of(e, "sam").reason, "locked-source");
	assert_int_equal(login_code(e, "tia", seed_t, len_t, office, t + 30).result, AUTH_OK);
	assert_int_equal(login_from(e, "sam", ap, office, t + 31).result, AUTH_OK);
	/* the app password made the office familiar to sam; the others' successes did not open
	 * the source for a stranger */
	assert_int_equal(login_code(e, "sam", seed_s, len_s, office, t + 60).result, AUTH_OK);
	assert_int_equal(login_from(e, "guess0", "wrong password123456", office, t + 61).delay_ms,
	                 15000);
	assert_string_equal(newest_of(e, "guess0").reason, "unknown-user");
	assert_int_equal(login_from(e, "guess0", TEST_PASSWORD, "192.0.2.9", t + 62).delay_ms,
	                 4000);
	xfree_secret_str(&ap);
	xfree_secret(seed_s, len_s);
	xfree_secret(seed_t, len_t);
}

#define NEW_PASSWORD "a new password 2024"

static struct auth_reply login_newpw_proto(struct env *e, const char *user, const char *seed,
                                           size_t len, enum auth_proto proto, const char *ip,
                                           time_t at)
{
	char code[16], *s;
	struct auth_reply r;

	env_code(e, seed, len, at, code);
	s = xasprintf("%s%s", NEW_PASSWORD, code);
	r = env_login_ip(e, user, s, proto, ip, at);
	free(s);
	return r;
}

static struct auth_reply login_newpw(struct env *e, const char *user, const char *seed, size_t len,
                                     const char *ip, time_t at)
{
	return login_newpw_proto(e, user, seed, len, AUTH_PROTO_IMAP, ip, at);
}

/* Wrong passwords from a familiar source (the user's own client with an old password) lock
 * that source only: the user's other devices, and app passwords, keep working, and nothing
 * locks the user from unfamiliar sources. */
static void test_own_stale_password_locks_only_its_source(void **state)
{
	struct env *e = *state;
	struct admin_user_info info;
	const char *error;
	char *seed, *ap, *old;
	size_t len;
	time_t t = TEST_T0;

	env_add_user(e, "uma");
	seed = env_enroll(e, "uma", &len);
	ap = add_apppass(e, "uma", "all");
	assert_int_equal(login_code(e, "uma", seed, len, HOME_LAPTOP, t).result, AUTH_OK);
	assert_int_equal(login_code(e, "uma", seed, len, HOME_PHONE, t + 30).result, AUTH_OK);
	old = env_pwcode(e, seed, len, t + 30);
	assert_int_equal(admin_user_passwd(e->p, "uma", NEW_PASSWORD, &error), 0);
	/* the laptop keeps sending the old password every five minutes for a day */
	for (unsigned i = 0; i < 288; i++)
		assert_int_equal(login_from(e, "uma", old, HOME_LAPTOP, t + 60 + 300 * i).result,
		                 AUTH_FAIL);
	t += 60 + 300 * 288;
	assert_string_equal(newest_of(e, "uma").reason, "locked-device");
	info = info_of(e, "uma");
	assert_int_equal(info.locked_until, 0);
	assert_int_equal(info.unfamiliar_locked_until, 0);
	assert_int_equal(info.stolen_password_signs, 0);
	/* the phone with the new password and a code, an app password on the laptop, and a
	 * device never seen before */
	assert_int_equal(login_newpw(e, "uma", seed, len, HOME_PHONE, t).result, AUTH_OK);
	assert_int_equal(login_from(e, "uma", ap, HOME_LAPTOP, t + 1).result, AUTH_OK);
	assert_int_equal(login_newpw(e, "uma", seed, len, "192.0.2.44", t + 30).result, AUTH_OK);
	free(old);
	xfree_secret_str(&ap);
	xfree_secret(seed, len);
}

/* An attacker with the password and wrong codes: the strict lockout holds every source, with
 * the alarm; only an app password from a familiar source still logs in. */
static void test_strict_lock_keeps_familiar_app_password(void **state)
{
	struct env *e = *state;
	struct admin_user_info info;
	char ip[32], *seed, *ap, *s;
	size_t len;
	time_t t = TEST_T0;

	env_add_user(e, "vic");
	seed = env_enroll(e, "vic", &len);
	ap = add_apppass(e, "vic", "imap");
	assert_int_equal(login_code(e, "vic", seed, len, HOME_LAPTOP, t).result, AUTH_OK);
	assert_int_equal(login_from(e, "vic", ap, HOME_PHONE, t + 1).result, AUTH_OK);
	for (unsigned i = 0; i < 10; i++) {
		stranger_ip(i, ip);
		s = pw_wrong_code(e, TEST_PASSWORD, seed, len, t + 10 + i);
		assert_int_equal(login_from(e, "vic", s, ip, t + 10 + i).result, AUTH_FAIL);
		free(s);
	}
	info = info_of(e, "vic");
	assert_int_equal(info.locked_until, t + 19 + 900);
	assert_int_equal(info.stolen_password_signs, 10);
	t += 60;
	assert_int_equal(login_code(e, "vic", seed, len, HOME_LAPTOP, t).result, AUTH_FAIL);
	assert_string_equal(newest_of(e, "vic").reason, "locked");
	assert_int_equal(login_from(e, "vic", ap, HOME_PHONE, t + 1).result, AUTH_OK);
	assert_int_equal(login_from(e, "vic", ap, "192.0.2.78", t + 2).result, AUTH_FAIL);
	assert_string_equal(newest_of(e, "vic").reason, "locked");
	/* the phone's logins did not lift the lockout */
	assert_int_equal(info_of(e, "vic").locked_until, t - 60 + 19 + 900);
	/* after it, the right code works again */
	assert_int_equal(login_code(e, "vic", seed, len, HOME_LAPTOP, t + 900).result, AUTH_OK);
	xfree_secret_str(&ap);
	xfree_secret(seed, len);
}

/* The right password with a wrong code from the n-th address of a botnet. */
static struct auth_reply login_guess(struct env *e, const char *user, const char *seed, size_t len,
                                     unsigned n, time_t t)
{
	char ip[32], *s = pw_wrong_code(e, TEST_PASSWORD, seed, len, t);
	struct auth_reply r;

	stranger_ip(n, ip);
	r = login_from(e, user, s, ip, t);
	free(s);
	return r;
}

/* Until when the strict lockout of name holds at now (0: none). */
static time_t strict_until(struct env *e, const char *name, time_t now)
{
	struct policy_user_state st;
	const char *error;

	assert_int_equal(policy_user_state(e->p, name, now, &st, &error), 0);
	return st.locked_until;
}

struct year {
	unsigned checked, phone_ok, phone_tries, laptop_ok;
};

static time_t earliest(time_t a, time_t b, time_t c)
{
	time_t m = a < b ? a : b;

	return m < c ? m : c;
}

/* The design's aim: an attacker who holds the password has under 1% chance per year to get
 * past TOTP. A botnet guesses a code from a new address whenever the user is not locked (it
 * need not wait out delays: it has many connections), while the user's phone logs in with its
 * app password every four hours and the laptop with a fresh code every morning. Count the guesses
 * whose code was looked at (audit reason bad-code) and compute the chance of a hit: each guess
 * matches 2 x totp_window + 1 codes of 10^6. */
static void test_botnet_with_password_stays_under_1_percent_a_year(void **state)
{
	struct env *e = *state;
	time_t t = TEST_T0, end = TEST_T0 + 365 * 86400, phone = t, laptop = t + 9 * 3600;
	struct year y = {0};
	double chance;
	char *seed, *ap;
	size_t len;
	unsigned n = 0;

	env_add_user(e, "mallory-target");
	seed = env_enroll(e, "mallory-target", &len);
	ap = add_apppass(e, "mallory-target", "imap");
	assert_int_equal(login_code(e, "mallory-target", seed, len, HOME_LAPTOP, t).result,
	                 AUTH_OK);
	assert_int_equal(login_from(e, "mallory-target", ap, HOME_PHONE, t).result, AUTH_OK);
	t++;
	while (t < end) {
		time_t locked = strict_until(e, "mallory-target", t);

		if (phone <= t) {
			y.phone_tries++;
			y.phone_ok +=
			    login_from(e, "mallory-target", ap, HOME_PHONE, phone).result ==
			    AUTH_OK;
			phone += 4 * 3600;
		} else if (laptop <= t) {
			y.laptop_ok +=
			    login_code(e, "mallory-target", seed, len, HOME_LAPTOP, laptop)
			        .result == AUTH_OK;
			laptop += 86400;
		} else if (locked > t) {
			t = earliest(locked, phone, laptop);
		} else {
			assert_int_equal(login_guess(e, "mallory-target", seed, len, n++, t).result,
			                 AUTH_FAIL);
			/* the audit log keeps half a year: count as it goes */
			y.checked += strcmp(newest_of(e, "mallory-target").reason, "bad-code") == 0;
			t++;
		}
	}
	chance = y.checked * (2.0 * e->cfg->totp_window + 1) / 1e6;
	print_message("%u guesses checked in a year, %u attempts: %.3f%% chance; phone %u/%u, "
	              "laptop %u logins\n",
	              y.checked, n, chance * 100, y.phone_ok, y.phone_tries, y.laptop_ok);
	assert_true(chance < 0.01);
	/* the phone's app password from home was never locked out (the laptop, with password
	 * and code, mostly was: that is the strict lockout, and the alarm says why) */
	assert_int_equal(y.phone_ok, y.phone_tries);
	xfree_secret_str(&ap);
	xfree_secret(seed, len);
}

struct reasons {
	unsigned bad_code, locked;
};

static void reasons_cb(const struct admin_log_entry *entry, void *ctx)
{
	struct reasons *r = ctx;

	r->bad_code += strcmp(entry->reason, "bad-code") == 0;
	r->locked += strcmp(entry->reason, "locked") == 0;
}

/* Guesses that arrive together right after a lockout: only one of them is looked at, however
 * they interleave in the auth processes (each is counted before its code is checked). */
static void test_parallel_guesses_after_lockout_one_checked(void **state)
{
	struct env *e = *state;
	enum { KIDS = 4 };
	struct reasons r = {0};
	const char *error;
	time_t t = TEST_T0, at;
	int go[2];
	pid_t pids[KIDS];
	char *seed;
	size_t len;

	/* an Argon2 verify of tens of ms between reading the lockout and counting the failure */
	env_close(e);
	e->cfg->pwhash_opslimit = 2;
	e->cfg->pwhash_memlimit = 16 << 20;
	env_open(e);
	env_add_user(e, "wes");
	seed = env_enroll(e, "wes", &len);
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(login_guess(e, "wes", seed, len, i, t + i).result, AUTH_FAIL);
	at = info_of(e, "wes").locked_until;
	assert_int_equal(at, t + 9 + 900);
	assert_int_equal(pipe(go), 0);
	env_close(e);
	for (int k = 0; k < KIDS; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0) {
			char c;

			close(go[1]);
			env_open(e);
			if (read(go[0], &c, 1) != 0)
				_exit(3);
			login_guess(e, "wes", seed, len, 100 + (unsigned)k, at);
			env_close(e);
			_exit(0);
		}
	}
	close(go[0]);
	usleep(300 * 1000); /* every child has opened its store */
	close(go[1]);
	for (int k = 0; k < KIDS; k++) {
		int status;

		assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	env_open(e);
	assert_int_equal(admin_log(e->p, "wes", KIDS, reasons_cb, &r, &error), 0);
	assert_int_equal(r.bad_code, 1);
	assert_int_equal(r.locked, KIDS - 1);
	xfree_secret(seed, len);
}

/* A code the user logged in with, sent again after grace (a desktop client re-sending its
 * saved password+code): a stale client, not an attacker. It fails with the hint, no alarm. A
 * code that was never valid raises the alarm; an older code of the window, never used, does
 * not (it was valid), and neither gets the hint. */
static void test_stale_code_hint_and_alarms(void **state)
{
	struct env *e = *state;
	struct auth_reply r;
	struct newest n;
	const char *error;
	char **codes, *s, *first, *older;
	char *seed;
	size_t len;
	time_t t = TEST_T0;

	env_add_user(e, "xena");
	seed = env_enroll(e, "xena", &len);
	first = env_pwcode(e, seed, len, t);
	older = env_pwcode(e, seed, len, t + 30);
	assert_int_equal(login_from(e, "xena", first, HOME_LAPTOP, t).result, AUTH_OK);
	for (time_t later = 5; later <= 3 * 86400; later *= 60) {
		r = login_from(e, "xena", first, HOME_LAPTOP, t + later);
		assert_int_equal(r.result, AUTH_FAIL);
		assert_int_equal(r.hint, AUTH_HINT_CODE_EXPIRED);
		n = newest_of(e, "xena");
		assert_string_equal(n.reason, "stale-code");
		assert_false(n.stolen);
	}
	/* from another network within the code's window (a phone that moved): stale too */
	r = login_from(e, "xena", first, "192.0.2.99", t + 20);
	assert_int_equal(r.hint, AUTH_HINT_CODE_EXPIRED);
	/* a newer code, then the older one of the window that was never used: no alarm, no hint */
	s = env_pwcode(e, seed, len, t + 60);
	assert_int_equal(login_from(e, "xena", s, HOME_LAPTOP, t + 60).result, AUTH_OK);
	free(s);
	r = login_from(e, "xena", older, HOME_LAPTOP, t + 61);
	assert_int_equal(r.result, AUTH_FAIL);
	assert_int_equal(r.hint, AUTH_HINT_NONE);
	n = newest_of(e, "xena");
	assert_string_equal(n.reason, "replay");
	assert_false(n.stolen);
	/* a code never valid: the alarm, no hint */
	s = pw_wrong_code(e, TEST_PASSWORD, seed, len, t + 62);
	r = login_from(e, "xena", s, HOME_LAPTOP, t + 62);
	free(s);
	assert_int_equal(r.hint, AUTH_HINT_NONE);
	n = newest_of(e, "xena");
	assert_string_equal(n.reason, "bad-code");
	assert_true(n.stolen);
	assert_int_equal(info_of(e, "xena").stolen_password_signs, 1);
	/* a wrong password with a used code: no hint (it would tell the password is wrong) */
	s = xasprintf("not the password%s", first + strlen(TEST_PASSWORD));
	r = login_from(e, "xena", s, HOME_LAPTOP, t + 63);
	free(s);
	assert_int_equal(r.hint, AUTH_HINT_NONE);
	/* a recovery code used once, sent again */
	assert_int_equal(admin_recovery_new(e->p, "xena", 2, &codes, &error), 0);
	s = xasprintf("%s%s", TEST_PASSWORD, codes[0]);
	assert_int_equal(login_from(e, "xena", s, HOME_LAPTOP, t + 64).result, AUTH_OK);
	r = login_from(e, "xena", s, HOME_LAPTOP, t + 65);
	assert_int_equal(r.hint, AUTH_HINT_CODE_EXPIRED);
	assert_string_equal(newest_of(e, "xena").reason, "stale-code");
	free(s);
	admin_codes_free(&codes, 2);
	free(first);
	free(older);
	xfree_secret(seed, len);
}

/* The user's own stale client re-sending its code every five minutes for a day: it never locks
 * out the user's other devices (it counts toward the strict lockout once), nor itself once it
 * has a new code. */
static void test_stale_client_cannot_lock_out_other_devices(void **state)
{
	struct env *e = *state;
	struct admin_user_info info;
	char *seed, *stale;
	size_t len;
	time_t t = TEST_T0;

	env_add_user(e, "yuri");
	seed = env_enroll(e, "yuri", &len);
	stale = env_pwcode(e, seed, len, t);
	assert_int_equal(login_from(e, "yuri", stale, HOME_LAPTOP, t).result, AUTH_OK);
	for (unsigned i = 1; i <= 288; i++)
		assert_int_equal(login_from(e, "yuri", stale, HOME_LAPTOP, t + 300 * i).hint,
		                 AUTH_HINT_CODE_EXPIRED);
	t += 300 * 288;
	info = info_of(e, "yuri");
	assert_int_equal(info.locked_until, 0);
	assert_int_equal(info.unfamiliar_locked_until, 0);
	assert_int_equal(info.stolen_password_signs, 0);
	/* and stale clients on eight more sources at once still leave the user free */
	for (unsigned k = 0; k < 8; k++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "192.0.2.%u", 100 + k);
		for (unsigned i = 0; i < 5; i++)
			login_from(e, "yuri", stale, ip, t + i);
	}
	assert_int_equal(info_of(e, "yuri").locked_until, 0);
	assert_int_equal(login_code(e, "yuri", seed, len, HOME_PHONE, t + 30).result, AUTH_OK);
	assert_int_equal(login_code(e, "yuri", seed, len, HOME_LAPTOP, t + 60).result, AUTH_OK);
	free(stale);
	xfree_secret(seed, len);
}

/* A client that sends the password without a code from an unfamiliar source: the alarm
 * (someone has the password), but it counts toward the strict lockout once per source. From a
 * familiar source it is the user's own client set up without the code: no alarm. */
static void test_missing_code_alarm_counted_little(void **state)
{
	struct env *e = *state;
	struct admin_user_info info;
	char *seed;
	size_t len;

	env_add_user(e, "zoe");
	seed = env_enroll(e, "zoe", &len);
	for (unsigned i = 0; i < 30; i++)
		assert_int_equal(env_login(e, "zoe", TEST_PASSWORD, TEST_T0 + i).result, AUTH_FAIL);
	assert_string_equal(newest_of(e, "zoe").reason, "missing-code");
	info = info_of(e, "zoe");
	assert_int_equal(info.stolen_password_signs, 30);
	assert_int_equal(info.locked_until, 0);
	assert_int_equal(login_code(e, "zoe", seed, len, HOME_PHONE, TEST_T0 + 60).result, AUTH_OK);
	for (unsigned i = 0; i < 5; i++)
		login_from(e, "zoe", TEST_PASSWORD, HOME_PHONE, TEST_T0 + 61 + i);
	assert_string_equal(newest_of(e, "zoe").reason, "missing-code");
	assert_int_equal(info_of(e, "zoe").stolen_password_signs, 30);
	xfree_secret(seed, len);
}

/* Device grace follows a client within its /24 (IPv4) or /64 (IPv6): a renewed lease is the
 * same client; another network is not. */
static void test_grace_roams_within_24_and_64(void **state)
{
	struct env *e = *state;
	struct auth_reply r;
	char *seed, *s4, *s6;
	size_t len;
	time_t t = TEST_T0;

	e->cfg->mfa_grace = 8 * 3600;
	env_add_user(e, "abe");
	seed = env_enroll(e, "abe", &len);
	s4 = env_pwcode(e, seed, len, t);
	s6 = env_pwcode(e, seed, len, t + 30);
	assert_int_equal(login_from(e, "abe", s4, "192.0.2.10", t).result, AUTH_OK);
	assert_int_equal(login_from(e, "abe", s6, "2001:db8:1:2::10", t + 30).result, AUTH_OK);
	r = login_from(e, "abe", s4, "192.0.2.201", t + 3600);
	assert_int_equal(r.result, AUTH_OK);
	assert_string_equal(r.factor, "grace");
	assert_int_equal(login_from(e, "abe", s4, "192.0.3.10", t + 3601).result, AUTH_FAIL);
	r = login_from(e, "abe", s6, "2001:db8:1:2:ffff:1:2:3", t + 3602);
	assert_int_equal(r.result, AUTH_OK);
	assert_string_equal(r.factor, "grace");
	assert_int_equal(login_from(e, "abe", s6, "2001:db8:1:3::10", t + 3603).result, AUTH_FAIL);
	/* the v6 code does not roam to v4 */
	assert_int_equal(login_from(e, "abe", s6, "192.0.2.10", t + 3604).result, AUTH_FAIL);
	free(s4);
	free(s6);
	xfree_secret(seed, len);
}

/* A grace entry made before grace followed the network (keyed by the client's address) still
 * holds for that address until it runs out: clients in grace at the upgrade are no guessers. */
static void test_grace_by_address_from_before(void **state)
{
	struct env *e = *state;
	unsigned char hash[AUTH_HASH_LEN];
	struct auth_store *store = auth_policy_store(e->p);
	struct auth_user u;
	struct auth_reply r;
	const char *error;
	char id[32], code[16], *seed, *s;
	size_t len;

	e->cfg->mfa_grace = 8 * 3600;
	env_add_user(e, "ada");
	seed = env_enroll(e, "ada", &len);
	assert_int_equal(auth_module_sqlite.user_get(store, "ada", &u, &error), 1);
	env_code(e, seed, len, TEST_T0, code);
	snprintf(id, sizeof(id), "%lld", (long long)u.id);
	factor_keyed_hash(e->p->keys.grace, (const char *const[]){id, code, "192.0.2.10"},
	                  (const size_t[]){strlen(id), strlen(code), strlen("192.0.2.10")}, 3,
	                  hash);
	assert_int_equal(
	    auth_module_sqlite.grace_put(store, u.id, hash, TEST_T0, TEST_T0 + 3600, &error), 1);
	auth_user_clear(&u);
	s = xasprintf("%s%s", TEST_PASSWORD, code);
	r = login_from(e, "ada", s, "192.0.2.10", TEST_T0 + 600);
	assert_int_equal(r.result, AUTH_OK);
	assert_string_equal(r.factor, "grace");
	assert_int_equal(login_from(e, "ada", s, "192.0.2.11", TEST_T0 + 601).result, AUTH_FAIL);
	assert_int_equal(login_from(e, "ada", s, "192.0.2.10", TEST_T0 + 3601).result, AUTH_FAIL);
	free(s);
	xfree_secret(seed, len);
}

/* A source stays familiar for familiar_days after the last login from it, and at least as
 * long as device grace lasts. */
static void test_familiar_window(void **state)
{
	struct env *e = *state;
	char ip[32], *seed;
	size_t len;
	time_t t = TEST_T0, day = 86400;

	e->cfg->lockout = 60 * day; /* a lockout of unfamiliar sources that outlasts the test */
	e->cfg->lockout_max = 60 * day;
	e->cfg->familiar_days = 10;
	e->cfg->mfa_grace = 12 * day;
	env_add_user(e, "bea");
	seed = env_enroll(e, "bea", &len);
	assert_int_equal(login_code(e, "bea", seed, len, "192.0.2.1", t).result, AUTH_OK);
	assert_int_equal(login_code(e, "bea", seed, len, "192.0.2.2", t + 30).result, AUTH_OK);
	assert_int_equal(login_code(e, "bea", seed, len, "192.0.2.3", t + 60).result, AUTH_OK);
	for (unsigned i = 0; i < 10; i++) {
		stranger_ip(i, ip);
		login_from(e, "bea", "wrong password123456", ip, t + 100 + i);
	}
	assert_true(info_of(e, "bea").unfamiliar_locked_until > t + 20 * day);
	/* within familiar_days */
	assert_int_equal(login_code(e, "bea", seed, len, "192.0.2.1", t + 10 * day - 60).result,
	                 AUTH_OK);
	/* past familiar_days, within mfa_grace */
	assert_int_equal(login_code(e, "bea", seed, len, "192.0.2.2", t + 12 * day - 60).result,
	                 AUTH_OK);
	/* past both */
	assert_int_equal(login_code(e, "bea", seed, len, "192.0.2.3", t + 12 * day + 120).result,
	                 AUTH_FAIL);
	assert_string_equal(newest_of(e, "bea").reason, "locked-unfamiliar");
	xfree_secret(seed, len);
}

/* The used codes of a user are kept for a bounded number and time. */
static void test_used_codes_bounded(void **state)
{
	struct env *e = *state;
	char *seed, *first;
	size_t len;
	time_t t = TEST_T0;

	env_add_user(e, "cal");
	seed = env_enroll(e, "cal", &len);
	first = env_pwcode(e, seed, len, t);
	for (unsigned i = 0; i < 40; i++)
		assert_int_equal(login_code(e, "cal", seed, len, HOME_LAPTOP, t + 30 * i).result,
		                 AUTH_OK);
	assert_int_equal(env_sql_int(e, "SELECT count(*) FROM used_codes"), 32);
	/* the first is forgotten: sent again, it is an unknown code now */
	assert_int_equal(login_from(e, "cal", first, HOME_LAPTOP, t + 1300).hint, AUTH_HINT_NONE);
	/* and after a quiet month, housekeeping removes them all */
	login_from(e, "someone", "x", HOME_LAPTOP, t + 31 * 86400);
	assert_int_equal(env_sql_int(e, "SELECT count(*) FROM used_codes"), 0);
	free(first);
	xfree_secret(seed, len);
}

/* unlock lifts every lockout of the user and clears the alarm; passwd refuses the current
 * password. */
static void test_unlock_clears_alarm_and_lockouts(void **state)
{
	struct env *e = *state;
	struct admin_user_info info;
	const char *error = NULL;
	char ip[32], *seed, *s;
	size_t len;
	time_t t = TEST_T0;

	env_add_user(e, "dan");
	seed = env_enroll(e, "dan", &len);
	assert_int_equal(login_code(e, "dan", seed, len, HOME_LAPTOP, t).result, AUTH_OK);
	/* strangers' wrong passwords, then wrong codes and passwords from home */
	for (unsigned i = 0; i < 10; i++) {
		stranger_ip(i, ip);
		login_from(e, "dan", "wrong password123456", ip, t + 1 + i);
	}
	for (unsigned i = 0; i < 10; i++) {
		s = pw_wrong_code(e, TEST_PASSWORD, seed, len, t + 20 + i);
		login_from(e, "dan", s, HOME_LAPTOP, t + 20 + i);
		free(s);
		login_from(e, "dan", "wrong password123456", HOME_PHONE, t + 20 + i);
	}
	info = info_of(e, "dan");
	assert_true(info.locked_until > 0 && info.unfamiliar_locked_until > 0);
	assert_int_equal(info.stolen_password_signs, 10);
	/* a successful login does not clear the alarm: the admin does */
	assert_int_equal(admin_user_unlock(e->p, "dan", &error), 0);
	info = info_of(e, "dan");
	assert_int_equal(info.locked_until, 0);
	assert_int_equal(info.unfamiliar_locked_until, 0);
	assert_int_equal(info.stolen_password_signs, 0);
	assert_int_equal(info.failures, 0);
	assert_int_equal(login_code(e, "dan", seed, len, HOME_LAPTOP, t + 60).result, AUTH_OK);
	assert_int_equal(login_code(e, "dan", seed, len, "192.0.2.88", t + 90).result, AUTH_OK);
	/* the same password again is refused; another is taken */
	assert_int_equal(admin_user_passwd(e->p, "dan", TEST_PASSWORD, &error), -1);
	assert_non_null(strstr(error, "current"));
	assert_int_equal(admin_user_passwd(e->p, "dan", "another good password", &error), 0);
	xfree_secret(seed, len);
}

/* The alarm stays until the admin clears it: the user's phone logging in does not hide it. */
static void test_alarm_survives_logins(void **state)
{
	struct env *e = *state;
	char *seed, *s, *ap;
	size_t len;

	env_add_user(e, "eve");
	seed = env_enroll(e, "eve", &len);
	ap = add_apppass(e, "eve", "all");
	s = pw_wrong_code(e, TEST_PASSWORD, seed, len, TEST_T0);
	login_from(e, "eve", s, STRANGER, TEST_T0);
	free(s);
	assert_int_equal(login_from(e, "eve", ap, HOME_PHONE, TEST_T0 + 1).result, AUTH_OK);
	assert_int_equal(login_code(e, "eve", seed, len, HOME_LAPTOP, TEST_T0 + 30).result,
	                 AUTH_OK);
	assert_int_equal(info_of(e, "eve").stolen_password_signs, 1);
	xfree_secret_str(&ap);
	xfree_secret(seed, len);
}

/* The portal's sign-in meets the same lockouts as IMAP and POP3: a spray that locks the user
 * for unfamiliar sources, or one source for strangers, is not a way around them through the
 * portal. */
static void test_portal_signin_meets_lockouts(void **state)
{
	struct env *e = *state;
	unsigned long before;
	struct auth_reply r;
	char ip[32], guess[64], *seed, *s;
	size_t len;
	time_t t = TEST_T0;

	env_add_user(e, "pia");
	seed = env_enroll(e, "pia", &len);
	assert_int_equal(login_code(e, "pia", seed, len, HOME_LAPTOP, t).result, AUTH_OK);
	for (unsigned i = 0; i < 20; i++) {
		stranger_ip(i, ip);
		snprintf(guess, sizeof(guess), "Guess-%u-123456", i);
		assert_int_equal(login_from(e, "pia", guess, ip, t + 1 + i).result, AUTH_FAIL);
	}
	t += 60;
	assert_true(info_of(e, "pia").unfamiliar_locked_until > t);
	/* the right password and code from a stranger's address, on the portal: refused
	 * unchecked, with the same one Argon2 verify */
	s = env_pwcode(e, seed, len, t);
	before = password_verify_count;
	r = env_login_ip(e, "pia", s, AUTH_PROTO_PORTAL, STRANGER, t);
	assert_int_equal(r.result, AUTH_FAIL);
	assert_int_equal(password_verify_count, before + 1);
	assert_string_equal(newest_of(e, "pia").reason, "locked-unfamiliar");
	free(s);
	/* a source locked for strangers, likewise */
	for (unsigned i = 0; i < 10; i++) {
		snprintf(guess, sizeof(guess), "nobody%u", i);
		assert_int_equal(login_from(e, guess, "wrong password123456", "192.0.2.200",
		                            t + 30 + i)
		                     .result,
		                 AUTH_FAIL);
	}
	assert_int_equal(admin_user_unlock(e->p, "pia", &(const char *){NULL}), 0);
	t += 90;
	s = env_pwcode(e, seed, len, t);
	r = env_login_ip(e, "pia", s, AUTH_PROTO_PORTAL, "192.0.2.200", t);
	assert_int_equal(r.result, AUTH_FAIL);
	assert_string_equal(newest_of(e, "pia").reason, "locked-source");
	free(s);
	/* from home the portal signs pia in */
	s = env_pwcode(e, seed, len, t + 30);
	assert_int_equal(env_login_ip(e, "pia", s, AUTH_PROTO_PORTAL, HOME_LAPTOP, t + 30).result,
	                 AUTH_OK);
	free(s);
	xfree_secret(seed, len);
}

/* The portal's failures count where an IMAP login's do (the strict lockout, the alarm), and a
 * source locked for its own stale client stays locked for the portal too. */
static void test_portal_failures_count_like_imap(void **state)
{
	struct env *e = *state;
	struct auth_reply r;
	const char *error;
	char ip[32], *seed, *old, *s;
	size_t len;
	unsigned long before;
	time_t t = TEST_T0;

	env_add_user(e, "quin");
	seed = env_enroll(e, "quin", &len);
	assert_int_equal(login_code(e, "quin", seed, len, HOME_LAPTOP, t).result, AUTH_OK);
	old = env_pwcode(e, seed, len, t);
	assert_int_equal(admin_user_passwd(e->p, "quin", NEW_PASSWORD, &error), 0);
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(login_from(e, "quin", old, HOME_LAPTOP, t + 60 + i).result,
		                 AUTH_FAIL);
	t += 120;
	assert_string_equal(newest_of(e, "quin").reason, "locked-device");
	before = password_verify_count;
	r = login_newpw_proto(e, "quin", seed, len, AUTH_PROTO_PORTAL, HOME_LAPTOP, t);
	assert_int_equal(r.result, AUTH_FAIL);
	assert_int_equal(r.delay_ms, 15000);
	assert_int_equal(password_verify_count, before + 1);
	assert_string_equal(newest_of(e, "quin").reason, "locked-device");
	/* the new password with wrong codes on the portal: the strict lockout and the alarm */
	for (unsigned i = 0; i < 10; i++) {
		stranger_ip(i, ip);
		s = pw_wrong_code(e, NEW_PASSWORD, seed, len, t + 10 + i);
		r = env_login_ip(e, "quin", s, AUTH_PROTO_PORTAL, ip, t + 10 + i);
		assert_int_equal(r.result, AUTH_FAIL);
		free(s);
	}
	assert_true(info_of(e, "quin").locked_until > t + 60);
	assert_int_equal(info_of(e, "quin").stolen_password_signs, 10);
	assert_int_equal(login_newpw(e, "quin", seed, len, HOME_PHONE, t + 60).result, AUTH_FAIL);
	assert_string_equal(newest_of(e, "quin").reason, "locked");
	free(old);
	xfree_secret(seed, len);
}

/* The portal takes a fresh code only: a password+code a mail client keeps and re-sends in
 * grace does not open the page that manages the factors, and a code typed on the portal is
 * not accepted again anywhere. */
static void test_portal_no_grace(void **state)
{
	struct env *e = *state;
	struct auth_reply r;
	char *seed, *s, *p;
	size_t len;
	time_t t = TEST_T0;

	e->cfg->mfa_grace = 8 * 3600;
	env_add_user(e, "rob");
	seed = env_enroll(e, "rob", &len);
	s = env_pwcode(e, seed, len, t);
	assert_int_equal(login_from(e, "rob", s, HOME_LAPTOP, t).result, AUTH_OK);
	r = login_from(e, "rob", s, HOME_LAPTOP, t + 600);
	assert_int_equal(r.result, AUTH_OK);
	assert_string_equal(r.factor, "grace");
	r = env_login_ip(e, "rob", s, AUTH_PROTO_PORTAL, HOME_LAPTOP, t + 601);
	assert_int_equal(r.result, AUTH_FAIL);
	assert_string_equal(newest_of(e, "rob").reason, "stale-code");
	/* a fresh code on the portal, then the same from the same network over IMAP */
	p = env_pwcode(e, seed, len, t + 900);
	r = env_login_ip(e, "rob", p, AUTH_PROTO_PORTAL, HOME_LAPTOP, t + 900);
	assert_int_equal(r.result, AUTH_OK);
	assert_string_equal(r.factor, "totp");
	assert_int_equal(login_from(e, "rob", p, HOME_LAPTOP, t + 1500).result, AUTH_FAIL);
	assert_string_equal(newest_of(e, "rob").reason, "stale-code");
	assert_int_equal(info_of(e, "rob").stolen_password_signs, 0);
	free(s);
	free(p);
	xfree_secret(seed, len);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, env_setup, env_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_stranger_spray_cannot_lock_out_familiar_device),
	    T(test_unknown_name_locked_like_known),
	    T(test_source_lock),
	    T(test_own_stale_password_locks_only_its_source),
	    T(test_strict_lock_keeps_familiar_app_password),
	    T(test_botnet_with_password_stays_under_1_percent_a_year),
	    T(test_parallel_guesses_after_lockout_one_checked),
	    T(test_stale_code_hint_and_alarms),
	    T(test_stale_client_cannot_lock_out_other_devices),
	    T(test_missing_code_alarm_counted_little),
	    T(test_grace_roams_within_24_and_64),
	    T(test_grace_by_address_from_before),
	    T(test_familiar_window),
	    T(test_used_codes_bounded),
	    T(test_unlock_clears_alarm_and_lockouts),
	    T(test_alarm_survives_logins),
	    T(test_portal_signin_meets_lockouts),
	    T(test_portal_failures_count_like_imap),
	    T(test_portal_no_grace),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
