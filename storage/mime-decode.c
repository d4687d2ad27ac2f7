#include "storage/mime-decode.h"
#include "storage/mime.h"

#include "common/text.h"
#include "common/xalloc.h"

#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define MIME_DECODE_REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/* One charset of each iconv module mail is commonly written in (UTF-8, US-ASCII and UTF-16
 * need none): every alias of a module works once the module is loaded. */
static const char *const mime_preload_names[] = {
    "ISO-8859-1",   "ISO-8859-2",   "ISO-8859-3",   "ISO-8859-4",   "ISO-8859-5",   "ISO-8859-6",
    "ISO-8859-7",   "ISO-8859-8",   "ISO-8859-9",   "ISO-8859-10",  "ISO-8859-11",  "ISO-8859-13",
    "ISO-8859-14",  "ISO-8859-15",  "ISO-8859-16",  "WINDOWS-1250", "WINDOWS-1251", "WINDOWS-1252",
    "WINDOWS-1253", "WINDOWS-1254", "WINDOWS-1255", "WINDOWS-1256", "WINDOWS-1257", "WINDOWS-1258",
    "KOI8-R",       "KOI8-U",       "IBM866",       "MACINTOSH",    "TIS-620",      "ISO-2022-JP",
    "EUC-JP",       "SHIFT_JIS",    "CP932",        "EUC-KR",       "CP949",        "ISO-2022-KR",
    "GB2312",       "GBK",          "GB18030",      "BIG5",         "BIG5-HKSCS",   "UTF-7",
};

/* Kept open: a module stays loaded while a conversion descriptor uses it. */
static iconv_t mime_preloaded[sizeof(mime_preload_names) / sizeof(mime_preload_names[0])];

void mime_charsets_preload(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	for (size_t i = 0; i < sizeof(mime_preload_names) / sizeof(mime_preload_names[0]); i++)
		mime_preloaded[i] = iconv_open("UTF-8", mime_preload_names[i]);
}

/* Appends in[0..len) converted from charset to UTF-8, each byte the charset does not have as
 * invalid ("" drops it); false if the charset is unknown (nothing appended). */
static bool mime_decode_charset(const char *charset, const char *in, size_t len,
                                const char *invalid, struct buf *out)
{
	iconv_t cd;
	char *inp = (char *)in;

	if (strcasecmp(charset, "utf-8") == 0 || strcasecmp(charset, "us-ascii") == 0) {
		buf_append(out, in, len);
		return true;
	}
	cd = iconv_open("UTF-8", charset);
	if (cd == (iconv_t)-1)
		return false;
	while (len > 0) {
		size_t room = len * 4 + 16, before = room;
		char *o = buf_reserve(out, room);

		if (iconv(cd, &inp, &len, &o, &room) == (size_t)-1 && errno != E2BIG && len > 0) {
			buf_added(out, before - room);
			buf_append_str(out, invalid);
			inp++;
			len--;
			continue;
		}
		buf_added(out, before - room);
	}
	iconv_close(cd);
	return true;
}

/* Base64, skipping what is not of its alphabet; a pad ends a 4-character group, so parts
 * encoded apart and joined decode as each would alone. */
static size_t mime_decoder_base64(struct mime_decoder *dec, const char *in, size_t len, char *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int v = text_base64_value(in[i], '+', '/');

		if (in[i] == '=')
			dec->acc = dec->bits = 0;
		if (v < 0)
			continue;
		dec->acc = (dec->acc << 6) | (uint32_t)v;
		dec->bits += 6;
		if (dec->bits >= 8) {
			dec->bits -= 8;
			out[n++] = (char)((dec->acc >> dec->bits) & 0xff);
		}
	}
	return n;
}

/* Where a quoted-printable escape stands: after '=', after "=X" (X a hex digit), after "=\r". */
enum { QP_TEXT, QP_EQ, QP_EQ_HEX, QP_EQ_CR };

/* One octet of quoted-printable (RFC 2045: soft line breaks) or, for an encoded-word, of the Q
 * encoding (RFC 2047: '_' is a space). A '=' that starts no escape stays as it is. */
static size_t mime_decoder_qp_octet(struct mime_decoder *dec, char c, char *out)
{
	size_t n = 0;

	switch (dec->qp) {
	case QP_EQ:
		dec->qp = QP_TEXT;
		if (text_hex_value(c) >= 0) {
			dec->qp_hex = c;
			dec->qp = QP_EQ_HEX;
			return 0;
		}
		if (!dec->q_word && c == '\n')
			return 0;
		if (!dec->q_word && c == '\r') {
			dec->qp = QP_EQ_CR;
			return 0;
		}
		out[n++] = '=';
		break;
	case QP_EQ_HEX:
		dec->qp = QP_TEXT;
		if (text_hex_value(c) >= 0) {
			out[0] = (char)(text_hex_value(dec->qp_hex) * 16 + text_hex_value(c));
			return 1;
		}
		out[n++] = '=';
		out[n++] = dec->qp_hex;
		break;
	case QP_EQ_CR:
		dec->qp = QP_TEXT;
		if (c == '\n')
			return 0;
		break;
	default:
		break;
	}
	if (c == '=')
		dec->qp = QP_EQ;
	else
		out[n++] = dec->q_word && c == '_' ? ' ' : c;
	return n;
}

void mime_decoder_init(struct mime_decoder *dec, enum mime_cte cte)
{
	memset(dec, 0, sizeof(*dec));
	dec->cte = cte;
}

size_t mime_decoder_feed(struct mime_decoder *dec, const char *in, size_t len, char *out)
{
	size_t n = 0;

	if (dec->cte == MIME_CTE_BASE64)
		return mime_decoder_base64(dec, in, len, out);
	if (dec->cte != MIME_CTE_QP) {
		memcpy(out, in, len);
		return len;
	}
	for (size_t i = 0; i < len; i++)
		n += mime_decoder_qp_octet(dec, in[i], out + n);
	return n;
}

size_t mime_decoder_finish(struct mime_decoder *dec, char *out)
{
	size_t n = 0;

	if (dec->cte == MIME_CTE_QP && dec->qp != QP_TEXT) {
		out[n++] = '=';
		if (dec->qp != QP_EQ)
			out[n++] = dec->qp == QP_EQ_HEX ? dec->qp_hex : '\r';
	}
	dec->qp = QP_TEXT;
	dec->acc = dec->bits = 0;
	return n;
}

/* in[0..len) decoded at once into out (room for len octets). */
static size_t mime_decode_whole(enum mime_cte cte, bool q_word, const char *in, size_t len,
                                char *out)
{
	struct mime_decoder dec;
	size_t n;

	mime_decoder_init(&dec, cte);
	dec.q_word = q_word;
	n = mime_decoder_feed(&dec, in, len, out);
	return n + mime_decoder_finish(&dec, out + n);
}

enum mime_cte mime_cte_parse(const char *value)
{
	static const struct {
		const char *name;
		enum mime_cte cte;
	} names[] = {
	    {"7bit", MIME_CTE_TEXT},           {"8bit", MIME_CTE_TEXT},
	    {"binary", MIME_CTE_BINARY},       {"base64", MIME_CTE_BASE64},
	    {"quoted-printable", MIME_CTE_QP},
	};

	if (value == NULL || value[0] == '\0')
		return MIME_CTE_TEXT;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(value, names[i].name) == 0)
			return names[i].cte;
	}
	return MIME_CTE_UNKNOWN;
}

static bool mime_decode_is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* At "=?": decodes one encoded-word into out and returns its length, or 0 if it is not one. */
static size_t mime_decode_word(const char *s, struct buf *out)
{
	const char *cs = s + 2, *q1, *q2, *end;
	char charset[64], *bytes;
	size_t cslen, n;
	bool ok;

	q1 = strchr(cs, '?');
	if (q1 == NULL || q1[1] == '\0' || q1[2] != '?')
		return 0;
	q2 = q1 + 2;
	end = strstr(q2 + 1, "?=");
	cslen = (size_t)(q1 - cs);
	if (end == NULL || cslen == 0 || cslen >= sizeof(charset))
		return 0;
	for (const char *c = cs; c < end; c++) {
		if (mime_decode_is_wsp(*c))
			return 0;
	}
	if (strchr("BbQq", q1[1]) == NULL)
		return 0;
	memcpy(charset, cs, cslen);
	charset[cslen] = '\0';
	charset[strcspn(charset, "*")] = '\0'; /* RFC 2231 language suffix */
	bytes = xmalloc((size_t)(end - q2) + 1);
	n = mime_decode_whole(q1[1] == 'B' || q1[1] == 'b' ? MIME_CTE_BASE64 : MIME_CTE_QP, true,
	                      q2 + 1, (size_t)(end - q2 - 1), bytes);
	ok = mime_decode_charset(charset, bytes, n, MIME_DECODE_REPLACEMENT, out);
	xfree(&bytes);
	return ok ? (size_t)(end + 2 - s) : 0;
}

void mime_decode_words(const char *value, struct buf *out)
{
	const char *s = value, *ws = NULL;
	bool after_word = false;

	buf_append_str(out, "");
	while (*s != '\0') {
		size_t n = 0;

		if (s[0] == '=' && s[1] == '?') {
			size_t mark = out->len;

			if (ws != NULL && !after_word)
				buf_append(out, ws, (size_t)(s - ws));
			n = mime_decode_word(s, out);
			if (n == 0)
				out->len = mark;
		}
		if (n > 0) {
			/* whitespace between two encoded-words is dropped */
			s += n;
			ws = NULL;
			after_word = true;
			continue;
		}
		if (mime_decode_is_wsp(*s)) {
			if (ws == NULL)
				ws = s;
			s++;
			continue;
		}
		if (ws != NULL)
			buf_append(out, ws, (size_t)(s - ws));
		ws = NULL;
		after_word = false;
		buf_append(out, s++, 1);
	}
	if (ws != NULL)
		buf_append(out, ws, (size_t)(s - ws));
	if (out->data != NULL)
		out->data[out->len] = '\0';
}

void mime_decode_param(const struct mime_param *param, struct buf *out)
{
	size_t nlen = strlen(param->name);
	const char *q1, *q2;
	char *charset, *bytes;
	size_t n = 0;

	buf_append_str(out, "");
	if (nlen == 0 || param->name[nlen - 1] != '*' ||
	    (q1 = strchr(param->value, '\'')) == NULL || (q2 = strchr(q1 + 1, '\'')) == NULL) {
		mime_decode_words(param->value, out);
		return;
	}
	charset = xstrndup(param->value, (size_t)(q1 - param->value));
	bytes = xmalloc(strlen(q2) + 1);
	for (const char *s = q2 + 1; *s != '\0'; s++) {
		if (*s == '%' && text_hex_value(s[1]) >= 0 && text_hex_value(s[2]) >= 0) {
			bytes[n++] = (char)(text_hex_value(s[1]) * 16 + text_hex_value(s[2]));
			s += 2;
		} else {
			bytes[n++] = *s;
		}
	}
	if (charset[0] == '\0' ||
	    !mime_decode_charset(charset, bytes, n, MIME_DECODE_REPLACEMENT, out))
		buf_append(out, bytes, n);
	xfree(&bytes);
	xfree(&charset);
}

static bool mime_decode_is_utf8(const char *charset)
{
	return charset == NULL || strcasecmp(charset, "utf-8") == 0 ||
	       strcasecmp(charset, "us-ascii") == 0 || strcasecmp(charset, "utf8") == 0;
}

void mime_decode_body(const char *data, size_t len, const char *encoding, const char *charset,
                      struct buf *out)
{
	enum mime_cte cte = mime_cte_parse(encoding);
	char *tmp = NULL;
	size_t n = len;

	if (cte == MIME_CTE_BASE64 || cte == MIME_CTE_QP) {
		tmp = xmalloc(len + 1);
		n = mime_decode_whole(cte, false, data, len, tmp);
	}
	if (mime_decode_is_utf8(charset) ||
	    !mime_decode_charset(charset, tmp != NULL ? tmp : data, n, "", out))
		buf_append(out, tmp != NULL ? tmp : data, n);
	xfree(&tmp);
}
