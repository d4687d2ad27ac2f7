/* IDLE (RFC 2177): woken by inotify on the selected mailbox, keepalives for NAT'd phones. */
#include "server/imap/imap-client.h"
#include "server/imap/imap-reply.h"
#include "common/config.h"
#include "common/log.h"
#include "server/conn.h"
#include "server/session.h"
#include "storage/storage.h"

#include <string.h>
#include <strings.h>

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

enum imap_cmd_result imap_cmd_idle(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	unsigned keepalive = c->s->cfg->imap_idle_keepalive;
	int watch_fd = imap_idle_watch(c);
	/* without inotify, look every 5 seconds */
	unsigned wait_ms = watch_fd >= 0 ? keepalive * 1000u : 5000u;

	(void)a;
	if (n != 0)
		return imap_bad(c, "IDLE takes no arguments.");
	if (c->state == IMAP_STATE_SELECTED)
		imap_sync_report(c, true);
	conn_puts(c->conn, "+ idling\r\n");
	conn_flush(c->conn);
	for (;;) {
		int r = conn_wait_input(c->conn, watch_fd, wait_ms);

		if (r == 1)
			return imap_idle_done(c);
		if (r < 0) {
			if (r == CONN_SHUTDOWN)
				imap_untagged(c, "BYE Server shutting down.");
			return IMAP_CMD_END;
		}
		imap_idle_update(c, watch_fd);
		if (r == 0)
			imap_untagged(c, "OK Still here");
		conn_flush(c->conn);
		if (conn_broken(c->conn))
			return IMAP_CMD_END;
	}
}
