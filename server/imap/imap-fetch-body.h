/*
 * FETCH body data: a byte region of a message file sent with CRLF line ends (bare LF -> CRLF),
 * optionally filtered to some header fields (HEADER.FIELDS[.NOT]) or, for BINARY, with its
 * Content-Transfer-Encoding undone, through a partial window. Private to the FETCH engine.
 */
#ifndef TWOFOLD_IMAP_FETCH_BODY_H
#define TWOFOLD_IMAP_FETCH_BODY_H

#include "storage/mime-decode.h"

#include <stdbool.h>
#include <stdint.h>

struct conn;

enum fetch_body_filter {
	FETCH_BODY_ALL,        /* the region as it is (line ends converted) */
	FETCH_BODY_FIELDS,     /* only the named header fields, then a blank line */
	FETCH_BODY_FIELDS_NOT, /* all but the named header fields, then a blank line */
};

struct fetch_body {
	int fd;
	uint64_t offset, size; /* raw octets in the file */
	enum fetch_body_filter filter;
	char *const *fields; /* field names for the filters */
	unsigned int field_count;
	/* FETCH_BODY_ALL: how the region is decoded. TEXT (the default) only converts line ends;
	 * BINARY sends the octets unchanged; quoted-printable has its line ends converted before
	 * decoding (a hard line break is CRLF, an encoded =0A stays a lone LF). */
	enum mime_cte cte;
};

/* The octets the region yields as sent (after conversion and filtering). For FETCH_BODY_ALL the
 * caller usually knows this (size + bare LFs) and need not ask. 0 ok, -1 read error (errno as
 * for fetch_body_write). */
int fetch_body_size(const struct fetch_body *body, uint64_t *size_r, const char **error_r);
/* As fetch_body_size, and *nul_r: the octets [start, end) of what is sent hold a NUL (BINARY
 * then sends them as a literal8). */
int fetch_body_measure(const struct fetch_body *body, uint64_t start, uint64_t end,
                       uint64_t *size_r, bool *nul_r, const char **error_r);

/* Writes the octets [skip, skip + len) of the region as sent to out, reading the file in
 * chunks. 0 ok, -1 read error or the file is shorter than the region (errno: the read's, 0
 * when the file shrank; the literal is padded with spaces to len all the same). */
int fetch_body_write(const struct fetch_body *body, uint64_t skip, uint64_t len, struct conn *out,
                     const char **error_r);

#endif
