/*
 * FETCH engine: the item list is parsed once per command into a flat array; each message is
 * then written in two steps. prepare() does everything that can fail (opening the file, the
 * MIME parse, cache lookups, sizes of filtered sections) before a single octet is sent, and
 * emit() writes the response, streaming body sections from the file.
 */
#include "server/imap/imap-fetch.h"
#include "server/imap/imap-fetch-test.h"

#include "common/buf.h"
#include "common/xalloc.h"
#include "server/conn.h"
#include "server/imap/imap-bodystructure.h"
#include "server/imap/imap-envelope.h"
#include "server/imap/imap-fetch-body.h"
#include "storage/mime.h"
#include "storage/storage.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define PARSE_CHUNK 65536

enum item_kind {
	ITEM_FLAGS,
	ITEM_INTERNALDATE,
	ITEM_RFC822_SIZE,
	ITEM_ENVELOPE,
	ITEM_BODY,
	ITEM_BODYSTRUCTURE,
	ITEM_UID,
	ITEM_MODSEQ,
	ITEM_SECTION,
};

/* Metadata kept in the mailbox cache, by item kind. */
enum cached_field { CACHED_ENVELOPE, CACHED_BODY, CACHED_BODYSTRUCTURE, CACHED_COUNT };
static const char *const cached_names[CACHED_COUNT] = {"envelope", "body", "bodystructure"};

struct fetch_item {
	enum item_kind kind;
	/* ITEM_SECTION */
	char *label; /* the name in the response, e.g. BODY[1.HEADER.FIELDS (From)]<0> */
	bool peek;
	bool binary;    /* BINARY[...] (RFC 3516): the content with its transfer encoding undone */
	bool size_only; /* BINARY.SIZE[...] */
	uint32_t parts[IMAP_SECTION_MAX_PARTS];
	unsigned int part_count;
	enum imap_section_text text;
	char **fields;
	unsigned int field_count;
	bool has_partial;
	uint64_t partial_offset, partial_size;
};

struct imap_fetch {
	struct fetch_item *items;
	unsigned int count, alloc;
	bool hide_recent; /* IMAP4rev2 has no \Recent */
	bool unknown_cte; /* the last message written had a BINARY part it cannot decode */
};

/* What prepare() found for one item. */
struct prepared {
	bool nil;
	struct fetch_body body;
	uint64_t size; /* octets of the whole section as sent */
	bool literal8; /* BINARY: the octets sent hold a NUL */
};

struct fetch_ctx {
	struct imap_fetch *fetch;
	struct mailbox *box;
	size_t index;
	const struct mail *mail;
	struct mail_sizes sizes;
	bool have_sizes;
	int fd;
	struct mime_part *root;
	struct buf cached[CACHED_COUNT];
	bool have_cached[CACHED_COUNT];
	struct prepared *prep;
};

static unsigned long parse_count;

unsigned long imap_fetch_parse_count(void)
{
	return parse_count;
}

/* --- parsing the item list --- */

static struct fetch_item *item_add(struct imap_fetch *f, enum item_kind kind)
{
	struct fetch_item *item;

	if (f->count == f->alloc) {
		f->alloc = f->alloc == 0 ? 8 : f->alloc * 2;
		f->items = xreallocarray(f->items, f->alloc, sizeof(*f->items));
	}
	item = &f->items[f->count++];
	memset(item, 0, sizeof(*item));
	item->kind = kind;
	return item;
}

static void item_section(struct imap_fetch *f, const char *label, enum imap_section_text text,
                         bool peek)
{
	struct fetch_item *item = item_add(f, ITEM_SECTION);

	item->label = xstrdup(label);
	item->text = text;
	item->peek = peek;
}

static bool is_atom_text(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

static void append_astring(struct buf *out, const char *s)
{
	if (is_atom_text(s)) {
		buf_append_str(out, s);
		return;
	}
	buf_append_str(out, "\"");
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			buf_append_str(out, "\\");
		buf_append(out, s, 1);
	}
	buf_append_str(out, "\"");
}

static int section_fields(struct fetch_item *item, const struct imap_arg *arg, struct buf *label,
                          const char **error_r)
{
	item->fields = xcalloc(arg->count + 1, sizeof(*item->fields));
	buf_append_str(label, " (");
	for (unsigned int i = 0; i < arg->count; i++) {
		const char *name;

		if (!imap_arg_get_astring(&arg->list[i], &name) || name[0] == '\0' ||
		    strlen(name) != arg->list[i].str_len) {
			*error_r = "Invalid header field name";
			return -1;
		}
		item->fields[item->field_count++] = xstrdup(name);
		if (i > 0)
			buf_append_str(label, " ");
		append_astring(label, name);
	}
	buf_append_str(label, ")");
	return 0;
}

static const struct section_name {
	const char *name, *label;
	bool peek, binary, size_only;
} section_names[] = {
    {"BODY", "BODY[", false, false, false},
    {"BODY.PEEK", "BODY[", true, false, false},
    {"BINARY", "BINARY[", false, true, false},
    {"BINARY.PEEK", "BINARY[", true, true, false},
    {"BINARY.SIZE", "BINARY.SIZE[", true, true, true},
};

static const struct section_name *section_name_find(const char *name)
{
	for (size_t i = 0; i < sizeof(section_names) / sizeof(section_names[0]); i++) {
		if (strcasecmp(name, section_names[i].name) == 0)
			return &section_names[i];
	}
	return NULL;
}

static int parse_section(struct imap_fetch *f, const struct imap_arg *arg, const char **error_r)
{
	const struct section_name *name = section_name_find(arg->str);
	struct fetch_item *item;
	struct buf label;
	int ret = 0;

	if (name == NULL || (name->size_only && arg->has_partial)) {
		*error_r = name == NULL ? "Unsupported FETCH item" : "BINARY.SIZE takes no partial";
		return -1;
	}
	item = item_add(f, ITEM_SECTION);
	item->peek = name->peek;
	item->binary = name->binary;
	item->size_only = name->size_only;
	memcpy(item->parts, arg->parts, sizeof(item->parts));
	item->part_count = arg->part_count;
	item->text = arg->text;
	item->has_partial = arg->has_partial;
	item->partial_offset = arg->partial_offset;
	item->partial_size = arg->partial_size;
	buf_init(&label);
	buf_append_str(&label, name->label);
	for (const char *s = arg->section; *s != '\0'; s++)
		buf_printf(&label, "%c", toupper((unsigned char)*s));
	if (arg->text == IMAP_SECTION_HEADER_FIELDS || arg->text == IMAP_SECTION_HEADER_FIELDS_NOT)
		ret = section_fields(item, arg, &label, error_r);
	buf_append_str(&label, "]");
	if (arg->has_partial)
		buf_printf(&label, "<%llu>", (unsigned long long)arg->partial_offset);
	item->label = xstrdup(label.data);
	buf_free(&label);
	return ret;
}

static const struct {
	const char *name;
	enum item_kind kind;
} simple_items[] = {
    {"FLAGS", ITEM_FLAGS},
    {"INTERNALDATE", ITEM_INTERNALDATE},
    {"RFC822.SIZE", ITEM_RFC822_SIZE},
    {"ENVELOPE", ITEM_ENVELOPE},
    {"BODY", ITEM_BODY},
    {"BODYSTRUCTURE", ITEM_BODYSTRUCTURE},
    {"UID", ITEM_UID},
    {"MODSEQ", ITEM_MODSEQ},
};

static int parse_atom(struct imap_fetch *f, const char *name, const char **error_r)
{
	for (size_t i = 0; i < sizeof(simple_items) / sizeof(simple_items[0]); i++) {
		if (strcasecmp(name, simple_items[i].name) == 0) {
			item_add(f, simple_items[i].kind);
			return 0;
		}
	}
	if (strcasecmp(name, "RFC822") == 0)
		item_section(f, "RFC822", IMAP_SECTION_NONE, false);
	else if (strcasecmp(name, "RFC822.HEADER") == 0)
		item_section(f, "RFC822.HEADER", IMAP_SECTION_HEADER, true);
	else if (strcasecmp(name, "RFC822.TEXT") == 0)
		item_section(f, "RFC822.TEXT", IMAP_SECTION_TEXT, false);
	else {
		*error_r = "Unknown FETCH item";
		return -1;
	}
	return 0;
}

static int parse_item(struct imap_fetch *f, const struct imap_arg *arg, const char **error_r)
{
	const char *name;

	if (arg->type == IMAP_ARG_SECTION)
		return parse_section(f, arg, error_r);
	if (!imap_arg_get_atom(arg, &name)) {
		*error_r = "Invalid FETCH item";
		return -1;
	}
	return parse_atom(f, name, error_r);
}

static bool parse_macro(struct imap_fetch *f, const char *name)
{
	static const enum item_kind all[] = {ITEM_FLAGS, ITEM_INTERNALDATE, ITEM_RFC822_SIZE,
	                                     ITEM_ENVELOPE, ITEM_BODY};
	size_t n;

	if (strcasecmp(name, "FAST") == 0)
		n = 3;
	else if (strcasecmp(name, "ALL") == 0)
		n = 4;
	else if (strcasecmp(name, "FULL") == 0)
		n = 5;
	else
		return false;
	for (size_t i = 0; i < n; i++)
		item_add(f, all[i]);
	return true;
}

static int parse_items(struct imap_fetch *f, const struct imap_arg *arg, const char **error_r)
{
	const char *name;

	if (arg->type != IMAP_ARG_LIST) {
		if (imap_arg_get_atom(arg, &name) && parse_macro(f, name))
			return 0;
		return parse_item(f, arg, error_r);
	}
	if (arg->count == 0) {
		*error_r = "Empty FETCH item list";
		return -1;
	}
	for (unsigned int i = 0; i < arg->count; i++) {
		if (parse_item(f, &arg->list[i], error_r) < 0)
			return -1;
	}
	return 0;
}

/* UID FETCH always reports UID; it goes first, as clients expect. */
static void ensure_uid(struct imap_fetch *f)
{
	for (unsigned int i = 0; i < f->count; i++) {
		if (f->items[i].kind == ITEM_UID)
			return;
	}
	item_add(f, ITEM_UID);
	memmove(&f->items[1], &f->items[0], (f->count - 1) * sizeof(*f->items));
	memset(&f->items[0], 0, sizeof(f->items[0]));
	f->items[0].kind = ITEM_UID;
}

int imap_fetch_parse(const struct imap_arg *args, bool uid, struct imap_fetch **fetch_r,
                     const char **error_r)
{
	struct imap_fetch *f = xcalloc(1, sizeof(*f));

	if (parse_items(f, args, error_r) < 0) {
		imap_fetch_free(&f);
		return -1;
	}
	if (uid)
		ensure_uid(f);
	*fetch_r = f;
	return 0;
}

void imap_fetch_free(struct imap_fetch **fetchp)
{
	struct imap_fetch *f = *fetchp;

	if (f == NULL)
		return;
	for (unsigned int i = 0; i < f->count; i++) {
		for (unsigned int j = 0; j < f->items[i].field_count; j++)
			xfree(&f->items[i].fields[j]);
		xfree(&f->items[i].fields);
		xfree(&f->items[i].label);
	}
	xfree(&f->items);
	xfree(fetchp);
}

static bool has_item(const struct imap_fetch *f, enum item_kind kind)
{
	for (unsigned int i = 0; i < f->count; i++) {
		if (f->items[i].kind == kind)
			return true;
	}
	return false;
}

bool imap_fetch_has_modseq(const struct imap_fetch *fetch)
{
	return has_item(fetch, ITEM_MODSEQ);
}

void imap_fetch_add_modseq(struct imap_fetch *fetch, bool if_flags)
{
	if (has_item(fetch, ITEM_MODSEQ) || (if_flags && !has_item(fetch, ITEM_FLAGS)))
		return;
	item_add(fetch, ITEM_MODSEQ);
}

void imap_fetch_hide_recent(struct imap_fetch *fetch)
{
	fetch->hide_recent = true;
}

bool imap_fetch_unknown_cte(const struct imap_fetch *fetch)
{
	return fetch->unknown_cte;
}

bool imap_fetch_sets_seen(const struct imap_fetch *fetch)
{
	for (unsigned int i = 0; i < fetch->count; i++) {
		if (fetch->items[i].kind == ITEM_SECTION && !fetch->items[i].peek)
			return true;
	}
	return false;
}

/* --- preparing one message --- */

static int ctx_open(struct fetch_ctx *ctx, const char **error_r)
{
	if (ctx->fd >= 0)
		return 1;
	ctx->fd = mailbox_msg_open(ctx->box, ctx->index, error_r);
	if (ctx->fd >= 0)
		return 1;
	return errno == ENOENT || mailbox_msg_gone(ctx->box, ctx->index) ||
	               mailbox_msg_unavailable(ctx->box, ctx->index)
	           ? 0
	           : -1;
}

/* Sizes and date (measured now when the mailbox does not know them yet). 1, 0 vanished, -1. */
static int ctx_sizes(struct fetch_ctx *ctx, const char **error_r)
{
	int ret;

	if (ctx->have_sizes)
		return 1;
	ret = mailbox_msg_sizes(ctx->box, ctx->index, &ctx->sizes, error_r);
	ctx->have_sizes = ret > 0;
	return ret;
}

/* The chunk is on the stack: a static one stayed dirty for the worker's life after any body
 * FETCH, while the stack's pages are handed back when the session goes idle. */
static int ctx_parse(struct fetch_ctx *ctx, const char **error_r)
{
	char chunk[PARSE_CHUNK];
	struct mime_parser *parser;
	uint64_t off = 0;
	ssize_t n;
	int ret;

	if (ctx->root != NULL)
		return 1;
	if ((ret = ctx_open(ctx, error_r)) <= 0)
		return ret;
	parser = mime_parser_new(NULL);
	while ((n = pread(ctx->fd, chunk, sizeof(chunk), (off_t)off)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		mime_parser_feed(parser, chunk, (size_t)n);
		off += (uint64_t)n;
	}
	if (n < 0)
		mailbox_msg_read_failed(ctx->box, ctx->index, errno);
	ctx->root = mime_parser_finish(&parser);
	parse_count++;
	return n < 0 ? 0 : 1;
}

static void render_cached(const struct mime_part *root, enum cached_field field, struct buf *out)
{
	if (field == CACHED_ENVELOPE)
		imap_envelope_append(out, root->envelope);
	else
		imap_bodystructure_append(
		    out, root,
		    IMAP_BODYSTRUCTURE_CRLF |
		        (field == CACHED_BODYSTRUCTURE ? IMAP_BODYSTRUCTURE_EXTENDED : 0));
}

/* After a parse, stores what the cache lacks so the next FETCH need not parse. */
static void cache_fill(struct fetch_ctx *ctx)
{
	struct buf tmp;

	buf_init(&tmp);
	for (int i = 0; i < CACHED_COUNT; i++) {
		buf_reset(&tmp);
		if (ctx->have_cached[i] ||
		    mailbox_cache_get(ctx->box, ctx->index, cached_names[i], &tmp) == 1)
			continue;
		render_cached(ctx->root, (enum cached_field)i, &tmp);
		mailbox_cache_put(ctx->box, ctx->index, cached_names[i], tmp.data, tmp.len);
	}
	buf_free(&tmp);
}

static int prepare_cached(struct fetch_ctx *ctx, enum cached_field field, const char **error_r)
{
	int ret;

	if (ctx->have_cached[field])
		return 1;
	if (mailbox_cache_get(ctx->box, ctx->index, cached_names[field], &ctx->cached[field]) ==
	        1 &&
	    ctx->cached[field].len > 0) {
		ctx->have_cached[field] = true;
		return 1;
	}
	buf_reset(&ctx->cached[field]);
	if (ctx->root == NULL) {
		if ((ret = ctx_parse(ctx, error_r)) <= 0)
			return ret;
		cache_fill(ctx);
	}
	render_cached(ctx->root, field, &ctx->cached[field]);
	ctx->have_cached[field] = true;
	return 1;
}

static void region(struct prepared *p, uint64_t offset, uint64_t size, uint64_t bare_lf)
{
	p->body.offset = offset;
	p->body.size = size;
	p->size = size + bare_lf;
}

/* The message (root or embedded) that HEADER / TEXT of this item refer to, or NULL. */
static const struct mime_part *item_message(const struct fetch_item *item,
                                            const struct mime_part *part)
{
	if (item->part_count == 0)
		return part;
	if (!part->message_rfc822)
		return NULL;
	return part->children;
}

static int prepare_part(struct fetch_item *item, const struct mime_part *part, struct prepared *p,
                        const char **error_r)
{
	const struct mime_part *msg = item_message(item, part);

	switch (item->text) {
	case IMAP_SECTION_NONE:
		region(p, part->body_offset, part->body_size, part->body_bare_lf);
		return 1;
	case IMAP_SECTION_MIME:
		region(p, part->header_offset, part->header_size, part->header_bare_lf);
		return 1;
	default:
		break;
	}
	if (msg == NULL) {
		p->nil = true;
		return 1;
	}
	if (item->text == IMAP_SECTION_TEXT) {
		region(p, msg->body_offset, msg->body_size, msg->body_bare_lf);
		return 1;
	}
	region(p, msg->header_offset, msg->header_size, msg->header_bare_lf);
	if (item->text == IMAP_SECTION_HEADER)
		return 1;
	p->body.filter =
	    item->text == IMAP_SECTION_HEADER_FIELDS ? FETCH_BODY_FIELDS : FETCH_BODY_FIELDS_NOT;
	p->body.fields = item->fields;
	p->body.field_count = item->field_count;
	return fetch_body_size(&p->body, &p->size, error_r) < 0 ? -1 : 1;
}

/* The octets of a BINARY item that go out: a NUL among them makes the answer a literal8. */
static void item_window(const struct fetch_item *item, uint64_t *start_r, uint64_t *end_r)
{
	*start_r = item->has_partial ? item->partial_offset : 0;
	*end_r = UINT64_MAX;
	if (item->has_partial && item->partial_offset + item->partial_size > item->partial_offset)
		*end_r = item->partial_offset + item->partial_size;
}

/* A BINARY part: a leaf's body with its transfer encoding to undo, -1 when it is unknown. A
 * multipart or message part can only have an identity encoding (RFC 2045 6.4) and goes as BODY
 * sends it: RFC 3516 and RFC 9051 6.4.5 define BINARY for leaf parts only. */
static int binary_region(const struct mime_part *part, struct prepared *p)
{
	region(p, part->body_offset, part->body_size, part->body_bare_lf);
	if (part->multipart || part->message_rfc822)
		return 0;
	p->body.cte = mime_cte_parse(part->encoding);
	if (p->body.cte == MIME_CTE_BINARY)
		p->size = part->body_size; /* its line ends are data, not converted */
	return p->body.cte == MIME_CTE_UNKNOWN ? -1 : 0;
}

/* BINARY / BINARY.SIZE of part (NULL: the whole message, region already set): the decoded
 * size, and whether what is sent holds a NUL. 1, 0 unknown encoding or read error, -1. */
static int prepare_binary(struct fetch_ctx *ctx, const struct fetch_item *item,
                          const struct mime_part *part, struct prepared *p, const char **error_r)
{
	uint64_t start, end;

	if (part != NULL && binary_region(part, p) < 0) {
		ctx->fetch->unknown_cte = true;
		return 0;
	}
	if (item->size_only && p->body.cte != MIME_CTE_BASE64 && p->body.cte != MIME_CTE_QP)
		return 1;
	item_window(item, &start, &end);
	if (fetch_body_measure(&p->body, start, end, &p->size, &p->literal8, error_r) < 0) {
		mailbox_msg_read_failed(ctx->box, ctx->index, errno);
		return 0;
	}
	return 1;
}

static int prepare_section(struct fetch_ctx *ctx, struct fetch_item *item, struct prepared *p,
                           const char **error_r)
{
	const struct mime_part *part;
	int ret;

	if ((ret = ctx_open(ctx, error_r)) <= 0)
		return ret;
	p->body.fd = ctx->fd;
	if (item->part_count == 0 && item->text == IMAP_SECTION_NONE) {
		/* the whole message needs no parse */
		if ((ret = ctx_sizes(ctx, error_r)) <= 0)
			return ret;
		p->body.offset = 0;
		p->body.size = ctx->sizes.size;
		p->size = ctx->sizes.crlf_size;
		return item->binary ? prepare_binary(ctx, item, NULL, p, error_r) : 1;
	}
	if ((ret = ctx_parse(ctx, error_r)) <= 0)
		return ret;
	part = mime_part_find(ctx->root, item->parts, item->part_count);
	if (part == NULL) {
		p->nil = true;
		return 1;
	}
	if (item->binary)
		return prepare_binary(ctx, item, part, p, error_r);
	if (prepare_part(item, part, p, error_r) < 0) {
		/* only reading the file for a filtered section's size fails */
		mailbox_msg_read_failed(ctx->box, ctx->index, errno);
		return 0;
	}
	return 1;
}

static int prepare_item(struct fetch_ctx *ctx, struct fetch_item *item, struct prepared *p,
                        const char **error_r)
{
	switch (item->kind) {
	case ITEM_ENVELOPE:
		return prepare_cached(ctx, CACHED_ENVELOPE, error_r);
	case ITEM_BODY:
		return prepare_cached(ctx, CACHED_BODY, error_r);
	case ITEM_BODYSTRUCTURE:
		return prepare_cached(ctx, CACHED_BODYSTRUCTURE, error_r);
	case ITEM_SECTION:
		return prepare_section(ctx, item, p, error_r);
	case ITEM_INTERNALDATE:
	case ITEM_RFC822_SIZE:
		return ctx_sizes(ctx, error_r);
	default:
		return 1;
	}
}

static int prepare(struct fetch_ctx *ctx, const char **error_r)
{
	ctx->prep = xcalloc(ctx->fetch->count, sizeof(*ctx->prep));
	for (unsigned int i = 0; i < ctx->fetch->count; i++) {
		int ret = prepare_item(ctx, &ctx->fetch->items[i], &ctx->prep[i], error_r);

		if (ret <= 0)
			return ret;
	}
	return 1;
}

/* --- writing --- */

static void render_flags(struct buf *out, struct mailbox *box, const struct mail *mail,
                         bool hide_recent)
{
	static const struct {
		unsigned flag;
		const char *name;
	} flags[] = {
	    {MAIL_ANSWERED, "\\Answered"}, {MAIL_FLAGGED, "\\Flagged"}, {MAIL_DELETED, "\\Deleted"},
	    {MAIL_SEEN, "\\Seen"},         {MAIL_DRAFT, "\\Draft"},     {MAIL_RECENT, "\\Recent"},
	};
	size_t start = out->len + 1;

	buf_append_str(out, "(");
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if ((mail->flags & flags[i].flag) == 0 ||
		    (hide_recent && flags[i].flag == MAIL_RECENT))
			continue;
		buf_printf(out, "%s%s", out->len > start ? " " : "", flags[i].name);
	}
	for (unsigned int i = 0; i < 64; i++) {
		const char *name;

		if ((mail->keywords & ((uint64_t)1 << i)) == 0 ||
		    (name = mailbox_keyword_name(box, i)) == NULL)
			continue;
		buf_printf(out, "%s%s", out->len > start ? " " : "", name);
	}
	buf_append_str(out, ")");
}

static void render_date(struct buf *out, time_t t)
{
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	long off;

	localtime_r(&t, &tm);
	off = tm.tm_gmtoff / 60;
	buf_printf(out, "\"%02d-%s-%04d %02d:%02d:%02d %c%02ld%02ld\"", tm.tm_mday,
	           months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
	           off < 0 ? '-' : '+', (off < 0 ? -off : off) / 60, (off < 0 ? -off : off) % 60);
}

static void flush_line(struct conn *out, struct buf *line)
{
	conn_write(out, line->data, line->len);
	buf_reset(line);
}

static int emit_section(const struct fetch_item *item, const struct prepared *p, struct conn *out,
                        struct buf *line, const char **error_r)
{
	uint64_t skip = 0, len = p->size;

	buf_printf(line, "%s ", item->label);
	if (item->size_only) {
		/* a number in the grammar: a part that does not exist has none */
		buf_printf(line, "%llu", (unsigned long long)(p->nil ? 0 : p->size));
		return 0;
	}
	if (p->nil) {
		buf_append_str(line, "NIL");
		return 0;
	}
	if (item->has_partial) {
		skip = item->partial_offset < p->size ? item->partial_offset : p->size;
		len = p->size - skip < item->partial_size ? p->size - skip : item->partial_size;
	}
	buf_printf(line, "%s{%llu}\r\n", p->literal8 ? "~" : "", (unsigned long long)len);
	flush_line(out, line);
	return fetch_body_write(&p->body, skip, len, out, error_r);
}

static int emit_item(struct fetch_ctx *ctx, unsigned int i, uint32_t seq, struct conn *out,
                     struct buf *line, const char **error_r)
{
	const struct fetch_item *item = &ctx->fetch->items[i];

	switch (item->kind) {
	case ITEM_FLAGS:
		buf_append_str(line, "FLAGS ");
		render_flags(line, ctx->box, ctx->mail, ctx->fetch->hide_recent);
		break;
	case ITEM_INTERNALDATE:
		buf_append_str(line, "INTERNALDATE ");
		render_date(line, ctx->sizes.date);
		break;
	case ITEM_RFC822_SIZE:
		buf_printf(line, "RFC822.SIZE %llu", (unsigned long long)ctx->sizes.crlf_size);
		break;
	case ITEM_UID:
		buf_printf(line, "UID %u", ctx->mail->uid);
		break;
	case ITEM_MODSEQ:
		buf_printf(line, "MODSEQ (%llu)", (unsigned long long)ctx->mail->modseq);
		break;
	case ITEM_ENVELOPE:
	case ITEM_BODY:
	case ITEM_BODYSTRUCTURE: {
		enum cached_field f = item->kind == ITEM_ENVELOPE ? CACHED_ENVELOPE
		                      : item->kind == ITEM_BODY   ? CACHED_BODY
		                                                  : CACHED_BODYSTRUCTURE;

		buf_printf(line, "%s ",
		           item->kind == ITEM_ENVELOPE ? "ENVELOPE"
		           : item->kind == ITEM_BODY   ? "BODY"
		                                       : "BODYSTRUCTURE");
		buf_append(line, ctx->cached[f].data, ctx->cached[f].len);
		break;
	}
	case ITEM_SECTION:
		return emit_section(item, &ctx->prep[i], out, line, error_r);
	}
	return 0;
}

static int emit(struct fetch_ctx *ctx, uint32_t seq, struct conn *out, const char **error_r)
{
	struct buf line;
	int ret = 0;

	buf_init(&line);
	buf_printf(&line, "* %u FETCH (", seq);
	for (unsigned int i = 0; i < ctx->fetch->count && ret == 0; i++) {
		if (i > 0)
			buf_append_str(&line, " ");
		ret = emit_item(ctx, i, seq, out, &line, error_r);
	}
	/* even after a failed read (its literal padded): the response stays well-formed */
	buf_append_str(&line, ")\r\n");
	flush_line(out, &line);
	buf_free(&line);
	return ret;
}

static void ctx_free(struct fetch_ctx *ctx)
{
	if (ctx->fd >= 0)
		close(ctx->fd);
	mime_part_free(&ctx->root);
	for (int i = 0; i < CACHED_COUNT; i++)
		buf_free(&ctx->cached[i]);
	xfree(&ctx->prep);
}

int imap_fetch_write(struct imap_fetch *fetch, struct mailbox *box, size_t index, uint32_t seq,
                     struct conn *out, const char **error_r)
{
	struct fetch_ctx ctx = {.fetch = fetch, .box = box, .index = index, .fd = -1};
	int ret;

	fetch->unknown_cte = false;
	if (index >= mailbox_count(box) || mailbox_msg_gone(box, index))
		return 0;
	ctx.mail = mailbox_get(box, index);
	for (int i = 0; i < CACHED_COUNT; i++)
		buf_init(&ctx.cached[i]);
	ret = prepare(&ctx, error_r);
	if (ret > 0 && emit(&ctx, seq, out, error_r) < 0) {
		/* a read failed after the literal's size went out (it was padded) */
		mailbox_msg_read_failed(box, index, errno);
		ret = 0;
	}
	ctx_free(&ctx);
	return ret;
}
