#include "server/control.h"
#include "auth/policy.h"
#include "common/config.h"
#include "common/log.h"
#include "common/text.h"
#include "common/xalloc.h"
#include "server/master-pool.h"
#include "server/scoreboard.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* A request gets this long to arrive and its answer to leave: the master serves everything
 * else in between, and only root asks. */
#define CONTROL_TIMEOUT_MS 2000

static int control_addr(const char *path, struct sockaddr_un *sa, char **error_r)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (path[0] != '/' || strlen(path) >= sizeof(sa->sun_path)) {
		*error_r =
		    xasprintf("[server] control: %s: not an absolute path of at most %zu bytes",
		              path, sizeof(sa->sun_path) - 1);
		return -1;
	}
	memcpy(sa->sun_path, path, strlen(path));
	return 0;
}

/* A socket left at path by a daemon that died is removed; one that answers is another
 * daemon's, which keeps it. */
static int control_clear(const struct sockaddr_un *sa, char **error_r)
{
	struct stat st;
	int fd, r;

	if (lstat(sa->sun_path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		*error_r =
		    xasprintf("[server] control: %s exists and is not a socket", sa->sun_path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (r == 0) {
		*error_r = xasprintf("[server] control: %s is in use by another running twofoldd",
		                     sa->sun_path);
		return -1;
	}
	unlink(sa->sun_path);
	return 0;
}

static void control_mkdir(const char *path)
{
	char *copy = xstrdup(path);

	(void)mkdir(dirname(copy), 0700);
	free(copy);
}

int control_open(const struct config *cfg, int *fd_r, char **error_r)
{
	struct sockaddr_un sa;
	mode_t old;
	int fd, r;

	*fd_r = -1;
	if (control_addr(cfg->control_socket, &sa, error_r) < 0 || control_clear(&sa, error_r) < 0)
		return -1;
	control_mkdir(cfg->control_socket);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*error_r = xasprintf("[server] control: socket: %s", strerror(errno));
		return -1;
	}
	old = umask(0177);
	r = bind(fd, (const struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, 8) < 0) {
		*error_r =
		    xasprintf("[server] control: %s: %s", cfg->control_socket, strerror(errno));
		close(fd);
		return -1;
	}
	*fd_r = fd;
	return 0;
}

void control_close(int *fd, const char *path)
{
	if (*fd < 0)
		return;
	close(*fd);
	*fd = -1;
	unlink(path);
}

/* ---- requests ---- */

struct control_request {
	int fd;
	const struct scoreboard *sb;
	const struct master_pool *pool;
};

static void control_reply(const struct control_request *rq, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void control_reply(const struct control_request *rq, const char *fmt, ...)
{
	char line[CONTROL_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	n = n < (int)sizeof(line) - 1 ? n : (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (send(rq->fd, line, (size_t)n, MSG_NOSIGNAL) < 0) {
		/* the admin's command went away: nothing to tell */
	}
}

/* The worker wrote these: shown with control bytes (tabs, newlines) masked. */
static void control_mask(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static void control_reply_session(const struct control_request *rq, pid_t pid,
                                  struct scoreboard_session *ss)
{
	control_mask(ss->user);
	control_mask(ss->ip);
	control_reply(rq, "S\t%ld\t%s\t%s\t%s\t%lld", (long)pid, ss->user,
	              auth_proto_name((enum auth_proto)ss->proto), ss->ip, (long long)ss->since);
}

/* Each session of the pool's workers (of user, or all when NULL): listed, and signalled when
 * kick. The pids are the master's own; the scoreboard only says which is whose. */
static unsigned control_sessions(const struct control_request *rq, const char *user, bool kick)
{
	unsigned n = 0;

	for (size_t i = 0; i < rq->pool->count; i++) {
		const struct master_worker *w = &rq->pool->w[i];
		struct scoreboard_session ss;

		if (w->overflow || !scoreboard_session_get(rq->sb, w->slot, &ss) ||
		    (user != NULL && strcmp(ss.user, user) != 0))
			continue;
		if (kick && kill(w->pid, SIGTERM) < 0)
			continue;
		control_reply_session(rq, w->pid, &ss);
		n++;
	}
	return n;
}

static void control_who(const struct control_request *rq, const char *arg)
{
	control_reply(rq, "OK\t%u", control_sessions(rq, NULL, false));
}

static void control_kick(const struct control_request *rq, const char *name)
{
	unsigned n = control_sessions(rq, name, true);

	log_info("kick %s: %u session%s ended", name, n, n == 1 ? "" : "s");
	control_reply(rq, "OK\t%u", n);
}

static const struct {
	const char *name;
	bool has_arg;
	void (*run)(const struct control_request *rq, const char *arg);
} control_commands[] = {
    {"who", false, control_who},
    {"kick", true, control_kick},
};

static void control_dispatch(const struct control_request *rq, char *line)
{
	char *arg = strchr(line, ' ');

	if (arg != NULL)
		*arg++ = '\0';
	for (size_t i = 0; i < sizeof(control_commands) / sizeof(control_commands[0]); i++) {
		if (strcmp(control_commands[i].name, line) != 0)
			continue;
		if (control_commands[i].has_arg != (arg != NULL && arg[0] != '\0'))
			break;
		control_commands[i].run(rq, arg);
		return;
	}
	control_reply(rq, "ERR\tunknown request");
}

/* Root, or the uid the daemon runs as (started without root). */
static bool control_peer_ok(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	       (cred.uid == 0 || cred.uid == geteuid());
}

/* One line, up to '\n', within the timeout. false for anything else. */
static bool control_read_line(int fd, char *buf, size_t size)
{
	size_t got = 0;

	while (got < size - 1) {
		ssize_t n = recv(fd, buf + got, size - 1 - got, 0);
		char *nl;

		if (n <= 0)
			return false;
		got += (size_t)n;
		buf[got] = '\0';
		nl = memchr(buf, '\n', got);
		if (nl != NULL) {
			*nl = '\0';
			/* a NUL inside would cut the request short */
			return strlen(buf) == (size_t)(nl - buf) &&
			       text_has_no_controls(buf, strlen(buf));
		}
	}
	return false;
}

void control_handle(int fd, const struct scoreboard *sb, const struct master_pool *pool)
{
	struct control_request rq = {.fd = fd, .sb = sb, .pool = pool};
	char line[CONTROL_LINE_MAX];

	if (!control_peer_ok(fd))
		control_reply(&rq, "ERR\tonly root may ask");
	else if (control_read_line(fd, line, sizeof(line)))
		control_dispatch(&rq, line);
	else
		control_reply(&rq, "ERR\tone request line expected");
}

void control_serve(int fd, const struct scoreboard *sb, const struct master_pool *pool)
{
	struct timeval tv = {.tv_sec = CONTROL_TIMEOUT_MS / 1000,
	                     .tv_usec = (CONTROL_TIMEOUT_MS % 1000) * 1000};
	int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

	if (conn < 0)
		return;
	(void)setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	control_handle(conn, sb, pool);
	close(conn);
}
