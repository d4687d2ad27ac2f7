/* A pre-forked worker: waits on every listener, serves one connection at a time. */
#ifndef TWOFOLD_WORKER_H
#define TWOFOLD_WORKER_H

#include <sys/socket.h>
#include <sys/un.h>

struct config;
struct tls_server;
struct listen_set;
struct scoreboard;
struct privdrop;

struct worker_env {
	const struct config *cfg;
	struct tls_server *tls;
	const struct listen_set *listeners;
	struct scoreboard *sb;
	int slot;
	const struct privdrop *priv;
	struct sockaddr_un auth_addr; /* the auth service (abstract namespace) */
	socklen_t auth_addr_len;
	int notify_fd; /* the master's wakeup pipe: a byte when this worker turns busy */
	struct sockaddr_un watch_addr; /* the watch process, for IDLE (len 0: none) */
	socklen_t watch_addr_len;
};

/* Runs in the forked child; never returns. */
void worker_run(const struct worker_env *env) __attribute__((noreturn));

#endif
