/* IMAP sequence sets (RFC 3501 "sequence-set"): "1,3:5,7:*" as ranges, and membership. */
#ifndef TWOFOLD_IMAP_SEQSET_H
#define TWOFOLD_IMAP_SEQSET_H

#include <stdbool.h>
#include <stdint.h>

/* Sequence sets. '*' is IMAP_SEQ_STAR, above every number (4294967295 is a number, not '*');
 * the caller substitutes the largest number in use. */
#define IMAP_SEQ_STAR ((uint64_t)UINT32_MAX + 1)

struct imap_seq_range {
	uint64_t lo, hi; /* lo <= hi */
};

/* Parses "1,3:5,7:*" into ranges (in the order given, each with lo <= hi). Rejects 0, "$",
 * empty elements and numbers over 2^32-1. Returns 1 ok, -1 with *error_r. *ranges_r is
 * allocated; free it with xfree. */
int imap_seqset_parse(const char *str, struct imap_seq_range **ranges_r, unsigned int *count_r,
                      const char **error_r);
/* True when n is in one of the ranges, reading '*' as star. */
bool imap_seqset_contains(const struct imap_seq_range *ranges, unsigned int count, uint32_t n,
                          uint32_t star);

#endif
