/* The IMAP response writer: tagged and untagged replies, strings quoted or as literals, flag
 * lists, and the modified UTF-7 check for mailbox names (RFC 3501 5.1.3). */
#ifndef TWOFOLD_IMAP_REPLY_H
#define TWOFOLD_IMAP_REPLY_H

#include "server/imap/imap-client.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct mail;
struct mailbox;

/* "<tag> <status> <text>\r\n" for the command being run. */
void imap_tagged(struct imap_client *c, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* vsnprintf into a new string (xfree it). */
char *imap_vformat(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
/* "* <text>\r\n" */
void imap_untagged(struct imap_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Answers BAD; before login the third bad command ends the session with BYE instead. */
enum imap_cmd_result imap_bad(struct imap_client *c, const char *msg);

/* Appends s[0..len) as a quoted string when it is short 7-bit text without CR, LF or NUL,
 * else as a literal. */
void imap_append_string(struct buf *out, const char *s, size_t len);
/* A mailbox name: "INBOX" (any case) as INBOX, else as imap_append_string. */
void imap_append_mailbox(struct buf *out, const char *name);
/* An nstring of ENVELOPE and BODYSTRUCTURE: NIL for NULL, a quoted string when s has only
 * 7-bit text without CR or LF (of any length), else a literal. */
void imap_append_nstring(struct buf *out, const char *s);
/* True when name is valid modified UTF-7 (printable ASCII, "&-", &base64- UTF-16 runs that
 * encode no printable ASCII and leave no stray bits). */
bool imap_mutf7_is_valid(const char *name);

/* Appends "(\Seen \Answered ... keyword ...)" for message m of box. */
void imap_append_flags(struct buf *out, const struct mailbox *box, const struct mail *m);
/* Appends "\Answered \Flagged \Deleted \Seen \Draft" and the mailbox's keywords. */
void imap_append_flag_names(struct buf *out, const struct mailbox *box);
/* Parses a flag list (a list, or a single flag atom) into system flags and keywords (keyword
 * bits created when create is true; when false unknown keywords are ignored). 0 ok, -1 BAD with
 * *error_r (unknown system flag, \Recent, bad atom), -2 keyword table full. */
int imap_parse_flags(struct mailbox *box, const struct imap_arg *arg, bool create,
                     unsigned *flags_r, uint64_t *keywords_r, const char **error_r);

/* Appends a set of numbers (ascending or not) as "1:3,7,9:10". */
void imap_append_numset(struct buf *out, const uint32_t *nums, size_t count);

#endif
