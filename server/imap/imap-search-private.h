/*
 * The parsed search program, shared by the parser/renderer (imap-search.c), the matcher
 * (imap-search-match.c) and the text helpers (imap-search-text.c). Private to the SEARCH engine.
 */
#ifndef TWOFOLD_IMAP_SEARCH_PRIVATE_H
#define TWOFOLD_IMAP_SEARCH_PRIVATE_H

#include "server/imap/imap-search.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* Nesting of parentheses, NOT and OR in one program. */
#define SEARCH_MAX_DEPTH 64

enum skey_type {
	SKEY_ALL,
	SKEY_AND,     /* children: all must match */
	SKEY_OR,      /* children[0] or children[1] */
	SKEY_NOT,     /* children[0] must not match */
	SKEY_FLAG,    /* flag set (or clear, with negate) */
	SKEY_KEYWORD, /* str: keyword name; negate for UNKEYWORD */
	SKEY_SEQSET,  /* ranges of sequence numbers */
	SKEY_UIDSET,  /* ranges of UIDs */
	SKEY_LARGER,  /* number */
	SKEY_SMALLER, /* number */
	SKEY_BEFORE,  /* date: internal date, yyyymmdd */
	SKEY_ON,
	SKEY_SINCE,
	SKEY_SENTBEFORE, /* date: Date: header */
	SKEY_SENTON,
	SKEY_SENTSINCE,
	SKEY_HEADER, /* field: name; str: folded needle ("" = the field exists); address: the
	              * field's parsed addresses are searched, not its text (FROM TO CC BCC) */
	SKEY_BODY,   /* str: folded needle */
	SKEY_TEXT,   /* str: folded needle, header or body */
	SKEY_MODSEQ, /* number: MODSEQ at least this (RFC 7162) */
	SKEY_SAVED,  /* "$" or "UID $": the UID is in the saved result (RFC 5182) */
};

struct skey {
	enum skey_type type;
	bool negate;
	bool address; /* SKEY_HEADER */
	unsigned flag;   /* SKEY_FLAG: enum mail_flags */
	uint64_t number; /* LARGER / SMALLER; dates as yyyymmdd */
	char *field;
	char *str;
	size_t str_len;
	struct imap_seq_range *ranges;
	unsigned int range_count;
	struct skey **children;
	unsigned int child_count, child_alloc;
};

struct imap_search {
	struct skey *root;
	unsigned ret;
	bool esearch;
	bool modseq; /* a MODSEQ key: the result carries the highest MODSEQ */
	int64_t partial_lo, partial_hi; /* RETURN (PARTIAL lo:hi), as written */
	const uint32_t *saved;          /* what "$" names, ascending UIDs (not owned) */
	size_t saved_count;
};

/* True when the key (or one below it) reads the message file. */
bool search_key_reads_file(const struct skey *key);

/* Appends s[0..len) case-folded (ASCII, and the common Latin, Greek and Cyrillic letters of
 * UTF-8) to out. */
void search_fold(const char *s, size_t len, struct buf *out);

/* "1-Feb-1994" (day may have two digits) as yyyymmdd; 0 invalid. */
uint32_t search_date_parse(const char *s);
/* The date written in an RFC 5322 Date: value as yyyymmdd; 0 when it cannot be read. */
uint32_t search_header_date(const char *value);

#endif
