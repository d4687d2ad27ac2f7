/* Fuzz target for the streaming transfer decoder of storage/mime-decode.c (what FETCH BINARY
 * decodes big parts with). The first byte picks the encoding (base64, quoted-printable, the Q
 * of encoded-words, binary) and a chunk size; the rest is fed in chunks of that size. The
 * output must stay within the bound the API promises and equal the whole input decoded at
 * once, and for the body encodings equal what SEARCH's mime_decode_body makes of it. */
#include "common/buf.h"
#include "common/xalloc.h"
#include "storage/mime-decode.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t decode(const char *in, size_t len, size_t chunk, unsigned int kind, char *out)
{
	static const enum mime_cte ctes[] = {MIME_CTE_BASE64, MIME_CTE_QP, MIME_CTE_QP,
	                                     MIME_CTE_BINARY};
	struct mime_decoder dec;
	size_t n = 0;

	mime_decoder_init(&dec, ctes[kind]);
	dec.q_word = kind == 2;
	for (size_t pos = 0; pos < len; pos += chunk) {
		size_t take = len - pos < chunk ? len - pos : chunk;

		n += mime_decoder_feed(&dec, in + pos, take, out + n);
		if (n > pos + take + 2)
			__builtin_trap();
	}
	n += mime_decoder_finish(&dec, out + n);
	if (n > len)
		__builtin_trap();
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data + 1;
	unsigned int kind;
	size_t len, chunk, n, whole_n;
	char *out, *whole;
	struct buf body;

	if (size == 0)
		return 0;
	kind = data[0] & 3;
	chunk = (size_t)(data[0] >> 2) + 1;
	len = size - 1;
	out = xmalloc(len + 3);
	whole = xmalloc(len + 3);
	n = decode(in, len, chunk, kind, out);
	whole_n = decode(in, len, len > 0 ? len : 1, kind, whole);
	if (n != whole_n || memcmp(out, whole, n) != 0)
		__builtin_trap();
	if (kind == 0 || kind == 1) {
		buf_init(&body);
		mime_decode_body(in, len, kind == 0 ? "base64" : "quoted-printable", NULL, &body);
		if (body.len != n || (n > 0 && memcmp(body.data, out, n) != 0))
			__builtin_trap();
		buf_free(&body);
	}
	xfree(&out);
	xfree(&whole);
	return 0;
}
