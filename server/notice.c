/* The notice process and its client half (server/notice.h). */
#include "server/notice.h"
#include "auth/policy.h"
#include "common/config.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "storage/storage.h"

#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define NOTICE_IO_TIMEOUT 5  /* seconds either side waits for the other */
#define NOTICE_CLIENT_MAX 64 /* characters of a client's IMAP ID name shown */
#define NOTICE_MSG_MAX    4096
#define NOTICE_POSTED_MAX  256 /* notices remembered until removed, for the stale sweep */
#define NOTICE_STALE_SLACK 10  /* seconds past its wait after which a notice's holder is gone */

volatile sig_atomic_t notice_quit;

/* ---- the message ---- */

/* Client-supplied text, shown only in the body: printable ASCII, no quotes, bounded. */
static void notice_safe(const char *in, char *out, size_t size)
{
	size_t o = 0;

	for (; in != NULL && *in != '\0' && o + 1 < size && o < NOTICE_CLIENT_MAX; in++) {
		unsigned char c = (unsigned char)*in;

		out[o++] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char)c : '?';
	}
	out[o] = '\0';
}

static void notice_host(const struct config *cfg, char *out, size_t size)
{
	char *host = cfg->portal_origin != NULL ? config_origin_host(cfg->portal_origin) : NULL;

	snprintf(out, size, "%s", host != NULL ? host : "localhost");
	free(host);
}

static void notice_upper(const char *in, char *out, size_t size)
{
	size_t i = 0;

	for (; in[i] != '\0' && i + 1 < size; i++)
		out[i] = in[i] >= 'a' && in[i] <= 'z' ? (char)(in[i] - 'a' + 'A') : in[i];
	out[i] = '\0';
}

/* Where the user decides: the portal's page, or (without a portal) the admin. */
static char *notice_how(const struct config *cfg, const struct notice_fields *f)
{
	if (cfg->portal_origin != NULL)
		return xasprintf("Approve or deny it on\r\n\r\n  %s/approvals\r\n",
		                 cfg->portal_origin);
	return xasprintf("Ask your administrator to approve or deny it (twofold login approve %s "
	                 "%u).\r\n",
	                 f->user, f->request_id);
}

char *notice_message(const struct config *cfg, const struct notice_fields *f, size_t *len_r)
{
	char host[256], proto[16], client[NOTICE_CLIENT_MAX + 1], date[64], when[64], nonce[17];
	unsigned char rnd[8];
	struct tm tm;
	char *how, *msg;

	notice_host(cfg, host, sizeof(host));
	notice_upper(f->proto, proto, sizeof(proto));
	notice_safe(f->client_id, client, sizeof(client));
	gmtime_r(&f->now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(nonce, sizeof(nonce), rnd, sizeof(rnd));
	how = notice_how(cfg, f);
	msg = xasprintf(
	    "From: twofold <postmaster@%s>\r\nTo: undisclosed-recipients:;\r\n"
	    "Subject: Approve login from IP %s (%s)\r\nDate: %s\r\n"
	    "Message-ID: <approval-%u.%s@%s>\r\nAuto-Submitted: auto-generated\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n"
	    "Someone logged in to your mailbox with your password alone:\r\n\r\n"
	    "  from IP   %s\r\n  protocol  %s\r\n  client    %s\r\n  at        %s\r\n\r\n"
	    "The login waits %u seconds for your decision. %s\r\n"
	    "If it was not you, deny it and change your password: someone knows it.\r\n\r\n"
	    "This message goes away by itself once the login is decided or has expired.\r\n",
	    host, f->ip, proto, date, f->request_id, nonce, host, f->ip, proto,
	    client[0] != '\0' ? client : "(did not say)", when, f->wait, how);
	free(how);
	*len_r = strlen(msg);
	return msg;
}

/* ---- the process: one request per connection ---- */

static int notice_open_inbox(int dirfd, struct mail_storage **st_r, struct mailbox **box_r,
                             const char **error_r)
{
	*box_r = NULL;
	if (mail_storage_open(dirfd, st_r, error_r) < 0)
		return -1;
	if (mailbox_open(*st_r, "INBOX", box_r, error_r) < 0) {
		mail_storage_close(st_r);
		return -1;
	}
	return 0;
}

static void notice_close_inbox(struct mail_storage **st, struct mailbox **box)
{
	mailbox_close(box);
	mail_storage_close(st);
}

/* ---- the notices posted and not yet removed ----
 * An auth process takes its notice away once the held login is decided; one that dies while it
 * holds a login cannot. So this process remembers what it posted (user, UIDVALIDITY, UID, when
 * the wait is surely over), and any later request for the same user (the next notice, or its
 * removal) expunges that user's notices that are over with it. A remembered (UIDVALIDITY, UID)
 * names the notice and nothing else: a UID is never reused within a UIDVALIDITY. */

struct notice_posted {
	char user[256];
	uint32_t uidvalidity, uid;
	time_t stale_at;
};

static struct notice_posted notice_posted[NOTICE_POSTED_MAX];
static size_t notice_nposted;

static void notice_remember(const char *user, const struct mailbox *box, uint32_t uid,
                            time_t stale_at)
{
	struct notice_posted *n;

	if (notice_nposted == NOTICE_POSTED_MAX) { /* forget the oldest: it may stay behind */
		memmove(&notice_posted[0], &notice_posted[1],
		        (NOTICE_POSTED_MAX - 1) * sizeof(notice_posted[0]));
		notice_nposted--;
	}
	n = &notice_posted[notice_nposted++];
	snprintf(n->user, sizeof(n->user), "%s", user);
	n->uidvalidity = mailbox_uidvalidity(box);
	n->uid = uid;
	n->stale_at = stale_at;
}

/* Marks in remove[] the message uid (0: none) and user's notices stale at now, and forgets
 * them; returns how many are marked. *found_r: uid is among them. */
static size_t notice_mark(const struct mailbox *box, const char *user, uint32_t uid, time_t now,
                          bool *remove, bool *found_r)
{
	size_t marked = 0, kept = 0;
	ssize_t at = uid != 0 ? mailbox_find_uid(box, uid) : -1;

	*found_r = at >= 0;
	if (at >= 0) {
		remove[at] = true;
		marked++;
	}
	for (size_t i = 0; i < notice_nposted; i++) {
		const struct notice_posted *n = &notice_posted[i];
		/* a mailbox made anew since: the notice went with the old one */
		bool gone = n->uidvalidity != mailbox_uidvalidity(box);

		if (strcmp(n->user, user) != 0 || (!gone && n->uid != uid && n->stale_at > now)) {
			notice_posted[kept++] = *n;
			continue;
		}
		at = !gone && n->uid != uid ? mailbox_find_uid(box, n->uid) : -1;
		if (at >= 0) {
			remove[at] = true;
			marked++;
		}
	}
	notice_nposted = kept;
	return marked;
}

/* Expunges uid (0: none) and user's stale notices from the open INBOX: -1 on failure, else
 * 1 when uid was there, 0 not. */
static int notice_expunge(struct mailbox *box, const char *user, uint32_t uid, time_t now)
{
	const char *error = NULL;
	bool *remove, found;
	int r = 0;

	if (mailbox_sync(box, &error) < 0) {
		log_warn("notice for %s: %s", user, error);
		return -1;
	}
	remove = xcalloc(mailbox_count(box) + 1, sizeof(*remove));
	if (notice_mark(box, user, uid, now, remove, &found) > 0)
		r = mailbox_expunge(box, remove, &error);
	free(remove);
	if (r < 0)
		log_warn("notice for %s: %s", user, error);
	return r < 0 ? -1 : found;
}

/* Appends the message (after the user's stale notices are gone); its UID, 0 on failure. */
static uint32_t notice_post(const struct notice_env *env, const struct notice_fields *f, int dirfd)
{
	struct mail_storage *st;
	struct mailbox *box;
	const char *error;
	uint32_t uid = 0;
	size_t len;
	char *msg;

	if (notice_open_inbox(dirfd, &st, &box, &error) < 0) {
		log_warn("notice for %s: %s", f->user, error);
		return 0;
	}
	(void)notice_expunge(box, f->user, 0, f->now);
	msg = notice_message(env->cfg, f, &len);
	if (mailbox_append(box, msg, len, 0, f->now, &uid, &error) < 0) {
		log_warn("notice for %s: %s", f->user, error);
		uid = 0;
	}
	if (uid != 0)
		notice_remember(f->user, box, uid, f->now + (time_t)f->wait + NOTICE_STALE_SLACK);
	free(msg);
	notice_close_inbox(&st, &box);
	return uid;
}

/* Expunges the message with that UID (and the user's stale notices); the UID, 0 when it was
 * not there (or on failure). */
static uint32_t notice_remove(const char *user, uint32_t uid, int dirfd)
{
	struct mail_storage *st;
	struct mailbox *box;
	const char *error = NULL;
	int r;

	if (notice_open_inbox(dirfd, &st, &box, &error) < 0) {
		log_warn("notice for %s: %s", user, error);
		return 0;
	}
	r = notice_expunge(box, user, uid, time(NULL));
	notice_close_inbox(&st, &box);
	return r == 1 ? uid : 0;
}

static int notice_decode_post(struct ipc_msg *m, struct notice_fields *f)
{
	uint32_t wait;

	if (ipc_get_str(m, &f->user) < 0 || ipc_get_str(m, &f->proto) < 0 ||
	    ipc_get_str(m, &f->ip) < 0 || ipc_get_str(m, &f->client_id) < 0 ||
	    ipc_get_u32(m, &f->request_id) < 0 || ipc_get_u32(m, &wait) < 0 || ipc_end(m) < 0)
		return -1;
	f->wait = wait;
	f->now = time(NULL);
	return 0;
}

/* One request; -1 when it is malformed (the peer is an auth process: a bug). */
static int notice_handle(const struct notice_env *env, struct ipc_msg *m, uint32_t *uid_r)
{
	struct notice_fields f = {0};
	uint32_t uid;

	if (m->hdr.type == IPC_NOTICE_POST && notice_decode_post(m, &f) == 0) {
		*uid_r = notice_post(env, &f, m->fd);
		return 0;
	}
	if (m->hdr.type == IPC_NOTICE_REMOVE && ipc_get_str(m, &f.user) == 0 &&
	    ipc_get_u32(m, &uid) == 0 && ipc_end(m) == 0) {
		*uid_r = notice_remove(f.user, uid, m->fd);
		return 0;
	}
	return -1;
}

static void notice_timeouts(int fd)
{
	struct timeval tv = {.tv_sec = NOTICE_IO_TIMEOUT};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void notice_serve(const struct notice_env *env, int fd, struct ipc_msg *m)
{
	uint32_t uid = 0, request_id;
	int dirfd, r;

	notice_timeouts(fd);
	if (!ipc_peer_allowed(fd, env->auth_uid, "notice") || ipc_recv(fd, m) != 1)
		return;
	dirfd = m->fd;
	request_id = m->hdr.request_id;
	r = notice_handle(env, m, &uid);
	if (dirfd >= 0)
		close(dirfd);
	if (r < 0) {
		log_error("notice: malformed request (type %u)", m->hdr.type);
		return;
	}
	ipc_msg_init(m, IPC_NOTICE_DONE, request_id);
	ipc_put_u32(m, uid);
	(void)ipc_send(fd, m, -1);
}

int notice_run(const struct notice_env *env, const char **error_r)
{
	struct ipc_msg *m = xmalloc(sizeof(*m));
	struct pollfd pfd = {.fd = env->listen_fd, .events = POLLIN};

	if (env->ready != NULL)
		env->ready(env->ready_ctx);
	while (!notice_quit) {
		int fd;

		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		fd = accept4(env->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		notice_serve(env, fd, m);
		close(fd);
	}
	free(m);
	(void)error_r;
	return 0;
}

/* ---- the client half, in the auth processes ---- */

/* Sends m with the maildir fd and waits for IPC_NOTICE_DONE: its uid, 0 on any failure. */
static uint32_t notice_call(const struct notice_addr *addr, struct ipc_msg *m, int dirfd)
{
	uint32_t uid = 0;
	int fd = ipc_connect(&addr->addr, addr->len, NOTICE_IO_TIMEOUT);

	if (fd < 0 || ipc_send(fd, m, dirfd) < 0 || ipc_recv(fd, m) != 1 ||
	    m->hdr.type != IPC_NOTICE_DONE || ipc_get_u32(m, &uid) < 0 || ipc_end(m) < 0) {
		log_warn("notice process: %s",
		         fd < 0 || errno != 0 ? strerror(errno) : "bad answer");
		uid = 0;
	}
	if (fd >= 0)
		close(fd);
	return uid;
}

static int notice_client_post(void *ctx, int maildir_fd, const struct auth_hold *hold,
                              unsigned wait, uint32_t *id_r)
{
	struct ipc_msg *m = xmalloc(sizeof(*m));

	ipc_msg_init(m, IPC_NOTICE_POST, 1);
	ipc_put_str(m, hold->user);
	ipc_put_str(m, auth_proto_name(hold->proto));
	ipc_put_str(m, hold->ip);
	ipc_put_str(m, hold->client_id);
	ipc_put_u32(m, (uint32_t)hold->approval_id);
	ipc_put_u32(m, wait);
	*id_r = notice_call(ctx, m, maildir_fd);
	free(m);
	return *id_r != 0 ? 0 : -1;
}

static void notice_client_remove(void *ctx, int maildir_fd, const char *user, uint32_t id)
{
	struct ipc_msg *m = xmalloc(sizeof(*m));

	ipc_msg_init(m, IPC_NOTICE_REMOVE, 1);
	ipc_put_str(m, user);
	ipc_put_u32(m, id);
	if (notice_call(ctx, m, maildir_fd) != id)
		log_warn("notice for %s: message %u not removed", user, id);
	free(m);
}

void notice_client_hooks(const struct notice_addr *addr, struct auth_notice_hooks *hooks_r)
{
	hooks_r->post = notice_client_post;
	hooks_r->remove = notice_client_remove;
	hooks_r->ctx = (void *)addr;
}
