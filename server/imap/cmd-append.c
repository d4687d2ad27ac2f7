/* APPEND (RFC 3501 6.3.11) with flags, date, APPENDUID (RFC 4315). When the message literal is
 * announced (imap.c asks imap_append_literal) its size is checked against APPENDLIMIT (RFC 7889)
 * and the mailbox opened, before any data is read; the data then goes straight into a file in
 * that mailbox's tmp/, so a message costs no memory for its size. The command, once its line is
 * complete, commits that file with its flags and date, or it is removed. */
#include "server/imap/imap-client.h"
#include "server/imap/imap-reply.h"
#include "common/config.h"
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

struct imap_append {
	const char *name;
	const struct imap_arg *flags; /* NULL: none */
	time_t date;
	const char *data; /* a message sent as a quoted string; NULL when streamed */
	uint64_t size;
	bool streamed; /* its literal went to c->append_save */
};

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
	if (i != n - 1)
		return -1;
	ap->streamed = a[i].type == IMAP_ARG_LITERAL_TAKEN;
	if (!ap->streamed && !imap_arg_get_string(&a[i], &ap->data))
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

/* Stores the message into box (from c->append_save when streamed); answers the client. */
static void imap_append_store(struct imap_client *c, struct mailbox *box,
                              const struct imap_append *ap)
{
	unsigned flags = 0;
	uint64_t keywords = 0;
	const char *error;
	uint32_t uid = 0;
	int r = 0;

	if (ap->flags != NULL)
		r = imap_parse_flags(box, ap->flags, true, &flags, &keywords, &error);
	if (r == -1) {
		imap_bad(c, error);
		return;
	}
	if (r == -2) {
		imap_tagged(c, "NO", "[LIMIT] Too many keywords in this mailbox.");
		return;
	}
	r = ap->streamed ? mailbox_save_finish(&c->append_save, flags, ap->date, &uid, &error)
	                 : mailbox_append(box, ap->data, (size_t)ap->size, flags, ap->date, &uid,
	                                  &error);
	if (r < 0) {
		log_error("imap user=%s: append failed: %s", c->user, error);
		imap_storage_failed(c, "Append", error);
		return;
	}
	imap_append_keywords(box, uid, keywords);
	imap_ok(c, "[APPENDUID %u %u] Append completed.", mailbox_uidvalidity(box), uid);
}

/* A message sent as a quoted string (no literal): small, stored from memory. */
static void imap_append_quoted(struct imap_client *c, const struct imap_arg *mailbox,
                               const struct imap_append *ap)
{
	struct mailbox *box = NULL;
	const char *name, *error;
	int r = imap_mailbox_arg(c, mailbox, &name);

	if (r <= 0)
		return;
	r = mailbox_open(c->storage, name, &box, &error);
	if (r == 0)
		imap_tagged(c, "NO", "[TRYCREATE] Mailbox does not exist.");
	else if (r < 0)
		imap_storage_error(c, "Append", error);
	else
		imap_append_store(c, box, ap);
	if (box != NULL)
		mailbox_close(&box);
}

enum imap_cmd_result imap_cmd_append(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	struct imap_append ap;

	/* a message streamed but not taken here is removed when the command is done */
	if (imap_append_args(a, n, &ap) < 0 || ap.streamed != (c->append_save != NULL))
		return imap_bad(c,
		                "APPEND takes a mailbox, optional flags and date, and a message.");
	if (ap.size == 0)
		imap_tagged(c, "NO", "Cannot append an empty message.");
	else if (ap.streamed)
		imap_append_store(c, c->append_box, &ap);
	else
		imap_append_quoted(c, &a[0], &ap);
	return IMAP_CMD_OK;
}

/* ---- the message literal, as it arrives ---- */

void imap_append_abort(struct imap_client *c)
{
	mailbox_save_abort(&c->append_save);
	if (c->append_box != NULL)
		mailbox_close(&c->append_box);
}

/* Copies the literal's data into the save; a write error (full disk) is kept for the commit
 * to report, the rest of the data still read. IMAP_CMD_END when the connection broke. */
static enum imap_cmd_result imap_append_stream(struct imap_client *c, uint64_t left)
{
	char *chunk = xmalloc(IMAP_APPEND_CHUNK);
	const char *error;
	bool failed = false;

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

enum imap_cmd_result imap_append_literal(struct imap_client *c)
{
	const struct imap_arg *args = imap_parser_args(c->parser)->list;
	uint64_t size = imap_parser_literal_size(c->parser);
	const char *name, *error;
	int r;

	imap_literal_tag(c);
	if (size > c->s->cfg->imap_append_limit) {
		imap_tagged(c, "NO", "[TOOBIG] Message is larger than the APPENDLIMIT (%llu).",
		            (unsigned long long)c->s->cfg->imap_append_limit);
		return imap_literal_skip(c, true);
	}
	if (imap_mailbox_arg(c, &args[0], &name) <= 0) /* answered */
		return imap_literal_skip(c, true);
	r = mailbox_open(c->storage, name, &c->append_box, &error);
	if (r <= 0) {
		if (r == 0)
			imap_tagged(c, "NO", "[TRYCREATE] Mailbox does not exist.");
		else
			imap_storage_error(c, "Append", error);
		return imap_literal_skip(c, true);
	}
	if (mailbox_save_begin(c->append_box, &c->append_save, &error) < 0) {
		log_error("imap user=%s: append failed: %s", c->user, error);
		imap_storage_failed(c, "Append", error);
		return imap_literal_skip(c, true);
	}
	if (imap_parser_literal_is_binary(c->parser))
		mailbox_save_keep_crlf(c->append_save);
	if (imap_parser_literal_is_sync(c->parser))
		conn_puts(c->conn, "+ OK\r\n");
	return imap_append_stream(c, size);
}
