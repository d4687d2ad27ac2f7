#include "server/scoreboard.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>

/* The shared header, then the slots, in one mapping. */
#define SCOREBOARD_HEAD 64

static size_t scoreboard_bytes(size_t count)
{
	return SCOREBOARD_HEAD + count * sizeof(struct scoreboard_slot);
}

int scoreboard_init(struct scoreboard *sb, size_t count)
{
	void *p = mmap(NULL, scoreboard_bytes(count), PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	_Static_assert(sizeof(struct scoreboard_shared) <= SCOREBOARD_HEAD, "header too big");
	if (p == MAP_FAILED)
		return -1;
	sb->shared = p;
	sb->slots = (struct scoreboard_slot *)((char *)p + SCOREBOARD_HEAD);
	sb->count = count;
	sb->used = 0;
	return 0;
}

void scoreboard_free(struct scoreboard *sb)
{
	if (sb->shared != NULL)
		munmap(sb->shared, scoreboard_bytes(sb->count));
	sb->shared = NULL;
	sb->slots = NULL;
	sb->count = sb->used = 0;
}

static void scoreboard_set_used(struct scoreboard *sb, size_t used)
{
	sb->used = used;
	__atomic_store_n(&sb->shared->used, (uint32_t)used, __ATOMIC_RELEASE);
}

void scoreboard_claim(struct scoreboard *sb, int slot, pid_t pid, uint32_t generation)
{
	struct scoreboard_slot *s = &sb->slots[slot];

	s->state = SLOT_STARTING;
	s->sessions = 0;
	s->generation = generation;
	s->retiring = 0;
	s->client_phase = PHASE_NONE;
	__atomic_store_n(&s->pid, pid, __ATOMIC_RELEASE);
	if ((size_t)slot >= sb->used)
		scoreboard_set_used(sb, (size_t)slot + 1);
}

void scoreboard_release(struct scoreboard *sb, int slot)
{
	size_t used = sb->used;

	memset((void *)&sb->slots[slot], 0, sizeof(sb->slots[slot]));
	while (used > 0 && sb->slots[used - 1].pid == 0)
		used--;
	scoreboard_set_used(sb, used);
}

void scoreboard_set_state(struct scoreboard *sb, int slot, enum scoreboard_state state)
{
	__atomic_store_n(&sb->slots[slot].state, (uint32_t)state, __ATOMIC_RELEASE);
}

uint32_t scoreboard_session_done(struct scoreboard *sb, int slot)
{
	return __atomic_add_fetch(&sb->slots[slot].sessions, 1, __ATOMIC_ACQ_REL);
}

/* The slots in use as the master last said; never more than are mapped. */
static size_t scoreboard_shared_used(const struct scoreboard *sb)
{
	size_t used = __atomic_load_n(&sb->shared->used, __ATOMIC_ACQUIRE);

	return used < sb->count ? used : sb->count;
}

void scoreboard_workers(const struct scoreboard *sb, struct scoreboard_counts *c_r)
{
	size_t used = scoreboard_shared_used(sb);

	memset(c_r, 0, sizeof(*c_r));
	for (size_t i = 0; i < used; i++) {
		const struct scoreboard_slot *s = &sb->slots[i];
		uint32_t state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);

		if (__atomic_load_n(&s->pid, __ATOMIC_ACQUIRE) == 0 || state == SLOT_OVERFLOW)
			continue;
		c_r->total++;
		c_r->busy += state == SLOT_BUSY;
		c_r->idle += state == SLOT_IDLE || state == SLOT_STARTING;
		c_r->done += __atomic_load_n(&s->sessions, __ATOMIC_RELAXED);
	}
}

/* ---- clients, per address ---- */

void scoreboard_client_key(const struct sockaddr_storage *ss, struct scoreboard_client_key *key_r)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	unsigned char b[16] = {0};

	if (ss->ss_family == AF_INET) {
		b[10] = b[11] = 0xff; /* as ::ffff:a.b.c.d, the same key as a v4-mapped address */
		memcpy(b + 12, &sin->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		memcpy(b, &sin6->sin6_addr, 16);
		if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			memset(b + 8, 0, 8); /* the /64 */
	}
	memcpy(key_r->k, b, sizeof(key_r->k));
}

static void scoreboard_client_write(struct scoreboard_slot *s,
                                    const struct scoreboard_client_key *key,
                                    enum scoreboard_phase phase)
{
	uint32_t seq = __atomic_load_n(&s->client_seq, __ATOMIC_RELAXED) | 1;

	__atomic_store_n(&s->client_seq, seq, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&s->client_key[0], key->k[0], __ATOMIC_RELAXED);
	__atomic_store_n(&s->client_key[1], key->k[1], __ATOMIC_RELAXED);
	__atomic_store_n(&s->client_phase, (uint32_t)phase, __ATOMIC_RELAXED);
	__atomic_store_n(&s->client_seq, seq + 1, __ATOMIC_RELEASE);
	/* published before this worker reads any other slot */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* One consistent read of a slot's client; false when it kept changing under us. */
static bool scoreboard_client_read(const struct scoreboard_slot *s,
                                   struct scoreboard_client_key *key_r, uint32_t *phase_r)
{
	for (int tries = 0; tries < 4; tries++) {
		uint32_t seq = __atomic_load_n(&s->client_seq, __ATOMIC_ACQUIRE);

		if (seq & 1)
			continue;
		key_r->k[0] = __atomic_load_n(&s->client_key[0], __ATOMIC_RELAXED);
		key_r->k[1] = __atomic_load_n(&s->client_key[1], __ATOMIC_RELAXED);
		*phase_r = __atomic_load_n(&s->client_phase, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->client_seq, __ATOMIC_RELAXED) == seq)
			return true;
	}
	return false;
}

unsigned scoreboard_client_enter(struct scoreboard *sb, int slot,
                                 const struct scoreboard_client_key *key,
                                 enum scoreboard_phase phase)
{
	size_t used = scoreboard_shared_used(sb);
	unsigned n = 0;

	scoreboard_client_write(&sb->slots[slot], key, phase);
	for (size_t i = 0; i < used; i++) {
		struct scoreboard_client_key k;
		uint32_t p;

		if (scoreboard_client_read(&sb->slots[i], &k, &p) && p == (uint32_t)phase &&
		    k.k[0] == key->k[0] && k.k[1] == key->k[1])
			n++;
	}
	return n;
}

void scoreboard_client_leave(struct scoreboard *sb, int slot)
{
	static const struct scoreboard_client_key none;

	scoreboard_client_write(&sb->slots[slot], &none, PHASE_NONE);
}

void scoreboard_session_set(struct scoreboard *sb, int slot, const struct scoreboard_session *ss)
{
	static const struct scoreboard_session none;
	struct scoreboard_slot *s = &sb->slots[slot];
	uint32_t seq = __atomic_load_n(&s->session_seq, __ATOMIC_RELAXED) | 1;

	__atomic_store_n(&s->session_seq, seq, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(&s->session, ss != NULL ? ss : &none, sizeof(s->session));
	__atomic_store_n(&s->session_seq, seq + 1, __ATOMIC_RELEASE);
}

bool scoreboard_session_get(const struct scoreboard *sb, int slot, struct scoreboard_session *s_r)
{
	const struct scoreboard_slot *s = &sb->slots[slot];

	for (int tries = 0; tries < 4; tries++) {
		uint32_t seq = __atomic_load_n(&s->session_seq, __ATOMIC_ACQUIRE);

		if (seq & 1)
			continue;
		memcpy(s_r, &s->session, sizeof(*s_r));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->session_seq, __ATOMIC_RELAXED) != seq)
			continue;
		/* the worker's writing: terminated here whatever it wrote */
		s_r->user[sizeof(s_r->user) - 1] = '\0';
		s_r->ip[sizeof(s_r->ip) - 1] = '\0';
		return s_r->user[0] != '\0';
	}
	return false;
}

bool scoreboard_refusal_log_due(struct scoreboard *sb, long now_ms, long interval_ms,
                                unsigned *refused_r)
{
	struct scoreboard_shared *sh = sb->shared;
	int64_t at;

	__atomic_add_fetch(&sh->refused, 1, __ATOMIC_ACQ_REL);
	at = __atomic_load_n(&sh->log_at, __ATOMIC_ACQUIRE);
	if (at != 0 && now_ms - at < interval_ms)
		return false;
	if (!__atomic_compare_exchange_n(&sh->log_at, &at, (int64_t)now_ms, false, __ATOMIC_ACQ_REL,
	                                 __ATOMIC_ACQUIRE))
		return false; /* another worker logs it */
	*refused_r = __atomic_exchange_n(&sh->refused, 0, __ATOMIC_ACQ_REL);
	return true;
}
