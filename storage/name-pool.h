/* Memory for the file names and keys of a directory listing: carved one after another from
 * chunks, freed all at once. A listing of 100,000 names then costs a few dozen allocations
 * instead of 100,000, and its strings lie side by side in the order they were listed (or
 * copied: see scan_reorder in storage.c), which the passes over them walk. Chunks grow with
 * the pool; from BIG_ARRAY_MAP_MIN on they are mappings of their own (bigarray.h). A pool can
 * be handed over whole: the view of a mailbox keeps the pool of the listing it was built from.
 */
#ifndef TWOFOLD_STORAGE_NAME_POOL_H
#define TWOFOLD_STORAGE_NAME_POOL_H

#include <stddef.h>

struct name_pool;

struct name_pool *name_pool_new(void);
/* len bytes (1 <= len), aligned for char only; valid until the pool is freed. */
char *name_pool_alloc(struct name_pool *pool, size_t len);
/* A copy of the string s in the pool. */
char *name_pool_strdup(struct name_pool *pool, const char *s);
/* Moves every chunk of *src into dst (strings keep their addresses) and frees *src. */
void name_pool_absorb(struct name_pool *dst, struct name_pool **src);
/* Bytes of chunks held. */
size_t name_pool_size(const struct name_pool *pool);
void name_pool_free(struct name_pool **pool);

#endif
