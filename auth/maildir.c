#include "auth/maildir.h"
#include "common/config.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char auth_maildir_errbuf[PATH_MAX + 128];

static const char *auth_maildir_errno(const char *what, const char *path)
{
	snprintf(auth_maildir_errbuf, sizeof(auth_maildir_errbuf), "%s %s: %s", what, path,
	         strerror(errno));
	return auth_maildir_errbuf;
}

/* mkdir -p: directories above the maildir 0711, the last one last_mode (0700 for a maildir). */
static int auth_maildir_mkdirs(char *path, mode_t last_mode, const char **error_r)
{
	for (char *p = path + 1;; p++) {
		bool last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(path, last ? last_mode : 0711) < 0 && errno != EEXIST) {
			*error_r = auth_maildir_errno("cannot create", path);
			if (!last)
				*p = '/';
			return -1;
		}
		if (last)
			return 0;
		*p = '/';
	}
}

static int auth_maildir_subdirs(const char *path, const char **error_r)
{
	static const char *const subdirs[] = {"cur", "new", "tmp"};
	int fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		*error_r = auth_maildir_errno("cannot open", path);
		return -1;
	}
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++)
		if (mkdirat(fd, subdirs[i], 0700) < 0 && errno != EEXIST) {
			*error_r = auth_maildir_errno("cannot create subfolder of", path);
			close(fd);
			return -1;
		}
	close(fd);
	return 0;
}

/* Why a name has no maildir path: it does not fit the template, or it could climb out. */
static int auth_maildir_no_path(const struct config *cfg, const char *user, const char **error_r)
{
	if (config_maildir_user_check(cfg, user, error_r) == 0)
		*error_r = "user name cannot be turned into a maildir path";
	return -1;
}

int auth_maildir_create(const struct config *cfg, const char *user, const char **error_r)
{
	char *path = config_maildir_for(cfg, user);
	int r;

	if (path == NULL)
		return auth_maildir_no_path(cfg, user, error_r);
	r = auth_maildir_mkdirs(path, 0700, error_r);
	if (r == 0)
		r = auth_maildir_subdirs(path, error_r);
	free(path);
	return r;
}

int auth_maildir_open(const struct config *cfg, const char *user, bool create,
                      const char **error_r)
{
	char *path;
	int fd;

	if (create && auth_maildir_create(cfg, user, error_r) < 0)
		return -1;
	path = config_maildir_for(cfg, user);
	if (path == NULL)
		return auth_maildir_no_path(cfg, user, error_r);
	fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		snprintf(auth_maildir_errbuf, sizeof(auth_maildir_errbuf),
		         "%s does not exist (`twofold user add` makes it, as the mail account; "
		         "or the MTA on the first delivery)",
		         path);
	else if (fd < 0)
		auth_maildir_errno("cannot open", path);
	if (fd < 0)
		*error_r = auth_maildir_errbuf;
	free(path);
	return fd;
}

static const char *auth_maildir_exists(const char *path)
{
	snprintf(auth_maildir_errbuf, sizeof(auth_maildir_errbuf), "a maildir exists already at %s",
	         path);
	return auth_maildir_errbuf;
}

int auth_maildir_rename(const struct config *cfg, const char *user, const char *new_user,
                        const char **error_r)
{
	char *from = config_maildir_for(cfg, user), *to = config_maildir_for(cfg, new_user);
	char *parent = to != NULL ? xstrdup(to) : NULL;
	int r = -1;

	if (from == NULL || to == NULL)
		r = auth_maildir_no_path(cfg, from == NULL ? user : new_user, error_r);
	else if (access(from, F_OK) < 0 && errno == ENOENT)
		r = 0; /* nothing delivered yet: the new name gets its maildir when one is made */
	else if (access(to, F_OK) == 0)
		*error_r = auth_maildir_exists(to);
	else if (errno != ENOENT)
		*error_r = auth_maildir_errno("cannot look at", to);
	else if (strcmp(dirname(parent), "/") != 0 && access(parent, F_OK) < 0 &&
	         auth_maildir_mkdirs(parent, 0711, error_r) < 0)
		r = -1;
	else if (rename(from, to) < 0)
		*error_r = auth_maildir_errno("cannot move the maildir to", to);
	else
		r = 0;
	free(parent);
	free(from);
	free(to);
	return r;
}

static int auth_maildir_unlink(const char *path, const struct stat *st, int type, struct FTW *f)
{
	int r = type == FTW_DP ? rmdir(path) : unlink(path);

	if (r < 0)
		auth_maildir_errno("cannot remove", path);
	return r < 0 ? -1 : 0;
}

int auth_maildir_remove(const struct config *cfg, const char *user, const char **error_r)
{
	char *path = config_maildir_for(cfg, user);
	struct stat st;
	int r;

	if (path == NULL)
		return auth_maildir_no_path(cfg, user, error_r);
	if (lstat(path, &st) < 0 && errno == ENOENT) {
		free(path);
		return 0;
	}
	auth_maildir_errbuf[0] = '\0';
	r = nftw(path, auth_maildir_unlink, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	if (r != 0) {
		if (r > 0 || auth_maildir_errbuf[0] == '\0')
			auth_maildir_errno("cannot remove", path);
		*error_r = auth_maildir_errbuf;
	}
	free(path);
	return r != 0 ? -1 : 0;
}
