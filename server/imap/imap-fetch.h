/*
 * FETCH: parsing the item list and writing one message's FETCH response. Independent of the
 * session so it can be tested on its own; cmd-fetch.c glues it to the command.
 */
#ifndef TWOFOLD_IMAP_FETCH_H
#define TWOFOLD_IMAP_FETCH_H

#include "server/imap/imap-parser.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct mailbox;
struct imap_fetch;

/* Parses the FETCH items (a single item, a macro ALL/FAST/FULL, or a parenthesised list) of
 * args. uid: the command was UID FETCH (UID is then always included). 0 ok, -1 with a message
 * for a BAD reply. */
int imap_fetch_parse(const struct imap_arg *args, bool uid, struct imap_fetch **fetch_r,
                     const char **error_r);
void imap_fetch_free(struct imap_fetch **fetch);
/* FLAGS without \Recent (IMAP4rev2). */
void imap_fetch_hide_recent(struct imap_fetch *fetch);

/* MODSEQ (RFC 7162): asked for, and added (unless there; with if_flags only when FLAGS is
 * asked for: a CONDSTORE client is told the MODSEQ of the flags it reads). */
bool imap_fetch_has_modseq(const struct imap_fetch *fetch);
void imap_fetch_add_modseq(struct imap_fetch *fetch, bool if_flags);

/* True when some item sets \Seen (BODY[...] or BINARY[...] without .PEEK, RFC822,
 * RFC822.TEXT): the caller sets \Seen before imap_fetch_write so FLAGS shows it. */
bool imap_fetch_sets_seen(const struct imap_fetch *fetch);

/* After imap_fetch_write answered 0: the message has a part asked for with BINARY whose
 * Content-Transfer-Encoding is unknown (RFC 3516: the command fails with NO [UNKNOWN-CTE]);
 * nothing of it was written. */
bool imap_fetch_unknown_cte(const struct imap_fetch *fetch);

/* Writes "* <seq> FETCH (...)\r\n" for message index of box to out, streaming message data from
 * the file (never holding a large message in memory), with exact literal sizes: messages are
 * sent with CRLF line ends (bare LF -> CRLF), partials <o.n> counted on that form. Uses and
 * fills the metadata cache (mailbox_cache_get/put) for ENVELOPE and BODYSTRUCTURE. 1 written,
 * 0 the message has vanished or its file cannot be read (mailbox_msg_unavailable tells which):
 * nothing written, or, when a read failed midway, a well-formed response with its literal
 * padded; the caller reports it. -1 error (*error_r). */
int imap_fetch_write(struct imap_fetch *fetch, struct mailbox *box, size_t index, uint32_t seq,
                     struct conn *out, const char **error_r);

#endif
