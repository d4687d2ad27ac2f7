/*
 * What a protocol session gets from the worker: the connection, the config, the one way to log
 * in and the flag that ends it. The worker fills it (server/worker.c, logging in through
 * server/auth-client.c); the protocols (server/pop3, server/imap) only use it, and a unit test
 * gives a session its own login.
 */
#ifndef TWOFOLD_SESSION_H
#define TWOFOLD_SESSION_H

#include "common/auth-proto.h"
#include "common/config.h"

#include <signal.h>
#include <stdbool.h>

struct config;
struct conn;
struct session;
struct session_login;

/* Sends the login to the auth service, applies the delay it returns (sleeping, so the client
 * sees it), and fills *out. The secret is wiped by the caller. client_id may be NULL. */
typedef void session_login_fn(struct session *s, const char *user, const char *secret,
                              const char *client_id, struct session_login *out);

struct session {
	const struct config *cfg;
	struct conn *conn;
	enum auth_proto proto;
	const char *alpn;       /* negotiated ALPN or NULL */
	unsigned login_timeout; /* seconds to log in (shorter when the pool is nearly full); 0:
	                         * [server] login_timeout */
	session_login_fn *login;
	/* Set by the worker's SIGTERM handler: the session ends cleanly at the next command
	 * boundary. */
	const volatile sig_atomic_t *shutdown;
};

/* Seconds s has to log in. */
static inline unsigned session_login_timeout(const struct session *s)
{
	return s->login_timeout != 0 ? s->login_timeout : s->cfg->login_timeout;
}

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

static inline void session_login(struct session *s, const char *user, const char *secret,
                                 const char *client_id, struct session_login *out)
{
	s->login(s, user, secret, client_id, out);
}

/* True once the session should end at the next command boundary. */
static inline bool session_stopping(const struct session *s)
{
	return *s->shutdown != 0;
}

/* A client that has sent nothing for this long is idle: the session gives back the memory its
 * last command used (conn_set_idle) rather than holding it through a wait of minutes or hours.
 * Well above a client's pause between the commands of a batch, so a busy session pays nothing. */
#define SESSION_IDLE_RELEASE_MS 500

/* Starts a protocol session: has idle(ctx) give memory back while the client is idle
 * (conn_set_idle). Returns the clock time (clock_now_ms) by which the client must have logged
 * in. */
long session_begin(struct session *s, void (*idle)(void *), void *ctx);

/* Protocol entry points: run one connection from greeting to close. */
void pop3_session_run(struct session *s);
void imap_session_run(struct session *s);

#endif
