/*
 * The worker's side of a login: one IPC_LOGIN_REQUEST to the auth service and its answer,
 * checked to the last byte. What happens around it (admission limits, the failure delay) is the
 * worker's; what the protocols see is struct session_login.
 */
#ifndef TWOFOLD_SERVER_AUTH_CLIENT_H
#define TWOFOLD_SERVER_AUTH_CLIENT_H

#include "common/auth-proto.h"

#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

struct session_login;

struct auth_client {
	const struct sockaddr_un *addr; /* the auth service (abstract namespace) */
	socklen_t addr_len;
	unsigned timeout_s;  /* to connect, and for the answer */
	uint32_t request_id; /* of the last request */
};

struct auth_client_request {
	const char *user;
	const char *secret;
	enum auth_proto proto;
	const char *ip;
	const char *client_id; /* NULL: none */
	int client_fd;         /* the client's connection, watched for a hang-up; -1: none */
};

/* Asks the auth service and fills *out: on AUTH_OK the canonical user and the maildir fd (the
 * caller's to close). *delay_ms_r: what the service asks to wait before the client hears the
 * answer. -1 with *error_r (for the log) when the service cannot be reached or broke the
 * protocol: *out is then AUTH_TEMPFAIL with no fd. -2 (*error_r says so) when the client hung
 * up before the answer came: the request is closed at once, so that the auth service gives a
 * login held for the user's approval up rather than approve one nobody waits for. */
int auth_client_login(struct auth_client *client, const struct auth_client_request *req,
                      struct session_login *out, uint32_t *delay_ms_r, const char **error_r);

#endif
