/* The IMAP session: greeting, reading commands through the parser (literals included), dispatch,
 * untagged updates after each command, and the end of a session. */
#include "server/imap/imap-client.h"
#include "common/clock.h"
#include "server/imap/imap-reply.h"
#include "server/imap/imap-context.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "server/conn.h"
#include "server/session.h"
#include "storage/storage.h"

#include <malloc.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define IMAP_LITERAL_CHUNK 65536

unsigned imap_login_time_left(const struct imap_client *c)
{
	return clock_seconds_left(c->login_deadline_ms);
}

unsigned imap_read_timeout(const struct imap_client *c)
{
	if (c->state == IMAP_STATE_NOAUTH)
		return imap_login_time_left(c);
	return c->s->cfg->idle_timeout > 0 ? c->s->cfg->idle_timeout : 1800;
}

static size_t imap_max_line(const struct imap_client *c)
{
	return c->state == IMAP_STATE_NOAUTH ? imap_parser_limits_prelogin.max_line
	                                     : imap_parser_limits_default.max_line;
}

long imap_read_continuation(struct imap_client *c, char **line_r)
{
	unsigned timeout = imap_read_timeout(c);

	conn_flush(c->conn);
	return conn_read_line(c->conn, line_r, imap_max_line(c), timeout > 0 ? timeout : 1);
}

/* --- untagged updates --- */

void imap_append_msg_flags(struct buf *out, const struct imap_client *c, size_t index)
{
	struct mail m = *mailbox_get(c->box, index);

	if (c->rev2)
		m.flags &= ~(unsigned)MAIL_RECENT;
	imap_append_flags(out, c->box, &m);
}

static void imap_report_flags(struct imap_client *c)
{
	size_t n = mailbox_changed_count(c->box);
	struct buf out;

	buf_init(&out);
	for (size_t i = 0; i < n; i++) {
		size_t idx = mailbox_changed_index(c->box, i);
		const struct mail *m;

		if (idx >= c->known_count || mailbox_msg_gone(c->box, idx))
			continue;
		m = mailbox_get(c->box, idx);
		buf_reset(&out);
		buf_printf(&out, "* %zu FETCH (UID %u FLAGS ", idx + 1, m->uid);
		imap_append_msg_flags(&out, c, idx);
		imap_append_modseq(&out, c, idx);
		buf_append_str(&out, ")\r\n");
		conn_write(c->conn, out.data, out.len);
		imap_context_changed(c, idx);
	}
	buf_free(&out);
	mailbox_changed_clear(c->box);
	imap_context_flush(c);
}

void imap_report_keywords(struct imap_client *c)
{
	struct buf out;

	if (mailbox_keyword_count(c->box) == c->known_keywords)
		return;
	c->known_keywords = mailbox_keyword_count(c->box);
	buf_init(&out);
	buf_append_str(&out, "* FLAGS (");
	imap_append_flag_names(&out, c->box);
	buf_append_str(&out, ")\r\n* OK [PERMANENTFLAGS (");
	imap_append_flag_names(&out, c->box);
	buf_append_str(&out, " \\*)] Flags permitted.\r\n");
	conn_write(c->conn, out.data, out.len);
	buf_free(&out);
}

static uint32_t imap_count_recent(const struct mailbox *box)
{
	size_t n = mailbox_count(box);
	uint32_t recent = 0;

	for (size_t i = 0; i < n; i++)
		recent += (mailbox_get(box, i)->flags & MAIL_RECENT) != 0;
	return recent;
}

int imap_expunge_marked(struct imap_client *c, bool *remove, const char **error_r)
{
	size_t n = mailbox_count(c->box);
	uint32_t *uids = xcalloc(n + 1, sizeof(*uids));
	int r;

	for (size_t i = 0; i < n; i++) {
		if (i >= c->known_count)
			remove[i] = false; /* the client has not been told of it yet */
		if (remove[i])
			uids[i] = mailbox_get(c->box, i)->uid;
	}
	r = mailbox_expunge(c->box, remove, error_r);
	/* REMOVEFROM goes before the EXPUNGEs, while its sequence numbers are valid */
	for (size_t i = 0; i < n; i++) {
		if (remove[i] && mailbox_find_uid(c->box, uids[i]) < 0) {
			imap_context_expunged(c, i, uids[i]);
			imap_searchres_expunged(c, uids[i]);
		}
	}
	imap_context_flush(c);
	for (size_t i = n; i-- > 0;) {
		if (!remove[i] || mailbox_find_uid(c->box, uids[i]) >= 0) {
			uids[i] = 0;
			continue;
		}
		if (!c->qresync)
			conn_printf(c->conn, "* %zu EXPUNGE\r\n", i + 1);
		c->known_count--;
	}
	if (c->qresync)
		imap_qresync_report_expunged(c, uids, n);
	xfree(&uids);
	return r;
}

static void imap_report_gone(struct imap_client *c)
{
	size_t n = mailbox_count(c->box);
	bool *remove = xcalloc(n + 1, sizeof(bool));
	bool any = false;
	const char *error;

	for (size_t i = 0; i < n && i < c->known_count; i++) {
		remove[i] = mailbox_msg_gone(c->box, i);
		any = any || remove[i];
	}
	if (any && imap_expunge_marked(c, remove, &error) < 0)
		log_error("imap user=%s: expunge of vanished messages failed: %s", c->user, error);
	xfree(&remove);
}

void imap_sync_report(struct imap_client *c, bool allow_expunge)
{
	const char *error;
	uint32_t count, recent;

	if (c->box == NULL)
		return;
	if (mailbox_sync(c->box, &error) < 0) {
		log_error("imap user=%s: sync of %s failed: %s", log_quote(c->user),
		          log_quote(mailbox_name(c->box)), error);
		return;
	}
	imap_report_flags(c);
	imap_report_keywords(c);
	if (allow_expunge)
		imap_report_gone(c);
	count = (uint32_t)mailbox_count(c->box);
	recent = imap_count_recent(c->box);
	/* RECENT goes with EXISTS (new messages), as clients expect it, and follows EXPUNGEs
	 * down: a client keeps the last RECENT it was told, which must not exceed its EXISTS */
	if (count != c->known_count)
		conn_printf(c->conn, "* %u EXISTS\r\n", count);
	if (!c->rev2 && (count != c->known_count || recent != c->known_recent))
		conn_printf(c->conn, "* %u RECENT\r\n", recent);
	if (count > c->known_count) {
		uint32_t known = c->known_count;

		c->known_count = count;
		imap_context_arrived(c, known, count); /* ADDTO after EXISTS (RFC 5267 4.3.3) */
	}
	c->known_count = count;
	c->known_recent = recent;
}

void imap_mailbox_unselect(struct imap_client *c)
{
	imap_context_free_all(c);
	imap_searchres_clear(c);
	mailbox_close(&c->box);
	c->readonly = false;
	c->known_count = c->known_recent = c->known_keywords = 0;
	if (c->state == IMAP_STATE_SELECTED)
		c->state = IMAP_STATE_AUTH;
}

/* --- sequence sets --- */

static int imap_seq_mark(struct imap_client *c, const struct imap_seq_range *r, unsigned n,
                         bool *sel, const char **error_r)
{
	uint32_t count = c->known_count;

	for (unsigned i = 0; i < n; i++) {
		uint32_t lo = r[i].lo == IMAP_SEQ_STAR ? count : (uint32_t)r[i].lo;
		uint32_t hi = r[i].hi == IMAP_SEQ_STAR ? count : (uint32_t)r[i].hi;

		if ((r[i].lo != IMAP_SEQ_STAR && r[i].lo > count) ||
		    (r[i].hi != IMAP_SEQ_STAR && r[i].hi > count)) {
			*error_r = "Invalid message sequence number.";
			return -1;
		}
		if (lo > hi) {
			uint32_t t = lo;

			lo = hi;
			hi = t;
		}
		for (uint32_t s = lo; s >= 1 && s <= hi; s++)
			sel[s - 1] = true;
	}
	return 1;
}

int imap_seqset_select(struct imap_client *c, const char *set, bool uid, bool **sel_r,
                       const char **error_r)
{
	struct imap_seq_range *ranges;
	unsigned n;
	uint32_t count = c->known_count, star;
	bool *sel;
	int r = 1;

	if (strcmp(set, "$") == 0) { /* SEARCHRES (RFC 5182) */
		*sel_r = imap_searchres_select(c);
		return 1;
	}
	if (imap_seqset_parse(set, &ranges, &n, error_r) < 0)
		return -1;
	sel = xcalloc((size_t)count + 1, sizeof(bool));
	if (!uid) {
		r = imap_seq_mark(c, ranges, n, sel, error_r);
	} else if (count > 0) {
		star = mailbox_get(c->box, count - 1)->uid;
		for (uint32_t i = 0; i < count; i++)
			sel[i] = imap_seqset_contains(ranges, n, mailbox_get(c->box, i)->uid, star);
	}
	xfree(&ranges);
	if (r < 0) {
		xfree(&sel);
		return -1;
	}
	*sel_r = sel;
	return 1;
}

/* --- dispatch --- */

static bool imap_cmd_allows_expunge(const struct imap_client *c)
{
	return c->cmd == NULL || c->uid || (c->cmd->flags & IMAP_CMD_FLAG_NO_EXPUNGE) == 0;
}

void imap_ok(struct imap_client *c, const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	text = imap_vformat(fmt, ap);
	va_end(ap);
	if (c->state == IMAP_STATE_SELECTED)
		imap_sync_report(c, imap_cmd_allows_expunge(c));
	imap_tagged(c, "OK", "%s", text);
	xfree(&text);
}

static enum imap_cmd_result imap_run(struct imap_client *c)
{
	const struct imap_arg *root = imap_parser_args(c->parser);
	const struct imap_arg *args = root->list;
	unsigned count = root->count;
	const char *name = imap_parser_name(c->parser), *sub;

	c->uid = false;
	if (strcasecmp(name, "UID") == 0) {
		if (count == 0 || !imap_arg_get_atom(&args[0], &sub))
			return imap_bad(c, "UID needs a command.");
		c->uid = true;
		name = sub;
		args++;
		count--;
	}
	c->cmd = imap_command_find(name);
	if (c->cmd == NULL || (c->uid && (c->cmd->flags & IMAP_CMD_FLAG_UID) == 0))
		return imap_bad(c, "Unknown command.");
	if ((c->cmd->states & c->state) == 0) {
		if (c->state == IMAP_STATE_NOAUTH)
			return imap_bad(c, "Not logged in.");
		return imap_bad(c, c->state == IMAP_STATE_AUTH &&
		                           (c->cmd->states & IMAP_STATE_SELECTED) != 0
		                       ? "No mailbox selected."
		                       : "Command not allowed in this state.");
	}
	return c->cmd->handler(c, args, count);
}

/* Before login a tag comes back in a reply only when it is letters, digits and ".-_" (what
 * clients send): a client not yet known gets none of its own bytes echoed (no markup for a web
 * page that shows the reply, no terminal escapes). Any other tag gets an untagged BAD. */
static bool imap_tag_echoable(const struct imap_client *c, const char *tag)
{
	size_t len;

	if (tag == NULL || c->state != IMAP_STATE_NOAUTH)
		return tag != NULL;
	len = strspn(tag, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_");
	return len > 0 && len <= IMAP_PRELOGIN_TAG_MAX && tag[len] == '\0';
}

static enum imap_cmd_result imap_parse_error(struct imap_client *c)
{
	const char *msg = imap_parser_error(c->parser);
	const char *tag = imap_parser_tag(c->parser);
	bool answered = c->append_refused; /* an APPEND refused on the way has its reply */
	char text[160];

	c->tag = imap_tag_echoable(c, tag) ? tag : NULL;
	imap_append_abort(c);
	snprintf(text, sizeof(text), "%s.", msg != NULL ? msg : "Syntax error");
	if (imap_parser_error_is_fatal(c->parser)) {
		imap_tagged(c, "BAD", "%s", text);
		imap_untagged(c, "BYE Protocol error, closing connection.");
		return IMAP_CMD_END;
	}
	return answered ? IMAP_CMD_OK : imap_bad(c, text);
}

static bool imap_literal_discard(struct imap_client *c, uint64_t size)
{
	char *chunk = xmalloc(IMAP_LITERAL_CHUNK), *line;
	bool ok = true;

	while (ok && size > 0) {
		size_t n = size < IMAP_LITERAL_CHUNK ? (size_t)size : IMAP_LITERAL_CHUNK;

		ok = conn_read_exact(c->conn, chunk, n, imap_read_timeout(c)) == 0;
		size -= n;
	}
	xfree(&chunk);
	/* the rest of the command line */
	return ok && conn_read_line(c->conn, &line, imap_max_line(c), imap_read_timeout(c)) >= 0;
}

enum imap_cmd_result imap_literal_skip(struct imap_client *c, bool discard)
{
	enum imap_cmd_result r = IMAP_CMD_OK;

	imap_append_abort(c);
	if (!imap_parser_literal_is_sync(c->parser)) {
		if (!discard) {
			imap_untagged(c, "BYE Protocol error, closing connection.");
			r = IMAP_CMD_END;
		} else if (!imap_literal_discard(c, imap_parser_literal_size(c->parser))) {
			r = IMAP_CMD_END;
		}
	}
	imap_parser_reset(c->parser);
	return r;
}

void imap_literal_tag(struct imap_client *c)
{
	const char *tag = imap_parser_tag(c->parser);

	c->tag = imap_tag_echoable(c, tag) ? tag : NULL;
}

/* A literal over a limit of the command: refused before its data is read. */
static enum imap_cmd_result imap_literal_too_large(struct imap_client *c)
{
	imap_literal_tag(c);
	imap_tagged(c, "BAD", "Literal too large.");
	return imap_literal_skip(c, false);
}

static enum imap_cmd_result imap_feed(struct imap_client *c, const void *data, size_t len);

/* An APPEND message: a literal of the command itself after the mailbox name (flags are a list,
 * the date a quoted string). It streams to the mailbox's tmp/ instead of into the parser. */
static bool imap_literal_is_message(struct imap_client *c)
{
	const char *name = imap_parser_name(c->parser);
	unsigned index;

	return c->state != IMAP_STATE_NOAUTH && name != NULL && strcasecmp(name, "APPEND") == 0 &&
	       imap_parser_literal_top_level(c->parser, &index) && index >= 1;
}

static enum imap_cmd_result imap_literal_message(struct imap_client *c)
{
	bool taken;
	enum imap_cmd_result r = imap_append_literal(c, &taken);

	if (r != IMAP_CMD_OK || !taken)
		return r;
	if (imap_parser_literal_taken(c->parser) == IMAP_PARSE_ERROR)
		return imap_parse_error(c);
	return IMAP_CMD_OK;
}

/* After the parser announced a literal: check it, invite it, and feed its data. Every literal
 * but APPEND's message goes into the parser's memory, so together they are bounded by
 * IMAP_MAX_COMMAND_SIZE, each by IMAP_MAX_OTHER_LITERAL. */
static enum imap_cmd_result imap_literal(struct imap_client *c)
{
	uint64_t left = imap_parser_literal_size(c->parser);
	enum imap_cmd_result r = IMAP_CMD_OK;
	char *chunk;

	if (imap_literal_is_message(c))
		return imap_literal_message(c);
	if (left > IMAP_MAX_OTHER_LITERAL ||
	    imap_parser_command_size(c->parser) + left > IMAP_MAX_COMMAND_SIZE)
		return imap_literal_too_large(c);
	c->parser_grown = c->parser_grown || left > IMAP_LITERAL_CHUNK;
	if (imap_parser_literal_is_sync(c->parser))
		conn_puts(c->conn, "+ OK\r\n");
	if (left == 0)
		return imap_feed(c, "", 0);
	chunk = xmalloc(IMAP_LITERAL_CHUNK);
	while (r == IMAP_CMD_OK && left > 0) {
		size_t n = left < IMAP_LITERAL_CHUNK ? (size_t)left : IMAP_LITERAL_CHUNK;

		if (conn_read_exact(c->conn, chunk, n, imap_read_timeout(c)) < 0) {
			r = IMAP_CMD_END;
			break;
		}
		left -= n;
		r = imap_feed(c, chunk, n);
	}
	sodium_memzero(chunk, IMAP_LITERAL_CHUNK); /* may have been a password */
	xfree(&chunk);
	return r;
}

static enum imap_cmd_result imap_command_done(struct imap_client *c)
{
	enum imap_cmd_result r;

	c->tag = imap_parser_tag(c->parser);
	if (imap_tag_echoable(c, c->tag)) {
		r = imap_run(c);
	} else {
		c->tag = NULL;
		r = imap_bad(c, "Invalid tag.");
	}
	c->cmd = NULL;
	c->uid = false;
	imap_append_abort(c); /* a message the command did not take */
	if (c->parser_grown) {
		/* the parser keeps its buffers: do not hold an APPEND's worth of memory for the
		 * rest of the session */
		imap_parser_free(&c->parser);
		c->parser = imap_parser_new(&c->limits);
		c->parser_grown = false;
	}
	return r;
}

/* Feeds input to the parser and acts on what it finds. BAD results only count. */
static enum imap_cmd_result imap_feed(struct imap_client *c, const void *data, size_t len)
{
	size_t off = 0;

	do {
		size_t used;
		enum imap_parse_result pr =
		    imap_parser_feed(c->parser, (const char *)data + off, len - off, &used);
		enum imap_cmd_result r = IMAP_CMD_OK;

		off += used;
		if (pr == IMAP_PARSE_DONE)
			r = imap_command_done(c);
		else if (pr == IMAP_PARSE_LITERAL)
			r = imap_literal(c);
		else if (pr == IMAP_PARSE_ERROR)
			r = imap_parse_error(c);
		else
			break;
		if (r == IMAP_CMD_END || c->state == IMAP_STATE_LOGOUT)
			return IMAP_CMD_END;
	} while (off < len);
	return IMAP_CMD_OK;
}

static bool imap_bye(struct imap_client *c, const char *text)
{
	imap_untagged(c, "BYE %s", text);
	return false;
}

/* Reads and runs one command line (and its literals). false when the session is over. */
static bool imap_step(struct imap_client *c)
{
	unsigned timeout = imap_read_timeout(c);
	enum imap_cmd_result r;
	char *line;
	ssize_t n;

	if (session_stopping(c->s))
		return imap_bye(c, "Server shutting down.");
	if (timeout == 0)
		return imap_bye(c, "Login timeout, closing connection.");
	n = conn_read_line(c->conn, &line, imap_max_line(c), timeout);
	if (n == CONN_TOO_LONG) {
		imap_untagged(c, "BAD Command line too long.");
		return imap_bye(c, "Protocol error, closing connection.");
	}
	if (n == CONN_TIMEOUT)
		return imap_bye(c, c->state == IMAP_STATE_NOAUTH
		                       ? "Login timeout, closing connection."
		                       : "Disconnected for inactivity.");
	if (n == CONN_SHUTDOWN)
		return imap_bye(c, "Server shutting down.");
	if (n < 0)
		return false;
	r = imap_feed(c, line, (size_t)n);
	/* the parser holds its own copy; the line may have carried a password */
	sodium_memzero(line, (size_t)n);
	if (r != IMAP_CMD_END)
		r = imap_feed(c, "\r\n", 2);
	if (!conn_input_buffered(c->conn))
		conn_flush(c->conn);
	return r != IMAP_CMD_END && !conn_broken(c->conn);
}

void imap_client_logout_storage(struct imap_client *c)
{
	imap_mailbox_unselect(c);
	if (c->storage != NULL)
		mail_storage_close(&c->storage);
	xfree(&c->user);
}

void imap_client_release_memory(struct imap_client *c)
{
	conn_release_buffers(c->conn);
	/* freed heap pages (this command's and earlier ones') back to the kernel */
	(void)malloc_trim(0);
}

static void imap_client_idle(void *ctx)
{
	imap_client_release_memory(ctx);
}

void imap_session_run(struct session *s)
{
	struct imap_client c;

	memset(&c, 0, sizeof(c));
	c.s = s;
	c.conn = s->conn;
	c.state = IMAP_STATE_NOAUTH;
	c.parser = imap_parser_new(&imap_parser_limits_prelogin);
	c.login_deadline_ms = session_begin(s, imap_client_idle, &c);

	imap_untagged(&c, "OK [CAPABILITY %s AUTH=PLAIN] twofold ready.", imap_capabilities(&c));
	while (imap_step(&c)) {
	}
	imap_append_abort(&c); /* the connection ended inside an APPEND */
	conn_flush(c.conn);
	if (c.user != NULL)
		log_info("imap logout user=%s ip=%s", log_quote(c.user), conn_peer_ip(c.conn));
	imap_client_logout_storage(&c);
	imap_parser_free(&c.parser);
	conn_set_idle(c.conn, 0, NULL, NULL);
}
