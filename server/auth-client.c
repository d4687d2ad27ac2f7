#include "server/auth-client.h"
#include "common/clock.h"
#include "common/ipc.h"
#include "common/text.h"
#include "common/xalloc.h"
#include "server/session.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define AUTH_CLIENT_USER_MAX   255 /* the longest user name the auth service takes */
#define AUTH_CLIENT_MARKER_MAX 64

/* A user name the auth service would refuse unlooked-at (control bytes, invalid UTF-8, empty,
 * too long) never leaves the worker: a marker goes in its place, the name's user-name
 * characters (letters, digits, "._-+@") with '?' for every other byte, and '?' is in no user's
 * name. So the attempt is verified, delayed, counted and audited like any unknown user's, and
 * neither its raw bytes nor anything that reads like a log field reach another process. */
static const char *auth_client_user(const char *user, char *marker, size_t size)
{
	size_t len = strnlen(user, AUTH_CLIENT_USER_MAX + 1), n = 0;
	bool masked = false;

	if (text_is_sane(user, len, AUTH_CLIENT_USER_MAX))
		return user;
	for (size_t i = 0; i < len && n + 2 < size; i++) {
		unsigned char c = (unsigned char)user[i];
		bool keep = c < 0x80 && (isalnum(c) || strchr("._-+@", c) != NULL);

		masked = masked || !keep;
		marker[n++] = keep ? (char)c : '?';
	}
	if (!masked)
		marker[n++] = '?'; /* empty or only too long: still no account's name */
	marker[n] = '\0';
	return marker;
}

/* Waits for the auth service's answer on fd, which may take the whole timeout for a login held
 * for the user's approval. 0 answer ready, -1 time-out or error, -2 the client hung up. */
static int auth_client_wait(const struct auth_client *client, int fd, int client_fd)
{
	long deadline = clock_now_ms() + (long)client->timeout_s * 1000L;
	struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = client_fd, .events = POLLRDHUP}};

	for (;;) {
		long left = deadline - clock_now_ms();
		int n;

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = poll(p, client_fd >= 0 ? 2 : 1, (int)left);
		if (n < 0 && errno != EINTR)
			return -1;
		if (n <= 0)
			continue;
		if (p[0].revents != 0)
			return 0;
		if ((p[1].revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0)
			return -2;
	}
}

static int auth_client_ask(struct auth_client *client, int fd,
                           const struct auth_client_request *req, struct ipc_msg *m)
{
	char marker[AUTH_CLIENT_MARKER_MAX + 2];
	int r;

	ipc_msg_init(m, IPC_LOGIN_REQUEST, ++client->request_id);
	ipc_put_str(m, auth_client_user(req->user, marker, sizeof(marker)));
	ipc_put_str(m, req->secret);
	ipc_put_str(m, auth_proto_name(req->proto));
	ipc_put_str(m, req->ip);
	ipc_put_str(m, req->client_id != NULL ? req->client_id : "");
	r = ipc_send(fd, m, -1);
	ipc_msg_wipe(m);
	if (r < 0)
		return -1;
	r = auth_client_wait(client, fd, req->client_fd);
	if (r != 0)
		return r;
	return ipc_recv(fd, m) == 1 ? 0 : -1;
}

/* Checks the answer and fills out. -1 when the auth service broke the protocol. */
static int auth_client_answer(const struct auth_client *client, struct ipc_msg *m,
                              struct session_login *out, uint32_t *delay_r)
{
	const char *user;
	uint32_t hint;

	if (m->hdr.request_id != client->request_id)
		return -1;
	switch (m->hdr.type) {
	case IPC_LOGIN_OK:
		if (m->fd < 0 || ipc_get_str(m, &user) < 0 || ipc_end(m) < 0 ||
		    strlen(user) >= sizeof(out->user))
			return -1;
		memcpy(out->user, user, strlen(user) + 1);
		out->maildir_fd = m->fd;
		out->result = AUTH_OK;
		return 0;
	case IPC_LOGIN_FAIL:
		if (m->fd >= 0 || ipc_get_u32(m, delay_r) < 0 || ipc_get_u32(m, &hint) < 0 ||
		    ipc_end(m) < 0 || hint > AUTH_HINT_CODE_EXPIRED)
			return -1;
		out->result = AUTH_FAIL;
		out->hint = (enum auth_hint)hint;
		return 0;
	case IPC_LOGIN_TEMPFAIL:
		if (m->fd >= 0 || ipc_get_u32(m, delay_r) < 0 || ipc_end(m) < 0)
			return -1;
		out->result = AUTH_TEMPFAIL;
		return 0;
	}
	return -1;
}

/* what, with errno's text: in a static buffer, as a worker serves one login at a time */
static const char *auth_client_error(const char *what)
{
	static char error[128];

	snprintf(error, sizeof(error), "%s: %s", what, strerror(errno));
	return error;
}

static void auth_client_tempfail(struct session_login *out)
{
	out->result = AUTH_TEMPFAIL;
	out->hint = AUTH_HINT_NONE;
	out->user[0] = '\0';
	out->maildir_fd = -1;
}

int auth_client_login(struct auth_client *client, const struct auth_client_request *req,
                      struct session_login *out, uint32_t *delay_ms_r, const char **error_r)
{
	/* 16 KiB: on the heap for the login only, so an idle session's heap trim gives it back */
	struct ipc_msg *m;
	int fd, r = 0;

	auth_client_tempfail(out);
	*delay_ms_r = 0;
	fd = ipc_connect(client->addr, client->addr_len, client->timeout_s);
	if (fd < 0) {
		*error_r = auth_client_error("cannot reach the auth service");
		return -1;
	}
	m = xmalloc(sizeof(*m));
	r = auth_client_ask(client, fd, req, m);
	if (r == -2) {
		*error_r = "client gone while its login was checked or held";
	} else if (r < 0) {
		*error_r = auth_client_error("no answer from the auth service");
	} else if (auth_client_answer(client, m, out, delay_ms_r) < 0) {
		*error_r = "malformed answer from the auth service";
		if (m->fd >= 0)
			close(m->fd);
		auth_client_tempfail(out);
		*delay_ms_r = 0;
		r = -1;
	}
	close(fd);
	ipc_msg_wipe(m);
	free(m);
	return r;
}
