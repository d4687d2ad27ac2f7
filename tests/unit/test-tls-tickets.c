/*
 * server/tls.c's session tickets (tls-harness.h): the server side of every connection runs in a
 * forked child, as in the daemon, so ticket resumption is shown to work across processes that
 * share only what the parent loaded before fork(); a reload keeps the ticket key, a rotation and
 * the key's lifetime end it.
 */
#include "test-measure.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/tls-harness.h"

#include "server/tls.h"
#include "common/config.h"

#include <stdlib.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

/* ---- resumption ---- */

static void resume_in_other_process(const char *prio)
{
	struct tls_server *srv = load_ok(&ecdsa, NULL);
	gnutls_datum_t saved = {NULL, 0};
	struct session_opts first = {.prio = prio, .save = &saved, .expect_cert = &ecdsa};
	struct session_opts second = {.prio = prio, .resume = &saved, .expect_resumed = 1};

	good_session(srv, &first);  /* served by one child */
	good_session(srv, &second); /* resumed by another */
	gnutls_free(saved.data);
	tls_server_free(&srv);
}

static void test_resume_tls12_other_worker(void **state)
{
	resume_in_other_process(PRIO_TLS12);
}

static void test_resume_tls13_other_worker(void **state)
{
	resume_in_other_process(PRIO_TLS13);
}

/* A reload keeps the ticket key: old tickets resume, new full handshakes show the new cert.
 * A server with a fresh key cannot resume them (so resumption really depends on the key). */
static void reload_keeps_ticket_key(const char *prio)
{
	struct tls_server *old = load_ok(&ecdsa, NULL);
	struct tls_server *reloaded = load_ok(&ecdsa2, old);
	struct tls_server *fresh = load_ok(&ecdsa2, NULL);
	gnutls_datum_t saved = {NULL, 0};
	struct session_opts first = {.prio = prio, .save = &saved, .expect_cert = &ecdsa};
	struct session_opts resumed = {.prio = prio, .resume = &saved, .expect_resumed = 1};
	struct session_opts full_new = {.prio = prio, .expect_cert = &ecdsa2};
	struct session_opts not_resumed = {
	    .prio = prio, .resume = &saved, .expect_cert = &ecdsa2, .expect_resumed = 0};

	good_session(old, &first);
	tls_server_free(&old);
	good_session(reloaded, &resumed);
	good_session(reloaded, &full_new);
	good_session(fresh, &not_resumed);
	gnutls_free(saved.data);
	tls_server_free(&reloaded);
	tls_server_free(&fresh);
}

static void test_reload_keeps_ticket_key_tls12(void **state)
{
	reload_keeps_ticket_key(PRIO_TLS12);
}

static void test_reload_keeps_ticket_key_tls13(void **state)
{
	reload_keeps_ticket_key(PRIO_TLS13);
}

/* ---- ticket key lifetime and rotation ---- */

static struct tls_server *load_lifetime(const struct certfile *cf, const struct tls_server *keep,
                                        unsigned lifetime)
{
	struct config *cfg = make_config(cf->cert, cf->key, NULL);
	struct tls_server *srv = NULL;
	const char *error = NULL;

	cfg->tls_ticket_lifetime = lifetime;
	if (tls_server_load(cfg, keep, &srv, &error) < 0)
		fail_msg("tls_server_load: %s", error);
	config_free(&cfg);
	return srv;
}

/* After a rotation the old tickets are refused; tickets made with the new key resume. */
static void rotation_drops_old_tickets(const char *prio)
{
	struct tls_server *srv = load_ok(&ecdsa, NULL);
	gnutls_datum_t old = {NULL, 0}, fresh = {NULL, 0};
	struct session_opts first = {.prio = prio, .save = &old};
	struct session_opts before = {.prio = prio, .resume = &old, .expect_resumed = 1};
	struct session_opts after = {.prio = prio, .resume = &old, .expect_cert = &ecdsa};
	struct session_opts second = {.prio = prio, .save = &fresh};
	struct session_opts again = {.prio = prio, .resume = &fresh, .expect_resumed = 1};
	const char *error = NULL;

	good_session(srv, &first);
	good_session(srv, &before);
	assert_int_equal(tls_server_rotate_ticket_key(srv, &error), 0);
	good_session(srv, &after);
	good_session(srv, &second);
	good_session(srv, &again);
	gnutls_free(old.data);
	gnutls_free(fresh.data);
	tls_server_free(&srv);
}

static void test_rotation_drops_old_tickets_tls12(void **state)
{
	rotation_drops_old_tickets(PRIO_TLS12);
}

static void test_rotation_drops_old_tickets_tls13(void **state)
{
	rotation_drops_old_tickets(PRIO_TLS13);
}

/* A ticket older than the lifetime does not resume, even with the same key. */
static void old_ticket_refused(const char *prio)
{
	/* two handshakes must fit in the lifetime: under a checker they take seconds */
	unsigned lifetime = test_checked() ? 10 : 2;
	struct tls_server *srv = load_lifetime(&ecdsa, NULL, lifetime);
	gnutls_datum_t saved = {NULL, 0};
	struct session_opts first = {.prio = prio, .save = &saved};
	struct session_opts young = {.prio = prio, .resume = &saved, .expect_resumed = 1};
	struct session_opts old = {.prio = prio, .resume = &saved, .expect_cert = &ecdsa};

	good_session(srv, &first);
	good_session(srv, &young);
	sleep(lifetime + 2);
	good_session(srv, &old);
	gnutls_free(saved.data);
	tls_server_free(&srv);
}

static void test_old_ticket_refused_tls12(void **state)
{
	old_ticket_refused(PRIO_TLS12);
}

static void test_old_ticket_refused_tls13(void **state)
{
	old_ticket_refused(PRIO_TLS13);
}

/* The key's age: due after the lifetime, kept across a reload, reset by a rotation. */
static void test_ticket_key_expiry(void **state)
{
	struct tls_server *srv = load_lifetime(&ecdsa, NULL, 1), *reloaded;
	const char *error = NULL;

	assert_false(tls_server_ticket_key_expired(srv));
	usleep(2100 * 1000);
	assert_true(tls_server_ticket_key_expired(srv));
	reloaded = load_lifetime(&ecdsa2, srv, 1);
	assert_true(tls_server_ticket_key_expired(reloaded));
	assert_int_equal(tls_server_rotate_ticket_key(reloaded, &error), 0);
	assert_false(tls_server_ticket_key_expired(reloaded));
	tls_server_free(&srv);
	tls_server_free(&reloaded);
	srv = load_ok(&ecdsa, NULL); /* the default: 12 hours */
	assert_false(tls_server_ticket_key_expired(srv));
	tls_server_free(&srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_resume_tls12_other_worker),
	    cmocka_unit_test(test_resume_tls13_other_worker),
	    cmocka_unit_test(test_reload_keeps_ticket_key_tls12),
	    cmocka_unit_test(test_reload_keeps_ticket_key_tls13),
	    cmocka_unit_test(test_rotation_drops_old_tickets_tls12),
	    cmocka_unit_test(test_rotation_drops_old_tickets_tls13),
	    cmocka_unit_test(test_old_ticket_refused_tls12),
	    cmocka_unit_test(test_old_ticket_refused_tls13),
	    cmocka_unit_test(test_ticket_key_expiry),
	};

	return cmocka_run_group_tests(tests, tls_harness_setup, tls_harness_teardown);
}
