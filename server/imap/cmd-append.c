/* APPEND (RFC 3501 6.3.11) with flags, date, APPENDUID (RFC 4315). The size limit (APPENDLIMIT,
 * RFC 7889) is checked in imap.c when the literal is announced, before its data is read. The
 * message is held in memory (the parser's literal, at most APPENDLIMIT octets). */
#include "server/imap/imap-client.h"
#include "server/imap/imap-reply.h"
#include "common/log.h"
#include "storage/storage.h"

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

struct imap_append {
	const char *name;
	const struct imap_arg *flags; /* NULL: none */
	time_t date;
	const char *data;
	size_t size;
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

/* Stores the message into box; answers the client. */
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
	if (mailbox_append(box, ap->data, ap->size, flags, ap->date, &uid, &error) < 0) {
		log_error("imap user=%s: append failed: %s", c->user, error);
		imap_tagged(c, "NO", "[SERVERBUG] Append failed.");
		return;
	}
	imap_append_keywords(box, uid, keywords);
	imap_ok(c, "[APPENDUID %u %u] Append completed.", mailbox_uidvalidity(box), uid);
}

enum imap_cmd_result imap_cmd_append(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	struct imap_append ap;
	struct mailbox *box = NULL;
	const char *error;
	int r;

	if (imap_append_args(a, n, &ap) < 0)
		return imap_bad(c,
		                "APPEND takes a mailbox, optional flags and date, and a message.");
	r = imap_mailbox_arg(c, &a[0], &ap.name);
	if (r <= 0)
		return r < 0 ? IMAP_CMD_BAD : IMAP_CMD_OK;
	if (ap.size == 0) {
		imap_tagged(c, "NO", "Cannot append an empty message.");
		return IMAP_CMD_OK;
	}
	r = mailbox_open(c->storage, ap.name, &box, &error);
	if (r == 0)
		imap_tagged(c, "NO", "[TRYCREATE] Mailbox does not exist.");
	else if (r < 0)
		imap_storage_error(c, "Append", error);
	else
		imap_append_store(c, box, &ap);
	if (box != NULL)
		mailbox_close(&box);
	return IMAP_CMD_OK;
}
