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
};

static enum fetch_outcome imap_fetch_run(struct imap_client *c, struct imap_fetch *f,
                                         const bool *sel)
{
	bool set_seen = imap_fetch_sets_seen(f) && !c->readonly, gone = false, unavailable = false;
	const char *error;

	for (size_t i = 0; i < c->known_count && !conn_broken(c->conn); i++) {
		bool seen_now;
		int r;

		if (!sel[i])
			continue;
		if (mailbox_msg_gone(c->box, i)) {
			gone = true;
			continue;
		}
		seen_now = set_seen && imap_fetch_mark_seen(c, i);
		r = imap_fetch_write(f, c->box, i, (uint32_t)i + 1, c->conn, &error);
		if (r < 0) {
			log_error("imap user=%s: fetch failed: %s", c->user, error);
			return FETCH_FAILED;
		}
		if (r == 0 && mailbox_msg_unavailable(c->box, i)) {
			unavailable = true;
			if (seen_now)
				imap_fetch_unmark_seen(c, i);
			continue;
		}
		gone = gone || r == 0;
		if (r > 0 && seen_now) {
			imap_fetch_flags_update(c, i);
			imap_context_changed(c, i);
		}
	}
	imap_context_flush(c);
	return unavailable ? FETCH_SOME_UNAVAILABLE : gone ? FETCH_SOME_GONE : FETCH_DONE;
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
	    imap_fetch_modifiers(c, n == 3 ? &a[2] : NULL, sel, f, &error) < 0) {
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
