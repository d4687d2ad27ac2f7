/*
 * The worker scoreboard: one shared-memory slot per worker, mapped by the master before forking.
 * The master owns pid, generation and retiring; the worker owns state, sessions and the client
 * it serves (counted by every worker for the per-address limits).
 * Every worker can write every slot: the master reads only the states, never trusts the pids
 * (its own table, server/master-pool.h, says whom to signal). A compromised worker could make an
 * address look busy and so turn away its clients; it can do worse from where it is.
 */
#ifndef TWOFOLD_SCOREBOARD_H
#define TWOFOLD_SCOREBOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

enum scoreboard_state {
	SLOT_FREE = 0,
	SLOT_STARTING, /* forked, not yet waiting for connections (counts as idle) */
	SLOT_IDLE,
	SLOT_BUSY,
	SLOT_OVERFLOW, /* the process that answers "busy" when the pool is full: neither */
};

/* What a worker's client is doing, for the per-address counts. */
enum scoreboard_phase {
	PHASE_NONE = 0,
	PHASE_PRELOGIN, /* accepted, not logged in (TLS handshake included) */
	PHASE_SESSION,  /* logged in, or logging in */
};

/* The logged-in session of a worker, for `twofold who` and `kick`. Written by the worker, so
 * shown but never trusted: kick signals only pids of the master's own table. */
#define SCOREBOARD_USER_MAX 256
#define SCOREBOARD_IP_MAX   48
struct scoreboard_session {
	char user[SCOREBOARD_USER_MAX]; /* "" = none */
	char ip[SCOREBOARD_IP_MAX];
	uint32_t proto; /* enum auth_proto */
	int64_t since;  /* wall-clock seconds of the login */
};

struct scoreboard_slot {
	volatile pid_t pid;
	volatile uint32_t state; /* enum scoreboard_state */
	volatile uint32_t sessions;
	volatile uint32_t generation;
	volatile uint32_t retiring; /* master asked it to exit when idle */
	/* the client, written by the worker as a seqlock (client_seq odd while it changes) */
	volatile uint32_t client_seq;
	volatile uint32_t client_phase; /* enum scoreboard_phase */
	volatile uint64_t client_key[2];
	/* the session, written by the worker as a seqlock too (session_seq odd while it changes) */
	volatile uint32_t session_seq;
	struct scoreboard_session session;
};

/* Shared with the workers beside the slots. */
struct scoreboard_shared {
	volatile uint32_t used;   /* high-water mark of slots in use, kept by the master */
	volatile int64_t log_at; /* monotonic ms: the last refusal logged by any worker */
	volatile uint32_t refused; /* refusals since then */
};

struct scoreboard {
	struct scoreboard_shared *shared;
	struct scoreboard_slot *slots;
	size_t count; /* slots mapped */
	size_t used;  /* high-water mark: slots at and above are free */
};

struct scoreboard_counts {
	unsigned total; /* live workers of any generation */
	unsigned idle;  /* idle or starting, current generation, not retiring */
	unsigned busy;
	uint64_t done; /* scoreboard_workers: sessions the live workers have finished */
};

/* An address as the limits count it: IPv4 (or v4-mapped) whole, IPv6 by its /64, the block one
 * host or home network picks its addresses from. */
struct scoreboard_client_key {
	uint64_t k[2];
};

/* Maps count slots; -1 on failure. */
int scoreboard_init(struct scoreboard *sb, size_t count);
void scoreboard_free(struct scoreboard *sb);

/* Sets up a slot the caller chose (the master, from its own table) for a new worker. */
void scoreboard_claim(struct scoreboard *sb, int slot, pid_t pid, uint32_t generation);
void scoreboard_release(struct scoreboard *sb, int slot);

/* Worker side. */
void scoreboard_set_state(struct scoreboard *sb, int slot, enum scoreboard_state state);
uint32_t scoreboard_session_done(struct scoreboard *sb, int slot);
/* Live workers, those busy and those idle (any generation) as the workers see them. */
void scoreboard_workers(const struct scoreboard *sb, struct scoreboard_counts *c_r);

void scoreboard_client_key(const struct sockaddr_storage *ss, struct scoreboard_client_key *key_r);
/* Publishes that slot serves key in phase, then counts the slots (this one included) serving
 * key in that phase. Published first, so two workers taking clients of one address at the same
 * moment each count the other: a limit is never exceeded (at worst both refuse). */
unsigned scoreboard_client_enter(struct scoreboard *sb, int slot,
                                 const struct scoreboard_client_key *key,
                                 enum scoreboard_phase phase);
/* slot serves no client any more. */
void scoreboard_client_leave(struct scoreboard *sb, int slot);
/* Worker side: slot's session is now s (NULL: none). */
void scoreboard_session_set(struct scoreboard *sb, int slot, const struct scoreboard_session *s);
/* A consistent copy of slot's session, strings terminated; false when it has none or it kept
 * changing. */
bool scoreboard_session_get(const struct scoreboard *sb, int slot, struct scoreboard_session *s_r);

/* For logging refusals once per interval across all workers: true when this caller is to log
 * now (*refused_r: refusals since the last line, this one included), false when it only counted. */
bool scoreboard_refusal_log_due(struct scoreboard *sb, long now_ms, long interval_ms,
                                unsigned *refused_r);

#endif
