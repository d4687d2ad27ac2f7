/* CONDSTORE (RFC 7162): parsing its command parameters (bounded, session-independent, reached
 * by the parser fuzz target) and the session side (cmd-condstore.c). */
#ifndef TWOFOLD_IMAP_CONDSTORE_H
#define TWOFOLD_IMAP_CONDSTORE_H

#include "server/imap/imap-parser.h"
#include "server/imap/imap-uidset.h"

#include <stdbool.h>
#include <stdint.h>

/* A mod-sequence-value: 1 to 2^63-1 in decimal, or also 0 when zero_ok (mod-sequence-valzer).
 * 0 ok, -1 invalid. */
int imap_modseq_parse(const char *s, bool zero_ok, uint64_t *modseq_r);

/* FETCH modifiers "(CHANGEDSINCE n [VANISHED])" and "(PARTIAL m:n)" (RFC 9394), in any
 * order. */
struct imap_fetch_mods {
	uint64_t changedsince; /* messages whose MODSEQ is above it */
	bool changedsince_set;
	bool vanished;
	bool partial_set;
	int64_t partial_lo, partial_hi; /* as imap_search_partial_parse reads them */
};
int imap_fetch_mods_parse(const struct imap_arg *arg, struct imap_fetch_mods *mods_r,
                          const char **error_r);

/* STORE modifiers "(UNCHANGEDSINCE n)": *unchangedsince_r, UINT64_MAX when absent. */
int imap_store_mods_parse(const struct imap_arg *arg, uint64_t *unchangedsince_r,
                          const char **error_r);

/* QRESYNC's "(uidvalidity modseq [known-uids] [(known-sequence-set known-uid-set)])"
 * (RFC 7162 3.2.5). The sets are sorted and merged (imap-uidset.h); the n-th number of seqs
 * goes with the n-th of uids (both hold as many). */
struct imap_qresync_params {
	uint32_t uidvalidity;
	uint64_t modseq;
	struct mailbox_uid_range *known; /* NULL: every UID */
	size_t known_count;
	struct mailbox_uid_range *seqs, *uids; /* seq-match-data, NULL when absent */
	size_t seqs_count, uids_count;
};

/* SELECT/EXAMINE parameters "(CONDSTORE)", "(QRESYNC (...))". Free with
 * imap_select_params_free (also after a failed parse). */
struct imap_select_params {
	bool condstore;
	bool qresync;
	struct imap_qresync_params q;
};
int imap_select_params_parse(const struct imap_arg *arg, struct imap_select_params *params_r,
                             const char **error_r);
void imap_select_params_free(struct imap_select_params *params);

/* SEARCH's "MODSEQ [entry-name entry-type] n" from args[0..count): the argument count it took
 * (2 or 4), -1 invalid. */
int imap_search_modseq_parse(const struct imap_arg *args, unsigned count, uint64_t *modseq_r);

#endif
