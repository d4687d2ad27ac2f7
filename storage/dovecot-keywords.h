/*
 * Dovecot's "dovecot-keywords" in a maildir it served: the keyword each info letter a..z of a
 * file name (":2,Sab") stands for. Read when twofold takes the maildir over (storage/index.c,
 * see dovecot-uidlist.h), never written.
 */
#ifndef TWOFOLD_STORAGE_DOVECOT_KEYWORDS_H
#define TWOFOLD_STORAGE_DOVECOT_KEYWORDS_H

#include <stddef.h>

#define DOVECOT_KEYWORDS_FILE      "dovecot-keywords"
#define DOVECOT_KEYWORDS_BYTES_MAX 8192
#define DOVECOT_KEYWORDS_MAX       26 /* letters a..z */

/* names[letter - 'a'], NULL for a letter without a keyword. */
struct dovecot_keywords {
	char *names[DOVECOT_KEYWORDS_MAX];
};

/* Lines "<number 0..25> <name>"; a name that is no IMAP keyword atom is left out. 0 ok, -1 a
 * broken file (kw then holds nothing). */
int dovecot_keywords_parse(const void *data, size_t len, struct dovecot_keywords *kw,
                           const char **error_r);
/* Reads DOVECOT_KEYWORDS_FILE beneath dirfd. 1 read, 0 absent or ignored (logged). */
int dovecot_keywords_read(int dirfd, struct dovecot_keywords *kw);
void dovecot_keywords_clear(struct dovecot_keywords *kw);

#endif
