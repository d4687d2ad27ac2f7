/* FETCH ENVELOPE (RFC 3501 7.4.2): the header fields the MIME parser kept, as IMAP. */
#include "server/imap/imap-envelope.h"
#include "server/imap/imap-reply.h"

#include "common/buf.h"
#include "storage/mime.h"

#include <stdbool.h>
#include <stddef.h>

struct imap_envelope_list {
	struct buf *out;
	unsigned int count;
};

/* One address as a 4-tuple of the list (opened by the first). */
static void imap_envelope_address(const struct mime_address *addr, void *ctx)
{
	struct imap_envelope_list *l = ctx;

	if (l->count++ == 0)
		buf_append_str(l->out, "(");
	buf_append_str(l->out, "(");
	imap_append_nstring(l->out, addr->name);
	buf_append_str(l->out, " ");
	imap_append_nstring(l->out, addr->route);
	buf_append_str(l->out, " ");
	imap_append_nstring(l->out, addr->mailbox);
	buf_append_str(l->out, " ");
	imap_append_nstring(l->out, addr->host);
	buf_append_str(l->out, ")");
}

static void imap_envelope_addresses(struct buf *out, const char *value)
{
	struct imap_envelope_list l = {.out = out};

	mime_address_parse(value, MIME_ADDRESS_MAX, imap_envelope_address, &l);
	buf_append_str(out, l.count > 0 ? ")" : "NIL");
}

static void imap_envelope_ignore(const struct mime_address *addr, void *ctx)
{
}

static bool imap_envelope_has_address(const char *value)
{
	/* the first one tells */
	return value != NULL && mime_address_parse(value, 1, imap_envelope_ignore, NULL) > 0;
}

void imap_envelope_append(struct buf *out, const struct mime_envelope *env)
{
	static const struct mime_envelope empty;
	const char *lists[6];

	if (env == NULL)
		env = &empty;
	lists[0] = env->from;
	lists[1] = imap_envelope_has_address(env->sender) ? env->sender : env->from;
	lists[2] = imap_envelope_has_address(env->reply_to) ? env->reply_to : env->from;
	lists[3] = env->to;
	lists[4] = env->cc;
	lists[5] = env->bcc;
	buf_append_str(out, "(");
	imap_append_nstring(out, env->date);
	buf_append_str(out, " ");
	imap_append_nstring(out, env->subject);
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		buf_append_str(out, " ");
		imap_envelope_addresses(out, lists[i]);
	}
	buf_append_str(out, " ");
	imap_append_nstring(out, env->in_reply_to);
	buf_append_str(out, " ");
	imap_append_nstring(out, env->message_id);
	buf_append_str(out, ")");
}
