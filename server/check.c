#include "server/check.h"
#include "auth/admin.h"
#include "auth/policy.h"
#include "common/config.h"
#include "common/xalloc.h"
#include "server/privdrop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK_ERROR_MAX 1024

/* What the child found first; it writes this to the parent. */
struct check_result {
	char text[CHECK_ERROR_MAX];
};

static int check_fail(struct check_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int check_fail(struct check_result *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->text, sizeof(res->text), fmt, ap);
	va_end(ap);
	return -1;
}

/* Appends how many users a template refusal concerns. */
static int check_fail_count(struct check_result *res, unsigned refused)
{
	size_t len = strlen(res->text);

	snprintf(res->text + len, sizeof(res->text) - len, " (%u users do not fit)", refused);
	return -1;
}

/* A file the service opens must be its account's: one that root or the admin made (a copy, a
 * restore) opens for reading at best, and then every login fails, not the start. */
static int check_owner(const char *what, const char *path, struct check_result *res)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0
		                       : check_fail(res, "%s %s: %s", what, path, strerror(errno));
	if (st.st_uid == geteuid())
		return 0;
	return check_fail(res,
	                  "%s %s belongs to uid %ld, but the auth service runs as uid %ld "
	                  "([server] auth_user): chown it to that account",
	                  what, path, (long)st.st_uid, (long)geteuid());
}

static int check_store_files(const struct config *cfg, struct check_result *res)
{
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	char path[4096];

	if (check_owner("key file", cfg->auth_key_file, res) < 0)
		return -1;
	/* a store of another module (a database server) has no file here */
	if (strcmp(cfg->auth_module, "sqlite") != 0)
		return 0;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", cfg->auth_database, suffixes[i]);
		if (check_owner("auth store", path, res) < 0)
			return -1;
	}
	return 0;
}

struct check_users {
	const struct config *cfg;
	struct check_result *res;
	unsigned refused;
	char *sample; /* the first user whose maildir path resolves */
};

static void check_user(const struct admin_user_info *u, void *ctx)
{
	struct check_users *c = ctx;
	const char *error;
	char *path;

	path = config_maildir_for(c->cfg, u->name);
	if (path != NULL) {
		if (c->sample == NULL)
			c->sample = xstrdup(u->name);
		free(path);
		return;
	}
	if (c->refused++ > 0)
		return;
	if (config_maildir_user_check(c->cfg, u->name, &error) == 0)
		error = "the name cannot be turned into a maildir path";
	check_fail(c->res, "[storage] maildir %s: user '%s': %s", c->cfg->maildir, u->name, error);
}

/* The service opens each maildir by its path (O_PATH, handed to the worker): the directories
 * above it must be searchable by the auth account, else every login of that user fails after
 * the right credentials. */
static int check_maildir_reachable(const struct config *cfg, const char *user,
                                   struct check_result *res)
{
	char *path = config_maildir_for(cfg, user), *dir;
	int r = 0;

	if (path == NULL)
		return check_fail(res, "[storage] maildir %s: no path for user '%s'", cfg->maildir,
		                  user);
	dir = xstrdup(path);
	/* each existing directory above it from the top: the first one not searchable is the one
	 * to fix */
	for (char *p = dir + 1; r == 0; p++) {
		char c = *p;
		int a;

		if (c == '\0')
			break;
		if (c != '/')
			continue;
		*p = '\0';
		a = access(dir, X_OK) < 0 ? errno : 0;
		if (a != 0 && a != ENOENT) {
			errno = a;
			r = check_fail(
			    res,
			    "[storage] maildir %s: %s (on the way to %s, the maildir of '%s') "
			    "is not searchable by the auth service (uid %ld): %s",
			    cfg->maildir, dir, path, user, (long)geteuid(), strerror(errno));
		} else if (a == ENOENT) {
			break;
		}
		*p = c;
	}
	free(dir);
	free(path);
	return r;
}

/* A user to try the template with: a stored one, else a made-up name of the form it wants. */
static int check_sample_user(const struct config *cfg, const char *stored, struct check_result *res)
{
	const char *error;

	if (stored != NULL)
		return check_maildir_reachable(cfg, stored, res);
	if (config_maildir_user_check(cfg, "postmaster", &error) == 0)
		return check_maildir_reachable(cfg, "postmaster", res);
	return check_maildir_reachable(cfg, "postmaster@example.org", res);
}

/* The child: becomes the auth account and opens what the service opens. */
static int check_as_auth(const struct config *cfg, const struct privdrop *priv,
                         struct check_result *res)
{
	struct check_users users = {.cfg = cfg, .res = res};
	struct auth_policy *policy;
	const char *error;
	int r;

	if (privdrop_apply(priv, PRIVDROP_AUTH, &error) < 0)
		return check_fail(res, "[server] auth_user: %s", error);
	if (check_store_files(cfg, res) < 0)
		return -1;
	if (auth_policy_open(cfg, &policy, &error) < 0)
		return check_fail(res, "[auth]: %s", error);
	r = admin_user_list(policy, check_user, &users, &error);
	auth_policy_close(&policy);
	if (r < 0)
		r = check_fail(res, "[auth]: %s", error);
	else if (users.refused > 0)
		r = check_fail_count(res, users.refused);
	else
		r = check_sample_user(cfg, users.sample, res);
	free(users.sample);
	return r;
}

static void check_child(const struct config *cfg, const struct privdrop *priv, int fd)
{
	struct check_result res = {{0}};
	ssize_t n;

	if (check_as_auth(cfg, priv, &res) == 0)
		_exit(0);
	n = write(fd, res.text, strlen(res.text));
	_exit(n < 0 ? 2 : 1);
}

/* The child's verdict: its exit status, and the line it wrote. */
static int check_wait(pid_t pid, int fd, const char *path, char **error_r)
{
	char text[CHECK_ERROR_MAX + 1];
	ssize_t n, got = 0;
	int status;

	while ((n = read(fd, text + got, sizeof(text) - 1 - (size_t)got)) > 0 ||
	       (n < 0 && errno == EINTR))
		got += n > 0 ? n : 0;
	text[got] = '\0';
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (got == 0)
		snprintf(text, sizeof(text),
		         "[auth]: the check as the auth account died (status %d)", status);
	*error_r = xasprintf("%s: %s", path, text);
	return -1;
}

int check_auth_service(const struct config *cfg, const struct privdrop *priv, char **error_r)
{
	const char *path = cfg->path != NULL ? cfg->path : "config";
	int fds[2], r;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		*error_r = xasprintf("%s: pipe: %s", path, strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		*error_r = xasprintf("%s: fork: %s", path, strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		check_child(cfg, priv, fds[1]);
	}
	close(fds[1]);
	r = check_wait(pid, fds[0], path, error_r);
	close(fds[0]);
	return r;
}
