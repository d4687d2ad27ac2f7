/*
 * Who gets a worker. Per client address (IPv4, or IPv6 /64), counted in the scoreboard across
 * all workers: at most [server] max_prelogin_per_ip connections not logged in, and at most
 * max_sessions_per_ip logged-in sessions; so one address cannot hold the pool that everyone
 * shares. And while the pool is nearly full, a new client gets shorter pre-login timeouts.
 * Used by the workers and by the overflow process.
 */
#ifndef TWOFOLD_ADMISSION_H
#define TWOFOLD_ADMISSION_H

#include "server/scoreboard.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <sys/socket.h>

struct config;

/* The pool is under pressure from this share of max_workers busy on. */
#define ADMISSION_PRESSURE_NUM 3
#define ADMISSION_PRESSURE_DEN 4
/* Pre-login timeouts under pressure, seconds: a phone on a slow link still completes its TLS
 * handshake and sends LOGIN well within them; a client holding a worker idle does not keep it
 * for the configured 30 s / 60 s while others wait. */
#define ADMISSION_PRESSURE_HANDSHAKE 5
#define ADMISSION_PRESSURE_LOGIN     15

struct admission {
	struct scoreboard *sb;
	int slot;
	const struct config *cfg;
	struct scoreboard_client_key key;
	char ip[INET6_ADDRSTRLEN];
	bool pressure; /* the pool was nearly full when this client came */
};

/* A connection from ss was accepted into a's slot: counts it among its address's pre-login
 * connections. false when the address already has max_prelogin_per_ip (logged once a minute
 * for all workers together): close it without a word, no TLS handshake spent on it. */
bool admission_accept(struct admission *a, const struct sockaddr_storage *ss);
/* Before a login is checked: counts it among the address's sessions. false (logged) past
 * max_sessions_per_ip: refuse the login without asking the auth service. */
bool admission_login(struct admission *a);
/* After a login that failed: back among the address's pre-login connections. */
void admission_login_failed(struct admission *a);
/* The client is gone. */
void admission_done(struct admission *a);

/* Seconds for the TLS handshake and for the login, shorter under pressure. */
unsigned admission_handshake_timeout(const struct admission *a);
unsigned admission_login_timeout(const struct admission *a);
/* True when the pool is nearly full (ADMISSION_PRESSURE_NUM/DEN of max_workers busy). */
bool admission_pressure(const struct scoreboard *sb, const struct config *cfg);

/* The address of ss as text ("" if neither IPv4 nor IPv6; v4-mapped as IPv4). */
void admission_peer_ip(const struct sockaddr_storage *ss, char *buf, size_t size);

#endif
