#include "server/overflow.h"
#include "common/auth-proto.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "server/admission.h"
#include "server/conn.h"
#include "server/daemon.h"
#include "server/listen.h"
#include "server/privdrop.h"
#include "server/scoreboard.h"
#include "server/tls.h"
#include "server/worker.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define OVERFLOW_CHECK_MS     100   /* how often the pool is looked at */
#define OVERFLOW_STUCK_MS     1000  /* full, and no session ended for this long */
#define OVERFLOW_HANDSHAKE    3     /* seconds: a busy answer is not worth a slow handshake */
#define OVERFLOW_LOG_INTERVAL 60000 /* ms between "pool full" lines */

static volatile sig_atomic_t overflow_quit;

struct overflow {
	const struct worker_env *env;
	struct admission client;
	long log_at;       /* when "pool full" was last logged (monotonic ms), 0 never */
	unsigned answered; /* busy answers since */
	uint64_t done;     /* sessions the workers had finished when last looked at */
	long moved_at;     /* when that last changed, or the pool was last not full */
};

static void overflow_on_signal(int sig)
{
	overflow_quit = 1;
}

static void overflow_signals(void)
{
	sigset_t none;

	daemon_child_signals(overflow_on_signal, overflow_on_signal);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* No idle worker, the master may start no more, and none has finished a session lately. */
static bool overflow_pool_stuck(struct overflow *o)
{
	struct scoreboard_counts c;
	long now = clock_now_ms();

	scoreboard_workers(o->env->sb, &c);
	if (c.idle > 0 || c.total < o->env->cfg->max_workers || c.done != o->done) {
		o->done = c.done;
		o->moved_at = now;
		return false;
	}
	return now - o->moved_at >= OVERFLOW_STUCK_MS;
}

static void overflow_log(struct overflow *o)
{
	long now = clock_now_ms();

	o->answered++;
	if (o->log_at != 0 && now - o->log_at < OVERFLOW_LOG_INTERVAL)
		return;
	log_warn("all %u workers busy ([server] max_workers): %u connection%s answered \"Server "
	         "busy\"%s",
	         o->env->cfg->max_workers, o->answered, o->answered == 1 ? "" : "s",
	         o->log_at != 0 ? " in the last minute" : "");
	o->log_at = now;
	o->answered = 0;
}

/* TLS, then the one line; best effort, never waiting long on the client. */
static void overflow_answer(struct overflow *o, const struct listener *l, int fd)
{
	const char *alpn = l->proto == AUTH_PROTO_IMAP ? "imap" : "pop3";
	const char *line = l->proto == AUTH_PROTO_IMAP ? "* BYE [UNAVAILABLE] Server busy\r\n"
	                                               : "-ERR [SYS/TEMP] Server busy\r\n";
	struct tls_conn *tc = NULL;
	struct conn_transport t;
	const char *error;

	if (tls_conn_handshake(o->env->tls, fd, alpn, OVERFLOW_HANDSHAKE, &tc, &error) < 0) {
		log_debug("TLS handshake with %s failed: %s", o->client.ip, error);
		return;
	}
	tls_conn_transport(tc, &t);
	if (t.write(t.ctx, line, strlen(line)) > 0)
		overflow_log(o);
	tls_conn_close(&tc);
}

static void overflow_take(struct overflow *o, const struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return; /* a worker was freed and took it */
	if (admission_accept(&o->client, &ss)) {
		overflow_answer(o, l, fd);
		admission_done(&o->client);
	}
	close(fd);
}

/* While the pool is stuck: waits on the listeners for one check interval and answers. */
static void overflow_serve(struct overflow *o)
{
	const struct listen_set *ls = o->env->listeners;
	struct pollfd p[16];
	size_t n = ls->count < 16 ? ls->count : 16;

	for (size_t i = 0; i < n; i++)
		p[i] = (struct pollfd){.fd = ls->l[i].fd, .events = POLLIN};
	if (poll(p, n, OVERFLOW_CHECK_MS) <= 0)
		return;
	/* looked at again for each: a worker may have finished a session meanwhile */
	for (size_t i = 0; i < n && !overflow_quit; i++)
		if ((p[i].revents & POLLIN) && overflow_pool_stuck(o))
			overflow_take(o, &ls->l[i]);
}

static void overflow_loop(struct overflow *o)
{
	const struct scoreboard_slot *slot = &o->env->sb->slots[o->env->slot];
	struct timespec pause = {.tv_nsec = OVERFLOW_CHECK_MS * 1000000L};

	while (!overflow_quit && !slot->retiring) {
		if (overflow_pool_stuck(o))
			overflow_serve(o);
		else
			nanosleep(&pause, NULL);
	}
}

void overflow_run(const struct worker_env *env)
{
	struct overflow o = {.env = env,
	                     .client = {.sb = env->sb, .slot = env->slot, .cfg = env->cfg}};
	const char *error;

	log_set_role("busy");
	overflow_signals();
	if (privdrop_apply(env->priv, PRIVDROP_WORKER, &error) < 0) {
		log_error("%s", error);
		_exit(2);
	}
	prctl(PR_SET_NAME, "twofoldd-busy"); /* once confined, as a worker */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	scoreboard_set_state(env->sb, env->slot, SLOT_OVERFLOW);
	overflow_loop(&o);
	_exit(0);
}
