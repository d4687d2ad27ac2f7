#include "server/master.h"
#include "auth/service.h"
#include "common/config.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "server/listen.h"
#include "server/master-pool.h"
#include "server/privdrop.h"
#include "server/scoreboard.h"
#include "server/tls.h"
#include "server/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MASTER_SCOREBOARD_SLOTS 65536 /* the config's max_workers limit; pages touched lazily */
#define MASTER_STOP_GRACE       8     /* seconds before stopping children turns into SIGKILL */
#define MASTER_BACKOFF          5     /* seconds between respawns of children that fail at start */
#define MASTER_AUTH_BACKLOG     512

struct master_auth {
	pid_t pid;
	uint32_t generation;
	time_t started;
};

struct master {
	struct config *cfg;
	struct tls_server *tls;
	struct listen_set listeners;
	struct privdrop priv;
	struct scoreboard sb;
	struct master_pool pool;  /* whom to signal: never the scoreboard's pids */
	uint32_t generation;      /* of workers: a reload or a new ticket key */
	uint32_t auth_generation; /* of auth processes: a reload */

	int auth_fd;
	struct sockaddr_un auth_addr;
	socklen_t auth_addr_len;
	struct master_auth *auth;
	size_t auth_count;
	bool auth_stopped;
	time_t auth_backoff_until, worker_backoff_until;

	bool stopping;
	time_t stop_deadline, last_term;
};

static int master_pipe[2] = {-1, -1};

/* ---- config checks ---- */

/* The line of key in [section] of the file, for messages; 0 if not found. */
static unsigned master_config_line(const char *path, const char *section, const char *key)
{
	FILE *fp = fopen(path, "r");
	char line[1024], cur[64] = "";
	unsigned n = 0, found = 0;

	if (fp == NULL)
		return 0;
	while (found == 0 && fgets(line, sizeof(line), fp) != NULL) {
		char *s = line + strspn(line, " \t");

		n++;
		if (*s == '[')
			sscanf(s, "[%63[^]]", cur);
		else if (strcmp(cur, section) == 0 && strncmp(s, key, strlen(key)) == 0 &&
		         strchr(" \t=", s[strlen(key)]) != NULL)
			found = n;
	}
	fclose(fp);
	return found;
}

int master_config_check(const struct config *cfg, char **error_r)
{
	const char *path = cfg->path != NULL ? cfg->path : "config";

	if (cfg->imap_listen.count == 0 && cfg->pop3_listen.count == 0) {
		*error_r = xasprintf("%s:0: no listen address: set [imap] or [pop3] listen", path);
		return -1;
	}
	if (listen_check(cfg, error_r) < 0) {
		/* name the section whose addresses are refused */
		const char *section = strstr(*error_r, "[imap]") != NULL ? "imap" : "pop3";

		free(*error_r);
		*error_r = xasprintf("%s:%u: [%s] listen: not a numeric ADDR:PORT or [V6]:PORT",
		                     path, master_config_line(path, section, "listen"), section);
		return -1;
	}
	return 0;
}

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

/* ---- the auth service ---- */

static int master_auth_socket(struct master *m)
{
	struct sockaddr_un *sa = &m->auth_addr;
	uint64_t rnd;
	int len;

	randombytes_buf(&rnd, sizeof(rnd));
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* abstract namespace: reachable from the chroot, no file to clean up */
	len = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "twofold-auth-%ld-%016llx",
	               (long)getpid(), (unsigned long long)rnd);
	m->auth_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
	m->auth_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->auth_fd < 0 || bind(m->auth_fd, (struct sockaddr *)sa, m->auth_addr_len) < 0 ||
	    listen(m->auth_fd, MASTER_AUTH_BACKLOG) < 0)
		return -1;
	return 0;
}

static void master_child_on_quit(int sig)
{
	auth_service_quit = 1;
}

static void master_auth_child(struct master *m)
{
	struct sigaction sa = {.sa_handler = master_child_on_quit};
	sigset_t none;
	const char *error;

	log_set_role("auth");
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	listen_close(&m->listeners);
	close(master_pipe[0]);
	close(master_pipe[1]);
	if (privdrop_apply(&m->priv, false, &error) < 0) {
		log_error("%s", error);
		_exit(2);
	}
	prctl(PR_SET_NAME, "twofoldd-auth"); /* named only once unprivileged */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (auth_service_run(m->cfg, m->auth_fd, &error) < 0) {
		log_error("auth service cannot start: %s", error);
		_exit(2);
	}
	exit(0);
}

static void master_spawn_auth(struct master *m)
{
	pid_t pid = master_fork();

	if (pid == 0)
		master_auth_child(m);
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		return;
	}
	m->auth = xreallocarray(m->auth, m->auth_count + 1, sizeof(*m->auth));
	m->auth[m->auth_count++] = (struct master_auth){pid, m->auth_generation, time(NULL)};
}

static unsigned master_auth_wanted(const struct master *m)
{
	long n = m->cfg->auth_processes;

	if (n == 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

static void master_maintain_auth(struct master *m)
{
	unsigned current = 0;

	if (m->stopping || time(NULL) < m->auth_backoff_until)
		return;
	for (size_t i = 0; i < m->auth_count; i++)
		if (m->auth[i].generation == m->auth_generation)
			current++;
	while (current++ < master_auth_wanted(m))
		master_spawn_auth(m);
}

static void master_signal_auth(struct master *m, int sig, bool old_only)
{
	for (size_t i = 0; i < m->auth_count; i++)
		if (!old_only || m->auth[i].generation != m->auth_generation)
			kill(m->auth[i].pid, sig);
}

/* ---- the worker pool ---- */

static void master_spawn_worker(struct master *m)
{
	int slot = master_pool_free_slot(&m->pool);
	pid_t pid;

	if (slot < 0)
		return;
	scoreboard_claim(&m->sb, slot, -1, m->generation);
	pid = master_fork();
	if (pid == 0) {
		struct worker_env env = {.cfg = m->cfg,
		                         .tls = m->tls,
		                         .listeners = &m->listeners,
		                         .sb = &m->sb,
		                         .slot = slot,
		                         .priv = &m->priv,
		                         .auth_addr = m->auth_addr,
		                         .auth_addr_len = m->auth_addr_len,
		                         .notify_fd = master_pipe[1]};

		close(m->auth_fd);
		close(master_pipe[0]);
		worker_run(&env);
	}
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		scoreboard_release(&m->sb, slot);
		return;
	}
	m->sb.slots[slot].pid = pid;
	master_pool_add(&m->pool, pid, slot, m->generation);
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
			master_spawn_worker(m);
	} else if (c.idle > cfg->max_spare) {
		master_retire_one(m);
	}
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

static void master_log_exit(const char *what, pid_t pid, int status)
{
	if (WIFSIGNALED(status))
		log_error("%s %ld killed by signal %d", what, (long)pid, WTERMSIG(status));
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		log_error("%s %ld exited with status %d", what, (long)pid, WEXITSTATUS(status));
	else
		log_debug("%s %ld exited", what, (long)pid);
}

static void master_auth_died(struct master *m, size_t i, int status)
{
	master_log_exit("auth process", m->auth[i].pid, status);
	if (!m->stopping && WIFEXITED(status) && WEXITSTATUS(status) == 2) {
		log_error("auth process failed at start; retrying in %d seconds", MASTER_BACKOFF);
		m->auth_backoff_until = time(NULL) + MASTER_BACKOFF;
	}
	m->auth[i] = m->auth[--m->auth_count];
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
		for (size_t i = 0; i < m->auth_count; i++)
			if (m->auth[i].pid == pid) {
				master_auth_died(m, i, status);
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

static void master_reload(struct master *m)
{
	struct config *cfg;
	struct tls_server *tls;
	struct privdrop priv;

	if (master_reload_load(m, &cfg, &priv, &tls) < 0)
		return;
	if (!listen_same(m->cfg, cfg))
		log_warn("listen addresses changed: restart twofoldd to apply them");
	config_free(&m->cfg);
	tls_server_free(&m->tls);
	privdrop_free(&m->priv);
	m->cfg = cfg;
	m->tls = tls;
	m->priv = priv;
	m->generation++;
	m->auth_generation++;
	m->worker_backoff_until = m->auth_backoff_until = 0;
	master_signal_workers(m, SIGUSR1, true);
	master_signal_auth(m, SIGTERM, true);
	log_info("configuration reloaded: replacing workers");
}

static void master_stop(struct master *m)
{
	if (m->stopping)
		return;
	log_info("stopping");
	m->stopping = true;
	m->stop_deadline = time(NULL) + MASTER_STOP_GRACE;
	m->last_term = time(NULL);
	listen_close(&m->listeners);
	master_signal_workers(m, SIGTERM, false);
}

/* While stopping: auth goes after the last worker; stragglers get SIGKILL. 1 when all gone. */
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
	if (c.total == 0 && !m->auth_stopped) {
		m->auth_stopped = true;
		master_signal_auth(m, SIGTERM, false);
	}
	if (time(NULL) > m->stop_deadline) {
		log_warn("children did not stop in time: killing them");
		master_signal_workers(m, SIGKILL, false);
		master_signal_auth(m, SIGKILL, false);
		m->stop_deadline = time(NULL) + MASTER_STOP_GRACE;
	}
	return c.total == 0 && m->auth_count == 0;
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

static void master_loop(struct master *m)
{
	for (;;) {
		struct pollfd p = {.fd = master_pipe[0], .events = POLLIN};

		if (poll(&p, 1, 1000) < 0 && errno != EINTR)
			fatal("poll: %s", strerror(errno));
		master_events(m);
		if (m->stopping && master_stop_progress(m))
			return;
		master_rotate_ticket_key(m);
		master_maintain_auth(m);
		master_maintain_pool(m);
	}
}

static int master_setup(struct master *m, char **error_r)
{
	if (privdrop_prepare(m->cfg, &m->priv, error_r) < 0 ||
	    listen_open(m->cfg, &m->listeners, error_r) < 0)
		return -1;
	if (master_auth_socket(m) < 0) {
		*error_r = xasprintf("auth socket: %s", strerror(errno));
		return -1;
	}
	if (scoreboard_init(&m->sb, MASTER_SCOREBOARD_SLOTS) < 0) {
		*error_r = xasprintf("scoreboard: %s", strerror(errno));
		return -1;
	}
	master_pool_init(&m->pool, MASTER_SCOREBOARD_SLOTS);
	if (pipe2(master_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		*error_r = xasprintf("pipe: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void master_daemonize(void)
{
	int fd;

	if (daemon(0, 1) < 0)
		fatal("daemon: %s", strerror(errno));
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

static void master_free(struct master *m)
{
	listen_close(&m->listeners);
	if (m->auth_fd >= 0)
		close(m->auth_fd);
	scoreboard_free(&m->sb);
	master_pool_free(&m->pool);
	privdrop_free(&m->priv);
	tls_server_free(&m->tls);
	config_free(&m->cfg);
	free(m->auth);
}

int master_run(struct config *cfg, struct tls_server *tls, bool foreground)
{
	struct master m = {.cfg = cfg, .tls = tls, .auth_fd = -1};
	char *error = NULL;

	if (master_setup(&m, &error) < 0) {
		fprintf(stderr, "twofoldd: %s\n", error);
		free(error);
		master_free(&m);
		return 1;
	}
	if (!foreground)
		master_daemonize();
	log_set_role("master");
	if (!m.priv.root)
		log_warn("not started as root: workers and the auth service run as uid %ld without "
		         "chroot or privilege drop",
		         (long)getuid());
	master_signals();
	log_info("twofoldd %s started", TWOFOLD_VERSION);
	master_loop(&m);
	log_info("stopped");
	master_free(&m);
	return 0;
}
