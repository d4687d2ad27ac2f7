/*
 * A directory listing of new/ or cur/ with a hash of its keys, and the delivery-order sort of
 * fresh files, for the sync (storage.c).
 */
#include "storage/storage-sync.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "storage/beneath.h"
#include "storage/bigarray.h"
#include "storage/maildir-name.h"
#include "storage/name-pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Open addressing with linear probing. */
struct scan_slot {
	uint32_t index; /* entry index + 1, 0 empty */
};

/* ---- scans ---- */

static uint64_t scan_hash_of(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* The slot of key, or the empty slot where it would go. */
static struct scan_slot *scan_probe(const struct scan *sc, const char *key, uint64_t h)
{
	size_t mask = sc->hash_size - 1;
	size_t i = h & mask;

	for (; sc->hash[i].index != 0; i = (i + 1) & mask) {
		if (strcmp(sc->e[sc->hash[i].index - 1].key, key) == 0)
			break;
	}
	return &sc->hash[i];
}

struct scan_entry *scan_lookup(const struct scan *sc, const char *key)
{
	struct scan_slot *slot;

	if (sc->reordered)
		fatal("storage: key lookup in a reordered listing");
	if (sc->hash_size == 0)
		return NULL;
	slot = scan_probe(sc, key, scan_hash_of(key));
	return slot->index != 0 ? &sc->e[slot->index - 1] : NULL;
}

static void scan_add(void *ctx, const char *name)
{
	struct scan *sc = ctx;
	struct scan_entry *e;
	size_t len;

	if (sc->count == sc->cap) {
		sc->cap = sc->cap == 0 ? 64 : sc->cap * 2;
		sc->e = big_array_realloc(sc->e, sc->cap, sizeof(*sc->e));
	}
	e = &sc->e[sc->count];
	memset(e, 0, sizeof(*e));
	/* the key (never longer than the name), then the name */
	len = strlen(name) + 1;
	e->key = name_pool_alloc(sc->pool, 2 * len);
	e->name = e->key + len;
	memcpy(e->name, name, len);
	if (maildir_name_parse(e->name, &e->parsed) > 0) {
		maildir_name_key_to(e->name, &e->parsed, e->key);
		sc->count++;
	}
}

/* Duplicate keys (a race with another tool) keep the first entry only. */
static void scan_build_hash(struct scan *sc)
{
	for (sc->hash_size = 16; sc->hash_size < sc->count * 2; sc->hash_size *= 2)
		;
	sc->hash = big_array_zalloc(sc->hash_size, sizeof(*sc->hash));
	for (size_t n = 0; n < sc->count; n++) {
		struct scan_entry *e = &sc->e[n];
		uint64_t h = scan_hash_of(e->key);
		struct scan_slot *slot = scan_probe(sc, e->key, h);

		if (slot->index != 0) {
			e->used = true;
			continue;
		}
		slot->index = (uint32_t)(n + 1);
	}
}

void scan_free(struct scan *sc)
{
	name_pool_free(&sc->pool);
	big_array_free(&sc->e);
	big_array_free(&sc->hash);
	memset(sc, 0, sizeof(*sc));
}

int scan_dir(int dirfd, struct scan *sc, const char **error_r)
{
	memset(sc, 0, sizeof(*sc));
	sc->pool = name_pool_new();
	if (maildir_readdir(dirfd, scan_add, sc, error_r) < 0) {
		scan_free(sc);
		return -1;
	}
	scan_build_hash(sc);
	return 0;
}

/* Delivery order of fresh entries: recovered UIDs first (so fresh ones go above them), then by
 * date, then by name. Sorted as 32-byte records (moved in place, not through pointers) whose
 * integer keys decide nearly every comparison: 8 name bytes after the
 * prefix all names share, big-endian. A big listing is then sorted without chasing two entry
 * pointers and two names per comparison. */
struct fresh_key {
	uint64_t uid; /* recovered UID, or above any for none */
	int64_t order;
	uint64_t name;
	const struct scan_entry *e;
};

/* The length of the prefix all names of list share. */
static size_t fresh_common_prefix(struct scan_entry *const *list, size_t n)
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

static void fresh_key_set(struct fresh_key *k, const struct scan_entry *e, size_t skip)
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

static inline int fresh_key_cmp(const struct fresh_key *x, const struct fresh_key *y)
{
	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	if (x->name != y->name)
		return x->name < y->name ? -1 : 1;
	return strcmp(x->e->name, y->e->name);
}

#define FRESH_RUN 16

/* Sorts a[lo..hi) by insertion (a short run). */
static void fresh_insertion_sort(struct fresh_key *a, size_t lo, size_t hi)
{
	for (size_t i = lo + 1; i < hi; i++) {
		struct fresh_key k = a[i];
		size_t j = i;

		for (; j > lo && fresh_key_cmp(&k, &a[j - 1]) < 0; j--)
			a[j] = a[j - 1];
		a[j] = k;
	}
}

/* Merges the sorted runs [lo, mid) and [mid, hi) of src into dst. */
static void fresh_merge(const struct fresh_key *src, struct fresh_key *dst, size_t lo, size_t mid,
                        size_t hi)
{
	size_t i = lo, j = mid, o = lo;

	while (i < mid && j < hi)
		dst[o++] = fresh_key_cmp(&src[j], &src[i]) < 0 ? src[j++] : src[i++];
	while (i < mid)
		dst[o++] = src[i++];
	while (j < hi)
		dst[o++] = src[j++];
}

/* Bottom-up merge sort of keys[0..n) with the comparison inlined (glibc's qsort calls it
 * through a pointer, and mallocs its own buffer). Returns the array that holds the result:
 * keys or tmp. */
static struct fresh_key *fresh_sort(struct fresh_key *keys, struct fresh_key *tmp, size_t n)
{
	struct fresh_key *src = keys, *dst = tmp, *swap;

	for (size_t lo = 0; lo < n; lo += FRESH_RUN)
		fresh_insertion_sort(keys, lo, lo + FRESH_RUN < n ? lo + FRESH_RUN : n);
	for (size_t width = FRESH_RUN; width < n; width *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * width) {
			size_t mid = lo + width < n ? lo + width : n;
			size_t hi = lo + 2 * width < n ? lo + 2 * width : n;

			fresh_merge(src, dst, lo, mid, hi);
		}
		swap = src;
		src = dst;
		dst = swap;
	}
	return src;
}

/* Sorts list[0..n) in delivery order. */
void sync_sort_fresh(struct scan_entry **list, size_t n)
{
	struct fresh_key *keys = big_array_realloc(NULL, 2 * n + 1, sizeof(*keys));
	struct fresh_key *sorted;
	size_t skip = fresh_common_prefix(list, n);

	for (size_t i = 0; i < n; i++)
		fresh_key_set(&keys[i], list[i], skip);
	sorted = fresh_sort(keys, keys + n, n);
	for (size_t i = 0; i < n; i++)
		list[i] = (struct scan_entry *)sorted[i].e;
	big_array_free(&keys);
}
