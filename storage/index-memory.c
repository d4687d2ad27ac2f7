/*
 * SQLite keeps, per connection and until the connection closes, a "bulk" page-cache slab of
 * SQLITE_DEFAULT_PCACHE_INITSZ pages (20 in Debian's build: ~85 KiB, every page of it written
 * when the slab is threaded into a free list) and, in builds that have it, a lookaside slab
 * (1200 x 100 bytes by default). Neither is given back by sqlite3_db_release_memory. A worker
 * holds its mailbox index for the whole session, and an IMAP IDLE session lasts hours: without
 * the slabs, the page cache takes pages one allocation at a time and mail_index_release_memory
 * returns them all after a sync, so an idle session holds only what it uses.
 *
 * Also one malloc arena for the process: a sync that measures many files runs threads
 * (maildir_measure_many), and glibc gives each thread an arena of its own whose top chunk
 * (a freed read buffer) malloc_trim never returns, held for the rest of the session by every
 * worker that once synced a big new/. The threads mostly read files; sharing
 * the main arena's lock costs them little.
 */
#include "storage/index-memory.h"

#include <malloc.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static bool index_memory_applied;

/*
 * A zone for SQLite's small allocations. An open index holds a few hundred of them (schema,
 * prepared statements, the FTS/R-tree modules Debian's build registers on every connection),
 * made between the session's short-lived allocations (TLS handshake, login, the sync's
 * listing). In the main heap they end up one or two per page, and an IDLE session keeps every
 * one of those pages; here they sit side by side in blocks of their own, a third as many
 * pages. SQLite's large buffers (page cache pages, its scratch page) go to malloc as before.
 *
 * Each allocation has an 8-byte header: its size class, or for a malloc'ed one its size.
 * Freed slots go to their class's free list; blocks are never given back (SQLite's small
 * allocations in a worker are bounded: a few open statements and one schema). That is why
 * the index never sorts in memory (SQLite's in-memory sort allocates each key alone, and the
 * zone would keep them all for the session); its sorts spill to a file (index-vfs-wal.c).
 */
#define ZONE_BLOCK  (64 * 1024)
#define ZONE_HEADER 8
#define ZONE_LARGE  0xffu

static const uint32_t zone_sizes[] = {16,  32,  48,  64,  80,  96,  128, 160,
                                      192, 256, 320, 384, 512, 640, 768, 1024};
#define ZONE_CLASSES (sizeof(zone_sizes) / sizeof(zone_sizes[0]))

static struct {
	pthread_mutex_t lock;
	void *free[ZONE_CLASSES];
	char *next, *end; /* unused part of the current block */
} zone = {.lock = PTHREAD_MUTEX_INITIALIZER};

static unsigned zone_class(uint64_t n)
{
	for (unsigned i = 0; i < ZONE_CLASSES; i++) {
		if (n <= zone_sizes[i])
			return i;
	}
	return ZONE_LARGE;
}

static uint64_t *zone_header(void *p)
{
	return (uint64_t *)((char *)p - ZONE_HEADER);
}

/* A slot of class c, with its header written; NULL when out of memory. Lock held. */
static void *zone_take(unsigned c)
{
	size_t slot = ZONE_HEADER + zone_sizes[c];
	char *p;

	if (zone.free[c] != NULL) {
		p = zone.free[c];
		memcpy(&zone.free[c], p, sizeof(void *));
		return p;
	}
	if (zone.next == NULL || (size_t)(zone.end - zone.next) < slot) {
		void *block = mmap(NULL, ZONE_BLOCK, PROT_READ | PROT_WRITE,
		                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (block == MAP_FAILED)
			return NULL;
		zone.next = block;
		zone.end = zone.next + ZONE_BLOCK;
	}
	p = zone.next + ZONE_HEADER;
	zone.next += slot;
	*zone_header(p) = c;
	return p;
}

static void *zone_malloc(int n)
{
	unsigned c = zone_class(n > 0 ? (uint64_t)n : 1);
	char *p;

	if (n < 0)
		return NULL;
	if (c == ZONE_LARGE) {
		p = malloc(ZONE_HEADER + (size_t)n);
		if (p == NULL)
			return NULL;
		p += ZONE_HEADER;
		*zone_header(p) = (uint64_t)n << 8 | ZONE_LARGE;
		return p;
	}
	pthread_mutex_lock(&zone.lock);
	p = zone_take(c);
	pthread_mutex_unlock(&zone.lock);
	return p;
}

static void zone_free(void *p)
{
	unsigned c;

	if (p == NULL)
		return;
	c = (unsigned)(*zone_header(p) & 0xff);
	if (c == ZONE_LARGE) {
		free(zone_header(p));
		return;
	}
	pthread_mutex_lock(&zone.lock);
	memcpy(p, &zone.free[c], sizeof(void *));
	zone.free[c] = p;
	pthread_mutex_unlock(&zone.lock);
}

static int zone_size(void *p)
{
	uint64_t h;

	if (p == NULL)
		return 0;
	h = *zone_header(p);
	return (h & 0xff) == ZONE_LARGE ? (int)(h >> 8) : (int)zone_sizes[h & 0xff];
}

static void *zone_realloc(void *p, int n)
{
	void *q;
	int old = zone_size(p);

	if (n <= old && zone_class((uint64_t)n) == zone_class((uint64_t)old))
		return p; /* same slot fits */
	q = zone_malloc(n);
	if (q == NULL)
		return NULL;
	memcpy(q, p, (size_t)(old < n ? old : n));
	zone_free(p);
	return q;
}

static int zone_roundup(int n)
{
	unsigned c = zone_class(n > 0 ? (uint64_t)n : 1);

	return c == ZONE_LARGE ? (n + 7) & ~7 : (int)zone_sizes[c];
}

static int zone_init(void *ctx)
{
	(void)ctx;
	return SQLITE_OK;
}

static void zone_shutdown(void *ctx)
{
	(void)ctx;
}

static const sqlite3_mem_methods zone_methods = {
    .xMalloc = zone_malloc,
    .xFree = zone_free,
    .xRealloc = zone_realloc,
    .xSize = zone_size,
    .xRoundup = zone_roundup,
    .xInit = zone_init,
    .xShutdown = zone_shutdown,
};

static int index_memory_config(void)
{
	if (sqlite3_config(SQLITE_CONFIG_MALLOC, &zone_methods) != SQLITE_OK)
		return -1;
	/* page cache: no per-connection slab; pages come from malloc one by one */
	if (sqlite3_config(SQLITE_CONFIG_PAGECACHE, (void *)0, 0, 0) != SQLITE_OK)
		return -1;
	/* no lookaside slab per connection (a no-op where SQLite is built without one) */
	if (sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0) != SQLITE_OK)
		return -1;
	/* no allocation statistics: they cost a mutex per malloc and are never read */
	return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK ? 0 : -1;
}

int mail_index_memory_setup(const char **error_r)
{
	if (index_memory_applied)
		return 0;
	(void)mallopt(M_ARENA_MAX, 1);
	/* sqlite3_config() is refused once SQLite is initialised */
	if (index_memory_config() < 0) {
		*error_r = "SQLite already initialised: default memory settings kept";
		return -1;
	}
	index_memory_applied = true;
	return 0;
}
