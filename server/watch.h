/*
 * The watch process: one inotify instance for the IDLE sessions of every worker. All workers
 * run under one account, and the kernel counts inotify instances per account (128 by default):
 * one per IDLE session ran out at the 129th. A worker that logs in an IMAP user connects to
 * this process (before it confines itself: after login it may open no connection); when it
 * enters IDLE it sends the mailbox's directory fd, the watcher adds watches on new/ and cur/
 * beneath it and sends a wake-up message on each change. The watcher opens no file: it watches
 * only what a worker could already open, and runs as the mail account in the empty chroot.
 *
 * watch_table_* is the bookkeeping (which session watches which inotify watch; a watch shared
 * by several sessions on one mailbox is counted, since inotify returns the same descriptor for
 * the same directory), kept apart from the I/O so it can be tested on its own.
 */
#ifndef TWOFOLD_SERVER_WATCH_H
#define TWOFOLD_SERVER_WATCH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#define WATCH_DIRS 2 /* new/ and cur/ */

/* ---- bookkeeping ---- */

struct watch_peer {
	int fd;              /* the worker's connection */
	int wd[WATCH_DIRS];  /* its watches, -1 when none */
	bool woken;          /* a wake-up is due (gathered over one read of events) */
};

struct watch_ref {
	int wd;
	unsigned count; /* peers watching it */
};

struct watch_table {
	struct watch_peer *peers;
	size_t npeers, peers_cap;
	struct watch_ref *refs;
	size_t nrefs, refs_cap;
};

/* Adds a connected peer without a watch. */
void watch_table_add_peer(struct watch_table *t, int fd);
/* The peer's entry, NULL when fd is no peer. */
struct watch_peer *watch_table_peer(struct watch_table *t, int fd);
/* Gives peer fd the watches wd (WATCH_DIRS of them), in place of any it had. The watches no peer
 * uses any longer are put in released_r (up to 2 * WATCH_DIRS); their count is returned: the
 * caller removes them from the inotify instance. -1 when fd is no peer. */
int watch_table_set(struct watch_table *t, int fd, const int wd[WATCH_DIRS], int *released_r);
/* Takes peer fd's watches away (IDLE ended): as watch_table_set with none. */
int watch_table_clear(struct watch_table *t, int fd, int *released_r);
/* Forgets peer fd and its watches (it went away): as watch_table_clear. */
int watch_table_remove_peer(struct watch_table *t, int fd, int *released_r);
/* An event on watch wd: marks the peers watching it woken; how many. */
size_t watch_table_event(struct watch_table *t, int wd);
/* The kernel dropped watch wd (its directory went away, IN_IGNORED): the peers watching it are
 * woken and no longer hold it; nothing to remove. How many peers were woken. */
size_t watch_table_forget(struct watch_table *t, int wd);
/* How many peers hold watch wd (0: not in use). */
unsigned watch_table_refs(const struct watch_table *t, int wd);
void watch_table_free(struct watch_table *t);

/* ---- the process ---- */

struct watch_env {
	int listen_fd;  /* the master's socket the workers connect to */
	uid_t peer_uid; /* the workers' account: the only one (besides root) served */
	int root_fd;    /* O_PATH fd of the directory to return to after each fchdir */
	void (*ready)(void *ctx);
	void *ready_ctx;
};

/* Raised by the process's SIGTERM handler (quit) and SIGUSR1 (retire: stop taking new workers,
 * leave once the connected ones are gone). */
extern volatile sig_atomic_t watch_quit, watch_retire;

/* Serves until told to quit, or retired and left by its last worker. The caller has dropped
 * privileges and loaded the seccomp list. 0, or -1 with *error_r. */
int watch_run(const struct watch_env *env, const char **error_r);

/* ---- in the worker ---- */

/* Connects to the watch process at addr (before the worker confines itself), in place of any
 * earlier connection. Without a watch process the worker's IDLE watches the mailbox itself. */
void watch_client_connect(const struct sockaddr_un *addr, socklen_t len);
/* Asks the watch process to watch the mailbox directory dirfd: the fd to poll for wake-ups
 * (drained with watch_client_drain), or -1 with *error_r (the connection is then given up, and
 * the caller watches by itself). */
int watch_client_start(int dirfd, const char **error_r);
/* Reads the wake-ups that arrived. 0, or -1 when the watch process went away (the connection
 * is given up: the caller watches by itself from now on). */
int watch_client_drain(void);
/* IDLE ended: the watch process may drop the watches. */
void watch_client_stop(void);

#endif
