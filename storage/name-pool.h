/* Memory for the file names and keys of a directory listing: carved one after another from
 * chunks, freed all at once. A big listing then costs a few dozen allocations instead of one
 * per name, and its strings lie side by side in the order they were listed (or copied: see
 * scan_order_apply in scan-order.c), which the passes over them walk. Chunks grow with the
 * pool; from BIG_ARRAY_MAP_MIN on they are mappings of their own (bigarray.h). The view of a
 * mailbox keeps the pool of the big listing it was built from.
 */
#ifndef TWOFOLD_STORAGE_NAME_POOL_H
#define TWOFOLD_STORAGE_NAME_POOL_H

#include <stddef.h>

struct name_pool;

struct name_pool *name_pool_new(void);
/* len bytes (1 <= len), aligned for char only; valid until the pool is freed. */
char *name_pool_alloc(struct name_pool *pool, size_t len);
void name_pool_free(struct name_pool **pool);

#endif
