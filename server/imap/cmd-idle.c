/* IDLE (RFC 2177): woken by the watch process (or, without it, by inotify of its own) on the
 * selected mailbox, keepalives for NAT'd phones. */
#include "server/imap/imap-client.h"
#include "common/clock.h"
#include "server/imap/imap-reply.h"
#include "common/config.h"
#include "common/log.h"
#include "server/conn.h"
#include "server/session.h"
#include "server/watch.h"
#include "storage/storage.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* What wakes this IDLE: fd -1 when nothing does (it polls), shared when the watch process. */
struct imap_idle_watch {
	int fd;
	bool shared;
};

/* Without the watch process: an inotify instance of its own, else polling. */
static int imap_idle_watch_self(struct imap_client *c)
{
	const char *error;
	int fd = mailbox_watch_fd(c->box, &error);

	if (fd < 0)
		log_error("imap user=%s: no inotify watch (%s): IDLE polls", c->user, error);
	return fd;
}

/* The watch process first: the account's inotify instances are few (128 by default) and each
 * one here would count against them. */
static struct imap_idle_watch imap_idle_watch(struct imap_client *c)
{
	struct imap_idle_watch w = {-1, false};
	const char *error;

	if (c->box == NULL)
		return w;
	w.fd = watch_client_start(mailbox_watch_dirfd(c->box), &error);
	if (w.fd >= 0) {
		w.shared = true;
		return w;
	}
	log_debug("imap user=%s: IDLE watches by itself: %s", c->user, error);
	w.fd = imap_idle_watch_self(c);
	return w;
}

/* The client's answer to IDLE: "DONE" ends it. */
static enum imap_cmd_result imap_idle_done(struct imap_client *c)
{
	char *line;
	long n = imap_read_continuation(c, &line);

	if (n < 0) {
		if (n == CONN_SHUTDOWN)
			imap_untagged(c, "BYE Server shutting down.");
		return IMAP_CMD_END;
	}
	if (strcasecmp(line, "DONE") != 0)
		return imap_bad(c, "Expected DONE.");
	imap_ok(c, "Idle completed.");
	return IMAP_CMD_OK;
}

static void imap_idle_update(struct imap_client *c, struct imap_idle_watch *w)
{
	if (w->shared && watch_client_drain() < 0) {
		log_info("imap user=%s: the watch process went away: IDLE watches by itself",
		         c->user);
		*w = (struct imap_idle_watch){imap_idle_watch_self(c), false};
	} else if (!w->shared && w->fd >= 0)
		mailbox_watch_drain(c->box);
	if (c->state == IMAP_STATE_SELECTED)
		imap_sync_report(c, true);
	conn_flush(c->conn);
}

/* Waits for input, a change or the next keepalive. 1 input, 0 go on, negative: end. */
static int imap_idle_wait(struct imap_client *c, struct imap_idle_watch *w,
                          long *keepalive_at)
{
	long keepalive_ms = (long)c->s->cfg->imap_idle_keepalive * 1000L;
	long left = *keepalive_at - clock_now_ms();
	/* without inotify, look for changes every 5 seconds */
	long wait_ms = w->fd < 0 && left > 5000 ? 5000 : left;
	int r = conn_wait_input(c->conn, w->fd, wait_ms > 0 ? (unsigned)wait_ms : 0);

	if (r == 1 || r < 0)
		return r;
	imap_idle_update(c, w);
	if (clock_now_ms() >= *keepalive_at) {
		imap_untagged(c, "OK Still here");
		*keepalive_at = clock_now_ms() + keepalive_ms;
	}
	conn_flush(c->conn);
	return conn_broken(c->conn) ? CONN_ERROR : 0;
}

enum imap_cmd_result imap_cmd_idle(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	long keepalive_at = clock_now_ms() + (long)c->s->cfg->imap_idle_keepalive * 1000L;
	struct imap_idle_watch w;
	int r;

	(void)a;
	if (n != 0)
		return imap_bad(c, "IDLE takes no arguments.");
	w = imap_idle_watch(c);
	if (c->state == IMAP_STATE_SELECTED)
		imap_sync_report(c, true);
	conn_puts(c->conn, "+ idling\r\n");
	conn_flush(c->conn);
	/* An IDLE lasts minutes to hours and phones keep many open: hand what earlier commands
	 * used back to the kernel (about 100 KiB of Pss per session). */
	imap_client_release_memory(c);
	while ((r = imap_idle_wait(c, &w, &keepalive_at)) == 0) {
	}
	if (w.shared)
		watch_client_stop();
	if (r == 1)
		return imap_idle_done(c);
	if (r == CONN_SHUTDOWN)
		imap_untagged(c, "BYE Server shutting down.");
	return IMAP_CMD_END;
}
