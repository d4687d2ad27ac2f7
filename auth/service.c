#include "auth/service.h"
#include "auth/maildir.h"
#include "auth/policy.h"
#include "auth/service-portal.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define AUTH_MAX_PEERS     256
#define AUTH_PEER_IDLE_MAX 30  /* seconds a connected worker may stay silent */
#define AUTH_HOLD_POLL_MS  250 /* how often held logins look for their decision */

volatile sig_atomic_t auth_service_quit;

struct auth_peer {
	int fd;
	pid_t pid;
	time_t last;
	bool portal; /* came in on the portal's socket: portal requests only */
	bool held;   /* its login waits for the user's approval: hold, request_id */
	uint32_t request_id;
	long held_until_ms; /* clock_now_ms() when its wait runs out */
	struct auth_hold hold;
	uint32_t notice; /* the UID of its notice in the user's INBOX, 0 = none */
};

struct auth_service {
	const struct config *cfg;
	const struct auth_service_env *env;
	struct auth_policy *policy;
	pid_t master; /* our parent, the parent of every worker */
	int listen_fd, portal_fd, epfd;
	struct auth_peer peers[AUTH_MAX_PEERS];
	size_t npeers;
	unsigned nheld;
	long last_poll_ms;
	struct ipc_msg in, out;
};

/* Posts (or takes away) the INBOX notice of a held login, through the daemon's hooks: a
 * notice is best effort, the hold goes on without one. */
static void auth_service_notice(struct auth_service *svc, struct auth_peer *peer, bool post)
{
	const struct auth_notice_hooks *n = svc->env->notice;
	const char *error;
	int fd;

	if (n == NULL || (post ? peer->hold.approval_id == 0 : peer->notice == 0))
		return;
	fd = auth_maildir_open(svc->cfg, peer->hold.user, false, &error);
	if (fd < 0) {
		log_warn("notice for %s: %s", log_quote(peer->hold.user), error);
		return;
	}
	if (post) {
		if (n->post(n->ctx, fd, &peer->hold, svc->cfg->approval_wait, &peer->notice) < 0)
			peer->notice = 0;
	} else {
		n->remove(n->ctx, fd, peer->hold.user, peer->notice);
		peer->notice = 0;
	}
	close(fd);
}

static void auth_service_unhold(struct auth_service *svc, struct auth_peer *peer)
{
	auth_service_notice(svc, peer, false);
	peer->held = false;
	sodium_memzero(&peer->hold, sizeof(peer->hold));
	svc->nheld--;
}

static void auth_service_peer_close(struct auth_service *svc, size_t i)
{
	if (svc->peers[i].held) {
		auth_policy_hold_cancel(svc->policy, &svc->peers[i].hold, time(NULL));
		auth_service_unhold(svc, &svc->peers[i]);
	}
	epoll_ctl(svc->epfd, EPOLL_CTL_DEL, svc->peers[i].fd, NULL);
	close(svc->peers[i].fd);
	svc->peers[i] = svc->peers[--svc->npeers];
}

/* The parent pid of pid from /proc/PID/stat ("pid (comm) state ppid ..."; comm may hold
 * spaces and parentheses, so parse after the last ')'). -1 when unknown. */
static pid_t auth_service_ppid_of(pid_t pid)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	long ppid;
	char state;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 1, " %c %ld", &state, &ppid) != 2 || ppid <= 0)
		return -1;
	return (pid_t)ppid;
}

/* Only workers may talk to us: processes of the workers' uid (the service user) or root, whose
 * parent is our parent, the master. Another process of the service user (a CGI, a cron job, a
 * worker's own child) is refused. The pid is the connecting one's (SO_PEERCRED at
 * connect time), looked up right after accept; a master that is gone leaves no one allowed. */
static bool auth_service_peer_allowed(const struct auth_service *svc, int fd, pid_t *pid_r)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	pid_t ppid;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	*pid_r = cred.pid;
	if (cred.uid != 0 && cred.uid != svc->env->worker_uid) {
		log_warn("refused IPC connection from pid %ld uid %ld", (long)cred.pid,
		         (long)cred.uid);
		return false;
	}
	ppid = auth_service_ppid_of(cred.pid);
	if (svc->master > 1 && getppid() == svc->master && ppid == svc->master)
		return true;
	log_warn("refused IPC connection from pid %ld uid %ld: not a twofoldd worker (parent %ld)",
	         (long)cred.pid, (long)cred.uid, (long)ppid);
	return false;
}

static void auth_service_accept(struct auth_service *svc, int listen_fd)
{
	struct epoll_event ev = {.events = EPOLLIN};
	pid_t pid = 0;
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return; /* EAGAIN: another auth process took it */
	if (svc->npeers == AUTH_MAX_PEERS || !auth_service_peer_allowed(svc, fd, &pid)) {
		close(fd);
		return;
	}
	ev.data.fd = fd;
	if (epoll_ctl(svc->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		return;
	}
	svc->peers[svc->npeers++] = (struct auth_peer){
	    .fd = fd, .pid = pid, .last = time(NULL), .portal = listen_fd == svc->portal_fd};
}

struct auth_service_req {
	const char *user, *secret, *proto, *ip, *client_id;
};

static int auth_service_decode(struct ipc_msg *m, struct auth_service_req *r)
{
	if (m->fd >= 0 || m->hdr.type != IPC_LOGIN_REQUEST)
		return -1;
	if (ipc_get_str(m, &r->user) < 0 || ipc_get_str(m, &r->secret) < 0 ||
	    ipc_get_str(m, &r->proto) < 0 || ipc_get_str(m, &r->ip) < 0 ||
	    ipc_get_str(m, &r->client_id) < 0)
		return -1;
	return ipc_end(m);
}

struct auth_service_opened {
	const struct config *cfg;
	bool create;
	int fd;
	char error[PATH_MAX + 160];
};

/* The policy's accept step: the maildir is opened before the login counts as a success. */
static int auth_service_accept_login(void *ctx, const char *user, const char **error_r)
{
	struct auth_service_opened *a = ctx;
	const char *error;

	a->fd = auth_maildir_open(a->cfg, user, a->create, &error);
	if (a->fd >= 0)
		return 0;
	snprintf(a->error, sizeof(a->error), "maildir for %s: %s", log_quote(user), error);
	*error_r = a->error;
	return -1;
}

/* Runs the policy, which opens the maildir on success. Returns the fd to attach or -1. */
static int auth_service_login(struct auth_service *svc, const struct auth_service_req *r,
                              struct auth_reply *reply)
{
	struct auth_service_opened opened = {
	    .cfg = svc->cfg, .create = svc->env->create_maildirs, .fd = -1};
	struct auth_request req = {.user = r->user,
	                           .secret = r->secret,
	                           .ip = r->ip,
	                           .client_id = r->client_id,
	                           .now = time(NULL),
	                           .accept = auth_service_accept_login,
	                           .accept_ctx = &opened};

	if (auth_proto_parse(r->proto, &req.proto) < 0)
		req.proto = AUTH_PROTO_OTHER;
	auth_policy_login(svc->policy, &req, reply);
	if (reply->result != AUTH_OK && opened.fd >= 0) {
		close(opened.fd); /* a store error after the accept step */
		opened.fd = -1;
	}
	return opened.fd;
}

/* A held login, if it was decided: 1 with *reply (and the maildir fd in *fd_r), else 0. */
static int auth_service_hold_check(struct auth_service *svc, const struct auth_hold *hold,
                                   struct auth_reply *reply, int *fd_r)
{
	struct auth_service_opened opened = {
	    .cfg = svc->cfg, .create = svc->env->create_maildirs, .fd = -1};

	*fd_r = -1;
	if (auth_policy_hold_check(svc->policy, hold, time(NULL), auth_service_accept_login,
	                           &opened, reply) == 0)
		return 0;
	if (reply->result != AUTH_OK && opened.fd >= 0)
		close(opened.fd);
	else
		*fd_r = opened.fd;
	return 1;
}

static int auth_service_reply(struct auth_service *svc, int peer_fd, uint32_t request_id,
                              const struct auth_reply *reply, int dir_fd)
{
	struct ipc_msg *out = &svc->out;
	int r;

	if (reply->result == AUTH_OK) {
		ipc_msg_init(out, IPC_LOGIN_OK, request_id);
		ipc_put_str(out, reply->user);
	} else if (reply->result == AUTH_FAIL) {
		ipc_msg_init(out, IPC_LOGIN_FAIL, request_id);
		ipc_put_u32(out, reply->delay_ms);
		ipc_put_u32(out, reply->hint);
	} else {
		ipc_msg_init(out, IPC_LOGIN_TEMPFAIL, request_id);
		ipc_put_u32(out, reply->delay_ms);
	}
	r = ipc_send(peer_fd, out, dir_fd);
	if (dir_fd >= 0)
		close(dir_fd);
	return r;
}

/* A login held for approval: no answer until it is decided (auth_service_holds). */
static void auth_service_hold(struct auth_service *svc, struct auth_peer *peer, uint32_t request_id,
                              const struct auth_reply *reply)
{
	peer->held = true;
	peer->request_id = request_id;
	peer->held_until_ms = clock_now_ms() + (long)svc->cfg->approval_wait * 1000L;
	peer->hold = reply->hold;
	svc->nheld++;
	auth_service_notice(svc, peer, true);
}

/* One request from the portal. -1: close that peer. */
static int auth_service_handle_portal(struct auth_service *svc, struct auth_peer *peer)
{
	struct ipc_msg *m = &svc->in;
	int r = ipc_recv(peer->fd, m);

	if (r == 0 || (r < 0 && errno != EPROTO))
		return -1;
	if (r < 0 || auth_service_portal(svc->policy, m, &svc->out) < 0) {
		log_error("malformed portal request from pid %ld: closing that connection",
		          (long)peer->pid);
		ipc_msg_wipe(m);
		return -1;
	}
	peer->last = time(NULL);
	ipc_msg_wipe(m);
	r = ipc_send(peer->fd, &svc->out, -1);
	ipc_msg_wipe(&svc->out);
	return r;
}

/* One message from a peer. -1: close that peer (gone, or it broke the protocol: a worker sends
 * nothing more while its login is held). */
static int auth_service_handle(struct auth_service *svc, struct auth_peer *peer)
{
	struct ipc_msg *m = &svc->in;
	struct auth_service_req req;
	struct auth_reply reply;
	int r = ipc_recv(peer->fd, m), dir_fd;

	if (r == 0 || (r < 0 && errno != EPROTO))
		return -1;
	if (r < 0 || peer->held || auth_service_decode(m, &req) < 0) {
		if (r > 0 && m->fd >= 0)
			close(m->fd);
		log_error("malformed request from pid %ld: closing that connection",
		          (long)peer->pid);
		ipc_msg_wipe(m);
		return -1;
	}
	peer->last = time(NULL);
	memset(&reply, 0, sizeof(reply));
	dir_fd = auth_service_login(svc, &req, &reply);
	ipc_msg_wipe(m);
	if (reply.result == AUTH_PENDING) {
		auth_service_hold(svc, peer, m->hdr.request_id, &reply);
		return 0;
	}
	r = auth_service_reply(svc, peer->fd, m->hdr.request_id, &reply, dir_fd);
	sodium_memzero(&reply, sizeof(reply));
	return r;
}

/* A held login that fails is answered no sooner than its whole wait, to the millisecond: the
 * store's clock has seconds only, and a refusal coming early would tell the client that the
 * password was right (a wrong one waits approval_wait in full). */
static void auth_service_hold_pad(const struct auth_peer *peer, struct auth_reply *reply)
{
	long left = peer->held_until_ms - clock_now_ms();

	if (reply->result == AUTH_FAIL && left > (long)reply->delay_ms)
		reply->delay_ms = (uint32_t)left;
}

/* Looks up, at most every AUTH_HOLD_POLL_MS, whether held logins were decided (by whichever
 * auth process answered the portal, or the CLI: the store tells) or ran out of time. */
static void auth_service_holds(struct auth_service *svc)
{
	struct auth_reply reply;
	int fd;

	if (svc->nheld == 0 || clock_now_ms() - svc->last_poll_ms < AUTH_HOLD_POLL_MS)
		return;
	svc->last_poll_ms = clock_now_ms();
	for (size_t i = svc->npeers; i-- > 0;) {
		struct auth_peer *peer = &svc->peers[i];

		if (!peer->held || auth_service_hold_check(svc, &peer->hold, &reply, &fd) == 0)
			continue;
		auth_service_unhold(svc, peer);
		auth_service_hold_pad(peer, &reply);
		peer->last = time(NULL);
		if (auth_service_reply(svc, peer->fd, peer->request_id, &reply, fd) < 0)
			auth_service_peer_close(svc, i);
		sodium_memzero(&reply, sizeof(reply));
	}
}

/* Stopping: held logins are given up and answered "try again later". */
static void auth_service_drop_holds(struct auth_service *svc)
{
	struct auth_reply reply = {.result = AUTH_TEMPFAIL};

	for (size_t i = svc->npeers; i-- > 0;) {
		struct auth_peer *peer = &svc->peers[i];

		if (!peer->held)
			continue;
		auth_policy_hold_cancel(svc->policy, &peer->hold, time(NULL));
		auth_service_unhold(svc, peer);
		if (auth_service_reply(svc, peer->fd, peer->request_id, &reply, -1) < 0)
			auth_service_peer_close(svc, i);
	}
}

static struct auth_peer *auth_service_peer(struct auth_service *svc, int fd, size_t *i_r)
{
	for (size_t i = 0; i < svc->npeers; i++)
		if (svc->peers[i].fd == fd) {
			*i_r = i;
			return &svc->peers[i];
		}
	return NULL;
}

static void auth_service_expire(struct auth_service *svc)
{
	time_t now = time(NULL);

	for (size_t i = svc->npeers; i-- > 0;)
		if (!svc->peers[i].held && now - svc->peers[i].last > AUTH_PEER_IDLE_MAX)
			auth_service_peer_close(svc, i);
}

static void auth_service_stop_listening(struct auth_service *svc)
{
	int *fds[] = {&svc->listen_fd, &svc->portal_fd};

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] < 0)
			continue;
		epoll_ctl(svc->epfd, EPOLL_CTL_DEL, *fds[i], NULL);
		close(*fds[i]);
		*fds[i] = -1;
	}
}

static void auth_service_event(struct auth_service *svc, int fd)
{
	struct auth_peer *peer;
	size_t i;

	if (fd == svc->listen_fd || fd == svc->portal_fd) {
		auth_service_accept(svc, fd);
		return;
	}
	peer = auth_service_peer(svc, fd, &i);
	if (peer == NULL)
		return;
	if ((peer->portal ? auth_service_handle_portal(svc, peer) : auth_service_handle(svc, peer)) <
	    0)
		auth_service_peer_close(svc, i);
}

static void auth_service_loop(struct auth_service *svc)
{
	struct epoll_event evs[16];

	while (!auth_service_quit || svc->npeers > 0) {
		int n;

		if (auth_service_quit) {
			auth_service_stop_listening(svc);
			auth_service_drop_holds(svc);
		}
		n = epoll_wait(svc->epfd, evs, 16, svc->nheld > 0 ? AUTH_HOLD_POLL_MS : 1000);
		if (n < 0 && errno != EINTR)
			fatal("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++)
			auth_service_event(svc, evs[i].data.fd);
		auth_service_holds(svc);
		auth_service_expire(svc);
	}
}

int auth_service_run(const struct auth_service_env *env, const char **error_r)
{
	struct auth_service *svc = xcalloc(1, sizeof(*svc));
	struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.fd = env->listen_fd};
	struct epoll_event pev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.fd = env->portal_fd};

	svc->cfg = env->cfg;
	svc->env = env;
	svc->master = getppid();
	svc->listen_fd = env->listen_fd;
	svc->portal_fd = env->portal_fd;
	if (auth_policy_open(env->cfg, &svc->policy, error_r) < 0) {
		free(svc);
		return -1;
	}
	if (auth_policy_warm_up(svc->policy, error_r) < 0) {
		auth_policy_close(&svc->policy);
		free(svc);
		return -1;
	}
	svc->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (svc->epfd < 0 || epoll_ctl(svc->epfd, EPOLL_CTL_ADD, env->listen_fd, &ev) < 0 ||
	    (env->portal_fd >= 0 && epoll_ctl(svc->epfd, EPOLL_CTL_ADD, env->portal_fd, &pev) < 0))
		fatal("epoll: %s", strerror(errno));
	if (env->ready != NULL)
		env->ready(env->ready_ctx);
	auth_service_loop(svc);
	auth_service_stop_listening(svc);
	close(svc->epfd);
	auth_policy_close(&svc->policy);
	sodium_memzero(svc, sizeof(*svc));
	free(svc);
	return 0;
}

void auth_service_on_quit(int sig)
{
	auth_service_quit = 1;
}

int auth_service_main(const struct auth_service_env *env, const char **error_r)
{
	/* the store and its journals are the auth account's alone, whatever the directory */
	umask(077);
	if (env->enter(env->enter_ctx, error_r) < 0)
		return -1;
	prctl(PR_SET_NAME, "twofoldd-auth"); /* named only once unprivileged */
	prctl(PR_SET_PDEATHSIG, SIGTERM);    /* after the uid change, which clears it */
	if (env->confine != NULL && env->confine(env->confine_ctx, error_r) < 0)
		return -1;
	return auth_service_run(env, error_r);
}
