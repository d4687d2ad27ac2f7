/*
 * A directory listing of new/ or cur/ with a hash of its keys, for the sync (storage.c); its
 * order is scan-order.c's.
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
