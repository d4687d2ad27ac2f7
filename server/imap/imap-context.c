/* Search contexts (RFC 5267 section 4): the kept results and their ADDTO / REMOVEFROM. */
#include "server/imap/imap-context.h"
#include "server/imap/imap-client.h"
#include "server/imap/imap-search.h"
#include "server/imap/imap-sort.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "server/conn.h"
#include "storage/storage.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* One ADDTO or REMOVEFROM pair, noted until the next flush. */
struct ctx_op {
	bool add;
	uint32_t pos;    /* the context position: 0 in a SEARCH context */
	uint32_t number; /* the UID, or the sequence number it has when the op is written */
};

struct imap_context {
	char *tag;
	bool uid;
	struct imap_search *search;
	struct imap_sort *sort; /* NULL: a SEARCH context, results in mailbox (UID) order */
	uint32_t *uids;         /* the results in their order */
	uint32_t *by_uid;       /* a SORT context's results ascending, to look one up */
	size_t count, alloc;
	struct ctx_op *ops;
	size_t op_count, op_alloc;
};

struct imap_contexts {
	struct imap_context *ctx[IMAP_CONTEXT_MAX];
};

/* --- the set of contexts --- */

bool imap_context_tag_in_use(const struct imap_client *c, const char *tag)
{
	for (unsigned i = 0; c->contexts != NULL && i < IMAP_CONTEXT_MAX; i++) {
		if (c->contexts->ctx[i] != NULL && strcmp(c->contexts->ctx[i]->tag, tag) == 0)
			return true;
	}
	return false;
}

static void ctx_free(struct imap_context **ctxp)
{
	struct imap_context *ctx = *ctxp;

	if (ctx == NULL)
		return;
	xfree(&ctx->tag);
	imap_search_free(&ctx->search);
	imap_sort_free(&ctx->sort);
	xfree(&ctx->uids);
	xfree(&ctx->by_uid);
	xfree(&ctx->ops);
	xfree(ctxp);
}

static int ctx_uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

int imap_context_add(struct imap_client *c, struct imap_search **search, struct imap_sort **sort,
                     const size_t *indexes, size_t count)
{
	struct imap_context *ctx;
	unsigned slot = 0;

	if (c->contexts == NULL)
		c->contexts = xcalloc(1, sizeof(*c->contexts));
	while (slot < IMAP_CONTEXT_MAX && c->contexts->ctx[slot] != NULL)
		slot++;
	if (slot == IMAP_CONTEXT_MAX)
		return 0;
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->tag = xstrdup(c->tag);
	ctx->uid = c->uid;
	ctx->search = *search;
	ctx->sort = sort != NULL ? *sort : NULL;
	*search = NULL;
	if (sort != NULL)
		*sort = NULL;
	ctx->alloc = count + 16;
	ctx->uids = xcalloc(ctx->alloc, sizeof(uint32_t));
	for (size_t i = 0; i < count; i++)
		ctx->uids[i] = mailbox_get(c->box, indexes[i])->uid;
	ctx->count = count;
	if (ctx->sort != NULL) {
		ctx->by_uid = xcalloc(ctx->alloc, sizeof(uint32_t));
		memcpy(ctx->by_uid, ctx->uids, count * sizeof(uint32_t));
		qsort(ctx->by_uid, count, sizeof(uint32_t), ctx_uid_cmp);
	}
	c->contexts->ctx[slot] = ctx;
	return 1;
}

int imap_context_cancel(struct imap_client *c, const char *tag)
{
	for (unsigned i = 0; c->contexts != NULL && i < IMAP_CONTEXT_MAX; i++) {
		if (c->contexts->ctx[i] != NULL && strcmp(c->contexts->ctx[i]->tag, tag) == 0) {
			ctx_free(&c->contexts->ctx[i]);
			return 1;
		}
	}
	return 0;
}

void imap_context_free_all(struct imap_client *c)
{
	for (unsigned i = 0; c->contexts != NULL && i < IMAP_CONTEXT_MAX; i++)
		ctx_free(&c->contexts->ctx[i]);
	xfree(&c->contexts);
}

/* --- one context's results --- */

/* Where uid is (or would go) in the ascending v[0..count). */
static bool uid_search(const uint32_t *v, size_t count, uint32_t uid, size_t *pos_r)
{
	size_t lo = 0, hi = count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos_r = lo;
	return lo < count && v[lo] == uid;
}

/* Is uid in the results: a binary search. *pos_r is its position (or, when not there, where it
 * would go) in a SEARCH context, and only a hint in a SORT context (see ctx_pos). */
static bool ctx_has(const struct imap_context *ctx, uint32_t uid, size_t *pos_r)
{
	return uid_search(ctx->sort != NULL ? ctx->by_uid : ctx->uids, ctx->count, uid, pos_r);
}

/* The position of uid, which is in the results: a SORT context is read through, which is
 * done only when the results change. */
static size_t ctx_pos(const struct imap_context *ctx, uint32_t uid, size_t hint)
{
	size_t pos = 0;

	if (ctx->sort == NULL)
		return hint;
	while (ctx->uids[pos] != uid)
		pos++;
	return pos;
}

/* Where view message index goes in a SORT context: a binary search over the kept results,
 * which reads the sort keys of a few of them (from the index's cache). -1 on error. */
static int ctx_sort_pos(struct imap_client *c, const struct imap_context *ctx, size_t index,
                        size_t *pos_r)
{
	size_t lo = 0, hi = ctx->count;
	const char *error;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		ssize_t other = mailbox_find_uid(c->box, ctx->uids[mid]);
		int cmp = 1;

		if (other >= 0 &&
		    imap_sort_compare(ctx->sort, c->box, index, (size_t)other, &cmp, &error) < 0) {
			log_error("imap user=%s: sort of an update failed: %s", c->user, error);
			return -1;
		}
		if (cmp > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos_r = lo;
	return 0;
}

static void ctx_note(struct imap_context *ctx, bool add, size_t pos, uint32_t number)
{
	if (ctx->op_count == ctx->op_alloc) {
		ctx->op_alloc = ctx->op_alloc == 0 ? 8 : ctx->op_alloc * 2;
		ctx->ops = xreallocarray(ctx->ops, ctx->op_alloc, sizeof(*ctx->ops));
	}
	ctx->ops[ctx->op_count++] = (struct ctx_op){
	    .add = add, .pos = ctx->sort != NULL ? (uint32_t)pos + 1 : 0, .number = number};
}

static void uids_insert(uint32_t *v, size_t count, size_t pos, uint32_t uid)
{
	memmove(v + pos + 1, v + pos, (count - pos) * sizeof(uint32_t));
	v[pos] = uid;
}

static void uids_remove(uint32_t *v, size_t count, size_t pos)
{
	memmove(v + pos, v + pos + 1, (count - pos - 1) * sizeof(uint32_t));
}

static void ctx_insert(struct imap_context *ctx, size_t pos, uint32_t uid)
{
	size_t at;

	if (ctx->count == ctx->alloc) {
		ctx->alloc *= 2;
		ctx->uids = xreallocarray(ctx->uids, ctx->alloc, sizeof(uint32_t));
		if (ctx->sort != NULL)
			ctx->by_uid = xreallocarray(ctx->by_uid, ctx->alloc, sizeof(uint32_t));
	}
	uids_insert(ctx->uids, ctx->count, pos, uid);
	if (ctx->sort != NULL && !uid_search(ctx->by_uid, ctx->count, uid, &at))
		uids_insert(ctx->by_uid, ctx->count, at, uid);
	ctx->count++;
}

static void ctx_remove(struct imap_context *ctx, size_t pos)
{
	size_t at;

	if (ctx->sort != NULL && uid_search(ctx->by_uid, ctx->count, ctx->uids[pos], &at))
		uids_remove(ctx->by_uid, ctx->count, at);
	uids_remove(ctx->uids, ctx->count, pos);
	ctx->count--;
}

/* Adds view message index to the results where it belongs. */
static void ctx_add(struct imap_client *c, struct imap_context *ctx, size_t index, size_t pos)
{
	uint32_t uid = mailbox_get(c->box, index)->uid;

	if (ctx->sort != NULL && ctx_sort_pos(c, ctx, index, &pos) < 0)
		return;
	ctx_insert(ctx, pos, uid);
	ctx_note(ctx, true, pos, ctx->uid ? uid : (uint32_t)index + 1);
}

/* Matches known message index against the context again and adds or removes it. */
static void ctx_recheck(struct imap_client *c, struct imap_context *ctx, size_t index)
{
	uint32_t uid = mailbox_get(c->box, index)->uid;
	const char *error;
	size_t pos = 0;
	bool in = ctx_has(ctx, uid, &pos);
	int r;

	imap_search_set_saved(ctx->search, c->saved_uids, c->saved_count);
	r = imap_search_match(ctx->search, c->box, index, (uint32_t)index + 1, c->known_count,
	                      &error);

	if (r < 0) {
		log_error("imap user=%s: search of an update failed: %s", c->user, error);
	} else if (r > 0 && !in) {
		ctx_add(c, ctx, index, pos);
	} else if (r == 0 && in) {
		pos = ctx_pos(ctx, uid, pos);
		ctx_remove(ctx, pos);
		ctx_note(ctx, false, pos, ctx->uid ? uid : (uint32_t)index + 1);
	}
}

/* --- what changed --- */

void imap_context_changed(struct imap_client *c, size_t index)
{
	if (c->contexts == NULL || index >= c->known_count || mailbox_msg_gone(c->box, index))
		return;
	for (unsigned i = 0; i < IMAP_CONTEXT_MAX; i++) {
		if (c->contexts->ctx[i] != NULL)
			ctx_recheck(c, c->contexts->ctx[i], index);
	}
}

void imap_context_arrived(struct imap_client *c, size_t from, size_t to)
{
	for (size_t index = from; c->contexts != NULL && index < to; index++)
		imap_context_changed(c, index);
	imap_context_flush(c);
}

void imap_context_expunged(struct imap_client *c, size_t index, uint32_t uid)
{
	for (unsigned i = 0; c->contexts != NULL && i < IMAP_CONTEXT_MAX; i++) {
		struct imap_context *ctx = c->contexts->ctx[i];
		size_t pos;

		if (ctx == NULL || !ctx_has(ctx, uid, &pos))
			continue;
		pos = ctx_pos(ctx, uid, pos);
		ctx_remove(ctx, pos);
		ctx_note(ctx, false, pos, ctx->uid ? uid : (uint32_t)index + 1);
	}
}

/* --- the ESEARCH responses --- */

/* The ops [from, to), all of one kind: "0 set" in a SEARCH context, else "pos n" pairs. */
static void ctx_render_run(const struct imap_context *ctx, size_t from, size_t to, struct buf *out)
{
	uint32_t *numbers;

	if (ctx->sort != NULL) {
		for (size_t i = from; i < to; i++)
			buf_printf(out, "%s%u %u", i > from ? " " : "", ctx->ops[i].pos,
			           ctx->ops[i].number);
		return;
	}
	numbers = xcalloc(to - from, sizeof(uint32_t));
	for (size_t i = from; i < to; i++)
		numbers[i - from] = ctx->ops[i].number;
	buf_append_str(out, "0 ");
	imap_search_render_set(out, numbers, to - from);
	xfree(&numbers);
}

static void ctx_flush(struct imap_client *c, struct imap_context *ctx)
{
	struct buf out;

	buf_init(&out);
	imap_search_render_tag(&out, ctx->tag);
	if (ctx->uid)
		buf_append_str(&out, " UID");
	for (size_t i = 0; i < ctx->op_count;) {
		size_t j = i;

		while (j < ctx->op_count && ctx->ops[j].add == ctx->ops[i].add)
			j++;
		buf_append_str(&out, ctx->ops[i].add ? " ADDTO (" : " REMOVEFROM (");
		ctx_render_run(ctx, i, j, &out);
		buf_append_str(&out, ")");
		i = j;
	}
	buf_append_str(&out, "\r\n");
	conn_write(c->conn, out.data, out.len);
	buf_free(&out);
	ctx->op_count = 0;
}

void imap_context_flush(struct imap_client *c)
{
	for (unsigned i = 0; c->contexts != NULL && i < IMAP_CONTEXT_MAX; i++) {
		if (c->contexts->ctx[i] != NULL && c->contexts->ctx[i]->op_count > 0)
			ctx_flush(c, c->contexts->ctx[i]);
	}
}
