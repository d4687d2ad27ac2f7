/* What the parser's tests look at beyond its API: no production code uses this. */
#ifndef TWOFOLD_IMAP_PARSER_TEST_H
#define TWOFOLD_IMAP_PARSER_TEST_H

#include <stdbool.h>
#include <stddef.h>

struct imap_parser;

/* True when the parser's buffers (tokens, arguments) still hold these bytes: whether a secret
 * was wiped. */
bool imap_parser_holds(const struct imap_parser *parser, const void *bytes, size_t len);

#endif
