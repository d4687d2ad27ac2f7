/*
 * Decoding what mail encodes, to UTF-8: RFC 2047 encoded-words in header values, RFC 2231
 * parameter values, base64 and quoted-printable bodies, charsets by iconv. One module for the
 * IMAP rendering (for display) and SEARCH (to match text).
 */
#ifndef TWOFOLD_MIME_DECODE_H
#define TWOFOLD_MIME_DECODE_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mime_param;

/* Loads the charset conversions that decoding uses (iconv's modules are files: a chrooted
 * process cannot load them), for the life of the process and of the children it forks.
 * Called before the chroot; idempotent. */
void mime_charsets_preload(void);

/* RFC 2047: appends value with its encoded-words decoded to UTF-8 (for display and SEARCH).
 * Words in an unknown charset or badly encoded are kept as they are; a byte the charset does
 * not have becomes U+FFFD. */
void mime_decode_words(const char *value, struct buf *out);
/* RFC 2231: appends a parameter's value decoded to UTF-8 (extended values are %-decoded and
 * converted from their charset). */
void mime_decode_param(const struct mime_param *param, struct buf *out);
/* Appends a body part's content decoded (encoding: its Content-Transfer-Encoding, base64 or
 * quoted-printable; else taken as it is) and converted from charset (NULL: UTF-8) for SEARCH:
 * bytes the charset does not have are dropped; an unknown charset leaves the bytes as they
 * are. */
void mime_decode_body(const char *data, size_t len, const char *encoding, const char *charset,
                      struct buf *out);

/* Content-Transfer-Encodings (RFC 2045 6.1): the identity ones, and the two that encode. */
enum mime_cte {
	MIME_CTE_TEXT,   /* 7bit, 8bit or none: lines of text */
	MIME_CTE_BINARY, /* binary: octets as they are */
	MIME_CTE_BASE64,
	MIME_CTE_QP,
	MIME_CTE_UNKNOWN, /* anything else (x-uuencode, a typo): cannot be decoded */
};

/* The encoding a Content-Transfer-Encoding value names (NULL: absent, which is 7bit). */
enum mime_cte mime_cte_parse(const char *value);

/* A decoder fed in chunks of any size, for content too big to hold (IMAP BINARY): the output is
 * the same as for the whole input at once. The identity encodings copy. */
struct mime_decoder {
	enum mime_cte cte;
	bool q_word;       /* RFC 2047 Q: '_' is a space, no soft line breaks */
	uint32_t acc;      /* base64 bits not yet output */
	unsigned int bits; /* how many */
	unsigned int qp;   /* quoted-printable: where in an '=' escape the input stopped */
	char qp_hex;       /* the escape's first hex digit */
};

void mime_decoder_init(struct mime_decoder *dec, enum mime_cte cte);
/* Decodes in[0..len) into out, which has room for len + 2 octets (an escape cut by the chunk
 * boundary that turns out not to be one comes out late); returns the octets written. */
size_t mime_decoder_feed(struct mime_decoder *dec, const char *in, size_t len, char *out);
/* The input ended: writes what was held back (at most 2 octets) to out; returns how many. */
size_t mime_decoder_finish(struct mime_decoder *dec, char *out);

#endif
