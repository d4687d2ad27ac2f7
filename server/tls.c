/*
 * TLS over GnuTLS: the only file in the project that includes GnuTLS headers.
 *
 * The master loads credentials, priorities and one session-ticket key before forking, so every
 * worker encrypts and decrypts tickets with the same key and a client resumes on any worker
 * (TLS 1.2 tickets; TLS 1.3 PSK tickets, whose rotating keys GnuTLS derives from this one).
 * That key lives [tls] ticket_lifetime seconds: then the master makes a new one for the next
 * generation of workers (tls_server_rotate_ticket_key), so a leaked key opens a bounded window
 * of tickets, and a ticket older than the lifetime is refused by GnuTLS's own age check too.
 * Connections run non-blocking: the handshake waits with poll() against one deadline, and after
 * it the transport returns EAGAIN for conn.c to poll on, so no partial record can block a worker.
 *
 * The private key: the master loads only the certificates, with an external private key whose
 * sign callbacks ask the key process (server/key.h), so neither the master nor a worker ever
 * holds the key. The key process loads it (tls_key_load) and signs (tls_key_sign). With [tls]
 * key_process = no, the master loads the key and every worker inherits it, as a measure of what
 * the hop costs.
 */
#include "server/tls.h"
#include "server/tls-test.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/xalloc.h"
#include "server/key.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <poll.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Whatever the configured priority string says, nothing older than TLS 1.2, no DTLS, and no
 * static RSA key exchange (no forward secrecy; and the key process signs, it never decrypts). */
#define TLS_VERSION_FLOOR ":-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1:-VERS-DTLS-ALL:-RSA"
#define TLS_CHAIN_MAX     16 /* certificates in the cert file */

struct tls_server {
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	gnutls_datum_t ticket_key; /* secret: wiped on free */
	unsigned ticket_lifetime;  /* seconds */
	long ticket_born;          /* monotonic seconds when the key was made */
	int key_pk;                /* the certificate's public key: algorithm, bits, DER */
	unsigned key_bits;
	gnutls_datum_t key_der;
};

struct tls_key {
	gnutls_privkey_t key;
};

struct tls_conn {
	gnutls_session_t session;
	int fd;
};

/* Error text that names a file or a position; the processes using it are single-threaded. */
static char tls_error_buf[512];

static const char *tls_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static const char *tls_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tls_error_buf, sizeof(tls_error_buf), fmt, ap);
	va_end(ap);
	return tls_error_buf;
}

void tls_global_init(void)
{
	int ret = gnutls_global_init();

	if (ret < 0) {
		fprintf(stderr, "gnutls_global_init: %s\n", gnutls_strerror(ret));
		exit(1);
	}
}

static void tls_ticket_key_copy(gnutls_datum_t *dst, const gnutls_datum_t *src)
{
	dst->data = xmalloc(src->size);
	memcpy(dst->data, src->data, src->size);
	dst->size = src->size;
}

static int tls_ticket_key_init(struct tls_server *srv, const struct tls_server *keep,
                               const char **error_r)
{
	gnutls_datum_t key;
	int ret;

	if (keep != NULL) {
		tls_ticket_key_copy(&srv->ticket_key, &keep->ticket_key);
		srv->ticket_born = keep->ticket_born;
		return 0;
	}
	ret = gnutls_session_ticket_key_generate(&key);
	if (ret < 0) {
		*error_r = tls_error("session ticket key: %s", gnutls_strerror(ret));
		return -1;
	}
	/* keep it in our own allocation so freeing never depends on gnutls_free */
	tls_ticket_key_copy(&srv->ticket_key, &key);
	sodium_memzero(key.data, key.size);
	gnutls_free(key.data);
	srv->ticket_born = clock_now_ms() / 1000;
	return 0;
}

bool tls_server_ticket_key_expired(const struct tls_server *srv)
{
	return clock_now_ms() / 1000 - srv->ticket_born >= (long)srv->ticket_lifetime;
}

int tls_server_rotate_ticket_key(struct tls_server *srv, const char **error_r)
{
	gnutls_datum_t old = srv->ticket_key;

	if (tls_ticket_key_init(srv, NULL, error_r) < 0) {
		srv->ticket_key = old;
		return -1;
	}
	xfree_secret(old.data, old.size);
	return 0;
}

void tls_server_drop_ticket_key(struct tls_server *srv)
{
	if (srv->ticket_key.data != NULL)
		sodium_memzero(srv->ticket_key.data, srv->ticket_key.size);
}

static int tls_priority_init(struct tls_server *srv, const char *priority, const char **error_r)
{
	char *full = xasprintf("%s%s", priority, TLS_VERSION_FLOOR);
	const unsigned *list;
	const char *err_pos = NULL;
	int ret, n;

	ret = gnutls_priority_init(&srv->prio, full, &err_pos);
	if (ret < 0) {
		size_t at = err_pos != NULL && err_pos >= full ? (size_t)(err_pos - full) : 0;

		if (ret == GNUTLS_E_NO_PRIORITIES_WERE_SET)
			*error_r = "priority: enables neither TLS 1.2 nor TLS 1.3";
		else if (ret == GNUTLS_E_INVALID_REQUEST && at < strlen(priority))
			*error_r = tls_error("priority: invalid at \"%.60s\"", priority + at);
		else
			*error_r = tls_error("priority: %s", gnutls_strerror(ret));
		srv->prio = NULL;
		free(full);
		return -1;
	}
	free(full);
	n = gnutls_priority_protocol_list(srv->prio, &list);
	if (n <= 0) {
		*error_r = "priority: enables neither TLS 1.2 nor TLS 1.3";
		return -1;
	}
	return 0;
}

/* ---- the external private key: workers ask the key process ---- */

static int tls_ext_sign(bool data, gnutls_sign_algorithm_t algo, unsigned flags,
                        const gnutls_datum_t *in, gnutls_datum_t *sig)
{
	unsigned char buf[KEY_SIG_MAX];
	size_t len;

	if (key_client_sign(data ? KEY_SIGN_DATA : KEY_SIGN_HASH, (unsigned)algo, flags, in->data,
	                    in->size, buf, sizeof(buf), &len) < 0)
		return GNUTLS_E_PK_SIGN_FAILED;
	sig->data = gnutls_malloc(len);
	if (sig->data == NULL)
		return GNUTLS_E_MEMORY_ERROR;
	memcpy(sig->data, buf, len);
	sig->size = (unsigned)len;
	return 0;
}

static int tls_ext_sign_data(gnutls_privkey_t key, gnutls_sign_algorithm_t algo, void *userdata,
                             unsigned flags, const gnutls_datum_t *data, gnutls_datum_t *sig)
{
	return tls_ext_sign(true, algo, flags, data, sig);
}

static int tls_ext_sign_hash(gnutls_privkey_t key, gnutls_sign_algorithm_t algo, void *userdata,
                             unsigned flags, const gnutls_datum_t *hash, gnutls_datum_t *sig)
{
	return tls_ext_sign(false, algo, flags, hash, sig);
}

/* What GnuTLS asks of a key it cannot see: taken from the certificate's public key. */
static int tls_ext_info(gnutls_privkey_t key, unsigned flags, void *userdata)
{
	const struct tls_server *srv = userdata;

	if (flags & GNUTLS_PRIVKEY_INFO_HAVE_SIGN_ALGO)
		return gnutls_sign_supports_pk_algorithm(GNUTLS_FLAGS_TO_SIGN_ALGO(flags),
		                                         (gnutls_pk_algorithm_t)srv->key_pk);
	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO_BITS)
		return (int)srv->key_bits;
	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO)
		return srv->key_pk;
	return GNUTLS_E_UNKNOWN_PK_ALGORITHM; /* no preferred signature algorithm */
}

/* The certificate's public key, remembered for tls_ext_info and for the key process to match
 * its key against. */
static int tls_pubkey_keep(struct tls_server *srv, gnutls_pubkey_t pub, const char **error_r)
{
	int ret = gnutls_pubkey_get_pk_algorithm(pub, &srv->key_bits);

	if (ret < 0 || (ret = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &srv->key_der)) < 0) {
		*error_r = tls_error("certificate public key: %s", gnutls_strerror(ret));
		return -1;
	}
	srv->key_pk = gnutls_pubkey_get_pk_algorithm(pub, NULL);
	return 0;
}

static void tls_pcerts_free(gnutls_pcert_st *pcerts, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		gnutls_pcert_deinit(&pcerts[i]);
}

/* Certificates from the file and an external key: nothing secret is loaded. */
static int tls_cred_set_ext(struct tls_server *srv, const struct config *cfg,
                            const char **error_r)
{
	gnutls_pcert_st pcerts[TLS_CHAIN_MAX];
	unsigned n = TLS_CHAIN_MAX;
	gnutls_privkey_t key = NULL;
	int ret;

	ret = gnutls_pcert_list_import_x509_file(pcerts, &n, cfg->tls_cert, GNUTLS_X509_FMT_PEM,
	                                         NULL, NULL, 0);
	if (ret < 0) {
		*error_r = tls_error("cert %s: %s", cfg->tls_cert, gnutls_strerror(ret));
		return -1;
	}
	if (tls_pubkey_keep(srv, pcerts[0].pubkey, error_r) < 0) {
		tls_pcerts_free(pcerts, n);
		return -1;
	}
	/* GnuTLS would sign a test message to match key and certificate: the key process does
	 * that match when it loads the key */
	gnutls_certificate_set_flags(srv->cred, GNUTLS_CERTIFICATE_SKIP_KEY_CERT_MATCH);
	if ((ret = gnutls_privkey_init(&key)) < 0 ||
	    (ret = gnutls_privkey_import_ext4(key, srv, tls_ext_sign_data, tls_ext_sign_hash, NULL,
	                                      NULL, tls_ext_info, 0)) < 0 ||
	    (ret = gnutls_certificate_set_key(srv->cred, NULL, 0, pcerts, (int)n, key)) < 0) {
		*error_r = tls_error("cert %s: %s", cfg->tls_cert, gnutls_strerror(ret));
		gnutls_privkey_deinit(key);
		tls_pcerts_free(pcerts, n);
		return -1;
	}
	return 0;
}

static int tls_cred_set_file(struct tls_server *srv, const struct config *cfg,
                             const char **error_r)
{
	int ret = gnutls_certificate_set_x509_key_file2(srv->cred, cfg->tls_cert, cfg->tls_key,
	                                                GNUTLS_X509_FMT_PEM, NULL, 0);

	if (ret < 0) {
		*error_r = tls_error("cert %s / key %s: %s", cfg->tls_cert, cfg->tls_key,
		                     gnutls_strerror(ret));
		return -1;
	}
	return 0;
}

static int tls_cred_init(struct tls_server *srv, const struct config *cfg, const char **error_r)
{
	int ret;

	if (cfg->tls_cert == NULL || cfg->tls_key == NULL) {
		*error_r = "cert and key are required";
		return -1;
	}
	ret = gnutls_certificate_allocate_credentials(&srv->cred);
	if (ret < 0) {
		srv->cred = NULL;
		*error_r = tls_error("TLS credentials: %s", gnutls_strerror(ret));
		return -1;
	}
	if (cfg->tls_key_process ? tls_cred_set_ext(srv, cfg, error_r) < 0
	                         : tls_cred_set_file(srv, cfg, error_r) < 0)
		return -1;
	/* only used if the priority string enables finite-field DHE */
	gnutls_certificate_set_known_dh_params(srv->cred, GNUTLS_SEC_PARAM_MEDIUM);
	return 0;
}

int tls_server_load(const struct config *cfg, const struct tls_server *keep_ticket_key_from,
                    struct tls_server **srv_r, const char **error_r)
{
	struct tls_server *srv = xcalloc(1, sizeof(*srv));
	const char *priority = cfg->tls_priority != NULL ? cfg->tls_priority : "NORMAL";

	srv->ticket_lifetime = cfg->tls_ticket_lifetime > 0 ? cfg->tls_ticket_lifetime : 12 * 3600;
	if (tls_priority_init(srv, priority, error_r) < 0 || tls_cred_init(srv, cfg, error_r) < 0 ||
	    tls_ticket_key_init(srv, keep_ticket_key_from, error_r) < 0) {
		tls_server_free(&srv);
		return -1;
	}
	*srv_r = srv;
	return 0;
}

void tls_server_free(struct tls_server **srvp)
{
	struct tls_server *srv = *srvp;

	if (srv == NULL)
		return;
	if (srv->ticket_key.data != NULL)
		xfree_secret(srv->ticket_key.data, srv->ticket_key.size);
	if (srv->cred != NULL)
		gnutls_certificate_free_credentials(srv->cred);
	if (srv->prio != NULL)
		gnutls_priority_deinit(srv->prio);
	gnutls_free(srv->key_der.data);
	free(srv);
	*srvp = NULL;
}

/* ---- the key process's side ---- */

/* Reads and parses the key file; the file's bytes are wiped before they are freed. */
static int tls_key_read(const char *path, gnutls_privkey_t key, const char **error_r)
{
	gnutls_datum_t pem = {NULL, 0};
	int ret = gnutls_load_file(path, &pem);

	if (ret >= 0)
		ret = gnutls_privkey_import_x509_raw(key, &pem, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (pem.data != NULL) {
		sodium_memzero(pem.data, pem.size);
		gnutls_free(pem.data);
	}
	if (ret < 0) {
		*error_r = tls_error("key %s: %s", path, gnutls_strerror(ret));
		return -1;
	}
	return 0;
}

/* 0 when key is the private half of the certificate's public key. */
static int tls_key_match(gnutls_privkey_t key, const struct tls_server *srv, const char *path,
                         const char **error_r)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t der = {NULL, 0};
	int ret = gnutls_pubkey_init(&pub);

	if (ret >= 0)
		ret = gnutls_pubkey_import_privkey(pub, key, 0, 0);
	if (ret >= 0)
		ret = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der);
	gnutls_pubkey_deinit(pub);
	if (ret >= 0 && (der.size != srv->key_der.size ||
	                 memcmp(der.data, srv->key_der.data, der.size) != 0))
		ret = GNUTLS_E_CERTIFICATE_KEY_MISMATCH;
	gnutls_free(der.data);
	if (ret < 0) {
		*error_r = tls_error("key %s: %s", path, gnutls_strerror(ret));
		return -1;
	}
	return 0;
}

int tls_key_load(const struct config *cfg, const struct tls_server *srv, struct tls_key **key_r,
                 const char **error_r)
{
	struct tls_key *k = xcalloc(1, sizeof(*k));
	int ret = gnutls_privkey_init(&k->key);

	if (ret < 0) {
		*error_r = tls_error("key: %s", gnutls_strerror(ret));
		free(k);
		return -1;
	}
	if (tls_key_read(cfg->tls_key, k->key, error_r) < 0 ||
	    tls_key_match(k->key, srv, cfg->tls_key, error_r) < 0) {
		tls_key_free(&k);
		return -1;
	}
	*key_r = k;
	return 0;
}

void tls_key_free(struct tls_key **kp)
{
	if (*kp == NULL)
		return;
	gnutls_privkey_deinit((*kp)->key);
	free(*kp);
	*kp = NULL;
}

int tls_key_check(const struct config *cfg, const struct tls_server *srv, const char **error_r)
{
	struct tls_key *k;

	if (!cfg->tls_key_process)
		return 0; /* tls_server_load has loaded and matched it */
	if (tls_key_load(cfg, srv, &k, error_r) < 0)
		return -1;
	tls_key_free(&k);
	return 0;
}

/* Only what a TLS 1.2/1.3 handshake asks of a key: RSA-PSS and reproducible signatures. */
#define TLS_KEY_FLAGS (GNUTLS_PRIVKEY_SIGN_FLAG_RSA_PSS | GNUTLS_PRIVKEY_FLAG_REPRODUCIBLE)

int tls_key_sign(struct tls_key *k, bool data, unsigned algo, unsigned flags, const void *input,
                 size_t len, unsigned char *sig, size_t size, size_t *sig_len_r,
                 const char **error_r)
{
	gnutls_datum_t in = {(unsigned char *)input, (unsigned)len}, out = {NULL, 0};
	int ret;

	if ((flags & ~TLS_KEY_FLAGS) != 0) {
		*error_r = tls_error("sign flags 0x%x refused", flags);
		return -1;
	}
	ret = data ? gnutls_privkey_sign_data2(k->key, (gnutls_sign_algorithm_t)algo, flags, &in,
	                                       &out)
	           : gnutls_privkey_sign_hash2(k->key, (gnutls_sign_algorithm_t)algo, flags, &in,
	                                       &out);
	if (ret >= 0 && out.size > size)
		ret = GNUTLS_E_SHORT_MEMORY_BUFFER;
	if (ret < 0) {
		*error_r = tls_error("%s: %s", gnutls_sign_get_name((gnutls_sign_algorithm_t)algo),
		                     gnutls_strerror(ret));
		gnutls_free(out.data);
		return -1;
	}
	memcpy(sig, out.data, out.size);
	*sig_len_r = out.size;
	gnutls_free(out.data);
	return 0;
}

static int tls_session_init(struct tls_server *srv, struct tls_conn *tc, const char *alpn,
                            const char **error_r)
{
	gnutls_datum_t proto = {(unsigned char *)alpn, (unsigned)strlen(alpn)};
	int ret;

	ret = gnutls_init(&tc->session, GNUTLS_SERVER | GNUTLS_NO_SIGNAL);
	if (ret < 0) {
		tc->session = NULL;
		*error_r = gnutls_strerror(ret);
		return -1;
	}
	/* before enabling tickets: GnuTLS times its internal key steps by it */
	gnutls_db_set_cache_expiration(tc->session, (int)srv->ticket_lifetime);
	if ((ret = gnutls_priority_set(tc->session, srv->prio)) < 0 ||
	    (ret = gnutls_credentials_set(tc->session, GNUTLS_CRD_CERTIFICATE, srv->cred)) < 0 ||
	    (ret = gnutls_session_ticket_enable_server(tc->session, &srv->ticket_key)) < 0 ||
	    (ret = gnutls_alpn_set_protocols(tc->session, &proto, 1, GNUTLS_ALPN_MANDATORY)) < 0) {
		*error_r = gnutls_strerror(ret);
		return -1;
	}
	gnutls_certificate_server_set_request(tc->session, GNUTLS_CERT_IGNORE);
	gnutls_transport_set_int(tc->session, tc->fd);
	return 0;
}

/* Waits for the direction GnuTLS is blocked on. 1 go on, 0 deadline passed, -1 error. */
static int tls_wait(struct tls_conn *tc, long deadline_ms)
{
	struct pollfd p = {tc->fd, gnutls_record_get_direction(tc->session) ? POLLOUT : POLLIN, 0};
	long left = deadline_ms - clock_now_ms();

	if (left <= 0)
		return 0;
	if (poll(&p, 1, (int)(left > 60000 ? 60000 : left)) < 0 && errno != EINTR)
		return -1;
	return 1; /* ready, interrupted or timed out: the caller's next round checks the deadline */
}

static int tls_handshake_run(struct tls_conn *tc, unsigned timeout_s, const char **error_r)
{
	long deadline = clock_now_ms() + (long)timeout_s * 1000L;
	int ret, w;

	for (;;) {
		ret = gnutls_handshake(tc->session);
		if (ret == GNUTLS_E_SUCCESS)
			return 0;
		if (gnutls_error_is_fatal(ret) != 0) {
			gnutls_alert_send_appropriate(tc->session, ret);
			*error_r = gnutls_strerror(ret);
			return -1;
		}
		/* EAGAIN, EINTR or a warning alert: wait for the socket unless time is up */
		w = ret == GNUTLS_E_AGAIN ? tls_wait(tc, deadline) : clock_now_ms() < deadline;
		if (w == 0) {
			*error_r = "TLS handshake timed out";
			return -1;
		}
		if (w < 0) {
			*error_r = "TLS handshake: poll failed";
			return -1;
		}
	}
}

int tls_conn_handshake(struct tls_server *srv, int fd, const char *alpn, unsigned timeout_s,
                       struct tls_conn **conn_r, const char **error_r)
{
	struct tls_conn *tc = xcalloc(1, sizeof(*tc));
	int flags = fcntl(fd, F_GETFL);

	tc->fd = fd;
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		*error_r = "TLS handshake: fcntl(O_NONBLOCK) failed";
		free(tc);
		return -1;
	}
	if (tls_session_init(srv, tc, alpn, error_r) < 0 ||
	    tls_handshake_run(tc, timeout_s, error_r) < 0) {
		if (tc->session != NULL)
			gnutls_deinit(tc->session);
		free(tc);
		return -1;
	}
	*conn_r = tc;
	return 0;
}

static ssize_t tls_transport_result(struct tls_conn *tc, ssize_t ret)
{
	if (ret >= 0)
		return ret;
	switch (ret) {
	case GNUTLS_E_AGAIN:
		errno = EAGAIN;
		return -1;
	case GNUTLS_E_INTERRUPTED:
	case GNUTLS_E_WARNING_ALERT_RECEIVED:
		errno = EINTR;
		return -1;
	case GNUTLS_E_REHANDSHAKE:
		/* a TLS 1.2 client asked to renegotiate: decline and carry on */
		gnutls_alert_send(tc->session, GNUTLS_AL_WARNING, GNUTLS_A_NO_RENEGOTIATION);
		errno = EINTR;
		return -1;
	case GNUTLS_E_PREMATURE_TERMINATION:
		return 0; /* closed without close_notify: an EOF all the same */
	default:
		errno = EIO;
		return -1;
	}
}

static ssize_t tls_transport_read(void *ctx, void *buf, size_t len)
{
	struct tls_conn *tc = ctx;

	return tls_transport_result(tc, gnutls_record_recv(tc->session, buf, len));
}

static ssize_t tls_transport_write(void *ctx, const void *buf, size_t len)
{
	struct tls_conn *tc = ctx;

	return tls_transport_result(tc, gnutls_record_send(tc->session, buf, len));
}

static size_t tls_transport_pending(void *ctx)
{
	struct tls_conn *tc = ctx;

	return gnutls_record_check_pending(tc->session);
}

void tls_conn_transport(struct tls_conn *tc, struct conn_transport *t_r)
{
	t_r->read = tls_transport_read;
	t_r->write = tls_transport_write;
	t_r->pending = tls_transport_pending;
	t_r->ctx = tc;
	t_r->fd = tc->fd;
}

int tls_conn_resumed(const struct tls_conn *tc)
{
	return gnutls_session_is_resumed(tc->session) != 0;
}

void tls_conn_close(struct tls_conn **tcp)
{
	struct tls_conn *tc = *tcp;

	if (tc == NULL)
		return;
	(void)gnutls_bye(tc->session, GNUTLS_SHUT_WR); /* one try: never wait on the peer */
	gnutls_deinit(tc->session);
	free(tc);
	*tcp = NULL;
}

/* ---- the portal (libmicrohttpd runs its own GnuTLS sessions) ---- */

/* What the portal's certificate callback hands out; one portal per process, and GnuTLS does
 * not free what a retrieve_function2 returns, so these live as long as the process. */
static gnutls_pcert_st tls_portal_pcerts[16];
static unsigned tls_portal_npcerts;
static gnutls_privkey_t tls_portal_key;

static int tls_portal_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn,
                               int nreqs, const gnutls_pk_algorithm_t *pk_algos,
                               int pk_algos_length, gnutls_pcert_st **pcert,
                               unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
	if (tls_portal_npcerts == 0)
		return -1;
	*pcert = tls_portal_pcerts;
	*pcert_length = tls_portal_npcerts;
	*pkey = tls_portal_key;
	return 0;
}

/* The chain, read from [tls] cert as root before the portal is chrooted. */
static int tls_portal_chain(const struct config *cfg, const char **error_r)
{
	unsigned n = sizeof(tls_portal_pcerts) / sizeof(tls_portal_pcerts[0]);
	int ret = gnutls_pcert_list_import_x509_file(tls_portal_pcerts, &n, cfg->tls_cert,
	                                             GNUTLS_X509_FMT_PEM, NULL, NULL, 0);

	if (ret < 0) {
		*error_r = tls_error("portal certificate %s: %s", cfg->tls_cert, gnutls_strerror(ret));
		return -1;
	}
	tls_portal_npcerts = n;
	return 0;
}

/* With the key process, the same external key as the workers' (it signs over IPC); without,
 * a copy of the key the master loaded. */
static int tls_portal_privkey(struct tls_server *srv, const struct config *cfg,
                              const char **error_r)
{
	gnutls_x509_privkey_t x509 = NULL;
	int ret = gnutls_privkey_init(&tls_portal_key);

	if (ret >= 0 && cfg->tls_key_process)
		ret = gnutls_privkey_import_ext4(tls_portal_key, srv, tls_ext_sign_data,
		                                 tls_ext_sign_hash, NULL, NULL, tls_ext_info, 0);
	else if (ret >= 0 && (ret = gnutls_certificate_get_x509_key(srv->cred, 0, &x509)) >= 0)
		ret = gnutls_privkey_import_x509(tls_portal_key, x509, GNUTLS_PRIVKEY_IMPORT_COPY);
	if (x509 != NULL)
		gnutls_x509_privkey_deinit(x509);
	if (ret < 0) {
		*error_r = tls_error("portal key: %s", gnutls_strerror(ret));
		return -1;
	}
	return 0;
}

int tls_server_portal_init(struct tls_server *srv, const struct config *cfg,
                           struct tls_portal *portal_r, const char **error_r)
{
	const char *priority = cfg->tls_priority != NULL ? cfg->tls_priority : "NORMAL";

	if (tls_portal_npcerts == 0 &&
	    (tls_portal_chain(cfg, error_r) < 0 || tls_portal_privkey(srv, cfg, error_r) < 0))
		return -1;
	portal_r->cert_callback = (void *)tls_portal_retrieve;
	portal_r->priority = xasprintf("%s%s", priority, TLS_VERSION_FLOOR);
	return 0;
}
