/*
 * POP3 command parser: incremental (fed any number of bytes at a time), bounded, no I/O.
 * A line is "KEYWORD[ SP args]" ending in LF or CRLF. Keywords are 3-4 letters (RFC 1939,
 * case-insensitive); what follows the first space is kept as one argument string, because PASS
 * takes the rest of the line (passwords may contain spaces) and the other commands split it.
 */
#ifndef TWOFOLD_POP3_PARSE_H
#define TWOFOLD_POP3_PARSE_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POP3_NAME_MAX 4

enum pop3_parse_status {
	POP3_PARSE_MORE,  /* all input used, the line is not complete */
	POP3_PARSE_DONE,  /* a command is in *cmd_r */
	POP3_PARSE_ERROR, /* the line (now fully consumed) was bad: *error_r says why */
};

struct pop3_cmd {
	char name[POP3_NAME_MAX + 1]; /* upper case */
	char *args;                   /* after the first space, NUL-terminated; "" when none */
	size_t args_len;
	bool has_args; /* a space followed the keyword */
};

struct pop3_parser {
	int state;
	bool in_line;    /* some of the current line has been seen */
	bool pending_cr; /* the last byte was a CR: a line end if LF follows */
	size_t max;      /* longest line accepted, without its CRLF */
	size_t len;      /* bytes of the current line seen so far */
	char name[POP3_NAME_MAX + 1];
	size_t name_len;
	struct buf args; /* secret: it may hold a password */
	const char *error;
};

void pop3_parser_init(struct pop3_parser *p, size_t max);
void pop3_parser_deinit(struct pop3_parser *p);
/* Changes the line limit (e.g. after login); takes effect from the next line. */
void pop3_parser_set_max(struct pop3_parser *p, size_t max);

/* Consumes input up to and including the end of one line. *used_r: bytes consumed. On DONE,
 * *cmd_r points into the parser and is valid until the next feed. */
enum pop3_parse_status pop3_parser_feed(struct pop3_parser *p, const void *data, size_t len,
                                        size_t *used_r, struct pop3_cmd *cmd_r,
                                        const char **error_r);
/* Wipes what the parser holds of the last line (call after a PASS / AUTH line). */
void pop3_parser_wipe(struct pop3_parser *p);

/* Parses one complete line (no line end) that conn_read_line already framed. */
enum pop3_parse_status pop3_parse_line(struct pop3_parser *p, const char *line, size_t len,
                                       struct pop3_cmd *cmd_r, const char **error_r);

/* A decimal number: digits only, no sign, fits in 32 bits. 1 ok, 0 not a number. */
int pop3_parse_number(const char *s, uint32_t *n_r);
/* Splits args in place at runs of spaces into at most max words. Returns the word count, or
 * -1 when there are more than max words. */
int pop3_split_args(char *args, char **argv, int max);

#endif
