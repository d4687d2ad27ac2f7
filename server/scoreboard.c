#include "server/scoreboard.h"

#include <string.h>
#include <sys/mman.h>

int scoreboard_init(struct scoreboard *sb, size_t count)
{
	void *p = mmap(NULL, count * sizeof(*sb->slots), PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	sb->slots = p;
	sb->count = count;
	sb->used = 0;
	return 0;
}

void scoreboard_free(struct scoreboard *sb)
{
	if (sb->slots != NULL)
		munmap(sb->slots, sb->count * sizeof(*sb->slots));
	sb->slots = NULL;
	sb->count = sb->used = 0;
}

int scoreboard_alloc(struct scoreboard *sb, pid_t pid, uint32_t generation)
{
	for (size_t i = 0; i < sb->count; i++) {
		struct scoreboard_slot *s = &sb->slots[i];

		if (s->pid != 0)
			continue;
		s->state = SLOT_STARTING;
		s->sessions = 0;
		s->generation = generation;
		s->retiring = 0;
		__atomic_store_n(&s->pid, pid, __ATOMIC_RELEASE);
		if (i >= sb->used)
			sb->used = i + 1;
		return (int)i;
	}
	return -1;
}

void scoreboard_claim(struct scoreboard *sb, int slot, pid_t pid, uint32_t generation)
{
	struct scoreboard_slot *s = &sb->slots[slot];

	s->state = SLOT_STARTING;
	s->sessions = 0;
	s->generation = generation;
	s->retiring = 0;
	__atomic_store_n(&s->pid, pid, __ATOMIC_RELEASE);
	if ((size_t)slot >= sb->used)
		sb->used = (size_t)slot + 1;
}

int scoreboard_find(const struct scoreboard *sb, pid_t pid)
{
	for (size_t i = 0; i < sb->used; i++)
		if (sb->slots[i].pid == pid)
			return (int)i;
	return -1;
}

void scoreboard_release(struct scoreboard *sb, int slot)
{
	memset((void *)&sb->slots[slot], 0, sizeof(sb->slots[slot]));
	while (sb->used > 0 && sb->slots[sb->used - 1].pid == 0)
		sb->used--;
}

void scoreboard_count(const struct scoreboard *sb, uint32_t generation,
                      struct scoreboard_counts *c_r)
{
	memset(c_r, 0, sizeof(*c_r));
	for (size_t i = 0; i < sb->used; i++) {
		const struct scoreboard_slot *s = &sb->slots[i];

		if (s->pid == 0)
			continue;
		c_r->total++;
		if (s->state == SLOT_BUSY)
			c_r->busy++;
		else if (s->generation == generation && s->retiring == 0)
			c_r->idle++;
	}
}

void scoreboard_set_state(struct scoreboard *sb, int slot, enum scoreboard_state state)
{
	__atomic_store_n(&sb->slots[slot].state, (uint32_t)state, __ATOMIC_RELEASE);
}

uint32_t scoreboard_session_done(struct scoreboard *sb, int slot)
{
	return __atomic_add_fetch(&sb->slots[slot].sessions, 1, __ATOMIC_ACQ_REL);
}
