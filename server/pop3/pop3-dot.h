/*
 * Converts message bytes as stored (LF or CRLF line ends) into the POP3 multi-line form: every
 * line ends in CRLF, a line starting with '.' gets another '.', and the end is ".CRLF". Works on
 * chunks so a message is never loaded whole. For TOP it passes the header, the empty line and
 * then only the first n body lines.
 */
#ifndef TWOFOLD_POP3_DOT_H
#define TWOFOLD_POP3_DOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pop3_dot {
	bool line_start; /* the next byte begins a line */
	bool prev_cr;    /* the last byte passed was a CR */
	size_t line_len; /* bytes of the current line so far, without its LF */
	bool in_body;    /* the empty line after the header has been passed */
	bool top;        /* stop after body_lines body lines */
	uint64_t body_lines;
	bool done; /* TOP's limit reached: the rest of the input is ignored */
};

/* top=false: the whole message (body_lines ignored). */
void pop3_dot_init(struct pop3_dot *d, bool top, uint64_t body_lines);
/* Converts in[0..len) into out, which must hold 2 * len bytes. Returns the bytes written. */
size_t pop3_dot_convert(struct pop3_dot *d, const void *in, size_t len, char *out);
/* Writes the end: a CRLF when the last line was unterminated, then ".CRLF". out holds
 * POP3_DOT_FINISH_MAX bytes. Returns the bytes written. */
#define POP3_DOT_FINISH_MAX 5
size_t pop3_dot_finish(struct pop3_dot *d, char *out);

#endif
