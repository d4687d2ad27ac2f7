/* FETCH BODY and BODYSTRUCTURE (RFC 3501 7.4.2): the MIME parser's tree of parts as IMAP. */
#include "server/imap/imap-bodystructure.h"
#include "server/imap/imap-envelope.h"
#include "server/imap/imap-reply.h"

#include "common/buf.h"
#include "storage/mime.h"

#include <stdbool.h>
#include <strings.h>

static void imap_bodystructure_params(struct buf *out, const struct mime_param *params,
                                      unsigned int count, bool default_charset)
{
	if (count == 0 && !default_charset) {
		buf_append_str(out, "NIL");
		return;
	}
	buf_append_str(out, "(");
	if (default_charset)
		buf_append_str(out, count > 0 ? "\"charset\" \"us-ascii\" "
		                              : "\"charset\" \"us-ascii\"");
	for (unsigned int i = 0; i < count; i++) {
		if (i > 0)
			buf_append_str(out, " ");
		imap_append_nstring(out, params[i].name);
		buf_append_str(out, " ");
		imap_append_nstring(out, params[i].value);
	}
	buf_append_str(out, ")");
}

static void imap_bodystructure_disposition(struct buf *out, const struct mime_part *part)
{
	if (part->disposition == NULL) {
		buf_append_str(out, "NIL");
		return;
	}
	buf_append_str(out, "(");
	imap_append_nstring(out, part->disposition);
	buf_append_str(out, " ");
	imap_bodystructure_params(out, part->disp_params, part->disp_param_count, false);
	buf_append_str(out, ")");
}

static void imap_bodystructure_languages(struct buf *out, const struct mime_part *part)
{
	if (part->language_count == 0) {
		buf_append_str(out, "NIL");
		return;
	}
	buf_append_str(out, "(");
	for (unsigned int i = 0; i < part->language_count; i++) {
		if (i > 0)
			buf_append_str(out, " ");
		imap_append_nstring(out, part->languages[i]);
	}
	buf_append_str(out, ")");
}

/* disposition, language, location: the extension data common to both part kinds */
static void imap_bodystructure_ext_tail(struct buf *out, const struct mime_part *part)
{
	buf_append_str(out, " ");
	imap_bodystructure_disposition(out, part);
	buf_append_str(out, " ");
	imap_bodystructure_languages(out, part);
	buf_append_str(out, " ");
	imap_append_nstring(out, part->location);
}

static uint64_t imap_bodystructure_size(const struct mime_part *part,
                                        enum imap_bodystructure_flags flags)
{
	return part->body_size + ((flags & IMAP_BODYSTRUCTURE_CRLF) != 0 ? part->body_bare_lf : 0);
}

/* A multipart with no parts is not valid IMAP: show one empty text/plain part (as Dovecot). */
static void imap_bodystructure_empty_part(struct buf *out, enum imap_bodystructure_flags flags)
{
	buf_append_str(out, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0");
	if ((flags & IMAP_BODYSTRUCTURE_EXTENDED) != 0)
		buf_append_str(out, " NIL NIL NIL NIL");
	buf_append_str(out, ")");
}

static void imap_bodystructure_part(struct buf *out, const struct mime_part *part,
                                    enum imap_bodystructure_flags flags);

static void imap_bodystructure_multipart(struct buf *out, const struct mime_part *part,
                                         enum imap_bodystructure_flags flags)
{
	buf_append_str(out, "(");
	if (part->children == NULL)
		imap_bodystructure_empty_part(out, flags);
	for (const struct mime_part *c = part->children; c != NULL; c = c->next)
		imap_bodystructure_part(out, c, flags);
	buf_append_str(out, " ");
	imap_append_nstring(out, part->subtype);
	if ((flags & IMAP_BODYSTRUCTURE_EXTENDED) != 0) {
		buf_append_str(out, " ");
		imap_bodystructure_params(out, part->params, part->param_count, false);
		imap_bodystructure_ext_tail(out, part);
	}
	buf_append_str(out, ")");
}

static void imap_bodystructure_message_body(struct buf *out, const struct mime_part *part,
                                            enum imap_bodystructure_flags flags)
{
	const struct mime_part *msg = part->children;

	buf_append_str(out, " ");
	imap_envelope_append(out, msg != NULL ? msg->envelope : NULL);
	buf_append_str(out, " ");
	if (msg != NULL)
		imap_bodystructure_part(out, msg, flags);
	else
		imap_bodystructure_empty_part(out, flags);
	buf_printf(out, " %llu", (unsigned long long)part->body_lines);
}

static void imap_bodystructure_single(struct buf *out, const struct mime_part *part,
                                      enum imap_bodystructure_flags flags)
{
	bool text = part->type == NULL || strcasecmp(part->type, "text") == 0;
	bool charset = text && mime_param_find(part->params, part->param_count, "charset") == NULL;

	buf_append_str(out, "(");
	if (part->type == NULL)
		buf_append_str(out, "\"text\" \"plain\"");
	else {
		imap_append_nstring(out, part->type);
		buf_append_str(out, " ");
		imap_append_nstring(out, part->subtype);
	}
	buf_append_str(out, " ");
	imap_bodystructure_params(out, part->params, part->param_count, charset);
	buf_append_str(out, " ");
	imap_append_nstring(out, part->id);
	buf_append_str(out, " ");
	imap_append_nstring(out, part->description);
	buf_append_str(out, " ");
	imap_append_nstring(out, part->encoding != NULL ? part->encoding : "7bit");
	buf_printf(out, " %llu", (unsigned long long)imap_bodystructure_size(part, flags));
	if (part->message_rfc822)
		imap_bodystructure_message_body(out, part, flags);
	else if (text)
		buf_printf(out, " %llu", (unsigned long long)part->body_lines);
	if ((flags & IMAP_BODYSTRUCTURE_EXTENDED) != 0) {
		buf_append_str(out, " ");
		imap_append_nstring(out, part->md5);
		imap_bodystructure_ext_tail(out, part);
	}
	buf_append_str(out, ")");
}

/* Recursion is bounded by the parser's max_depth. */
static void imap_bodystructure_part(struct buf *out, const struct mime_part *part,
                                    enum imap_bodystructure_flags flags)
{
	if (part->multipart)
		imap_bodystructure_multipart(out, part, flags);
	else
		imap_bodystructure_single(out, part, flags);
}

void imap_bodystructure_append(struct buf *out, const struct mime_part *part,
                               enum imap_bodystructure_flags flags)
{
	imap_bodystructure_part(out, part, flags);
}
