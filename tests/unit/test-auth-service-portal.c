/* The auth service's portal answers: the operation table, sessions, CSRF, levels. */
/* the shared set-up has helpers this file does not need */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test-auth-env.h"

#include "test-portal-call.h"

#include <sodium.h>
#include <sqlite3.h>

/* Signs in (password only: second_factor optional, no TOTP); copies the session id and
 * CSRF token out. */
static void sign_in(struct env *e, char sid[64], char csrf[64])
{
	struct answer a;

	assert_int_equal(
	    call(e, "signin", "", "", 3, (const char *const[]){"alice", TEST_PASSWORD, ""}, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_OK);
	assert_int_equal(a.rows, 1);
	assert_int_equal(a.cols, 5);
	assert_int_equal(strlen(a.cells[0]), PORTAL_TOKEN_LEN);
	assert_string_equal(a.cells[4], "2"); /* a full session */
	snprintf(sid, 64, "%s", a.cells[0]);
	snprintf(csrf, 64, "%s", a.cells[1]);
	assert_string_equal(a.cells[2], "alice");
}

/* Signs in with password + the current code of seed. */
static void sign_in_totp(struct env *e, const char *seed, size_t len, char sid[64], char csrf[64])
{
	char code[16];
	struct answer a;

	env_code(e, seed, len, time(NULL), code);
	assert_int_equal(
	    call(e, "signin", "", "", 3, (const char *const[]){"alice", TEST_PASSWORD, code}, &a),
	    0);
	assert_int_equal(a.status, IPC_PORTAL_OK);
	assert_string_equal(a.cells[4], "2");
	snprintf(sid, 64, "%s", a.cells[0]);
	snprintf(csrf, 64, "%s", a.cells[1]);
}

static int setup(void **state)
{
	env_setup(state);
	struct env *e = *state;

	e->cfg->second_factor = SECOND_FACTOR_OPTIONAL;
	env_add_user(e, "alice");
	return 0;
}

static void test_signin_and_session(void **state)
{
	struct env *e = *state;
	char sid[64], csrf[64];
	struct answer a;

	sign_in(e, sid, csrf);
	assert_int_equal(call(e, "session", sid, "", 0, NULL, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_OK);
	assert_string_equal(a.cells[0], "alice");
	assert_string_equal(a.cells[1], "2");
	assert_string_equal(a.cells[2], csrf);
	/* a wrong password: refused with the policy's delay, no session */
	assert_int_equal(
	    call(e, "signin", "", "", 3, (const char *const[]){"alice", "wrong password!", ""}, &a),
	    0);
	assert_int_equal(a.status, IPC_PORTAL_FAIL);
	assert_true(a.delay_ms >= 2000);
	assert_int_equal(a.rows, 0);
	/* an unknown or malformed session id is no session */
	assert_int_equal(call(e, "session", "", "", 0, NULL, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_NO_SESSION);
	sid[0] = sid[0] == 'A' ? 'B' : 'A';
	assert_int_equal(call(e, "session", sid, "", 0, NULL, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_NO_SESSION);
	assert_int_equal(call(e, "session", "../../etc", "", 0, NULL, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_NO_SESSION);
}

static void test_csrf_checked(void **state)
{
	struct env *e = *state;
	char sid[64], csrf[64], wrong[64];
	struct answer a;

	sign_in(e, sid, csrf);
	snprintf(wrong, sizeof(wrong), "%s", csrf);
	wrong[5] ^= 1;
	for (int i = 0; i < 3; i++) {
		const char *token = i == 0 ? "" : i == 1 ? wrong : "short";

		assert_int_equal(call(e, "recovery_new", sid, token, 0, NULL, &a), 0);
		assert_int_equal(a.status, IPC_PORTAL_BAD_CSRF);
		assert_int_equal(a.rows, 0);
	}
	/* reading needs no token; changing with the right one works */
	assert_int_equal(call(e, "overview", sid, "", 0, NULL, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_OK);
	assert_string_equal(a.cells[2], "0"); /* no recovery codes yet */
	assert_int_equal(call(e, "recovery_new", sid, csrf, 0, NULL, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_OK);
	assert_int_equal(a.rows, 10);
	/* sign-out needs the token too, and ends the session for good */
	assert_int_equal(call(e, "signout", sid, "", 0, NULL, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_BAD_CSRF);
	assert_int_equal(call(e, "signout", sid, csrf, 0, NULL, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_OK);
	assert_int_equal(call(e, "overview", sid, "", 0, NULL, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_NO_SESSION);
}

/* A session from an enrolment link opens nothing but what it is for. */
static void test_enrol_level_limited(void **state)
{
	struct env *e = *state;
	struct auth_portal_session s = {.level = AUTH_PORTAL_ENROL, .created = time(NULL)};
	const char *sid = "EnrolEnrolEnrolEnrolEnrolEnrolEnrolEnrol123";
	struct auth_user user;
	const char *error = NULL;
	struct answer a;

	assert_int_equal(e->p == NULL, 0);
	assert_int_equal(
	    auth_module_sqlite.user_get(auth_policy_store(e->p), "alice", &user, &error), 1);
	s.user_id = user.id;
	auth_user_clear(&user);
	crypto_generichash(s.hash, AUTH_HASH_LEN, (const unsigned char *)sid, strlen(sid), NULL, 0);
	snprintf(s.csrf, sizeof(s.csrf), "csrf");
	s.expires = s.created + 60;
	assert_int_equal(auth_module_sqlite.portal_session_put(auth_policy_store(e->p), &s, &error),
	                 1);
	assert_int_equal(call(e, "session", sid, "", 0, NULL, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_OK);
	assert_string_equal(a.cells[1], "1");
	assert_int_equal(call(e, "overview", sid, "", 0, NULL, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_NO_SESSION);
	assert_int_equal(call(e, "recovery_new", sid, "csrf", 0, NULL, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_NO_SESSION);
}

/* Requests the portal could not have built break the protocol: the caller drops that peer. */
static void test_protocol_violations(void **state)
{
	struct env *e = *state;
	struct answer a;

	assert_int_equal(call(e, "no_such_op", "", "", 0, NULL, &a), -1);
	assert_int_equal(call(e, "signin", "", "", 1, (const char *const[]){"alice"}, &a), -1);
	ipc_msg_init(&pc_in, IPC_LOGIN_REQUEST, 1);
	ipc_put_str(&pc_in, "signin");
	pc_in.pos = 0;
	assert_int_equal(auth_service_portal(e->p, &pc_in, &pc_out), -1);
}

/* An invite link opens an enrolment session once; that session may ask for a registration
 * challenge but not see or change anything else. */
static void test_enrol_invite(void **state)
{
	struct env *e = *state;
	char *token = NULL, sid[64];
	const char *error = NULL;
	struct answer a;
	time_t expires;

	free(e->cfg->portal_origin);
	e->cfg->portal_origin = xstrdup("https://mail.example.org");
	assert_int_equal(admin_key_invite(e->p, "alice", 1, time(NULL), &token, &expires, &error),
	                 0);
	assert_int_equal(call(e, "enrol", "", "", 1, (const char *const[]){token}, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_OK);
	assert_string_equal(a.cells[2], "alice");
	snprintf(sid, sizeof(sid), "%s", a.cells[0]);
	/* the same link again: refused, with a message for the user */
	assert_int_equal(call(e, "enrol", "", "", 1, (const char *const[]){token}, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_REFUSED);
	assert_non_null(strstr(a.message, "does not work any more"));
	assert_int_equal(call(e, "enrol", "", "", 1, (const char *const[]){"nonsense"}, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_REFUSED);
	/* what the enrolment session may do */
	assert_int_equal(call(e, "key_options", sid, "", 0, NULL, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_OK);
	assert_int_equal(a.cols, 6);
	assert_string_equal(a.cells[1], "mail.example.org");
	assert_string_equal(a.cells[2], "alice");
	assert_int_equal(call(e, "key_list", sid, "", 0, NULL, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_NO_SESSION);
	assert_int_equal(call(e, "apppass_list", sid, "", 0, NULL, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_NO_SESSION);
	/* a registration that is no WebAuthn answer at all: refused, the session stays */
	assert_int_equal(call(e, "session", sid, "", 0, NULL, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_OK);
	{
		char csrf[64];

		snprintf(csrf, sizeof(csrf), "%s", a.cells[2]);
		assert_int_equal(call(e, "key_register", sid, csrf, 4,
		                      (const char *const[]){"e30", "oA", "AAAA", "x"}, &a),
		                 0);
		assert_int_equal(a.status, IPC_PORTAL_REFUSED);
		assert_int_equal(call(e, "key_register", sid, csrf, 4,
		                      (const char *const[]){"not base64!", "", "", ""}, &a),
		                 0);
		assert_int_equal(a.status, IPC_PORTAL_REFUSED);
	}
	xfree_secret_str(&token);
}

static void failures_cb(const struct admin_user_info *info, void *ctx)
{
	*(unsigned *)ctx = info->failures;
}

static unsigned failures(struct env *e)
{
	const char *error = NULL;
	unsigned n = 99;

	assert_int_equal(admin_user_show(e->p, "alice", failures_cb, &n, &error), 0);
	return n;
}

/* Removing the authenticator app asks for the password again: a wrong one is refused with the
 * policy's delay and counted as a sign-in failure; the right one removes it. */
static void test_factor_removal_needs_password(void **state)
{
	struct env *e = *state;
	char sid[64], csrf[64];
	struct answer a;
	size_t len;
	char *seed = env_enroll(e, "alice", &len);

	sign_in_totp(e, seed, len, sid, csrf);
	free(seed);
	assert_int_equal(call(e, "totp_remove", sid, csrf, 1, (const char *const[]){"wrong!"}, &a),
	                 0);
	assert_int_equal(a.status, IPC_PORTAL_REFUSED);
	assert_non_null(strstr(a.message, "not your password"));
	assert_true(a.delay_ms >= 2000);
	assert_int_equal(failures(e), 1);
	assert_int_equal(call(e, "totp_remove", sid, csrf, 1, (const char *const[]){""}, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_REFUSED);
	assert_int_equal(
	    call(e, "totp_remove", sid, csrf, 1, (const char *const[]){"wrong again"}, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_REFUSED);
	assert_int_equal(failures(e), 2);
	/* the session stays; the right password removes it and clears the count */
	assert_int_equal(
	    call(e, "totp_remove", sid, csrf, 1, (const char *const[]){TEST_PASSWORD}, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_OK);
	assert_int_equal(failures(e), 0);
	assert_int_equal(
	    call(e, "totp_remove", sid, csrf, 1, (const char *const[]){TEST_PASSWORD}, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_REFUSED); /* none left */
	assert_null(strstr(a.message, "not your password"));
	/* a key's removal too, before the key is even looked for */
	assert_int_equal(
	    call(e, "key_remove", sid, csrf, 2, (const char *const[]){"1", "wrong!"}, &a), 0);
	assert_int_equal(a.status, IPC_PORTAL_REFUSED);
	assert_non_null(strstr(a.message, "not your password"));
	assert_int_equal(failures(e), 1);
}

/* The client address comes from the portal process: quoted in the log like any text a client
 * could shape, so it cannot forge a field of the line. */
static void test_enrol_refusal_log_quotes_ip(void **state)
{
	struct env *e = *state;
	char path[] = "/tmp/twofold-test-portal-log-XXXXXX", out[4096] = "";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	struct answer a;
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	log_set_level(LOG_LEVEL_INFO);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	pc_ip = "192.0.2.9 user=root";
	assert_int_equal(call(e, "enrol", "", "", 1, (const char *const[]){"nonsense"}, &a), 0);
	pc_ip = "192.0.2.1";
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	log_set_level(LOG_LEVEL_WARN);
	assert_int_equal(a.status, IPC_PORTAL_REFUSED);
	n = pread(fd, out, sizeof(out) - 1, 0);
	close(fd);
	unlink(path);
	assert_true(n > 0);
	assert_non_null(strstr(out, "enrolment link refused from \"192.0.2.9 user=root\":"));
}

/* A store made before the portal existed gets its sessions table at the next open. */
static void test_old_store_gets_sessions(void **state)
{
	struct env *e = *state;
	char sid[64], csrf[64];
	sqlite3 *db;

	env_close(e);
	assert_int_equal(sqlite3_open(e->cfg->auth_database, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE portal_sessions", NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	env_open(e);
	sign_in(e, sid, csrf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_signin_and_session, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_csrf_checked, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_enrol_level_limited, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_protocol_violations, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_old_store_gets_sessions, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_enrol_invite, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_enrol_refusal_log_quotes_ip, setup, env_teardown),
	    cmocka_unit_test_setup_teardown(test_factor_removal_needs_password, setup,
	                                    env_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
