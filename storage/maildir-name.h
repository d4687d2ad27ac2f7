/*
 * Maildir file names: "<base>[:2,<info>]". The base is the unique name (it may carry ",S=<size>",
 * ",W=<crlf size>" and, for files twofold wrote itself, ",U=<uid>" fields); the info after ":2,"
 * holds the flag letters (D F P R S T, lowercase letters are keywords of other tools).
 * Pure string functions: no I/O, safe on any input (fuzzed by tests/fuzz/fuzz-maildir-name.c).
 */
#ifndef TWOFOLD_MAILDIR_NAME_H
#define TWOFOLD_MAILDIR_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct maildir_name {
	size_t base_len;  /* name[0..base_len) is the base */
	const char *rest; /* everything after the base ("" or ":2,FS" or ":1,...") */
	bool has_info;    /* rest starts with ":2," */
	unsigned flags;   /* enum mail_flags from the info */
	bool has_size, has_vsize, has_uid;
	uint64_t size;  /* S= */
	uint64_t vsize; /* W= */
	uint32_t uid;   /* U= */
};

/* Parses a directory entry name. 1 ok, 0 when the name is not a message (empty, dot file,
 * empty base). */
int maildir_name_parse(const char *name, struct maildir_name *r);
/* Flags encoded by an info string (the part after ":2,"). Unknown letters are ignored. */
unsigned maildir_info_flags(const char *info);
/* The new "rest" for a file: ":2," + the standard letters of flags + the unknown letters kept
 * from old_rest's info, sorted and unique (as the maildir spec asks). Caller frees. */
char *maildir_rest_with_flags(const char *old_rest, unsigned flags);

/* The message key into key (room for r->base_len + 1 bytes; key must not overlap name): the
 * base without the ,S= ,W= and ,U= fields, so that it stays the same when twofold adds them (on
 * new/ -> cur/, append, copy) and when flags change. It keys the index and is the POP3 UIDL
 * (see maildir_key_uidl). */
void maildir_name_key_to(const char *name, const struct maildir_name *r, char *key);
/* The delivery time at the start of a unique name ("<seconds>.M..."). 1 found, 0 not. */
int maildir_name_time(const char *name, time_t *time_r);

/* RFC 1939 allows a UIDL of 1-70 characters in 0x21-0x7E. A key within that is its own UIDL
 * (0 returned); any other key gets the hex of its 128-bit BLAKE2b hash (just as stable),
 * written to hash_r (1 returned). */
#define MAILDIR_UIDL_MAX      70
#define MAILDIR_UIDL_HASH_LEN 32
int maildir_key_uidl(const char *key, char hash_r[MAILDIR_UIDL_HASH_LEN + 1]);

#endif
