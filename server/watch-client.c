/*
 * The worker's half of the watch process (server/watch.h): one connection, made at login, used
 * by IDLE. A worker serves one logged-in session, so there is at most one per process.
 */
#include "server/watch.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "storage/storage.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WATCH_CLIENT_TIMEOUT 2 /* seconds for the connection, a request and its answer */
#define WATCH_CLIENT_SKIP    8 /* wake-ups read while waiting for an answer, at most */

static int watch_client_fd = -1;

void watch_client_connect(const struct sockaddr_un *addr, socklen_t len)
{
	if (watch_client_fd >= 0)
		close(watch_client_fd);
	watch_client_fd = -1;
	if (len == 0)
		return;
	watch_client_fd = ipc_connect(addr, len, WATCH_CLIENT_TIMEOUT);
	if (watch_client_fd < 0)
		log_warn("no watch process (%s): IDLE will watch the mailbox by itself",
		         strerror(errno));
}

static void watch_client_close(void)
{
	close(watch_client_fd);
	watch_client_fd = -1;
}

int watch_client_drain(void)
{
	unsigned char buf[64];
	ssize_t n;

	if (watch_client_fd < 0)
		return -1;
	while ((n = recv(watch_client_fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	/* the watch process is gone (restarted: a new one knows nothing of this worker) */
	watch_client_close();
	return -1;
}

/* The answer to a request, past wake-ups of an earlier IDLE still on the way: 0 and the
 * watch process's errno in *err_r, or -1 (the connection is broken). */
static int watch_client_answer(struct ipc_msg *m, uint32_t *err_r)
{
	for (int i = 0; i < WATCH_CLIENT_SKIP; i++) {
		if (ipc_recv(watch_client_fd, m) <= 0)
			return -1;
		if (m->hdr.type == IPC_WATCH_EVENT)
			continue;
		if (m->hdr.type != IPC_WATCH_ACK || ipc_get_u32(m, err_r) < 0 || ipc_end(m) < 0)
			return -1;
		return 0;
	}
	return -1;
}

int watch_client_start(int dirfd, const char **error_r)
{
	/* allocated for the request only: an IDLE session should not keep 16 KiB for it */
	struct ipc_msg *m;
	uint32_t err = 0;
	int r;

	if (watch_client_fd < 0) {
		*error_r = "no watch process";
		return -1;
	}
	if (watch_client_drain() < 0) {
		*error_r = "the watch process went away";
		return -1;
	}
	m = xmalloc(sizeof(*m));
	ipc_msg_init(m, IPC_WATCH_ADD, 0);
	r = ipc_send(watch_client_fd, m, dirfd);
	if (r == 0)
		r = watch_client_answer(m, &err);
	free(m);
	if (r < 0) {
		watch_client_close();
		*error_r = "the watch process went away";
		return -1;
	}
	if (err != 0) {
		*error_r = mailbox_watch_strerror((int)err);
		return -1;
	}
	return watch_client_fd;
}

void watch_client_stop(void)
{
	struct ipc_msg m;

	if (watch_client_fd < 0)
		return;
	ipc_msg_init(&m, IPC_WATCH_REMOVE, 0);
	if (ipc_send(watch_client_fd, &m, -1) < 0)
		watch_client_close();
}
