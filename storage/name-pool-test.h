/* For unit tests only: what a name pool holds. */
#ifndef TWOFOLD_STORAGE_NAME_POOL_TEST_H
#define TWOFOLD_STORAGE_NAME_POOL_TEST_H

#include "storage/name-pool.h"

/* Bytes of the pool's chunks: the memory it holds. */
size_t name_pool_size(const struct name_pool *pool);

#endif
