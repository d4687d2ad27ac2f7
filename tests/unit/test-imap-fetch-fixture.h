/* The fixture of the FETCH engine tests (test-imap-fetch.c, test-imap-binary.c): real maildirs
 * made through storage in a temp dir, commands read by the real IMAP parser, output through a
 * conn over a socketpair drained by a reader thread. Included by one test program each. */
#ifndef TWOFOLD_TEST_IMAP_FETCH_FIXTURE_H
#define TWOFOLD_TEST_IMAP_FETCH_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/test-imap-command.h"
#include "tests/unit/test-tmpdir.h"

#include "common/buf.h"
#include "common/xalloc.h"
#include "server/conn.h"
#include "server/imap/imap-fetch.h"
#include "server/imap/imap-parser.h"
#include "storage/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- output capture: conn -> socketpair -> reader thread -> buffer ---- */

struct capture {
	int fds[2];
	pthread_t thread;
	pthread_mutex_t lock;
	struct buf data;
	uint64_t sent, received;
};

static inline ssize_t cap_write(void *ctx, const void *data, size_t len)
{
	struct capture *c = ctx;
	ssize_t n = write(c->fds[1], data, len);

	if (n > 0) {
		pthread_mutex_lock(&c->lock);
		c->sent += (uint64_t)n;
		pthread_mutex_unlock(&c->lock);
	}
	return n;
}

static inline ssize_t cap_read(void *ctx, void *data, size_t len)
{
	errno = EAGAIN;
	return -1;
}

static inline void *cap_reader(void *arg)
{
	struct capture *c = arg;
	char chunk[8192];
	ssize_t n;

	while ((n = read(c->fds[0], chunk, sizeof(chunk))) > 0) {
		pthread_mutex_lock(&c->lock);
		buf_append(&c->data, chunk, (size_t)n);
		c->received += (uint64_t)n;
		pthread_mutex_unlock(&c->lock);
	}
	return NULL;
}

/* ---- fixture: a maildir with a few messages ---- */

struct fixture {
	char root[512];
	int rootfd;
	struct mail_storage *st;
	struct mailbox *box;
	struct capture cap;
	struct conn *conn;
	struct imap_parser *parser;
};

static const char msg_simple[] = "Date: Mon, 7 Feb 1994 21:52:25 -0800\n"
                                 "From: \"Fred \\\"the\\\" Foobar\" <foobar@Blurdybloop.example>\n"
                                 "Subject: afternoon meeting\n"
                                 " again\n"
                                 "To: mooch@owatagu.example, \"Joe Q. Public\" <joe@x.example>\n"
                                 "cc: =?UTF-8?Q?J=C3=B6rg?= <jorg@x.example>\n"
                                 "Message-Id: <B27397-0100000@Blurdybloop.example>\n"
                                 "MIME-Version: 1.0\n"
                                 "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\n"
                                 "\n"
                                 "Hello Joe, do you think we can meet at 3:30 tomorrow?\n";

static const char msg_nested[] = "From: a@b.example\r\n"
                                 "To: c@d.example\r\n"
                                 "Subject: nested\r\n"
                                 "MIME-Version: 1.0\r\n"
                                 "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
                                 "\r\n"
                                 "preamble\r\n"
                                 "--outer\r\n"
                                 "Content-Type: multipart/alternative; boundary=inner\r\n"
                                 "\r\n"
                                 "--inner\r\n"
                                 "Content-Type: text/plain; charset=utf-8\r\n"
                                 "Content-Transfer-Encoding: quoted-printable\r\n"
                                 "\r\n"
                                 "Gr=C3=BC=C3=9Fe\r\n"
                                 "--inner\r\n"
                                 "Content-Type: text/html; charset=utf-8\r\n"
                                 "\r\n"
                                 "<p>hi</p>\r\n"
                                 "--inner--\r\n"
                                 "--outer\r\n"
                                 "Content-Type: message/rfc822\r\n"
                                 "\r\n"
                                 "From: x@y.example\r\n"
                                 "Subject: inner\r\n"
                                 "\r\n"
                                 "inner body\r\n"
                                 "--outer\r\n"
                                 "Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
                                 "Content-Transfer-Encoding: base64\r\n"
                                 "Content-Disposition: attachment; filename=\"a.bin\"\r\n"
                                 "\r\n"
                                 "c2VjcmV0\r\n"
                                 "--outer--\r\n";

static inline int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct conn_transport t = {.read = cap_read, .write = cap_write, .ctx = &f->cap};
	const char *error = NULL;

	setenv("TZ", "EST5", 1);
	tzset();
	test_tmpdir_make(f->root, sizeof(f->root), "imap-fetch");
	f->rootfd = open(f->root, O_RDONLY | O_DIRECTORY);
	assert_true(f->rootfd >= 0);
	assert_int_equal(mail_storage_open(f->rootfd, &f->st, &error), 0);
	assert_int_equal(mailbox_open_imap(f->st, "INBOX", false, &f->box, &error), 1);
	assert_int_equal(mailbox_append(f->box, msg_simple, sizeof(msg_simple) - 1,
	                                MAIL_SEEN | MAIL_FLAGGED, 760000000, NULL, &error),
	                 0);
	assert_int_equal(
	    mailbox_append(f->box, msg_nested, sizeof(msg_nested) - 1, 0, 1646128800, NULL, &error),
	    0);
	assert_int_equal(mailbox_sync(f->box, &error), 0);
	assert_int_equal(mailbox_count(f->box), 2);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, f->cap.fds), 0);
	t.fd = f->cap.fds[1];
	pthread_mutex_init(&f->cap.lock, NULL);
	buf_init(&f->cap.data);
	assert_int_equal(pthread_create(&f->cap.thread, NULL, cap_reader, &f->cap), 0);
	f->conn = conn_new(&t, "127.0.0.1");
	f->parser = imap_parser_new(&imap_parser_limits_default);
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fixture *f = *state;

	conn_free(&f->conn);
	close(f->cap.fds[1]);
	pthread_join(f->cap.thread, NULL);
	close(f->cap.fds[0]);
	buf_free(&f->cap.data);
	imap_parser_free(&f->parser);
	mailbox_close(&f->box);
	mail_storage_close(&f->st);
	close(f->rootfd);
	test_tmpdir_remove(f->root);
	free(f);
	return 0;
}

/* Waits until the reader has everything written so far, and returns it (reset afterwards),
 * NUL-terminated; *len_r: its octets (it may hold NULs). */
static inline char *take_output_len(struct fixture *f, size_t *len_r)
{
	char *out;

	assert_int_equal(conn_flush(f->conn), 0);
	for (;;) {
		bool done;

		pthread_mutex_lock(&f->cap.lock);
		done = f->cap.received == f->cap.sent;
		pthread_mutex_unlock(&f->cap.lock);
		if (done)
			break;
		usleep(1000);
	}
	pthread_mutex_lock(&f->cap.lock);
	*len_r = f->cap.data.len;
	out = xmalloc(*len_r + 1);
	if (*len_r > 0)
		memcpy(out, f->cap.data.data, *len_r);
	out[*len_r] = '\0';
	buf_reset(&f->cap.data);
	pthread_mutex_unlock(&f->cap.lock);
	return out;
}

static inline char *take_output(struct fixture *f)
{
	size_t len;

	return take_output_len(f, &len);
}

/* Parses "T FETCH 1 <items>" with the real parser; returns the command's argument list. */
static inline const struct imap_arg *parse_cmd(struct fixture *f, const char *cmd)
{
	return test_imap_command_parse(f->parser, cmd, strlen(cmd));
}

/* FETCH items of message index; the whole response as written, or "BAD: msg". */
static inline char *fetch_msg(struct fixture *f, size_t index, const char *items, bool uid)
{
	char *cmd = xasprintf("A FETCH 1 %s\r\n", items);
	const struct imap_arg *args = parse_cmd(f, cmd);
	struct imap_fetch *fetch = NULL;
	const char *error = NULL;
	int ret;

	xfree(&cmd);
	if (args == NULL)
		return xasprintf("PARSER: %s", imap_parser_error(f->parser));
	if (imap_fetch_parse(&args->list[1], uid, &fetch, &error) < 0)
		return xasprintf("BAD: %s", error);
	ret = imap_fetch_write(fetch, f->box, index, (uint32_t)index + 1, f->conn, &error);
	imap_fetch_free(&fetch);
	assert_int_equal(ret, 1);
	return take_output(f);
}

static inline void check_fetch(struct fixture *f, size_t index, const char *items,
                               const char *expect)
{
	char *out = fetch_msg(f, index, items, false);

	if (strcmp(out, expect) != 0) {
		fprintf(stderr, "FETCH %s:\n got: %s\nwant: %s\n", items, out, expect);
		fail();
	}
	free(out);
}

#endif
