#include "common/ipc.h"
#include "common/log.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

void ipc_msg_init(struct ipc_msg *m, enum ipc_type type, uint32_t request_id)
{
	m->hdr.version = IPC_VERSION;
	m->hdr.type = (uint8_t)type;
	m->hdr.length = 0;
	m->hdr.request_id = request_id;
	m->pos = 0;
	m->overflow = false;
	m->fd = -1;
}

static void ipc_put(struct ipc_msg *m, const void *p, size_t len)
{
	if (m->overflow || len > sizeof(m->data) - m->pos) {
		m->overflow = true;
		return;
	}
	memcpy(m->data + m->pos, p, len);
	m->pos += len;
	m->hdr.length = (uint16_t)m->pos;
}

void ipc_put_u32(struct ipc_msg *m, uint32_t v)
{
	unsigned char b[4] = {v >> 24, v >> 16, v >> 8, v};

	ipc_put(m, b, 4);
}

void ipc_put_str(struct ipc_msg *m, const char *s)
{
	size_t len = strlen(s);

	if (len > 0xffff) {
		m->overflow = true;
		return;
	}
	ipc_put_u32(m, (uint32_t)len);
	ipc_put(m, s, len + 1); /* keep the NUL so getters can point in place */
}

void ipc_put_data(struct ipc_msg *m, const void *p, size_t len)
{
	if (len > 0xffff) {
		m->overflow = true;
		return;
	}
	ipc_put_u32(m, (uint32_t)len);
	ipc_put(m, p, len);
}

void ipc_msg_wipe(struct ipc_msg *m)
{
	sodium_memzero(m->data, sizeof(m->data));
}

int ipc_get_u32(struct ipc_msg *m, uint32_t *v_r)
{
	const unsigned char *b = m->data + m->pos;

	if (m->hdr.length - m->pos < 4)
		return -1;
	*v_r = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	m->pos += 4;
	return 0;
}

int ipc_get_str(struct ipc_msg *m, const char **s_r)
{
	uint32_t len;

	if (ipc_get_u32(m, &len) < 0)
		return -1;
	if (m->hdr.length - m->pos < (size_t)len + 1 || m->data[m->pos + len] != '\0' ||
	    memchr(m->data + m->pos, '\0', len) != NULL)
		return -1;
	*s_r = (const char *)m->data + m->pos;
	m->pos += len + 1;
	return 0;
}

int ipc_get_data(struct ipc_msg *m, const unsigned char **p_r, size_t *len_r)
{
	uint32_t len;

	if (ipc_get_u32(m, &len) < 0 || m->hdr.length - m->pos < (size_t)len)
		return -1;
	*p_r = m->data + m->pos;
	*len_r = len;
	m->pos += len;
	return 0;
}

int ipc_end(const struct ipc_msg *m)
{
	return m->pos == m->hdr.length ? 0 : -1;
}

int ipc_connect(const struct sockaddr_un *addr, socklen_t len, unsigned timeout_s)
{
	struct timeval tv = {.tv_sec = timeout_s};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)addr, len) < 0) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

bool ipc_peer_allowed(int fd, uid_t uid, const char *service)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	if (cred.uid == 0 || cred.uid == uid)
		return true;
	log_warn("refused %s connection from pid %ld uid %ld", service, (long)cred.pid,
	         (long)cred.uid);
	return false;
}

int ipc_send(int sock, const struct ipc_msg *m, int fd)
{
	unsigned char hdr[8] = {m->hdr.version,          m->hdr.type,
	                        m->hdr.length >> 8,      m->hdr.length,
	                        m->hdr.request_id >> 24, m->hdr.request_id >> 16,
	                        m->hdr.request_id >> 8,  m->hdr.request_id};
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)m->data, m->hdr.length}};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
	ssize_t n;

	if (m->overflow) {
		errno = EMSGSIZE;
		return -1;
	}
	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = sizeof(cbuf.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	sodium_memzero(hdr, sizeof(hdr));
	return 0;
}

int ipc_decode(struct ipc_msg *m, const void *buf, size_t len)
{
	const unsigned char *b = buf;

	if (len < 8 || len > IPC_MAX)
		return -1;
	m->hdr.version = b[0];
	m->hdr.type = b[1];
	m->hdr.length = (uint16_t)(b[2] << 8 | b[3]);
	m->hdr.request_id =
	    (uint32_t)b[4] << 24 | (uint32_t)b[5] << 16 | (uint32_t)b[6] << 8 | b[7];
	if (m->hdr.version != IPC_VERSION || m->hdr.length != len - 8)
		return -1;
	memcpy(m->data, b + 8, len - 8);
	m->pos = 0;
	m->overflow = false;
	return 0;
}

/* Room for more descriptors than any message may carry, so that extra ones arrive where we can
 * see them and close them; beyond this the kernel drops them itself (MSG_CTRUNC). */
#define IPC_RECV_FDS 8

/* How many descriptors each message type carries: exactly these are taken, no more, no less. */
static const uint8_t ipc_type_fds[] = {
    [IPC_LOGIN_OK] = 1,
    [IPC_NOTICE_POST] = 1,
    [IPC_NOTICE_REMOVE] = 1,
    [IPC_WATCH_ADD] = 1,
};

static unsigned ipc_fds_expected(uint8_t type)
{
	return type < sizeof(ipc_type_fds) ? ipc_type_fds[type] : 0;
}

/* Every descriptor in the SCM_RIGHTS messages of msg, up to IPC_RECV_FDS; the count. */
static size_t ipc_collect_fds(struct msghdr *msg, int fds[IPC_RECV_FDS])
{
	size_t count = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n && count < IPC_RECV_FDS; i++)
			memcpy(&fds[count++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	return count;
}

static void ipc_close_fds(const int *fds, size_t count)
{
	for (size_t i = 0; i < count; i++)
		close(fds[i]);
}

int ipc_recv(int sock, struct ipc_msg *m)
{
	unsigned char buf[IPC_MAX];
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * IPC_RECV_FDS)];
	} cbuf;
	struct iovec iov = {buf, sizeof(buf)};
	struct msghdr msg = {.msg_iov = &iov,
	                     .msg_iovlen = 1,
	                     .msg_control = cbuf.buf,
	                     .msg_controllen = sizeof(cbuf.buf)};
	int fds[IPC_RECV_FDS];
	size_t nfds;
	ssize_t n;
	int r;

	m->fd = -1;
	do {
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	nfds = ipc_collect_fds(&msg, fds);
	if (n == 0) {
		/* an empty message (possible on SOCK_SEQPACKET, with fds) reads as end-of-file:
		 * nobody will look at the fds, so they must not stay open */
		ipc_close_fds(fds, nfds);
		return 0;
	}
	r = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ? -1 : ipc_decode(m, buf, (size_t)n);
	sodium_memzero(buf, (size_t)n);
	/* A peer that attaches descriptors its message type does not carry could fill our table
	 * with them: take exactly the expected ones or none. */
	if (r < 0 || nfds != ipc_fds_expected(m->hdr.type)) {
		ipc_close_fds(fds, nfds);
		errno = EPROTO;
		return -1;
	}
	if (nfds == 1)
		m->fd = fds[0];
	return 1;
}
