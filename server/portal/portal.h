/*
 * The portal: a small HTTPS service (libmicrohttpd over GnuTLS) where users manage their own
 * second factors. Started and supervised by the master like the auth processes; unprivileged
 * and chrooted into a directory of its own, which holds the one socket it talks to the auth
 * service on. Workers are chrooted elsewhere, so no worker can reach the portal's operations.
 */
#ifndef TWOFOLD_PORTAL_H
#define TWOFOLD_PORTAL_H

struct config;
struct privdrop;
struct tls_server;

/* What the master opens for the portal before forking. */
struct portal_master {
	int listen_fd; /* HTTPS; -1 when [portal] listen is not set */
	int auth_fd;   /* AF_UNIX listening socket the auth processes take portal requests on */
	char *dir;     /* the portal's chroot: <state_dir>/portal, holding the socket */
	int dir_fd;    /* dir (O_PATH), checked, when started as root; else -1 */
	char *sock_path;
};

/* clang-format off */
#define PORTAL_MASTER_INIT {.listen_fd = -1, .auth_fd = -1, .dir_fd = -1}
/* clang-format on */
#define PORTAL_AUTH_SOCKET "auth.sock" /* in dir */

/* In the master: nothing when no portal is configured, else the HTTPS listener, the portal's
 * directory and its auth socket. -1 with *error_r (caller frees). */
int portal_master_open(const struct config *cfg, const struct privdrop *priv,
                       struct portal_master *pm, char **error_r);
/* In the master at exit: closes and removes the socket. */
void portal_master_close(struct portal_master *pm);
/* In children that are neither portal nor auth: close everything of the portal's. */
void portal_master_close_fds(struct portal_master *pm);
/* In the auth processes: all but the socket they answer the portal on. */
void portal_master_close_listener(struct portal_master *pm);

struct portal_env {
	const struct config *cfg;
	struct tls_server *tls;
	const struct privdrop *priv; /* the workers': the portal runs as their account */
	const struct portal_master *pm;
	void (*ready)(void *ctx); /* called once it serves */
	void *ready_ctx;
};

/* The portal process: drops privileges into its chroot and serves until SIGTERM/SIGUSR1, then
 * returns 0. -1 with *error_r when it cannot start. */
int portal_run(const struct portal_env *env, const char **error_r);

#endif
