/* Who the CLI is when it touches things. Admins run `twofold` as root while the daemon's auth
 * service runs as [server] auth_user: as root we prepare the state directories for that account
 * and then become it, so the store, its WAL and the key file all belong to the auth account and
 * stay out of the workers' reach. A new user's maildir belongs to the mail account ([server]
 * user) instead: before becoming the auth account we fork a helper that becomes the mail
 * account and makes it on request, once the user has been added to the store. */
#include "auth/cli/cli.h"
#include "auth/maildir.h"
#include "auth/statedir.h"
#include "common/config.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CLI_NAME_MAX 1024

static char cli_priv_error[512];

/* The helper that makes maildirs as the mail account: pid and its request/answer pipes. */
static struct {
	pid_t pid;
	int req_fd, ans_fd;
} cli_mail_helper = {-1, -1, -1};

static const char *cli_priv_fail(const char *what, const char *path, int err)
{
	snprintf(cli_priv_error, sizeof(cli_priv_error), "%s %s: %s", what, path, strerror(err));
	return cli_priv_error;
}

/* Not root: creates the state directories (0700) when missing, as before. */
static int cli_dir_make(const char *dir, const char **error_r)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		*error_r = cli_priv_fail("cannot create", dir, errno);
		return -1;
	}
	return 0;
}

static int cli_dirs_make(const struct config *cfg, const char **error_r)
{
	char *db_copy = xstrdup(cfg->auth_database);
	int ret = cli_dir_make(cfg->state_dir, error_r);

	if (ret == 0)
		ret = cli_dir_make(dirname(db_copy), error_r);
	free(db_copy);
	return ret;
}

static int cli_become(const struct passwd *pw, const char **error_r)
{
	if (setgroups(1, &pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		*error_r = cli_priv_fail("cannot switch to user", pw->pw_name, errno);
		return -1;
	}
	/* Paranoia: a half-done switch must not go on as root. */
	if (pw->pw_uid != 0 && (setuid(0) == 0 || geteuid() == 0)) {
		*error_r = "privilege drop did not stick";
		return -1;
	}
	return 0;
}

static struct passwd *cli_account(const struct config *cfg, const char *key, const char *name,
                                  const char **error_r)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(name);
	if (pw == NULL) {
		snprintf(cli_priv_error, sizeof(cli_priv_error),
		         "account '%s' does not exist ([server] %s in %s)", name, key,
		         cfg->path != NULL ? cfg->path : "the config");
		*error_r = cli_priv_error;
	}
	return pw;
}

/* One request of the helper: "OP NAME [NEW-NAME]" ('\0'-separated, one write). */
#define CLI_MAIL_REQUEST_MAX (2 * CLI_NAME_MAX + 4)

static int cli_mail_helper_run(const struct config *cfg, const char *req, size_t len,
                               const char **error_r)
{
	const char *name = req + 2, *new_name = name + strlen(name) + 1;

	if (len < 3 || req[1] != '\0') {
		*error_r = "malformed request";
		return -1;
	}
	if (req[0] == CLI_MAIL_MAKE)
		return auth_maildir_create(cfg, name, error_r);
	if (req[0] == CLI_MAIL_REMOVE)
		return auth_maildir_remove(cfg, name, error_r);
	if (req[0] == CLI_MAIL_RENAME && new_name < req + len)
		return auth_maildir_rename(cfg, name, new_name, error_r);
	*error_r = "malformed request";
	return -1;
}

/* The helper: one request per read, the answer "" (done) or the error text. */
static void cli_mail_helper_serve(const struct config *cfg, int req_fd, int ans_fd)
{
	char req[CLI_MAIL_REQUEST_MAX + 1];
	ssize_t n;

	while ((n = read(req_fd, req, CLI_MAIL_REQUEST_MAX)) > 0) {
		const char *error = "";

		req[n] = '\0';
		if (cli_mail_helper_run(cfg, req, (size_t)n, &error) == 0)
			error = "";
		if (write(ans_fd, error, strlen(error) + 1) < 0)
			break;
	}
	_exit(0);
}

static int cli_mail_helper_start(const struct config *cfg, const struct passwd *mail,
                                 const char **error_r)
{
	int req[2], ans[2];
	pid_t pid;

	if (pipe2(req, O_CLOEXEC) < 0 || pipe2(ans, O_CLOEXEC) < 0) {
		*error_r = cli_priv_fail("cannot make a pipe for", "the maildir helper", errno);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		*error_r = cli_priv_fail("cannot fork", "the maildir helper", errno);
		return -1;
	}
	if (pid == 0) {
		const char *error;

		close(req[1]);
		close(ans[0]);
		if (cli_become(mail, &error) < 0)
			_exit(1);
		umask(022);
		cli_mail_helper_serve(cfg, req[0], ans[1]);
	}
	close(req[0]);
	close(ans[1]);
	cli_mail_helper.pid = pid;
	cli_mail_helper.req_fd = req[1];
	cli_mail_helper.ans_fd = ans[0];
	return 0;
}

static int cli_privileges_root(const struct config *cfg, bool mail_helper, const char **error_r)
{
	struct passwd *pw = cli_account(cfg, "user", cfg->user, error_r);
	struct passwd mail, auth;

	if (pw == NULL)
		return -1;
	mail = *pw; /* the numbers: getpwnam's buffer is reused */
	mail.pw_name = cfg->user;
	pw = cli_account(cfg, "auth_user", cfg->auth_user, error_r);
	if (pw == NULL)
		return -1;
	auth = *pw;
	auth.pw_name = cfg->auth_user;
	if (auth.pw_uid == mail.pw_uid || auth.pw_uid == 0) {
		snprintf(cli_priv_error, sizeof(cli_priv_error),
		         "[server] auth_user must be an account of its own, neither root nor user "
		         "(in %s)",
		         cfg->path != NULL ? cfg->path : "the config");
		*error_r = cli_priv_error;
		return -1;
	}
	if (auth_statedir_prepare(cfg, auth.pw_uid, auth.pw_gid, error_r) < 0)
		return -1;
	if (mail_helper && cli_mail_helper_start(cfg, &mail, error_r) < 0)
		return -1;
	return cli_become(&auth, error_r);
}

int cli_privileges_setup(const struct config *cfg, bool mail_helper, const char **error_r)
{
	if (geteuid() != 0 || cfg->user == NULL)
		return cli_dirs_make(cfg, error_r);
	return cli_privileges_root(cfg, mail_helper, error_r);
}

static int cli_maildir_via_helper(enum cli_mail_op op, const char *user, const char *new_user,
                                  const char **error_r)
{
	static char answer[512];
	char req[CLI_MAIL_REQUEST_MAX];
	size_t len = strlen(user), new_len = new_user != NULL ? strlen(new_user) : 0;
	ssize_t n;

	if (len > CLI_NAME_MAX || new_len > CLI_NAME_MAX) {
		*error_r = "user name too long";
		return -1;
	}
	req[0] = (char)op;
	req[1] = '\0';
	memcpy(req + 2, user, len + 1);
	if (new_user != NULL)
		memcpy(req + 3 + len, new_user, new_len + 1);
	len = 3 + len + (new_user != NULL ? new_len + 1 : 0);
	if (write(cli_mail_helper.req_fd, req, len) != (ssize_t)len) {
		*error_r = "the maildir helper is gone";
		return -1;
	}
	n = read(cli_mail_helper.ans_fd, answer, sizeof(answer) - 1);
	if (n <= 0) {
		*error_r = "the maildir helper is gone";
		return -1;
	}
	answer[n] = '\0';
	*error_r = answer;
	return answer[0] == '\0' ? 0 : -1;
}

int cli_maildir_op(const struct config *cfg, enum cli_mail_op op, const char *user,
                   const char *new_user, const char **error_r)
{
	if (cli_mail_helper.pid > 0)
		return cli_maildir_via_helper(op, user, new_user, error_r);
	/* not root: we are the account the daemon runs as, mail included */
	if (op == CLI_MAIL_RENAME)
		return auth_maildir_rename(cfg, user, new_user, error_r);
	if (op == CLI_MAIL_REMOVE)
		return auth_maildir_remove(cfg, user, error_r);
	return auth_maildir_create(cfg, user, error_r);
}

int cli_maildir_make(const struct config *cfg, const char *user, const char **error_r)
{
	return cli_maildir_op(cfg, CLI_MAIL_MAKE, user, NULL, error_r);
}

void cli_privileges_done(void)
{
	int status;

	if (cli_mail_helper.pid <= 0)
		return;
	close(cli_mail_helper.req_fd);
	close(cli_mail_helper.ans_fd);
	while (waitpid(cli_mail_helper.pid, &status, 0) < 0 && errno == EINTR)
		;
	cli_mail_helper.pid = -1;
}
