/* The growable buffer: what a secret buffer leaves behind in its own memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"

#include <string.h>

/* true when no byte of the buffer's memory after the data (and its NUL) is set */
static bool buf_tail_clear(const struct buf *b)
{
	for (size_t i = b->len + 1; i < b->cap; i++)
		if (b->data[i] != '\0')
			return false;
	return true;
}

/* A line that arrived in pieces is moved to the front when the lines before it are consumed:
 * in a secret buffer (a connection's input) the old copy of its bytes must not stay behind. */
static void test_secret_consume_leaves_no_copy(void **state)
{
	static const char in[] = "NOOP\r\nPASS hunter2hunter2-123456";
	struct buf b;

	(void)state;
	buf_init(&b);
	b.secret = true;
	buf_reserve(&b, 256);
	memset(b.data, 0, b.cap);
	buf_append(&b, in, strlen(in));
	buf_consume(&b, 6);
	assert_int_equal(b.len, strlen(in) - 6);
	assert_memory_equal(b.data, in + 6, b.len + 1);
	assert_true(buf_tail_clear(&b));
	assert_null(memmem(b.data + b.len, b.cap - b.len, "hunter2", 7));
	buf_free(&b);
}

static void test_plain_consume(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	buf_append_str(&b, "abcdef");
	buf_consume(&b, 2);
	assert_string_equal(b.data, "cdef");
	buf_consume(&b, 10);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_secret_consume_leaves_no_copy),
	    cmocka_unit_test(test_plain_consume),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
