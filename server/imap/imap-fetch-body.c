/*
 * FETCH body data. The region is read with pread in chunks and pushed through a line-end
 * converter (memchr spans, so BODY[] of a big message costs little more than the copy) and,
 * for HEADER.FIELDS[.NOT], a per-line field filter, or for BINARY a decoder. Output goes to a
 * sink that either counts octets (and looks for NUL) or writes the part that falls inside the
 * partial window.
 */
#include "server/imap/imap-fetch-body.h"

#include "server/conn.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CHUNK_SIZE     65536
#define DECODE_CHUNK   4096
#define FIELD_NAME_MAX 256

struct sink {
	struct conn *out; /* NULL: only count */
	uint64_t pos;     /* octets produced so far */
	uint64_t start, end;
	bool prev_cr;             /* the last octet before decoding was CR */
	struct mime_decoder *dec; /* NULL: none */
	bool nul;                 /* counting: a NUL inside [start, end) */
};

enum line_state {
	LINE_START, /* at the start of a line */
	LINE_NAME,  /* collecting a field name */
	LINE_KEEP,  /* rest of the line is sent */
	LINE_DROP,  /* rest of the line is dropped */
};

struct filter {
	const struct fetch_body *body;
	enum line_state state;
	bool prev_keep; /* decision for the last field (continuation lines follow it) */
	char name[FIELD_NAME_MAX];
	size_t name_len;
};

static bool sink_full(const struct sink *s)
{
	return s->out != NULL && s->pos >= s->end;
}

static void sink_raw(struct sink *s, const char *data, size_t n)
{
	uint64_t lo = s->pos, hi = s->pos + n;

	s->pos = hi;
	if (hi <= s->start || lo >= s->end)
		return;
	if (lo < s->start) {
		data += s->start - lo;
		lo = s->start;
	}
	if (hi > s->end)
		hi = s->end;
	if (s->out != NULL)
		conn_write(s->out, data, (size_t)(hi - lo));
	else if (!s->nul)
		s->nul = memchr(data, '\0', (size_t)(hi - lo)) != NULL;
}

/* Octets after line-end conversion: decoded when there is a decoder. */
static void sink_put(struct sink *s, const char *data, size_t n)
{
	char out[DECODE_CHUNK + 2];

	if (n > 0)
		s->prev_cr = data[n - 1] == '\r';
	if (s->dec == NULL) {
		sink_raw(s, data, n);
		return;
	}
	while (n > 0 && !sink_full(s)) {
		size_t take = n < DECODE_CHUNK ? n : DECODE_CHUNK;

		sink_raw(s, out, mime_decoder_feed(s->dec, data, take, out));
		data += take;
		n -= take;
	}
}

/* Emits data with every LF that is not preceded by CR turned into CRLF. Spans between bare LFs
 * go out in one piece, so a file already in CRLF form is copied without splitting. */
static void sink_convert(struct sink *s, const char *data, size_t n)
{
	const char *span = data, *end = data + n, *p = data;
	bool prev_cr = s->prev_cr;

	while (p < end && !sink_full(s)) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));

		if (lf == NULL)
			break;
		if (lf == data ? prev_cr : lf[-1] == '\r') {
			p = lf + 1;
			continue;
		}
		sink_put(s, span, (size_t)(lf - span));
		sink_put(s, "\r\n", 2);
		span = p = lf + 1;
	}
	if (span < end && !sink_full(s))
		sink_put(s, span, (size_t)(end - span));
}

static bool field_listed(const struct fetch_body *body, const char *name, size_t len)
{
	for (unsigned int i = 0; i < body->field_count; i++) {
		if (strlen(body->fields[i]) == len && strncasecmp(body->fields[i], name, len) == 0)
			return true;
	}
	return false;
}

/* The field name collected so far ends (at ':', or without one): keep the line? */
static bool filter_decide(const struct filter *f, bool has_colon)
{
	size_t len = f->name_len;
	bool listed;

	while (len > 0 && (f->name[len - 1] == ' ' || f->name[len - 1] == '\t'))
		len--;
	listed = has_colon && len > 0 && field_listed(f->body, f->name, len);
	if (f->body->filter == FETCH_BODY_FIELDS)
		return listed;
	return !listed;
}

static void filter_set(struct filter *f, struct sink *s, bool keep)
{
	f->state = keep ? LINE_KEEP : LINE_DROP;
	f->prev_keep = keep;
	if (keep)
		sink_convert(s, f->name, f->name_len);
	f->name_len = 0;
}

static void filter_line_end(struct filter *f, struct sink *s)
{
	bool blank = f->state == LINE_START ||
	             (f->state == LINE_NAME && f->name_len == 1 && f->name[0] == '\r');

	if (f->state == LINE_NAME && !blank)
		filter_set(f, s, filter_decide(f, false));
	if (f->state == LINE_KEEP)
		sink_convert(s, "\n", 1);
	f->state = LINE_START;
	f->name_len = 0;
}

static void filter_byte(struct filter *f, struct sink *s, char c)
{
	if (c == '\n') {
		filter_line_end(f, s);
		return;
	}
	if (f->state == LINE_START && (c == ' ' || c == '\t'))
		f->state = f->prev_keep ? LINE_KEEP : LINE_DROP;
	else if (f->state == LINE_START)
		f->state = LINE_NAME;
	if (f->state == LINE_NAME) {
		bool colon = c == ':', keep = colon && filter_decide(f, true);

		f->name[f->name_len++] = c;
		if (colon)
			filter_set(f, s, keep);
		else if (f->name_len == sizeof(f->name))
			filter_set(f, s, filter_decide(f, false));
		return;
	}
	if (f->state == LINE_KEEP)
		sink_put(s, &c, 1);
}

static void filter_finish(struct filter *f, struct sink *s)
{
	if (f->state != LINE_START)
		filter_line_end(f, s);
	sink_put(s, "\r\n", 2);
}

static void process(const struct fetch_body *body, struct filter *f, struct sink *s,
                    const char *data, size_t n)
{
	if (body->filter == FETCH_BODY_ALL) {
		/* base64 ignores line ends; binary octets are data */
		if (body->cte == MIME_CTE_BINARY || body->cte == MIME_CTE_BASE64)
			sink_put(s, data, n);
		else
			sink_convert(s, data, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		filter_byte(f, s, data[i]);
}

/* The chunk is on the stack, not static: its pages are handed back with the stack's when the
 * session goes idle instead of staying dirty for the worker's life. */
static int run(const struct fetch_body *body, struct sink *s, const char **error_r)
{
	char chunk[CHUNK_SIZE];
	struct filter f = {.body = body, .prev_keep = body->filter == FETCH_BODY_FIELDS_NOT};
	struct mime_decoder dec;
	uint64_t done = 0;

	if (body->filter == FETCH_BODY_ALL &&
	    (body->cte == MIME_CTE_BASE64 || body->cte == MIME_CTE_QP)) {
		mime_decoder_init(&dec, body->cte);
		s->dec = &dec;
	}

	while (done < body->size && !sink_full(s)) {
		size_t want =
		    body->size - done < CHUNK_SIZE ? (size_t)(body->size - done) : CHUNK_SIZE;
		ssize_t n = pread(body->fd, chunk, want, (off_t)(body->offset + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*error_r = n < 0 ? "Message file read failed" : "Message file shrank";
			if (n == 0)
				errno = 0;
			return -1;
		}
		process(body, &f, s, chunk, (size_t)n);
		done += (uint64_t)n;
	}
	if (body->filter != FETCH_BODY_ALL)
		filter_finish(&f, s);
	if (s->dec != NULL && !sink_full(s))
		sink_raw(s, chunk, mime_decoder_finish(s->dec, chunk));
	s->dec = NULL;
	return 0;
}

int fetch_body_measure(const struct fetch_body *body, uint64_t start, uint64_t end,
                       uint64_t *size_r, bool *nul_r, const char **error_r)
{
	struct sink s = {.start = start, .end = end};

	if (run(body, &s, error_r) < 0)
		return -1;
	*size_r = s.pos;
	if (nul_r != NULL)
		*nul_r = s.nul;
	return 0;
}

int fetch_body_size(const struct fetch_body *body, uint64_t *size_r, const char **error_r)
{
	return fetch_body_measure(body, 0, 0, size_r, NULL, error_r);
}

int fetch_body_write(const struct fetch_body *body, uint64_t skip, uint64_t len, struct conn *out,
                     const char **error_r)
{
	struct sink s = {.out = out, .start = skip, .end = skip + len};

	if (len == 0)
		return 0;
	if (s.end < skip)
		s.end = UINT64_MAX;
	if (run(body, &s, error_r) == 0)
		return 0;
	/* The literal's size is already sent: fill it up so the client stays in step. */
	static const char spaces[64] = {[0 ... 63] = ' '};
	int err = errno;

	for (uint64_t have = s.pos > s.start ? s.pos - s.start : 0; have < len;) {
		size_t n = len - have < sizeof(spaces) ? (size_t)(len - have) : sizeof(spaces);

		conn_write(out, spaces, n);
		have += n;
	}
	errno = err;
	return -1;
}
