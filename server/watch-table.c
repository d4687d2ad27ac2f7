/*
 * The watch process's bookkeeping: its peers (one per worker connection, each holding at most
 * one mailbox's watches) and how many peers hold each inotify watch descriptor. inotify gives
 * every watch of one directory in one instance the same descriptor, so two sessions on one
 * mailbox share it, and it may be removed only when the last of them lets go.
 */
#include "server/watch.h"
#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>

static struct watch_ref *watch_ref_find(const struct watch_table *t, int wd)
{
	for (size_t i = 0; i < t->nrefs; i++)
		if (t->refs[i].wd == wd)
			return &t->refs[i];
	return NULL;
}

static void watch_ref_take(struct watch_table *t, int wd)
{
	struct watch_ref *r = watch_ref_find(t, wd);

	if (r != NULL) {
		r->count++;
		return;
	}
	if (t->nrefs == t->refs_cap) {
		t->refs_cap = t->refs_cap == 0 ? 16 : t->refs_cap * 2;
		t->refs = xreallocarray(t->refs, t->refs_cap, sizeof(*t->refs));
	}
	t->refs[t->nrefs++] = (struct watch_ref){wd, 1};
}

/* Lets go of wd once; 1 when nobody holds it any longer. */
static int watch_ref_drop(struct watch_table *t, int wd)
{
	struct watch_ref *r = watch_ref_find(t, wd);

	if (r == NULL)
		return 0;
	if (--r->count > 0)
		return 0;
	*r = t->refs[--t->nrefs];
	return 1;
}

void watch_table_add_peer(struct watch_table *t, int fd)
{
	if (t->npeers == t->peers_cap) {
		t->peers_cap = t->peers_cap == 0 ? 16 : t->peers_cap * 2;
		t->peers = xreallocarray(t->peers, t->peers_cap, sizeof(*t->peers));
	}
	t->peers[t->npeers++] = (struct watch_peer){.fd = fd, .wd = {-1, -1}};
}

struct watch_peer *watch_table_peer(struct watch_table *t, int fd)
{
	for (size_t i = 0; i < t->npeers; i++)
		if (t->peers[i].fd == fd)
			return &t->peers[i];
	return NULL;
}

/* Takes p's watches away, putting those nobody holds any more in released_r; their count. Both
 * of a peer's descriptors are the same one when new/ and cur/ are one directory (a link). */
static int watch_peer_release(struct watch_table *t, struct watch_peer *p, int *released_r)
{
	int n = 0;

	for (int i = 0; i < WATCH_DIRS; i++) {
		if (p->wd[i] >= 0 && watch_ref_drop(t, p->wd[i]))
			released_r[n++] = p->wd[i];
		p->wd[i] = -1;
	}
	return n;
}

int watch_table_set(struct watch_table *t, int fd, const int wd[WATCH_DIRS], int *released_r)
{
	struct watch_peer *p = watch_table_peer(t, fd);
	int n = 0;

	if (p == NULL)
		return -1;
	/* taken before the old ones are dropped: a watch kept across the change is never freed */
	for (int i = 0; i < WATCH_DIRS; i++)
		if (wd[i] >= 0)
			watch_ref_take(t, wd[i]);
	n = watch_peer_release(t, p, released_r);
	memcpy(p->wd, wd, sizeof(p->wd));
	return n;
}

int watch_table_clear(struct watch_table *t, int fd, int *released_r)
{
	struct watch_peer *p = watch_table_peer(t, fd);

	return p == NULL ? -1 : watch_peer_release(t, p, released_r);
}

int watch_table_remove_peer(struct watch_table *t, int fd, int *released_r)
{
	struct watch_peer *p = watch_table_peer(t, fd);
	int n;

	if (p == NULL)
		return -1;
	n = watch_peer_release(t, p, released_r);
	*p = t->peers[--t->npeers];
	return n;
}

size_t watch_table_event(struct watch_table *t, int wd)
{
	size_t n = 0;

	for (size_t i = 0; i < t->npeers; i++) {
		struct watch_peer *p = &t->peers[i];

		if (p->wd[0] == wd || p->wd[1] == wd) {
			p->woken = true;
			n++;
		}
	}
	return n;
}

size_t watch_table_forget(struct watch_table *t, int wd)
{
	size_t n = watch_table_event(t, wd);
	struct watch_ref *r = watch_ref_find(t, wd);

	for (size_t i = 0; i < t->npeers; i++)
		for (int j = 0; j < WATCH_DIRS; j++)
			if (t->peers[i].wd[j] == wd)
				t->peers[i].wd[j] = -1;
	if (r != NULL)
		*r = t->refs[--t->nrefs];
	return n;
}

unsigned watch_table_refs(const struct watch_table *t, int wd)
{
	const struct watch_ref *r = watch_ref_find(t, wd);

	return r == NULL ? 0 : r->count;
}

void watch_table_free(struct watch_table *t)
{
	free(t->peers);
	free(t->refs);
	*t = (struct watch_table){0};
}
