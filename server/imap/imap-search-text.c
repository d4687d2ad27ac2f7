/*
 * Text helpers for SEARCH: case folding for substring matching and the two date formats
 * (decoding a body part is storage/mime-decode.c's).
 */
#include "server/imap/imap-search-private.h"

#include "common/buf.h"

#include <ctype.h>
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
