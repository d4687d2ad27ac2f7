/*
 * Cached per-message metadata (ENVELOPE, BODYSTRUCTURE, ...) in the index's cache table, keyed
 * by UID + field and removed with the message. Reads come in chunks: the first get of a field
 * at view index i reads that field for the next CACHE_CHUNK_SIZE messages in one range query
 * (FETCH 1:* walks the view in order; a few chunks serve fields asked for side by side). Writes are
 * collected in memory and written in one transaction per batch (at the next sync, expunge, copy,
 * close, or when the batch is full), so a cold FETCH 1:* does not commit once per message.
 * Sizes measured lazily (mailbox-measure.c) go into the index in the same transactions.
 */
#include "storage/storage-private.h"

#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <string.h>

#define CACHE_FIELD_MAX     32
#define CACHE_PENDING_MAX   4096
#define CACHE_PENDING_BYTES (4 * 1024 * 1024)
#define CACHE_DATA_MAX      (1024 * 1024)

void mailbox_cache_discard(struct mailbox *box)
{
	for (size_t i = 0; i < box->pending_count; i++) {
		xfree(&box->pending[i].field);
		xfree(&box->pending[i].data);
	}
	xfree(&box->pending);
	box->pending_count = box->pending_bytes = 0;
}

static int cache_write(struct mailbox *box, const char **error_r)
{
	for (size_t i = 0; i < box->pending_count; i++) {
		const struct cache_pending *p = &box->pending[i];

		if (mail_index_cache_put(box->index, p->uid, p->field, p->data, p->len, error_r) <
		    0)
			return -1;
	}
	return 0;
}

void mailbox_cache_invalidate(struct mailbox *box)
{
	for (size_t i = 0; i < CACHE_CHUNKS; i++) {
		struct cache_chunk *c = &box->chunks[i];

		xfree(&c->field);
		buf_free(&c->data);
		c->count = 0;
	}
}

static int sizes_write(struct mailbox *box, const char **error_r)
{
	for (size_t i = 0; i < box->sizes_pending_count; i++) {
		const struct sizes_pending *p = &box->sizes_pending[i];
		struct mail_index_rec rec = {.uid = p->uid,
		                             .size = p->sizes.size,
		                             .vsize = p->sizes.crlf_size,
		                             .date = p->sizes.date};

		if (mail_index_set_sizes(box->index, &rec, error_r) < 0)
			return -1;
	}
	return 0;
}

void mailbox_cache_flush(struct mailbox *box, bool in_tx)
{
	const char *error;

	if (box->pending_count == 0 && box->sizes_pending_count == 0)
		return;
	if (box->pending_count > 0)
		mailbox_cache_invalidate(box);
	if (in_tx) {
		(void)(cache_write(box, &error) == 0 && sizes_write(box, &error) == 0);
	} else if (mail_index_begin(box->index, &error) == 0) {
		if (cache_write(box, &error) < 0 || sizes_write(box, &error) < 0 ||
		    mail_index_commit(box->index, &error) < 0)
			mail_index_rollback(box->index);
	}
	/* best effort: a lost entry is parsed again, a lost size measured again */
	mailbox_cache_discard(box);
	mailbox_sizes_discard(box);
}

static const struct cache_pending *cache_pending_find(const struct mailbox *box, uint32_t uid,
                                                      const char *field)
{
	for (size_t i = box->pending_count; i-- > 0;) {
		const struct cache_pending *p = &box->pending[i];

		if (p->uid == uid && strcmp(p->field, field) == 0)
			return p;
	}
	return NULL;
}

struct chunk_fill {
	struct mailbox *box;
	struct cache_chunk *c;
};

static void chunk_row(void *ctx, uint32_t uid, const void *data, size_t len)
{
	struct chunk_fill *fill = ctx;
	struct cache_chunk *c = fill->c;
	ssize_t i = mailbox_find_uid(fill->box, uid);
	size_t j;

	if (i < (ssize_t)c->first || (size_t)i >= c->first + c->count)
		return;
	j = (size_t)i - c->first;
	c->off[j] = c->data.len;
	c->len[j] = len;
	c->have[j] = true;
	buf_append(&c->data, data, len);
}

static struct cache_chunk *chunk_find(struct mailbox *box, size_t index, const char *field)
{
	for (size_t i = 0; i < CACHE_CHUNKS; i++) {
		struct cache_chunk *c = &box->chunks[i];

		if (c->field != NULL && strcmp(c->field, field) == 0 && index >= c->first &&
		    index < c->first + c->count) {
			c->age = ++box->chunk_clock;
			return c;
		}
	}
	return NULL;
}

/* Reads field for view indexes [index, index + CACHE_CHUNK_SIZE) into the least recently used
 * chunk. NULL on error. */
static struct cache_chunk *chunk_load(struct mailbox *box, size_t index, const char *field)
{
	struct cache_chunk *c = &box->chunks[0];
	struct chunk_fill fill = {.box = box};

	for (size_t i = 0; i < CACHE_CHUNKS; i++) {
		struct cache_chunk *cand = &box->chunks[i];

		if (cand->field == NULL) {
			c = cand;
			break;
		}
		if (cand->age < c->age)
			c = cand;
	}
	xfree(&c->field);
	buf_reset(&c->data);
	memset(c->have, 0, sizeof(c->have));
	c->field = xstrdup(field);
	c->first = index;
	c->count = box->count - index < CACHE_CHUNK_SIZE ? box->count - index : CACHE_CHUNK_SIZE;
	c->age = ++box->chunk_clock;
	fill.c = c;
	if (mail_index_cache_range(box->index, box->msgs[index].mail.uid,
	                           box->msgs[index + c->count - 1].mail.uid, field, chunk_row,
	                           &fill) < 0) {
		xfree(&c->field);
		c->count = 0;
		return NULL;
	}
	return c;
}

int mailbox_cache_get(struct mailbox *box, size_t index, const char *field, struct buf *out)
{
	const struct cache_pending *p;
	struct cache_chunk *c;
	size_t j;

	if (index >= box->count)
		return 0;
	if ((p = cache_pending_find(box, box->msgs[index].mail.uid, field)) != NULL) {
		buf_append(out, p->data, p->len);
		return 1;
	}
	if ((c = chunk_find(box, index, field)) == NULL &&
	    (c = chunk_load(box, index, field)) == NULL)
		return mail_index_cache_get(box->index, box->msgs[index].mail.uid, field, out);
	j = index - c->first;
	if (!c->have[j])
		return 0;
	buf_append(out, c->data.data + c->off[j], c->len[j]);
	return 1;
}

int mailbox_cache_put(struct mailbox *box, size_t index, const char *field, const void *data,
                      size_t len)
{
	struct cache_pending *p;

	if (index >= box->count || box->msgs[index].gone || strlen(field) > CACHE_FIELD_MAX ||
	    len > CACHE_DATA_MAX)
		return -1;
	box->pending = xreallocarray(box->pending, box->pending_count + 1, sizeof(*box->pending));
	p = &box->pending[box->pending_count++];
	p->uid = box->msgs[index].mail.uid;
	p->field = xstrdup(field);
	p->data = xmalloc(len + 1);
	memcpy(p->data, data, len);
	p->len = len;
	box->pending_bytes += len;
	if (box->pending_count >= CACHE_PENDING_MAX || box->pending_bytes >= CACHE_PENDING_BYTES)
		mailbox_cache_flush(box, false);
	return 0;
}
