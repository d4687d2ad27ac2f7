/*
 * SEARCH matching. Keys that need only the index (flags, sizes, dates, sets) are evaluated
 * first; the message file is mapped (mmap, so a large message is not copied to the heap) and
 * MIME-parsed only when a header/body key is reached, at most once per message. The decoded body
 * text is built at most once per message too, and only when BODY or TEXT asks for it.
 */
#include "server/imap/imap-search-private.h"
#include "server/imap/imap-header.h"

#include "common/buf.h"
#include "storage/mime-decode.h"
#include "storage/mime.h"
#include "storage/storage.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct match_ctx {
	struct mailbox *box;
	size_t index;
	uint32_t seq, count;
	const struct mail *mail;
	const uint32_t *saved; /* what "$" names, ascending UIDs */
	size_t saved_count;
	/* loaded on demand */
	struct mail_sizes sizes;
	bool have_sizes;
	bool loaded, mapped;
	const char *map;
	size_t map_size;
	struct mime_part *root;
	bool have_body;
	struct buf body; /* folded, decoded text of the body parts */
	const char *error;
};

/* --- loading the message --- */

/* Sizes and internal date (measured now when the mailbox does not know them yet). 1, 0 the
 * message vanished, -1. */
static int ctx_sizes(struct match_ctx *ctx)
{
	int ret;

	if (ctx->have_sizes)
		return 1;
	ret = mailbox_msg_sizes(ctx->box, ctx->index, &ctx->sizes, &ctx->error);
	ctx->have_sizes = ret > 0;
	return ret;
}

static int ctx_load(struct match_ctx *ctx)
{
	struct stat st;
	int fd;

	if (ctx->loaded)
		return ctx->mapped ? 1 : 0;
	ctx->loaded = true;
	fd = mailbox_msg_open(ctx->box, ctx->index, &ctx->error);
	/* vanished, or its file cannot be read (logged once): it matches nothing */
	if (fd < 0)
		return errno == ENOENT || mailbox_msg_gone(ctx->box, ctx->index) ||
		               mailbox_msg_unavailable(ctx->box, ctx->index)
		           ? 0
		           : -1;
	if (fstat(fd, &st) < 0) {
		close(fd);
		ctx->error = "Message file stat failed";
		return -1;
	}
	ctx->map_size = (size_t)st.st_size;
	if (ctx->map_size > 0) {
		void *m = mmap(NULL, ctx->map_size, PROT_READ, MAP_PRIVATE, fd, 0);

		if (m == MAP_FAILED) {
			close(fd);
			ctx->error = "Message file map failed";
			return -1;
		}
		ctx->map = m;
	}
	close(fd);
	ctx->mapped = true;
	return 1;
}

/* The top-level header (through its blank line) without a MIME parse: header keys need no
 * more than this. */
static const char *ctx_header(const struct match_ctx *ctx, uint64_t *len_r)
{
	const char *p = ctx->map, *end = ctx->map + ctx->map_size;

	*len_r = ctx->map_size;
	if (p == NULL)
		return "";
	if (*p == '\n' || (end - p >= 2 && p[0] == '\r' && p[1] == '\n')) {
		*len_r = 0;
		return p;
	}
	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		p++;
		if (p < end && (*p == '\n' || (end - p >= 2 && p[0] == '\r' && p[1] == '\n'))) {
			*len_r = (uint64_t)(p - ctx->map);
			break;
		}
	}
	return ctx->map;
}

static void ctx_unload(struct match_ctx *ctx)
{
	if (ctx->map != NULL)
		munmap((void *)ctx->map, ctx->map_size);
	mime_part_free(&ctx->root);
	buf_free(&ctx->body);
}

/* Offsets come from parsing this very mapping, but stay defensive. */
static const char *region(const struct match_ctx *ctx, uint64_t off, uint64_t *size)
{
	if (off > ctx->map_size)
		off = ctx->map_size;
	if (*size > ctx->map_size - off)
		*size = ctx->map_size - off;
	return ctx->map != NULL ? ctx->map + off : "";
}

/* --- headers --- */

static bool contains(const char *hay, size_t hay_len, const struct skey *key)
{
	return key->str_len == 0 || memmem(hay, hay_len, key->str, key->str_len) != NULL;
}

/* Decodes and folds one unfolded field value, then looks for the key's needle. */
static bool value_matches(const char *value, size_t len, const struct skey *key)
{
	struct buf raw, decoded, folded;
	bool yes;

	buf_init(&raw);
	buf_init(&decoded);
	buf_init(&folded);
	buf_append(&raw, value, len);
	mime_decode_words(raw.data, &decoded);
	search_fold(decoded.data, decoded.len, &folded);
	yes = contains(folded.data != NULL ? folded.data : "", folded.len, key);
	buf_free(&raw);
	buf_free(&decoded);
	buf_free(&folded);
	return yes;
}

/* FROM, TO, CC, BCC: the addresses as parsed ("name <mailbox@host>", comments and routes
 * gone), so that user@domain is found however the header wrote it. */
static bool addresses_match(const char *value, const struct skey *key)
{
	struct buf text;
	bool yes;

	buf_init(&text);
	mime_addresses_text(value, &text);
	yes = value_matches(text.data != NULL ? text.data : "", text.len, key);
	buf_free(&text);
	return yes;
}

static bool header_matches(const char *hdr, size_t len, const char *name, const struct skey *key)
{
	struct imap_header_iter it = {.hdr = hdr, .len = len};
	bool yes = false;

	buf_init(&it.value);
	while (!yes && imap_header_next(&it, name)) {
		if (key->address && name != NULL)
			yes = addresses_match(it.value.data, key);
		else
			yes = value_matches(it.value.data, it.value.len, key);
	}
	buf_free(&it.value);
	return yes;
}

static const char *part_header(const struct match_ctx *ctx, const struct mime_part *part,
                               uint64_t *len_r)
{
	*len_r = part->header_size;
	return region(ctx, part->header_offset, len_r);
}

/* --- body text --- */

static bool part_is_text(const struct mime_part *part)
{
	return part->type == NULL || strcasecmp(part->type, "text") == 0 ||
	       (strcasecmp(part->type, "message") == 0 && !part->message_rfc822);
}

static void body_add_header(struct match_ctx *ctx, const struct mime_part *msg)
{
	struct imap_header_iter it;
	uint64_t len;
	struct buf decoded;

	it = (struct imap_header_iter){.hdr = part_header(ctx, msg, &len)};
	it.len = (size_t)len;
	buf_init(&it.value);
	buf_init(&decoded);
	while (imap_header_next(&it, NULL)) {
		buf_reset(&decoded);
		mime_decode_words(it.value.data, &decoded);
		search_fold(decoded.data, decoded.len, &ctx->body);
		buf_append_str(&ctx->body, "\n");
	}
	buf_free(&decoded);
	buf_free(&it.value);
}

static void body_add_leaf(struct match_ctx *ctx, const struct mime_part *part)
{
	const struct mime_param *cs = mime_param_find(part->params, part->param_count, "charset");
	uint64_t len = part->body_size;
	const char *data = region(ctx, part->body_offset, &len);
	struct buf decoded;

	if (!part_is_text(part))
		return;
	buf_init(&decoded);
	mime_decode_body(data, (size_t)len, part->encoding, cs != NULL ? cs->value : NULL,
	                 &decoded);
	search_fold(decoded.data != NULL ? decoded.data : "", decoded.len, &ctx->body);
	buf_append_str(&ctx->body, "\n");
	buf_free(&decoded);
}

/* Walks the tree; recursion is bounded by the MIME parser's depth limit. */
static void body_add(struct match_ctx *ctx, const struct mime_part *part)
{
	if (part->multipart) {
		for (const struct mime_part *c = part->children; c != NULL; c = c->next)
			body_add(ctx, c);
	} else if (part->message_rfc822 && part->children != NULL) {
		body_add_header(ctx, part->children);
		body_add(ctx, part->children);
	} else {
		body_add_leaf(ctx, part);
	}
}

static const struct buf *ctx_body(struct match_ctx *ctx)
{
	if (!ctx->have_body) {
		ctx->have_body = true;
		buf_append_str(&ctx->body, "");
		ctx->root = mime_parse(ctx->map != NULL ? ctx->map : "", ctx->map_size, NULL);
		body_add(ctx, ctx->root);
	}
	return &ctx->body;
}

/* --- keys --- */

static uint32_t local_date(time_t t)
{
	struct tm tm;

	localtime_r(&t, &tm);
	return (uint32_t)((tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday);
}

static bool date_cmp(enum skey_type type, uint32_t date, uint64_t key)
{
	switch (type) {
	case SKEY_BEFORE:
	case SKEY_SENTBEFORE:
		return date < key;
	case SKEY_ON:
	case SKEY_SENTON:
		return date == key;
	default:
		return date >= key;
	}
}

/* The Date: field as written; messages without a readable one use the internal date. */
static uint32_t sent_date(struct match_ctx *ctx)
{
	struct imap_header_iter it;
	uint64_t len;
	uint32_t date = 0;

	it = (struct imap_header_iter){.hdr = ctx_header(ctx, &len)};
	it.len = (size_t)len;
	buf_init(&it.value);
	if (imap_header_next(&it, "Date"))
		date = search_header_date(it.value.data);
	buf_free(&it.value);
	if (date == 0 && ctx_sizes(ctx) > 0)
		date = local_date(ctx->sizes.date);
	return date;
}

static uint32_t uid_star(const struct match_ctx *ctx)
{
	size_t n = mailbox_count(ctx->box);

	if (ctx->count == 0 || n == 0)
		return 0;
	return mailbox_get(ctx->box, (ctx->count <= n ? ctx->count : n) - 1)->uid;
}

static int match_key(struct match_ctx *ctx, const struct skey *key);

static int match_file_key(struct match_ctx *ctx, const struct skey *key)
{
	uint64_t len;
	const char *hdr;
	int ret;

	if ((ret = ctx_load(ctx)) <= 0)
		return ret;
	switch (key->type) {
	case SKEY_HEADER:
		hdr = ctx_header(ctx, &len);
		return header_matches(hdr, (size_t)len, key->field, key);
	case SKEY_BODY:
		return contains(ctx_body(ctx)->data, ctx_body(ctx)->len, key);
	case SKEY_TEXT:
		hdr = ctx_header(ctx, &len);
		if (header_matches(hdr, (size_t)len, NULL, key))
			return 1;
		return contains(ctx_body(ctx)->data, ctx_body(ctx)->len, key);
	default:
		return date_cmp(key->type, sent_date(ctx), key->number);
	}
}

/* AND: index-only children first, so a file is read only when they all match. */
static int match_and(struct match_ctx *ctx, const struct skey *key)
{
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned int i = 0; i < key->child_count; i++) {
			const struct skey *c = key->children[i];
			int ret;

			if (search_key_reads_file(c) != (pass == 1))
				continue;
			if ((ret = match_key(ctx, c)) <= 0)
				return ret;
		}
	}
	return 1;
}

static int match_or(struct match_ctx *ctx, const struct skey *key)
{
	int ret = match_key(ctx, key->children[0]);

	return ret != 0 ? ret : match_key(ctx, key->children[1]);
}

/* Keywords compare case-insensitively (RFC 9051 2.3.2), whatever case the table keeps. */
static int match_keyword(struct match_ctx *ctx, const struct skey *key)
{
	unsigned n = mailbox_keyword_count(ctx->box);
	bool set = false;

	for (unsigned i = 0; i < n && i < 64 && !set; i++) {
		const char *name = mailbox_keyword_name(ctx->box, i);

		set = name != NULL && strcasecmp(name, key->str) == 0 &&
		      (ctx->mail->keywords & ((uint64_t)1 << i)) != 0;
	}
	return set != key->negate;
}

static int match_size_key(struct match_ctx *ctx, const struct skey *key)
{
	int ret = ctx_sizes(ctx);

	if (ret <= 0)
		return ret;
	switch (key->type) {
	case SKEY_LARGER:
		return ctx->sizes.crlf_size > key->number;
	case SKEY_SMALLER:
		return ctx->sizes.crlf_size < key->number;
	default:
		return date_cmp(key->type, local_date(ctx->sizes.date), key->number);
	}
}

static bool match_saved(const struct match_ctx *ctx, uint32_t uid)
{
	size_t lo = 0, hi = ctx->saved_count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ctx->saved[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ctx->saved_count && ctx->saved[lo] == uid;
}

static int match_index_key(struct match_ctx *ctx, const struct skey *key)
{
	const struct mail *m = ctx->mail;

	switch (key->type) {
	case SKEY_FLAG:
		return ((m->flags & key->flag) != 0) != key->negate;
	case SKEY_KEYWORD:
		return match_keyword(ctx, key);
	case SKEY_SEQSET:
		return imap_seqset_contains(key->ranges, key->range_count, ctx->seq, ctx->count);
	case SKEY_UIDSET:
		return imap_seqset_contains(key->ranges, key->range_count, m->uid, uid_star(ctx));
	case SKEY_MODSEQ:
		return m->modseq >= key->number;
	case SKEY_SAVED:
		return match_saved(ctx, m->uid);
	default:
		return match_size_key(ctx, key);
	}
}

/* Recursion is bounded by SEARCH_MAX_DEPTH (the depth of the parsed tree). */
static int match_key(struct match_ctx *ctx, const struct skey *key)
{
	int ret;

	switch (key->type) {
	case SKEY_ALL:
		return 1;
	case SKEY_AND:
		return match_and(ctx, key);
	case SKEY_OR:
		return match_or(ctx, key);
	case SKEY_NOT:
		ret = match_key(ctx, key->children[0]);
		return ret < 0 ? ret : !ret;
	default:
		return search_key_reads_file(key) ? match_file_key(ctx, key)
		                                  : match_index_key(ctx, key);
	}
}

int imap_search_match(struct imap_search *search, struct mailbox *box, size_t index, uint32_t seq,
                      uint32_t count, const char **error_r)
{
	struct match_ctx ctx = {.box = box,
	                       .index = index,
	                       .seq = seq,
	                       .count = count,
	                       .saved = search->saved,
	                       .saved_count = search->saved_count};
	int ret;

	if (index >= mailbox_count(box))
		return 0;
	ctx.mail = mailbox_get(box, index);
	buf_init(&ctx.body);
	ret = match_key(&ctx, search->root);
	if (ret < 0)
		*error_r = ctx.error != NULL ? ctx.error : "Message read failed";
	ctx_unload(&ctx);
	return ret;
}
