#include "server/pop3/pop3-dot.h"

#include <string.h>

void pop3_dot_init(struct pop3_dot *d, bool top, uint64_t body_lines)
{
	memset(d, 0, sizeof(*d));
	d->line_start = true;
	d->top = top;
	d->body_lines = body_lines;
}

/* A line has just ended: track the header/body boundary and TOP's line budget. */
static void pop3_dot_line_end(struct pop3_dot *d)
{
	bool empty = d->line_len == 0 || (d->line_len == 1 && d->prev_cr);

	if (!d->in_body) {
		d->in_body = empty;
		if (d->in_body && d->top && d->body_lines == 0)
			d->done = true;
	} else if (d->top && --d->body_lines == 0) {
		d->done = true;
	}
	d->line_start = true;
	d->prev_cr = false;
	d->line_len = 0;
}

/* Copies whole spans up to each LF (memchr + memcpy): this runs for every octet RETR sends. */
size_t pop3_dot_convert(struct pop3_dot *d, const void *in, size_t len, char *out)
{
	const char *p = in, *end = p + len;
	char *o = out;

	while (p < end && !d->done) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl != NULL ? nl : end;
		size_t span = (size_t)(stop - p);

		if (span > 0) {
			if (d->line_start && *p == '.')
				*o++ = '.';
			memcpy(o, p, span);
			o += span;
			d->line_len += span;
			d->prev_cr = stop[-1] == '\r';
			d->line_start = false;
		}
		if (nl == NULL)
			break;
		if (!d->prev_cr)
			*o++ = '\r';
		*o++ = '\n';
		p = nl + 1;
		pop3_dot_line_end(d);
	}
	return (size_t)(o - out);
}

size_t pop3_dot_finish(struct pop3_dot *d, char *out)
{
	char *o = out;

	if (!d->line_start && !d->done) {
		/* a final CR without LF becomes the CRLF the protocol needs */
		if (!d->prev_cr)
			*o++ = '\r';
		*o++ = '\n';
	}
	memcpy(o, ".\r\n", 3);
	return (size_t)(o - out) + 3;
}
