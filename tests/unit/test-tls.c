/*
 * server/tls.c against a real GnuTLS client over a socketpair (tls-harness.h): loading the
 * certificate, key and priorities, the handshakes (versions, ALPN), the handshake deadline, a
 * plaintext client, and the transport (large responses, pipelined lines). The key is loaded in
 * the process ([tls] key_process = no); session tickets are test-tls-tickets.c's, the key process
 * test-tls-key.c's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/tls-harness.h"

#include "server/tls.h"
#include "common/config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

static const char *load_fails(const char *cert, const char *key, const char *priority)
{
	struct config *cfg = make_config(cert, key, priority);
	struct tls_server *srv = NULL;
	const char *error = NULL;

	assert_int_equal(tls_server_load(cfg, NULL, &srv, &error), -1);
	assert_null(srv);
	assert_non_null(error);
	config_free(&cfg);
	return error;
}

/* ---- loading ---- */

static void test_load_ecdsa_and_rsa(void **state)
{
	struct tls_server *a = load_ok(&ecdsa, NULL), *b = load_ok(&rsa, a);

	assert_non_null(a);
	assert_non_null(b);
	tls_server_free(&a);
	tls_server_free(&b);
	assert_null(a);
	assert_null(b);
	tls_server_free(&a); /* NULL is fine */
}

static void test_load_missing_file(void **state)
{
	char missing[600];
	const char *error;

	snprintf(missing, sizeof(missing), "%s/nonexistent.pem", tmpdir);
	error = load_fails(missing, ecdsa.key, NULL);
	assert_non_null(strstr(error, missing));
	error = load_fails(ecdsa.cert, missing, NULL);
	assert_non_null(strstr(error, missing));
}

static void test_load_key_mismatch(void **state)
{
	const char *error = load_fails(ecdsa.cert, ecdsa2.key, NULL);

	assert_non_null(strstr(error, ecdsa.cert));
	error = load_fails(ecdsa.cert, rsa.key, NULL);
	assert_non_null(strstr(error, ecdsa.cert));
}

static void test_load_not_pem(void **state)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/garbage.pem", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("this is not a certificate\n", f);
	fclose(f);
	assert_non_null(strstr(load_fails(path, ecdsa.key, NULL), path));
	assert_non_null(strstr(load_fails(ecdsa.cert, path, NULL), path));
	unlink(path);
}

static void test_load_bad_priority(void **state)
{
	const char *error = load_fails(ecdsa.cert, ecdsa.key, "NORMAL:+BOGUS-CIPHER");

	assert_non_null(strstr(error, "priority: invalid at"));
	assert_non_null(strstr(error, "BOGUS-CIPHER"));
}

static void test_load_priority_only_old_versions(void **state)
{
	const char *error = load_fails(ecdsa.cert, ecdsa.key, "NORMAL:-VERS-ALL:+VERS-TLS1.1");

	assert_non_null(strstr(error, "neither TLS 1.2 nor TLS 1.3"));
}

/* ---- handshakes ---- */

static void test_tls13_alpn_pop3(void **state)
{
	struct tls_server *srv = load_ok(&ecdsa, NULL);
	struct session_opts o = {.prio = PRIO_TLS13, .client_alpn = "pop3", .expect_cert = &ecdsa};

	good_session(srv, &o);
	tls_server_free(&srv);
}

static void test_tls12_no_alpn(void **state)
{
	struct tls_server *srv = load_ok(&ecdsa, NULL);
	struct session_opts o = {.prio = PRIO_TLS12, .expect_cert = &ecdsa};

	good_session(srv, &o);
	tls_server_free(&srv);
}

static void test_rsa_certificate(void **state)
{
	struct tls_server *srv = load_ok(&rsa, NULL);
	struct session_opts o13 = {.prio = PRIO_TLS13, .expect_cert = &rsa};
	struct session_opts o12 = {.prio = PRIO_TLS12, .client_alpn = "pop3", .expect_cert = &rsa};

	good_session(srv, &o13);
	good_session(srv, &o12);
	tls_server_free(&srv);
}

static void test_alpn_http_refused(void **state)
{
	struct tls_server *srv = load_ok(&ecdsa, NULL);
	char buf[512];
	int ret;

	ret = bad_session(srv, "pop3", PRIO_TLS13, "http/1.1", buf, sizeof(buf));
	assert_int_equal(ret, -1000 - GNUTLS_A_NO_APPLICATION_PROTOCOL);
	assert_non_null(strstr(buf, "handshake-failed"));
	ret = bad_session(srv, "pop3", PRIO_TLS12, "http/1.1", buf, sizeof(buf));
	assert_int_equal(ret, -1000 - GNUTLS_A_NO_APPLICATION_PROTOCOL);
	tls_server_free(&srv);
}

static void test_alpn_other_protocol_refused(void **state)
{
	struct tls_server *srv = load_ok(&ecdsa, NULL);
	char buf[512];

	assert_int_equal(bad_session(srv, "pop3", PRIO_TLS13, "imap", buf, sizeof(buf)),
	                 -1000 - GNUTLS_A_NO_APPLICATION_PROTOCOL);
	assert_int_equal(bad_session(srv, "imap", PRIO_TLS13, "pop3", buf, sizeof(buf)),
	                 -1000 - GNUTLS_A_NO_APPLICATION_PROTOCOL);
	tls_server_free(&srv);
}

static void test_tls11_refused(void **state)
{
	struct tls_server *srv = load_ok(&ecdsa, NULL);
	char buf[512];
	int ret;

	ret = bad_session(srv, "pop3", PRIO_TLS11, NULL, buf, sizeof(buf));
	assert_int_equal(ret, -1000 - GNUTLS_A_PROTOCOL_VERSION);
	assert_non_null(strstr(buf, "handshake-failed"));
	tls_server_free(&srv);
}

static void test_tls11_refused_even_if_configured(void **state)
{
	struct config *cfg =
	    make_config(ecdsa.cert, ecdsa.key, "NORMAL:+VERS-TLS1.1:+VERS-TLS1.0:+VERS-TLS1.2");
	struct tls_server *srv = NULL;
	const char *error = NULL;
	char buf[512];

	assert_int_equal(tls_server_load(cfg, NULL, &srv, &error), 0);
	assert_int_equal(bad_session(srv, "pop3", PRIO_TLS11, NULL, buf, sizeof(buf)),
	                 -1000 - GNUTLS_A_PROTOCOL_VERSION);
	tls_server_free(&srv);
	config_free(&cfg);
}

/* ---- timeouts, plaintext, transport ---- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_handshake_timeout_silent_client(void **state)
{
	struct tls_server *srv = load_ok(&ecdsa, NULL);
	struct tls_conn *tc = NULL;
	const char *error = NULL;
	int sv[2];
	double t0;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	t0 = now_s();
	assert_int_equal(tls_conn_handshake(srv, sv[1], "pop3", 1, &tc, &error), -1);
	assert_null(tc);
	assert_string_equal(error, "TLS handshake timed out");
	assert_true(now_s() - t0 >= 0.9);
	assert_true(now_s() - t0 < 3.0);
	close(sv[0]);
	close(sv[1]);
	tls_server_free(&srv);
}

/* A client dribbling a ClientHello one byte at a time cannot stretch the deadline. */
static void test_handshake_timeout_slow_client(void **state)
{
	static const unsigned char hello_start[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00,
	                                            0x01, 0xfc, 0x03, 0x03, 0,    0,    0};
	struct tls_server *srv = load_ok(&ecdsa, NULL);
	struct tls_conn *tc = NULL;
	const char *error = NULL;
	int sv[2];
	pid_t pid;
	double t0;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[1]);
		for (size_t i = 0; i < sizeof(hello_start); i++) {
			if (write(sv[0], hello_start + i, 1) != 1)
				_exit(0);
			usleep(200 * 1000);
		}
		_exit(0);
	}
	close(sv[0]);
	t0 = now_s();
	assert_int_equal(tls_conn_handshake(srv, sv[1], "pop3", 1, &tc, &error), -1);
	assert_string_equal(error, "TLS handshake timed out");
	assert_true(now_s() - t0 < 2.0);
	close(sv[1]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	tls_server_free(&srv);
}

static void test_plaintext_gets_no_greeting(void **state)
{
	struct tls_server *srv = load_ok(&ecdsa, NULL);
	struct server_proc sp;
	char buf[512], got[512];
	ssize_t n;
	double t0 = now_s();
	struct timeval tv = {10, 0};

	server_start(&sp, srv, "pop3", 10);
	setsockopt(sp.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(write(sp.fd, "USER x\r\n", 8), 8);
	n = read(sp.fd, got, sizeof(got) - 1);
	/* nothing, or a TLS alert record: never text */
	assert_true(n >= 0);
	if (n > 0)
		assert_int_equal((unsigned char)got[0], 0x15);
	assert_int_equal(server_finish(&sp, buf, sizeof(buf)), 1);
	assert_non_null(strstr(buf, "handshake-failed"));
	assert_true(now_s() - t0 < 5.0); /* failed at once, not by timeout */
	tls_server_free(&srv);
}

/* 1 MiB through a socketpair makes the non-blocking writes hit EAGAIN. */
static void test_large_response(void **state)
{
	struct tls_server *srv = load_ok(&ecdsa, NULL);
	struct server_proc sp;
	struct client cl;
	char buf[512];
	char *line;

	server_start(&sp, srv, "pop3", 10);
	assert_int_equal(client_handshake(&cl, sp.fd, PRIO_TLS13, "pop3", NULL), 0);
	client_expect(&cl, "+OK resumed=0");
	usleep(100 * 1000);
	client_send(&cl, "BIG\r\n");
	usleep(300 * 1000); /* let the server fill the socket buffer */
	line = client_read_line(&cl);
	assert_int_equal(strlen(line), BIG_SIZE);
	for (size_t i = 0; i < BIG_SIZE; i++)
		if (line[i] != (char)('a' + i % 4096 % 26))
			fail_msg("byte %zu differs", i);
	free(line);
	client_expect(&cl, "END");
	client_send(&cl, "after\r\n");
	client_expect(&cl, "ECHO after");
	client_free(&cl); /* no close_notify: the server still sees an EOF */
	assert_int_equal(server_finish(&sp, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "handshake-ok end=eof");
	tls_server_free(&srv);
}

/* Two commands in one TLS record: the second is pending inside GnuTLS, not on the fd. */
static void test_pipelined_lines(void **state)
{
	struct tls_server *srv = load_ok(&ecdsa, NULL);
	struct server_proc sp;
	struct client cl;
	char buf[512];

	server_start(&sp, srv, "pop3", 10);
	assert_int_equal(client_handshake(&cl, sp.fd, PRIO_TLS12, NULL, NULL), 0);
	client_expect(&cl, "+OK resumed=0");
	client_send(&cl, "one\r\ntwo\r\nthree\r\n");
	client_expect(&cl, "ECHO one");
	client_expect(&cl, "ECHO two");
	client_expect(&cl, "ECHO three");
	gnutls_bye(cl.session, GNUTLS_SHUT_WR);
	client_free(&cl);
	assert_int_equal(server_finish(&sp, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "handshake-ok end=eof");
	tls_server_free(&srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_load_ecdsa_and_rsa),
	    cmocka_unit_test(test_load_missing_file),
	    cmocka_unit_test(test_load_key_mismatch),
	    cmocka_unit_test(test_load_not_pem),
	    cmocka_unit_test(test_load_bad_priority),
	    cmocka_unit_test(test_load_priority_only_old_versions),
	    cmocka_unit_test(test_tls13_alpn_pop3),
	    cmocka_unit_test(test_tls12_no_alpn),
	    cmocka_unit_test(test_rsa_certificate),
	    cmocka_unit_test(test_alpn_http_refused),
	    cmocka_unit_test(test_alpn_other_protocol_refused),
	    cmocka_unit_test(test_tls11_refused),
	    cmocka_unit_test(test_tls11_refused_even_if_configured),
	    cmocka_unit_test(test_handshake_timeout_silent_client),
	    cmocka_unit_test(test_handshake_timeout_slow_client),
	    cmocka_unit_test(test_plaintext_gets_no_greeting),
	    cmocka_unit_test(test_large_response),
	    cmocka_unit_test(test_pipelined_lines),
	};

	return cmocka_run_group_tests(tests, tls_harness_setup, tls_harness_teardown);
}
