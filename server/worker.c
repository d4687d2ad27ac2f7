#include "server/worker.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "server/admission.h"
#include "server/auth-client.h"
#include "server/conn.h"
#include "server/daemon.h"
#include "server/listen.h"
#include "server/privdrop.h"
#include "server/sandbox.h"
#include "server/scoreboard.h"
#include "server/session.h"
#include "server/tls.h"
#include "server/watch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Seconds to wait for the auth service's answer, beyond the time a login may be held for the
 * user's approval ([auth] approval_wait). */
#define WORKER_AUTH_TIMEOUT 60

static volatile sig_atomic_t session_shutdown;
static volatile sig_atomic_t worker_quit;
static const struct worker_env *worker_env;
static struct auth_client worker_auth;
static struct admission worker_client; /* the client being served, as the limits count it */

static volatile sig_atomic_t worker_handshaking;
static int worker_epfd = -1;
static bool worker_confined; /* served a login: leaves after this session */

static void worker_on_term(int sig)
{
	/* nothing to say goodbye to yet: a client stalling its handshake must not hold up a stop */
	if (worker_handshaking)
		_exit(0);
	session_shutdown = 1;
	worker_quit = 1;
}

static void worker_on_usr1(int sig)
{
	worker_quit = 1;
}

/* SIGTERM/SIGUSR1 are blocked except while waiting for a connection or serving one. */
static void worker_signals(sigset_t *waitmask_r)
{
	sigset_t block;

	daemon_child_signals(worker_on_term, worker_on_usr1);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, waitmask_r);
	sigdelset(waitmask_r, SIGTERM);
	sigdelset(waitmask_r, SIGUSR1);
}

/* ---- login through the auth service ---- */

/* ---- after a login ---- */

/* The listening sockets, the epoll set and the master's wakeup pipe: a confined worker will
 * never accept again, and code running in it must not take the next user's connection. */
static void worker_stop_listening(void)
{
	const struct listen_set *ls = worker_env->listeners;

	for (size_t i = 0; i < ls->count; i++)
		close(ls->l[i].fd);
	if (worker_epfd >= 0)
		close(worker_epfd);
	worker_epfd = -1;
	close(worker_env->notify_fd);
}

/* Confines this worker beneath the user's maildir before the session touches it. Landlock
 * cannot be undone, so the worker serves no other user: it leaves after this session and the
 * master's pool starts a fresh one. -1: the login must not go on. */
static int worker_confine(int maildir_fd, enum auth_proto proto)
{
	const char *error;

	worker_confined = true;
	worker_stop_listening();
	tzset(); /* the zone file cannot be read once confined */
	/* IDLE's watcher: the last connection this worker makes (POP3 has no IDLE) */
	if (proto == AUTH_PROTO_IMAP)
		watch_client_connect(&worker_env->watch_addr, worker_env->watch_addr_len);
	/* then the session's seccomp list on top of the worker's: no new socket, connection or
	 * listener for code that runs in this user's session */
	if (sandbox_landlock_confine(maildir_fd, &error) < 0 ||
	    sandbox_seccomp_load(SANDBOX_WORKER_SESSION, &error) < 0) {
		log_error("%s", error);
		return -1;
	}
	return 0;
}

static void worker_sleep_ms(uint32_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !session_shutdown)
		;
}

/* Who this worker serves now, for `twofold who` and `kick` (through the master). */
static void worker_publish_session(const struct session *s, const char *user)
{
	struct scoreboard_session ss = {.proto = (uint32_t)s->proto, .since = time(NULL)};

	snprintf(ss.user, sizeof(ss.user), "%s", user);
	snprintf(ss.ip, sizeof(ss.ip), "%s", worker_client.ip);
	scoreboard_session_set(worker_env->sb, worker_env->slot, &ss);
}

static void worker_login(struct session *s, const char *user, const char *secret,
                         const char *client_id, struct session_login *out)
{
	const struct auth_client_request req = {.user = user,
	                                        .secret = secret,
	                                        .proto = s->proto,
	                                        .ip = conn_peer_ip(s->conn),
	                                        .client_id = client_id,
	                                        .client_fd = conn_fd(s->conn)};
	uint32_t delay_ms = 0;
	long start_ms = clock_now_ms();
	const char *error;
	int r;

	out->waited_ms = 0;
	out->result = AUTH_TEMPFAIL;
	out->hint = AUTH_HINT_NONE;
	out->user[0] = '\0';
	out->maildir_fd = -1;
	if (!admission_login(&worker_client))
		return; /* its address has max_sessions_per_ip: no password checked */
	r = auth_client_login(&worker_auth, &req, out, &delay_ms, &error);
	if (r == -2)
		log_info("%s", error);
	else if (r < 0)
		log_error("%s", error);
	if (out->result != AUTH_OK)
		admission_login_failed(&worker_client);
	else if (worker_confine(out->maildir_fd, s->proto) < 0) {
		close(out->maildir_fd);
		out->maildir_fd = -1;
		out->result = AUTH_TEMPFAIL;
	} else {
		worker_publish_session(s, out->user);
	}
	if (delay_ms > 0)
		worker_sleep_ms(delay_ms);
	out->waited_ms = clock_now_ms() - start_ms;
}

/* ---- connections ---- */

static void worker_notify_master(void)
{
	char b = 0;

	if (write(worker_env->notify_fd, &b, 1) < 0) {
		/* pipe full: the master is awake anyway */
	}
}

static void worker_session(const struct listener *l, struct tls_conn *tc)
{
	struct conn_transport t;
	struct session s = {.cfg = worker_env->cfg,
	                    .proto = l->proto,
	                    .login_timeout = admission_login_timeout(&worker_client),
	                    .login = worker_login,
	                    .shutdown = &session_shutdown};

	tls_conn_transport(tc, &t);
	s.conn = conn_new(&t, worker_client.ip);
	if (l->proto == AUTH_PROTO_POP3)
		pop3_session_run(&s);
	else if (l->proto == AUTH_PROTO_IMAP)
		imap_session_run(&s);
	else
		log_error("no protocol for listener %s", l->addr);
	conn_free(&s.conn);
}

static void worker_serve(const struct listener *l, int fd)
{
	const char *alpn = l->proto == AUTH_PROTO_IMAP ? "imap" : "pop3";
	struct tls_conn *tc = NULL;
	const char *error;
	int r;

	worker_handshaking = 1;
	if (session_shutdown)
		_exit(0);
	r = tls_conn_handshake(worker_env->tls, fd, alpn,
	                       admission_handshake_timeout(&worker_client), &tc, &error);
	worker_handshaking = 0;
	if (r < 0) {
		log_info("TLS handshake with %s failed: %s", worker_client.ip, error);
		return;
	}
	worker_session(l, tc);
	tls_conn_close(&tc);
}

/* No Nagle: replies are already gathered into whole TLS records (conn.c buffers them), and a
 * record or handshake message held back until the client ACKs the previous one costs a
 * delayed-ACK wait (40 ms) per command: POP3 RETR+DELE, an IMAP FETCH chunk, the TLS 1.3
 * session ticket after the handshake. */
static void worker_socket_options(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Serves one connection from listener l if there is one to take. 1 served, 0 nothing. */
static int worker_accept(const struct listener *l, const sigset_t *waitmask)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	sigset_t old;
	int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return 0; /* another worker took it */
	if (!admission_accept(&worker_client, &ss)) {
		close(fd); /* its address holds enough workers already */
		return 1;
	}
	worker_socket_options(fd);
	scoreboard_set_state(worker_env->sb, worker_env->slot, SLOT_BUSY);
	worker_notify_master();
	sigprocmask(SIG_SETMASK, waitmask, &old);
	worker_serve(l, fd);
	scoreboard_session_set(worker_env->sb, worker_env->slot, NULL);
	admission_done(&worker_client);
	/* counted before the client sees the close: the overflow process never answers "busy" to
	 * a client that comes straight back for the worker it just left */
	scoreboard_session_done(worker_env->sb, worker_env->slot);
	close(fd);
	/* Back to the pool: a session over a big mailbox leaves megabytes of freed heap that an
	 * idle worker would otherwise keep for the rest of its life. */
	(void)malloc_trim(0);
	sigprocmask(SIG_SETMASK, &old, NULL);
	scoreboard_set_state(worker_env->sb, worker_env->slot, SLOT_IDLE);
	return 1;
}

static int worker_epoll(const struct listen_set *ls)
{
	int epfd = epoll_create1(EPOLL_CLOEXEC);

	if (epfd < 0)
		fatal("epoll_create1: %s", strerror(errno));
	for (size_t i = 0; i < ls->count; i++) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.u64 = i};

		if (epoll_ctl(epfd, EPOLL_CTL_ADD, ls->l[i].fd, &ev) < 0)
			fatal("epoll_ctl: %s", strerror(errno));
	}
	return epfd;
}

static bool worker_done(void)
{
	const struct scoreboard_slot *slot = &worker_env->sb->slots[worker_env->slot];

	return worker_quit || worker_confined || slot->retiring ||
	       slot->sessions >= worker_env->cfg->sessions_per_worker;
}

static void worker_loop(int epfd, const sigset_t *waitmask)
{
	const struct listen_set *ls = worker_env->listeners;
	struct epoll_event ev;

	while (!worker_done()) {
		int n = epoll_pwait(epfd, &ev, 1, -1, waitmask);

		if (n < 0 && errno != EINTR)
			fatal("epoll_wait: %s", strerror(errno));
		/* Take the connection even when told to quit meanwhile: with EPOLLEXCLUSIVE this
		 * worker may be the only one woken for it. */
		if (n == 1)
			worker_accept(&ls->l[ev.data.u64], waitmask);
	}
}

void worker_run(const struct worker_env *env)
{
	sigset_t waitmask;
	const char *error;
	int epfd;

	worker_env = env;
	worker_client = (struct admission){.sb = env->sb, .slot = env->slot, .cfg = env->cfg};
	worker_auth = (struct auth_client){.addr = &env->auth_addr,
	                                   .addr_len = env->auth_addr_len,
	                                   .timeout_s = WORKER_AUTH_TIMEOUT + env->cfg->approval_wait};
	log_set_role("worker");
	worker_signals(&waitmask);
	if (privdrop_apply(env->priv, PRIVDROP_WORKER, &error) < 0) {
		log_error("%s", error);
		_exit(2);
	}
	/* named only once confined: whatever is called a worker is chrooted and unprivileged */
	prctl(PR_SET_NAME, "twofoldd-worker");
	/* after the uid change, which clears it */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (sandbox_seccomp_load(SANDBOX_WORKER, &error) < 0) {
		log_error("%s", error);
		_exit(2);
	}
	conn_set_interrupt(&session_shutdown);
	epfd = worker_epfd = worker_epoll(env->listeners);
	scoreboard_set_state(env->sb, env->slot, SLOT_IDLE);
	worker_loop(epfd, &waitmask);
	if (worker_epfd >= 0) /* else closed at login */
		close(worker_epfd);
	/* No atexit work to do; and in the chroot LeakSanitizer (ASan builds) cannot read /proc
	 * and would abort the exit. */
	_exit(0);
}
