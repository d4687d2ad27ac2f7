/* Selected-state housekeeping: CHECK CLOSE UNSELECT EXPUNGE, UID EXPUNGE (RFC 4315). */
#include "server/imap/imap-client.h"
#include "server/imap/imap-reply.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "storage/storage.h"

enum imap_cmd_result imap_cmd_check(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	(void)a;
	if (n != 0)
		return imap_bad(c, "CHECK takes no arguments.");
	imap_ok(c, "Check completed.");
	return IMAP_CMD_OK;
}

/* Marks \Deleted messages (limited to sel when not NULL). */
static bool *imap_deleted_marks(struct imap_client *c, const bool *sel)
{
	size_t count = mailbox_count(c->box);
	bool *remove = xcalloc(count + 1, sizeof(bool));

	for (size_t i = 0; i < count && i < c->known_count; i++) {
		remove[i] =
		    (mailbox_get(c->box, i)->flags & MAIL_DELETED) != 0 && (sel == NULL || sel[i]);
	}
	return remove;
}

/* The HIGHESTMODSEQ a QRESYNC client has seen everything up to, for CLOSE's reply (RFC 7162):
 * the view's, without a sync, since CLOSE reports nothing another session did (it is below the
 * expunge's own MODSEQ: the client hears of those UIDs again, harmlessly). 0 for none: not
 * enabled, or another session's expunge the client was not told of yet (a NO_EXPUNGE command
 * found it) may lie below it. */
static uint64_t imap_close_modseq(const struct imap_client *c)
{
	size_t n = mailbox_count(c->box);

	if (!c->qresync)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (mailbox_msg_gone(c->box, i))
			return 0;
	}
	return mailbox_highest_modseq(c->box);
}

enum imap_cmd_result imap_cmd_close(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	const char *error;
	uint64_t modseq;

	(void)a;
	if (n != 0)
		return imap_bad(c, "CLOSE takes no arguments.");
	if (!c->readonly) {
		/* silent: no EXPUNGE responses after CLOSE */
		bool *remove = imap_deleted_marks(c, NULL);

		if (mailbox_expunge(c->box, remove, &error) < 0)
			log_error("imap user=%s: expunge on close failed: %s", c->user, error);
		xfree(&remove);
	}
	modseq = imap_close_modseq(c);
	imap_mailbox_unselect(c);
	if (modseq != 0)
		imap_ok(c, "[HIGHESTMODSEQ %llu] Close completed.", (unsigned long long)modseq);
	else
		imap_ok(c, "Close completed.");
	return IMAP_CMD_OK;
}

enum imap_cmd_result imap_cmd_unselect(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	(void)a;
	if (n != 0)
		return imap_bad(c, "UNSELECT takes no arguments.");
	imap_mailbox_unselect(c);
	imap_ok(c, "Unselect completed.");
	return IMAP_CMD_OK;
}

enum imap_cmd_result imap_cmd_expunge(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	const char *set, *error;
	bool *sel = NULL, *remove;
	int r;

	if (c->uid && (n != 1 || !imap_arg_get_atom(&a[0], &set)))
		return imap_bad(c, "UID EXPUNGE takes a UID set.");
	if (!c->uid && n != 0)
		return imap_bad(c, "EXPUNGE takes no arguments.");
	if (c->readonly) {
		imap_tagged(c, "NO", "[READ-ONLY] The mailbox is read-only.");
		return IMAP_CMD_OK;
	}
	if (c->uid && imap_seqset_select(c, set, true, &sel, &error) < 0)
		return imap_bad(c, error);
	remove = imap_deleted_marks(c, sel);
	r = imap_expunge_marked(c, remove, &error);
	xfree(&remove);
	xfree(&sel);
	if (r < 0) {
		log_error("imap user=%s: expunge failed: %s", c->user, error);
		imap_storage_failed(c, "Expunge", error);
		return IMAP_CMD_OK;
	}
	if (!c->qresync) {
		imap_ok(c, "Expunge completed.");
		return IMAP_CMD_OK;
	}
	/* the untagged updates first, so that HIGHESTMODSEQ covers them (RFC 7162) */
	imap_sync_report(c, true);
	imap_ok(c, "[HIGHESTMODSEQ %llu] Expunge completed.",
	        (unsigned long long)mailbox_highest_modseq(c->box));
	return IMAP_CMD_OK;
}
