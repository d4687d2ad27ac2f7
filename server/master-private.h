/* The master's state as master.c (the pool, reaping, reload, the loop) and master-services.c
 * (what each helper process runs) share it. Not for other files. */
#ifndef TWOFOLD_SERVER_MASTER_PRIVATE_H
#define TWOFOLD_SERVER_MASTER_PRIVATE_H

#include "common/config.h"
#include "server/key.h"
#include "server/listen.h"
#include "server/master-pool.h"
#include "server/portal/portal.h"
#include "server/privdrop.h"
#include "server/scoreboard.h"
#include "server/tls.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>

#define MASTER_SCOREBOARD_SLOTS 65536 /* the config's max_workers limit; pages touched lazily */
#define MASTER_STOP_GRACE       8     /* seconds before stopping children turns into SIGKILL */
#define MASTER_BACKOFF          5     /* seconds between respawns of children that fail at start */
#define MASTER_BACKLOG          512   /* of the auth and key sockets */
#define MASTER_START_TRIES      3     /* a service that cannot start is tried this often ... */
#define MASTER_START_PAUSE      1     /* ... this many seconds apart, then the daemon gives up */
#define MASTER_START_TIMEOUT    60    /* seconds a service may take to report that it is ready */
#define MASTER_REPORT_MAX       512

struct master;

/* The kinds of long-lived helper process the master starts, watches and restarts (workers are
 * the pool's). Each child reports on a pipe that it is ready, or why it cannot start. */
enum master_kind_id {
	MASTER_AUTH,
	MASTER_KEY,
	MASTER_PORTAL,
	MASTER_NOTICE,
	MASTER_WATCH,
	MASTER_KINDS
};

struct master_kind {
	const char *name;  /* in log lines */
	int retire_signal; /* sent to the old generation once a reload's new one is ready */
	unsigned (*wanted)(const struct master *m);
	/* In the child, still root: becomes the service and never returns. report_fd: where to
	 * say "ready" or why not (-1 when nobody waits). */
	void (*run)(struct master *m, int report_fd) __attribute__((noreturn));
};

/* A listening AF_UNIX socket of a service, in the abstract namespace. */
struct master_sock {
	int fd;
	struct sockaddr_un addr;
	socklen_t len;
};

struct master_proc {
	pid_t pid;
	enum master_kind_id kind;
	uint32_t generation;
	int report_fd; /* read end while the master waits for its start report, else -1 */
};

struct master {
	struct config *cfg;
	struct tls_server *tls;
	struct listen_set listeners;
	struct privdrop priv;
	struct scoreboard sb;
	struct master_pool pool;     /* whom to signal: never the scoreboard's pids */
	uint32_t generation;         /* of workers: a reload or a new ticket key */
	uint32_t service_generation; /* of helper processes: a reload */

	struct master_sock auth;
	struct master_sock key; /* the current generation's key process (fd -1: none) */
	unsigned char key_token[KEY_TOKEN_LEN]; /* its workers' proof that they are ours */
	int key_prev_fd; /* the previous generation's, while a reload starts the next */
	struct portal_master portal;
	struct master_sock notice; /* the notice process listens, the auth processes connect */
	struct master_sock watch;  /* the watch process listens, logged-in IMAP workers connect */
	int control_fd;            /* `twofold who/kick` (server/control.h); -1 without */

	struct master_proc *procs;
	size_t nprocs;
	bool services_stopped;
	time_t backoff_until[MASTER_KINDS], worker_backoff_until;

	bool stopping;
	time_t stop_deadline, last_term;
};

/* The self-pipe the master's signal handler writes to; children close both ends. */
extern int master_pipe[2];
/* What each kind of helper process is (master-services.c). */
extern const struct master_kind master_kinds[MASTER_KINDS];

/* Opens a service's listening socket in the abstract namespace; -1 (logged) on failure. */
int master_socket(struct master_sock *ms, const char *what);
/* The key process's socket for a configuration (a reload opens the next one beside the old). */
int master_key_socket(struct master *m, const struct config *cfg);
/* Closes the master's service sockets in a child, but keep (-1: none). */
void master_close_sockets(const struct master *m, int keep);

#endif
