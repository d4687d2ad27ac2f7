/* The harness of the TLS tests (tls-harness.h): certificates, the server side in a forked child,
 * a plain GnuTLS client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/tls-harness.h"

#include "server/conn.h"
#include "server/tls-test.h"
#include "common/config.h"
#include "common/xalloc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/x509.h>

char tmpdir[256];
struct certfile ecdsa, ecdsa2, rsa;

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

int tls_harness_setup(void **state)
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

int tls_harness_teardown(void **state)
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

struct config *make_config(const char *cert, const char *key, const char *priority)
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

struct tls_server *load_ok(const struct certfile *cf, const struct tls_server *keep)
{
	struct config *cfg = make_config(cf->cert, cf->key, NULL);
	struct tls_server *srv = NULL;
	const char *error = NULL;

	if (tls_server_load(cfg, keep, &srv, &error) < 0)
		fail_msg("tls_server_load: %s", error);
	config_free(&cfg);
	return srv;
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

void server_start(struct server_proc *sp, struct tls_server *srv, const char *alpn,
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
int server_finish(struct server_proc *sp, char *buf, size_t size)
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

int client_handshake(struct client *cl, int fd, const char *prio, const char *alpn,
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

void client_free(struct client *cl)
{
	gnutls_deinit(cl->session);
	gnutls_certificate_free_credentials(cl->cred);
}

/* Reads until "\r\n" ends what has been read; returns a malloc'd string. */
char *client_read_line(struct client *cl)
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

void client_send(struct client *cl, const char *s)
{
	assert_int_equal(gnutls_record_send(cl->session, s, strlen(s)), (ssize_t)strlen(s));
}

void client_expect(struct client *cl, const char *want)
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

/* One complete good session: handshake, greeting, echo, clean close; both sides checked. */
void good_session(struct tls_server *srv, const struct session_opts *o)
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
int bad_session(struct tls_server *srv, const char *server_alpn, const char *prio,
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
