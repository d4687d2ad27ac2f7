/* The key process's request decoder (server/key.c): what it accepts and what it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/ipc.h"
#include "server/key.h"

#include <string.h>

static unsigned char token[KEY_TOKEN_LEN + 1]; /* one more for the too-long case */

/* An IPC_KEY_SIGN with the given fields, encoded and decoded as the key process receives it. */
static int decode(size_t token_len, uint32_t kind, size_t input_len, bool extra,
                  struct key_request *r)
{
	static unsigned char input[IPC_MAX];
	static struct ipc_msg out, in;
	unsigned char wire[IPC_MAX];

	memset(input, 'x', sizeof(input));
	ipc_msg_init(&out, IPC_KEY_SIGN, 7);
	ipc_put_data(&out, token, token_len);
	ipc_put_u32(&out, kind);
	ipc_put_u32(&out, 14);
	ipc_put_u32(&out, 0);
	ipc_put_data(&out, input, input_len);
	if (extra)
		ipc_put_u32(&out, 1);
	assert_false(out.overflow);
	wire[0] = IPC_VERSION;
	wire[1] = out.hdr.type;
	wire[2] = (unsigned char)(out.hdr.length >> 8);
	wire[3] = (unsigned char)out.hdr.length;
	memset(wire + 4, 0, 4);
	memcpy(wire + 8, out.data, out.hdr.length);
	assert_int_equal(ipc_decode(&in, wire, 8 + (size_t)out.hdr.length), 0);
	in.fd = -1;
	return key_request_decode(&in, r);
}

static void test_well_formed(void **state)
{
	struct key_request r;

	memset(token, 0xA5, sizeof(token));
	assert_int_equal(decode(KEY_TOKEN_LEN, KEY_SIGN_HASH, 32, false, &r), 0);
	assert_int_equal(r.kind, KEY_SIGN_HASH);
	assert_int_equal(r.algo, 14);
	assert_int_equal(r.len, 32);
	assert_memory_equal(r.token, token, KEY_TOKEN_LEN);
	assert_int_equal(decode(KEY_TOKEN_LEN, KEY_SIGN_DATA, KEY_SIGN_MAX, false, &r), 0);
	assert_int_equal(r.len, KEY_SIGN_MAX);
}

static void test_refused(void **state)
{
	struct key_request r;

	assert_int_equal(decode(KEY_TOKEN_LEN, KEY_SIGN_DATA, KEY_SIGN_MAX + 1, false, &r), -1);
	assert_int_equal(decode(KEY_TOKEN_LEN, KEY_SIGN_HASH, 0, false, &r), -1);
	assert_int_equal(decode(KEY_TOKEN_LEN - 1, KEY_SIGN_HASH, 32, false, &r), -1);
	assert_int_equal(decode(KEY_TOKEN_LEN + 1, KEY_SIGN_HASH, 32, false, &r), -1);
	assert_int_equal(decode(KEY_TOKEN_LEN, 3, 32, false, &r), -1);
	assert_int_equal(decode(KEY_TOKEN_LEN, 0, 32, false, &r), -1);
	assert_int_equal(decode(KEY_TOKEN_LEN, KEY_SIGN_HASH, 32, true, &r), -1); /* trailing */
}

static void test_other_type_or_fd_refused(void **state)
{
	struct ipc_msg m;
	struct key_request r;

	ipc_msg_init(&m, IPC_LOGIN_FAIL, 1);
	assert_int_equal(key_request_decode(&m, &r), -1);
	ipc_msg_init(&m, IPC_KEY_SIGN, 1);
	m.fd = 0;
	assert_int_equal(key_request_decode(&m, &r), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_well_formed),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_other_type_or_fd_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
