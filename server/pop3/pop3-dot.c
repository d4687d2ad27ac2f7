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

size_t pop3_dot_convert(struct pop3_dot *d, const void *in, size_t len, char *out)
{
	const unsigned char *p = in;
	char *o = out;
	size_t i;

	for (i = 0; i < len && !d->done; i++) {
		unsigned char ch = p[i];

		if (ch == '\n') {
			if (!d->prev_cr)
				*o++ = '\r';
			*o++ = '\n';
			pop3_dot_line_end(d);
			continue;
		}
		if (d->line_start && ch == '.')
			*o++ = '.';
		*o++ = (char)ch;
		d->line_start = false;
		d->prev_cr = ch == '\r';
		d->line_len++;
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
