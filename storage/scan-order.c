/*
 * The order of a listing. A big listing comes in directory-hash order, and the sync walks its
 * fresh entries in delivery order (the order UIDs are given in) several times: the rows it
 * binds, the index inserts, the view it builds. The delivery-order sort is a merge sort over
 * compact key records with its comparison inlined, so it neither reads two scattered entries
 * and names per comparison nor calls through a pointer; a big listing is then moved into that
 * order once, entries and strings, so the later passes read memory in order; and the view's
 * new entries, whose UIDs are dense, are put in UID order by placing each at its UID.
 */
#include "storage/storage-sync.h"
#include "common/xalloc.h"
#include "storage/bigarray.h"
#include "storage/name-pool.h"

#include <stdlib.h>
#include <string.h>

/* Delivery order of fresh entries: recovered UIDs first (so fresh ones go above them), then by
 * date, then by name. Sorted as 32-byte records (moved in place, not through pointers) whose
 * integer keys decide nearly every comparison: 8 name bytes after the
 * prefix all names share, big-endian. A big listing is then sorted without chasing two entry
 * pointers and two names per comparison. */
struct scan_order_key {
	uint64_t uid; /* recovered UID, or above any for none */
	int64_t order;
	uint64_t name;
	const struct scan_entry *e;
};

/* The length of the prefix all names of list share. */
static size_t scan_order_prefix(struct scan_entry *const *list, size_t n)
{
	size_t len = n == 0 ? 0 : strlen(list[0]->name);

	for (size_t i = 1; i < n && len > 0; i++) {
		const char *a = list[0]->name, *b = list[i]->name;
		size_t j = 0;

		while (j < len && a[j] == b[j])
			j++;
		len = j;
	}
	return len;
}

static void scan_order_key_set(struct scan_order_key *k, const struct scan_entry *e, size_t skip)
{
	const char *p = e->name + skip;

	k->uid = e->parsed.has_uid ? e->parsed.uid : (uint64_t)UINT32_MAX + 1;
	k->order = (int64_t)e->order;
	k->name = 0;
	for (int i = 0; i < 8; i++) {
		k->name = k->name << 8 | (unsigned char)*p;
		if (*p != '\0')
			p++;
	}
	k->e = e;
}

static inline int scan_order_key_cmp(const struct scan_order_key *x, const struct scan_order_key *y)
{
	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	if (x->name != y->name)
		return x->name < y->name ? -1 : 1;
	return strcmp(x->e->name, y->e->name);
}

#define SCAN_ORDER_RUN 16

/* Sorts a[lo..hi) by insertion (a short run). */
static void scan_order_insertion_sort(struct scan_order_key *a, size_t lo, size_t hi)
{
	for (size_t i = lo + 1; i < hi; i++) {
		struct scan_order_key k = a[i];
		size_t j = i;

		for (; j > lo && scan_order_key_cmp(&k, &a[j - 1]) < 0; j--)
			a[j] = a[j - 1];
		a[j] = k;
	}
}

/* Merges the sorted runs [lo, mid) and [mid, hi) of src into dst. */
static void scan_order_merge(const struct scan_order_key *src, struct scan_order_key *dst,
                             size_t lo, size_t mid, size_t hi)
{
	size_t i = lo, j = mid, o = lo;

	while (i < mid && j < hi)
		dst[o++] = scan_order_key_cmp(&src[j], &src[i]) < 0 ? src[j++] : src[i++];
	while (i < mid)
		dst[o++] = src[i++];
	while (j < hi)
		dst[o++] = src[j++];
}

/* Bottom-up merge sort of keys[0..n) with the comparison inlined (glibc's qsort calls it
 * through a pointer, and mallocs its own buffer). Returns the array that holds the result:
 * keys or tmp. */
static struct scan_order_key *scan_order_merge_sort(struct scan_order_key *keys,
                                                    struct scan_order_key *tmp, size_t n)
{
	struct scan_order_key *src = keys, *dst = tmp, *swap;

	for (size_t lo = 0; lo < n; lo += SCAN_ORDER_RUN)
		scan_order_insertion_sort(keys, lo,
		                          lo + SCAN_ORDER_RUN < n ? lo + SCAN_ORDER_RUN : n);
	for (size_t width = SCAN_ORDER_RUN; width < n; width *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * width) {
			size_t mid = lo + width < n ? lo + width : n;
			size_t hi = lo + 2 * width < n ? lo + 2 * width : n;

			scan_order_merge(src, dst, lo, mid, hi);
		}
		swap = src;
		src = dst;
		dst = swap;
	}
	return src;
}

/* Sorts list[0..n) in delivery order. */
void scan_order_sort(struct scan_entry **list, size_t n)
{
	struct scan_order_key *keys = big_array_realloc(NULL, 2 * n + 1, sizeof(*keys));
	struct scan_order_key *sorted;
	size_t skip = scan_order_prefix(list, n);

	for (size_t i = 0; i < n; i++)
		scan_order_key_set(&keys[i], list[i], skip);
	sorted = scan_order_merge_sort(keys, keys + n, n);
	for (size_t i = 0; i < n; i++)
		list[i] = (struct scan_entry *)sorted[i].e;
	big_array_free(&keys);
}

/* Below this many entries a listing is not worth reordering. */
#define SCAN_REORDER_MIN 4096

/* Moves list[0..n) (entries of sc) to the front of sc in list order, the other entries after
 * them, and copies every key and name into a new pool in that order; list[i] becomes
 * &sc->e[i]. A big listing comes in directory-hash order and is then walked in delivery order
 * (the order UIDs are given in) several times (the rows, the index inserts, the view): one
 * pass of scattered reads here makes those walks sequential. The key hash is dropped (nothing
 * looks keys up after this). */
void scan_order_apply(struct scan *sc, struct scan_entry **list, size_t n)
{
	struct scan_entry *e;
	struct name_pool *pool;
	size_t out = 0;

	if (n < SCAN_REORDER_MIN)
		return;
	e = big_array_realloc(NULL, sc->count + 1, sizeof(*e));
	pool = name_pool_new();

	for (size_t i = 0; i < n; i++)
		list[i]->reorder_moved = true;
	for (size_t pass = 0; pass < 2; pass++) {
		size_t count = pass == 0 ? n : sc->count;

		for (size_t i = 0; i < count; i++) {
			struct scan_entry *from = pass == 0 ? list[i] : &sc->e[i];
			size_t klen, nlen;

			if (pass == 1 && from->reorder_moved)
				continue;
			e[out] = *from;
			e[out].reorder_moved = false;
			klen = strlen(from->key) + 1;
			nlen = strlen(from->name) + 1;
			e[out].key = name_pool_alloc(pool, klen + nlen);
			memcpy(e[out].key, from->key, klen);
			e[out].name = memcpy(e[out].key + klen, from->name, nlen);
			e[out].parsed.rest = e[out].name + (from->parsed.rest - from->name);
			out++;
		}
	}
	for (size_t i = 0; i < n; i++)
		list[i] = &e[i];
	name_pool_free(&sc->pool);
	big_array_free(&sc->e);
	big_array_free(&sc->hash);
	sc->e = e;
	sc->cap = sc->count + 1;
	sc->pool = pool;
	sc->hash_size = 0;
	sc->reordered = true;
}

static int scan_order_uid_cmp(const void *a, const void *b)
{
	const struct scan_entry *x = *(struct scan_entry *const *)a;
	const struct scan_entry *y = *(struct scan_entry *const *)b;

	return x->rec.uid < y->rec.uid ? -1 : x->rec.uid > y->rec.uid;
}

/* UIDs given out together are dense: placing each entry at uid - lowest is a sort in one pass
 * (qsort when they are spread out, or on a duplicate, which the index does not allow). */
void scan_order_by_uid(struct scan_entry **list, size_t n)
{
	uint32_t lo = UINT32_MAX, hi = 0;
	struct scan_entry **slots;
	size_t span, out = 0;

	for (size_t i = 0; i < n; i++) {
		lo = list[i]->rec.uid < lo ? list[i]->rec.uid : lo;
		hi = list[i]->rec.uid > hi ? list[i]->rec.uid : hi;
	}
	span = n == 0 ? 0 : (size_t)(hi - lo) + 1;
	if (n < 64 || span > 4 * n) {
		qsort(list, n, sizeof(*list), scan_order_uid_cmp);
		return;
	}
	slots = xcalloc(span, sizeof(*slots));
	for (size_t i = 0; i < n; i++) {
		struct scan_entry **slot = &slots[list[i]->rec.uid - lo];

		if (*slot != NULL) {
			xfree(&slots);
			qsort(list, n, sizeof(*list), scan_order_uid_cmp);
			return;
		}
		*slot = list[i];
	}
	for (size_t i = 0; i < span; i++) {
		if (slots[i] != NULL)
			list[out++] = slots[i];
	}
	xfree(&slots);
}
