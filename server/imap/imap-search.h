/*
 * SEARCH: parsing the search program (every RFC 3501 key, CHARSET US-ASCII / UTF-8, and the
 * ESEARCH RETURN options) and matching messages. cmd-search.c glues it to the command.
 */
#ifndef TWOFOLD_IMAP_SEARCH_H
#define TWOFOLD_IMAP_SEARCH_H

#include "server/imap/imap-parser.h"
#include "server/imap/imap-seqset.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct mailbox;
struct imap_search;

enum imap_search_return {
	IMAP_SEARCH_RETURN_NONE = 0, /* plain SEARCH: "* SEARCH n n n" */
	IMAP_SEARCH_RETURN_MIN = 1 << 0,
	IMAP_SEARCH_RETURN_MAX = 1 << 1,
	IMAP_SEARCH_RETURN_ALL = 1 << 2,
	IMAP_SEARCH_RETURN_COUNT = 1 << 3,
	/* RFC 5267 section 4 / RFC 9394: a window of the results, and live updates */
	IMAP_SEARCH_RETURN_PARTIAL = 1 << 4,
	IMAP_SEARCH_RETURN_UPDATE = 1 << 5,
	IMAP_SEARCH_RETURN_CONTEXT = 1 << 6, /* a hint: accepted, changes nothing */
	IMAP_SEARCH_RETURN_SAVE = 1 << 7,    /* SEARCHRES (RFC 5182): keep the result for "$" */
};

/* Parses a PARTIAL range (RFC 9394): "m:n" or "-m:-n", m and n from 1 to 2^32-1, in either
 * order. *lo_r and *hi_r are the numbers as written (negative for the "-" form). 0 ok, -1
 * not a range. */
int imap_search_partial_parse(const char *s, int64_t *lo_r, int64_t *hi_r);
/* The window [*first_r, *first_r + *n_r) of count results that the range lo:hi names. */
void imap_search_partial_window(int64_t lo, int64_t hi, size_t count, size_t *first_r, size_t *n_r);

/* Parses args after "SEARCH" (optional RETURN (...), optional CHARSET x, then keys).
 * 0 ok; -1 with *error_r and *bad_charset_r set when the charset is not supported (reply
 * NO [BADCHARSET (US-ASCII UTF-8)]), else a BAD reply. */
int imap_search_parse(const struct imap_arg *args, struct imap_search **search_r,
                      bool *bad_charset_r, const char **error_r);
void imap_search_free(struct imap_search **search);
unsigned imap_search_return(const struct imap_search *search); /* enum imap_search_return */
/* True when RETURN was given at all (the reply is then ESEARCH, even with no options). */
bool imap_search_is_esearch(const struct imap_search *search);
/* The RETURN (PARTIAL lo:hi) range as written (0:0 without PARTIAL). */
void imap_search_partial_range(const struct imap_search *search, int64_t *lo_r, int64_t *hi_r);
/* False for RETURN (SAVE) alone: the command sends no ESEARCH then (RFC 5182 2.1). */
bool imap_search_has_reply(const struct imap_search *search);
/* What "$" names while the program runs (SEARCHRES): ascending UIDs, kept by the caller. */
void imap_search_set_saved(struct imap_search *search, const uint32_t *uids, size_t count);
/* IMAP4rev2 (RFC 9051 6.4.4): a search without RETURN is answered as RETURN (ALL). */
void imap_search_force_esearch(struct imap_search *search);
/* True when the program has a MODSEQ key (RFC 7162): the result then carries the highest
 * MODSEQ of the matches. */
bool imap_search_has_modseq(const struct imap_search *search);

/* Does message index (sequence number seq, of count messages in the client's view) match?
 * 1 yes, 0 no, -1 error. Header/body keys read the file (through the MIME parser, decoding
 * encoded-words and transfer encodings; case-insensitive substring match). */
int imap_search_match(struct imap_search *search, struct mailbox *box, size_t index, uint32_t seq,
                      uint32_t count, const char **error_r);

/* Renders the result for matches (sequence numbers or UIDs, ascending or in SORT's order)
 * into out: either "* SEARCH ..." or "* ESEARCH (TAG "t") [UID] MIN n MAX n ALL set
 * PARTIAL (m:n set) COUNT n", without CRLF. MIN and MAX are the first and last matches. */
void imap_search_render(const struct imap_search *search, const char *tag, bool uid,
                        const uint32_t *matches, size_t count, struct buf *out);
/* "1:3,5,7:9": consecutive ascending numbers as ranges, the rest in the order given. */
void imap_search_render_set(struct buf *out, const uint32_t *v, size_t count);
/* '* ESEARCH (TAG "t")' with the tag quoted. */
void imap_search_render_tag(struct buf *out, const char *tag);

#endif
