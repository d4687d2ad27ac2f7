#include "auth/maildir.h"
#include "common/config.h"

#include <errno.h>
#include <fcntl.h>
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

/* mkdir -p: directories above the maildir 0711, the maildir 0700. */
static int auth_maildir_mkdirs(char *path, const char **error_r)
{
	for (char *p = path + 1;; p++) {
		bool last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(path, last ? 0700 : 0711) < 0 && errno != EEXIST) {
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
	r = auth_maildir_mkdirs(path, error_r);
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
