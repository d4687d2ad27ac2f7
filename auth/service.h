/*
 * The auth service process: answers IPC_LOGIN_REQUEST from workers on a listening AF_UNIX
 * SOCK_SEQPACKET socket (made and inherited from the master), runs the login policy and on
 * success hands over the user's maildir as an O_PATH directory fd (auth/maildir.h). Only the
 * workers (and the portal, on a socket of its own) may connect: a peer must be of the
 * workers' uid (or root) and a child of this process's parent.
 */
#ifndef TWOFOLD_AUTH_SERVICE_H
#define TWOFOLD_AUTH_SERVICE_H

#include <signal.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

struct config;

struct auth_hold;

/* The notice of a held login in the user's INBOX. auth/ has no storage: the daemon installs
 * these (server/notice.h). post: 0 with *id_r, what remove takes; -1 when nothing was posted. */
struct auth_notice_hooks {
	int (*post)(void *ctx, int maildir_fd, const struct auth_hold *hold, unsigned wait,
	            uint32_t *id_r);
	void (*remove)(void *ctx, int maildir_fd, const char *user, uint32_t id);
	void *ctx;
};

struct auth_service_env {
	const struct config *cfg;
	int listen_fd;  /* workers' logins */
	int portal_fd;  /* the portal's requests, on a socket only its chroot reaches; -1: none */
	uid_t worker_uid;     /* the workers' account: who may connect, besides root */
	bool create_maildirs; /* we run as the mail account (not started as root): make missing
	                         maildirs; else they are the CLI's or the MTA's to make */
	const struct auth_notice_hooks *notice; /* NULL: held logins are not announced */
	void (*ready)(void *ctx); /* called once the store is open and the service listens */
	void *ready_ctx;
	/* auth_service_main: becomes the auth account (the master's privilege drop). -1 with
	 * *error_r when it cannot. */
	int (*enter)(void *ctx, const char **error_r);
	void *enter_ctx;
	/* auth_service_main, once unprivileged and named, before the store opens: the master's
	 * seccomp list. NULL: none. -1 with *error_r when it cannot. */
	int (*confine)(void *ctx, const char **error_r);
	void *confine_ctx;
};

/* Raised by the process's SIGTERM/SIGUSR1 handler: stop accepting, finish the open connections,
 * return. */
extern volatile sig_atomic_t auth_service_quit;

/* Runs until auth_service_quit is set and no peer connection remains. The caller has already
 * dropped privileges. Returns 0, or -1 with *error_r when the auth store cannot be opened. */
int auth_service_run(const struct auth_service_env *env, const char **error_r);

/* The auth process's SIGTERM/SIGUSR1 handler: raises auth_service_quit. */
void auth_service_on_quit(int sig);

/* The auth process from the master's fork on (signals and descriptors already its own, still
 * root): a private umask, env->enter to drop privileges, a process name, env->confine, then
 * auth_service_run. -1 with *error_r when it cannot start. */
int auth_service_main(const struct auth_service_env *env, const char **error_r);

#endif
