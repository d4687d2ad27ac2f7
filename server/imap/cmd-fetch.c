/* FETCH and UID FETCH: the command around the FETCH engine (imap-fetch.h). */
#include "server/imap/imap-client.h"
#include "server/imap/imap-context.h"
#include "server/imap/imap-fetch.h"
#include "server/imap/imap-reply.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "server/conn.h"
#include "storage/storage.h"

#include <string.h>

/* Sets \Seen before the data is sent (RFC 3501 6.4.5); true when it changed. */
static bool imap_fetch_mark_seen(struct imap_client *c, size_t i)
{
	const char *error;

	if ((mailbox_get(c->box, i)->flags & MAIL_SEEN) != 0)
		return false;
	if (mailbox_set_flags(c->box, i, MAIL_SEEN, 0, &error) <= 0)
		return false;
	return true;
}

static void imap_fetch_flags_update(struct imap_client *c, size_t i)
{
	const struct mail *m = mailbox_get(c->box, i);
	struct buf out;

	buf_init(&out);
	buf_printf(&out, "* %zu FETCH (UID %u FLAGS ", i + 1, m->uid);
	imap_append_msg_flags(&out, c, i);
	imap_append_modseq(&out, c, i);
	buf_append_str(&out, ")\r\n");
	conn_write(c->conn, out.data, out.len);
	buf_free(&out);
}

/* A message whose file could not be read keeps the \Seen this FETCH gave it beforehand: the
 * client was sent nothing to read. */
static void imap_fetch_unmark_seen(struct imap_client *c, size_t i)
{
	const char *error;

	if (mailbox_set_flags(c->box, i, 0, MAIL_SEEN, &error) < 0)
		log_error("imap user=%s: clearing \\Seen again: %s", c->user, error);
}

enum fetch_outcome {
	FETCH_FAILED,           /* an error: the command stopped */
	FETCH_DONE,             /* every selected message was written */
	FETCH_SOME_GONE,        /* some had vanished */
	FETCH_SOME_UNAVAILABLE, /* some could not be read; all the others were written */
	FETCH_UNKNOWN_CTE,      /* BINARY of a part some message cannot decode (RFC 3516) */
};

/* \Seen is given to this many messages at a time, as one change, before their data goes out:
 * one index commit (an fsync) per batch, not per message, and no lock held while the client
 * reads. */
#define FETCH_SEEN_BATCH 128

/* Sets \Seen on the selected messages of [from, to) that lack it, as one change; seen_now[i -
 * from] marks those it changed. */
static void imap_fetch_mark_seen_batch(struct imap_client *c, const bool *sel, size_t from,
                                       size_t to, bool *seen_now)
{
	const char *error;
	size_t unseen = 0;

	for (size_t i = from; i < to; i++)
		unseen += sel[i] && (mailbox_get(c->box, i)->flags & MAIL_SEEN) == 0 ? 1 : 0;
	if (unseen == 0)
		return; /* no write lock taken for nothing */
	if (mailbox_changes_begin(c->box, &error) < 0) {
		log_error("imap user=%s: setting \\Seen: %s", c->user, error);
		return;
	}
	for (size_t i = from; i < to; i++)
		seen_now[i - from] = sel[i] && !mailbox_msg_gone(c->box, i) &&
		                     imap_fetch_mark_seen(c, i);
	if (mailbox_changes_commit(c->box, &error) < 0)
		log_error("imap user=%s: setting \\Seen: %s", c->user, error);
}

/* The connection broke: the messages of the batch not sent lose the \Seen given for them. */
static void imap_fetch_unmark_unsent(struct imap_client *c, size_t from, size_t to,
                                     const bool *seen_now)
{
	const char *error;

	if (mailbox_changes_begin(c->box, &error) < 0)
		return;
	for (size_t i = from; i < to; i++) {
		if (seen_now[i - from])
			imap_fetch_unmark_seen(c, i);
	}
	(void)mailbox_changes_commit(c->box, &error);
}

struct fetch_state {
	bool gone, unavailable, unknown_cte;
};

/* Writes the selected messages of [from, to); seen_now as imap_fetch_mark_seen_batch set it. */
static int imap_fetch_batch(struct imap_client *c, struct imap_fetch *f, const bool *sel,
                            size_t from, size_t to, const bool *seen_now, struct fetch_state *fs)
{
	const char *error;

	for (size_t i = from; i < to; i++) {
		int r;

		if (conn_broken(c->conn)) {
			imap_fetch_unmark_unsent(c, i, to, seen_now + (i - from));
			return 0;
		}
		if (!sel[i])
			continue;
		if (mailbox_msg_gone(c->box, i)) {
			fs->gone = true;
			continue;
		}
		r = imap_fetch_write(f, c->box, i, (uint32_t)i + 1, c->conn, &error);
		if (r < 0) {
			log_error("imap user=%s: fetch failed: %s", c->user, error);
			return -1;
		}
		if (r == 0 && (imap_fetch_unknown_cte(f) || mailbox_msg_unavailable(c->box, i))) {
			fs->unknown_cte = fs->unknown_cte || imap_fetch_unknown_cte(f);
			fs->unavailable = fs->unavailable || !imap_fetch_unknown_cte(f);
			if (seen_now[i - from])
				imap_fetch_unmark_seen(c, i);
			continue;
		}
		fs->gone = fs->gone || r == 0;
		if (r > 0 && seen_now[i - from]) {
			imap_fetch_flags_update(c, i);
			imap_context_changed(c, i);
		}
	}
	return 0;
}

static enum fetch_outcome imap_fetch_run(struct imap_client *c, struct imap_fetch *f,
                                         const bool *sel)
{
	bool set_seen = imap_fetch_sets_seen(f) && !c->readonly;
	bool seen_now[FETCH_SEEN_BATCH];
	struct fetch_state fs = {false, false, false};
	enum fetch_outcome r = FETCH_DONE;

	for (size_t from = 0; from < c->known_count && !conn_broken(c->conn);
	     from += FETCH_SEEN_BATCH) {
		size_t to = c->known_count - from < FETCH_SEEN_BATCH ? c->known_count
		                                                     : from + FETCH_SEEN_BATCH;

		memset(seen_now, 0, sizeof(seen_now));
		if (set_seen)
			imap_fetch_mark_seen_batch(c, sel, from, to, seen_now);
		if (imap_fetch_batch(c, f, sel, from, to, seen_now, &fs) < 0) {
			r = FETCH_FAILED;
			break;
		}
	}
	imap_context_flush(c);
	if (r == FETCH_FAILED)
		return r;
	if (fs.unknown_cte)
		return FETCH_UNKNOWN_CTE;
	return fs.unavailable ? FETCH_SOME_UNAVAILABLE : fs.gone ? FETCH_SOME_GONE : FETCH_DONE;
}

enum imap_cmd_result imap_cmd_fetch(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	const char *set, *error;
	struct imap_fetch *f = NULL;
	enum fetch_outcome r;
	bool *sel;

	if ((n != 2 && n != 3) || !imap_arg_get_atom(&a[0], &set))
		return imap_bad(c, "FETCH takes a set, items and modifiers.");
	if (imap_seqset_select(c, set, c->uid, &sel, &error) < 0)
		return imap_bad(c, error);
	if (imap_fetch_parse(&a[1], c->uid, &f, &error) < 0 ||
	    imap_fetch_modifiers(c, set, n == 3 ? &a[2] : NULL, sel, f, &error) < 0) {
		imap_fetch_free(&f);
		xfree(&sel);
		return imap_bad(c, error);
	}
	if (c->rev2)
		imap_fetch_hide_recent(f);
	r = imap_fetch_run(c, f, sel);
	imap_fetch_free(&f);
	xfree(&sel);
	if (r == FETCH_FAILED)
		imap_tagged(c, "NO", "[SERVERBUG] Fetch failed.");
	else if (r == FETCH_UNKNOWN_CTE)
		imap_tagged(
		    c, "NO",
		    "[UNKNOWN-CTE] A part asked for with BINARY has a Content-Transfer-Encoding "
		    "this server cannot decode.");
	else if (r == FETCH_SOME_UNAVAILABLE)
		imap_tagged(c, "NO",
		            "[UNAVAILABLE] Some of the messages cannot be read now; "
		            "the others were sent.");
	else if (r == FETCH_SOME_GONE && !c->uid)
		imap_tagged(c, "NO", "[EXPUNGEISSUED] Some of the messages no longer exist.");
	else
		imap_ok(c, "Fetch completed.");
	return IMAP_CMD_OK;
}
