#include "common/ipc.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "server/key.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct {
	struct sockaddr_un addr;
	socklen_t addr_len;
	unsigned char token[KEY_TOKEN_LEN];
	unsigned timeout_s;
	uint32_t request_id;
} key_client;

void key_client_setup(const struct sockaddr_un *addr, socklen_t addr_len,
                      const unsigned char token[KEY_TOKEN_LEN], unsigned timeout_s)
{
	key_client.addr = *addr;
	key_client.addr_len = addr_len;
	memcpy(key_client.token, token, KEY_TOKEN_LEN);
	key_client.timeout_s = timeout_s;
}

/* The signature from the answer in m. -1 when it is no answer to our request. */
static int key_client_answer(struct ipc_msg *m, unsigned char *sig, size_t size, size_t *len_r)
{
	const unsigned char *p;
	size_t len;

	if (m->hdr.request_id != key_client.request_id || m->hdr.type != IPC_KEY_SIGNATURE ||
	    ipc_get_data(m, &p, &len) < 0 || ipc_end(m) < 0 || len == 0 || len > size)
		return -1;
	memcpy(sig, p, len);
	*len_r = len;
	return 0;
}

int key_client_sign(enum key_sign_kind kind, unsigned algo, unsigned flags, const void *input,
                    size_t len, unsigned char *sig, size_t size, size_t *sig_len_r)
{
	/* on the heap for the request only: a worker idles with little memory */
	struct ipc_msg *m;
	int fd, got, r = -1;

	if (len > KEY_SIGN_MAX) {
		log_error("refusing to ask the key process to sign %zu bytes", len);
		return -1;
	}
	fd = ipc_connect(&key_client.addr, key_client.addr_len, key_client.timeout_s);
	if (fd < 0) {
		log_error("cannot reach the key process: %s", strerror(errno));
		return -1;
	}
	m = xmalloc(sizeof(*m));
	ipc_msg_init(m, IPC_KEY_SIGN, ++key_client.request_id);
	ipc_put_data(m, key_client.token, KEY_TOKEN_LEN);
	ipc_put_u32(m, kind);
	ipc_put_u32(m, algo);
	ipc_put_u32(m, flags);
	ipc_put_data(m, input, len);
	if (ipc_send(fd, m, -1) < 0 || (got = ipc_recv(fd, m)) < 0)
		log_error("no signature from the key process: %s", strerror(errno));
	else if (got == 0)
		log_error("no signature from the key process: it closed the connection");
	else if ((r = key_client_answer(m, sig, size, sig_len_r)) < 0)
		log_error("the key process did not sign (answer %u)", (unsigned)m->hdr.type);
	close(fd);
	ipc_msg_wipe(m);
	free(m);
	return r;
}
