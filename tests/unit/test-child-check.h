/* Checks made in a forked child, which cannot use cmocka's asserts: a failed CHECK writes its
 * line, expression and errno to the parent on test_child_report_fd (test_child_fork sets it) and
 * ends the child with exit status 1. Include after cmocka.h. */
#ifndef TWOFOLD_TEST_CHILD_CHECK_H
#define TWOFOLD_TEST_CHILD_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static int test_child_report_fd = -1;

#define CHECK(expr)                                                                                \
	do {                                                                                       \
		if (!(expr))                                                                       \
			test_child_fail(__LINE__, #expr);                                          \
	} while (0)

static inline void test_child_fail(int line, const char *expr)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "line %d: %s (errno %s)", line, expr, strerror(errno));

	if (write(test_child_report_fd, msg, (size_t)n) < 0) {
		/* the exit status says it anyway */
	}
	_exit(1);
}

/* Forks a child whose checks report on a new pipe in report: returns 0 in the child (with
 * test_child_report_fd set), the child's pid in the parent. */
static inline pid_t test_child_fork(int report[2])
{
	pid_t pid;

	assert_int_equal(pipe(report), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		test_child_report_fd = report[1];
		close(report[0]);
	}
	return pid;
}

/* Waits for the child of test_child_fork; its report (empty when it reported nothing) goes to
 * msg. Returns its wait status. */
static inline int test_child_wait(pid_t pid, int report[2], char *msg, size_t size)
{
	int status;
	ssize_t n;

	close(report[1]);
	n = read(report[0], msg, size - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(report[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

#endif
