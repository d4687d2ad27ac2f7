/*
 * The key process (tls-harness.h): server/key.c's service runs in another child, as the daemon
 * does, and signs the handshakes of the server children, which hold no key; without it, or when
 * it dies mid-request, a handshake fails cleanly. And what tls_key_load and tls_key_sign accept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/tls-harness.h"

#include "server/key.h"
#include "server/tls.h"
#include "common/config.h"
#include "common/ipc.h"

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

/* ---- the key process ---- */

struct keyproc {
	pid_t pid;
	unsigned char token[KEY_TOKEN_LEN];
};

static int key_listen(struct sockaddr_un *sa, socklen_t *len_r)
{
	int fd, len;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	len = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "twofold-test-key-%ld-%ld",
	               (long)getpid(), (long)random());
	*len_r = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)sa, *len_r), 0);
	assert_int_equal(listen(fd, 16), 0);
	return fd;
}

static void key_on_term(int sig)
{
	key_service_quit = 1;
}

/* A key process for srv's certificate with cf's key, and the key client of the server children
 * to come pointed at it with token (a wrong one when bad_token). */
static void keyproc_start(struct keyproc *kp, const struct certfile *cf,
                          const struct tls_server *srv, bool bad_token)
{
	struct config *cfg = make_config(cf->cert, cf->key, NULL);
	struct sockaddr_un sa;
	socklen_t len;
	int fd = key_listen(&sa, &len);
	unsigned char wrong[KEY_TOKEN_LEN];

	gnutls_rnd(GNUTLS_RND_NONCE, kp->token, sizeof(kp->token));
	kp->pid = fork();
	assert_true(kp->pid >= 0);
	if (kp->pid == 0) {
		struct key_service_env env = {
		    .listen_fd = fd, .worker_uid = getuid(), .token = kp->token, .linger = 1};
		struct tls_key *key;
		const char *error;

		signal(SIGTERM, key_on_term);
		if (tls_key_load(cfg, srv, &key, &error) < 0)
			_exit(2);
		key_service_run(&env, key);
		tls_key_free(&key);
		_exit(0);
	}
	close(fd);
	config_free(&cfg);
	memcpy(wrong, kp->token, sizeof(wrong));
	wrong[0] ^= 1;
	key_client_setup(&sa, len, bad_token ? wrong : kp->token, 5);
}

static void keyproc_stop(struct keyproc *kp)
{
	int status;

	kill(kp->pid, SIGTERM);
	assert_int_equal(waitpid(kp->pid, &status, 0), kp->pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static struct tls_server *load_ext(const struct certfile *cf)
{
	struct config *cfg = make_config(cf->cert, "/nonexistent/key.pem", NULL);
	struct tls_server *srv = NULL;
	const char *error = NULL;

	cfg->tls_key_process = true; /* the key file is the key process's: never opened here */
	if (tls_server_load(cfg, NULL, &srv, &error) < 0)
		fail_msg("tls_server_load: %s", error);
	config_free(&cfg);
	return srv;
}

/* TLS 1.2 and 1.3, ECDSA and RSA: the worker signs nothing itself. */
static void test_key_process_signs_handshakes(void **state)
{
	const struct certfile *certs[] = {&ecdsa, &rsa};
	const char *prios[] = {PRIO_TLS13, PRIO_TLS12};

	for (size_t c = 0; c < 2; c++) {
		struct tls_server *srv = load_ext(certs[c]);
		struct keyproc kp;

		keyproc_start(&kp, certs[c], srv, false);
		for (size_t p = 0; p < 2; p++) {
			struct session_opts o = {.prio = prios[p], .expect_cert = certs[c]};

			good_session(srv, &o);
		}
		keyproc_stop(&kp);
		tls_server_free(&srv);
	}
}

/* Without a key process (or with one that does not know our token) a handshake fails cleanly:
 * an error for both sides, no hang. */
static void test_handshake_fails_without_the_key_process(void **state)
{
	struct tls_server *srv = load_ext(&ecdsa);
	struct keyproc kp;
	char buf[512];

	keyproc_start(&kp, &ecdsa, srv, true);
	assert_true(bad_session(srv, "pop3", PRIO_TLS13, NULL, buf, sizeof(buf)) < 0);
	assert_non_null(strstr(buf, "handshake-failed"));
	keyproc_stop(&kp);
	/* nobody listens there any more */
	assert_true(bad_session(srv, "pop3", PRIO_TLS12, NULL, buf, sizeof(buf)) < 0);
	assert_non_null(strstr(buf, "handshake-failed"));
	tls_server_free(&srv);
}

/* A key process that dies holding the request: the handshake in flight fails at once. */
static void test_key_process_dying_mid_request(void **state)
{
	struct tls_server *srv = load_ext(&ecdsa);
	struct sockaddr_un sa;
	socklen_t len;
	unsigned char token[KEY_TOKEN_LEN] = {0};
	int fd = key_listen(&sa, &len), status;
	pid_t pid = fork();
	char buf[512];
	time_t t0 = time(NULL);

	assert_true(pid >= 0);
	if (pid == 0) {
		struct pollfd p = {fd, POLLIN, 0};
		char req[IPC_MAX];
		int c;

		poll(&p, 1, 10000);
		c = accept(fd, NULL, NULL);
		(void)!read(c, req, sizeof(req)); /* takes the request, then dies */
		_exit(0);
	}
	close(fd);
	key_client_setup(&sa, len, token, 20);
	assert_true(bad_session(srv, "pop3", PRIO_TLS13, NULL, buf, sizeof(buf)) < 0);
	assert_non_null(strstr(buf, "handshake-failed"));
	assert_true(time(NULL) - t0 < 5);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	tls_server_free(&srv);
}

static void test_key_load_checks_the_pair(void **state)
{
	struct tls_server *srv = load_ext(&ecdsa);
	struct config *cfg = make_config(ecdsa.cert, ecdsa2.key, NULL);
	struct tls_key *key = NULL;
	const char *error = NULL;

	assert_int_equal(tls_key_load(cfg, srv, &key, &error), -1);
	assert_null(key);
	assert_non_null(strstr(error, ecdsa2.key));
	assert_non_null(strstr(error, "do not match"));
	assert_int_equal(tls_key_check(cfg, srv, &error), 0); /* key_process = no: not its job */
	cfg->tls_key_process = true;
	assert_int_equal(tls_key_check(cfg, srv, &error), -1);
	config_free(&cfg);
	cfg = make_config(ecdsa.cert, ecdsa.key, NULL);
	assert_int_equal(tls_key_load(cfg, srv, &key, &error), 0);
	tls_key_free(&key);
	assert_null(key);
	config_free(&cfg);
	tls_server_free(&srv);
}

/* The key process signs only what a handshake asks for: other flags are refused. */
static void test_key_sign_refuses_other_flags(void **state)
{
	struct tls_server *srv = load_ext(&rsa);
	struct config *cfg = make_config(rsa.cert, rsa.key, NULL);
	struct tls_key *key = NULL;
	unsigned char hash[32] = {1}, sig[KEY_SIG_MAX];
	size_t len;
	const char *error;

	assert_int_equal(tls_key_load(cfg, srv, &key, &error), 0);
	assert_int_equal(tls_key_sign(key, false, GNUTLS_SIGN_RSA_SHA256, 0, hash, sizeof(hash),
	                              sig, sizeof(sig), &len, &error),
	                 0);
	assert_int_equal(len, 256);
	assert_int_equal(tls_key_sign(key, false, GNUTLS_SIGN_RSA_SHA256,
	                              GNUTLS_PRIVKEY_SIGN_FLAG_TLS1_RSA, hash, sizeof(hash), sig,
	                              sizeof(sig), &len, &error),
	                 -1);
	assert_non_null(strstr(error, "refused"));
	assert_int_equal(tls_key_sign(key, false, GNUTLS_SIGN_RSA_SHA256, 0, hash, sizeof(hash),
	                              sig, 100, &len, &error),
	                 -1);
	tls_key_free(&key);
	config_free(&cfg);
	tls_server_free(&srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key_process_signs_handshakes),
	    cmocka_unit_test(test_handshake_fails_without_the_key_process),
	    cmocka_unit_test(test_key_process_dying_mid_request),
	    cmocka_unit_test(test_key_load_checks_the_pair),
	    cmocka_unit_test(test_key_sign_refuses_other_flags),
	};

	return cmocka_run_group_tests(tests, tls_harness_setup, tls_harness_teardown);
}
