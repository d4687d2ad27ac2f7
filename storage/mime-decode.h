/*
 * Decoding what mail encodes, to UTF-8: RFC 2047 encoded-words in header values, RFC 2231
 * parameter values, base64 and quoted-printable bodies, charsets by iconv. One module for the
 * IMAP rendering (for display) and SEARCH (to match text).
 */
#ifndef TWOFOLD_MIME_DECODE_H
#define TWOFOLD_MIME_DECODE_H

#include "common/buf.h"

#include <stddef.h>

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

#endif
