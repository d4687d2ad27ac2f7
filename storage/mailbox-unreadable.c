/*
 * Message files that are there but cannot be read (a file another tool left mode 0600 root, an
 * I/O error): the message stays in the view, marked unavailable, and the rest of the mailbox is
 * served; the file is tried again whenever it is needed, so it comes back once it can be read.
 * Each one is logged once per storage (one session), not at every command that meets it.
 */
#include "storage/storage-private.h"

#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <string.h>

/* Logged names kept per storage; beyond, one line says that more are not logged. */
#define UNREADABLE_LOGGED_MAX 256

bool mailbox_unreadable_errno(int err)
{
	return err != EMFILE && err != ENFILE && err != ENOMEM && err != EINTR;
}

static bool unreadable_seen(struct mail_storage *st, const char *id)
{
	for (size_t i = 0; i < st->unreadable_count; i++) {
		if (strcmp(st->unreadable[i], id) == 0)
			return true;
	}
	return false;
}

void mailbox_unreadable_note(struct mailbox *box, const char *key, const char *subdir,
                             const char *name, int err)
{
	struct mail_storage *st = box->st;
	char *id = xasprintf("%s/%s", box->name, key);

	if (unreadable_seen(st, id) || st->unreadable_more) {
		xfree(&id);
		return;
	}
	if (st->unreadable_count == UNREADABLE_LOGGED_MAX) {
		log_error("storage: more message files cannot be read; not logging each");
		st->unreadable_more = true;
		xfree(&id);
		return;
	}
	if (st->unreadable_count == st->unreadable_cap) {
		st->unreadable_cap = st->unreadable_cap == 0 ? 8 : st->unreadable_cap * 2;
		st->unreadable = xreallocarray(st->unreadable, st->unreadable_cap, sizeof(char *));
	}
	st->unreadable[st->unreadable_count++] = id;
	log_error("storage: mailbox %s: message file %s/%s cannot be read (%s): not served until "
	          "it can be",
	          log_quote(box->name), subdir, log_quote(name),
	          err != 0 ? strerror(err) : "it changed while read");
}

void mailbox_unreadable_free(struct mail_storage *st)
{
	for (size_t i = 0; i < st->unreadable_count; i++)
		xfree(&st->unreadable[i]);
	xfree(&st->unreadable);
	st->unreadable_count = st->unreadable_cap = 0;
}

bool mailbox_msg_unavailable(const struct mailbox *box, size_t index)
{
	return index < box->count && box->msgs[index].unavailable;
}

void mailbox_msg_set_unavailable(struct mailbox *box, size_t index, int err)
{
	struct msg_rec *m = &box->msgs[index];

	m->unavailable = true;
	mailbox_unreadable_note(box, m->key, "cur", m->name, err);
}

void mailbox_msg_read_failed(struct mailbox *box, size_t index, int err)
{
	if (index < box->count)
		mailbox_msg_set_unavailable(box, index, err);
}
