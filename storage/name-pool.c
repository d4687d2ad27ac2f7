#include "storage/name-pool.h"
#include "storage/name-pool-test.h"

#include "common/xalloc.h"
#include "storage/bigarray.h"

#include <string.h>

#define NAME_POOL_FIRST_CHUNK ((size_t)16 << 10)
#define NAME_POOL_MAX_CHUNK   ((size_t)4 << 20)

struct name_chunk {
	struct name_chunk *next;
	size_t size, used; /* bytes of data[] */
	char data[];
};

struct name_pool {
	struct name_chunk *chunks; /* the one carved from first */
	size_t total;              /* bytes of all chunks' data[] */
	size_t used;               /* bytes carved */
	size_t dead;               /* of those, bytes dropped */
};

struct name_pool *name_pool_new(void)
{
	return xcalloc(1, sizeof(struct name_pool));
}

static void name_pool_grow(struct name_pool *pool, size_t len)
{
	size_t size = pool->total < NAME_POOL_FIRST_CHUNK ? NAME_POOL_FIRST_CHUNK : pool->total;
	struct name_chunk *c;

	if (size > NAME_POOL_MAX_CHUNK)
		size = NAME_POOL_MAX_CHUNK;
	if (size < len)
		size = len;
	c = big_array_realloc(NULL, 1, sizeof(*c) + size);
	c->size = size;
	c->used = 0;
	c->next = pool->chunks;
	pool->chunks = c;
	pool->total += size;
}

char *name_pool_alloc(struct name_pool *pool, size_t len)
{
	struct name_chunk *c = pool->chunks;
	char *p;

	if (c == NULL || c->size - c->used < len) {
		name_pool_grow(pool, len);
		c = pool->chunks;
	}
	p = c->data + c->used;
	c->used += len;
	pool->used += len;
	return p;
}

char *name_pool_strdup(struct name_pool *pool, const char *s)
{
	size_t len = strlen(s) + 1;

	return memcpy(name_pool_alloc(pool, len), s, len);
}

void name_pool_drop(struct name_pool *pool, const char *s)
{
	pool->dead += strlen(s) + 1;
}

bool name_pool_wasteful(const struct name_pool *pool)
{
	return pool->dead > pool->used - pool->dead;
}

size_t name_pool_size(const struct name_pool *pool)
{
	return pool->total;
}

void name_pool_free(struct name_pool **pool)
{
	struct name_chunk *c, *next;

	if (*pool == NULL)
		return;
	for (c = (*pool)->chunks; c != NULL; c = next) {
		next = c->next;
		big_array_free(&c);
	}
	xfree(pool);
}
