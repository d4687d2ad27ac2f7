/* storage/index-memory.c: SQLite's memory settings for workers, and its allocation zone */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test-measure.h"
#include "test-tmpdir.h"

#include "storage/index-memory.h"
#include "storage/index.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* First, before anything in this process touches SQLite. */
static void test_setup_before_first_use(void **state)
{
	const char *error = NULL;

	(void)state;
	assert_int_equal(mail_index_memory_setup(&error), 0);
	assert_int_equal(mail_index_memory_setup(&error), 0); /* again: nothing to do */
	assert_int_equal(sqlite3_initialize(), SQLITE_OK);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed + i * 7);
}

static void check(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(p[i], (unsigned char)(seed + i * 7));
}

/* Sizes around every class boundary and beyond the zone; realloc keeps the contents. */
static void test_zone_malloc_realloc_size(void **state)
{
	static const int sizes[] = {1,   8,   16,  17,   47,   48,   100,  255,  256,  257,
	                            511, 512, 513, 1000, 1023, 1024, 1025, 4096, 4300, 70000};
	const size_t n = sizeof(sizes) / sizeof(sizes[0]);
	unsigned char *p[sizeof(sizes) / sizeof(sizes[0])];

	(void)state;
	for (size_t i = 0; i < n; i++) {
		p[i] = sqlite3_malloc(sizes[i]);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % 8, 0);
		assert_true(sqlite3_msize(p[i]) >= (sqlite3_uint64)sizes[i]);
		fill(p[i], (size_t)sizes[i], (unsigned)i);
	}
	for (size_t i = 0; i < n; i++)
		check(p[i], (size_t)sizes[i], (unsigned)i);
	/* grow each to the next size, shrink the last to the first */
	for (size_t i = 0; i + 1 < n; i++) {
		p[i] = sqlite3_realloc(p[i], sizes[i + 1]);
		assert_non_null(p[i]);
		assert_true(sqlite3_msize(p[i]) >= (sqlite3_uint64)sizes[i + 1]);
		check(p[i], (size_t)sizes[i], (unsigned)i);
	}
	p[n - 1] = sqlite3_realloc(p[n - 1], 20);
	check(p[n - 1], 20, (unsigned)(n - 1));
	for (size_t i = 0; i < n; i++)
		sqlite3_free(p[i]);
	/* a freed slot is reused for the same class */
	p[0] = sqlite3_malloc(40);
	sqlite3_free(p[0]);
	assert_ptr_equal(sqlite3_malloc(33), p[0]);
	sqlite3_free(p[0]);
}

/* Small SQLite allocations made between other allocations that are freed later (a session's
 * short-lived ones) sit together, not spread between them over the heap. */
static void test_zone_keeps_small_allocations_together(void **state)
{
	enum { N = 400 };
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	void *kept[N], *tmp[N];

	(void)state;
	for (int i = 0; i < N; i++) {
		tmp[i] = malloc(1000);
		memset(tmp[i], 1, 1000);
		kept[i] = sqlite3_malloc(24 + (i % 5) * 40);
		assert_non_null(kept[i]);
		lo = (uintptr_t)kept[i] < lo ? (uintptr_t)kept[i] : lo;
		hi = (uintptr_t)kept[i] > hi ? (uintptr_t)kept[i] : hi;
	}
	for (int i = 0; i < N; i++)
		free(tmp[i]);
	/* 400 x <= 192 bytes: ~50 KiB side by side (between the 1000-byte blocks: ~450 KiB) */
	assert_true(hi - lo < 128 * 1024);
	for (int i = 0; i < N; i++)
		sqlite3_free(kept[i]);
}

/* The mailbox index works on top of it: many rows written, looked up, and reopened. */
static void test_index_on_zone(void **state)
{
	char dir[256], key[64];
	struct mail_index *idx;
	const char *error;
	bool rebuild, recovered;
	int dirfd;

	(void)state;
	test_tmpdir_make(dir, sizeof(dir), "index-memory");
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dirfd >= 0);
	assert_int_equal(mail_index_open(dirfd, &idx, &rebuild, &error), 0);
	assert_int_equal(mail_index_begin(idx, &error), 0);
	for (unsigned i = 0; i < 3000; i++) {
		struct mail_index_rec rec = {.size = i * 10, .vsize = i * 11, .date = (time_t)i};

		snprintf(key, sizeof(key), "%u.M%uP1.host", 1700000000 + i, i);
		assert_int_equal(mail_index_assign(idx, key, 0, &rec, &recovered, &error), 0);
		assert_int_equal(rec.uid, i + 1);
	}
	assert_int_equal(mail_index_commit(idx, &error), 0);
	mail_index_release_memory(idx);
	mail_index_close(&idx);
	assert_int_equal(mail_index_open(dirfd, &idx, &rebuild, &error), 0);
	assert_false(rebuild);
	for (unsigned i = 0; i < 3000; i += 7) {
		struct mail_index_rec rec;

		snprintf(key, sizeof(key), "%u.M%uP1.host", 1700000000 + i, i);
		assert_int_equal(mail_index_lookup(idx, key, &rec, &error), 1);
		assert_int_equal(rec.uid, i + 1);
		assert_int_equal(rec.size, i * 10);
		assert_int_equal(rec.vsize, i * 11);
	}
	mail_index_close(&idx);
	close(dirfd);
	test_tmpdir_remove(dir);
}

/* Anonymous resident KiB of the process (after malloc_trim: what it keeps, not what malloc has
 * free; library code pages the load ran are file pages, shared by every worker). */
static long resident_kib(void)
{
	long kib = -1;
	char line[128];
	FILE *fp;

	malloc_trim(0);
	fp = fopen("/proc/self/status", "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "RssAnon: %ld kB", &kib) == 1)
			break;
	}
	fclose(fp);
	assert_true(kib >= 0);
	return kib;
}

/* A bulk load into an empty index builds the key index with a sort of every key: what it
 * allocates is given back, not kept in the zone (an in-memory sort, one allocation per key,
 * left 40,000 keys holding ~3.2 MiB of it for good). */
static void test_bulk_sort_not_kept(void **state)
{
	enum { ROWS = 40000 };
	struct mail_index_new *rows;
	struct mail_index_rec *recs;
	char dir[256], (*keys)[48];
	struct mail_index *idx;
	const char *error;
	bool rebuild;
	long before, after;
	int dirfd;

#ifdef __SANITIZE_ADDRESS__
	skip(); /* ASan holds freed memory in its quarantine: measured in the normal build */
#endif
	rows = calloc(ROWS, sizeof(*rows));
	recs = calloc(ROWS, sizeof(*recs));
	keys = calloc(ROWS, sizeof(*keys));

	(void)state;
	assert_non_null(rows);
	assert_non_null(recs);
	assert_non_null(keys);
	test_tmpdir_make(dir, sizeof(dir), "index-memory");
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dirfd >= 0);
	for (unsigned i = 0; i < ROWS; i++) {
		snprintf(keys[i], sizeof(keys[i]), "%u.M%uP1.a-longer-host-name", 1700000000 + i,
		         i);
		rows[i] = (struct mail_index_new){.key = keys[i], .rec = &recs[i]};
		recs[i].date = 1700000000; /* resident before, as the load writes each UID there */
	}
	/* a first open and close: the zone gets its schema-sized share */
	assert_int_equal(mail_index_open(dirfd, &idx, &rebuild, &error), 0);
	mail_index_close(&idx);
	before = resident_kib();
	assert_int_equal(mail_index_open(dirfd, &idx, &rebuild, &error), 0);
	assert_int_equal(mail_index_begin(idx, &error), 0);
	assert_int_equal(mail_index_assign_absent_many(idx, rows, ROWS, &error), 0);
	assert_int_equal(mail_index_commit(idx, &error), 0);
	mail_index_release_memory(idx);
	mail_index_close(&idx);
	after = resident_kib();
	print_message("resident %ld KiB -> %ld KiB\n", before, after);
	assert_true(!test_measured() || after - before < 1024);
	close(dirfd);
	test_tmpdir_remove(dir);
	free(keys);
	free(recs);
	free(rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_setup_before_first_use),
	    cmocka_unit_test(test_zone_malloc_realloc_size),
	    cmocka_unit_test(test_zone_keeps_small_allocations_together),
	    cmocka_unit_test(test_index_on_zone),
	    cmocka_unit_test(test_bulk_sort_not_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
