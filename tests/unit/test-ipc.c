/* IPC messages: encoding, bounds, end check, fd passing */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/ipc.h"

#include <dirent.h>
#include <errno.h>
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
	ipc_msg_init(&out, IPC_LOGIN_OK, 77); /* the type that carries an fd */
	ipc_put_str(&out, "alice");
	ipc_put_str(&out, "hunter2123456");
	ipc_put_u32(&out, 4242);
	assert_int_equal(ipc_send(sv[0], &out, STDIN_FILENO), 0);
	assert_int_equal(ipc_recv(sv[1], &in), 1);
	assert_int_equal(in.hdr.type, IPC_LOGIN_OK);
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

/* Open descriptors of this process. */
static int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

/* Sends a well-formed message of type with the given descriptors attached, split over
 * `groups` SCM_RIGHTS headers (1 or 2). */
static void send_with_fds(int sock, enum ipc_type type, const int *fds, size_t nfds, int groups)
{
	unsigned char payload[] = {IPC_VERSION, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 64) * 2];
	} cbuf;
	struct iovec iov = {payload, sizeof(payload)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf};
	size_t first = groups == 2 ? nfds / 2 : nfds;
	struct cmsghdr *c;

	assert_true(nfds <= 64);
	payload[1] = (unsigned char)type;
	if (nfds == 0) {
		msg.msg_control = NULL;
		assert_int_equal(sendmsg(sock, &msg, 0), (ssize_t)sizeof(payload));
		return;
	}
	memset(&cbuf, 0, sizeof(cbuf));
	msg.msg_controllen = CMSG_SPACE(sizeof(int) * first) +
	                     (groups == 2 ? CMSG_SPACE(sizeof(int) * (nfds - first)) : 0);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * first);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * first);
	if (groups == 2) {
		c = CMSG_NXTHDR(&msg, c);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (nfds - first));
		memcpy(CMSG_DATA(c), fds + first, sizeof(int) * (nfds - first));
	}
	assert_int_equal(sendmsg(sock, &msg, 0), (ssize_t)sizeof(payload));
}

/* A peer attaching more descriptors than the message type carries (or any to a type that
 * carries none) gets the message refused, and not one of them stays open in the receiver. */
static void expect_refused_and_closed(enum ipc_type type, size_t nfds, int groups)
{
	struct ipc_msg in;
	int sv[2], fds[64], before;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	for (size_t i = 0; i < nfds; i++)
		assert_true((fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
	send_with_fds(sv[0], type, fds, nfds, groups);
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	before = fd_count();
	errno = 0;
	assert_int_equal(ipc_recv(sv[1], &in), -1);
	assert_int_equal(errno, EPROTO);
	assert_int_equal(in.fd, -1);
	assert_int_equal(fd_count(), before);
	close(sv[0]);
	close(sv[1]);
}

static void test_extra_fds_refused_and_closed(void **state)
{
	(void)state;
	expect_refused_and_closed(IPC_LOGIN_OK, 2, 1);       /* two in one header */
	expect_refused_and_closed(IPC_LOGIN_OK, 2, 2);       /* one in each of two headers */
	expect_refused_and_closed(IPC_LOGIN_REQUEST, 1, 1);  /* a type that carries none */
	expect_refused_and_closed(IPC_LOGIN_FAIL, 2, 1);
	expect_refused_and_closed(IPC_LOGIN_OK, 64, 1);      /* more than the receive buffer */
}

static void test_expected_fd_taken(void **state)
{
	struct ipc_msg in;
	int sv[2], fd, before;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	send_with_fds(sv[0], IPC_LOGIN_OK, &fd, 1, 1);
	close(fd);
	before = fd_count();
	assert_int_equal(ipc_recv(sv[1], &in), 1);
	assert_true(in.fd >= 0);
	assert_int_equal(fd_count(), before + 1);
	close(in.fd);
	/* a type that carries one, sent without it */
	send_with_fds(sv[0], IPC_LOGIN_OK, NULL, 0, 1);
	assert_int_equal(ipc_recv(sv[1], &in), -1);
	assert_int_equal(errno, EPROTO);
	assert_int_equal(fd_count(), before);
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
	    cmocka_unit_test(test_extra_fds_refused_and_closed),
	    cmocka_unit_test(test_expected_fd_taken),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
