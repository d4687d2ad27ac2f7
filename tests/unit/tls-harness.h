/* The harness of the TLS tests: certificates made for the test program in a private directory,
 * server/tls.c's server side of each connection in a forked child as in the daemon (it greets,
 * echoes lines, answers BIG with BIG_SIZE bytes and reports how the session ended), and a plain
 * GnuTLS client on the other end of a socketpair. Include after cmocka.h. */
#ifndef TWOFOLD_TEST_TLS_HARNESS_H
#define TWOFOLD_TEST_TLS_HARNESS_H

#include "server/tls.h"

#include <stddef.h>
#include <sys/types.h>

#include <gnutls/gnutls.h>

#define BIG_SIZE   (1024 * 1024)
#define PRIO_TLS13 "NORMAL:-VERS-ALL:+VERS-TLS1.3"
#define PRIO_TLS12 "NORMAL:-VERS-ALL:+VERS-TLS1.2"
#define PRIO_TLS11 "NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0"

struct certfile {
	char cert[512], key[512];
	gnutls_datum_t der;
};

/* The directory of the certificates, and the certificates: ECDSA, another ECDSA, RSA. */
extern char tmpdir[256];
extern struct certfile ecdsa, ecdsa2, rsa;

/* cmocka group setup and teardown: the directory, the certificates, GnuTLS set up. */
int tls_harness_setup(void **state);
int tls_harness_teardown(void **state);

/* A configuration that loads the key in the process ([tls] key_process = no); priority NULL
 * keeps the default. */
struct config *make_config(const char *cert, const char *key, const char *priority);
/* A server of cf's certificate and key, with keep's ticket key when not NULL. */
struct tls_server *load_ok(const struct certfile *cf, const struct tls_server *keep);

struct server_proc {
	pid_t pid;
	int fd;     /* the client's end */
	int result; /* read end of the report pipe */
};

/* A server child of srv on one end of a socketpair, its handshake offering alpn within
 * timeout_s seconds. */
void server_start(struct server_proc *sp, struct tls_server *srv, const char *alpn,
                  unsigned timeout_s);
/* Waits for the child; its report goes to buf. Returns the exit status. */
int server_finish(struct server_proc *sp, char *buf, size_t size);

struct client {
	gnutls_session_t session;
	gnutls_certificate_credentials_t cred;
};

/* The client's handshake on fd with priority prio, offering alpn and resuming resume when not
 * NULL; GnuTLS's result. */
int client_handshake(struct client *cl, int fd, const char *prio, const char *alpn,
                     const gnutls_datum_t *resume);
void client_free(struct client *cl);
/* Reads until "\r\n" ends what has been read; returns a malloc'd string. */
char *client_read_line(struct client *cl);
void client_send(struct client *cl, const char *s);
/* The next line must be want. */
void client_expect(struct client *cl, const char *want);

struct session_opts {
	const char *prio;
	const char *client_alpn;
	const gnutls_datum_t *resume;
	gnutls_datum_t *save; /* session data for a later resumption */
	const struct certfile *expect_cert;
	int expect_resumed;
};

/* One complete good session: handshake, greeting, echo, clean close; both sides checked. */
void good_session(struct tls_server *srv, const struct session_opts *o);
/* A handshake that must fail: returns the client's error; the server's report goes to buf. */
int bad_session(struct tls_server *srv, const char *server_alpn, const char *prio,
                const char *client_alpn, char *buf, size_t size);

#endif
