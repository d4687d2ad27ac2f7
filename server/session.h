/*
 * What a protocol session gets from the worker: the connection, the config, and the one way to
 * log in (through the auth service). Implemented by the worker (server/worker.c); the protocols
 * (server/pop3, server/imap) only use it.
 */
#ifndef TWOFOLD_SESSION_H
#define TWOFOLD_SESSION_H

#include "auth/policy.h"
#include "common/config.h"

#include <signal.h>
#include <stdbool.h>

struct config;
struct conn;

struct session {
	const struct config *cfg;
	struct conn *conn;
	enum auth_proto proto;
	int auth_sock;    /* SOCK_SEQPACKET to the auth service */
	const char *alpn; /* negotiated ALPN or NULL */
	unsigned login_timeout; /* seconds to log in (shorter when the pool is nearly full); 0:
	                         * [server] login_timeout */
};

/* Seconds s has to log in. */
static inline unsigned session_login_timeout(const struct session *s)
{
	return s->login_timeout != 0 ? s->login_timeout : s->cfg->login_timeout;
}

/* Set by the worker's SIGTERM handler: sessions end cleanly at the next command boundary. */
extern volatile sig_atomic_t session_shutdown;

struct session_login {
	enum auth_result result;
	enum auth_hint hint; /* on AUTH_FAIL: what the client may be told beyond "failed" */
	char user[256];      /* canonical name on AUTH_OK */
	int maildir_fd;      /* on AUTH_OK: the user's maildir, owned by the caller; else -1 */
	long waited_ms;      /* spent on the auth service and the failure delay: the login
	                      * timeout counts the client's time, not the server's */
};

/* The text of the reply to a failed login with this hint (RFC 5530 [EXPIRED] for IMAP,
 * [AUTH] for POP3 carry it). */
#define SESSION_HINT_CODE_EXPIRED "Code expired: send password + the current code"

/* Sends the login to the auth service, applies the delay it returns (sleeping, so the client
 * sees it), and fills *out. The secret is wiped by the caller. client_id may be NULL. */
void session_login(struct session *s, const char *user, const char *secret, const char *client_id,
                   struct session_login *out);

/* A client that has sent nothing for this long is idle: the session gives back the memory its
 * last command used (conn_set_idle) rather than holding it through a wait of minutes or hours.
 * Well above a client's pause between the commands of a batch, so a busy session pays nothing. */
#define SESSION_IDLE_RELEASE_MS 500

/* Protocol entry points: run one connection from greeting to close. */
void pop3_session_run(struct session *s);
void imap_session_run(struct session *s);

#endif
