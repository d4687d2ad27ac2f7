/* A mailbox index taken over from Dovecot: its UIDVALIDITY, UIDs, keywords and POP3 UIDL
 * format, read from dovecot-uidlist and dovecot-keywords. Internal to storage/ (index.c). */
#ifndef TWOFOLD_STORAGE_INDEX_DOVECOT_H
#define TWOFOLD_STORAGE_INDEX_DOVECOT_H

#include "storage/index-private.h"

/* meta "uidl": the POP3 UIDL format of a mailbox taken over from Dovecot */
#define INDEX_UIDL_DOVECOT 1

/* A new index of a maildir Dovecot served: when dovecot-uidlist is usable, takes its
 * UIDVALIDITY and sets *uidnext_r to its next UID (true); false when there is none. */
bool index_dovecot_take(struct mail_index *idx, uint32_t *uidnext_r);
/* Reads the UIDL format; a rebuild of a mailbox taken over from Dovecot reads Dovecot's files. */
int index_dovecot_setup(struct mail_index *idx, const char **error_r);

#endif
