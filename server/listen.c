#include "server/listen.h"
#include "common/config.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LISTEN_BACKLOG 1024

static int listen_port(const char *s, in_port_t *port_r)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > 65535)
		return -1;
	*port_r = htons((in_port_t)v);
	return 0;
}

/* Numeric only: a dotted quad (or "*"), or an IPv6 address in brackets. */
int listen_parse(const char *addr, struct sockaddr_storage *ss_r, socklen_t *len_r)
{
	const char *colon = strrchr(addr, ':');
	struct sockaddr_in *sin = (struct sockaddr_in *)ss_r;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss_r;
	char host[INET6_ADDRSTRLEN];
	size_t hlen;
	bool v6 = addr[0] == '[';

	memset(ss_r, 0, sizeof(*ss_r));
	if (colon == NULL || colon == addr)
		return -1;
	hlen = (size_t)(colon - addr);
	if (v6) {
		if (hlen < 3 || addr[hlen - 1] != ']')
			return -1;
		addr++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		return -1;
	memcpy(host, addr, hlen);
	host[hlen] = '\0';
	if (v6) {
		sin6->sin6_family = AF_INET6;
		*len_r = sizeof(*sin6);
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -1;
		return listen_port(colon + 1, &sin6->sin6_port);
	}
	sin->sin_family = AF_INET;
	*len_r = sizeof(*sin);
	if (strcmp(host, "*") == 0)
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return -1;
	return listen_port(colon + 1, &sin->sin_port);
}

static int listen_check_one(const struct config *cfg, const char *section,
                            const struct config_listen *l, char **error_r)
{
	struct sockaddr_storage ss;
	socklen_t len;

	for (size_t i = 0; i < l->count; i++)
		if (listen_parse(l->addrs[i], &ss, &len) < 0) {
			const char *path = cfg->path != NULL ? cfg->path : "config";

			*error_r = xasprintf("%s:%u: [%s] listen: not a numeric ADDR:PORT or "
			                     "[V6]:PORT: '%s'",
			                     path, config_line_of(cfg, section, "listen"), section,
			                     l->addrs[i]);
			return -1;
		}
	return 0;
}

int listen_check(const struct config *cfg, char **error_r)
{
	if (listen_check_one(cfg, "imap", &cfg->imap_listen, error_r) < 0 ||
	    listen_check_one(cfg, "portal", &cfg->portal_listen, error_r) < 0)
		return -1;
	return listen_check_one(cfg, "pop3", &cfg->pop3_listen, error_r);
}

/* A host booted without IPv6 has no AF_INET6 sockets at all. The wildcard [::], which the
 * example config lists beside 0.0.0.0, is then left out with a warning rather than keeping the
 * daemon from starting; a specific IPv6 address stays an error. */
static bool listen_v6_absent(const struct sockaddr_storage *ss, int err)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

	return ss->ss_family == AF_INET6 && err == EAFNOSUPPORT &&
	       IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
}

int listen_bind(const char *addr, char **error_r)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	if (listen_parse(addr, &ss, &len) < 0) {
		*error_r = xasprintf("bad listen address '%s'", addr);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int err = errno;

		*error_r = xasprintf("socket for %s: %s", addr, strerror(err));
		return listen_v6_absent(&ss, err) ? LISTEN_ABSENT : -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		*error_r = xasprintf("cannot listen on %s: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int listen_add(struct listen_set *set, const struct config_listen *l, enum auth_proto proto,
                      char **error_r)
{
	size_t before = set->count;

	for (size_t i = 0; i < l->count; i++) {
		int fd = listen_bind(l->addrs[i], error_r);

		if (fd == LISTEN_ABSENT) {
			log_warn("%s: not listening on %s: this host has no IPv6",
			         auth_proto_name(proto), l->addrs[i]);
			xfree(error_r);
			continue;
		}
		if (fd < 0)
			return -1;
		set->l = xreallocarray(set->l, set->count + 1, sizeof(*set->l));
		set->l[set->count].fd = fd;
		set->l[set->count].proto = proto;
		set->l[set->count].addr = xstrdup(l->addrs[i]);
		set->count++;
	}
	if (l->count > 0 && set->count == before) {
		*error_r =
		    xasprintf("%s: none of the listen addresses can be used: this host has no "
		              "IPv6",
		              auth_proto_name(proto));
		return -1;
	}
	return 0;
}

int listen_open(const struct config *cfg, struct listen_set *set_r, char **error_r)
{
	set_r->l = NULL;
	set_r->count = 0;
	if (listen_add(set_r, &cfg->imap_listen, AUTH_PROTO_IMAP, error_r) < 0 ||
	    listen_add(set_r, &cfg->pop3_listen, AUTH_PROTO_POP3, error_r) < 0) {
		listen_close(set_r);
		return -1;
	}
	return 0;
}

void listen_close(struct listen_set *set)
{
	for (size_t i = 0; i < set->count; i++) {
		if (set->l[i].fd >= 0)
			close(set->l[i].fd);
		free(set->l[i].addr);
	}
	xfree(&set->l);
	set->count = 0;
}

static bool listen_same_list(const struct config_listen *a, const struct config_listen *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++)
		if (strcmp(a->addrs[i], b->addrs[i]) != 0)
			return false;
	return true;
}

bool listen_same(const struct config *a, const struct config *b)
{
	return listen_same_list(&a->imap_listen, &b->imap_listen) &&
	       listen_same_list(&a->pop3_listen, &b->pop3_listen) &&
	       listen_same_list(&a->portal_listen, &b->portal_listen);
}
