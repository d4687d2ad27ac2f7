/* The server key file reader. */
#include "auth/secretkey.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static bool all_zero(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* A key file cut short under the reader: no partial key may stay in the caller's buffer. */
static void test_short_read_wipes_partial_key(void **state)
{
	unsigned char key[SECRETKEY_LEN];
	unsigned char part[10];
	int fds[2];

	(void)state;
	memset(part, 0x5a, sizeof(part));
	memset(key, 0xa5, sizeof(key));
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], part, sizeof(part)), (ssize_t)sizeof(part));
	close(fds[1]);
	assert_int_equal(secretkey_read_fd(fds[0], key), -1);
	close(fds[0]);
	assert_true(all_zero(key, sizeof(key)));
}

static void test_read_error_wipes(void **state)
{
	unsigned char key[SECRETKEY_LEN];

	(void)state;
	memset(key, 0xa5, sizeof(key));
	assert_int_equal(secretkey_read_fd(-1, key), -1);
	assert_true(all_zero(key, sizeof(key)));
}

/* A key that arrives in pieces is read whole. */
static void test_key_in_pieces(void **state)
{
	unsigned char want[SECRETKEY_LEN], key[SECRETKEY_LEN];
	int fds[2], status;
	pid_t pid;

	(void)state;
	randombytes_buf(want, sizeof(want));
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		for (size_t off = 0; off < sizeof(want); off += 7) {
			size_t n = sizeof(want) - off < 7 ? sizeof(want) - off : 7;

			if (write(fds[1], want + off, n) != (ssize_t)n)
				_exit(1);
			usleep(20000);
		}
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(secretkey_read_fd(fds[0], key), 0);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(status, 0);
	assert_memory_equal(key, want, sizeof(want));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_short_read_wipes_partial_key),
	    cmocka_unit_test(test_read_error_wipes),
	    cmocka_unit_test(test_key_in_pieces),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
