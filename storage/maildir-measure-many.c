/*
 * Many files of a maildir directory measured at once, on several threads. Measuring a file
 * without ",W=" is an open, a fstat and a read of every byte to count its line ends: system
 * calls and copies that threads run side by side, so a first sync of many delivered messages
 * (new/ moved to cur/) or a POP3 STAT of a migrated mailbox waits on them in parallel. The
 * process keeps one malloc arena (index-memory.c) so the threads leave nothing behind.
 */
#include "storage/storage-private.h"

#include <pthread.h>
#include <unistd.h>

/* Files to measure before threads help, and at most how many. */
#define MEASURE_PARALLEL_MIN 256
#define MEASURE_THREADS_MAX  4

struct measure_job {
	int dirfd;
	struct measure_item *items;
	size_t count, first, step;
	int ret;
	const char *error;
};

static void measure_job_run(struct measure_job *job)
{
	for (size_t i = job->first; i < job->count; i += job->step) {
		struct measure_item *it = &job->items[i];

		it->ret = maildir_measure(job->dirfd, it->name, it->parsed, &it->sizes, &it->err,
		                          &job->error);
		if (it->ret == MEASURE_ERROR) {
			job->ret = -1;
			return;
		}
	}
}

static void *measure_thread(void *arg)
{
	measure_job_run(arg);
	return NULL;
}

static unsigned measure_thread_count(size_t count)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (count < MEASURE_PARALLEL_MIN || cpus < 2)
		return 1;
	return cpus < MEASURE_THREADS_MAX ? (unsigned)cpus : MEASURE_THREADS_MAX;
}

/* The calling thread takes a share; a thread that cannot be started leaves its share to it. */
int maildir_measure_many(int dirfd, struct measure_item *items, size_t count, const char **error_r)
{
	struct measure_job jobs[MEASURE_THREADS_MAX];
	pthread_t threads[MEASURE_THREADS_MAX];
	bool started[MEASURE_THREADS_MAX] = {false};
	unsigned n = measure_thread_count(count);

	for (size_t i = 0; i < count; i++)
		items[i].ret = MEASURE_GONE;
	for (unsigned t = 0; t < n; t++)
		jobs[t] = (struct measure_job){dirfd, items, count, t, n, 0, NULL};
	for (unsigned t = 1; t < n; t++)
		started[t] = pthread_create(&threads[t], NULL, measure_thread, &jobs[t]) == 0;
	measure_job_run(&jobs[0]);
	for (unsigned t = 1; t < n; t++) {
		if (started[t])
			(void)pthread_join(threads[t], NULL);
		else
			measure_job_run(&jobs[t]);
	}
	for (unsigned t = 0; t < n; t++) {
		if (jobs[t].ret < 0) {
			*error_r = jobs[t].error;
			return -1;
		}
	}
	return 0;
}
