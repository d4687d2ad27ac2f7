/* Monotonic time for timeouts and deadlines. */
#ifndef TWOFOLD_CLOCK_H
#define TWOFOLD_CLOCK_H

/* Milliseconds on CLOCK_MONOTONIC. */
long clock_now_ms(void);
/* Whole seconds until deadline_ms, rounded up; 0 once it has passed. */
unsigned clock_seconds_left(long deadline_ms);

#endif
