/* CONDSTORE (RFC 7162): parsing its command parameters (bounded, session-independent, reached
 * by the parser fuzz target) and the session side (cmd-condstore.c). */
#ifndef TWOFOLD_IMAP_CONDSTORE_H
#define TWOFOLD_IMAP_CONDSTORE_H

#include "server/imap/imap-parser.h"

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

/* SELECT/EXAMINE parameters "(CONDSTORE)". */
struct imap_select_params {
	bool condstore;
};
int imap_select_params_parse(const struct imap_arg *arg, struct imap_select_params *params_r,
                             const char **error_r);

/* SEARCH's "MODSEQ [entry-name entry-type] n" from args[0..count): the argument count it took
 * (2 or 4), -1 invalid. */
int imap_search_modseq_parse(const struct imap_arg *args, unsigned count, uint64_t *modseq_r);

#endif
