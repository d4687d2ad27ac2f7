/* Memory for the strings of a directory listing and of the mailbox view built from it: carved
 * one after another from chunks, freed all at once. A big listing then costs a few dozen
 * allocations instead of one per name, and its strings lie side by side in the order they were
 * listed (or copied: see scan_order_apply in scan-order.c), which the passes over them walk.
 * Chunks grow with the pool; from BIG_ARRAY_MAP_MIN on they are mappings of their own
 * (bigarray.h). The view of a mailbox keeps the pool of the big listing it was built from and
 * carves every later string of its messages from it (msg-strings.c); a string no longer used
 * is counted dead, so that the view can tell when copying the live ones into a fresh pool pays.
 */
#ifndef TWOFOLD_STORAGE_NAME_POOL_H
#define TWOFOLD_STORAGE_NAME_POOL_H

#include <stdbool.h>
#include <stddef.h>

struct name_pool;

struct name_pool *name_pool_new(void);
/* len bytes (1 <= len), aligned for char only; valid until the pool is freed. */
char *name_pool_alloc(struct name_pool *pool, size_t len);
/* A copy of s carved from pool. */
char *name_pool_strdup(struct name_pool *pool, const char *s);
/* s, carved from pool, is no longer used: its bytes count as dead (they stay until the pool
 * is freed). */
void name_pool_drop(struct name_pool *pool, const char *s);
/* True when more bytes carved from pool are dead than live. */
bool name_pool_wasteful(const struct name_pool *pool);
void name_pool_free(struct name_pool **pool);

#endif
