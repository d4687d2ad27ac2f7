#include "common/clock.h"

#include <time.h>

long clock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

unsigned clock_seconds_left(long deadline_ms)
{
	long left = deadline_ms - clock_now_ms();

	return left <= 0 ? 0 : (unsigned)((left + 999) / 1000);
}
