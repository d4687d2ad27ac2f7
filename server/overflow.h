/*
 * The "server busy" answer. When every worker is busy and the pool is at [server] max_workers,
 * a new connection would wait in the accept queue with no reply at all. One extra process,
 * started by the master beside the pool and counted in neither its idle nor its busy workers,
 * takes such connections: a TLS handshake with a short deadline, one line the client can show
 * ("* BYE [UNAVAILABLE] Server busy" / "-ERR [SYS/TEMP] Server busy"), close; and a log line
 * once a minute while it turns clients away. It watches the scoreboard and accepts only while
 * the pool is full and stuck (no worker has finished a session for a second): a burst of short
 * sessions still waits its turn in the queue, a pool held by long sessions (IDLE phones)
 * answers at once.
 */
#ifndef TWOFOLD_OVERFLOW_H
#define TWOFOLD_OVERFLOW_H

struct worker_env;

/* Runs in the forked child (confined like a worker); never returns. */
void overflow_run(const struct worker_env *env) __attribute__((noreturn));

#endif
