/* The daemon's listening sockets: parsed from [imap]/[pop3] listen, bound by the master. */
#ifndef TWOFOLD_LISTEN_H
#define TWOFOLD_LISTEN_H

#include "common/auth-proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct config;

struct listener {
	int fd;
	enum auth_proto proto;
	char *addr; /* as written in the config */
};

struct listen_set {
	struct listener *l;
	size_t count;
};

/* Parses "a.b.c.d:port", "[v6]:port" or "*:port" (numeric only, no DNS). 0 ok, -1 bad. */
int listen_parse(const char *addr, struct sockaddr_storage *ss_r, socklen_t *len_r);
/* Checks every listen address of cfg parses. -1 with *error_r = "FILE:LINE: message" naming
 * the section's listen key (caller frees). */
int listen_check(const struct config *cfg, char **error_r);
/* Binds every listen address of cfg (non-blocking, CLOEXEC, backlog 1024, SO_REUSEADDR,
 * IPV6_V6ONLY). -1 with *error_r (caller frees); nothing stays open then. */
int listen_open(const struct config *cfg, struct listen_set *set_r, char **error_r);
void listen_close(struct listen_set *set);
/* One listening socket on addr, as listen_open makes them (for the portal, whose socket no
 * worker may accept on). The fd, or -1 with *error_r (caller frees); LISTEN_ABSENT, also with
 * *error_r, when addr is the IPv6 wildcard on a host without IPv6 (listen_open then leaves it
 * out with a warning, as long as the protocol keeps another address). */
#define LISTEN_ABSENT (-2)
int listen_bind(const char *addr, char **error_r);
/* True when both configs listen on the same addresses for the same protocols. */
bool listen_same(const struct config *a, const struct config *b);

#endif
