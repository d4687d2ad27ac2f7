/*
 * Tests that measure the process itself (heap in use, resident pages, stack pages, system calls)
 * read glibc's and the kernel's figures, which are the program's own only when no checker stands
 * between: AddressSanitizer replaces the allocator and the stack, valgrind the allocator, the
 * stack bookkeeping and many system calls. Under either, the measurement is left out and the
 * behaviour is still checked. Both also slow the program down many times: a test whose steps
 * must fit in a few seconds gives them more time there.
 */
#ifndef TWOFOLD_TEST_MEASURE_H
#define TWOFOLD_TEST_MEASURE_H

#include <stdbool.h>
#include <valgrind/valgrind.h>

/* True when the program runs under AddressSanitizer or valgrind. */
static inline bool test_checked(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return true;
#else
	return RUNNING_ON_VALGRIND;
#endif
}

static inline bool test_measured(void)
{
	return !test_checked();
}

#endif
