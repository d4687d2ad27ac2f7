/* server/admission.c and the scoreboard's per-address counts: keys (IPv4, v4-mapped, IPv6 /64),
 * pre-login and session limits across slots, refusal logging once per interval, pressure. One
 * slot per (pretend) worker, the way workers share the scoreboard. */
#include "common/config.h"
#include "server/admission.h"
#include "server/scoreboard.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOTS 8

static struct sockaddr_storage addr(const char *ip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
	}
	return ss;
}

static bool same_key(const char *a, const char *b)
{
	struct sockaddr_storage sa = addr(a), sb = addr(b);
	struct scoreboard_client_key ka, kb;

	scoreboard_client_key(&sa, &ka);
	scoreboard_client_key(&sb, &kb);
	return memcmp(&ka, &kb, sizeof(ka)) == 0;
}

static void test_keys(void **state)
{
	assert_true(same_key("192.0.2.1", "::ffff:192.0.2.1"));
	assert_false(same_key("192.0.2.1", "192.0.2.2"));
	/* one IPv6 host picks addresses from its /64 */
	assert_true(same_key("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"));
	assert_false(same_key("2001:db8:1:2::1", "2001:db8:1:3::1"));
	assert_false(same_key("::ffff:192.0.2.1", "::ffff:192.0.2.2"));
}

struct fixture {
	struct scoreboard sb;
	struct config *cfg;
	struct admission a[SLOTS];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_int_equal(scoreboard_init(&f->sb, SLOTS), 0);
	f->cfg = config_defaults();
	f->cfg->max_workers = SLOTS;
	f->cfg->max_prelogin_per_ip = 2;
	f->cfg->max_sessions_per_ip = 3;
	for (int i = 0; i < SLOTS; i++) {
		scoreboard_claim(&f->sb, i, 1000 + i, 0);
		scoreboard_set_state(&f->sb, i, SLOT_IDLE);
		f->a[i] = (struct admission){.sb = &f->sb, .slot = i, .cfg = f->cfg};
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	scoreboard_free(&f->sb);
	config_free(&f->cfg);
	free(f);
	return 0;
}

static bool accept_from(struct fixture *f, int slot, const char *ip)
{
	struct sockaddr_storage ss = addr(ip);

	return admission_accept(&f->a[slot], &ss);
}

static void test_prelogin_limit_per_address(void **state)
{
	struct fixture *f = *state;

	assert_true(accept_from(f, 0, "192.0.2.1"));
	assert_string_equal(f->a[0].ip, "192.0.2.1");
	assert_true(accept_from(f, 1, "::ffff:192.0.2.1"));
	assert_false(accept_from(f, 2, "192.0.2.1")); /* the third */
	assert_true(accept_from(f, 2, "192.0.2.9"));   /* another address */
	assert_true(accept_from(f, 3, "2001:db8::1"));
	assert_true(accept_from(f, 4, "2001:db8::2"));
	assert_false(accept_from(f, 5, "2001:db8::ffff")); /* the same /64 */
	admission_done(&f->a[0]);
	assert_true(accept_from(f, 5, "192.0.2.1")); /* one left: room again */
}

static void test_session_limit_and_phases(void **state)
{
	struct fixture *f = *state;

	f->cfg->max_prelogin_per_ip = 8;
	for (int i = 0; i < 5; i++)
		assert_true(accept_from(f, i, "198.51.100.7"));
	assert_true(admission_login(&f->a[0]));
	assert_true(admission_login(&f->a[1]));
	assert_true(admission_login(&f->a[2]));
	assert_false(admission_login(&f->a[3])); /* a fourth session */
	/* refused, it is a pre-login connection again: logged-in ones do not count there */
	f->cfg->max_prelogin_per_ip = 2;
	assert_false(accept_from(f, 5, "198.51.100.7"));
	f->cfg->max_prelogin_per_ip = 3;
	assert_true(accept_from(f, 5, "198.51.100.7"));
	admission_login_failed(&f->a[2]);
	assert_true(admission_login(&f->a[3]));
}

static void test_refusal_logged_once_per_interval(void **state)
{
	struct fixture *f = *state;
	unsigned refused = 0;

	assert_true(scoreboard_refusal_log_due(&f->sb, 1000, 60000, &refused));
	assert_int_equal(refused, 1);
	for (int i = 0; i < 5; i++)
		assert_false(scoreboard_refusal_log_due(&f->sb, 2000 + i, 60000, &refused));
	assert_true(scoreboard_refusal_log_due(&f->sb, 61000, 60000, &refused));
	assert_int_equal(refused, 6);
}

static void test_pressure_and_timeouts(void **state)
{
	struct fixture *f = *state;

	f->cfg->handshake_timeout = 30;
	f->cfg->login_timeout = 60;
	for (int i = 0; i < 5; i++)
		scoreboard_set_state(&f->sb, i, SLOT_BUSY);
	assert_false(admission_pressure(&f->sb, f->cfg)); /* 5 of 8 */
	assert_true(accept_from(f, 6, "203.0.113.1"));
	assert_int_equal(admission_handshake_timeout(&f->a[6]), 30);
	assert_int_equal(admission_login_timeout(&f->a[6]), 60);
	scoreboard_set_state(&f->sb, 5, SLOT_BUSY);
	scoreboard_set_state(&f->sb, 7, SLOT_OVERFLOW); /* never counted busy */
	assert_true(admission_pressure(&f->sb, f->cfg)); /* 6 of 8 */
	assert_true(accept_from(f, 6, "203.0.113.2"));
	assert_int_equal(admission_handshake_timeout(&f->a[6]), ADMISSION_PRESSURE_HANDSHAKE);
	assert_int_equal(admission_login_timeout(&f->a[6]), ADMISSION_PRESSURE_LOGIN);
	f->cfg->handshake_timeout = 2; /* never longer than configured */
	assert_int_equal(admission_handshake_timeout(&f->a[6]), 2);
}

/* Workers in other processes count each other through the shared mapping. */
static void test_counts_across_processes(void **state)
{
	struct fixture *f = *state;
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_storage ss = addr("192.0.2.50");

		_exit(admission_accept(&f->a[1], &ss) && admission_accept(&f->a[2], &ss) ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_false(accept_from(f, 0, "192.0.2.50"));
	scoreboard_release(&f->sb, 2); /* the master reaped that worker */
	assert_true(accept_from(f, 0, "192.0.2.50"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test_setup_teardown(test_prelogin_limit_per_address, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_session_limit_and_phases, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refusal_logged_once_per_interval, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pressure_and_timeouts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_counts_across_processes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
