/* UID sets as ascending, disjoint, merged ranges (struct mailbox_uid_range): QRESYNC's
 * known-uids and seq-match-data (RFC 7162), and the VANISHED responses built from them. */
#ifndef TWOFOLD_IMAP_UIDSET_H
#define TWOFOLD_IMAP_UIDSET_H

#include "storage/storage.h"

#include <stddef.h>
#include <stdint.h>

struct buf;

/* Ranges one set may have as the client wrote it. An atom lies within one command line of at
 * most 64 KiB (imap-parser.c), so a client's set has fewer; the bound holds whatever the
 * parser's limits become. */
#define IMAP_UIDSET_RANGES_MAX 65536

/* A sequence-set: '*' stands for star, or is refused when star is 0. Sorted and merged.
 * 0 ok (*ranges_r allocated, NULL when empty), -1 invalid or too many ranges. */
int imap_uidset_parse(const char *str, uint32_t star, struct mailbox_uid_range **ranges_r,
                      size_t *count_r);
/* How many numbers the set holds. */
uint64_t imap_uidset_size(const struct mailbox_uid_range *set, size_t count);
/* The numbers in both a and b, into *out_r (allocated, NULL when empty). */
void imap_uidset_intersect(const struct mailbox_uid_range *a, size_t na,
                           const struct mailbox_uid_range *b, size_t nb,
                           struct mailbox_uid_range **out_r, size_t *count_r);
/* The numbers of set that are not in present[0..n) (ascending), into *out_r. */
void imap_uidset_absent(const struct mailbox_uid_range *set, size_t count, const uint32_t *present,
                        size_t n, struct mailbox_uid_range **out_r, size_t *count_r);
/* "1:3,5" */
void imap_uidset_render(struct buf *out, const struct mailbox_uid_range *set, size_t count);

#endif
