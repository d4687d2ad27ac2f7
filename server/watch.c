/*
 * The watch process (server/watch.h): workers' connections, their requests to watch a mailbox
 * or stop, one inotify instance, and a wake-up message to each worker whose mailbox changed.
 */
#include "server/watch.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "storage/storage.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define WATCH_MASK                                                                                 \
	(IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR | IN_DONT_FOLLOW)
#define WATCH_FD_RESERVE 32 /* descriptors kept free beyond the peers: accept, a request's fd */
#define WATCH_LOG_EVERY  3600 /* seconds between two log lines about the same limit */

volatile sig_atomic_t watch_quit, watch_retire;

struct watch_service {
	const struct watch_env *env;
	int ifd, epfd;
	bool listening;
	size_t max_peers;
	struct watch_table t;
	struct ipc_msg msg;
	time_t said_full, said_limit;
};

/* Says why watching failed, at most once an hour per cause: with many sessions the same
 * limit is hit by each of them. */
static void watch_say(time_t *last, const char *what)
{
	time_t now = time(NULL);

	if (*last != 0 && now - *last < WATCH_LOG_EVERY)
		return;
	*last = now;
	log_warn("watch: %s", what);
}

static void watch_rm(struct watch_service *ws, const int *wds, int n)
{
	for (int i = 0; i < n; i++)
		inotify_rm_watch(ws->ifd, wds[i]);
}

/* ---- peers ---- */

static void watch_peer_drop(struct watch_service *ws, int fd)
{
	int released[2 * WATCH_DIRS];

	watch_rm(ws, released, watch_table_remove_peer(&ws->t, fd, released));
	epoll_ctl(ws->epfd, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
}

static void watch_accept(struct watch_service *ws)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int fd = accept4(ws->env->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (ws->t.npeers >= ws->max_peers) {
		/* the worker's IDLE then watches by itself, as without this process */
		watch_say(&ws->said_full, "the open-file limit (RLIMIT_NOFILE) of the watch process "
		                          "is reached: IDLE sessions beyond it watch by themselves");
		close(fd);
		return;
	}
	ev.data.fd = fd;
	if (!ipc_peer_allowed(fd, ws->env->peer_uid, "watch") || epoll_ctl(ws->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		return;
	}
	watch_table_add_peer(&ws->t, fd);
}

/* ---- watching a mailbox ---- */

/* Makes the inotify instance if there is none yet (the account's limit may have been reached
 * at start). 0, or an errno. */
static int watch_instance(struct watch_service *ws)
{
	struct epoll_event ev = {.events = EPOLLIN};

	if (ws->ifd >= 0)
		return 0;
	ws->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ws->ifd < 0)
		return errno;
	ev.data.fd = ws->ifd;
	if (epoll_ctl(ws->epfd, EPOLL_CTL_ADD, ws->ifd, &ev) < 0)
		fatal("watch: epoll_ctl: %s", strerror(errno));
	return 0;
}

/* Adds the watches on new/ and cur/ beneath dirfd, by relative path from inside it: a
 * directory fd cannot be watched, and the process has no path to the maildir. 0 or an errno. */
static int watch_add_dirs(struct watch_service *ws, int dirfd, int wd_r[WATCH_DIRS])
{
	static const char *const names[WATCH_DIRS] = {"new", "cur"};
	int err = 0;

	wd_r[0] = wd_r[1] = -1;
	if (fchdir(dirfd) < 0)
		return errno;
	for (int i = 0; i < WATCH_DIRS && err == 0; i++) {
		wd_r[i] = inotify_add_watch(ws->ifd, names[i], WATCH_MASK);
		if (wd_r[i] < 0)
			err = errno;
	}
	if (fchdir(ws->env->root_fd) < 0)
		fatal("watch: cannot return to the root directory: %s", strerror(errno));
	/* a watch added here that no peer holds yet must not stay behind */
	for (int i = 0; err != 0 && i < WATCH_DIRS; i++)
		if (wd_r[i] >= 0 && watch_table_refs(&ws->t, wd_r[i]) == 0)
			inotify_rm_watch(ws->ifd, wd_r[i]);
	return err;
}

/* A peer's request to watch the mailbox dirfd (closed here). 0 or an errno for the answer. */
static int watch_start(struct watch_service *ws, int fd, int dirfd)
{
	int wd[WATCH_DIRS], released[2 * WATCH_DIRS];
	int err = watch_instance(ws);

	if (err == 0)
		err = watch_add_dirs(ws, dirfd, wd);
	close(dirfd);
	if (err == EMFILE || err == ENOSPC || err == ENFILE)
		watch_say(&ws->said_limit, mailbox_watch_strerror(err));
	if (err != 0)
		return err;
	watch_rm(ws, released, watch_table_set(&ws->t, fd, wd, released));
	return 0;
}

static void watch_answer(struct watch_service *ws, int fd, int err)
{
	ipc_msg_init(&ws->msg, IPC_WATCH_ACK, 0);
	ipc_put_u32(&ws->msg, (uint32_t)err);
	if (ipc_send(fd, &ws->msg, -1) < 0)
		watch_peer_drop(ws, fd);
}

/* One message from a peer. A malformed one, or one of another kind, ends the connection. */
static void watch_request(struct watch_service *ws, int fd)
{
	struct ipc_msg *m = &ws->msg;
	int released[2 * WATCH_DIRS];
	int got = ipc_recv(fd, m);

	if (got < 0 && errno == EAGAIN)
		return;
	if (got > 0 && m->hdr.type == IPC_WATCH_ADD && ipc_end(m) == 0) {
		watch_answer(ws, fd, watch_start(ws, fd, m->fd));
		return;
	}
	if (got > 0 && m->hdr.type == IPC_WATCH_REMOVE && ipc_end(m) == 0) {
		watch_rm(ws, released, watch_table_clear(&ws->t, fd, released));
		return;
	}
	if (m->fd >= 0)
		close(m->fd);
	if (got != 0)
		log_error("watch: malformed request from a worker: closing that connection");
	watch_peer_drop(ws, fd);
}

/* ---- events ---- */

/* Marks the peers each event concerns. An overflowed queue lost events: everyone looks. */
static void watch_parse_events(struct watch_service *ws, const char *buf, size_t len)
{
	for (size_t off = 0; off + sizeof(struct inotify_event) <= len;) {
		struct inotify_event ev;

		memcpy(&ev, buf + off, sizeof(ev));
		off += sizeof(ev) + ev.len;
		if (ev.mask & IN_Q_OVERFLOW) {
			for (size_t i = 0; i < ws->t.npeers; i++)
				ws->t.peers[i].woken = ws->t.peers[i].wd[0] >= 0;
		} else if (ev.mask & IN_IGNORED) {
			watch_table_forget(&ws->t, ev.wd);
		} else {
			watch_table_event(&ws->t, ev.wd);
		}
	}
}

/* A wake-up to each marked peer. One that has not read the last one yet needs no second. */
static void watch_wake(struct watch_service *ws)
{
	ipc_msg_init(&ws->msg, IPC_WATCH_EVENT, 0);
	for (size_t i = 0; i < ws->t.npeers; i++) {
		struct watch_peer *p = &ws->t.peers[i];

		/* the peers' sockets do not block: a full one has a wake-up waiting already */
		if (p->woken && ipc_send(p->fd, &ws->msg, -1) < 0 && errno != EAGAIN)
			log_debug("watch: cannot wake a worker: %s", strerror(errno));
		p->woken = false;
	}
}

static void watch_events(struct watch_service *ws)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(ws->ifd, buf, sizeof(buf))) > 0)
		watch_parse_events(ws, buf, (size_t)n);
	watch_wake(ws);
}

/* ---- the loop ---- */

static void watch_event(struct watch_service *ws, int fd)
{
	if (fd == ws->env->listen_fd)
		watch_accept(ws);
	else if (fd == ws->ifd)
		watch_events(ws);
	else if (watch_table_peer(&ws->t, fd) != NULL)
		watch_request(ws, fd);
}

/* Retired: no new workers; the connected ones keep their watches until they leave. */
static bool watch_going_on(struct watch_service *ws)
{
	if (watch_quit)
		return false;
	if (watch_retire && ws->listening) {
		epoll_ctl(ws->epfd, EPOLL_CTL_DEL, ws->env->listen_fd, NULL);
		ws->listening = false;
	}
	return ws->listening || ws->t.npeers > 0;
}

/* The peers it may hold: one descriptor each, and some to spare. */
static size_t watch_max_peers(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur <= 2 * WATCH_FD_RESERVE)
		return WATCH_FD_RESERVE;
	return rl.rlim_cur == RLIM_INFINITY ? 1u << 20 : (size_t)rl.rlim_cur - WATCH_FD_RESERVE;
}

int watch_run(const struct watch_env *env, const char **error_r)
{
	struct watch_service *ws = xcalloc(1, sizeof(*ws));
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = env->listen_fd}, evs[32];
	int err;

	*ws = (struct watch_service){.env = env, .ifd = -1, .listening = true,
	                             .max_peers = watch_max_peers()};
	ws->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ws->epfd < 0 || epoll_ctl(ws->epfd, EPOLL_CTL_ADD, env->listen_fd, &ev) < 0) {
		*error_r = "epoll";
		free(ws);
		return -1;
	}
	/* without an instance it still serves: each request tries again and tells why not */
	err = watch_instance(ws);
	if (err != 0)
		watch_say(&ws->said_limit, mailbox_watch_strerror(err));
	if (env->ready != NULL)
		env->ready(env->ready_ctx);
	while (watch_going_on(ws)) {
		int n = epoll_wait(ws->epfd, evs, 32, 1000);

		if (n < 0 && errno != EINTR)
			fatal("watch: epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++)
			watch_event(ws, evs[i].data.fd);
	}
	while (ws->t.npeers > 0)
		watch_peer_drop(ws, ws->t.peers[ws->t.npeers - 1].fd);
	watch_table_free(&ws->t);
	if (ws->ifd >= 0)
		close(ws->ifd);
	close(ws->epfd);
	free(ws);
	return 0;
}
