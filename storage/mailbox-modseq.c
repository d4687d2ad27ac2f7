/*
 * MODSEQ of a mailbox view (RFC 7162). The view keeps each message's MODSEQ and the
 * HIGHESTMODSEQ it has caught up with. A sync gives a new MODSEQ to every message whose file
 * shows other flags than its index row recorded (another tool renamed it), and then reads the
 * rows changed since the view's HIGHESTMODSEQ (other sessions' changes), listing them as
 * changed. A view's own changes take their MODSEQ as they are made.
 */
#include "storage/storage-sync.h"

#include "common/xalloc.h"

#define MODSEQ_FILE_FLAGS (MAIL_SEEN | MAIL_ANSWERED | MAIL_FLAGGED | MAIL_DELETED | MAIL_DRAFT)

void mailbox_mark_flags_changed(struct mailbox *box, size_t index)
{
	mailbox_mark_changed(box, index);
	box->modseq_check = true;
}

/* Inside the sync's transaction, for the entries about to join the view: rows whose flags
 * differ from the file's. */
int mailbox_modseq_fresh(struct mailbox *box, struct scan *sc, const char **error_r)
{
	for (size_t i = 0; i < sc->count; i++) {
		struct scan_entry *e = &sc->e[i];

		if (e->used || !e->indexed || e->rec.mflags == (int)e->parsed.flags)
			continue;
		if (mail_index_set_mflags(box->index, e->rec.uid, (int)e->parsed.flags,
		                          &e->rec.modseq, error_r) < 0)
			return -1;
		e->rec.mflags = (int)e->parsed.flags;
	}
	return 0;
}

/* Inside a transaction: the index row of the n-th message gets the view's flags. */
static int modseq_record(struct mailbox *box, size_t index, const char **error_r)
{
	struct msg_rec *m = &box->msgs[index];
	uint64_t modseq;
	int ret = mail_index_set_mflags(box->index, m->mail.uid,
	                                (int)(m->mail.flags & MODSEQ_FILE_FLAGS), &modseq, error_r);

	if (ret > 0)
		m->mail.modseq = modseq;
	return ret;
}

static void modseq_row(void *ctx, uint32_t uid, uint64_t modseq)
{
	struct mailbox *box = ctx;
	ssize_t i = mailbox_find_uid(box, uid);

	if (i < 0 || box->msgs[i].mail.modseq >= modseq)
		return;
	box->msgs[i].mail.modseq = modseq;
	mailbox_mark_changed(box, (size_t)i);
}

/* The view takes the MODSEQs of rows changed since it last looked. A view's first sync has
 * read every row it shows: it only takes HIGHESTMODSEQ. */
int mailbox_modseq_catch_up(struct mailbox *box, const char **error_r)
{
	uint64_t highest;

	if (mail_index_highest_modseq(box->index, &highest, error_r) < 0)
		return -1;
	if (box->modseq != 0 && highest > box->modseq &&
	    mail_index_modseq_changes(box->index, box->modseq, modseq_row, box, error_r) < 0)
		return -1;
	box->modseq = highest;
	return 0;
}

/* Inside the sync's transaction: messages whose flags were found changed on disk get a new
 * MODSEQ unless a session of ours made that change (its row has the flags already). */
int mailbox_modseq_sync(struct mailbox *box, const char **error_r)
{
	if (box->modseq_check) {
		for (size_t i = 0; i < box->changed_count; i++) {
			size_t index = box->changed[i];

			if (index < box->count && !box->msgs[index].gone &&
			    modseq_record(box, index, error_r) < 0)
				return -1;
		}
	}
	box->modseq_check = false;
	return mailbox_modseq_catch_up(box, error_r);
}

/* After a flag change of the n-th message by this view (inside a transaction). */
int mailbox_modseq_flags_set(struct mailbox *box, size_t index, const char **error_r)
{
	return modseq_record(box, index, error_r) < 0 ? -1 : 0;
}

uint64_t mailbox_highest_modseq(const struct mailbox *box)
{
	return box->modseq;
}

/* The view takes the MODSEQs other sessions gave meanwhile: a STORE UNCHANGEDSINCE compares
 * with what the index says under the lock, not with what the view last saw. */
int mailbox_changes_begin(struct mailbox *box, const char **error_r)
{
	if (mail_index_begin(box->index, error_r) < 0)
		return -1;
	if (mailbox_modseq_catch_up(box, error_r) < 0) {
		mail_index_rollback(box->index);
		return -1;
	}
	return 0;
}

int mailbox_changes_commit(struct mailbox *box, const char **error_r)
{
	if (mail_index_commit(box->index, error_r) < 0)
		return -1;
	/* what this view did itself is in the view already */
	return mailbox_modseq_catch_up(box, error_r);
}

struct vanished_collect {
	const struct mailbox *box;
	struct mailbox_uid_range *ranges;
	size_t count, alloc;
	size_t next; /* the view index of the first UID not below the ranges read so far */
};

static void vanished_push(struct vanished_collect *vc, uint32_t lo, uint32_t hi)
{
	if (vc->count == vc->alloc) {
		vc->alloc = vc->alloc == 0 ? 16 : vc->alloc * 2;
		vc->ranges = xreallocarray(vc->ranges, vc->alloc, sizeof(*vc->ranges));
	}
	vc->ranges[vc->count].lo = lo;
	vc->ranges[vc->count++].hi = hi;
}

/* A range of the record without the view's UIDs: a message the view still shows was expunged
 * after the view's sync, and the next sync reports it. */
static void vanished_range(void *ctx, uint32_t lo, uint32_t hi)
{
	struct vanished_collect *vc = ctx;
	const struct mailbox *box = vc->box;

	while (vc->next < box->count && box->msgs[vc->next].mail.uid < lo)
		vc->next++;
	for (; vc->next < box->count && box->msgs[vc->next].mail.uid <= hi; vc->next++) {
		uint32_t uid = box->msgs[vc->next].mail.uid;

		if (uid > lo)
			vanished_push(vc, lo, uid - 1);
		if (uid == hi)
			return;
		lo = uid + 1;
	}
	vanished_push(vc, lo, hi);
}

int mailbox_vanished_since(struct mailbox *box, uint64_t since, struct mailbox_uid_range **ranges_r,
                           size_t *count_r, const char **error_r)
{
	struct vanished_collect vc = {.box = box};
	uint64_t floor;

	*ranges_r = NULL;
	*count_r = 0;
	if (mail_index_vanished_floor(box->index, &floor, error_r) < 0)
		return -1;
	if (since < floor || since > box->modseq)
		return 0;
	if (mail_index_vanished_since(box->index, since, vanished_range, &vc, error_r) < 0) {
		xfree(&vc.ranges);
		return -1;
	}
	*ranges_r = vc.ranges;
	*count_r = vc.count;
	return 1;
}
