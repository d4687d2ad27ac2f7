/*
 * The master process: binds the listeners, forks the auth service and the worker pool, reaps and
 * replaces children, reloads on SIGHUP and stops on SIGTERM. Nothing else: it never parses client
 * bytes, never opens a mailbox or the auth store.
 */
#ifndef TWOFOLD_MASTER_H
#define TWOFOLD_MASTER_H

#include <stdbool.h>

struct config;
struct tls_server;

/* What the daemon needs of a config beyond config_load's checks: listen addresses, and a state
 * dir apart from the mail tree.
 * -1 with *error_r = "FILE:LINE: message" (caller frees). */
int master_config_check(const struct config *cfg, char **error_r);

/* Takes ownership of cfg and tls. Returns the process exit status. */
int master_run(struct config *cfg, struct tls_server *tls, bool foreground);

#endif
