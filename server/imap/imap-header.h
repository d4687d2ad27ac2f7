/*
 * The fields of a message header block (as the file has it: LF or CRLF line ends), for the
 * IMAP code that reads a header without a MIME parse: SEARCH's header keys, THREAD's
 * References.
 */
#ifndef TWOFOLD_IMAP_HEADER_H
#define TWOFOLD_IMAP_HEADER_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>

struct imap_header_iter {
	const char *hdr; /* the header block [0..len) */
	size_t len, pos;
	struct buf value; /* the current field's value, continuation lines joined */
};

/* Moves to the next field named name (any field when NULL; names without case): true with its
 * value in it->value, false at the end. The caller frees it->value. */
bool imap_header_next(struct imap_header_iter *it, const char *name);

#endif
