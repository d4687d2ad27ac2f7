#include "server/master.h"
#include "server/master-private.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "server/daemon.h"
#include "server/key.h"
#include "server/control.h"
#include "server/listen.h"
#include "server/master-pool.h"
#include "server/notify.h"
#include "server/overflow.h"
#include "server/portal/portal.h"
#include "server/privdrop.h"
#include "server/sandbox.h"
#include "server/scoreboard.h"
#include "server/tls.h"
#include "server/worker.h"
#include "storage/mime-decode.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int master_pipe[2] = {-1, -1};

/* ---- signals ---- */

static void master_on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	if (write(master_pipe[1], &b, 1) < 0) {
		/* full: a wakeup is pending anyway */
	}
	errno = saved;
}

static void master_signals(void)
{
	static const int sigs[] = {SIGHUP, SIGTERM, SIGINT, SIGCHLD};
	struct sigaction sa = {.sa_handler = master_on_signal, .sa_flags = SA_RESTART};

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
}

/* Forks with every signal blocked, so a child never runs the master's handlers. */
static pid_t master_fork(void)
{
	sigset_t all, old;
	pid_t pid;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid != 0)
		sigprocmask(SIG_SETMASK, &old, NULL);
	return pid;
}

/* ---- helper processes: spawning, waiting, signalling ---- */

static void master_spawn(struct master *m, enum master_kind_id kind, bool report)
{
	int p[2] = {-1, -1};
	pid_t pid;

	/* non-blocking: the master reads what is there while it waits for several */
	if (report && pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_error("pipe: %s", strerror(errno));
		return;
	}
	pid = master_fork();
	if (pid == 0) {
		if (p[0] >= 0)
			close(p[0]);
		master_kinds[kind].run(m, p[1]);
	}
	if (p[1] >= 0)
		close(p[1]);
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		if (p[0] >= 0)
			close(p[0]);
		return;
	}
	m->procs = xreallocarray(m->procs, m->nprocs + 1, sizeof(*m->procs));
	m->procs[m->nprocs++] = (struct master_proc){pid, kind, m->service_generation, p[0]};
}

static unsigned master_count(const struct master *m, enum master_kind_id kind, uint32_t gen)
{
	unsigned n = 0;

	for (size_t i = 0; i < m->nprocs; i++)
		n += m->procs[i].kind == kind && m->procs[i].generation == gen;
	return n;
}

/* Starts what each kind lacks in the current generation. report: the master will wait for
 * their start reports (at start and reload); else a failure shows as exit status 2. */
static void master_spawn_missing(struct master *m, bool report)
{
	for (int k = 0; k < MASTER_KINDS; k++) {
		unsigned have = master_count(m, k, m->service_generation);

		if (!report && time(NULL) < m->backoff_until[k])
			continue;
		while (have++ < master_kinds[k].wanted(m))
			master_spawn(m, k, report);
	}
}

/* sig to every helper process; 0: to the old generation, each its kind's retire signal. */
static void master_signal_procs(struct master *m, int sig)
{
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct master_proc *p = &m->procs[i];

		if (sig != 0)
			kill(p->pid, sig);
		else if (p->generation != m->service_generation)
			kill(p->pid, master_kinds[p->kind].retire_signal);
	}
}

/* A child killed by SIGSYS made a call its seccomp filter does not allow: a bug in the list or
 * code that is not ours running in it. Said plainly, with the call when the kernel log has it. */
static void master_log_forbidden(const char *what, pid_t pid)
{
	char call[96];

	if (sandbox_audit_find(pid, call, sizeof(call)) > 0)
		log_error("%s %ld killed by SIGSYS: forbidden system call %s, refused by its seccomp "
		          "filter",
		          what, (long)pid, call);
	else
		log_error("%s %ld killed by SIGSYS: forbidden system call, refused by its seccomp "
		          "filter (which one: the kernel's audit log, type=SECCOMP pid=%ld)",
		          what, (long)pid, (long)pid);
}

static void master_log_exit(const char *what, pid_t pid, int status)
{
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		master_log_forbidden(what, pid);
	else if (WIFSIGNALED(status))
		log_error("%s %ld killed by signal %d", what, (long)pid, WTERMSIG(status));
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		log_error("%s %ld exited with status %d", what, (long)pid, WEXITSTATUS(status));
	else
		log_debug("%s %ld exited", what, (long)pid);
}

static void master_proc_remove(struct master *m, size_t i)
{
	if (m->procs[i].report_fd >= 0)
		close(m->procs[i].report_fd);
	m->procs[i] = m->procs[--m->nprocs];
}

/* Reads the start report of procs[i]: 1 ready, 0 not yet, -1 failed (*error_r, caller frees). */
static int master_report_read(struct master *m, size_t i, char **error_r)
{
	struct master_proc *p = &m->procs[i];
	char buf[MASTER_REPORT_MAX];
	ssize_t n = read(p->report_fd, buf, sizeof(buf) - 1);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	close(p->report_fd);
	p->report_fd = -1;
	if (n == 1 && buf[0] == 'R')
		return 1;
	if (n > 1 && buf[0] == 'E') {
		buf[n] = '\0';
		*error_r = xstrdup(buf + 1);
	} else {
		*error_r = xasprintf("%s %ld exited before it was ready", master_kinds[p->kind].name,
		                     (long)p->pid);
	}
	return -1;
}

/* Ends a proc that failed to start and forgets it: reaped here, not by the main loop. One that
 * reported its failure (or died) is on its way out; one that is late is killed. */
static void master_proc_discard(struct master *m, size_t i, bool late)
{
	pid_t pid = m->procs[i].pid;
	int status, n = 0;
	pid_t r;

	if (late)
		kill(pid, SIGKILL);
	while ((r = waitpid(pid, &status, WNOHANG)) == 0 && n++ < 200)
		usleep(10000);
	if (r == 0) {
		kill(pid, SIGKILL);
		while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
			;
	}
	if (r == pid)
		master_log_exit(master_kinds[m->procs[i].kind].name, pid, status);
	master_proc_remove(m, i);
}

/* Sleeps until a pending start report may be readable or the deadline passes. */
static void master_report_wait(const struct master *m, long deadline_ms)
{
	struct pollfd *pfd = xcalloc(m->nprocs + 1, sizeof(*pfd));
	long left = deadline_ms - clock_now_ms();
	nfds_t n = 0;

	for (size_t i = 0; i < m->nprocs; i++)
		if (m->procs[i].report_fd >= 0)
			pfd[n++] = (struct pollfd){.fd = m->procs[i].report_fd, .events = POLLIN};
	if (left > 0 && poll(pfd, n, (int)left) < 0 && errno != EINTR)
		fatal("poll: %s", strerror(errno));
	free(pfd);
}

/* One more failure for master_await: the first one's text is kept, the proc goes. */
static void master_await_failed(struct master *m, size_t i, char *error, char **error_r, int *r)
{
	bool late = error == NULL;

	if (error == NULL)
		error = xasprintf("%s %ld did not report ready in %d seconds",
		                  master_kinds[m->procs[i].kind].name, (long)m->procs[i].pid,
		                  MASTER_START_TIMEOUT);
	if (*r == 0)
		*error_r = error;
	else
		free(error);
	*r = -1;
	master_proc_discard(m, i, late);
}

static bool master_awaiting(const struct master *m)
{
	for (size_t i = 0; i < m->nprocs; i++)
		if (m->procs[i].report_fd >= 0)
			return true;
	return false;
}

/* Waits for every pending start report. 0 all ready; -1 with *error_r (caller frees) when one
 * failed or did not report in time: the failed ones are gone, the ready ones stay. */
static int master_await(struct master *m, char **error_r)
{
	long deadline = clock_now_ms() + MASTER_START_TIMEOUT * 1000L;
	int r = 0;

	while (master_awaiting(m)) {
		bool late;

		master_report_wait(m, deadline);
		late = clock_now_ms() >= deadline;
		for (size_t i = m->nprocs; i-- > 0;) {
			char *error = NULL;
			int got;

			if (m->procs[i].report_fd < 0)
				continue;
			got = master_report_read(m, i, &error);
			if (got < 0)
				master_await_failed(m, i, error, error_r, &r);
			else if (got == 0 && late)
				master_await_failed(m, i, NULL, error_r, &r);
		}
	}
	return r;
}

/* At start: every service ready, trying a few times (a store on a slow mount, a key file being
 * replaced). -1 with *error_r (caller frees) after the last try; nothing is left running. */
static int master_start_services(struct master *m, char **error_r)
{
	for (int attempt = 1;; attempt++) {
		master_spawn_missing(m, true);
		if (master_await(m, error_r) == 0)
			return 0;
		if (attempt == MASTER_START_TRIES)
			break;
		log_warn("%s: trying again in %d s", *error_r, MASTER_START_PAUSE);
		free(*error_r);
		sleep(MASTER_START_PAUSE);
	}
	while (m->nprocs > 0)
		master_proc_discard(m, m->nprocs - 1, true);
	return -1;
}

/* ---- the worker pool ---- */

/* A worker for the pool, or (overflow) the process that answers "busy" when it is full. */
static void master_spawn_worker(struct master *m, bool overflow)
{
	int slot = master_pool_free_slot(&m->pool);
	pid_t pid;

	if (slot < 0)
		return;
	scoreboard_claim(&m->sb, slot, -1, m->generation);
	if (overflow)
		scoreboard_set_state(&m->sb, slot, SLOT_OVERFLOW);
	pid = master_fork();
	if (pid == 0) {
		struct worker_env env = {.cfg = m->cfg,
		                         .tls = m->tls,
		                         .listeners = &m->listeners,
		                         .sb = &m->sb,
		                         .slot = slot,
		                         .priv = &m->priv,
		                         .auth_addr = m->auth.addr,
		                         .auth_addr_len = m->auth.len,
		                         .notify_fd = master_pipe[1],
		                         .watch_addr = m->watch.addr,
		                         .watch_addr_len = m->watch.len};

		if (m->key.fd >= 0)
			key_client_setup(&m->key.addr, m->key.len, m->key_token,
			                 m->cfg->handshake_timeout);
		master_close_sockets(m, -1);
		portal_master_close_fds(&m->portal);
		close(master_pipe[0]);
		for (size_t i = 0; i < m->nprocs; i++)
			if (m->procs[i].report_fd >= 0)
				close(m->procs[i].report_fd);
		if (overflow)
			overflow_run(&env);
		worker_run(&env);
	}
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		scoreboard_release(&m->sb, slot);
		return;
	}
	m->sb.slots[slot].pid = pid;
	master_pool_add(&m->pool, pid, slot, m->generation, overflow);
}

static void master_ask_to_retire(struct master *m, struct master_worker *w)
{
	w->retiring = true;
	m->sb.slots[w->slot].retiring = 1; /* read by the worker between sessions */
}

/* Asks one idle worker of the current generation to leave. */
static void master_retire_one(struct master *m)
{
	int i = master_pool_pick_retire(&m->pool, &m->sb, m->generation);

	if (i < 0)
		return;
	master_ask_to_retire(m, &m->pool.w[i]);
	kill(m->pool.w[i].pid, SIGUSR1);
}

static void master_maintain_pool(struct master *m)
{
	const struct config *cfg = m->cfg;
	unsigned min_idle = cfg->min_spare > 0 ? cfg->min_spare : 1;
	struct scoreboard_counts c;

	if (m->stopping)
		return;
	master_pool_count(&m->pool, &m->sb, m->generation, &c);
	if (c.idle < min_idle && time(NULL) >= m->worker_backoff_until) {
		unsigned want = min_idle - c.idle;

		for (; want > 0 && c.total < cfg->max_workers; want--, c.total++)
			master_spawn_worker(m, false);
	} else if (c.idle > cfg->max_spare) {
		master_retire_one(m);
	}
	if (!master_pool_has_overflow(&m->pool, m->generation) &&
	    time(NULL) >= m->worker_backoff_until)
		master_spawn_worker(m, true);
}

static void master_signal_workers(struct master *m, int sig, bool old_only)
{
	for (size_t i = 0; i < m->pool.count; i++) {
		struct master_worker *w = &m->pool.w[i];

		if (old_only && w->generation == m->generation)
			continue;
		if (sig == SIGUSR1)
			master_ask_to_retire(m, w);
		kill(w->pid, sig);
	}
}

/* ---- reaping ---- */

static void master_proc_died(struct master *m, size_t i, int status)
{
	const struct master_kind *k = &master_kinds[m->procs[i].kind];

	master_log_exit(k->name, m->procs[i].pid, status);
	if (!m->stopping && WIFEXITED(status) && WEXITSTATUS(status) == 2) {
		log_error("%s failed at start; retrying in %d seconds", k->name, MASTER_BACKOFF);
		m->backoff_until[m->procs[i].kind] = time(NULL) + MASTER_BACKOFF;
	}
	master_proc_remove(m, i);
}

static void master_reap(struct master *m)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		int w = master_pool_find(&m->pool, pid);

		if (w >= 0) {
			master_log_exit("worker", pid, status);
			if (!m->stopping && WIFEXITED(status) && WEXITSTATUS(status) == 2)
				m->worker_backoff_until = time(NULL) + MASTER_BACKOFF;
			scoreboard_release(&m->sb, m->pool.w[w].slot);
			master_pool_remove(&m->pool, (size_t)w);
			continue;
		}
		for (size_t i = 0; i < m->nprocs; i++)
			if (m->procs[i].pid == pid) {
				master_proc_died(m, i, status);
				break;
			}
	}
}

/* ---- reload and stop ---- */

static int master_reload_load(struct master *m, struct config **cfg_r, struct privdrop *priv_r,
                              struct tls_server **tls_r)
{
	const char *tls_error;
	char *error = NULL;

	if (config_load(m->cfg->path, cfg_r, &error) < 0 ||
	    master_config_check(*cfg_r, &error) < 0 ||
	    privdrop_prepare(*cfg_r, priv_r, &error) < 0) {
		log_error("reload failed, keeping the old configuration: %s", error);
		free(error);
		config_free(cfg_r);
		return -1;
	}
	if (tls_server_load(*cfg_r, m->tls, tls_r, &tls_error) < 0) {
		log_error("reload failed, keeping the old configuration: [tls]: %s", tls_error);
		privdrop_free(priv_r);
		config_free(cfg_r);
		return -1;
	}
	return 0;
}

/* Swaps the master's configuration with the one in cfg/priv/tls. */
static void master_swap(struct master *m, struct config **cfg, struct privdrop *priv,
                        struct tls_server **tls)
{
	struct config *c = m->cfg;
	struct tls_server *t = m->tls;
	struct privdrop p = m->priv;

	m->cfg = *cfg;
	m->tls = *tls;
	m->priv = *priv;
	*cfg = c;
	*tls = t;
	*priv = p;
}

/* The new generation of services, started on the new configuration: 0 once all are ready;
 * else -1, none of them left, the service generation back where it was. */
static int master_reload_services(struct master *m)
{
	char *error = NULL;

	m->service_generation++;
	master_spawn_missing(m, true);
	if (master_await(m, &error) == 0)
		return 0;
	log_error("reload failed, keeping the old configuration: %s", error);
	free(error);
	for (size_t i = m->nprocs; i-- > 0;)
		if (m->procs[i].generation == m->service_generation)
			master_proc_discard(m, i, true);
	m->service_generation--;
	return -1;
}

/* A new key socket and token for the next generation; the old ones kept aside. -1 on error. */
static int master_key_next(struct master *m, const struct config *cfg, struct master_sock *old,
                           unsigned char old_token[KEY_TOKEN_LEN])
{
	*old = m->key;
	memcpy(old_token, m->key_token, KEY_TOKEN_LEN);
	if (master_key_socket(m, cfg) < 0) {
		log_error("reload failed, keeping the old configuration: key socket: %s",
		          strerror(errno));
		if (m->key.fd >= 0)
			close(m->key.fd);
		m->key = *old;
		return -1;
	}
	m->key_prev_fd = old->fd;
	return 0;
}

/* Keeps the new key socket (ok) or goes back to the old one. */
static void master_key_settle(struct master *m, bool ok, struct master_sock *old,
                              const unsigned char old_token[KEY_TOKEN_LEN])
{
	struct master_sock *drop = ok ? old : &m->key;

	if (drop->fd >= 0)
		close(drop->fd);
	if (!ok) {
		m->key = *old;
		memcpy(m->key_token, old_token, KEY_TOKEN_LEN);
	}
	m->key_prev_fd = -1;
}

static bool master_reload_apply(struct master *m)
{
	struct config *cfg;
	struct tls_server *tls;
	struct privdrop priv;
	struct master_sock old_key;
	unsigned char old_token[KEY_TOKEN_LEN];
	bool ok;

	if (master_reload_load(m, &cfg, &priv, &tls) < 0)
		return false;
	ok = master_key_next(m, cfg, &old_key, old_token) == 0;
	if (ok) {
		master_swap(m, &cfg, &priv, &tls); /* the children to come read m's */
		ok = master_reload_services(m) == 0;
		if (!ok)
			master_swap(m, &cfg, &priv, &tls);
		else if (!listen_same(cfg, m->cfg))
			log_warn("listen addresses changed: restart twofoldd to apply them");
		master_key_settle(m, ok, &old_key, old_token);
	}
	config_free(&cfg);
	tls_server_free(&tls);
	privdrop_free(&priv);
	if (!ok)
		return false;
	m->generation++;
	memset(m->backoff_until, 0, sizeof(m->backoff_until));
	m->worker_backoff_until = 0;
	master_signal_workers(m, SIGUSR1, true);
	master_signal_procs(m, 0);
	log_info("configuration reloaded: replacing workers");
	return true;
}

/* The service manager waits from RELOADING to READY, so `systemctl reload` returns once the
 * new configuration serves, or was refused (the old one serves on). */
static void master_reload(struct master *m)
{
	notify_reloading();
	if (master_reload_apply(m))
		notify_ready("serving; configuration reloaded");
	else
		notify_ready("serving; reload failed, old configuration kept (see the log)");
}

static void master_stop(struct master *m)
{
	if (m->stopping)
		return;
	log_info("stopping");
	notify_stopping();
	m->stopping = true;
	m->stop_deadline = time(NULL) + MASTER_STOP_GRACE;
	m->last_term = time(NULL);
	listen_close(&m->listeners);
	master_signal_workers(m, SIGTERM, false);
}

/* While stopping: the services go after the last worker; stragglers get SIGKILL. 1 when all
 * are gone. */
static int master_stop_progress(struct master *m)
{
	struct scoreboard_counts c;

	master_pool_count(&m->pool, &m->sb, m->generation, &c);
	if (c.total > 0 && time(NULL) != m->last_term) {
		/* again each second: a SIGTERM that lands just before a worker blocks in poll()
		 * is only noticed at the next one */
		m->last_term = time(NULL);
		master_signal_workers(m, SIGTERM, false);
	}
	if (c.total == 0 && !m->services_stopped) {
		m->services_stopped = true;
		master_signal_procs(m, SIGTERM);
	}
	if (time(NULL) > m->stop_deadline) {
		log_warn("children did not stop in time: killing them");
		master_signal_workers(m, SIGKILL, false);
		master_signal_procs(m, SIGKILL);
		m->stop_deadline = time(NULL) + MASTER_STOP_GRACE;
	}
	return c.total == 0 && m->nprocs == 0;
}

/* A new session-ticket key for the next generation of workers; the current ones leave when
 * idle, taking the old key with them. */
static void master_rotate_ticket_key(struct master *m)
{
	const char *error;

	if (m->stopping || !tls_server_ticket_key_expired(m->tls))
		return;
	if (tls_server_rotate_ticket_key(m->tls, &error) < 0) {
		log_error("cannot make a new session ticket key, keeping the old one: %s", error);
		return;
	}
	m->generation++;
	master_signal_workers(m, SIGUSR1, true);
	log_info("new session ticket key: replacing workers");
}

/* ---- main loop ---- */

static void master_events(struct master *m)
{
	unsigned char buf[64];
	ssize_t n;
	bool hup = false;

	while ((n = read(master_pipe[0], buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == SIGTERM || buf[i] == SIGINT)
				master_stop(m);
			else if (buf[i] == SIGHUP)
				hup = true;
		}
	master_reap(m);
	if (hup && !m->stopping)
		master_reload(m);
}

/* Maintenance first: the pool starts as soon as the services are ready, not a poll later. */
static void master_loop(struct master *m)
{
	for (;;) {
		struct pollfd p[2] = {{.fd = master_pipe[0], .events = POLLIN},
		                      {.fd = m->control_fd, .events = POLLIN}};

		master_rotate_ticket_key(m);
		if (!m->stopping)
			master_spawn_missing(m, false);
		master_maintain_pool(m);
		if (poll(p, 2, 1000) < 0 && errno != EINTR)
			fatal("poll: %s", strerror(errno));
		if (p[1].revents & POLLIN)
			control_serve(m->control_fd, &m->sb, &m->pool);
		master_events(m);
		if (m->stopping && master_stop_progress(m))
			return;
	}
}

/* Without it the daemon serves all the same; only `twofold who/kick` cannot reach it. */
static void master_control_open(struct master *m)
{
	char *error;

	if (control_open(m->cfg, &m->control_fd, &error) < 0) {
		log_warn("%s: twofold who/kick will not reach this daemon", error);
		free(error);
	}
}

static int master_setup(struct master *m, char **error_r)
{
	if (privdrop_prepare(m->cfg, &m->priv, error_r) < 0 ||
	    listen_open(m->cfg, &m->listeners, error_r) < 0)
		return -1;
	/* workers forked from here inherit the charset modules loaded now: chrooted, they could not
	 * load them, and their seccomp filter maps no code after start, chrooted or not */
	mime_charsets_preload();
	if (master_socket(&m->auth, "auth") < 0 || master_key_socket(m, m->cfg) < 0 ||
	    master_socket(&m->notice, "notice") < 0 || master_socket(&m->watch, "watch") < 0) {
		*error_r = xasprintf("service socket: %s", strerror(errno));
		return -1;
	}
	if (portal_master_open(m->cfg, &m->priv, &m->portal, error_r) < 0)
		return -1;
	if (scoreboard_init(&m->sb, MASTER_SCOREBOARD_SLOTS) < 0) {
		*error_r = xasprintf("scoreboard: %s", strerror(errno));
		return -1;
	}
	master_pool_init(&m->pool, MASTER_SCOREBOARD_SLOTS);
	master_control_open(m);
	if (pipe2(master_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		*error_r = xasprintf("pipe: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void master_free(struct master *m)
{
	listen_close(&m->listeners);
	master_close_sockets(m, -1);
	control_close(&m->control_fd, m->cfg->control_socket);
	portal_master_close(&m->portal);
	scoreboard_free(&m->sb);
	master_pool_free(&m->pool);
	privdrop_free(&m->priv);
	tls_server_free(&m->tls);
	config_free(&m->cfg);
	free(m->procs);
}

int master_run(struct config *cfg, struct tls_server *tls, bool foreground)
{
	struct master m = {.cfg = cfg,
	                   .tls = tls,
	                   .auth.fd = -1,
	                   .key.fd = -1,
	                   .key_prev_fd = -1,
	                   .control_fd = -1,
	                   .portal = PORTAL_MASTER_INIT,
	                   .notice.fd = -1,
	                   .watch.fd = -1};
	char *error = NULL;
	int report_fd = -1;

	if (master_setup(&m, &error) < 0) {
		fprintf(stderr, "twofoldd: %s\n", error);
		notify_status(error);
		free(error);
		master_free(&m);
		return 1;
	}
	if (!foreground)
		report_fd = daemon_start();
	log_set_role("master");
	if (!m.priv.root)
		log_warn("not started as root: workers and the auth service run as uid %ld without "
		         "chroot or privilege drop",
		         (long)getuid());
	master_signals();
	if (master_start_services(&m, &error) < 0) {
		log_error("cannot start: %s", error);
		notify_status(error);
		daemon_detach(report_fd, error);
		free(error);
		master_free(&m);
		return 1;
	}
	daemon_detach(report_fd, NULL);
	log_info("twofoldd %s started", TWOFOLD_VERSION);
	notify_ready("serving");
	master_loop(&m);
	log_info("stopped");
	master_free(&m);
	return 0;
}
