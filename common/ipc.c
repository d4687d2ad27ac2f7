#include "common/ipc.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <sys/socket.h>
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

int ipc_end(const struct ipc_msg *m)
{
	return m->pos == m->hdr.length ? 0 : -1;
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

int ipc_recv(int sock, struct ipc_msg *m)
{
	unsigned char buf[IPC_MAX];
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct iovec iov = {buf, sizeof(buf)};
	struct msghdr msg = {.msg_iov = &iov,
	                     .msg_iovlen = 1,
	                     .msg_control = cbuf.buf,
	                     .msg_controllen = sizeof(cbuf.buf)};
	ssize_t n;
	int r;

	m->fd = -1;
	do {
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&m->fd, CMSG_DATA(c), sizeof(int));
	if (n == 0) {
		/* an empty message (possible on SOCK_SEQPACKET, with an fd) reads as end-of-file:
		 * nobody will look at the fd, so it must not stay open */
		if (m->fd >= 0)
			close(m->fd);
		m->fd = -1;
		return 0;
	}
	r = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ? -1 : ipc_decode(m, buf, (size_t)n);
	sodium_memzero(buf, (size_t)n);
	if (r < 0) {
		if (m->fd >= 0)
			close(m->fd);
		m->fd = -1;
		errno = EPROTO;
		return -1;
	}
	return 1;
}
