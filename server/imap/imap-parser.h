/*
 * Incremental, bounded IMAP command parser (RFC 9051 / RFC 3501 grammar, LITERAL+).
 *
 * The caller feeds bytes in chunks of any size; the parser consumes what it can and answers
 * NEED_MORE, LITERAL (a literal header was read: decide before its data arrives), ERROR (a message
 * for a BAD reply) or DONE (a whole command line was read). It never does I/O and never recurses:
 * lists are kept on an explicit stack bounded by the nesting limit.
 *
 * A command is: tag SP name [SP args] CRLF. Arguments form a tree of atoms, NIL, quoted strings,
 * literals (and literal8, ~{n}, RFC 3516), parenthesised lists and section specs
 * (BODY[1.2.HEADER.FIELDS (From To)]<0.100>).
 * Every string-like argument is NUL-terminated; str_len gives its real length (literals may hold
 * NUL bytes).
 */
#ifndef TWOFOLD_IMAP_PARSER_H
#define TWOFOLD_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum imap_arg_type {
	IMAP_ARG_ATOM,          /* str: the atom as sent */
	IMAP_ARG_NIL,           /* str: "NIL" as sent (it is also a valid astring) */
	IMAP_ARG_STRING,        /* quoted string, unescaped */
	IMAP_ARG_LITERAL,       /* {n} / {n+} literal */
	IMAP_ARG_LITERAL_TAKEN, /* a literal whose data the caller read itself (APPEND's message,
	                         * streamed to a file): str NULL, str_len its size */
	IMAP_ARG_LIST,          /* ( ... ): list/count */
	IMAP_ARG_SECTION,       /* name[section]<partial>: see the section fields */
};

/* What a section spec names after its part numbers. */
enum imap_section_text {
	IMAP_SECTION_NONE,              /* BODY[] or BODY[1.2] */
	IMAP_SECTION_HEADER,            /* [HEADER], [1.2.HEADER] */
	IMAP_SECTION_HEADER_FIELDS,     /* list holds the field names */
	IMAP_SECTION_HEADER_FIELDS_NOT, /* list holds the field names */
	IMAP_SECTION_TEXT,              /* [TEXT] */
	IMAP_SECTION_MIME,              /* [1.2.MIME], only after part numbers */
};

#define IMAP_SECTION_MAX_PARTS 32

struct imap_arg {
	enum imap_arg_type type;
	/* ATOM, NIL, STRING, LITERAL: the text; SECTION: the name before '[' (e.g. "BODY.PEEK"). */
	char *str;
	size_t str_len;
	/* LIST: the elements; SECTION: the header field names of HEADER.FIELDS[.NOT]. */
	struct imap_arg *list;
	unsigned int count;
	unsigned int alloc;
	/* SECTION only. */
	char *section; /* the spec between the brackets as sent, without the field list */
	uint32_t parts[IMAP_SECTION_MAX_PARTS];
	unsigned int part_count;
	enum imap_section_text text;
	bool has_partial;
	uint64_t partial_offset;
	uint64_t partial_size;
	bool literal_sync; /* LITERAL only: sent as {n} (true) or {n+} (false) */
	bool literal8;     /* LITERAL only: sent as ~{n}; not a string (only APPEND takes one) */
};

struct imap_parser_limits {
	size_t max_line;        /* octets of a command outside literal data */
	uint64_t max_literal;   /* octets of one literal */
	unsigned int max_depth; /* nesting of lists (a section's field list counts one) */
	unsigned int max_args;  /* arguments in the whole command, list elements included */
	bool allow_literals;    /* false before login */
};

/* Before login: 8 KiB lines, no literals. After login: 64 KiB lines, 64 MiB literals. */
extern const struct imap_parser_limits imap_parser_limits_prelogin;
extern const struct imap_parser_limits imap_parser_limits_default;

enum imap_parse_result {
	IMAP_PARSE_NEED_MORE, /* all input consumed, command incomplete */
	IMAP_PARSE_LITERAL,   /* a literal header was read; its data has not been */
	IMAP_PARSE_ERROR,     /* see imap_parser_error() */
	IMAP_PARSE_DONE,      /* a command was read; see imap_parser_tag/name/args */
};

struct imap_parser;

struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits);
void imap_parser_free(struct imap_parser **parser);
/* Takes effect from the next command (e.g. after a successful login). */
void imap_parser_set_limits(struct imap_parser *parser, const struct imap_parser_limits *limits);

/*
 * Parses from data[0..size), setting *consumed_r to the octets used. On DONE the octets after
 * the command's line end are left unconsumed (pipelined commands). Calling feed again after DONE
 * or ERROR starts the next command (as imap_parser_reset would). After LITERAL, calling feed again
 * reads the literal's data: for a synchronising literal send "+ ..." first; to refuse it, reply
 * with a tagged NO/BAD and call imap_parser_reset (a non-synchronising literal's data is already
 * on its way, so refusing one means closing the connection).
 */
enum imap_parse_result imap_parser_feed(struct imap_parser *parser, const void *data, size_t size,
                                        size_t *consumed_r);

/* Drops the current command. If it ended mid-line (error), the rest of the line is skipped.
 * Before login (limits without literals) every token may be a password: reset, free, a parse
 * error and a token buffer's growth wipe what they drop. */
void imap_parser_reset(struct imap_parser *parser);
/* Zeroes the current command's argument texts and the token buffer now, keeping the tag: call
 * when a command that carried a secret (LOGIN, AUTHENTICATE) is done. The argument tree stays
 * valid (its strings read as NULs) until the next feed or reset. */
void imap_parser_wipe(struct imap_parser *parser);
/* After ERROR: a short message for the BAD reply (no client data in it). */
const char *imap_parser_error(const struct imap_parser *parser);
/* After ERROR: true when the stream cannot be resynchronised (line too long, a refused
 * non-synchronising literal): reply BAD/BYE and close. */
bool imap_parser_error_is_fatal(const struct imap_parser *parser);

/* The tag once read (NULL before that): usable for the BAD reply of an ERROR too. */
const char *imap_parser_tag(const struct imap_parser *parser);
/* The command name as sent (NULL before it is read). */
const char *imap_parser_name(const struct imap_parser *parser);
/* After DONE: the arguments after the name (a list; count may be 0). Valid until the next feed
 * or reset. */
const struct imap_arg *imap_parser_args(const struct imap_parser *parser);

/* After LITERAL: the announced size and whether the client waits for "+ ". */
uint64_t imap_parser_literal_size(const struct imap_parser *parser);
bool imap_parser_literal_is_sync(const struct imap_parser *parser);
/* After LITERAL: it is a literal8 (~{n}): its data may hold any octet, NUL included. */
bool imap_parser_literal_is_binary(const struct imap_parser *parser);
/* After LITERAL: true when the literal is an argument of the command itself (not inside a list);
 * *index_r is its position among them (0: the first after the command name). */
bool imap_parser_literal_top_level(const struct imap_parser *parser, unsigned int *index_r);
/* After LITERAL, instead of feeding its data: the caller has read the literal's data itself; it
 * becomes an IMAP_ARG_LITERAL_TAKEN argument and parsing goes on after it (NEED_MORE), or
 * ERROR (too many arguments; the rest of the line is skipped). */
enum imap_parse_result imap_parser_literal_taken(struct imap_parser *parser);
/* Octets of the current command the parser holds: its line so far and the data of every
 * literal read into it (taken literals not counted). */
uint64_t imap_parser_command_size(const struct imap_parser *parser);

/* Typed access. Each returns false when the argument is not of that kind. */
bool imap_arg_get_atom(const struct imap_arg *arg, const char **str_r);
/* atom, NIL (as "NIL"), quoted string or literal */
bool imap_arg_get_astring(const struct imap_arg *arg, const char **str_r);
/* quoted string or literal (not a literal8) */
bool imap_arg_get_string(const struct imap_arg *arg, const char **str_r);
/* NIL gives NULL, else as imap_arg_get_string */
bool imap_arg_get_nstring(const struct imap_arg *arg, const char **str_r);
bool imap_arg_get_list(const struct imap_arg *arg, const struct imap_arg **list_r,
                       unsigned int *count_r);

#endif
