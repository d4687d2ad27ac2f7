/*
 * The portal process: chroots into its own directory and drops privileges, then serves HTTPS
 * with libmicrohttpd, one thread per connection (a sign-in waits out the policy's delay
 * without holding up anyone else), until SIGTERM or SIGUSR1.
 */
#include "server/portal/portal.h"
#include "common/config.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "server/portal/portal-http.h"
#include "server/privdrop.h"
#include "server/sandbox.h"
#include "server/tls.h"

#include <errno.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define PORTAL_CONNECTIONS    64 /* in all; each is a thread */
#define PORTAL_PER_IP         16
#define PORTAL_IDLE_TIMEOUT   30    /* seconds */
#define PORTAL_CONNECTION_MEM 32768 /* request line and headers */
#define PORTAL_DRAIN_MS       5000  /* at most, for requests in flight at a stop */

static void portal_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void portal_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_info("http: %s", msg);
}

/* SIGTERM/SIGUSR1 blocked here, before any thread exists, and taken by sigwait in the main
 * thread: no handler runs inside libmicrohttpd's threads. */
static void portal_signals(sigset_t *wait_r)
{
	struct sigaction sa = {.sa_handler = SIG_IGN};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(wait_r);
	sigaddset(wait_r, SIGTERM);
	sigaddset(wait_r, SIGUSR1);
	sigprocmask(SIG_SETMASK, wait_r, NULL);
}

/* Into the directory that holds the auth socket: as root, chrooted there as the workers'
 * account, like a worker in its own chroot. */
static int portal_confine(const struct portal_env *env, const char **error_r)
{
	struct privdrop priv = *env->priv;

	if (env->priv->chroot_fd >= 0)
		close(env->priv->chroot_fd); /* the workers' chroot: a way out of ours */
	priv.chroot_fd = env->pm->dir_fd;
	priv.chroot_dir = env->pm->dir;
	if (!priv.root && chdir(env->pm->dir) < 0) {
		*error_r = "cannot enter the portal directory";
		return -1;
	}
	return privdrop_apply(&priv, PRIVDROP_WORKER, error_r);
}

static struct MHD_Daemon *portal_start(const struct portal_env *env, struct portal_site *site,
                                       const struct tls_portal *tp)
{
	unsigned flags = MHD_USE_TLS | MHD_USE_THREAD_PER_CONNECTION |
	                 MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG |
	                 MHD_USE_ITC;

	return MHD_start_daemon(
	    flags, 0, NULL, NULL, portal_http_access, site, MHD_OPTION_EXTERNAL_LOGGER,
	    portal_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, env->pm->listen_fd,
	    MHD_OPTION_HTTPS_CERT_CALLBACK, tp->cert_callback, MHD_OPTION_HTTPS_PRIORITIES,
	    tp->priority, MHD_OPTION_CONNECTION_LIMIT, (unsigned)PORTAL_CONNECTIONS,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)PORTAL_PER_IP,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)PORTAL_IDLE_TIMEOUT,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)PORTAL_CONNECTION_MEM,
	    MHD_OPTION_NOTIFY_COMPLETED, portal_http_completed, NULL,
	    MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_END);
}

/* At a reload or stop, the portal that takes over shares the listening socket: stop taking
 * connections from it, and let the requests already taken finish (bounded, since an idle
 * keep-alive connection would wait for its timeout), so no user sees a connection dropped. */
static void portal_drain(struct MHD_Daemon *d)
{
	const struct timespec step = {.tv_nsec = 50 * 1000000L};
	const union MHD_DaemonInfo *now;

	MHD_quiesce_daemon(d);
	now = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	log_info("portal stopping: %u connections to finish",
	         now != NULL ? now->num_connections : 0);
	for (unsigned waited = 0; waited < PORTAL_DRAIN_MS; waited += 50) {
		const union MHD_DaemonInfo *info =
		    MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

		if (info == NULL || info->num_connections == 0)
			return;
		nanosleep(&step, NULL);
	}
}

int portal_run(const struct portal_env *env, const char **error_r)
{
	struct portal_site site = {.cfg = env->cfg, .origin = env->cfg->portal_origin};
	struct tls_portal tp;
	struct MHD_Daemon *d;
	sigset_t wait;
	int sig = 0;

	portal_signals(&wait);
	if (tls_server_portal_init(env->tls, env->cfg, &tp, error_r) < 0 ||
	    portal_confine(env, error_r) < 0)
		return -1;
	prctl(PR_SET_NAME, "twofoldd-portal"); /* named only once confined */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	/* before libmicrohttpd starts a thread (they inherit it) or reads a byte of a request */
	if (sandbox_seccomp_load(SANDBOX_PORTAL, error_r) < 0)
		return -1;
	d = portal_start(env, &site, &tp);
	if (d == NULL) {
		*error_r = "libmicrohttpd refused to start the daemon";
		return -1;
	}
	log_info("portal listening on %s (%s)", env->cfg->portal_listen.addrs[0], site.origin);
	if (env->ready != NULL)
		env->ready(env->ready_ctx);
	while (sig != SIGTERM && sig != SIGUSR1)
		if (sigwait(&wait, &sig) != 0)
			sig = 0;
	portal_drain(d);
	MHD_stop_daemon(d);
	free(tp.priority);
	return 0;
}
