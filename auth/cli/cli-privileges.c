/* Ownership of what the CLI creates. Admins run `twofold` as root while the daemon runs as the
 * [server] user: as root we create the state directories for that user and then become it, so
 * the store, its WAL and the key file all belong to the daemon's account. */
#include "auth/cli/cli.h"
#include "common/config.h"
#include "common/xalloc.h"

#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char cli_priv_error[512];

static const char *cli_priv_fail(const char *what, const char *path, int err)
{
	snprintf(cli_priv_error, sizeof(cli_priv_error), "%s %s: %s", what, path, strerror(err));
	return cli_priv_error;
}

/* Creates dir (0750) when missing; 1 created, 0 existed, -1 error. Owned by pw when set. */
static int cli_dir_make(const char *dir, const struct passwd *pw, const char **error_r)
{
	struct stat st;

	if (stat(dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		*error_r = cli_priv_fail("not a directory:", dir, ENOTDIR);
		return -1;
	}
	if (errno != ENOENT) {
		*error_r = cli_priv_fail("cannot access", dir, errno);
		return -1;
	}
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		*error_r = cli_priv_fail("cannot create", dir, errno);
		return -1;
	}
	if (pw != NULL && chown(dir, pw->pw_uid, pw->pw_gid) < 0) {
		*error_r = cli_priv_fail("cannot chown", dir, errno);
		return -1;
	}
	return 1;
}

static int cli_dirs_make(const struct config *cfg, const struct passwd *pw, const char **error_r)
{
	char *db_copy = xstrdup(cfg->auth_database);
	int ret;

	ret = cli_dir_make(cfg->state_dir, pw, error_r);
	if (ret >= 0)
		ret = cli_dir_make(dirname(db_copy), pw, error_r);
	free(db_copy);
	return ret < 0 ? -1 : 0;
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

int cli_privileges_setup(const struct config *cfg, const char **error_r)
{
	struct passwd *pw;

	if (geteuid() != 0 || cfg->user == NULL)
		return cli_dirs_make(cfg, NULL, error_r);
	errno = 0;
	pw = getpwnam(cfg->user);
	if (pw == NULL) {
		snprintf(cli_priv_error, sizeof(cli_priv_error),
		         "service user '%s' does not exist ([server] user in %s)", cfg->user,
		         cfg->path != NULL ? cfg->path : "the config");
		*error_r = cli_priv_error;
		return -1;
	}
	if (cli_dirs_make(cfg, pw, error_r) < 0)
		return -1;
	return cli_become(pw, error_r);
}
