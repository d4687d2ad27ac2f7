/*
 * Dovecot's "dovecot-uidlist", read when twofold takes a Dovecot maildir over (storage/index.c)
 * so that clients keep their caches: UIDVALIDITY, the next UID and each file's UID, in format 1
 * (Dovecot 1.0, the layout of Courier's courierimapuiddb) or 3 (Dovecot 1.1 and later). Only
 * read, never written: Dovecot can still serve the maildir after a trial. dovecot-keywords.h
 * reads the keyword letters. The parser is bounded and fed any split of the bytes; a file that
 * breaks one rule (UIDs not ascending, a UID at or above the next UID, a name with '/', a line
 * too long, too many lines) is ignored whole with one log line, so that no UID of it is half
 * trusted.
 */
#ifndef TWOFOLD_STORAGE_DOVECOT_UIDLIST_H
#define TWOFOLD_STORAGE_DOVECOT_UIDLIST_H

#include <stddef.h>
#include <stdint.h>

#define DOVECOT_UIDLIST_FILE "dovecot-uidlist"
/* A record line is a UID, a few short fields and a file name of at most NAME_MAX bytes. */
#define DOVECOT_UIDLIST_LINE_MAX 2048
/* Bounds for a hostile file: bytes read and records kept. */
#define DOVECOT_UIDLIST_BYTES_MAX   (256u * 1024 * 1024)
#define DOVECOT_UIDLIST_RECORDS_MAX (8u * 1024 * 1024)

struct dovecot_uidlist;
struct dovecot_uidlist_parser;

struct dovecot_uidlist_parser *dovecot_uidlist_parser_new(void);
/* Feeds the next bytes. 0 so far so good, -1 the file is broken (*error_r says why; later
 * feeds are ignored). */
int dovecot_uidlist_parser_feed(struct dovecot_uidlist_parser *p, const void *data, size_t len,
                                const char **error_r);
/* Ends the input (an unterminated last line, an append in progress, is left out) and frees the
 * parser. 0 with *list_r, -1 broken. */
int dovecot_uidlist_parser_finish(struct dovecot_uidlist_parser **p,
                                  struct dovecot_uidlist **list_r, const char **error_r);
void dovecot_uidlist_free(struct dovecot_uidlist **list);

uint32_t dovecot_uidlist_uidvalidity(const struct dovecot_uidlist *list);
/* Above every UID of the list. */
uint32_t dovecot_uidlist_next_uid(const struct dovecot_uidlist *list);
size_t dovecot_uidlist_count(const struct dovecot_uidlist *list);
/* The UID of the message whose twofold key (maildir-name.h) is key; 0 when not listed. */
uint32_t dovecot_uidlist_lookup(const struct dovecot_uidlist *list, const char *key);

/* Reads DOVECOT_UIDLIST_FILE beneath dirfd. 1 read, 0 absent or ignored (logged). */
int dovecot_uidlist_read(int dirfd, struct dovecot_uidlist **list_r);

#endif
