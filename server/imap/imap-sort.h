/*
 * SORT (RFC 5256) and its DISPLAYFROM/DISPLAYTO keys (RFC 5957): the criteria, each message's
 * sort keys (read from its header once, then kept in the index's metadata cache), and the
 * order. cmd-sort.c glues it to the command; the search program is SEARCH's.
 */
#ifndef TWOFOLD_IMAP_SORT_H
#define TWOFOLD_IMAP_SORT_H

#include "server/imap/imap-parser.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct mailbox;
struct imap_sort;

/* Criteria in one SORT command (each may carry REVERSE): more is a client's mistake. */
#define IMAP_SORT_MAX_KEYS 16

/* Parses the parenthesised sort criteria. 0 ok, -1 with a message for a BAD reply. */
int imap_sort_parse(const struct imap_arg *criteria, struct imap_sort **sort_r,
                    const char **error_r);
void imap_sort_free(struct imap_sort **sort);

/* Orders indexes[0..count) (view indexes, ascending) by the criteria, ties by sequence
 * number. A message whose file vanished or cannot be read sorts with empty header keys.
 * 0 ok, -1 error (*error_r). */
int imap_sort_run(const struct imap_sort *sort, struct mailbox *box, size_t *indexes,
                  size_t count, const char **error_r);

/* Compares view messages a and b as imap_sort_run orders them: *cmp_r < 0 when a comes first.
 * 0 ok, -1 error (*error_r). */
int imap_sort_compare(const struct imap_sort *sort, struct mailbox *box, size_t a, size_t b,
                      int *cmp_r, const char **error_r);

/* The keys SORT and THREAD read from a message's header. */
enum imap_sort_text {
	SORT_TEXT_SUBJECT, /* the base subject (imap-subject.h) */
	SORT_TEXT_FROM,    /* the first address's mailbox (local part) */
	SORT_TEXT_TO,
	SORT_TEXT_CC,
	SORT_TEXT_DISPLAYFROM, /* the first address's display name, else its addr-spec */
	SORT_TEXT_DISPLAYTO,
	SORT_TEXT_MESSAGE_ID, /* its msg-id without <> and quoting; "" when none */
	SORT_TEXT_REFERENCES, /* References: (else In-Reply-To's first) msg-ids, space-separated */
	SORT_TEXT_COUNT
};

/* The References a message's keys keep: the last ones, which name its nearest ancestors. */
#define IMAP_SORT_REFERENCES_MAX 64

struct imap_sort_keys {
	time_t date; /* the Date: field in UTC; 0 when missing or unreadable (internal date then) */
	bool reply;  /* the subject says reply or forward (imap_base_subject) */
	char *text[SORT_TEXT_COUNT]; /* never NULL */
};

/* The keys of view message index: from the index's metadata cache, else read from its header
 * (up to its blank line) and cached. A message that vanished or cannot be read has empty keys.
 * 0 ok, -1 error. */
int imap_sort_keys_load(struct mailbox *box, size_t index, struct imap_sort_keys *keys,
                        const char **error_r);

/* The keys of a message's header (bytes [0..len), e.g. read up to its blank line). */
void imap_sort_keys_parse(const char *header, size_t len, struct imap_sort_keys *keys);
void imap_sort_keys_clear(struct imap_sort_keys *keys);

/* RFC 5322 date-time (obsolete forms too) as seconds since the epoch in UTC. 1 ok, 0 not a
 * date. */
int imap_sort_date_parse(const char *value, time_t *t_r);

#endif
