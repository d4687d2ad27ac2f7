/* UID sets: see imap-uidset.h. */
#include "server/imap/imap-uidset.h"
#include "server/imap/imap-seqset.h"

#include "common/buf.h"
#include "common/xalloc.h"

#include <stdlib.h>

struct uidset_out {
	struct mailbox_uid_range *r;
	size_t count, alloc;
};

/* Appends [lo, hi] (lo <= hi, not below what is there), merging with the last range. */
static void uidset_push(struct uidset_out *o, uint32_t lo, uint32_t hi)
{
	if (o->count > 0 && (uint64_t)o->r[o->count - 1].hi + 1 >= lo) {
		if (hi > o->r[o->count - 1].hi)
			o->r[o->count - 1].hi = hi;
		return;
	}
	if (o->count == o->alloc) {
		o->alloc = o->alloc == 0 ? 8 : o->alloc * 2;
		o->r = xreallocarray(o->r, o->alloc, sizeof(*o->r));
	}
	o->r[o->count].lo = lo;
	o->r[o->count++].hi = hi;
}

static int uidset_cmp(const void *a, const void *b)
{
	const struct mailbox_uid_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo ? 1 : 0;
}

/* The parsed ranges with '*' replaced: 1 ok, -1 a '*' not allowed. */
static int uidset_from_seq(const struct imap_seq_range *in, unsigned n, uint32_t star,
                           struct mailbox_uid_range *out)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t lo = in[i].lo, hi = in[i].hi;

		if ((lo == IMAP_SEQ_STAR || hi == IMAP_SEQ_STAR) && star == 0)
			return -1;
		lo = lo == IMAP_SEQ_STAR ? star : lo;
		hi = hi == IMAP_SEQ_STAR ? star : hi;
		out[i].lo = (uint32_t)(lo < hi ? lo : hi);
		out[i].hi = (uint32_t)(lo < hi ? hi : lo);
	}
	return 1;
}

int imap_uidset_parse(const char *str, uint32_t star, struct mailbox_uid_range **ranges_r,
                      size_t *count_r)
{
	struct imap_seq_range *seq;
	struct mailbox_uid_range *tmp;
	struct uidset_out o = {0};
	unsigned n;
	const char *error;
	int ret;

	if (imap_seqset_parse(str, &seq, &n, &error) < 0)
		return -1;
	if (n > IMAP_UIDSET_RANGES_MAX) {
		xfree(&seq);
		return -1;
	}
	tmp = xcalloc(n, sizeof(*tmp));
	ret = uidset_from_seq(seq, n, star, tmp);
	xfree(&seq);
	if (ret > 0) {
		qsort(tmp, n, sizeof(*tmp), uidset_cmp);
		for (unsigned i = 0; i < n; i++)
			uidset_push(&o, tmp[i].lo, tmp[i].hi);
	}
	xfree(&tmp);
	*ranges_r = o.r;
	*count_r = o.count;
	return ret > 0 ? 0 : -1;
}

uint64_t imap_uidset_size(const struct mailbox_uid_range *set, size_t count)
{
	uint64_t size = 0;

	for (size_t i = 0; i < count; i++)
		size += (uint64_t)set[i].hi - set[i].lo + 1;
	return size;
}

void imap_uidset_intersect(const struct mailbox_uid_range *a, size_t na,
                           const struct mailbox_uid_range *b, size_t nb,
                           struct mailbox_uid_range **out_r, size_t *count_r)
{
	struct uidset_out o = {0};
	size_t i = 0, j = 0;

	while (i < na && j < nb) {
		uint32_t lo = a[i].lo > b[j].lo ? a[i].lo : b[j].lo;
		uint32_t hi = a[i].hi < b[j].hi ? a[i].hi : b[j].hi;

		if (lo <= hi)
			uidset_push(&o, lo, hi);
		if (a[i].hi < b[j].hi)
			i++;
		else
			j++;
	}
	*out_r = o.r;
	*count_r = o.count;
}

void imap_uidset_absent(const struct mailbox_uid_range *set, size_t count, const uint32_t *present,
                        size_t n, struct mailbox_uid_range **out_r, size_t *count_r)
{
	struct uidset_out o = {0};
	size_t j = 0;

	for (size_t i = 0; i < count; i++) {
		uint64_t lo = set[i].lo;

		while (j < n && present[j] < lo)
			j++;
		for (; j < n && present[j] <= set[i].hi; j++) {
			if (present[j] > lo)
				uidset_push(&o, (uint32_t)lo, present[j] - 1);
			lo = (uint64_t)present[j] + 1;
		}
		if (lo <= set[i].hi)
			uidset_push(&o, (uint32_t)lo, set[i].hi);
	}
	*out_r = o.r;
	*count_r = o.count;
}

void imap_uidset_render(struct buf *out, const struct mailbox_uid_range *set, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			buf_append_str(out, ",");
		if (set[i].hi > set[i].lo)
			buf_printf(out, "%u:%u", set[i].lo, set[i].hi);
		else
			buf_printf(out, "%u", set[i].lo);
	}
}
