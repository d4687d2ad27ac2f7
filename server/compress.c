/* COMPRESS=DEFLATE: raw deflate (RFC 1951, no zlib header) over the transport below. */
#include "server/compress.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Compressed input read from below at once: one TLS record. */
#define COMPRESS_IN_SIZE 16384
/* Compressed output handed below at once (on the stack). */
#define COMPRESS_OUT_SIZE 16384
/* The client may refer back 32 KiB (RFC 4978 leaves each side its own parameters), so the
 * inflate side takes the largest window. What we send may use a smaller one, since only our
 * side's memory depends on it: deflate needs (1 << (windowBits + 2)) + (1 << (memLevel + 9))
 * octets (zlib.h), 32 KiB with a 4 KiB window and memLevel 5 against 256 KiB at zlib's
 * defaults, and IMAP's responses (headers, flags, bodies of text) repeat themselves within a
 * few KiB, so they compress nearly as well. */
#define COMPRESS_INFLATE_WBITS  15
#define COMPRESS_DEFLATE_WBITS  12
#define COMPRESS_DEFLATE_MEMLVL 5

struct compress {
	struct conn_transport below;
	/* from the client: lives as long as the session, since its window is the history the
	 * client's next bytes may refer to */
	z_stream in;
	unsigned char *in_buf; /* compressed input (in.next_in points into it); freed when idle */
	size_t in_size;
	unsigned char peek; /* one inflated byte taken ahead, so that pending is exact */
	bool peeked;
	bool in_end;   /* the client ended its deflate stream: EOF after what it held */
	bool in_error; /* corrupt input: the next read fails */
	/* to the client: made on the first write after an idle release; each write ends in a
	 * sync flush, so a new stream can take over at the byte boundary it leaves */
	z_stream out;
	bool out_ready;
};

static voidpf compress_zalloc(voidpf opaque, uInt items, uInt size)
{
	(void)opaque;
	return xcalloc(items, size); /* zeroed: deflate may look at window bytes not yet written */
}

static void compress_zfree(voidpf opaque, voidpf ptr)
{
	(void)opaque;
	free(ptr);
}

static void compress_stream_init(z_stream *zs)
{
	memset(zs, 0, sizeof(*zs));
	zs->zalloc = compress_zalloc;
	zs->zfree = compress_zfree;
}

/* Inflates into out[0..len). *made_r: the bytes made. -1 on corrupt input. */
static int compress_inflate(struct compress *z, unsigned char *out, size_t len, size_t *made_r)
{
	int r;

	z->in.next_out = out;
	z->in.avail_out = (uInt)len;
	r = inflate(&z->in, Z_SYNC_FLUSH);
	*made_r = len - z->in.avail_out;
	if (r == Z_STREAM_END) {
		z->in_end = true;
	} else if (r != Z_OK && r != Z_BUF_ERROR) {
		log_info("compress: corrupt deflate stream from the client (%s)",
		         z->in.msg != NULL ? z->in.msg : "zlib error");
		z->in_error = true;
		return -1;
	}
	return 0;
}

/* One read of compressed input from below: >0 bytes, 0 EOF, -1 errno. */
static ssize_t compress_fill(struct compress *z)
{
	ssize_t n;

	if (z->in_buf == NULL) {
		z->in_size = COMPRESS_IN_SIZE;
		z->in_buf = xmalloc(z->in_size);
	}
	n = z->below.read(z->below.ctx, z->in_buf, z->in_size);
	if (n > 0) {
		z->in.next_in = z->in_buf;
		z->in.avail_in = (uInt)n;
	}
	return n;
}

/* Inflates what is buffered into buf from *made_r on, reading from below at most once (below
 * may block). 1 ok (*made_r: the bytes made, maybe none), 0 EOF from below or -1 its error
 * (errno), either with nothing made. */
static int compress_read_some(struct compress *z, unsigned char *buf, size_t len, size_t *made_r)
{
	bool filled = false;

	while (*made_r < len && !z->in_end && !z->in_error) {
		size_t n;
		int r;

		if (z->in.avail_in == 0) {
			ssize_t got;

			/* inflate stops only when out of input or of room: with room left,
			 * nothing more is here without new input */
			if (*made_r > 0 || filled)
				break;
			got = compress_fill(z);
			if (got <= 0)
				return (int)got;
			filled = true;
		}
		r = compress_inflate(z, buf + *made_r, len - *made_r, &n);
		*made_r += n; /* what came before a corrupt spot is the client's too */
		if (r < 0)
			break;
	}
	return 1;
}

static ssize_t compress_read(void *ctx, void *buf, size_t len)
{
	struct compress *z = ctx;
	unsigned char *out = buf;
	size_t made = 0, n;
	int r;

	if (z->in_error && !z->peeked) {
		errno = EPROTO;
		return -1;
	}
	if (z->peeked && len > 0) {
		out[made++] = z->peek;
		z->peeked = false;
	}
	r = compress_read_some(z, out, len, &made);
	if (r <= 0)
		return r;
	/* the room ran out: is there more? pending must not promise input that is not there,
	 * or a wait for the client (IDLE) ends at once and then blocks in the read after it */
	if (made == len && !z->in_end && !z->in_error) {
		(void)compress_inflate(z, &z->peek, 1, &n);
		z->peeked = n == 1;
	}
	if (made > 0)
		return (ssize_t)made;
	if (z->in_end)
		return 0;
	errno = z->in_error ? EPROTO : EAGAIN;
	return -1;
}

static size_t compress_pending(void *ctx)
{
	struct compress *z = ctx;

	/* an ended or corrupt stream is "readable" too: its EOF or error is there to take */
	if (z->peeked || z->in.avail_in > 0 || z->in_end || z->in_error)
		return 1;
	return z->below.pending != NULL ? z->below.pending(z->below.ctx) : 0;
}

static void compress_deflate_start(struct compress *z)
{
	int r;

	compress_stream_init(&z->out);
	r = deflateInit2(&z->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -COMPRESS_DEFLATE_WBITS,
	                 COMPRESS_DEFLATE_MEMLVL, Z_DEFAULT_STRATEGY);
	if (r != Z_OK)
		fatal("deflateInit2: %s", zError(r));
	z->out_ready = true;
}

/* Compresses buf and hands the result below, ending in a sync flush: what the connection
 * flushes reaches the client whole. Consumes all of buf (at most a chunk of UINT_MAX). */
static ssize_t compress_write(void *ctx, const void *buf, size_t len)
{
	struct compress *z = ctx;
	unsigned char out[COMPRESS_OUT_SIZE];
	uInt take = len > UINT_MAX ? UINT_MAX : (uInt)len;

	if (!z->out_ready)
		compress_deflate_start(z);
	z->out.next_in = (Bytef *)(uintptr_t)buf;
	z->out.avail_in = take;
	do {
		z->out.next_out = out;
		z->out.avail_out = sizeof(out);
		if (deflate(&z->out, Z_SYNC_FLUSH) == Z_STREAM_ERROR)
			fatal("deflate: inconsistent stream state");
		if (conn_transport_send(&z->below, out, sizeof(out) - z->out.avail_out) < 0)
			return -1;
	} while (z->out.avail_out == 0);
	return (ssize_t)take;
}

/* Idle: the deflate state goes (every write ended in a sync flush, so nothing is held back)
 * and so does an empty input buffer. The inflate state stays: its window is the client's. */
static void compress_release(void *ctx)
{
	struct compress *z = ctx;

	if (z->out_ready) {
		(void)deflateEnd(&z->out);
		z->out_ready = false;
	}
	if (z->in.avail_in == 0) {
		xfree(&z->in_buf);
		z->in.next_in = NULL;
	}
}

static void *compress_push(const struct conn_transport *below, const void *unread,
                           size_t unread_len, struct conn_transport *t_r)
{
	struct compress *z = xcalloc(1, sizeof(*z));
	int r;

	z->below = *below;
	compress_stream_init(&z->in);
	r = inflateInit2(&z->in, -COMPRESS_INFLATE_WBITS);
	if (r != Z_OK)
		fatal("inflateInit2: %s", zError(r));
	if (unread_len > 0) {
		/* bytes the client sent right after its COMPRESS line: compressed already */
		z->in_size = unread_len > COMPRESS_IN_SIZE ? unread_len : COMPRESS_IN_SIZE;
		z->in_buf = xmalloc(z->in_size);
		memcpy(z->in_buf, unread, unread_len);
		z->in.next_in = z->in_buf;
		z->in.avail_in = (uInt)unread_len;
	}
	*t_r = (struct conn_transport){
	    .read = compress_read,
	    .write = compress_write,
	    .pending = compress_pending,
	    .ctx = z,
	    .fd = below->fd,
	};
	return z;
}

static void compress_free(void *ctx)
{
	struct compress *z = ctx;

	compress_release(z);
	(void)inflateEnd(&z->in);
	xfree(&z->in_buf);
	free(z);
}

const struct conn_layer compress_deflate_layer = {
    .name = "deflate",
    .push = compress_push,
    .release = compress_release,
    .free = compress_free,
};
