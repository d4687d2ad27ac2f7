/*
 * Cached per-message metadata (ENVELOPE, BODYSTRUCTURE, ...) in the index's cache table, keyed
 * by UID + field and removed with the message. Reads are point lookups on a persistent prepared
 * statement. Writes are collected in memory and written in one transaction per batch (at the
 * next sync, expunge, copy, close, or when the batch is full), so a cold FETCH 1:* does not
 * commit once per message.
 */
#include "storage/storage-private.h"

#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <string.h>

#define CACHE_FIELD_MAX     32
#define CACHE_PENDING_MAX   512
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

void mailbox_cache_flush(struct mailbox *box, bool in_tx)
{
	const char *error;

	if (box->pending_count == 0)
		return;
	if (in_tx) {
		(void)cache_write(box, &error);
	} else if (mail_index_begin(box->index, &error) == 0) {
		if (cache_write(box, &error) < 0 || mail_index_commit(box->index, &error) < 0)
			mail_index_rollback(box->index);
	}
	mailbox_cache_discard(box); /* best effort: a lost entry is parsed again */
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

int mailbox_cache_get(struct mailbox *box, size_t index, const char *field, struct buf *out)
{
	const struct cache_pending *p;
	uint32_t uid;

	if (index >= box->count)
		return 0;
	uid = box->msgs[index].mail.uid;
	if ((p = cache_pending_find(box, uid, field)) != NULL) {
		buf_append(out, p->data, p->len);
		return 1;
	}
	return mail_index_cache_get(box->index, uid, field, out);
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
