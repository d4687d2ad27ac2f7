/* The master's private worker table: what it signals never comes from the shared scoreboard. */
#include "server/master-pool.h"
#include "server/scoreboard.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 16

struct fixture {
	struct scoreboard sb;
	struct master_pool pool;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_int_equal(scoreboard_init(&f->sb, SLOTS), 0);
	master_pool_init(&f->pool, SLOTS);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	scoreboard_free(&f->sb);
	master_pool_free(&f->pool);
	free(f);
	return 0;
}

/* Spawns (on paper) a worker the way the master does. */
static int add(struct fixture *f, pid_t pid, uint32_t generation)
{
	int slot = master_pool_free_slot(&f->pool);

	assert_true(slot >= 0);
	scoreboard_claim(&f->sb, slot, pid, generation);
	master_pool_add(&f->pool, pid, slot, generation, false);
	return slot;
}

/* What a compromised worker can do: rewrite every slot, in use or not. */
static void forge_all(struct fixture *f, pid_t pid, uint32_t state, uint32_t generation)
{
	for (size_t i = 0; i < SLOTS; i++) {
		f->sb.slots[i].pid = pid;
		f->sb.slots[i].state = state;
		f->sb.slots[i].generation = generation;
		f->sb.slots[i].retiring = 0;
	}
	f->sb.used = SLOTS;
}

static bool in_table(const struct master_pool *pool, pid_t pid)
{
	return master_pool_find(pool, pid) >= 0;
}

/* Retiring drains only table entries, whatever pids the scoreboard names. */
static void test_retire_picks_only_own_pids(void **state)
{
	struct fixture *f = *state;
	pid_t seen[SLOTS];
	size_t n = 0;
	int i;

	add(f, 1001, 7);
	add(f, 1002, 7);
	add(f, 1003, 6); /* old generation: SIGHUP's business, not the pool's */
	add(f, 1004, 7);
	forge_all(f, 1, SLOT_IDLE, 7); /* "every slot is init, idle, current" */
	while ((i = master_pool_pick_retire(&f->pool, &f->sb, 7)) >= 0) {
		assert_true((size_t)i < f->pool.count);
		assert_true(in_table(&f->pool, f->pool.w[i].pid));
		assert_int_not_equal(f->pool.w[i].pid, 1);
		assert_int_equal(f->pool.w[i].generation, 7);
		seen[n++] = f->pool.w[i].pid;
		f->pool.w[i].retiring = true;
		assert_true(n <= 3);
	}
	assert_int_equal(n, 3);
	for (size_t k = 0; k < n; k++)
		assert_true(seen[k] == 1001 || seen[k] == 1002 || seen[k] == 1004);
}

/* A slot claiming busy is never retired; one in a made-up state neither. */
static void test_retire_needs_idle_state(void **state)
{
	struct fixture *f = *state;
	int a = add(f, 2001, 1), b = add(f, 2002, 1), c = add(f, 2003, 1);

	f->sb.slots[a].state = SLOT_BUSY;
	f->sb.slots[b].state = 77;
	f->sb.slots[c].state = SLOT_STARTING;
	assert_int_equal(master_pool_pick_retire(&f->pool, &f->sb, 1), -1);
	f->sb.slots[c].state = SLOT_IDLE;
	assert_int_equal(f->pool.w[master_pool_pick_retire(&f->pool, &f->sb, 1)].pid, 2003);
}

/* Counts: the total is the table's; forged states move idle/busy only within it. */
static void test_counts_bounded_by_table(void **state)
{
	struct fixture *f = *state;
	struct scoreboard_counts c;

	add(f, 3001, 2);
	add(f, 3002, 2);
	add(f, 3003, 1);
	f->pool.w[1].retiring = true;
	forge_all(f, 4242, SLOT_IDLE, 2);
	master_pool_count(&f->pool, &f->sb, 2, &c);
	assert_int_equal(c.total, 3);
	assert_int_equal(c.idle, 1); /* not the retiring one, not the old generation */
	assert_int_equal(c.busy, 0);
	forge_all(f, 0, SLOT_BUSY, 2);
	master_pool_count(&f->pool, &f->sb, 2, &c);
	assert_int_equal(c.total, 3);
	assert_int_equal(c.idle, 0);
	assert_int_equal(c.busy, 3);
	forge_all(f, 0, 0xdeadbeef, 2);
	master_pool_count(&f->pool, &f->sb, 2, &c);
	assert_int_equal(c.total, 3);
	assert_int_equal(c.idle + c.busy, 0);
	/* a "free" slot (pid 0 written by a worker) does not hide a live worker */
	for (size_t i = 0; i < SLOTS; i++)
		assert_int_not_equal(f->sb.slots[i].pid, 3001);
	assert_int_equal(master_pool_find(&f->pool, 3001), 0);
}

/* The overflow process ("server busy") is no worker of the pool: never counted, never
 * retired as a spare; one of the current generation is known to run. */
static void test_overflow_outside_the_pool(void **state)
{
	struct fixture *f = *state;
	struct scoreboard_counts c;
	int slot = master_pool_free_slot(&f->pool);

	add(f, 6001, 3);
	scoreboard_claim(&f->sb, slot + 1, 6002, 3);
	master_pool_add(&f->pool, 6002, slot + 1, 3, true);
	assert_false(master_pool_has_overflow(&f->pool, 4));
	assert_true(master_pool_has_overflow(&f->pool, 3));
	forge_all(f, 0, SLOT_IDLE, 3);
	master_pool_count(&f->pool, &f->sb, 3, &c);
	assert_int_equal(c.total, 1);
	assert_int_equal(c.idle, 1);
	assert_int_equal(f->pool.w[master_pool_pick_retire(&f->pool, &f->sb, 3)].pid, 6001);
	f->pool.w[0].retiring = true;
	assert_int_equal(master_pool_pick_retire(&f->pool, &f->sb, 3), -1);
	f->pool.w[1].retiring = true;
	assert_false(master_pool_has_overflow(&f->pool, 3));
}

/* Slots come from the table: a worker clearing its slot's pid does not get it handed out. */
static void test_slots_from_table(void **state)
{
	struct fixture *f = *state;
	int s0 = add(f, 5001, 0), s1 = add(f, 5002, 0), s2;

	forge_all(f, 0, SLOT_FREE, 0);
	s2 = add(f, 5003, 0);
	assert_int_not_equal(s2, s0);
	assert_int_not_equal(s2, s1);
	master_pool_remove(&f->pool, (size_t)master_pool_find(&f->pool, 5001));
	assert_int_equal(master_pool_find(&f->pool, 5001), -1);
	assert_int_equal(master_pool_free_slot(&f->pool), s0);
	for (int i = 0; i < SLOTS; i++)
		if (master_pool_free_slot(&f->pool) >= 0)
			add(f, 6000 + i, 0);
	assert_int_equal(master_pool_free_slot(&f->pool), -1);
	assert_int_equal(f->pool.count, SLOTS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_retire_picks_only_own_pids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retire_needs_idle_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_counts_bounded_by_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slots_from_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overflow_outside_the_pool, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
