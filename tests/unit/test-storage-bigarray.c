/* storage/bigarray: arrays that move from malloc to a mapping of their own as they grow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "storage/bigarray.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The VmFlags line of the mapping holding p in /proc/self/smaps ("" when none). */
static void vm_flags_of(const void *p, char *flags, size_t size)
{
	FILE *fp = fopen("/proc/self/smaps", "r");
	char line[512];
	bool inside = false;

	assert_non_null(fp);
	flags[0] = '\0';
	while (fgets(line, sizeof(line), fp) != NULL) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			continue;
		}
		if (inside && strncmp(line, "VmFlags:", 8) == 0) {
			strncpy(flags, line + 8, size - 1);
			flags[size - 1] = '\0';
			break;
		}
	}
	fclose(fp);
}

/* Grown one element at a time by doubling, as a listing grows: contents survive the move
 * from malloc to a mapping and every mremap after it. */
static void test_growth_keeps_contents(void **state)
{
	size_t cap = 0, count = 3 * BIG_ARRAY_MAP_MIN / sizeof(uint64_t) + 5;
	uint64_t *a = NULL;
	char flags[256];

	(void)state;
	for (size_t i = 0; i < count; i++) {
		if (i == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			a = big_array_realloc(a, cap, sizeof(*a));
		}
		a[i] = i * 2654435761u;
	}
	for (size_t i = 0; i < count; i++)
		assert_int_equal(a[i], i * 2654435761u);
	/* a big array sits in a mapping with huge pages asked for */
	vm_flags_of(a, flags, sizeof(flags));
	assert_non_null(strstr(flags, " hg"));
	/* shrinking keeps the front */
	a = big_array_realloc(a, 10, sizeof(*a));
	for (size_t i = 0; i < 10; i++)
		assert_int_equal(a[i], i * 2654435761u);
	big_array_free(&a);
	assert_null(a);
	big_array_free(&a);
}

static void test_small_is_malloc(void **state)
{
	char flags[256];
	char *a = big_array_realloc(NULL, 100, 1);

	(void)state;
	memset(a, 'x', 100);
	vm_flags_of(a, flags, sizeof(flags));
	assert_null(strstr(flags, " hg"));
	a = big_array_realloc(a, 1000, 1);
	assert_int_equal(a[99], 'x');
	big_array_free(&a);
}

static void test_zalloc_zero(void **state)
{
	size_t sizes[] = {1, 4096, BIG_ARRAY_MAP_MIN + 1, 5 * BIG_ARRAY_MAP_MIN};

	(void)state;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		unsigned char *z = big_array_zalloc(sizes[s], 1);

		for (size_t i = 0; i < sizes[s]; i += 511)
			assert_int_equal(z[i], 0);
		assert_int_equal(z[sizes[s] - 1], 0);
		memset(z, 0xff, sizes[s]);
		big_array_free(&z);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_growth_keeps_contents),
	    cmocka_unit_test(test_small_is_malloc),
	    cmocka_unit_test(test_zalloc_zero),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
