#include "server/key.h"
#include "common/clock.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "server/tls.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define KEY_MAX_PEERS     512
#define KEY_PEER_IDLE_MAX 5 /* seconds a connected worker may take to send its request */

volatile sig_atomic_t key_service_quit, key_service_retire;

struct key_peer {
	int fd;
	time_t since;
};

struct key_service {
	const struct key_service_env *env;
	struct tls_key *key;
	int epfd;
	struct key_peer peers[KEY_MAX_PEERS];
	size_t npeers;
	struct ipc_msg in, out;
};

int key_request_decode(struct ipc_msg *m, struct key_request *r)
{
	size_t token_len;

	if (m->hdr.type != IPC_KEY_SIGN || m->fd >= 0)
		return -1;
	if (ipc_get_data(m, &r->token, &token_len) < 0 || ipc_get_u32(m, &r->kind) < 0 ||
	    ipc_get_u32(m, &r->algo) < 0 || ipc_get_u32(m, &r->flags) < 0 ||
	    ipc_get_data(m, &r->input, &r->len) < 0 || ipc_end(m) < 0)
		return -1;
	if (token_len != KEY_TOKEN_LEN || (r->kind != KEY_SIGN_HASH && r->kind != KEY_SIGN_DATA) ||
	    r->len == 0 || r->len > KEY_SIGN_MAX)
		return -1;
	return 0;
}

static void key_peer_close(struct key_service *ks, size_t i)
{
	epoll_ctl(ks->epfd, EPOLL_CTL_DEL, ks->peers[i].fd, NULL);
	close(ks->peers[i].fd);
	ks->peers[i] = ks->peers[--ks->npeers];
}

static void key_accept(struct key_service *ks)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct timeval tv = {.tv_sec = 1};
	int fd = accept4(ks->env->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (ks->npeers == KEY_MAX_PEERS || !ipc_peer_allowed(fd, ks->env->worker_uid, "key")) {
		close(fd);
		return;
	}
	/* an answer is one small message: a peer that does not take it is dropped */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	ev.data.fd = fd;
	if (epoll_ctl(ks->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		return;
	}
	ks->peers[ks->npeers++] = (struct key_peer){fd, time(NULL)};
}

/* Signs a decoded request into out (IPC_KEY_SIGNATURE, or IPC_KEY_FAIL when GnuTLS refuses). */
static void key_sign(struct key_service *ks, const struct key_request *r, uint32_t id,
                     struct ipc_msg *out)
{
	unsigned char sig[KEY_SIG_MAX];
	size_t sig_len;
	const char *error;

	if (tls_key_sign(ks->key, r->kind == KEY_SIGN_DATA, r->algo, r->flags, r->input, r->len,
	                 sig, sizeof(sig), &sig_len, &error) < 0) {
		log_warn("cannot sign for a worker: %s", error);
		ipc_msg_init(out, IPC_KEY_FAIL, id);
		return;
	}
	log_debug("signed %zu bytes (%s, algorithm %u) for a worker", r->len,
	          r->kind == KEY_SIGN_DATA ? "data" : "hash", (unsigned)r->algo);
	ipc_msg_init(out, IPC_KEY_SIGNATURE, id);
	ipc_put_data(out, sig, sig_len);
}

/* One request from a peer, answered; the connection is closed either way (one per request). A
 * request that is malformed or lacks the token is a peer that is no worker of ours. */
static void key_handle(struct key_service *ks, size_t i)
{
	struct ipc_msg *m = &ks->in;
	struct key_request r;
	int got = ipc_recv(ks->peers[i].fd, m);

	if (got < 0 && errno == EAGAIN)
		return;
	if (got > 0 && key_request_decode(m, &r) == 0 &&
	    sodium_memcmp(r.token, ks->env->token, KEY_TOKEN_LEN) == 0) {
		key_sign(ks, &r, m->hdr.request_id, &ks->out);
		if (ipc_send(ks->peers[i].fd, &ks->out, -1) < 0)
			log_warn("cannot answer a worker: %s", strerror(errno));
	} else if (got != 0) {
		log_error("malformed or unauthorised sign request: closing that connection");
	}
	ipc_msg_wipe(m);
	key_peer_close(ks, i);
}

static void key_event(struct key_service *ks, int fd)
{
	if (fd == ks->env->listen_fd) {
		key_accept(ks);
		return;
	}
	for (size_t i = 0; i < ks->npeers; i++)
		if (ks->peers[i].fd == fd) {
			key_handle(ks, i);
			return;
		}
}

static void key_expire(struct key_service *ks)
{
	time_t now = time(NULL);

	for (size_t i = ks->npeers; i-- > 0;)
		if (now - ks->peers[i].since > KEY_PEER_IDLE_MAX)
			key_peer_close(ks, i);
}

/* True while the service goes on: not told to quit, and retired less than linger ago. */
static bool key_going_on(const struct key_service *ks, long *retired_ms)
{
	if (key_service_quit)
		return false;
	if (key_service_retire && *retired_ms == 0)
		*retired_ms = clock_now_ms();
	return *retired_ms == 0 || clock_now_ms() - *retired_ms < (long)ks->env->linger * 1000L;
}

void key_service_run(const struct key_service_env *env, struct tls_key *key)
{
	struct key_service *ks = xcalloc(1, sizeof(*ks));
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = env->listen_fd}, evs[16];
	long retired_ms = 0;

	ks->env = env;
	ks->key = key;
	ks->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ks->epfd < 0 || epoll_ctl(ks->epfd, EPOLL_CTL_ADD, env->listen_fd, &ev) < 0)
		fatal("epoll: %s", strerror(errno));
	if (env->ready != NULL)
		env->ready(env->ready_ctx);
	while (key_going_on(ks, &retired_ms)) {
		int n = epoll_wait(ks->epfd, evs, 16, 1000);

		if (n < 0 && errno != EINTR)
			fatal("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++)
			key_event(ks, evs[i].data.fd);
		key_expire(ks);
	}
	while (ks->npeers > 0)
		key_peer_close(ks, ks->npeers - 1);
	close(ks->epfd);
	free(ks);
}
