#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b)
{
	memset(b, 0, sizeof(*b));
}

void buf_free(struct buf *b)
{
	if (b->secret && b->data != NULL)
		sodium_memzero(b->data, b->cap);
	xfree(&b->data);
	b->len = b->cap = 0;
}

void buf_reset(struct buf *b)
{
	if (b->secret && b->data != NULL)
		sodium_memzero(b->data, b->cap);
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void *buf_reserve(struct buf *b, size_t n)
{
	size_t need = b->len + n + 1;

	if (need < n)
		fatal("buffer size overflow");
	if (need > b->cap) {
		size_t cap = b->cap < 64 ? 64 : b->cap;
		char *nd;

		while (cap < need)
			cap *= 2;
		nd = xmalloc(cap);
		if (b->data != NULL) {
			memcpy(nd, b->data, b->len);
			if (b->secret)
				sodium_memzero(b->data, b->cap);
			free(b->data);
		}
		b->data = nd;
		b->cap = cap;
	}
	return b->data + b->len;
}

void buf_added(struct buf *b, size_t n)
{
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_append(struct buf *b, const void *data, size_t len)
{
	memcpy(buf_reserve(b, len), data, len);
	buf_added(b, len);
}

void buf_append_str(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("buf_printf: bad format");
	va_start(ap, fmt);
	vsnprintf(buf_reserve(b, (size_t)n), (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf_added(b, (size_t)n);
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
	/* the moved bytes' old places (a password arriving in pieces) */
	if (b->secret)
		sodium_memzero(b->data + b->len + 1, n);
}
