/*
 * The key process: the one process that holds the TLS private key (as OpenSMTPD's ca process).
 * A worker's credentials carry an external private key (server/tls.c) whose sign callbacks send
 * what GnuTLS asks to sign to the key process (IPC_KEY_SIGN) and return its signature, so no
 * worker ever loads the key and a compromised one cannot take it away. The master forks the key
 * process; it reads the key as root, then chroots into the empty directory and runs as the auth
 * account, not dumpable. It answers only sign requests of at most KEY_SIGN_MAX bytes, from the
 * workers' uid, that carry the token the master gave the workers of the same generation (a
 * chrooted process cannot look up who a peer's parent is, as the auth service does).
 */
#ifndef TWOFOLD_KEY_H
#define TWOFOLD_KEY_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

struct ipc_msg;
struct tls_key;

#define KEY_TOKEN_LEN 32
/* Input to sign: a hash (at most 64 bytes), or the data of a TLS 1.3 CertificateVerify or a
 * TLS 1.2 ServerKeyExchange (EdDSA signs data whole): a few hundred bytes at most. */
#define KEY_SIGN_MAX 4096
#define KEY_SIG_MAX  2048 /* an RSA-16384 signature */

enum key_sign_kind { KEY_SIGN_HASH = 1, KEY_SIGN_DATA = 2 };

struct key_request {
	const unsigned char *token; /* KEY_TOKEN_LEN bytes */
	uint32_t kind;              /* enum key_sign_kind */
	uint32_t algo, flags;       /* GnuTLS's, passed through */
	const unsigned char *input;
	size_t len;
};

/* Reads an IPC_KEY_SIGN (pointers into m). 0 ok, -1 malformed or out of bounds. */
int key_request_decode(struct ipc_msg *m, struct key_request *r);

/* ---- the key process ---- */

/* SIGTERM: answer what is pending and exit. SIGUSR1 (a reload replaced it): keep serving the
 * workers of its generation for linger seconds (a handshake in progress), then exit. */
extern volatile sig_atomic_t key_service_quit, key_service_retire;

struct key_service_env {
	int listen_fd;
	uid_t worker_uid;                    /* who may connect, besides root */
	const unsigned char *token;          /* KEY_TOKEN_LEN bytes */
	unsigned linger;                     /* seconds, after key_service_retire */
	void (*ready)(void *ctx);            /* called once it listens */
	void *ready_ctx;
};

/* Serves sign requests with key until told to stop. The caller has loaded the key, chrooted
 * and dropped privileges. */
void key_service_run(const struct key_service_env *env, struct tls_key *key);

/* ---- in a worker ---- */

/* Where this worker's generation of the key process listens and its token; timeout_s bounds
 * one request. */
void key_client_setup(const struct sockaddr_un *addr, socklen_t addr_len,
                      const unsigned char token[KEY_TOKEN_LEN], unsigned timeout_s);
/* Asks the key process to sign: a connection per request (a restarted key process is reached
 * again at the same address). 0 with the signature in sig (*sig_len_r bytes), -1 on any
 * failure (the handshake then fails). */
int key_client_sign(enum key_sign_kind kind, unsigned algo, unsigned flags, const void *input,
                    size_t len, unsigned char *sig, size_t size, size_t *sig_len_r);

#endif
