/*
 * The notice process: puts a short message into a user's INBOX when a login of theirs is held
 * for approval, so that a client already logged in (IDLE) shows it at once, and takes it away
 * once the login is decided or the wait is over. The auth processes hold the logins but may not
 * write maildirs (they run as the auth account and hand out O_PATH fds only); this process runs
 * as the mail account, chrooted like a worker, writes through the storage layer and does
 * nothing else. Its client half runs in the auth processes as their notice hooks.
 */
#ifndef TWOFOLD_SERVER_NOTICE_H
#define TWOFOLD_SERVER_NOTICE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>

#include "auth/service.h"

struct config;

struct notice_env {
	const struct config *cfg;
	int listen_fd;
	uid_t auth_uid; /* the auth processes' account: the only one (besides root) served */
	void (*ready)(void *ctx);
	void *ready_ctx;
};

/* Where the auth processes reach the notice process (abstract namespace). */
struct notice_addr {
	struct sockaddr_un addr;
	socklen_t len;
};

/* Raised by the process's SIGTERM/SIGUSR1 handler. */
extern volatile sig_atomic_t notice_quit;

/* Serves until notice_quit is set. The caller has dropped privileges. */
int notice_run(const struct notice_env *env, const char **error_r);

/* The auth service's notice hooks, talking to the notice process at addr (which must outlive
 * the hooks). */
void notice_client_hooks(const struct notice_addr *addr, struct auth_notice_hooks *hooks_r);

/* What the message says about the held login. */
struct notice_fields {
	const char *user, *proto, *ip, *client_id;
	uint32_t request_id;
	time_t now;
	unsigned wait; /* seconds it is held for */
};

/* The message (RFC 5322, CRLF line ends); caller frees. Client-supplied text is reduced to
 * printable ASCII and kept out of the header. */
char *notice_message(const struct config *cfg, const struct notice_fields *f, size_t *len_r);

#endif
