/* IPC messages: encoding, bounds, end check, fd passing */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/ipc.h"

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_roundtrip_with_fd(void **state)
{
	struct ipc_msg out, in;
	const char *user, *secret;
	uint32_t v;
	struct stat st1, st2;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	ipc_msg_init(&out, IPC_LOGIN_REQUEST, 77);
	ipc_put_str(&out, "alice");
	ipc_put_str(&out, "hunter2123456");
	ipc_put_u32(&out, 4242);
	assert_int_equal(ipc_send(sv[0], &out, STDIN_FILENO), 0);
	assert_int_equal(ipc_recv(sv[1], &in), 1);
	assert_int_equal(in.hdr.type, IPC_LOGIN_REQUEST);
	assert_int_equal(in.hdr.request_id, 77);
	assert_int_equal(ipc_get_str(&in, &user), 0);
	assert_int_equal(ipc_get_str(&in, &secret), 0);
	assert_int_equal(ipc_end(&in), -1); /* one more field left */
	assert_int_equal(ipc_get_u32(&in, &v), 0);
	assert_int_equal(ipc_end(&in), 0);
	assert_string_equal(user, "alice");
	assert_string_equal(secret, "hunter2123456");
	assert_int_equal(v, 4242);
	assert_true(in.fd >= 0);
	assert_int_equal(fstat(in.fd, &st1), 0);
	assert_int_equal(fstat(STDIN_FILENO, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	/* the fd arrives close-on-exec */
	assert_true(fcntl(in.fd, F_GETFD) & FD_CLOEXEC);
	close(in.fd);
	ipc_msg_wipe(&in);
	assert_null(memchr(in.data, 'h', sizeof(in.data)));
	/* reading past the end fails */
	assert_int_equal(ipc_get_u32(&in, &v), -1);
	close(sv[0]);
	assert_int_equal(ipc_recv(sv[1], &in), 0); /* peer closed */
	close(sv[1]);
}

static void test_decode_rejects(void **state)
{
	struct ipc_msg m;
	unsigned char b[32] = {IPC_VERSION, IPC_LOGIN_FAIL, 0, 4, 0, 0, 0, 1, 0, 0, 0, 9};
	const char *s;
	uint32_t v;

	assert_int_equal(ipc_decode(&m, b, 12), 0);
	assert_int_equal(ipc_get_u32(&m, &v), 0);
	assert_int_equal(v, 9);
	assert_int_equal(ipc_end(&m), 0);
	/* length field disagrees with the datagram size */
	assert_int_equal(ipc_decode(&m, b, 11), -1);
	/* wrong version */
	b[0] = 99;
	assert_int_equal(ipc_decode(&m, b, 12), -1);
	b[0] = IPC_VERSION;
	/* too short for a header */
	assert_int_equal(ipc_decode(&m, b, 7), -1);
	/* a string whose length runs past the end */
	memcpy(b + 8,
	       "\0\0\0\x10"
	       "abc",
	       7);
	b[3] = 7;
	assert_int_equal(ipc_decode(&m, b, 15), 0);
	assert_int_equal(ipc_get_str(&m, &s), -1);
	/* a string without its NUL, or with an embedded NUL */
	memcpy(b + 8,
	       "\0\0\0\x02"
	       "ab"
	       "x",
	       7);
	assert_int_equal(ipc_decode(&m, b, 15), 0);
	assert_int_equal(ipc_get_str(&m, &s), -1);
	memcpy(b + 8,
	       "\0\0\0\x02"
	       "a\0\0",
	       7);
	assert_int_equal(ipc_decode(&m, b, 15), 0);
	assert_int_equal(ipc_get_str(&m, &s), -1);
}

/* SOCK_SEQPACKET allows an empty message with an fd attached; recvmsg then returns 0, like
 * end-of-file. The fd must not stay open in the receiver (a peer could exhaust its fds). */
static void test_empty_message_with_fd_not_leaked(void **state)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct msghdr msg = {.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf)};
	struct cmsghdr *c;
	struct ipc_msg in;
	int sv[2], fd = STDIN_FILENO, free_fd;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	memset(&cbuf, 0, sizeof(cbuf));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	assert_int_equal(sendmsg(sv[0], &msg, 0), 0);
	free_fd = dup(STDIN_FILENO); /* the lowest free fd number: where a leak would land */
	close(free_fd);
	assert_int_equal(ipc_recv(sv[1], &in), 0);
	assert_int_equal(in.fd, -1);
	fd = dup(STDIN_FILENO);
	assert_int_equal(fd, free_fd);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

static void test_overflow(void **state)
{
	static char big[IPC_MAX];
	struct ipc_msg m;
	int sv[2];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ipc_msg_init(&m, IPC_LOGIN_REQUEST, 1);
	ipc_put_str(&m, big);
	assert_true(m.overflow);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(ipc_send(sv[0], &m, -1), -1);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip_with_fd),
	    cmocka_unit_test(test_decode_rejects),
	    cmocka_unit_test(test_overflow),
	    cmocka_unit_test(test_empty_message_with_fd_not_leaked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
