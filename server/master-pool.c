#include "server/master-pool.h"
#include "common/xalloc.h"
#include "server/scoreboard.h"

#include <string.h>

void master_pool_init(struct master_pool *pool, size_t slots)
{
	memset(pool, 0, sizeof(*pool));
	pool->slot_taken = xcalloc(slots, sizeof(*pool->slot_taken));
	pool->slots = slots;
}

void master_pool_free(struct master_pool *pool)
{
	xfree(&pool->w);
	xfree(&pool->slot_taken);
	pool->count = pool->alloc = pool->slots = 0;
}

int master_pool_free_slot(const struct master_pool *pool)
{
	for (size_t i = 0; i < pool->slots; i++)
		if (!pool->slot_taken[i])
			return (int)i;
	return -1;
}

void master_pool_add(struct master_pool *pool, pid_t pid, int slot, uint32_t generation,
                     bool overflow)
{
	if (pool->count == pool->alloc) {
		pool->alloc = pool->alloc == 0 ? 16 : pool->alloc * 2;
		pool->w = xreallocarray(pool->w, pool->alloc, sizeof(*pool->w));
	}
	pool->w[pool->count++] = (struct master_worker){pid, generation, slot, false, overflow};
	pool->slot_taken[slot] = true;
}

int master_pool_find(const struct master_pool *pool, pid_t pid)
{
	for (size_t i = 0; i < pool->count; i++)
		if (pool->w[i].pid == pid)
			return (int)i;
	return -1;
}

void master_pool_remove(struct master_pool *pool, size_t i)
{
	pool->slot_taken[pool->w[i].slot] = false;
	pool->w[i] = pool->w[--pool->count];
}

/* What the worker says of itself: read once, as it may change under us. */
static uint32_t master_pool_state(const struct scoreboard *sb, const struct master_worker *w)
{
	return __atomic_load_n(&sb->slots[w->slot].state, __ATOMIC_ACQUIRE);
}

static bool master_pool_idle(const struct master_worker *w, uint32_t state, uint32_t generation)
{
	return w->generation == generation && !w->retiring &&
	       (state == SLOT_IDLE || state == SLOT_STARTING);
}

void master_pool_count(const struct master_pool *pool, const struct scoreboard *sb,
                       uint32_t generation, struct scoreboard_counts *c_r)
{
	memset(c_r, 0, sizeof(*c_r));
	for (size_t i = 0; i < pool->count; i++) {
		uint32_t state;

		if (pool->w[i].overflow)
			continue;
		c_r->total++;
		state = master_pool_state(sb, &pool->w[i]);

		if (state == SLOT_BUSY)
			c_r->busy++;
		else if (master_pool_idle(&pool->w[i], state, generation))
			c_r->idle++;
	}
}

int master_pool_pick_retire(const struct master_pool *pool, const struct scoreboard *sb,
                            uint32_t generation)
{
	for (size_t i = 0; i < pool->count; i++) {
		const struct master_worker *w = &pool->w[i];

		if (!w->overflow && master_pool_state(sb, w) == SLOT_IDLE &&
		    master_pool_idle(w, SLOT_IDLE, generation))
			return (int)i;
	}
	return -1;
}

bool master_pool_has_overflow(const struct master_pool *pool, uint32_t generation)
{
	for (size_t i = 0; i < pool->count; i++)
		if (pool->w[i].overflow && pool->w[i].generation == generation && !pool->w[i].retiring)
			return true;
	return false;
}
