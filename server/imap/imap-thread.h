/*
 * THREAD (RFC 5256): ORDEREDSUBJECT and REFERENCES over the keys SORT reads (imap-sort.h),
 * rendered as the THREAD response's list of threads. cmd-sort.c glues it to the command.
 */
#ifndef TWOFOLD_IMAP_THREAD_H
#define TWOFOLD_IMAP_THREAD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct buf;
struct imap_sort_keys;

enum imap_thread_algorithm {
	IMAP_THREAD_ORDEREDSUBJECT,
	IMAP_THREAD_REFERENCES,
};

/* "ORDEREDSUBJECT" / "REFERENCES" (any case). 0 ok, -1 unknown. */
int imap_thread_algorithm_parse(const char *name, enum imap_thread_algorithm *alg_r);

/* One message to thread: its number as the client names it (sequence number or UID), its sent
 * date (the Date: field, else its internal date) and its header keys. Messages come in
 * mailbox order, which breaks ties of date. */
struct imap_thread_msg {
	uint32_t number;
	time_t date;
	const struct imap_sort_keys *keys;
};

/* Appends the threads of msgs[0..count) to out as RFC 5256 writes them: "(1 2 (3)(4 5))(6)".
 * Bounded: no recursion on the threads' depth. */
void imap_thread_render(enum imap_thread_algorithm alg, const struct imap_thread_msg *msgs,
                        size_t count, struct buf *out);

#endif
