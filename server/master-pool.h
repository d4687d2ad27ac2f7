/*
 * The master's own table of its workers, in private memory. The scoreboard is shared with every
 * worker, so a compromised worker can write anything there: the master takes from it only the
 * idle/busy state each slot claims, and takes pids, generations, slots and the retiring mark
 * from this table. Only pids here are ever signalled, and an entry leaves the table only when
 * waitpid() has reaped it: until then its pid cannot be reused by another process.
 */
#ifndef TWOFOLD_MASTER_POOL_H
#define TWOFOLD_MASTER_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct scoreboard;
struct scoreboard_counts;

struct master_worker {
	pid_t pid;
	uint32_t generation;
	int slot;      /* its scoreboard slot, chosen by the master */
	bool retiring; /* asked to leave (SIGUSR1) */
	bool overflow; /* the "server busy" process (server/overflow.h): not one of the pool */
};

struct master_pool {
	struct master_worker *w;
	size_t count, alloc;
	bool *slot_taken; /* per scoreboard slot */
	size_t slots;
};

void master_pool_init(struct master_pool *pool, size_t slots);
void master_pool_free(struct master_pool *pool);

/* The lowest scoreboard slot no worker in the table holds, or -1 when all are taken. */
int master_pool_free_slot(const struct master_pool *pool);
void master_pool_add(struct master_pool *pool, pid_t pid, int slot, uint32_t generation,
                     bool overflow);
/* The index of pid in the table, or -1. */
int master_pool_find(const struct master_pool *pool, pid_t pid);
/* Drops entry i (once reaped); its slot is free again. */
void master_pool_remove(struct master_pool *pool, size_t i);

/* total: workers in the table. idle: those of generation, not retiring, whose slot says
 * starting or idle. busy: those whose slot says busy. A slot in any other state is neither.
 * So whatever the scoreboard holds, idle + busy <= total and total is the table's. The
 * overflow process is none of them. */
void master_pool_count(const struct master_pool *pool, const struct scoreboard *sb,
                       uint32_t generation, struct scoreboard_counts *c_r);
/* The index of a worker to retire: of generation, not yet retiring, its slot says idle; -1 if
 * none. Always an index into the table, never anything read from the scoreboard. */
int master_pool_pick_retire(const struct master_pool *pool, const struct scoreboard *sb,
                            uint32_t generation);
/* True when an overflow process of generation runs and is not retiring. */
bool master_pool_has_overflow(const struct master_pool *pool, uint32_t generation);

#endif
