/* Growable byte buffer. Always NUL-terminated after the data (not counted in len). */
#ifndef TWOFOLD_BUF_H
#define TWOFOLD_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	bool secret; /* wipe on free and on growth */
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_append_str(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Removes the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Makes room for n more bytes and returns a pointer to the free space; commit with buf_added. */
void *buf_reserve(struct buf *b, size_t n);
void buf_added(struct buf *b, size_t n);

#endif
