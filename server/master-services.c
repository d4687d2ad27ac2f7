/*
 * The helper processes the master starts: the auth service, the key process, the portal, the
 * notice process and the watch process. Each child sets itself up (signals, none of the master's fds but its own),
 * becomes its service and reports on a pipe that it is ready or why it cannot start.
 */
#include "server/master-private.h"
#include "auth/service.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "server/daemon.h"
#include "server/notice.h"
#include "server/sandbox.h"
#include "server/watch.h"
#include "server/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helper processes: start reports ---- */

/* In a child: tells the waiting master that this service is ready. */
static void master_report_ready(void *ctx)
{
	int *fd = ctx;

	if (*fd >= 0) {
		if (write(*fd, "R", 1) < 0) {
			/* the master is gone or stopped waiting: nothing to tell */
		}
		close(*fd);
		*fd = -1;
	}
}

/* In a child that cannot start: logs why, tells the waiting master, exits with status 2. */
static void master_report_failure(int fd, const char *what, const char *error)
    __attribute__((noreturn));

static void master_report_failure(int fd, const char *what, const char *error)
{
	char buf[MASTER_REPORT_MAX];
	int len = snprintf(buf, sizeof(buf), "E%s: %s", what, error);

	log_error("%s", buf + 1);
	if (fd >= 0 && write(fd, buf, len < (int)sizeof(buf) ? (size_t)len : sizeof(buf) - 1) < 0) {
		/* nobody waits */
	}
	_exit(2);
}

/* Closes the master's service sockets in a child, but keep (-1: none). */
void master_close_sockets(const struct master *m, int keep)
{
	const int fds[] = {m->auth.fd,   m->key.fd,   m->key_prev_fd,
	                   m->notice.fd, m->watch.fd, m->control_fd};

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0 && fds[i] != keep)
			close(fds[i]);
}

/* What every helper child does first: its own signal handling (on_quit for SIGTERM and
 * SIGUSR1) and none of the master's fds but its own socket, keep. */
static void master_child_setup(struct master *m, const char *role, void (*on_quit)(int), int keep)
{
	sigset_t none;

	log_set_role(role);
	daemon_child_signals(on_quit, on_quit);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	listen_close(&m->listeners);
	close(master_pipe[0]);
	close(master_pipe[1]);
	master_close_sockets(m, keep);
	tls_server_drop_ticket_key(m->tls); /* the workers' secret, not ours */
	for (size_t i = 0; i < m->nprocs; i++)
		if (m->procs[i].report_fd >= 0)
			close(m->procs[i].report_fd);
}

/* After the privilege drop, which clears the parent-death signal. */
static void master_child_named(const char *title)
{
	prctl(PR_SET_NAME, title); /* named only once unprivileged */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

/* ---- the auth service ---- */

int master_socket(struct master_sock *ms, const char *what)
{
	struct sockaddr_un *sa = &ms->addr;
	uint64_t rnd;
	int len;

	randombytes_buf(&rnd, sizeof(rnd));
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* abstract namespace: reachable from the chroot, no file to clean up */
	len = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "twofold-%s-%ld-%016llx", what,
	               (long)getpid(), (unsigned long long)rnd);
	ms->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
	ms->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ms->fd < 0 || bind(ms->fd, (struct sockaddr *)sa, ms->len) < 0 ||
	    listen(ms->fd, MASTER_BACKLOG) < 0)
		return -1;
	return 0;
}

static int master_auth_enter(void *ctx, const char **error_r)
{
	return privdrop_apply(ctx, PRIVDROP_AUTH, error_r);
}

static int master_auth_confine(void *ctx, const char **error_r)
{
	return sandbox_seccomp_load(SANDBOX_AUTH, error_r);
}

static void master_auth_run(struct master *m, int report_fd) __attribute__((noreturn));

static void master_auth_run(struct master *m, int report_fd)
{
	static struct notice_addr notice_addr;
	struct auth_notice_hooks notice;
	struct auth_service_env env = {.cfg = m->cfg,
	                               .listen_fd = m->auth.fd,
	                               .portal_fd = m->portal.auth_fd,
	                               .worker_uid = m->priv.uid,
	                               .create_maildirs = !m->priv.root,
	                               .notice = &notice,
	                               .ready = master_report_ready,
	                               .ready_ctx = &report_fd,
	                               .enter = master_auth_enter,
	                               .enter_ctx = &m->priv,
	                               .confine = master_auth_confine};
	const char *error;

	master_child_setup(m, "auth", auth_service_on_quit, m->auth.fd);
	portal_master_close_listener(&m->portal);
	notice_addr = (struct notice_addr){.addr = m->notice.addr, .len = m->notice.len};
	notice_client_hooks(&notice_addr, &notice);
	if (auth_service_main(&env, &error) < 0)
		master_report_failure(report_fd, "auth service cannot start", error);
	exit(0);
}

static unsigned master_auth_wanted(const struct master *m)
{
	long n = m->cfg->auth_processes;

	if (n == 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

/* ---- the key process ---- */

/* A socket and a token per generation: old workers keep reaching the old key process while it
 * lingers, new ones the new; fd -1 when the key stays in the workers ([tls] key_process = no). */
int master_key_socket(struct master *m, const struct config *cfg)
{
	m->key.fd = -1;
	if (!cfg->tls_key_process)
		return 0;
	randombytes_buf(m->key_token, sizeof(m->key_token));
	return master_socket(&m->key, "key");
}

static void master_key_on_signal(int sig)
{
	if (sig == SIGUSR1)
		key_service_retire = 1;
	else
		key_service_quit = 1;
}

static void master_key_run(struct master *m, int report_fd) __attribute__((noreturn));

/* Reads the key as root, then chroot and the auth account: what a worker could do to it, it
 * can do only through sign requests. */
static void master_key_run(struct master *m, int report_fd)
{
	struct key_service_env env = {.listen_fd = m->key.fd,
	                              .worker_uid = m->priv.uid,
	                              .token = m->key_token,
	                              .linger = m->cfg->handshake_timeout + 5,
	                              .ready = master_report_ready,
	                              .ready_ctx = &report_fd};
	struct tls_key *key;
	const char *error;

	master_child_setup(m, "key", master_key_on_signal, m->key.fd);
	if (tls_key_load(m->cfg, m->tls, &key, &error) < 0)
		master_report_failure(report_fd, "key process cannot start", error);
	if (privdrop_apply(&m->priv, PRIVDROP_KEY, &error) < 0)
		master_report_failure(report_fd, "key process cannot start", error);
	/* no core dump, and the auth account's other processes may not read its memory */
	prctl(PR_SET_DUMPABLE, 0);
	master_child_named("twofoldd-key");
	if (sandbox_seccomp_load(SANDBOX_KEY, &error) < 0)
		master_report_failure(report_fd, "key process cannot start", error);
	key_service_run(&env, key);
	tls_key_free(&key);
	/* nothing for atexit to do; and in the chroot LeakSanitizer (ASan builds) cannot read
	 * /proc and would fail the exit */
	_exit(0);
}

static unsigned master_key_wanted(const struct master *m)
{
	return m->cfg->tls_key_process ? 1 : 0;
}

/* ---- the portal ---- */

/* The portal waits for SIGTERM/SIGUSR1 with sigwait once it runs (portal.c): until then, as
 * for every helper, a stop signal does not kill it half set up. */
static void master_portal_on_quit(int sig)
{
}

static void master_portal_run(struct master *m, int report_fd) __attribute__((noreturn));

/* As a worker, in a chroot of its own; its TLS handshakes are signed by the key process like
 * the workers'. */
static void master_portal_run(struct master *m, int report_fd)
{
	struct portal_env env = {.cfg = m->cfg,
	                         .tls = m->tls,
	                         .priv = &m->priv,
	                         .pm = &m->portal,
	                         .ready = master_report_ready,
	                         .ready_ctx = &report_fd};
	const char *error;

	if (m->key.fd >= 0)
		key_client_setup(&m->key.addr, m->key.len, m->key_token, m->cfg->handshake_timeout);
	master_child_setup(m, "portal", master_portal_on_quit, -1);
	if (portal_run(&env, &error) < 0)
		master_report_failure(report_fd, "portal cannot start", error);
	/* as a worker: nothing to clean up at exit, and LeakSanitizer cannot run in the chroot */
	_exit(0);
}

static unsigned master_portal_wanted(const struct master *m)
{
	return m->portal.listen_fd >= 0 ? 1 : 0;
}

/* ---- the notice process ---- */

static void master_notice_on_quit(int sig)
{
	notice_quit = 1;
}

static void master_notice_run(struct master *m, int report_fd) __attribute__((noreturn));

/* As the mail account, chrooted like a worker: it writes maildirs only through the fds the auth
 * processes hand it. */
static void master_notice_run(struct master *m, int report_fd)
{
	struct notice_env env = {.cfg = m->cfg,
	                         .listen_fd = m->notice.fd,
	                         .auth_uid = m->priv.root ? m->priv.auth_uid : getuid(),
	                         .ready = master_report_ready,
	                         .ready_ctx = &report_fd};
	const char *error;

	master_child_setup(m, "notice", master_notice_on_quit, m->notice.fd);
	portal_master_close_fds(&m->portal);
	if (privdrop_apply(&m->priv, PRIVDROP_WORKER, &error) < 0)
		master_report_failure(report_fd, "notice process cannot start", error);
	master_child_named("twofoldd-notice");
	if (sandbox_seccomp_load(SANDBOX_NOTICE, &error) < 0)
		master_report_failure(report_fd, "notice process cannot start", error);
	if (notice_run(&env, &error) < 0)
		master_report_failure(report_fd, "notice process cannot start", error);
	/* as the key process: LeakSanitizer cannot read /proc in the chroot */
	_exit(0);
}

static unsigned master_notice_wanted(const struct master *m)
{
	return 1;
}

/* ---- the watch process ---- */

static void master_watch_on_signal(int sig)
{
	if (sig == SIGUSR1)
		watch_retire = 1;
	else
		watch_quit = 1;
}

/* One descriptor per IMAP session it serves: as many as the hard limit allows. */
static void master_watch_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void master_watch_run(struct master *m, int report_fd) __attribute__((noreturn));

/* As the mail account, chrooted like a worker, with no file open but the root it returns to
 * after each watch: it watches only the directories the workers hand it. */
static void master_watch_run(struct master *m, int report_fd)
{
	struct watch_env env = {.listen_fd = m->watch.fd,
	                        .ready = master_report_ready,
	                        .ready_ctx = &report_fd};
	const char *error;

	master_child_setup(m, "watch", master_watch_on_signal, m->watch.fd);
	portal_master_close_fds(&m->portal);
	master_watch_raise_nofile();
	if (privdrop_apply(&m->priv, PRIVDROP_WORKER, &error) < 0)
		master_report_failure(report_fd, "watch process cannot start", error);
	env.peer_uid = getuid();
	env.root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (env.root_fd < 0)
		master_report_failure(report_fd, "watch process cannot start", strerror(errno));
	master_child_named("twofoldd-watch");
	if (sandbox_seccomp_load(SANDBOX_WATCH, &error) < 0 || watch_run(&env, &error) < 0)
		master_report_failure(report_fd, "watch process cannot start", error);
	/* as the key process: LeakSanitizer cannot read /proc in the chroot */
	_exit(0);
}

static unsigned master_watch_wanted(const struct master *m)
{
	return 1;
}

const struct master_kind master_kinds[MASTER_KINDS] = {
    [MASTER_AUTH] = {.name = "auth process",
                     .retire_signal = SIGTERM,
                     .wanted = master_auth_wanted,
                     .run = master_auth_run},
    [MASTER_KEY] = {.name = "key process",
                    .retire_signal = SIGUSR1,
                    .wanted = master_key_wanted,
                    .run = master_key_run},
    [MASTER_PORTAL] = {.name = "portal",
                       .retire_signal = SIGTERM,
                       .wanted = master_portal_wanted,
                       .run = master_portal_run},
    [MASTER_NOTICE] = {.name = "notice process",
                       .retire_signal = SIGTERM,
                       .wanted = master_notice_wanted,
                       .run = master_notice_run},
    /* retired, it lingers while workers of the old generation still use it */
    [MASTER_WATCH] = {.name = "watch process",
                      .retire_signal = SIGUSR1,
                      .wanted = master_watch_wanted,
                      .run = master_watch_run},
};
