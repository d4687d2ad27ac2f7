/*
 * The auth service process: answers IPC_LOGIN_REQUEST from workers on a listening AF_UNIX
 * SOCK_SEQPACKET socket (made and inherited from the master), runs the login policy and on
 * success hands over the user's maildir as an open directory fd. Only the workers may connect:
 * a peer must be of the service uid (or root) and a child of this process's parent.
 */
#ifndef TWOFOLD_AUTH_SERVICE_H
#define TWOFOLD_AUTH_SERVICE_H

#include <signal.h>

struct config;

/* Raised by the process's SIGTERM/SIGUSR1 handler: stop accepting, finish the open connections,
 * return. */
extern volatile sig_atomic_t auth_service_quit;

/* Runs until auth_service_quit is set and no peer connection remains. The caller has already
 * dropped privileges. Returns 0, or -1 with *error_r when the auth store cannot be opened. */
int auth_service_run(const struct config *cfg, int listen_fd, const char **error_r);

/* Opens (creating it and cur/ new/ tmp/ 0700 when missing) the maildir of user. -1 with
 * *error_r (static) on failure. */
int auth_service_maildir_open(const struct config *cfg, const char *user, const char **error_r);

#endif
