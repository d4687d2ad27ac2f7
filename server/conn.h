/*
 * A client connection as the protocols see it: buffered line input and output with timeouts over
 * a transport (TLS in the daemon, a plain fd in tests and fuzzing). Protocol code never touches
 * the transport directly.
 */
#ifndef TWOFOLD_CONN_H
#define TWOFOLD_CONN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Transport: read/write like read(2)/write(2); may return -1 with errno EAGAIN/EINTR.
 * pending: bytes already decrypted and readable without touching the fd. */
struct conn_transport {
	ssize_t (*read)(void *ctx, void *buf, size_t len);
	ssize_t (*write)(void *ctx, const void *buf, size_t len);
	size_t (*pending)(void *ctx);
	void *ctx;
	int fd; /* for poll() */
};

enum conn_status {
	CONN_EOF = -1, /* peer closed */
	CONN_TIMEOUT = -2,
	CONN_TOO_LONG = -3, /* line exceeded max: the next read skips the rest of it */
	CONN_ERROR = -4,
	CONN_SHUTDOWN = -5, /* the interrupt flag was raised while waiting */
};

struct conn;

struct conn *conn_new(const struct conn_transport *t, const char *peer_ip);
void conn_free(struct conn **c);

/* Reads one line (CRLF or LF stripped, NUL-terminated, may contain NULs). Returns its length or a
 * negative enum conn_status. *line_r is valid until the next read. A line longer than max gives
 * CONN_TOO_LONG as soon as max is passed, not at its end (a compressed stream can make one
 * without end out of a few bytes): the next read skips the rest of it first. */
ssize_t conn_read_line(struct conn *c, char **line_r, size_t max, unsigned timeout_s);
/* Reads exactly len bytes (for literals) into buf. 0 ok or a negative enum conn_status. */
int conn_read_exact(struct conn *c, void *buf, size_t len, unsigned timeout_s);
/* Waits until input is available; 1 readable, 0 timeout, negative status. Honours a set
 * wakeup fd: returns 2 when that fd is readable first (IDLE uses it for inotify). */
int conn_wait_input(struct conn *c, int wakeup_fd, unsigned timeout_ms);
/* True when a complete or partial next command is already buffered (pipelining). */
bool conn_input_buffered(const struct conn *c);

/* Output is buffered; flushed when large, by conn_flush, and before any blocking read. */
int conn_write(struct conn *c, const void *data, size_t len);
int conn_puts(struct conn *c, const char *s);
int conn_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int conn_flush(struct conn *c);
/* Set after a write error or peer close: further writes are dropped. */
bool conn_broken(const struct conn *c);

const char *conn_peer_ip(const struct conn *c);
/* The transport's descriptor, for a caller that polls it beside another (-1: none). */
int conn_fd(const struct conn *c);

/* Frees the input and output buffers when they hold nothing (the next read or write allocates
 * them again), and has a layer give back what it can: a session about to wait long gives back
 * what its last command needed. */
void conn_release_buffers(struct conn *c);
/* When a read or conn_wait_input has waited idle_ms for the client without any input arriving,
 * the connection releases its buffers and the stack pages below the waiting frame and calls
 * idle_cb (once per wait): the session frees what it holds for the long wait. idle_cb NULL
 * turns it off. */
void conn_set_idle(struct conn *c, unsigned idle_ms, void (*idle_cb)(void *ctx), void *ctx);

/* A layer put over the transport in the middle of a session (COMPRESS=DEFLATE). */
struct conn_layer {
	const char *name;
	/* Builds the layer over below. unread is input already read from below but not yet
	 * consumed: it belongs to the layer's stream, which takes it over. Fills *t_r (reads and
	 * writes through the layer, the fd of below) and returns the layer's context. */
	void *(*push)(const struct conn_transport *below, const void *unread, size_t unread_len,
	              struct conn_transport *t_r);
	/* Gives memory back while the client is idle (conn_release_buffers); may be NULL. */
	void (*release)(void *ctx);
	void (*free)(void *ctx);
};

/* Sends the output buffered so far through the current transport, then puts layer over it;
 * the connection owns the layer from then on (freed by conn_free). One layer at most. 0 ok,
 * -1 when the output could not be sent (the connection is broken). */
int conn_push_layer(struct conn *c, const struct conn_layer *layer);
/* Writes all of data to t, waiting while its descriptor would block, as conn_flush does: for a
 * layer handing its output down. 0 ok, -1 error (errno EPIPE when the peer is gone or stuck). */
int conn_transport_send(const struct conn_transport *t, const void *data, size_t len);

/* When *flag becomes non-zero (a signal handler sets it), waits end with CONN_SHUTDOWN. */
void conn_set_interrupt(volatile sig_atomic_t *flag);

#endif
