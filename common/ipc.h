/*
 * Messages between processes (worker <-> auth service, worker <-> key process): AF_UNIX
 * SOCK_SEQPACKET, one message per
 * request, a fixed header, typed put/get helpers and an end-of-message check. A peer that sends a
 * malformed message is a bug or compromised: callers treat ipc_get_* failure as fatal for it.
 */
#ifndef TWOFOLD_IPC_H
#define TWOFOLD_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#define IPC_VERSION 1
#define IPC_MAX     16384

enum ipc_type {
	IPC_LOGIN_REQUEST = 1, /* str user, str secret, str proto, str ip, str client_id */
	IPC_LOGIN_OK,          /* str canonical user; maildir fd attached */
	IPC_LOGIN_FAIL,        /* u32 delay_ms, u32 hint (enum auth_hint) */
	IPC_LOGIN_TEMPFAIL,    /* u32 delay_ms */

	/* worker <-> key process (server/key.h); numbered apart so other groups can grow */
	IPC_KEY_SIGN = 32,  /* data token, u32 kind, u32 sign algorithm, u32 flags, data input */
	IPC_KEY_SIGNATURE,  /* data signature */
	IPC_KEY_FAIL,       /* nothing: the key process could not sign */

	/* portal <-> auth, on the portal's own socket: one operation per request */
	IPC_PORTAL_REQUEST = 48, /* str op, str session id, str csrf, str ip, u32 argc, argc x str */
	IPC_PORTAL_REPLY,        /* u32 status, u32 delay_ms, str message, u32 rows, u32 cols,
	                          * rows x cols x str */

	/* auth -> notice process (server/notice.h); numbered apart so other groups can grow */
	IPC_NOTICE_POST = 64, /* str user, str proto, str ip, str client_id, u32 request id,
	                       * u32 seconds held; maildir fd attached */
	IPC_NOTICE_REMOVE,    /* str user, u32 uid; maildir fd attached */
	IPC_NOTICE_DONE,      /* u32 uid posted or removed, 0 when none */

	/* worker <-> watch process (server/watch.h); numbered apart so other groups can grow */
	IPC_WATCH_ADD = 80, /* nothing; the mailbox directory's fd attached */
	IPC_WATCH_REMOVE,   /* nothing: IDLE ended */
	IPC_WATCH_ACK,      /* u32 0 watched, else the errno why not */
	IPC_WATCH_EVENT,    /* nothing: the mailbox changed */
};

/* The status of an IPC_PORTAL_REPLY. */
enum ipc_portal_status {
	IPC_PORTAL_OK,
	IPC_PORTAL_FAIL,       /* sign-in refused: wait delay_ms, show the generic refusal */
	IPC_PORTAL_NO_SESSION, /* no such session, or expired: sign in again */
	IPC_PORTAL_BAD_CSRF,   /* a state-changing request without the session's token */
	IPC_PORTAL_REFUSED,    /* the operation was refused: message says why, for the user */
	IPC_PORTAL_TEMPFAIL,   /* store busy or broken */
	IPC_PORTAL_STATUS_MAX,
};

/* The level of a portal session, as the "session" operation reports it. */
enum ipc_portal_level {
	IPC_PORTAL_LEVEL_ENROL = 1, /* from an enrolment link: may add a security key only */
	IPC_PORTAL_LEVEL_FULL = 2,  /* signed in with password and second factor */
	IPC_PORTAL_LEVEL_KEY = 3,   /* the password was right; the security key is still to come */
};

struct ipc_header {
	uint8_t version;
	uint8_t type;
	uint16_t length; /* payload bytes after the header */
	uint32_t request_id;
};

struct ipc_msg {
	struct ipc_header hdr;
	unsigned char data[IPC_MAX - sizeof(struct ipc_header)];
	size_t pos;    /* read cursor, or write length */
	bool overflow; /* a put did not fit */
	int fd;        /* attached fd or -1 */
};

void ipc_msg_init(struct ipc_msg *m, enum ipc_type type, uint32_t request_id);
void ipc_put_u32(struct ipc_msg *m, uint32_t v);
void ipc_put_str(struct ipc_msg *m, const char *s);
/* Bytes that may hold anything (a NUL too): a length, then the bytes. */
void ipc_put_data(struct ipc_msg *m, const void *p, size_t len);
/* Wipes the payload: call after building or reading a message that held a secret. */
void ipc_msg_wipe(struct ipc_msg *m);

/* 0 ok, -1 malformed. Strings point into the message (NUL-terminated in place). */
int ipc_get_u32(struct ipc_msg *m, uint32_t *v_r);
int ipc_get_str(struct ipc_msg *m, const char **s_r);
/* *p_r points into the message. */
int ipc_get_data(struct ipc_msg *m, const unsigned char **p_r, size_t *len_r);
/* 0 when every byte has been read, -1 otherwise. */
int ipc_end(const struct ipc_msg *m);

/* A SOCK_SEQPACKET connection to a service's socket, each send and receive bounded by timeout_s.
 * The fd, or -1 (errno set). */
int ipc_connect(const struct sockaddr_un *addr, socklen_t len, unsigned timeout_s);
/* Sends m (and fd if >= 0). 0 ok, -1 error (errno set). */
int ipc_send(int sock, const struct ipc_msg *m, int fd);
/* Receives into m; m->fd is the attached fd of a type that carries one (IPC_LOGIN_OK,
 * IPC_NOTICE_POST, IPC_NOTICE_REMOVE, IPC_WATCH_ADD), else -1.
 * 1 ok, 0 peer closed, -1 error or malformed (errno EPROTO). A message with more or fewer
 * descriptors than its type carries is malformed: every descriptor that came with it is closed. */
int ipc_recv(int sock, struct ipc_msg *m);
/* Whether the process at the other end of the connected AF_UNIX socket fd runs as uid (or
 * root); a refusal is logged as "refused <service> connection from pid P uid U". */
bool ipc_peer_allowed(int fd, uid_t uid, const char *service);
/* Parses a received buffer (for the fuzz target and ipc_recv). 0 ok, -1 malformed. */
int ipc_decode(struct ipc_msg *m, const void *buf, size_t len);

#endif
