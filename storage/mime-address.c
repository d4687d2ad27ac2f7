/*
 * Addresses of an address header (From, To, ...; RFC 5322, read leniently: what mail really
 * holds), each handed to a callback as ENVELOPE shows it; and as text for SEARCH.
 */
#include "storage/mime.h"
#include "storage/mime-private.h"

#include "common/xalloc.h"

#include <string.h>

struct addr_ctx {
	unsigned int count;
	unsigned int max; /* addresses at most (a group's end marker may add one) */
	void (*cb)(const struct mime_address *addr, void *ctx);
	void *ctx;
	struct buf phrase, local, comment, domain;
};

static void mime_address_emit(struct addr_ctx *a, const char *name, const char *route,
                              const char *mailbox, const char *host)
{
	const struct mime_address addr = {
	    .name = name, .route = route, .mailbox = mailbox, .host = host};

	a->count++;
	a->cb(&addr, a->ctx);
}

static bool is_atext(char c)
{
	return (unsigned char)c > 0x20 && c != 0x7f && strchr("()<>[]:;@\\,\"", c) == NULL;
}

/* Reads words (atoms with dots, quoted strings) into phrase (space-joined) and local (joined as
 * written). Stops at a special character. */
static void read_words(const char **sp, struct addr_ctx *a)
{
	const char *s = *sp;

	for (;;) {
		mime_skip_cfws(&s, &a->comment);
		if (*s == '"') {
			size_t before;

			if (a->phrase.len > 0)
				buf_append_str(&a->phrase, " ");
			before = a->phrase.len;
			mime_read_quoted(&s, &a->phrase);
			/* a quoted local part is kept unquoted; an empty one ("") may leave the
			 * phrase unallocated, so only a non-empty one is copied */
			if (a->phrase.len > before)
				buf_append(&a->local, a->phrase.data + before,
				           a->phrase.len - before);
		} else if (is_atext(*s)) {
			const char *start = s;

			while (is_atext(*s))
				s++;
			if (a->phrase.len > 0)
				buf_append_str(&a->phrase, " ");
			buf_append(&a->phrase, start, (size_t)(s - start));
			buf_append(&a->local, start, (size_t)(s - start));
			continue;
		} else {
			break;
		}
	}
	*sp = s;
}

/* Reads a domain (dot-atoms, domain literals); a comment after it goes to comment. */
static void read_domain(const char **sp, struct buf *domain, struct buf *comment)
{
	const char *s = *sp;

	buf_reset(domain);
	for (;;) {
		mime_skip_cfws(&s, comment);
		if (*s == '[') {
			const char *e = strchr(s, ']');
			size_t n = e != NULL ? (size_t)(e - s) + 1 : strlen(s);

			buf_append(domain, s, n);
			s += n;
		} else if (is_atext(*s)) {
			const char *start = s;

			while (is_atext(*s))
				s++;
			buf_append(domain, start, (size_t)(s - start));
		} else {
			break;
		}
		mime_skip_cfws(&s, comment);
		if (*s != '.')
			break;
	}
	*sp = s;
}

static const char *or_missing(const struct buf *b, const char *missing)
{
	return b->len > 0 ? b->data : missing;
}

static void parse_angle_addr(const char **sp, struct addr_ctx *a, const char *name)
{
	const char *s = *sp + 1, *route_start;
	char *route = NULL;

	mime_skip_cfws(&s, NULL);
	route_start = s;
	if (*s == '@') {
		const char *colon = strchr(s, ':'), *gt = strchr(s, '>');

		if (colon != NULL && (gt == NULL || colon < gt)) {
			route = xstrndup(route_start, (size_t)(colon - route_start));
			s = colon + 1;
		}
	}
	buf_reset(&a->local);
	buf_reset(&a->phrase);
	read_words(&s, a);
	buf_reset(&a->domain);
	if (*s == '@') {
		s++;
		read_domain(&s, &a->domain, NULL);
	}
	mime_skip_past(&s, '>');
	mime_address_emit(a, name, route, or_missing(&a->local, "MISSING_MAILBOX"),
	                  or_missing(&a->domain, "MISSING_DOMAIN"));
	xfree(&route);
	*sp = s;
}

/* One mailbox, or a group with its mailboxes. Always consumes input unless at ',', ';' or the
 * end. */
static void parse_mailbox(const char **sp, struct addr_ctx *a, bool in_group)
{
	const char *s = *sp;
	char *phrase;

	buf_reset(&a->phrase);
	buf_reset(&a->local);
	buf_reset(&a->comment);
	read_words(&s, a);
	phrase = a->phrase.len > 0 ? xstrdup(a->phrase.data) : NULL;
	if (*s == '<') {
		parse_angle_addr(&s, a, phrase);
	} else if (*s == ':' && !in_group) {
		s++;
		mime_address_emit(a, NULL, NULL, phrase != NULL ? phrase : "", NULL);
		while (*s != '\0' && *s != ';' && a->count < a->max) {
			if (*s == ',') {
				s++;
				continue;
			}
			parse_mailbox(&s, a, true);
		}
		if (*s == ';')
			s++;
		mime_address_emit(a, NULL, NULL, NULL, NULL);
	} else if (*s == '@' || a->local.len > 0) {
		char *local = xstrdup(or_missing(&a->local, "MISSING_MAILBOX"));

		buf_reset(&a->domain);
		if (*s == '@') {
			s++;
			buf_reset(&a->comment);
			read_domain(&s, &a->domain, &a->comment);
		}
		mime_skip_cfws(&s, &a->comment);
		mime_address_emit(a, a->comment.len > 0 ? a->comment.data : NULL, NULL, local,
		                  or_missing(&a->domain, "MISSING_DOMAIN"));
		xfree(&local);
	} else if (*s != '\0' && *s != ';' && *s != ',') {
		s++; /* a stray special character */
	}
	xfree(&phrase);
	*sp = s;
}

static void parse_addresses(struct addr_ctx *a, const char *value)
{
	const char *s = value;

	buf_init(&a->phrase);
	buf_init(&a->local);
	buf_init(&a->comment);
	buf_init(&a->domain);
	while (s != NULL && *s != '\0' && a->count < a->max) {
		if (*s == ',' || *s == ';') {
			s++;
			continue;
		}
		parse_mailbox(&s, a, false);
	}
	buf_free(&a->phrase);
	buf_free(&a->local);
	buf_free(&a->comment);
	buf_free(&a->domain);
}

unsigned int mime_address_parse(const char *value, unsigned int max,
                                void (*cb)(const struct mime_address *addr, void *ctx), void *ctx)
{
	struct addr_ctx a = {.max = max, .cb = cb, .ctx = ctx};

	parse_addresses(&a, value);
	return a.count;
}

static void mime_address_text(const struct mime_address *addr, void *ctx)
{
	struct buf *out = ctx;

	if (addr->host == NULL) {
		/* a group's start (its name as mailbox) or end (all NULL) */
		if (addr->mailbox != NULL)
			buf_printf(out, "%s:\n", addr->mailbox);
		return;
	}
	if (addr->name != NULL)
		buf_printf(out, "%s ", addr->name);
	buf_append_str(out, "<");
	if (strcmp(addr->mailbox, "MISSING_MAILBOX") != 0)
		buf_append_str(out, addr->mailbox);
	if (strcmp(addr->host, "MISSING_DOMAIN") != 0)
		buf_printf(out, "@%s", addr->host);
	buf_append_str(out, ">\n");
}

void mime_addresses_text(const char *value, struct buf *out)
{
	mime_address_parse(value, MIME_ADDRESS_MAX, mime_address_text, out);
}
