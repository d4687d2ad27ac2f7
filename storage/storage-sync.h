/* The sync's directory listings and the steps storage.c (listing, sync, view) and
 * mailbox-msg.c (message access, flag changes, expunge) share. Internal to storage/. */
#ifndef TWOFOLD_STORAGE_SYNC_H
#define TWOFOLD_STORAGE_SYNC_H

#include "storage/storage-private.h"

#include <stdbool.h>
#include <stddef.h>

/* One directory listing, with a hash of keys. Keys and names live in the listing's pool. */
struct scan_entry {
	char *name; /* right after key, in the same pool allocation */
	char *key;
	struct maildir_name parsed;
	struct mail_index_rec rec;
	time_t order; /* delivery order of a fresh entry: its date, else its name's time */
	bool used, indexed;
	bool ready;         /* measured, or left unmeasured on purpose: can be indexed */
	bool reorder_moved; /* inside scan_order_apply */
};

struct scan {
	struct scan_entry *e;
	size_t count, cap;
	struct name_pool *pool;
	struct scan_slot *hash;
	size_t hash_size;
	bool reordered; /* by scan_order_apply: the hash is gone */
};

/* ---- listings (storage-scan.c) ---- */
struct scan_entry *scan_lookup(const struct scan *sc, const char *key);
void scan_free(struct scan *sc);
int scan_dir(int dirfd, struct scan *sc, const char **error_r);

/* ---- the order of a listing (scan-order.c) ---- */
/* Sorts list[0..n) (entries of a listing) in delivery order. */
void scan_order_sort(struct scan_entry **list, size_t n);
/* For a big list (else nothing): moves list[0..n) to the front of sc in list order and
 * copies their keys and names into a new pool in that order; list[i] becomes &sc->e[i]; the
 * key hash is dropped. */
void scan_order_apply(struct scan *sc, struct scan_entry **list, size_t n);
/* Sorts list[0..n) (indexed entries) by UID. */
void scan_order_by_uid(struct scan_entry **list, size_t n);

/* ---- the view (storage.c) ---- */
bool rec_set_name(struct mailbox *box, struct msg_rec *m, const struct scan_entry *e);
int msg_probe(struct mailbox *box, size_t index);
size_t sync_known(struct mailbox *box, struct scan *sc, bool mark_gone);
void sync_append_new(struct mailbox *box, struct scan *sc);
/* mailbox-modseq.c: inside the sync's transaction, rows of entries about to join the view
 * whose recorded flags differ from their file's get a new MODSEQ. */
int mailbox_modseq_fresh(struct mailbox *box, struct scan *sc, const char **error_r);

/* ---- the strings of the view's messages, all in box->names (msg-strings.c) ---- */
/* Gives m (uid set) e's key and name (copied into box->names unless in_pool: e's listing pool
 * became box->names) and its uidl. */
void msg_strings_set(struct mailbox *box, struct msg_rec *m, const struct scan_entry *e,
                     bool in_pool);
/* Gives m a copy of name as its file name (unless it is m's already); the old one is dead. */
void msg_strings_rename(struct mailbox *box, struct msg_rec *m, const char *name);
/* m's strings are dead (m leaves the view). */
void msg_strings_drop(struct mailbox *box, struct msg_rec *m);
/* Copies the live strings into a fresh pool when most of box->names is dead. Pointers to the
 * strings change: only at a sync or an expunge (storage.h, struct mail). */
void msg_strings_tidy(struct mailbox *box);

/* ---- message files (mailbox-msg.c) ---- */
int msg_rename_locked(struct mailbox *box, const char *from, const char *to);

#endif
