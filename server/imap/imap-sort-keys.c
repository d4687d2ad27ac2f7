/* What a message's header gives SORT: its date in UTC, base subject and first addresses. */
#include "server/imap/imap-header.h"
#include "server/imap/imap-sort.h"
#include "server/imap/imap-subject.h"

#include "common/buf.h"
#include "common/xalloc.h"
#include "storage/mime-decode.h"
#include "storage/mime.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- RFC 5322 section 3.3 (and 4.3, the obsolete zones) ---- */

struct date_words {
	const char *p;
};

/* The next run of letters or digits (other bytes separate words; comments are skipped). */
static size_t date_word(struct date_words *w, char *word, size_t size)
{
	size_t n = 0;
	int depth = 0;

	while (*w->p != '\0' && (depth > 0 || !isalnum((unsigned char)*w->p) || *w->p == '(')) {
		if (*w->p == '(')
			depth++;
		else if (*w->p == ')' && depth > 0)
			depth--;
		else if (depth == 0 && (*w->p == '+' || *w->p == '-'))
			break;
		w->p++;
	}
	if (*w->p == '+' || *w->p == '-')
		word[n++] = *w->p++;
	while (isalnum((unsigned char)*w->p) && n + 1 < size)
		word[n++] = *w->p++;
	word[n] = '\0';
	return n;
}

static int date_month(const char *word)
{
	static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
	                                     "jul", "aug", "sep", "oct", "nov", "dec"};

	for (int i = 0; i < 12; i++) {
		if (strcasecmp(word, months[i]) == 0)
			return i;
	}
	return -1;
}

/* A zone as seconds east of UTC: +hhmm/-hhmm, UT/GMT and the US zones; military letters and
 * anything else are taken as -0000, as RFC 5322 section 4.3 says. */
static long date_zone(const char *word)
{
	static const struct {
		const char *name;
		int hours;
	} zones[] = {{"EST", -5}, {"EDT", -4}, {"CST", -6}, {"CDT", -5},
	             {"MST", -7}, {"MDT", -6}, {"PST", -8}, {"PDT", -7}};
	size_t n = strlen(word);

	if ((word[0] == '+' || word[0] == '-') && n == 5 && strspn(word + 1, "0123456789") == 4) {
		long hh = (word[1] - '0') * 10 + (word[2] - '0'), mm = (word[3] - '0') * 10 + word[4] - '0';

		return (word[0] == '-' ? -1 : 1) * (hh * 3600 + mm * 60);
	}
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		if (strcasecmp(word, zones[i].name) == 0)
			return zones[i].hours * 3600L;
	}
	return 0;
}

/* "hh:mm[:ss]" read as words: the digits of each part. */
static int date_time(struct date_words *w, struct tm *tm)
{
	char word[8];
	int part[3] = {0, 0, 0};

	for (int i = 0; i < 3; i++) {
		if (i > 0 && *w->p != ':')
			return i >= 2;
		if (i > 0)
			w->p++;
		if (date_word(w, word, sizeof(word)) == 0 || strspn(word, "0123456789") != strlen(word))
			return 0;
		part[i] = atoi(word);
		tm->tm_hour = part[0], tm->tm_min = part[1], tm->tm_sec = part[2];
	}
	return 1;
}

int imap_sort_date_parse(const char *value, time_t *t_r)
{
	struct date_words w = {.p = value};
	struct tm tm = {0};
	char word[16];
	long year;

	if (date_word(&w, word, sizeof(word)) == 0)
		return 0;
	if (!isdigit((unsigned char)word[0]) && date_word(&w, word, sizeof(word)) == 0)
		return 0; /* the day of the week */
	tm.tm_mday = atoi(word);
	if (date_word(&w, word, sizeof(word)) == 0 || (tm.tm_mon = date_month(word)) < 0)
		return 0;
	if (date_word(&w, word, sizeof(word)) == 0 || strspn(word, "0123456789") != strlen(word))
		return 0;
	year = atol(word);
	year += strlen(word) == 2 ? (year < 50 ? 2000 : 1900) : strlen(word) == 3 ? 1900 : 0;
	if (tm.tm_mday < 1 || tm.tm_mday > 31 || year < 1900 || year > 9999 || !date_time(&w, &tm) ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return 0;
	tm.tm_year = (int)(year - 1900);
	*t_r = timegm(&tm) - (date_word(&w, word, sizeof(word)) > 0 ? date_zone(word) : 0);
	return 1;
}

/* ---- addresses ---- */

/* The first address of a header value (its strings copied: the parser's go with it). */
struct first_address {
	char *name, *mailbox, *host;
	bool found;
};

static bool address_missing(const char *s)
{
	return s == NULL || strcmp(s, "MISSING_MAILBOX") == 0 || strcmp(s, "MISSING_DOMAIN") == 0;
}

static void first_address_cb(const struct mime_address *addr, void *ctx)
{
	struct first_address *first = ctx;

	/* group markers have no host */
	if (first->found || addr->host == NULL || address_missing(addr->mailbox))
		return;
	first->name = xstrdup(addr->name != NULL ? addr->name : "");
	first->mailbox = xstrdup(addr->mailbox);
	first->host = xstrdup(address_missing(addr->host) ? "" : addr->host);
	first->found = true;
}

/* The first address of value: its mailbox into mailbox, and (display not NULL) its display
 * name, decoded, or else its addr-spec into display. */
static void sort_address(const char *value, char **mailbox, char **display)
{
	struct first_address first = {.found = false};
	struct buf name;

	buf_init(&name);
	if (value != NULL)
		(void)mime_address_parse(value, MIME_ADDRESS_MAX, first_address_cb, &first);
	if (first.found && first.name[0] != '\0')
		mime_decode_words(first.name, &name);
	if (first.found && name.len == 0)
		buf_printf(&name, "%s@%s", first.mailbox, first.host);
	*mailbox = xstrdup(first.found ? first.mailbox : "");
	if (display != NULL)
		*display = xstrdup(name.len > 0 ? name.data : "");
	buf_free(&name);
	xfree(&first.name);
	xfree(&first.mailbox);
	xfree(&first.host);
}

/* NUL inside a decoded value would cut it short when compared: a space instead. */
static char *sort_text(const struct buf *b)
{
	char *s = xstrdup(b->len > 0 ? b->data : "");

	for (size_t i = 0; i < b->len; i++)
		s[i] = s[i] == '\0' ? ' ' : s[i];
	return s;
}

/* ---- msg-ids (RFC 5322 section 3.6.4) ---- */

/* The next "<...>" of *p, appended to out without its brackets and with the quoting that
 * RFC 5256 says must not tell two msg-ids apart (quotes, backslashes, white space) removed.
 * False when there is none. */
static bool msgid_next(const char **p, struct buf *out)
{
	const char *open = strchr(*p, '<'), *close;

	if (open == NULL || (close = strchr(open + 1, '>')) == NULL)
		return false;
	for (const char *c = open + 1; c < close; c++) {
		if (*c != '"' && *c != '\\' && *c != ' ' && *c != '\t' && *c != '\r' && *c != '\n')
			buf_append(out, c, 1);
	}
	*p = close + 1;
	return true;
}

/* References: msg-ids (the last IMAP_SORT_REFERENCES_MAX), else In-Reply-To's first. */
static char *sort_references(const char *header, size_t len, const char *in_reply_to)
{
	struct imap_header_iter it = {.hdr = header, .len = len};
	const char *ids[IMAP_SORT_REFERENCES_MAX];
	struct buf all, out;
	unsigned n = 0;
	char *refs;

	buf_init(&it.value);
	buf_init(&all);
	buf_init(&out);
	if (imap_header_next(&it, "References")) {
		const char *p = it.value.len > 0 ? it.value.data : "";

		while (msgid_next(&p, &all))
			buf_append(&all, " ", 1);
	}
	if (all.len == 0 && in_reply_to != NULL && msgid_next(&in_reply_to, &all))
		buf_append(&all, " ", 1);
	for (char *p = all.data, *sp; p != NULL && (sp = strchr(p, ' ')) != NULL; p = sp + 1) {
		*sp = '\0';
		if (*p != '\0')
			ids[n++ % IMAP_SORT_REFERENCES_MAX] = p;
	}
	for (unsigned i = n > IMAP_SORT_REFERENCES_MAX ? n - IMAP_SORT_REFERENCES_MAX : 0; i < n; i++)
		buf_printf(&out, "%s%s", out.len > 0 ? " " : "", ids[i % IMAP_SORT_REFERENCES_MAX]);
	buf_free(&it.value);
	buf_free(&all);
	refs = sort_text(&out);
	buf_free(&out);
	return refs;
}

static char *sort_message_id(const char *value)
{
	struct buf id;
	char *s;

	buf_init(&id);
	if (value != NULL)
		(void)msgid_next(&value, &id);
	s = sort_text(&id);
	buf_free(&id);
	return s;
}

/* ---- the keys ---- */

/* The header block's length: through its blank line, or all of it. */
static size_t header_length(const char *header, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (header[i] == '\n' && (header[i + 1] == '\n' ||
		                          (header[i + 1] == '\r' && i + 2 < len && header[i + 2] == '\n')))
			return i + 1;
	}
	return len;
}

void imap_sort_keys_parse(const char *header, size_t len, struct imap_sort_keys *keys)
{
	struct mime_part *root = mime_parse(header, len, &mime_limits_default);
	const struct mime_envelope *env = root != NULL ? root->envelope : NULL;
	struct mime_envelope none = {0};
	struct buf subject;

	if (env == NULL)
		env = &none;
	memset(keys, 0, sizeof(*keys));
	if (env->date == NULL || imap_sort_date_parse(env->date, &keys->date) == 0)
		keys->date = 0;
	buf_init(&subject);
	keys->reply = imap_base_subject(env->subject, &subject);
	keys->text[SORT_TEXT_SUBJECT] = sort_text(&subject);
	buf_free(&subject);
	sort_address(env->from, &keys->text[SORT_TEXT_FROM], &keys->text[SORT_TEXT_DISPLAYFROM]);
	sort_address(env->to, &keys->text[SORT_TEXT_TO], &keys->text[SORT_TEXT_DISPLAYTO]);
	sort_address(env->cc, &keys->text[SORT_TEXT_CC], NULL);
	keys->text[SORT_TEXT_MESSAGE_ID] = sort_message_id(env->message_id);
	keys->text[SORT_TEXT_REFERENCES] =
	    sort_references(header, header_length(header, len), env->in_reply_to);
	mime_part_free(&root);
}

void imap_sort_keys_clear(struct imap_sort_keys *keys)
{
	for (int i = 0; i < SORT_TEXT_COUNT; i++)
		xfree(&keys->text[i]);
}
