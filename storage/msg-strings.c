/*
 * The strings of a view's messages. One rule: every key, name and uidl of a mailbox view's
 * messages is carved from the view's name pool (box->names) and belongs to it; nothing frees
 * one alone. A message's uidl is its key itself or a string of its own, both in the pool. A
 * string replaced (a new file name after a flag change) or let go (an expunged message) is
 * counted dead; when the dead bytes outnumber the live ones, the live strings are copied into
 * a fresh pool and the old one freed, so a session that sees flags change all day keeps at most
 * about twice the bytes its messages need. That happens only at a sync or an expunge, where
 * pointers into the view may change (storage.h, struct mail).
 */
#include "storage/storage-sync.h"
#include "common/xalloc.h"
#include "storage/maildir-name.h"
#include "storage/name-pool.h"

#include <stdio.h>
#include <string.h>

/* The uidl of m, whose key is set: the key itself, or a string of its own (a Dovecot UIDL,
 * or the hash of a key that cannot be one). */
static void msg_strings_uidl(struct mailbox *box, struct msg_rec *m)
{
	char buf[MAILDIR_UIDL_HASH_LEN + 1];

	m->mail.uidl = m->key;
	if (mail_index_dovecot_uidl(box->index)) {
		snprintf(buf, sizeof(buf), "%08x%08x", m->mail.uid,
		         mail_index_uidvalidity(box->index));
		m->mail.uidl = name_pool_strdup(box->names, buf);
	} else if (maildir_key_uidl(m->key, buf) > 0) {
		m->mail.uidl = name_pool_strdup(box->names, buf);
	}
}

void msg_strings_set(struct mailbox *box, struct msg_rec *m, const struct scan_entry *e,
                     bool in_pool)
{
	if (in_pool) {
		m->key = e->key;
		m->name = e->name;
	} else {
		m->key = name_pool_strdup(box->names, e->key);
		m->name = name_pool_strdup(box->names, e->name);
	}
	msg_strings_uidl(box, m);
}

void msg_strings_rename(struct mailbox *box, struct msg_rec *m, const char *name)
{
	if (strcmp(m->name, name) == 0)
		return;
	name_pool_drop(box->names, m->name);
	m->name = name_pool_strdup(box->names, name);
}

void msg_strings_drop(struct mailbox *box, struct msg_rec *m)
{
	if (m->mail.uidl != m->key)
		name_pool_drop(box->names, m->mail.uidl);
	name_pool_drop(box->names, m->key);
	name_pool_drop(box->names, m->name);
	m->mail.uidl = m->key = m->name = NULL;
}

/* Copies every message's strings into a fresh pool, key and name side by side. */
static void msg_strings_compact(struct mailbox *box)
{
	struct name_pool *pool = name_pool_new();

	for (size_t i = 0; i < box->count; i++) {
		struct msg_rec *m = &box->msgs[i];
		char *key = name_pool_strdup(pool, m->key);

		m->mail.uidl = m->mail.uidl == m->key ? key : name_pool_strdup(pool, m->mail.uidl);
		m->key = key;
		m->name = name_pool_strdup(pool, m->name);
	}
	name_pool_free(&box->names);
	box->names = pool;
}

void msg_strings_tidy(struct mailbox *box)
{
	if (name_pool_wasteful(box->names))
		msg_strings_compact(box);
}
