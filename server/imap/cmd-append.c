/* APPEND (RFC 3501 6.3.11) with flags, date, APPENDUID (RFC 4315), MULTIAPPEND (RFC 3502) and
 * literal8 messages (RFC 3516). When a message literal is announced (imap.c asks
 * imap_append_literal) its size is checked against APPENDLIMIT (RFC 7889) and the mailbox
 * opened, before any data is read; the data then goes straight into a file in that mailbox's
 * tmp/, so a message costs no memory for its size, and the file is closed when its data ends:
 * what a command holds grows by a small record per message, up to IMAP_APPEND_MAX_MESSAGES.
 * The command, once its line is complete, commits every file in one transaction with its flags
 * and date, or removes them all; a message refused on the way is answered at once, and the
 * rest of the command's data is read and thrown away. */
#include "server/imap/imap-client.h"
#include "server/imap/imap-reply.h"
#include "common/config.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "server/conn.h"
#include "server/session.h"
#include "storage/storage.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int imap_month(const char *mon)
{
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

	for (int i = 0; i < 12; i++) {
		if (strcasecmp(mon, months[i]) == 0)
			return i;
	}
	return -1;
}

/* "dd-Mon-yyyy hh:mm:ss +zzzz" (day may be space-padded). 0 ok, -1 invalid. */
int imap_parse_datetime(const char *s, time_t *t_r)
{
	struct tm tm;
	char mon[4], sign, end;
	int day, year, hour, min, sec, zone, zone_s;

	if (strlen(s) < 25 || strlen(s) > 26 ||
	    sscanf(s, "%2d-%3[A-Za-z]-%4d %2d:%2d:%2d %c%4d%c", &day, mon, &year, &hour, &min, &sec,
	           &sign, &zone, &end) != 8)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_mon = imap_month(mon);
	if (tm.tm_mon < 0 || day < 1 || day > 31 || year < 1900 || hour > 23 || min > 59 ||
	    sec > 60 || (sign != '+' && sign != '-') || zone < 0 || zone % 100 > 59 || zone > 2359)
		return -1;
	tm.tm_mday = day;
	tm.tm_year = year - 1900;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	zone_s = (zone / 100) * 3600 + (zone % 100) * 60;
	*t_r = timegm(&tm) - (sign == '+' ? zone_s : -zone_s);
	return 0;
}

#define IMAP_APPEND_CHUNK 65536
/* Messages of one APPEND: 1,000 of them cost the worker under 0.5 MiB (its records and the parser's
 * arguments); each file is bounded by append_limit. */
#define IMAP_APPEND_MAX_MESSAGES 1000

struct imap_append {
	const char *name;
	const struct imap_arg *flags; /* NULL: none */
	time_t date;
	const char *data; /* a message sent as a quoted string */
	uint64_t size;
};

/* APPEND mailbox [flags] [date] "message": the one form whose message is not a literal. */
static int imap_append_args(const struct imap_arg *a, unsigned n, struct imap_append *ap)
{
	const char *date;
	unsigned i = 1;

	memset(ap, 0, sizeof(*ap));
	ap->date = time(NULL);
	if (n < 2 || n > 4 || !imap_arg_get_astring(&a[0], &ap->name))
		return -1;
	if (i < n - 1 && a[i].type == IMAP_ARG_LIST)
		ap->flags = &a[i++];
	if (i < n - 1) {
		if (!imap_arg_get_string(&a[i], &date) || imap_parse_datetime(date, &ap->date) < 0)
			return -1;
		i++;
	}
	if (i != n - 1 || !imap_arg_get_string(&a[i], &ap->data))
		return -1;
	ap->size = a[i].str_len;
	return 0;
}

/* A message another session expunged right after it was saved has no keywords to set: an
 * ordinary race, not an error. */
static void imap_append_keywords(struct mailbox *box, uint32_t uid, uint64_t keywords)
{
	const char *error = "";
	ssize_t idx = -1;

	if (keywords == 0)
		return;
	if (mailbox_sync(box, &error) < 0 ||
	    ((idx = mailbox_find_uid(box, uid)) >= 0 &&
	     mailbox_set_keywords(box, (size_t)idx, keywords, 0, &error) < 0))
		log_error("append: setting keywords on uid %u failed: %s", uid, error);
	else if (idx < 0)
		log_debug("append: uid %u expunged before its keywords were set", uid);
}

/* Flags of a message: 1, or answered (BAD -1, NO 0). */
static int imap_append_flags_arg(struct imap_client *c, struct mailbox *box,
                                 const struct imap_arg *arg, unsigned *flags_r,
                                 uint64_t *keywords_r)
{
	const char *error;
	int r = arg == NULL ? 0 : imap_parse_flags(box, arg, true, flags_r, keywords_r, &error);

	if (r == -1)
		imap_bad(c, error);
	else if (r == -2)
		imap_tagged(c, "NO", "[LIMIT] Too many keywords in this mailbox.");
	return r == 0 ? 1 : r == -1 ? -1 : 0;
}

/* A message sent as a quoted string (no literal): small, stored from memory. */
static enum imap_cmd_result imap_append_quoted(struct imap_client *c, struct mailbox *box,
                                               const struct imap_append *ap)
{
	unsigned flags = 0;
	uint64_t keywords = 0;
	const char *error;
	uint32_t uid = 0;
	int r = imap_append_flags_arg(c, box, ap->flags, &flags, &keywords);

	if (r <= 0)
		return r < 0 ? IMAP_CMD_BAD : IMAP_CMD_OK;
	if (mailbox_append(box, ap->data, (size_t)ap->size, flags, ap->date, &uid, &error) < 0) {
		log_error("imap user=%s: append failed: %s", c->user, error);
		imap_storage_failed(c, "Append", error);
		return IMAP_CMD_OK;
	}
	imap_append_keywords(box, uid, keywords);
	imap_ok(c, "[APPENDUID %u %u] Append completed.", mailbox_uidvalidity(box), uid);
	return IMAP_CMD_OK;
}

static enum imap_cmd_result imap_append_one(struct imap_client *c, const struct imap_arg *a,
                                            unsigned n)
{
	enum imap_cmd_result ret = IMAP_CMD_OK;
	struct mailbox *box = NULL;
	struct imap_append ap;
	const char *name, *error;
	int r;

	if (imap_append_args(a, n, &ap) < 0)
		return imap_bad(c,
		                "APPEND takes a mailbox, optional flags and date, and a message.");
	if (ap.size == 0) {
		imap_tagged(c, "NO", "Cannot append an empty message.");
		return IMAP_CMD_OK;
	}
	if (imap_mailbox_arg(c, &a[0], &name) <= 0)
		return IMAP_CMD_OK;
	r = mailbox_open(c->storage, name, &box, &error);
	if (r == 0)
		imap_tagged(c, "NO", "[TRYCREATE] Mailbox does not exist.");
	else if (r < 0)
		imap_storage_error(c, "Append", error);
	else
		ret = imap_append_quoted(c, box, &ap);
	if (box != NULL)
		mailbox_close(&box);
	return ret;
}

/* One message's arguments from a[*i]: [flag-list] [date-time] literal. */
struct imap_append_msg {
	const struct imap_arg *flags; /* NULL: none */
	const char *date;             /* NULL: none */
	const struct imap_arg *data;
};

static int imap_append_group(const struct imap_arg *a, unsigned n, unsigned *i,
                             struct imap_append_msg *m)
{
	memset(m, 0, sizeof(*m));
	if (*i < n && a[*i].type == IMAP_ARG_LIST)
		m->flags = &a[(*i)++];
	if (*i < n && a[*i].type == IMAP_ARG_STRING)
		m->date = a[(*i)++].str;
	if (*i >= n || a[*i].type != IMAP_ARG_LITERAL_TAKEN)
		return -1;
	m->data = &a[(*i)++];
	return 0;
}

/* Every message's flags and date, checked before any is added: 1, or answered (BAD -1, NO 0). */
static int imap_append_check(struct imap_client *c, const struct imap_arg *a, unsigned n,
                             unsigned *flags, uint64_t *keywords)
{
	struct imap_append_msg m;
	unsigned i = 1, k = 0;
	time_t date;
	int r;

	for (; k < c->append_count && imap_append_group(a, n, &i, &m) == 0; k++) {
		if (m.date != NULL && imap_parse_datetime(m.date, &date) < 0)
			break;
		if (m.data->str_len == 0) {
			imap_tagged(c, "NO", "Cannot append an empty message.");
			return 0;
		}
		if ((r = imap_append_flags_arg(c, c->append_box, m.flags, &flags[k],
		                               &keywords[k])) <= 0)
			return r;
	}
	if (k == c->append_count && i == n)
		return 1;
	imap_bad(c, "APPEND takes a mailbox, optional flags and date, and a message.");
	return -1;
}

/* The messages streamed into tmp/ go into the mailbox all at once, or none. */
static enum imap_cmd_result imap_append_many(struct imap_client *c, const struct imap_arg *a,
                                             unsigned n)
{
	size_t count = c->append_count;
	unsigned *flags = xcalloc(count, sizeof(*flags));
	uint64_t *keywords = xcalloc(count, sizeof(*keywords));
	uint32_t *uids = xcalloc(count, sizeof(*uids));
	int checked = imap_append_check(c, a, n, flags, keywords), r = -1;
	const char *error;
	struct buf text;

	buf_init(&text);
	if (checked > 0) {
		c->append_count = 0; /* the commit frees the saves, either way */
		r = mailbox_save_commit(c->append_done, count, flags, uids, &error);
		if (r < 0) {
			log_error("imap user=%s: append failed: %s", c->user, error);
			imap_storage_failed(c, "Append", error);
		}
	}
	if (r == 0) {
		for (size_t k = 0; k < count; k++)
			imap_append_keywords(c->append_box, uids[k], keywords[k]);
		imap_append_numset(&text, uids, count);
		imap_ok(c, "[APPENDUID %u %s] Append completed.",
		        mailbox_uidvalidity(c->append_box), text.data);
	}
	buf_free(&text);
	xfree(&flags);
	xfree(&keywords);
	xfree(&uids);
	return checked < 0 ? IMAP_CMD_BAD : IMAP_CMD_OK;
}

enum imap_cmd_result imap_cmd_append(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	if (c->append_refused)
		return IMAP_CMD_OK; /* answered when its message was refused */
	if (c->append_count == 0)
		return imap_append_one(c, a, n);
	return imap_append_many(c, a, n);
}

/* ---- the message literals, as they arrive ---- */

void imap_append_abort(struct imap_client *c)
{
	mailbox_save_abort(&c->append_save);
	for (unsigned i = 0; i < c->append_count; i++)
		mailbox_save_abort(&c->append_done[i]);
	xfree(&c->append_done);
	c->append_count = c->append_alloc = 0;
	c->append_refused = false;
	if (c->append_box != NULL)
		mailbox_close(&c->append_box);
}

/* A message was refused (answered): nothing of the command is added. */
static void imap_append_refuse(struct imap_client *c)
{
	imap_append_abort(c);
	c->append_refused = true;
}

/* Copies the literal's data into the save (none: thrown away); a write error (full disk) is
 * kept for the close to report, the rest of the data still read. IMAP_CMD_END when the
 * connection broke. */
static enum imap_cmd_result imap_append_stream(struct imap_client *c, uint64_t left)
{
	char *chunk = xmalloc(IMAP_APPEND_CHUNK);
	const char *error;
	bool failed = c->append_save == NULL;

	while (left > 0) {
		size_t n = left < IMAP_APPEND_CHUNK ? (size_t)left : IMAP_APPEND_CHUNK;

		if (conn_read_exact(c->conn, chunk, n, imap_read_timeout(c)) < 0) {
			xfree(&chunk);
			imap_append_abort(c);
			return IMAP_CMD_END;
		}
		if (!failed)
			failed = mailbox_save_write(c->append_save, chunk, n, &error) < 0;
		left -= n;
	}
	xfree(&chunk);
	return IMAP_CMD_OK;
}

static int imap_append_open(struct imap_client *c)
{
	const struct imap_arg *args = imap_parser_args(c->parser)->list;
	const char *name, *error;
	int r;

	if (imap_mailbox_arg(c, &args[0], &name) <= 0) /* answered */
		return -1;
	r = mailbox_open(c->storage, name, &c->append_box, &error);
	if (r == 0)
		imap_tagged(c, "NO", "[TRYCREATE] Mailbox does not exist.");
	else if (r < 0)
		imap_storage_error(c, "Append", error);
	return r > 0 ? 0 : -1;
}

/* Starts saving the message whose literal is announced; -1 when it was refused (answered). */
static int imap_append_begin(struct imap_client *c, uint64_t size)
{
	const char *error;

	if (size > c->s->cfg->imap_append_limit) {
		imap_tagged(c, "NO", "[TOOBIG] Message is larger than the APPENDLIMIT (%llu).",
		            (unsigned long long)c->s->cfg->imap_append_limit);
		return -1;
	}
	if (c->append_count >= IMAP_APPEND_MAX_MESSAGES) {
		imap_tagged(c, "NO", "[LIMIT] At most %d messages in one APPEND.",
		            IMAP_APPEND_MAX_MESSAGES);
		return -1;
	}
	if (c->append_box == NULL && imap_append_open(c) < 0)
		return -1;
	if (mailbox_save_begin(c->append_box, &c->append_save, &error) < 0) {
		log_error("imap user=%s: append failed: %s", c->user, error);
		imap_storage_failed(c, "Append", error);
		return -1;
	}
	if (imap_parser_literal_is_binary(c->parser))
		mailbox_save_keep_crlf(c->append_save);
	return 0;
}

/* The date given before the literal just read (the argument before it), or 0 (now). */
static time_t imap_append_literal_date(struct imap_client *c)
{
	const struct imap_arg *args = imap_parser_args(c->parser);
	time_t date = 0;

	if (args->count >= 2 && args->list[args->count - 1].type == IMAP_ARG_STRING &&
	    imap_parse_datetime(args->list[args->count - 1].str, &date) < 0)
		date = 0; /* the command answers BAD */
	return date;
}

/* The literal's data is all here: its file is closed and kept for the command's commit. */
static void imap_append_close(struct imap_client *c)
{
	const char *error;

	if (mailbox_save_close(c->append_save, imap_append_literal_date(c), &error) < 0) {
		log_error("imap user=%s: append failed: %s", c->user, error);
		imap_storage_failed(c, "Append", error);
		imap_append_refuse(c);
		return;
	}
	if (c->append_count == c->append_alloc) {
		c->append_alloc = c->append_alloc == 0 ? 4 : c->append_alloc * 2;
		c->append_done =
		    xreallocarray(c->append_done, c->append_alloc, sizeof(*c->append_done));
	}
	c->append_done[c->append_count++] = c->append_save;
	c->append_save = NULL;
}

enum imap_cmd_result imap_append_literal(struct imap_client *c, bool *taken_r)
{
	uint64_t size = imap_parser_literal_size(c->parser);
	enum imap_cmd_result r;

	imap_literal_tag(c);
	*taken_r = false;
	if (!c->append_refused && imap_append_begin(c, size) < 0)
		imap_append_refuse(c);
	if (c->append_refused && imap_parser_literal_is_sync(c->parser))
		return imap_literal_skip(c, true); /* the client sends no data */
	if (!c->append_refused && imap_parser_literal_is_sync(c->parser))
		conn_puts(c->conn, "+ OK\r\n");
	*taken_r = true;
	r = imap_append_stream(c, size);
	if (r == IMAP_CMD_OK && c->append_save != NULL)
		imap_append_close(c);
	return r;
}
