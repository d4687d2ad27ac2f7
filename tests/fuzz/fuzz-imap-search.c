/* Fuzz target for the SEARCH and FETCH engines. The input is the text after "A SEARCH " (first
 * byte even) or after "A FETCH 1:* " (odd; bit 1: UID FETCH), read by the real IMAP parser; the
 * program or item list is then run over every message of a small fixed mailbox (made once in a temp
 * dir through storage: encoded-words, multipart, base64 / quoted-printable, message/rfc822,
 * keywords), with FETCH output written to a conn that discards it. */
#include "common/buf.h"
#include "common/xalloc.h"
#include "server/conn.h"
#include "server/imap/imap-fetch.h"
#include "server/imap/imap-parser.h"
#include "server/imap/imap-search.h"
#include "storage/storage.h"

#include <fcntl.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const messages[] = {
    "Date: Mon, 7 Feb 1994 21:52:25 -0800\n"
    "From: \"Fred \\\"F\\\" Foobar\" <fred@example.com>, group: a@b, c@d;\n"
    "To: alice@example.org\nCc: =?UTF-8?B?SsO2cmc=?= <j@x.example>\n"
    "Subject: =?ISO-8859-1?Q?K=F6ln?= meeting\n\tfolded\nX-Priority: 1\n\nquick brown fox\n",

    "From: bob@example.org\r\nSubject: parts\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    "w5xuw69jw7Zkw6k=\r\n--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9 tr=\r\n=E8s\r\n--b\r\n"
    "Content-Type: message/rfc822\r\n\r\nFrom: x@y\r\nSubject: inner\r\n\r\ninner body\r\n"
    "--b--\r\n",

    "Subject: \xce\x91\xce\x92\xce\x93\n\nno date, no from\n",
};

static struct mail_storage *storage;
static struct mailbox *box;
static struct conn *sink;
static char root[256];

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static void cleanup(void)
{
	mailbox_close(&box);
	mail_storage_close(&storage);
	conn_free(&sink);
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static ssize_t sink_write(void *ctx, const void *buf, size_t len)
{
	return (ssize_t)len;
}

static ssize_t sink_read(void *ctx, void *buf, size_t len)
{
	return 0;
}

static void mailbox_setup(void)
{
	struct conn_transport t = {.read = sink_read, .write = sink_write, .fd = -1};
	const char *error;
	int fd, kw;

	snprintf(root, sizeof(root), "/tmp/fuzz-imap-search-XXXXXX");
	if (mkdtemp(root) == NULL || (fd = open(root, O_RDONLY | O_DIRECTORY)) < 0 ||
	    mail_storage_open(fd, &storage, &error) < 0 ||
	    mailbox_open_imap(storage, "INBOX", false, &box, &error) <= 0)
		abort();
	close(fd);
	for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
		if (mailbox_append(box, messages[i], strlen(messages[i]), (unsigned)i * 3,
		                   760000000 + (time_t)i * 86400 * 400, NULL, &error) < 0)
			abort();
	}
	if (mailbox_sync(box, &error) < 0 || (kw = mailbox_keyword_index(box, "$Work", true)) < 0 ||
	    mailbox_set_keywords(box, 1, (uint64_t)1 << kw, 0, &error) <= 0)
		abort();
	sink = conn_new(&t, "127.0.0.1");
	atexit(cleanup);
}

static void run_search(const struct imap_arg *args)
{
	struct imap_search *search;
	const char *error;
	bool bad_charset;
	uint32_t matches[8];
	size_t n = 0;
	struct buf out;

	if (imap_search_parse(args, &search, &bad_charset, &error) < 0) {
		if (error == NULL)
			__builtin_trap();
		return;
	}
	for (size_t i = 0; i < mailbox_count(box); i++) {
		int r = imap_search_match(search, box, i, (uint32_t)i + 1,
		                          (uint32_t)mailbox_count(box), &error);

		if (r < 0)
			__builtin_trap(); /* the files are there: reading cannot fail */
		if (r > 0)
			matches[n++] = (uint32_t)i + 1;
	}
	buf_init(&out);
	imap_search_render(search, "A", true, matches, n, &out);
	buf_free(&out);
	imap_search_free(&search);
}

static void run_fetch(const struct imap_arg *args, bool uid)
{
	struct imap_fetch *fetch;
	const char *error;

	/* the arguments are the set and the items, as cmd-fetch.c takes them */
	if (args->count != 2)
		return;
	if (imap_fetch_parse(&args->list[1], uid, &fetch, &error) < 0) {
		if (error == NULL)
			__builtin_trap();
		return;
	}
	for (size_t i = 0; i < mailbox_count(box); i++) {
		if (imap_fetch_write(fetch, box, i, (uint32_t)i + 1, sink, &error) != 1)
			__builtin_trap(); /* the files are there: nothing can fail */
	}
	conn_flush(sink);
	(void)imap_fetch_sets_seen(fetch);
	imap_fetch_free(&fetch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser *p;
	struct buf cmd;
	size_t pos = 0;
	enum imap_parse_result r;

	if (size == 0 || size > 4096)
		return 0;
	if (box == NULL)
		mailbox_setup();
	buf_init(&cmd);
	buf_append_str(&cmd, (data[0] & 1) != 0 ? "A FETCH 1:* " : "A SEARCH ");
	buf_append(&cmd, data + 1, size - 1);
	buf_append_str(&cmd, "\r\n");
	p = imap_parser_new(&imap_parser_limits_default);
	do {
		size_t used = 0;

		r = imap_parser_feed(p, cmd.data + pos, cmd.len - pos, &used);
		pos += used;
	} while (r == IMAP_PARSE_LITERAL);
	if (r == IMAP_PARSE_DONE && (data[0] & 1) != 0)
		run_fetch(imap_parser_args(p), (data[0] & 2) != 0);
	else if (r == IMAP_PARSE_DONE)
		run_search(imap_parser_args(p));
	imap_parser_free(&p);
	buf_free(&cmd);
	return 0;
}
