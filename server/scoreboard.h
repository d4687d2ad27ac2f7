/*
 * The worker scoreboard: one shared-memory slot per worker, mapped by the master before forking.
 * The master owns pid, generation and retiring; the worker owns state and sessions.
 * Every worker can write every slot: the master reads only the states, never trusts the pids
 * (its own table, server/master-pool.h, says whom to signal).
 */
#ifndef TWOFOLD_SCOREBOARD_H
#define TWOFOLD_SCOREBOARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum scoreboard_state {
	SLOT_FREE = 0,
	SLOT_STARTING, /* forked, not yet waiting for connections (counts as idle) */
	SLOT_IDLE,
	SLOT_BUSY,
};

struct scoreboard_slot {
	volatile pid_t pid;
	volatile uint32_t state; /* enum scoreboard_state */
	volatile uint32_t sessions;
	volatile uint32_t generation;
	volatile uint32_t retiring; /* master asked it to exit when idle */
};

struct scoreboard {
	struct scoreboard_slot *slots;
	size_t count; /* slots mapped */
	size_t used;  /* high-water mark: slots at and above are free */
};

struct scoreboard_counts {
	unsigned total; /* live workers of any generation */
	unsigned idle;  /* idle or starting, current generation, not retiring */
	unsigned busy;
};

/* Maps count slots; -1 on failure. */
int scoreboard_init(struct scoreboard *sb, size_t count);
void scoreboard_free(struct scoreboard *sb);

/* A free slot for a new worker, or -1 when all are taken. */
int scoreboard_alloc(struct scoreboard *sb, pid_t pid, uint32_t generation);
/* Sets up a slot the caller chose (the master, from its own table) for a new worker. */
void scoreboard_claim(struct scoreboard *sb, int slot, pid_t pid, uint32_t generation);
/* The slot of pid, or -1. */
int scoreboard_find(const struct scoreboard *sb, pid_t pid);
void scoreboard_release(struct scoreboard *sb, int slot);
void scoreboard_count(const struct scoreboard *sb, uint32_t generation,
                      struct scoreboard_counts *c_r);

/* Worker side. */
void scoreboard_set_state(struct scoreboard *sb, int slot, enum scoreboard_state state);
uint32_t scoreboard_session_done(struct scoreboard *sb, int slot);

#endif
