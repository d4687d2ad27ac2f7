/*
 * The master's control socket ([server] control): `twofold who` lists the logged-in sessions
 * the scoreboard knows, `twofold kick NAME` ends a user's sessions. One request line per
 * connection, answered and closed; only root (or the daemon's own uid) may ask.
 *
 * Requests: "who" | "kick NAME". Answer lines: "S\tPID\tUSER\tPROTO\tIP\tSINCE" per session
 * (who, and kick: those ended), then "OK\tCOUNT", or one "ERR\tTEXT".
 */
#ifndef TWOFOLD_CONTROL_H
#define TWOFOLD_CONTROL_H

#include <stddef.h>

struct config;
struct master_pool;
struct scoreboard;

#define CONTROL_LINE_MAX 512

/* Binds the socket at cfg's path (mode 0600; its directory made 0700 when missing). A stale
 * socket is replaced; one a live daemon answers on is refused. -1 with *error_r (caller frees). */
int control_open(const struct config *cfg, int *fd_r, char **error_r);
/* Closes fd and removes the socket at path. */
void control_close(int *fd, const char *path);
/* Accepts one request on the listening fd and answers it (control_handle). */
void control_serve(int fd, const struct scoreboard *sb, const struct master_pool *pool);
/* Reads one request line from the connected fd and answers it; a peer that is not root (nor
 * our uid), a line that is too long, unterminated or has control bytes gets "ERR". Kick
 * signals only the pool's pids. */
void control_handle(int fd, const struct scoreboard *sb, const struct master_pool *pool);

#endif
