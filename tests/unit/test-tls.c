/*
 * server/tls.c against a real GnuTLS client over a socketpair. The server side of every
 * connection runs in a forked child, as in the daemon, so ticket resumption is shown to work
 * across processes that share only what the parent loaded before fork(). Most tests load the key
 * in the process ([tls] key_process = no); the key process tests run server/key.c's service in
 * another child, as the daemon does.
 */
#include "test-measure.h"

#include "server/tls.h"
#include "server/tls-test.h"
#include "server/conn.h"
#include "server/key.h"
#include "common/config.h"
#include "common/ipc.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <gnutls/abstract.h>

#define BIG_SIZE   (1024 * 1024)
#define PRIO_TLS13 "NORMAL:-VERS-ALL:+VERS-TLS1.3"
#define PRIO_TLS12 "NORMAL:-VERS-ALL:+VERS-TLS1.2"
#define PRIO_TLS11 "NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0"

struct certfile {
	char cert[512], key[512];
	gnutls_datum_t der;
};

static char tmpdir[256];
static struct certfile ecdsa, ecdsa2, rsa;

/* ---- certificates ---- */

static void write_datum(const char *path, const gnutls_datum_t *d)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(d->data, 1, d->size, f), d->size);
	assert_int_equal(fclose(f), 0);
}

static void make_cert(struct certfile *cf, const char *name, gnutls_pk_algorithm_t algo,
                      unsigned bits)
{
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt;
	gnutls_datum_t pem;
	unsigned char serial[8];
	time_t now = time(NULL);

	snprintf(cf->cert, sizeof(cf->cert), "%s/%s-cert.pem", tmpdir, name);
	snprintf(cf->key, sizeof(cf->key), "%s/%s-key.pem", tmpdir, name);
	assert_int_equal(gnutls_x509_privkey_init(&key), 0);
	assert_int_equal(gnutls_x509_privkey_generate(key, algo, bits, 0), 0);
	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	assert_int_equal(gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)), 0);
	serial[0] &= 0x7f;
	assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
	assert_int_equal(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)), 0);
	assert_int_equal(gnutls_x509_crt_set_activation_time(crt, now - 3600), 0);
	assert_int_equal(gnutls_x509_crt_set_expiration_time(crt, now + 86400), 0);
	assert_int_equal(
	    gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "localhost", 9), 0);
	assert_int_equal(gnutls_x509_crt_set_key(crt, key), 0);
	assert_int_equal(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), 0);
	assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem), 0);
	write_datum(cf->cert, &pem);
	gnutls_free(pem.data);
	assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &cf->der), 0);
	assert_int_equal(gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &pem), 0);
	write_datum(cf->key, &pem);
	gnutls_free(pem.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
}

static int group_setup(void **state)
{
	const char *base = getenv("TWOFOLD_TEST_TMP");

	if (base == NULL || *base == '\0')
		base = "/tmp";
	mkdir(base, 0700);
	snprintf(tmpdir, sizeof(tmpdir), "%s/test-tls.XXXXXX", base);
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	tls_global_init();
	make_cert(&ecdsa, "ecdsa", GNUTLS_PK_ECDSA,
	          GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1));
	make_cert(&ecdsa2, "ecdsa2", GNUTLS_PK_ECDSA,
	          GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1));
	make_cert(&rsa, "rsa", GNUTLS_PK_RSA, 2048);
	return 0;
}

static int group_teardown(void **state)
{
	const struct certfile *all[] = {&ecdsa, &ecdsa2, &rsa};

	for (size_t i = 0; i < 3; i++) {
		unlink(all[i]->cert);
		unlink(all[i]->key);
		gnutls_free(all[i]->der.data);
	}
	rmdir(tmpdir);
	return 0;
}

static struct config *make_config(const char *cert, const char *key, const char *priority)
{
	struct config *cfg = config_defaults();

	cfg->tls_key_process = false;
	free(cfg->tls_cert);
	free(cfg->tls_key);
	cfg->tls_cert = xstrdup(cert);
	cfg->tls_key = xstrdup(key);
	if (priority != NULL) {
		free(cfg->tls_priority);
		cfg->tls_priority = xstrdup(priority);
	}
	return cfg;
}

static struct tls_server *load_ok(const struct certfile *cf, const struct tls_server *keep)
{
	struct config *cfg = make_config(cf->cert, cf->key, NULL);
	struct tls_server *srv = NULL;
	const char *error = NULL;

	if (tls_server_load(cfg, keep, &srv, &error) < 0)
		fail_msg("tls_server_load: %s", error);
	config_free(&cfg);
	return srv;
}

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

/* ---- the server side: a forked "worker" ---- */

static void report(int pipefd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(int pipefd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (write(pipefd, msg, (size_t)n) != n)
		_exit(3);
}

static void serve_big(struct conn *c)
{
	char chunk[4096];

	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (char)('a' + i % 26);
	for (size_t sent = 0; sent < BIG_SIZE; sent += sizeof(chunk))
		conn_write(c, chunk, sizeof(chunk));
	conn_puts(c, "\r\nEND\r\n");
}

/* Greets, echoes lines, answers BIG with 1 MiB, reports how the session ended. */
static void serve_session(struct tls_conn *tc, int pipefd)
{
	struct conn_transport t;
	struct conn *c;
	char *line;
	ssize_t n;

	tls_conn_transport(tc, &t);
	c = conn_new(&t, "127.0.0.1");
	conn_printf(c, "+OK resumed=%d\r\n", tls_conn_resumed(tc));
	while ((n = conn_read_line(c, &line, 1000, 10)) >= 0) {
		if (strcmp(line, "BIG") == 0)
			serve_big(c);
		else
			conn_printf(c, "ECHO %s\r\n", line);
	}
	conn_flush(c);
	report(pipefd, " end=%s", n == CONN_EOF ? "eof" : n == CONN_TIMEOUT ? "timeout" : "error");
	conn_free(&c);
}

static void server_child(struct tls_server *srv, int fd, int pipefd, const char *alpn,
                         unsigned timeout_s)
{
	struct tls_conn *tc = NULL;
	const char *error = NULL;

	if (tls_conn_handshake(srv, fd, alpn, timeout_s, &tc, &error) < 0) {
		report(pipefd, "handshake-failed: %s", error);
		_exit(1);
	}
	report(pipefd, "handshake-ok");
	serve_session(tc, pipefd);
	tls_conn_close(&tc);
	assert_null(tc);
	close(fd);
	_exit(0);
}

struct server_proc {
	pid_t pid;
	int fd;     /* the client's end */
	int result; /* read end of the report pipe */
};

static void server_start(struct server_proc *sp, struct tls_server *srv, const char *alpn,
                         unsigned timeout_s)
{
	int sv[2], pp[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(pipe(pp), 0);
	sp->pid = fork();
	assert_true(sp->pid >= 0);
	if (sp->pid == 0) {
		close(sv[0]);
		close(pp[0]);
		server_child(srv, sv[1], pp[1], alpn, timeout_s);
	}
	close(sv[1]);
	close(pp[1]);
	sp->fd = sv[0];
	sp->result = pp[0];
}

/* Waits for the child; its report goes to buf. Returns the exit status. */
static int server_finish(struct server_proc *sp, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	int status;

	if (sp->fd >= 0)
		close(sp->fd);
	sp->fd = -1;
	while (len + 1 < size && (n = read(sp->result, buf + len, size - len - 1)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(sp->result);
	assert_int_equal(waitpid(sp->pid, &status, 0), sp->pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* ---- the client side: plain GnuTLS ---- */

struct client {
	gnutls_session_t session;
	gnutls_certificate_credentials_t cred;
};

static int client_handshake(struct client *cl, int fd, const char *prio, const char *alpn,
                            const gnutls_datum_t *resume)
{
	struct timeval tv = {10, 0};
	int ret;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(gnutls_certificate_allocate_credentials(&cl->cred), 0);
	assert_int_equal(gnutls_init(&cl->session, GNUTLS_CLIENT), 0);
	assert_int_equal(gnutls_priority_set_direct(cl->session, prio, NULL), 0);
	assert_int_equal(gnutls_credentials_set(cl->session, GNUTLS_CRD_CERTIFICATE, cl->cred), 0);
	if (alpn != NULL) {
		gnutls_datum_t p = {(unsigned char *)alpn, (unsigned)strlen(alpn)};

		assert_int_equal(gnutls_alpn_set_protocols(cl->session, &p, 1, 0), 0);
	}
	if (resume != NULL)
		assert_int_equal(gnutls_session_set_data(cl->session, resume->data, resume->size),
		                 0);
	gnutls_transport_set_int(cl->session, fd);
	gnutls_handshake_set_timeout(cl->session, 10000);
	do {
		ret = gnutls_handshake(cl->session);
	} while (ret < 0 && gnutls_error_is_fatal(ret) == 0);
	return ret;
}

static void client_free(struct client *cl)
{
	gnutls_deinit(cl->session);
	gnutls_certificate_free_credentials(cl->cred);
}

/* Reads until "\r\n" ends what has been read; returns a malloc'd string. */
static char *client_read_line(struct client *cl)
{
	size_t len = 0, size = 256;
	char *s = xmalloc(size);

	for (;;) {
		ssize_t n = gnutls_record_recv(cl->session, s + len, 1);

		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		assert_int_equal(n, 1);
		len++;
		if (len >= 2 && s[len - 2] == '\r' && s[len - 1] == '\n') {
			s[len - 2] = '\0';
			return s;
		}
		if (len + 1 >= size)
			s = xrealloc(s, size *= 2);
	}
}

static void client_send(struct client *cl, const char *s)
{
	assert_int_equal(gnutls_record_send(cl->session, s, strlen(s)), (ssize_t)strlen(s));
}

static void client_expect(struct client *cl, const char *want)
{
	char *line = client_read_line(cl);

	assert_string_equal(line, want);
	free(line);
}

static void assert_peer_cert(struct client *cl, const struct certfile *cf)
{
	unsigned n = 0;
	const gnutls_datum_t *peers = gnutls_certificate_get_peers(cl->session, &n);

	assert_int_equal(n, 1);
	assert_int_equal(peers[0].size, cf->der.size);
	assert_memory_equal(peers[0].data, cf->der.data, cf->der.size);
}

struct session_opts {
	const char *prio;
	const char *client_alpn;
	const gnutls_datum_t *resume;
	gnutls_datum_t *save; /* session data for a later resumption */
	const struct certfile *expect_cert;
	int expect_resumed;
};

/* One complete good session: handshake, greeting, echo, clean close; both sides checked. */
static void good_session(struct tls_server *srv, const struct session_opts *o)
{
	struct server_proc sp;
	struct client cl;
	char report_buf[512], want[64];
	int ret;

	server_start(&sp, srv, "pop3", 10);
	ret = client_handshake(&cl, sp.fd, o->prio, o->client_alpn, o->resume);
	if (ret < 0)
		fail_msg("client handshake: %s", gnutls_strerror(ret));
	snprintf(want, sizeof(want), "+OK resumed=%d", o->expect_resumed);
	client_expect(&cl, want);
	assert_int_equal(gnutls_session_is_resumed(cl.session) != 0, o->expect_resumed);
	if (o->expect_cert != NULL && !o->expect_resumed)
		assert_peer_cert(&cl, o->expect_cert);
	client_send(&cl, "hello\r\n");
	client_expect(&cl, "ECHO hello");
	if (o->save != NULL)
		assert_int_equal(gnutls_session_get_data2(cl.session, o->save), 0);
	gnutls_bye(cl.session, GNUTLS_SHUT_WR);
	client_free(&cl);
	assert_int_equal(server_finish(&sp, report_buf, sizeof(report_buf)), 0);
	assert_string_equal(report_buf, "handshake-ok end=eof");
}

/* A handshake that must fail: returns the client's error; the server's report goes to buf. */
static int bad_session(struct tls_server *srv, const char *server_alpn, const char *prio,
                       const char *client_alpn, char *buf, size_t size)
{
	struct server_proc sp;
	struct client cl;
	int ret;

	server_start(&sp, srv, server_alpn, 10);
	ret = client_handshake(&cl, sp.fd, prio, client_alpn, NULL);
	assert_true(ret < 0);
	assert_int_equal(server_finish(&sp, buf, size), 1);
	if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED)
		ret = -1000 - (int)gnutls_alert_get(cl.session);
	client_free(&cl);
	return ret;
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
	    cmocka_unit_test(test_resume_tls12_other_worker),
	    cmocka_unit_test(test_resume_tls13_other_worker),
	    cmocka_unit_test(test_reload_keeps_ticket_key_tls12),
	    cmocka_unit_test(test_reload_keeps_ticket_key_tls13),
	    cmocka_unit_test(test_rotation_drops_old_tickets_tls12),
	    cmocka_unit_test(test_rotation_drops_old_tickets_tls13),
	    cmocka_unit_test(test_old_ticket_refused_tls12),
	    cmocka_unit_test(test_old_ticket_refused_tls13),
	    cmocka_unit_test(test_ticket_key_expiry),
	    cmocka_unit_test(test_handshake_timeout_silent_client),
	    cmocka_unit_test(test_handshake_timeout_slow_client),
	    cmocka_unit_test(test_plaintext_gets_no_greeting),
	    cmocka_unit_test(test_large_response),
	    cmocka_unit_test(test_pipelined_lines),
	    cmocka_unit_test(test_key_process_signs_handshakes),
	    cmocka_unit_test(test_handshake_fails_without_the_key_process),
	    cmocka_unit_test(test_key_process_dying_mid_request),
	    cmocka_unit_test(test_key_load_checks_the_pair),
	    cmocka_unit_test(test_key_sign_refuses_other_flags),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
