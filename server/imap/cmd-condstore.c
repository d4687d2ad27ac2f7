/* CONDSTORE (RFC 7162) in a session: MODSEQ in FETCH responses once enabled, FETCH's
 * CHANGEDSINCE, STORE's UNCHANGEDSINCE with [MODIFIED], and SEARCH's (MODSEQ n). */
#include "server/imap/imap-client.h"
#include "server/imap/imap-condstore.h"
#include "server/imap/imap-fetch.h"
#include "server/imap/imap-reply.h"
#include "server/imap/imap-search.h"
#include "common/buf.h"
#include "common/xalloc.h"
#include "storage/storage.h"

void imap_append_modseq(struct buf *out, const struct imap_client *c, size_t index)
{
	if (c->condstore)
		buf_printf(out, " MODSEQ (%llu)",
		           (unsigned long long)mailbox_get(c->box, index)->modseq);
}

/* PARTIAL (RFC 9394 3.3): of the selected messages (after CHANGEDSINCE), in UID order, only
 * the window lo:hi stays selected. */
static void imap_fetch_partial(const struct imap_client *c, bool *sel, int64_t lo, int64_t hi)
{
	size_t n = 0, first, count, pos = 0;

	for (size_t i = 0; i < c->known_count; i++)
		n += sel[i];
	imap_search_partial_window(lo, hi, n, &first, &count);
	for (size_t i = 0; i < c->known_count; i++) {
		if (!sel[i])
			continue;
		sel[i] = pos >= first && pos < first + count;
		pos++;
	}
}

/* RFC 7162 3.2.6: VANISHED only in UID FETCH, once QRESYNC is enabled. */
static int imap_fetch_vanished_check(const struct imap_client *c, const char **error_r)
{
	if (!c->qresync)
		*error_r = "VANISHED needs ENABLE QRESYNC.";
	else if (!c->uid)
		*error_r = "VANISHED needs UID FETCH.";
	else
		return 0;
	return -1;
}

int imap_fetch_modifiers(struct imap_client *c, const char *set, const struct imap_arg *arg,
                         bool *sel, struct imap_fetch *fetch, const char **error_r)
{
	struct imap_fetch_mods mods;

	if (arg != NULL) {
		if (imap_fetch_mods_parse(arg, &mods, error_r) < 0)
			return -1;
		if (mods.vanished && (imap_fetch_vanished_check(c, error_r) < 0 ||
		                      imap_qresync_fetch_vanished(c, set, mods.changedsince,
		                                                  error_r) < 0))
			return -1;
		if (mods.changedsince_set) {
			c->condstore = true;
			imap_fetch_add_modseq(fetch, false);
			for (size_t i = 0; i < c->known_count; i++)
				sel[i] = sel[i] && mailbox_get(c->box, i)->modseq > mods.changedsince;
		}
		if (mods.partial_set)
			imap_fetch_partial(c, sel, mods.partial_lo, mods.partial_hi);
	}
	if (imap_fetch_has_modseq(fetch))
		c->condstore = true;
	if (c->condstore)
		imap_fetch_add_modseq(fetch, true);
	return 0;
}

/* STORE's "(UNCHANGEDSINCE n)" before the item, if any: *unchangedsince_r (UINT64_MAX when
 * absent), and how many arguments it took. -1 BAD. */
int imap_store_modifiers(struct imap_client *c, const struct imap_arg *a, unsigned n,
                         uint64_t *unchangedsince_r, const char **error_r)
{
	*unchangedsince_r = UINT64_MAX;
	if (n < 2 || a[1].type != IMAP_ARG_LIST)
		return 0;
	if (imap_store_mods_parse(&a[1], unchangedsince_r, error_r) < 0)
		return -1;
	c->condstore = true;
	return 1;
}

/* The " [MODIFIED set]" of the tagged reply: the messages UNCHANGEDSINCE kept from being
 * stored, as sequence numbers or (UID STORE) UIDs. Empty when none. */
void imap_store_modified(const struct imap_client *c, const bool *modified, struct buf *out)
{
	uint32_t *nums = NULL;
	size_t count = 0;

	for (size_t i = 0; i < c->known_count; i++) {
		if (!modified[i])
			continue;
		nums = xreallocarray(nums, count + 1, sizeof(*nums));
		nums[count++] = c->uid ? mailbox_get(c->box, i)->uid : (uint32_t)i + 1;
	}
	if (count > 0) {
		buf_append_str(out, "[MODIFIED ");
		imap_append_numset(out, nums, count);
		buf_append_str(out, "] ");
	}
	xfree(&nums);
}

/* SEARCH: the highest MODSEQ of the matches, rendered after them when the program has a
 * MODSEQ key (RFC 7162 3.1.5): " (MODSEQ n)" after SEARCH's numbers, " MODSEQ n" at the end
 * of ESEARCH. Nothing when nothing matched. */
void imap_search_modseq_render(struct imap_client *c, bool esearch, uint64_t highest, size_t count,
                               struct buf *out)
{
	c->condstore = true;
	if (count == 0)
		return;
	buf_printf(out, esearch ? " MODSEQ %llu" : " (MODSEQ %llu)", (unsigned long long)highest);
}
