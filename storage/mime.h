/*
 * Streaming MIME structure parser, for IMAP ENVELOPE, BODYSTRUCTURE and BODY[section] (their
 * IMAP syntax is server/imap/'s; decoding is mime-decode.h's).
 *
 * Feed a message in chunks of any size; the result is a tree of parts with the exact octet
 * offsets of each part's header and body in the message as fed, so any section can be served
 * from the file by offset. Sizes and offsets are raw octets; *_bare_lf counts line ends written
 * as a lone LF, so the size a client sees when the message is sent with CRLF line ends is
 * size + bare_lf (what RFC822.SIZE and BODYSTRUCTURE report for LF-only maildir files).
 *
 * Bad input never fails: nesting deeper than max_depth or parts beyond max_parts are not split
 * further (their bytes stay in the enclosing part's body), and overlong header blocks are
 * truncated for parsing (offsets stay exact).
 */
#ifndef TWOFOLD_MIME_H
#define TWOFOLD_MIME_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mime_param {
	char *name;  /* as sent; RFC 2231 extended values get a trailing '*' */
	char *value; /* continuations merged; extended: charset'lang'%-encoded */
};

/* Raw header values (unfolded, outer whitespace trimmed) of a message: the root and the body of
 * each message/rfc822 part. NULL when absent. */
struct mime_envelope {
	char *date, *subject, *from, *sender, *reply_to, *to, *cc, *bcc, *in_reply_to, *message_id;
};

struct mime_part {
	struct mime_part *parent, *children, *next;
	unsigned int child_count;

	/* Octets in the message. The header includes its blank line; the body of a multipart part
	 * ends before the line end that precedes the next boundary (RFC 2046). */
	uint64_t header_offset, header_size, header_bare_lf;
	uint64_t body_offset, body_size, body_lines, body_bare_lf;

	bool multipart;      /* children are the body parts */
	bool message_rfc822; /* the one child is the embedded message */

	/* Content-* fields; NULL when absent (rendered with the RFC 2045 defaults). */
	char *type, *subtype;
	struct mime_param *params;
	unsigned int param_count;
	char *id, *description, *encoding, *md5, *location;
	char *disposition;
	struct mime_param *disp_params;
	unsigned int disp_param_count;
	char **languages;
	unsigned int language_count;

	struct mime_envelope *envelope; /* root and embedded messages only */
};

struct mime_limits {
	unsigned int max_depth; /* nesting of multiparts and message/rfc822 */
	unsigned int max_parts; /* parts in the whole tree */
	size_t max_header_size; /* octets of one header block kept for parsing */
};

extern const struct mime_limits mime_limits_default;

struct mime_parser;

struct mime_parser *mime_parser_new(const struct mime_limits *limits);
void mime_parser_feed(struct mime_parser *parser, const void *data, size_t size);
/* Ends the input, frees the parser and returns the root part (the whole message). */
struct mime_part *mime_parser_finish(struct mime_parser **parser);
void mime_part_free(struct mime_part **root);

/* Parses a whole message held in memory. */
struct mime_part *mime_parse(const void *data, size_t size, const struct mime_limits *limits);

/*
 * The part an IMAP section's part numbers name ("1.2" = {1, 2}), or NULL. With no numbers the
 * root is returned. Numbers step into multipart children; a number after a message/rfc822
 * part first enters its enclosed message, and 1 names a non-multipart itself (so the body of a
 * message whose top-level type is message/rfc822 is its part 1, RFC 3501 6.4.5). BODY[n] is
 * that part's body, [n.MIME] its header; for a message/rfc822 part [n.HEADER] / [n.TEXT] are
 * its child's header / body.
 */
const struct mime_part *mime_part_find(const struct mime_part *root, const uint32_t *nums,
                                       unsigned int count);

/* The first parameter with this name (case-insensitive), or NULL. */
const struct mime_param *mime_param_find(const struct mime_param *params, unsigned int count,
                                         const char *name);

/* One address of an address header, as ENVELOPE shows it (RFC 3501): a group's start has host
 * NULL and the group's name as mailbox, its end all four NULL; a missing mailbox or host reads
 * "MISSING_MAILBOX" / "MISSING_DOMAIN". */
struct mime_address {
	const char *name, *route, *mailbox, *host;
};

/* A header can hold tens of thousands of one-character "addresses" ("@@@@..."): each becomes
 * a 4-tuple, so ENVELOPE of a 256 KiB header would be tens of MB. Real mail stays far below. */
#define MIME_ADDRESS_MAX 1000

/* Calls cb for each address of an address header's value (From, To, ...), group markers
 * included, until max calls were made (a group's end marker may add one). Returns the number
 * of calls. */
unsigned int mime_address_parse(const char *value, unsigned int max,
                                void (*cb)(const struct mime_address *addr, void *ctx), void *ctx);
/* Appends the addresses of an address header's value as text for SEARCH, one
 * "name <mailbox@host>" a line (no name: "<mailbox@host>"; a group: "name:"): comments, routes
 * and quoting are gone, encoded-words left as they are. */
void mime_addresses_text(const char *value, struct buf *out);

#endif
