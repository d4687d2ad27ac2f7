/* Checks on untrusted text. */
#ifndef TWOFOLD_TEXT_H
#define TWOFOLD_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool text_is_utf8(const char *s, size_t len);
/* True when s[0..len) has no C0 control byte, no DEL and no NUL. */
bool text_has_no_controls(const char *s, size_t len);
/* Both of the above, no C1 control character (U+0080..U+009F: terminals act on some), and
 * 0 < len <= max. */
bool text_is_sane(const char *s, size_t len, size_t max);

/* The value of a hex digit (either case), or -1. */
int text_hex_value(char c);
/* The value of a base64 digit (c62, c63: the alphabet's last two, '+' '/' for MIME, '+' ','
 * for IMAP's modified UTF-7), or -1. */
int text_base64_value(char c, char c62, char c63);

#endif
