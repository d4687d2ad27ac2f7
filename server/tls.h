/* TLS for the daemon. server/tls.c is the only file that includes GnuTLS headers. */
#ifndef TWOFOLD_TLS_H
#define TWOFOLD_TLS_H

#include "server/conn.h"

#include <stdbool.h>
#include <stddef.h>

struct config;
struct tls_server; /* credentials, priorities and the session-ticket key */
struct tls_conn;
struct tls_key;    /* the private key, in the key process */

/* Once per process before anything else. */
void tls_global_init(void);

/* Loads [tls] cert/priority, and with [tls] key_process = no the key too (else the credentials
 * sign through the key process). The ticket key is taken from keep_ticket_key_from when not NULL
 * (reload keeps resumption working), else generated. Made in the master before forking so every
 * worker shares it. -1 with *error_r (static or from GnuTLS) on a bad file or priority string. */
int tls_server_load(const struct config *cfg, const struct tls_server *keep_ticket_key_from,
                    struct tls_server **srv_r, const char **error_r);
void tls_server_free(struct tls_server **srv);
/* True once the ticket key is [tls] ticket_lifetime seconds old (kept keys keep their age). */
bool tls_server_ticket_key_expired(const struct tls_server *srv);
/* Replaces the ticket key with a new one (the old one is wiped): tickets made with the old key
 * no longer resume. For the master, before forking the next generation. -1 with *error_r. */
int tls_server_rotate_ticket_key(struct tls_server *srv, const char **error_r);

/* In the key process, as root: reads [tls] key and checks it against srv's certificate. -1 with
 * *error_r. */
int tls_key_load(const struct config *cfg, const struct tls_server *srv, struct tls_key **key_r,
                 const char **error_r);
void tls_key_free(struct tls_key **key);
/* For twofoldd -t: the key loads and matches the certificate (then is freed). */
int tls_key_check(const struct config *cfg, const struct tls_server *srv, const char **error_r);
/* Signs input (a hash, or data when data is true) with GnuTLS's sign algorithm algo and flags as
 * a worker's external key was asked to; the signature into sig. -1 with *error_r. */
int tls_key_sign(struct tls_key *key, bool data, unsigned algo, unsigned flags, const void *input,
                 size_t len, unsigned char *sig, size_t size, size_t *sig_len_r,
                 const char **error_r);

/* In a child that serves no TLS (auth, key process): wipes its copy of the ticket key. */
void tls_server_drop_ticket_key(struct tls_server *srv);

/* What libmicrohttpd needs to serve the portal with the daemon's certificate: a GnuTLS
 * gnutls_certificate_retrieve_function2 (for MHD_OPTION_HTTPS_CERT_CALLBACK) and the priority
 * string with the daemon's floor (for MHD_OPTION_HTTPS_PRIORITIES; caller frees). */
struct tls_portal {
	void *cert_callback;
	char *priority;
};

/* In the portal process, before it drops privileges. -1 with *error_r. */
int tls_server_portal_init(struct tls_server *srv, const struct config *cfg,
                           struct tls_portal *portal_r, const char **error_r);

/* Server handshake on a connected socket. alpn: "pop3" or "imap"; the client may offer it or no
 * ALPN at all; anything else fails with no_application_protocol. 0 ok, -1 failed (*error_r). */
int tls_conn_handshake(struct tls_server *srv, int fd, const char *alpn, unsigned timeout_s,
                       struct tls_conn **conn_r, const char **error_r);
/* The transport for conn_new(). */
void tls_conn_transport(struct tls_conn *tc, struct conn_transport *t_r);
/* Sends close_notify (best effort) and frees. Does not close the fd. */
void tls_conn_close(struct tls_conn **tc);

#endif
