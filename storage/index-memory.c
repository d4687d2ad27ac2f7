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
 * (a freed 128 KiB read buffer) malloc_trim never returns: 132 KiB held for the rest of the
 * session by every worker that once synced a big new/. The threads mostly read files; sharing
 * the main arena's lock costs them little.
 */
#include "storage/index-memory.h"

#include <malloc.h>
#include <sqlite3.h>
#include <stdbool.h>

static bool index_memory_applied;

static int index_memory_config(void)
{
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
