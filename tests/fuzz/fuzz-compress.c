/*
 * COMPRESS=DEFLATE input: the client's raw deflate stream through the compression layer into
 * the connection's line reader, as an IMAP session after COMPRESS reads it. The first two bytes
 * pick how many octets each read of the transport gives and the line limit; the rest is the
 * stream. Every line must match what zlib alone inflates from the whole input (a line over the
 * limit as CONN_TOO_LONG, once), however the reads cut it; the layer's memory stays that of a
 * line whatever the stream inflates to.
 */
#include "common/log.h"
#include "server/compress.h"
#include "server/conn.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* zlib's own inflate of more than this is not compared (the line reader still runs) */
#define FUZZ_REFERENCE_MAX (8u << 20)

struct fuzz_input {
	const uint8_t *data;
	size_t len, pos, step;
};

static ssize_t fuzz_read(void *ctx, void *buf, size_t len)
{
	struct fuzz_input *in = ctx;
	size_t n = in->len - in->pos;

	if (n > in->step)
		n = in->step;
	if (n > len)
		n = len;
	memcpy(buf, in->data + in->pos, n);
	in->pos += n;
	return (ssize_t)n; /* 0 at the end: EOF */
}

static ssize_t fuzz_write(void *ctx, const void *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	return (ssize_t)len;
}

/* Always readable: a read gives data or EOF, never blocks (no fd to poll). */
static size_t fuzz_pending(void *ctx)
{
	(void)ctx;
	return 1;
}

/* zlib's inflate of the whole stream in one go, up to the end, an error or the cap. NULL
 * when over the cap. */
static unsigned char *fuzz_reference(const uint8_t *data, size_t len, size_t *out_len_r)
{
	unsigned char *out = malloc(FUZZ_REFERENCE_MAX);
	z_stream zs;
	int r;

	memset(&zs, 0, sizeof(zs));
	if (out == NULL || inflateInit2(&zs, -15) != Z_OK)
		abort();
	zs.next_in = (Bytef *)(uintptr_t)data;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = FUZZ_REFERENCE_MAX;
	r = inflate(&zs, Z_SYNC_FLUSH);
	*out_len_r = FUZZ_REFERENCE_MAX - zs.avail_out;
	inflateEnd(&zs);
	if (zs.avail_out == 0 && r == Z_OK) {
		free(out);
		return NULL;
	}
	return out;
}

/* The next result the line reader must give for ref[*pos..]: a line's length, CONN_TOO_LONG,
 * or -100 when no complete line is left (the reader then ends with EOF or an error, after a
 * CONN_TOO_LONG for a tail over the limit). */
static ssize_t fuzz_expect(const unsigned char *ref, size_t len, size_t *pos, size_t max,
                           const unsigned char **line_r)
{
	const unsigned char *start = ref + *pos;
	const unsigned char *nl = memchr(start, '\n', len - *pos);
	size_t n;

	if (nl == NULL)
		return -100;
	n = (size_t)(nl - start);
	*pos += n + 1;
	if (n > 0 && start[n - 1] == '\r')
		n--;
	*line_r = start;
	return n > max ? CONN_TOO_LONG : (ssize_t)n;
}

static void fuzz_lines(struct conn *c, size_t max, const unsigned char *ref, size_t ref_len)
{
	size_t pos = 0;

	for (;;) {
		const unsigned char *want = NULL;
		ssize_t expect = ref != NULL ? fuzz_expect(ref, ref_len, &pos, max, &want) : -100;
		char *line;
		ssize_t n = conn_read_line(c, &line, max, 5);

		if (n >= 0 && ((size_t)n > max || memchr(line, '\n', (size_t)n) != NULL))
			abort();
		if (ref == NULL) {
			if (n < 0 && n != CONN_TOO_LONG)
				return;
			continue;
		}
		if (expect == -100) {
			/* no line left: only the tail's CONN_TOO_LONG, then the end */
			if (n == CONN_TOO_LONG)
				n = conn_read_line(c, &line, max, 5);
			if (n >= 0 || n == CONN_TOO_LONG || n == CONN_TIMEOUT)
				abort();
			return;
		}
		if (n != expect || (n > 0 && memcmp(line, want, (size_t)n) != 0))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct conn_transport plain = {
	    .read = fuzz_read, .write = fuzz_write, .pending = fuzz_pending, .fd = -1};
	struct conn_transport t = plain;
	struct fuzz_input in;
	unsigned char *ref;
	size_t max, ref_len;
	struct conn *c;

	if (size < 2)
		return 0;
	log_set_level(LOG_LEVEL_ERROR);
	in = (struct fuzz_input){.data = data + 2, .len = size - 2, .step = (size_t)data[0] * 67 + 1};
	max = ((size_t)data[1] << 8 | 0x3f) & 0x3fff; /* 63 .. 16191 */
	ref = fuzz_reference(in.data, in.len, &ref_len);
	t.ctx = &in;
	c = conn_new(&t, "192.0.2.1");
	if (conn_push_layer(c, &compress_deflate_layer) < 0)
		abort();
	/* a reply through the deflate side too (into the sink) */
	if (conn_puts(c, "* OK [CAPABILITY IMAP4rev1] ready\r\n") < 0 || conn_flush(c) < 0)
		abort();
	fuzz_lines(c, max, ref, ref_len);
	conn_free(&c);
	free(ref);
	return 0;
}
