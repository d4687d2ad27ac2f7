/* Fuzz target for storage/mime*.c and the IMAP rendering of its parts. The first byte picks a
 * chunk size and small limits; the rest is a message. Checks that regions stay inside the
 * message and that every part renders, and runs the display decoders and the address text over
 * every header value kept. */
#include "common/buf.h"
#include "server/imap/imap-bodystructure.h"
#include "server/imap/imap-envelope.h"
#include "storage/mime-decode.h"
#include "storage/mime.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_part(const struct mime_part *part, uint64_t total, struct buf *scratch)
{
	if (part->header_offset + part->header_size > total ||
	    part->body_offset + part->body_size > total ||
	    part->header_offset + part->header_size != part->body_offset ||
	    part->body_lines > part->body_size || part->body_bare_lf > part->body_lines)
		__builtin_trap();
	for (unsigned int i = 0; i < part->param_count; i++)
		mime_decode_param(&part->params[i], scratch);
	if (part->envelope != NULL && part->envelope->subject != NULL)
		mime_decode_words(part->envelope->subject, scratch);
	/* the address text SEARCH FROM/TO/CC/BCC match against */
	if (part->envelope != NULL && part->envelope->from != NULL)
		mime_addresses_text(part->envelope->from, scratch);
	if (part->envelope != NULL && part->envelope->to != NULL)
		mime_addresses_text(part->envelope->to, scratch);
	buf_reset(scratch);
	for (const struct mime_part *c = part->children; c != NULL; c = c->next) {
		if (c->header_offset < part->body_offset)
			__builtin_trap();
		check_part(c, total, scratch);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_limits lim = mime_limits_default;
	struct mime_parser *p;
	struct mime_part *root;
	struct buf out;
	size_t chunk, pos = 1;

	if (size == 0)
		return 0;
	chunk = (data[0] & 0x3f) == 0 ? size : (size_t)(data[0] & 0x3f);
	if (data[0] & 0x40) {
		lim.max_depth = 4;
		lim.max_parts = 8;
		lim.max_header_size = 64;
	}
	p = mime_parser_new(&lim);
	while (pos < size) {
		size_t n = size - pos < chunk ? size - pos : chunk;

		mime_parser_feed(p, data + pos, n);
		pos += n;
	}
	root = mime_parser_finish(&p);
	buf_init(&out);
	check_part(root, size - 1, &out);
	imap_bodystructure_append(&out, root,
	                          IMAP_BODYSTRUCTURE_EXTENDED | IMAP_BODYSTRUCTURE_CRLF);
	imap_bodystructure_append(&out, root, 0);
	imap_envelope_append(&out, root->envelope);
	buf_free(&out);
	mime_part_free(&root);
	return 0;
}
