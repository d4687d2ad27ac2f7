#include "server/portal/portal-auth.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "server/portal/portal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define PORTAL_AUTH_TIMEOUT 60 /* seconds: an Argon2 verify queued behind others */

static uint32_t portal_auth_request_id;

/* The socket is in the current directory: the portal runs chrooted into, or (unprivileged
 * runs) chdir'ed to, the directory that holds it. */
static int portal_auth_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = PORTAL_AUTH_SOCKET};
	struct timeval tv = {.tv_sec = PORTAL_AUTH_TIMEOUT};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int portal_auth_cells(struct ipc_msg *m, struct portal_answer *a)
{
	const char *s;

	if (ipc_get_u32(m, &a->rows) < 0 || ipc_get_u32(m, &a->cols) < 0 ||
	    (a->cols > 0 && a->rows > IPC_MAX / 5 / a->cols))
		return -1;
	a->cells = xcalloc((size_t)a->rows * a->cols + 1, sizeof(*a->cells));
	for (uint32_t i = 0; i < a->rows * a->cols; i++) {
		if (ipc_get_str(m, &s) < 0)
			return -1;
		a->cells[i] = xstrdup(s);
	}
	return ipc_end(m);
}

static int portal_auth_decode(struct ipc_msg *m, uint32_t id, struct portal_answer *a)
{
	const char *message;

	if (m->hdr.type != IPC_PORTAL_REPLY || m->hdr.request_id != id || m->fd >= 0 ||
	    ipc_get_u32(m, &a->status) < 0 || a->status >= IPC_PORTAL_STATUS_MAX ||
	    ipc_get_u32(m, &a->delay_ms) < 0 || ipc_get_str(m, &message) < 0)
		return -1;
	snprintf(a->message, sizeof(a->message), "%s", message);
	return portal_auth_cells(m, a);
}

static int portal_auth_exchange(int fd, struct ipc_msg *m, const char *op, const char *session,
                                const char *csrf, const char *ip, unsigned argc,
                                const char *const *argv, struct portal_answer *a)
{
	uint32_t id = __atomic_add_fetch(&portal_auth_request_id, 1, __ATOMIC_RELAXED);
	int r;

	ipc_msg_init(m, IPC_PORTAL_REQUEST, id);
	ipc_put_str(m, op);
	ipc_put_str(m, session);
	ipc_put_str(m, csrf);
	ipc_put_str(m, ip);
	ipc_put_u32(m, argc);
	for (unsigned i = 0; i < argc; i++)
		ipc_put_str(m, argv[i]);
	r = ipc_send(fd, m, -1);
	ipc_msg_wipe(m);
	if (r < 0 || ipc_recv(fd, m) != 1)
		return -1;
	r = portal_auth_decode(m, id, a);
	if (m->fd >= 0)
		close(m->fd);
	ipc_msg_wipe(m);
	return r;
}

void portal_auth_call(const char *op, const char *session, const char *csrf, const char *ip,
                      unsigned argc, const char *const *argv, struct portal_answer *a)
{
	struct ipc_msg *m = xmalloc(sizeof(*m));
	int fd = portal_auth_connect();

	memset(a, 0, sizeof(*a));
	if (fd < 0) {
		log_error("cannot reach the auth service: %s", strerror(errno));
	} else if (portal_auth_exchange(fd, m, op, session, csrf, ip, argc, argv, a) < 0) {
		log_error("no valid answer from the auth service to %s", op);
		portal_answer_free(a);
	}
	if (fd < 0 || a->cells == NULL) {
		memset(a, 0, sizeof(*a));
		a->status = IPC_PORTAL_TEMPFAIL;
	}
	if (fd >= 0)
		close(fd);
	free(m);
}

const char *portal_answer_cell(const struct portal_answer *a, uint32_t row, uint32_t col)
{
	if (row >= a->rows || col >= a->cols)
		return "";
	return a->cells[row * a->cols + col];
}

void portal_answer_free(struct portal_answer *a)
{
	if (a->cells != NULL)
		for (uint32_t i = 0; i < a->rows * a->cols; i++)
			if (a->cells[i] != NULL)
				xfree_secret_str(&a->cells[i]);
	free(a->cells);
	memset(a, 0, sizeof(*a));
}
