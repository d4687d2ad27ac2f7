/* The fields of a message header block, one at a time, continuation lines joined. */
#include "server/imap/imap-header.h"

#include <string.h>
#include <strings.h>

bool imap_header_next(struct imap_header_iter *it, const char *name)
{
	while (it->pos < it->len) {
		const char *line = it->hdr + it->pos, *colon;
		const char *end = memchr(line, '\n', it->len - it->pos);
		size_t n = end != NULL ? (size_t)(end - line) : it->len - it->pos;

		it->pos += n + (end != NULL);
		if (n == 0 || line[0] == ' ' || line[0] == '\t' ||
		    (colon = memchr(line, ':', n)) == NULL)
			continue;
		if (name != NULL && ((size_t)(colon - line) != strlen(name) ||
		                     strncasecmp(line, name, strlen(name)) != 0))
			continue;
		buf_reset(&it->value);
		buf_append(&it->value, colon + 1, n - (size_t)(colon - line) - 1);
		while (it->pos < it->len && (it->hdr[it->pos] == ' ' || it->hdr[it->pos] == '\t')) {
			line = it->hdr + it->pos;
			end = memchr(line, '\n', it->len - it->pos);
			n = end != NULL ? (size_t)(end - line) : it->len - it->pos;
			it->pos += n + (end != NULL);
			buf_append(&it->value, line, n);
		}
		return true;
	}
	return false;
}
