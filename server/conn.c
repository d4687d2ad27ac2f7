#include "server/conn.h"
#include "common/clock.h"
#include "common/buf.h"
#include "common/xalloc.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define CONN_OUT_FLUSH 16384
/* Stack below the waiting frame handed back when idle (deeper than any path of ours goes),
 * and the page just below it left alone (the red zone, madvise's own call). */
#define CONN_STACK_RELEASE (256 * 1024)
#define CONN_STACK_MARGIN  4096

extern void *__libc_stack_end; /* glibc: the top of the main thread's stack */

static volatile sig_atomic_t *conn_interrupt;

void conn_set_interrupt(volatile sig_atomic_t *flag)
{
	conn_interrupt = flag;
}

struct conn {
	struct conn_transport t;
	struct buf in;
	size_t in_pos; /* start of unread input */
	struct buf out;
	char *peer_ip;
	bool broken;
	bool skip_line; /* the rest of a line reported CONN_TOO_LONG is still to come */
	/* conn_push_layer: the layer c->t reads and writes through */
	const struct conn_layer *layer;
	void *layer_ctx;
	/* conn_set_idle */
	void (*idle_cb)(void *ctx);
	void *idle_ctx;
	unsigned idle_ms;
};

struct conn *conn_new(const struct conn_transport *t, const char *peer_ip)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->t = *t;
	buf_init(&c->in);
	buf_init(&c->out);
	c->in.secret = true; /* input carries passwords */
	c->peer_ip = xstrdup(peer_ip != NULL ? peer_ip : "");
	return c;
}

void conn_free(struct conn **cp)
{
	struct conn *c = *cp;

	if (c == NULL)
		return;
	if (c->layer != NULL)
		c->layer->free(c->layer_ctx);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c->peer_ip);
	free(c);
	*cp = NULL;
}

const char *conn_peer_ip(const struct conn *c)
{
	return c->peer_ip;
}

int conn_fd(const struct conn *c)
{
	return c->t.fd;
}

bool conn_broken(const struct conn *c)
{
	return c->broken;
}

bool conn_input_buffered(const struct conn *c)
{
	return c->in.len > c->in_pos || (c->t.pending != NULL && c->t.pending(c->t.ctx) > 0);
}

/* poll until fd readable (or the wakeup fd). 1 input, 2 wakeup, 0 timeout, <0 status. */
static int conn_poll(struct conn *c, int wakeup_fd, long deadline_ms)
{
	for (;;) {
		struct pollfd p[2] = {{c->t.fd, POLLIN, 0}, {wakeup_fd, POLLIN, 0}};
		long left = deadline_ms - clock_now_ms();
		int r;

		if (c->t.pending != NULL && c->t.pending(c->t.ctx) > 0)
			return 1;
		if (conn_interrupt != NULL && *conn_interrupt != 0)
			return CONN_SHUTDOWN;
		if (left <= 0)
			return 0;
		r = poll(p, wakeup_fd >= 0 ? 2 : 1, (int)(left > 60000 ? 60000 : left));
		if (r < 0 && errno != EINTR)
			return CONN_ERROR;
		if (r <= 0)
			continue;
		if (p[0].revents != 0)
			return 1;
		if (wakeup_fd >= 0 && p[1].revents != 0)
			return 2;
	}
}

void conn_set_idle(struct conn *c, unsigned idle_ms, void (*idle_cb)(void *ctx), void *ctx)
{
	c->idle_cb = idle_cb;
	c->idle_ctx = ctx;
	c->idle_ms = idle_ms;
}

void conn_release_buffers(struct conn *c)
{
	if (c->in_pos == c->in.len) {
		buf_free(&c->in); /* wiped: input carries passwords */
		c->in_pos = 0;
	}
	if (c->out.len == 0)
		buf_free(&c->out);
	if (c->layer != NULL && c->layer->release != NULL)
		c->layer->release(c->layer_ctx);
}

int conn_push_layer(struct conn *c, const struct conn_layer *layer)
{
	struct conn_transport t;
	size_t unread = c->in.len - c->in_pos;

	assert(c->layer == NULL);
	if (conn_flush(c) < 0)
		return -1;
	c->layer_ctx = layer->push(&c->t, unread > 0 ? c->in.data + c->in_pos : NULL, unread, &t);
	c->layer = layer;
	c->t = t;
	buf_reset(&c->in);
	c->in_pos = 0;
	return 0;
}

/* The main thread's stack pages below the waiting frame hold nothing live but were dirtied by
 * the deepest call of the session so far (TLS handshake, SQLite): give them back for the
 * wait; a later deep call gets fresh zero pages. Only within the stack's own reserved range
 * (below its top by less than RLIMIT_STACK, where the kernel maps nothing else), and only on
 * the main thread's stack. */
static void conn_release_stack(void)
{
	uintptr_t top = (uintptr_t)__libc_stack_end, sp = (uintptr_t)__builtin_frame_address(0);
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), end, start;
	struct rlimit rl;

	if (getrlimit(RLIMIT_STACK, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || sp > top ||
	    top - sp > rl.rlim_cur)
		return; /* not on the main stack, or no known bound */
	end = (sp - CONN_STACK_MARGIN) & ~(page - 1);
	start = end - CONN_STACK_RELEASE;
	if (sp < CONN_STACK_MARGIN + CONN_STACK_RELEASE || top - start > rl.rlim_cur)
		return;
	(void)madvise((void *)start, CONN_STACK_RELEASE, MADV_DONTNEED);
}

/* conn_poll until deadline_ms; when the client stays silent for idle_ms first, the buffers and
 * the stack below are released and the idle callback runs before waiting on. */
static int conn_poll_input(struct conn *c, int wakeup_fd, long deadline_ms)
{
	long idle_at = clock_now_ms() + (long)c->idle_ms;
	int r;

	if (c->idle_cb == NULL || idle_at >= deadline_ms)
		return conn_poll(c, wakeup_fd, deadline_ms);
	r = conn_poll(c, wakeup_fd, idle_at);
	if (r != 0)
		return r;
	conn_release_buffers(c);
	c->idle_cb(c->idle_ctx);
	conn_release_stack(); /* last: the callback's frames are dead now too */
	return conn_poll(c, wakeup_fd, deadline_ms);
}

/* Reads more transport input into c->in. 0 ok, negative status. */
static int conn_fill(struct conn *c, long deadline_ms)
{
	if (conn_flush(c) < 0)
		return CONN_ERROR;
	if (c->in_pos > 0 && c->in_pos == c->in.len) {
		buf_reset(&c->in);
		c->in_pos = 0;
	} else if (c->in_pos > 65536) {
		buf_consume(&c->in, c->in_pos);
		c->in_pos = 0;
	}
	for (;;) {
		void *p;
		ssize_t n;
		/* wait first: the transport may sit on a blocking fd */
		int r = conn_poll_input(c, -1, deadline_ms);

		if (r == 0)
			return CONN_TIMEOUT;
		if (r < 0)
			return r;
		p = buf_reserve(&c->in, 16384);
		n = c->t.read(c->t.ctx, p, 16384);
		if (n > 0) {
			buf_added(&c->in, (size_t)n);
			return 0;
		}
		if (n == 0) {
			c->broken = true;
			return CONN_EOF;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			c->broken = true;
			return CONN_ERROR;
		}
	}
}

/* Drops buffered input through the end of a line already reported too long. true once its
 * end was found. */
static bool conn_skip_line(struct conn *c)
{
	char *start = c->in.len > c->in_pos ? c->in.data + c->in_pos : NULL;
	char *nl = start != NULL ? memchr(start, '\n', c->in.len - c->in_pos) : NULL;

	if (nl == NULL) {
		c->in_pos = c->in.len;
		return false;
	}
	c->in_pos += (size_t)(nl - start) + 1;
	c->skip_line = false;
	return true;
}

ssize_t conn_read_line(struct conn *c, char **line_r, size_t max, unsigned timeout_s)
{
	long deadline = clock_now_ms() + (long)timeout_s * 1000L;
	size_t scanned = 0;

	for (;;) {
		char *start, *nl;
		size_t avail;
		int r;

		if (!c->skip_line || conn_skip_line(c)) {
			avail = c->in.len - c->in_pos;
			start = avail > 0 ? c->in.data + c->in_pos : NULL; /* no buffer yet: NULL */
			nl = avail > scanned ? memchr(start + scanned, '\n', avail - scanned) : NULL;
			if (nl != NULL) {
				size_t len = (size_t)(nl - start);

				c->in_pos += len + 1;
				if (len > 0 && start[len - 1] == '\r')
					len--;
				if (len > max)
					return CONN_TOO_LONG;
				start[len] = '\0';
				*line_r = start;
				return (ssize_t)len;
			}
			if (avail > max + 1) {
				/* too long whatever follows: say so now rather than read (or
				 * inflate) to its end first */
				c->skip_line = true;
				c->in_pos = c->in.len;
				return CONN_TOO_LONG;
			}
			scanned = avail;
		}
		r = conn_fill(c, deadline);
		if (r < 0)
			return r;
	}
}

int conn_read_exact(struct conn *c, void *buf, size_t len, unsigned timeout_s)
{
	long deadline = clock_now_ms() + (long)timeout_s * 1000L;
	char *out = buf;

	while (len > 0) {
		size_t avail = c->in.len - c->in_pos;
		int r;

		if (avail > 0) {
			size_t n = avail < len ? avail : len;

			memcpy(out, c->in.data + c->in_pos, n);
			c->in_pos += n;
			out += n;
			len -= n;
			continue;
		}
		r = conn_fill(c, deadline);
		if (r < 0)
			return r;
	}
	return 0;
}

int conn_wait_input(struct conn *c, int wakeup_fd, unsigned timeout_ms)
{
	if (c->in.len > c->in_pos)
		return 1;
	if (conn_flush(c) < 0)
		return CONN_ERROR;
	return conn_poll_input(c, wakeup_fd, clock_now_ms() + (long)timeout_ms);
}

int conn_transport_send(const struct conn_transport *t, const void *data, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = t->write(t->ctx, (const char *)data + off, len - off);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EINTR))
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = {t->fd, POLLOUT, 0};

			if (poll(&p, 1, 60000) > 0)
				continue;
		}
		errno = EPIPE;
		return -1;
	}
	return 0;
}

int conn_flush(struct conn *c)
{
	int r = c->broken ? -1 : 0;

	if (r == 0 && c->out.len > 0)
		r = conn_transport_send(&c->t, c->out.data, c->out.len);
	c->broken = c->broken || r < 0;
	buf_reset(&c->out);
	return r;
}

int conn_write(struct conn *c, const void *data, size_t len)
{
	if (c->broken)
		return -1;
	buf_append(&c->out, data, len);
	if (c->out.len >= CONN_OUT_FLUSH)
		return conn_flush(c);
	return 0;
}

int conn_puts(struct conn *c, const char *s)
{
	return conn_write(c, s, strlen(s));
}

int conn_printf(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	char small[512];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return conn_write(c, small, (size_t)n);
	{
		char *big = xmalloc((size_t)n + 1);
		int r;

		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		r = conn_write(c, big, (size_t)n);
		free(big);
		return r;
	}
}
