/* QRESYNC (RFC 7162 3.2) in a session: SELECT's resync (VANISHED (EARLIER) and the FETCH of
 * what changed since the client's MODSEQ), UID FETCH's VANISHED modifier, and VANISHED in
 * place of EXPUNGE once it is enabled. */
#include "server/imap/imap-client.h"
#include "server/imap/imap-condstore.h"
#include "server/imap/imap-reply.h"
#include "server/imap/imap-uidset.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "server/conn.h"
#include "storage/storage.h"

/* Every UID a client may name. */
static const struct mailbox_uid_range qresync_all = {1, UINT32_MAX - 1};

/* The view's UIDs (every message, announced or not: none of them has vanished yet). */
static uint32_t *qresync_view_uids(const struct imap_client *c, size_t *count_r)
{
	size_t n = mailbox_count(c->box);
	uint32_t *uids = xcalloc(n + 1, sizeof(*uids));

	for (size_t i = 0; i < n; i++)
		uids[i] = mailbox_get(c->box, i)->uid;
	*count_r = n;
	return uids;
}

/* When the index does not know every expunge since the client's MODSEQ: every UID of set
 * above floor (the client's sequence numbers match up to it) and below UIDNEXT that the
 * mailbox does not hold (RFC 7162 3.2.5.2 allows this). */
static void qresync_absent(struct imap_client *c, const struct mailbox_uid_range *set, size_t n,
                           uint32_t floor, struct mailbox_uid_range **out_r, size_t *count_r)
{
	struct mailbox_uid_range bound = {floor + 1, mailbox_uidnext(c->box) - 1}, *in;
	size_t in_count, view_count;
	uint32_t *view;

	*out_r = NULL;
	*count_r = 0;
	if (bound.lo > bound.hi)
		return;
	imap_uidset_intersect(set, n, &bound, 1, &in, &in_count);
	view = qresync_view_uids(c, &view_count);
	imap_uidset_absent(in, in_count, view, view_count, out_r, count_r);
	xfree(&view);
	xfree(&in);
}

/* The UIDs of set to report as vanished since modseq. */
static void qresync_vanished_set(struct imap_client *c, uint64_t modseq,
                                 const struct mailbox_uid_range *set, size_t n, uint32_t floor,
                                 struct mailbox_uid_range **out_r, size_t *count_r)
{
	struct mailbox_uid_range *exact;
	size_t exact_count;
	const char *error;
	int r = mailbox_vanished_since(c->box, modseq, &exact, &exact_count, &error);

	if (r > 0) {
		imap_uidset_intersect(exact, exact_count, set, n, out_r, count_r);
		xfree(&exact);
		return;
	}
	if (r < 0)
		log_error("imap user=%s: reading expunged UIDs failed: %s", log_quote(c->user), error);
	qresync_absent(c, set, n, floor, out_r, count_r);
}

static void qresync_send_vanished(struct imap_client *c, uint64_t modseq,
                                  const struct mailbox_uid_range *set, size_t n, uint32_t floor)
{
	struct mailbox_uid_range *out;
	size_t count;
	struct buf line;

	qresync_vanished_set(c, modseq, set, n, floor, &out, &count);
	if (count > 0) {
		buf_init(&line);
		buf_append_str(&line, "* VANISHED (EARLIER) ");
		imap_uidset_render(&line, out, count);
		buf_append_str(&line, "\r\n");
		conn_write(c->conn, line.data, line.len);
		buf_free(&line);
	}
	xfree(&out);
}

/* The message with sequence number seq (1-based) has UID uid in the view. */
static bool qresync_pair_matches(const struct imap_client *c, uint64_t seq, uint64_t uid)
{
	return seq >= 1 && seq <= c->known_count && mailbox_get(c->box, seq - 1)->uid == uid;
}

/* seq-match-data (RFC 7162 3.2.5.2): the highest UID up to which the client's sequence
 * numbers still name the UIDs it gave, walked in runs where both sets are contiguous (inside
 * one, UIDs only grow, so its two ends matching means all of it does). Nothing at or below that
 * UID was expunged since; 0 when none matches. */
static uint32_t qresync_match_floor(const struct imap_client *c, const struct imap_qresync_params *q)
{
	size_t i = 0, j = 0;
	uint64_t si = 0, uj = 0; /* offsets into seqs[i] and uids[j] */
	uint32_t floor = 0;

	while (i < q->seqs_count && j < q->uids_count) {
		uint64_t s = q->seqs[i].lo + si, u = q->uids[j].lo + uj;
		uint64_t run = q->seqs[i].hi - s < q->uids[j].hi - u ? q->seqs[i].hi - s
		                                                     : q->uids[j].hi - u;

		if (!qresync_pair_matches(c, s, u))
			break;
		floor = (uint32_t)u;
		if (!qresync_pair_matches(c, s + run, u + run))
			break;
		floor = (uint32_t)(u + run);
		si += run + 1;
		uj += run + 1;
		if (q->seqs[i].lo + si > q->seqs[i].hi)
			i++, si = 0;
		if (q->uids[j].lo + uj > q->uids[j].hi)
			j++, uj = 0;
	}
	return floor;
}

/* FETCH (UID FLAGS MODSEQ) of the announced messages of set changed since modseq. */
static void qresync_send_changed(struct imap_client *c, uint64_t modseq,
                                 const struct mailbox_uid_range *set, size_t n)
{
	struct buf out;
	size_t j = 0;

	buf_init(&out);
	for (size_t i = 0; i < c->known_count; i++) {
		const struct mail *m = mailbox_get(c->box, i);

		while (j < n && set[j].hi < m->uid)
			j++;
		if (m->modseq <= modseq || j == n || set[j].lo > m->uid)
			continue;
		buf_reset(&out);
		buf_printf(&out, "* %zu FETCH (UID %u FLAGS ", i + 1, m->uid);
		imap_append_msg_flags(&out, c, i);
		imap_append_modseq(&out, c, i);
		buf_append_str(&out, ")\r\n");
		conn_write(c->conn, out.data, out.len);
	}
	buf_free(&out);
}

void imap_qresync_select(struct imap_client *c, const struct imap_qresync_params *q)
{
	const struct mailbox_uid_range *set = q->known != NULL ? q->known : &qresync_all;
	size_t n = q->known != NULL ? q->known_count : 1;

	/* another UIDVALIDITY: the client's UIDs mean nothing here (RFC 7162 3.2.5) */
	if (q->uidvalidity != mailbox_uidvalidity(c->box))
		return;
	qresync_send_vanished(c, q->modseq, set, n, q->seqs != NULL ? qresync_match_floor(c, q) : 0);
	qresync_send_changed(c, q->modseq, set, n);
}

int imap_qresync_fetch_vanished(struct imap_client *c, const char *set, uint64_t changedsince,
                                const char **error_r)
{
	uint32_t uidnext = mailbox_uidnext(c->box);
	struct mailbox_uid_range *ranges;
	size_t count;

	/* '*' is the highest UID given out: the client asks about all of them */
	if (imap_uidset_parse(set, uidnext > 1 ? uidnext - 1 : 1, &ranges, &count) < 0) {
		*error_r = "Too many ranges in the UID set.";
		return -1;
	}
	qresync_send_vanished(c, changedsince, ranges, count, 0);
	xfree(&ranges);
	return 0;
}

void imap_qresync_report_expunged(struct imap_client *c, const uint32_t *uids, size_t count)
{
	uint32_t *sorted = xcalloc(count + 1, sizeof(*sorted));
	size_t n = 0;
	struct buf line;

	for (size_t i = 0; i < count; i++) {
		if (uids[i] != 0)
			sorted[n++] = uids[i];
	}
	if (n > 0) {
		buf_init(&line);
		buf_append_str(&line, "* VANISHED ");
		imap_append_numset(&line, sorted, n);
		buf_append_str(&line, "\r\n");
		conn_write(c->conn, line.data, line.len);
		buf_free(&line);
	}
	xfree(&sorted);
}
