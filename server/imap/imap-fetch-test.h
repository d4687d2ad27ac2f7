/* What the FETCH engine's tests look at beyond its API: no production code uses this. */
#ifndef TWOFOLD_IMAP_FETCH_TEST_H
#define TWOFOLD_IMAP_FETCH_TEST_H

/* Messages parsed with the MIME parser by imap_fetch_write since the process started: that a
 * cached ENVELOPE / BODYSTRUCTURE needs no second parse. */
unsigned long imap_fetch_parse_count(void);

#endif
