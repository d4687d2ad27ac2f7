/* The RFC 822 lexical helpers of the header parser (mime.c) that the address parser
 * (mime-address.c) reads with too. */
#ifndef TWOFOLD_MIME_PRIVATE_H
#define TWOFOLD_MIME_PRIVATE_H

#include "common/buf.h"

/* Skips whitespace and comments; the text of the last comment goes to comment (if not NULL). */
void mime_skip_cfws(const char **sp, struct buf *comment);
/* At '"': appends the unescaped content to out and moves past the closing quote (or to the
 * end of an unterminated string). */
void mime_read_quoted(const char **sp, struct buf *out);
/* Moves past the next c, or to the end. */
void mime_skip_past(const char **sp, char c);

#endif
