/* SEARCHRES (RFC 5182): the result a SEARCH or SORT with RETURN (SAVE) keeps for "$", as the
 * ascending UIDs of the messages, for the selected mailbox only. */
#include "server/imap/imap-client.h"
#include "server/imap/imap-search.h"
#include "common/xalloc.h"
#include "storage/storage.h"

#include <stdlib.h>
#include <string.h>

static int searchres_uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

void imap_searchres_clear(struct imap_client *c)
{
	xfree(&c->saved_uids);
	c->saved_count = 0;
}

/* The results to keep (RFC 5182 2.4, RFC 9394 3.2): all of them with ALL or COUNT, or when
 * none of MIN, MAX and PARTIAL is asked for; else only the first, the last and the window. */
static void searchres_pick(unsigned ret, int64_t lo, int64_t hi, size_t count, bool *keep)
{
	size_t first = 0, n = count;

	if ((ret & (IMAP_SEARCH_RETURN_ALL | IMAP_SEARCH_RETURN_COUNT)) != 0 ||
	    (ret & (IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX | IMAP_SEARCH_RETURN_PARTIAL)) ==
	        0) {
		memset(keep, 1, count * sizeof(bool));
		return;
	}
	if ((ret & IMAP_SEARCH_RETURN_PARTIAL) != 0) {
		imap_search_partial_window(lo, hi, count, &first, &n);
		for (size_t i = first; i < first + n; i++)
			keep[i] = true;
	}
	if (count > 0 && (ret & IMAP_SEARCH_RETURN_MIN) != 0)
		keep[0] = true;
	if (count > 0 && (ret & IMAP_SEARCH_RETURN_MAX) != 0)
		keep[count - 1] = true;
}

void imap_searchres_save(struct imap_client *c, const struct imap_search *search,
                         const size_t *indexes, size_t count)
{
	unsigned ret = imap_search_return(search);
	bool *keep = xcalloc(count + 1, sizeof(bool));
	int64_t lo, hi;

	if ((ret & IMAP_SEARCH_RETURN_SAVE) == 0) {
		xfree(&keep);
		return;
	}
	imap_search_partial_range(search, &lo, &hi);
	searchres_pick(ret, lo, hi, count, keep);
	imap_searchres_clear(c);
	c->saved_uids = xcalloc(count + 1, sizeof(uint32_t));
	for (size_t i = 0; i < count; i++) {
		if (keep[i])
			c->saved_uids[c->saved_count++] = mailbox_get(c->box, indexes[i])->uid;
	}
	qsort(c->saved_uids, c->saved_count, sizeof(uint32_t), searchres_uid_cmp);
	xfree(&keep);
}

static bool searchres_find(const struct imap_client *c, uint32_t uid, size_t *pos_r)
{
	size_t lo = 0, hi = c->saved_count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->saved_uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos_r = lo;
	return lo < c->saved_count && c->saved_uids[lo] == uid;
}

void imap_searchres_expunged(struct imap_client *c, uint32_t uid)
{
	size_t pos;

	if (!searchres_find(c, uid, &pos))
		return;
	memmove(c->saved_uids + pos, c->saved_uids + pos + 1,
	        (c->saved_count - pos - 1) * sizeof(uint32_t));
	c->saved_count--;
}

bool *imap_searchres_select(const struct imap_client *c)
{
	bool *sel = xcalloc((size_t)c->known_count + 1, sizeof(bool));
	size_t pos;

	for (uint32_t i = 0; i < c->known_count; i++)
		sel[i] = searchres_find(c, mailbox_get(c->box, i)->uid, &pos);
	return sel;
}
