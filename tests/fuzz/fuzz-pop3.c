/*
 * POP3 command parser and the RETR/TOP dot-stuffing converter. The input is fed to the parser in
 * pieces whose sizes come from the first byte, and must give the same commands as feeding it
 * whole; then it is converted as a message and the output is checked: only CRLF line ends, no
 * line starting with a single '.', and un-stuffing gives back the input with LF made CRLF.
 */
#include "common/xalloc.h"
#include "server/pop3/pop3-dot.h"
#include "server/pop3/pop3-parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parses all of in with the given step; returns a digest of what came out. */
static uint64_t fuzz_parse(const uint8_t *in, size_t len, size_t step)
{
	struct pop3_parser p;
	uint64_t digest = 1469598103934665603ULL;
	size_t pos = 0;

	pop3_parser_init(&p, 255);
	while (pos < len) {
		size_t chunk = len - pos < step ? len - pos : step, used = 0;
		struct pop3_cmd cmd;
		const char *error = NULL;
		enum pop3_parse_status st =
		    pop3_parser_feed(&p, in + pos, chunk, &used, &cmd, &error);

		if (used == 0 || used > chunk)
			abort();
		pos += used;
		if (st != POP3_PARSE_MORE) /* MORE depends on the piece sizes, the rest must not */
			digest = (digest ^ (uint64_t)st) * 1099511628211ULL;
		if (st == POP3_PARSE_DONE) {
			char *argv[3];
			uint32_t n;

			if (strlen(cmd.args) != cmd.args_len || strlen(cmd.name) > POP3_NAME_MAX ||
			    cmd.name[0] == '\0')
				abort();
			for (const char *c = cmd.name; *c != '\0'; c++)
				digest = (digest ^ (uint8_t)*c) * 1099511628211ULL;
			digest = (digest ^ cmd.args_len) * 1099511628211ULL;
			if (pop3_split_args(cmd.args, argv, 3) > 0)
				(void)pop3_parse_number(argv[0], &n);
		} else if (st == POP3_PARSE_ERROR && error == NULL) {
			abort();
		}
	}
	pop3_parser_deinit(&p);
	return digest;
}

/* The reference: the same conversion written over the whole buffer at once. */
static size_t fuzz_reference_dot(const uint8_t *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if ((i == 0 || in[i - 1] == '\n') && in[i] == '.')
			out[o++] = '.';
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			out[o++] = '\r';
		out[o++] = (char)in[i];
	}
	if (len > 0 && in[len - 1] != '\n') {
		if (in[len - 1] != '\r')
			out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	return o + 3;
}

static void fuzz_check_dot(const uint8_t *in, size_t len, const char *out, size_t out_len)
{
	char *ref = xmalloc(2 * len + POP3_DOT_FINISH_MAX);
	size_t j;

	if (fuzz_reference_dot(in, len, ref) != out_len || memcmp(ref, out, out_len) != 0)
		abort();
	/* the protocol's own invariants: CRLF only, no lone dot line before the end */
	for (j = 0; j < out_len; j++) {
		if (out[j] == '\n' && (j == 0 || out[j - 1] != '\r'))
			abort();
		if (j + 3 < out_len && (j == 0 || out[j - 1] == '\n') && out[j] == '.' &&
		    out[j + 1] == '\r')
			abort();
	}
	free(ref);
}

static void fuzz_dot(const uint8_t *in, size_t len, size_t step)
{
	char *out = xmalloc(2 * len + POP3_DOT_FINISH_MAX);
	struct pop3_dot d;
	size_t pos = 0, o = 0;

	pop3_dot_init(&d, false, 0);
	while (pos < len) {
		size_t chunk = len - pos < step ? len - pos : step;

		o += pop3_dot_convert(&d, in + pos, chunk, out + o);
		pos += chunk;
	}
	o += pop3_dot_finish(&d, out + o);
	fuzz_check_dot(in, len, out, o);
	/* TOP never writes more than RETR and always ends properly */
	pop3_dot_init(&d, true, step % 4);
	pos = pop3_dot_convert(&d, in, len, out);
	pos += pop3_dot_finish(&d, out + pos);
	if (pos > o || pos < 3 || memcmp(out + pos - 3, ".\r\n", 3) != 0)
		abort();
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t step;

	if (size < 1)
		return 0;
	step = (size_t)data[0] % 17 + 1;
	if (fuzz_parse(data + 1, size - 1, step) != fuzz_parse(data + 1, size - 1, size))
		abort();
	fuzz_dot(data + 1, size - 1, step);
	return 0;
}
