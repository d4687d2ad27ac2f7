/*
 * Text helpers for SEARCH: case folding for substring matching, the two date formats, and
 * decoding a body part (transfer encoding, charset) to UTF-8.
 */
#include "server/imap/imap-search-private.h"

#include "common/buf.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- case folding --- */

static uint32_t fold_latin_ext_a(uint32_t cp)
{
	if (cp == 0x178)
		return 0xff;
	if ((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14a && cp <= 0x177))
		return (cp & 1) == 0 ? cp + 1 : cp;
	if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17e))
		return (cp & 1) == 1 ? cp + 1 : cp;
	return cp;
}

static uint32_t fold_cp(uint32_t cp)
{
	if (cp >= 0xc0 && cp <= 0xde && cp != 0xd7)
		return cp + 0x20;
	if (cp >= 0x100 && cp <= 0x17f)
		return fold_latin_ext_a(cp);
	if (cp >= 0x391 && cp <= 0x3a9 && cp != 0x3a2)
		return cp + 0x20;
	if (cp >= 0x410 && cp <= 0x42f)
		return cp + 0x20;
	if (cp >= 0x400 && cp <= 0x40f)
		return cp + 0x50;
	return cp;
}

void search_fold(const char *s, size_t len, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	char *o = buf_reserve(out, len);
	size_t n = 0;

	/* folding never makes a character longer: all mapped code points stay two-byte */
	for (size_t i = 0; i < len; i++) {
		if (p[i] >= 0xc0 && p[i] < 0xe0 && i + 1 < len && (p[i + 1] & 0xc0) == 0x80) {
			uint32_t cp = fold_cp(((uint32_t)(p[i] & 0x1f) << 6) | (p[i + 1] & 0x3f));

			o[n++] = (char)(0xc0 | (cp >> 6));
			o[n++] = (char)(0x80 | (cp & 0x3f));
			i++;
		} else {
			o[n++] = (char)tolower(p[i]);
		}
	}
	buf_added(out, n);
}

/* --- dates --- */

static int month_number(const char *s)
{
	static const char months[12][4] = {"jan", "feb", "mar", "apr", "may", "jun",
	                                   "jul", "aug", "sep", "oct", "nov", "dec"};

	for (int i = 0; i < 12; i++) {
		if (strncasecmp(s, months[i], 3) == 0)
			return i + 1;
	}
	return 0;
}

static uint32_t make_date(unsigned day, int month, unsigned year)
{
	if (day < 1 || day > 31 || month == 0 || year < 1 || year > 9999)
		return 0;
	return year * 10000 + (uint32_t)month * 100 + day;
}

uint32_t search_date_parse(const char *s)
{
	unsigned day = 0, year = 0;
	int month, digits = 0;

	while (isdigit((unsigned char)*s) && digits++ < 2)
		day = day * 10 + (unsigned)(*s++ - '0');
	if (digits == 0 || *s++ != '-')
		return 0;
	month = month_number(s);
	if (month == 0 || s[3] != '-')
		return 0;
	s += 4;
	for (digits = 0; isdigit((unsigned char)s[digits]); digits++)
		year = year * 10 + (unsigned)(s[digits] - '0');
	if (digits != 4 || s[digits] != '\0')
		return 0;
	return make_date(day, month, year);
}

/* Next word of letters or digits, skipping anything else (commas, comments' parentheses). */
static size_t next_word(const char **sp, char *word, size_t size)
{
	const char *s = *sp;
	size_t n = 0;

	while (*s != '\0' && !isalnum((unsigned char)*s))
		s++;
	while (isalnum((unsigned char)*s)) {
		if (n + 1 < size)
			word[n++] = *s;
		s++;
	}
	word[n] = '\0';
	*sp = s;
	return n;
}

uint32_t search_header_date(const char *value)
{
	char word[16];
	unsigned day, year;
	int month;

	if (next_word(&value, word, sizeof(word)) == 0)
		return 0;
	if (!isdigit((unsigned char)word[0]) && next_word(&value, word, sizeof(word)) == 0)
		return 0;
	day = (unsigned)strtoul(word, NULL, 10);
	if (next_word(&value, word, sizeof(word)) == 0 || (month = month_number(word)) == 0)
		return 0;
	if (next_word(&value, word, sizeof(word)) == 0 || !isdigit((unsigned char)word[0]))
		return 0;
	year = (unsigned)strtoul(word, NULL, 10);
	if (strlen(word) == 2)
		year += year < 50 ? 2000 : 1900;
	else if (strlen(word) == 3)
		year += 1900;
	return make_date(day, month, year);
}

/* --- body decoding --- */

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static size_t decode_base64(const char *in, size_t len, char *out)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		int v = isupper(c)   ? c - 'A'
		        : islower(c) ? c - 'a' + 26
		        : isdigit(c) ? c - '0' + 52
		        : c == '+'   ? 62
		        : c == '/'   ? 63
		                     : -1;

		if (v < 0)
			continue;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	return n;
}

static size_t decode_qp(const char *in, size_t len, char *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] != '=') {
			out[n++] = in[i];
		} else if (i + 2 < len && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
			out[n++] = (char)(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
			i += 2;
		} else if (i + 1 < len && (in[i + 1] == '\n' || in[i + 1] == '\r')) {
			/* soft line break */
			i += in[i + 1] == '\r' && i + 2 < len && in[i + 2] == '\n' ? 2 : 1;
		} else {
			out[n++] = in[i];
		}
	}
	return n;
}

static bool charset_is_utf8(const char *charset)
{
	return charset == NULL || strcasecmp(charset, "utf-8") == 0 ||
	       strcasecmp(charset, "us-ascii") == 0 || strcasecmp(charset, "utf8") == 0;
}

/* Converts to UTF-8; bytes iconv cannot take are skipped. False if the charset is unknown. */
static bool to_utf8(const char *charset, char *in, size_t len, struct buf *out)
{
	iconv_t cd = iconv_open("UTF-8", charset);

	if (cd == (iconv_t)-1)
		return false;
	while (len > 0) {
		size_t room = len * 4 + 16, before = room;
		char *o = buf_reserve(out, room);

		if (iconv(cd, &in, &len, &o, &room) == (size_t)-1 && errno != E2BIG && len > 0) {
			in++;
			len--;
		}
		buf_added(out, before - room);
	}
	iconv_close(cd);
	return true;
}

void search_decode_body(const char *data, size_t len, const char *encoding, const char *charset,
                        struct buf *out)
{
	char *tmp = NULL;
	size_t n = len;

	if (encoding != NULL && strcasecmp(encoding, "base64") == 0) {
		tmp = xmalloc(len + 1);
		n = decode_base64(data, len, tmp);
	} else if (encoding != NULL && strcasecmp(encoding, "quoted-printable") == 0) {
		tmp = xmalloc(len + 1);
		n = decode_qp(data, len, tmp);
	}
	if (charset_is_utf8(charset) || !to_utf8(charset, tmp != NULL ? tmp : (char *)data, n, out))
		buf_append(out, tmp != NULL ? tmp : data, n);
	xfree(&tmp);
}
