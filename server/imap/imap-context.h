/*
 * Search contexts (RFC 5267 section 4, CONTEXT=SEARCH and CONTEXT=SORT): a SEARCH or SORT
 * with RETURN (UPDATE) keeps its results (as UIDs, in mailbox or sort order) while the mailbox
 * stays selected, and each change to them is reported as an ESEARCH ADDTO or REMOVEFROM.
 * Only the messages that changed are looked at again: a flag change, an arrival, an expunge.
 */
#ifndef TWOFOLD_IMAP_CONTEXT_H
#define TWOFOLD_IMAP_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct imap_client;
struct imap_search;
struct imap_sort;

/* Contexts one session keeps: each holds 4 bytes per result. RFC 5267 asks for at least one. */
#define IMAP_CONTEXT_MAX 4

/* True when a context was made by a command with this tag (UPDATE then answers BAD). */
bool imap_context_tag_in_use(const struct imap_client *c, const char *tag);
/* Keeps *search (and *sort, NULL for SEARCH) with its results, view indexes in the order given,
 * under c->tag and c->uid; takes both on success. 1 kept, 0 refused (IMAP_CONTEXT_MAX reached:
 * the caller answers NO [NOUPDATE]). */
int imap_context_add(struct imap_client *c, struct imap_search **search, struct imap_sort **sort,
                     const size_t *indexes, size_t count);
/* Ends the context of tag: 1 done, 0 there is none. */
int imap_context_cancel(struct imap_client *c, const char *tag);
/* Ends every context (the mailbox is closed). */
void imap_context_free_all(struct imap_client *c);

/* The flags of known message index changed (this session's or another's). */
void imap_context_changed(struct imap_client *c, size_t index);
/* Messages [from, to) of the view were announced by EXISTS. */
void imap_context_arrived(struct imap_client *c, size_t from, size_t to);
/* The message that was index (its sequence number index + 1 until its EXPUNGE is sent) and
 * had uid is gone. */
void imap_context_expunged(struct imap_client *c, size_t index, uint32_t uid);
/* Writes the ADDTO / REMOVEFROM noted since the last flush, one ESEARCH per context. */
void imap_context_flush(struct imap_client *c);

#endif
