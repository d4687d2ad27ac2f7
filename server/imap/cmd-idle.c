/* IDLE (RFC 2177): woken by inotify on the selected mailbox, keepalives for NAT'd phones. */
#include "server/imap/imap-client.h"
#include "common/clock.h"
#include "server/imap/imap-reply.h"
#include "common/config.h"
#include "common/log.h"
#include "server/conn.h"
#include "server/session.h"
#include "storage/storage.h"

#include <string.h>
#include <strings.h>
#include <time.h>

static int imap_idle_watch(struct imap_client *c)
{
	const char *error;
	int fd;

	if (c->box == NULL)
		return -1;
	fd = mailbox_watch_fd(c->box, &error);
	if (fd < 0)
		log_error("imap user=%s: no inotify watch (%s): IDLE polls", c->user, error);
	return fd;
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

static void imap_idle_update(struct imap_client *c, int watch_fd)
{
	if (watch_fd >= 0)
		mailbox_watch_drain(c->box);
	if (c->state == IMAP_STATE_SELECTED)
		imap_sync_report(c, true);
	conn_flush(c->conn);
}

/* Waits for input, a change or the next keepalive. 1 input, 0 go on, negative: end. */
static int imap_idle_wait(struct imap_client *c, int watch_fd, long *keepalive_at)
{
	long keepalive_ms = (long)c->s->cfg->imap_idle_keepalive * 1000L;
	long left = *keepalive_at - clock_now_ms();
	/* without inotify, look for changes every 5 seconds */
	long wait_ms = watch_fd < 0 && left > 5000 ? 5000 : left;
	int r = conn_wait_input(c->conn, watch_fd, wait_ms > 0 ? (unsigned)wait_ms : 0);

	if (r == 1 || r < 0)
		return r;
	imap_idle_update(c, watch_fd);
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
	int watch_fd, r;

	(void)a;
	if (n != 0)
		return imap_bad(c, "IDLE takes no arguments.");
	watch_fd = imap_idle_watch(c);
	if (c->state == IMAP_STATE_SELECTED)
		imap_sync_report(c, true);
	conn_puts(c->conn, "+ idling\r\n");
	conn_flush(c->conn);
	/* An IDLE lasts minutes to hours and phones keep many open: hand what earlier commands
	 * used back to the kernel (about 100 KiB of Pss per session). */
	imap_client_release_memory(c);
	while ((r = imap_idle_wait(c, watch_fd, &keepalive_at)) == 0) {
	}
	if (r == 1)
		return imap_idle_done(c);
	if (r == CONN_SHUTDOWN)
		imap_untagged(c, "BYE Server shutting down.");
	return IMAP_CMD_END;
}
