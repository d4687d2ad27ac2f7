/*
 * The base subject of RFC 5256 section 2.1: a Subject: value without its "Re:", "Fwd:",
 * "[list]" leaders, "(fwd)" trailers and "[Fwd: ...]" wrapping, for SORT SUBJECT (and the
 * threading by subject that builds on it).
 */
#ifndef TWOFOLD_IMAP_SUBJECT_H
#define TWOFOLD_IMAP_SUBJECT_H

struct buf;

#include <stdbool.h>

/* Appends the base subject of a raw Subject: value (encoded-words decoded to UTF-8, white
 * space runs made one space) to out. NULL (no Subject:) gives the empty base subject. True
 * when the subject said reply or forward ("Re:", "Fwd:", "(fwd)", "[Fwd: ...]"): threading
 * by subject puts such a message below one that does not. */
bool imap_base_subject(const char *subject, struct buf *out);

/* Compares two base subjects as RFC 5256 asks (i;ascii-casemap: ASCII letters without case,
 * every other byte as it is): <0, 0, >0. */
int imap_subject_cmp(const char *a, const char *b);

#endif
