#include "auth/statedir.h"
#include "common/config.h"
#include "common/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATEDIR_MAX 3

static char statedir_errbuf[PATH_MAX + 256];

static const char *statedir_errno(const char *what, const char *path)
{
	snprintf(statedir_errbuf, sizeof(statedir_errbuf), "%s %s: %s", what, path,
	         strerror(errno));
	return statedir_errbuf;
}

/* The private directories, state_dir first, without repeats. Caller frees each. */
static size_t statedir_list(const struct config *cfg, char *dirs[STATEDIR_MAX])
{
	char *cand[STATEDIR_MAX] = {xstrdup(cfg->state_dir), NULL, NULL};
	size_t n = 0;

	/* a store of another module (a database server) has no directory here */
	if (strcmp(cfg->auth_module, "sqlite") == 0)
		cand[1] = xstrdup(cfg->auth_database);
	cand[2] = xstrdup(cfg->auth_key_file);
	for (size_t i = 0; i < STATEDIR_MAX; i++) {
		bool seen = false;
		char *dir;

		if (cand[i] == NULL)
			continue;
		dir = i == 0 ? xstrdup(cand[i]) : xstrdup(dirname(cand[i]));
		free(cand[i]);
		for (size_t j = 0; j < n; j++)
			seen = seen || strcmp(dirs[j], dir) == 0;
		if (seen)
			free(dir);
		else
			dirs[n++] = dir;
	}
	return n;
}

/* True when the directory holds nothing, or only the chroot directory "empty". */
static bool statedir_is_fresh(int fd)
{
	int dup = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
	struct dirent *e;
	bool fresh = d != NULL;

	if (d == NULL && dup >= 0)
		close(dup);
	while (fresh && (e = readdir(d)) != NULL)
		fresh = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		        strcmp(e->d_name, "empty") == 0;
	if (d != NULL)
		closedir(d);
	return fresh;
}

/* mkdir -p: parents 0755 (they hold more than ours), the last one 0700. */
static int statedir_mkdirs(const char *dir, const char **error_r)
{
	char *path = xstrdup(dir);
	int r = 0;

	for (char *p = path + 1; *p != '\0' && r == 0; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			*error_r = statedir_errno("cannot create", path);
			r = -1;
		}
		*p = '/';
	}
	if (r == 0 && mkdir(path, 0700) < 0 && errno != EEXIST) {
		*error_r = statedir_errno("cannot create", path);
		r = -1;
	}
	free(path);
	return r;
}

/* Ownership and mode of one open directory; see auth_statedir_prepare. */
static int statedir_fix(int fd, const char *dir, uid_t uid, gid_t gid, const char **error_r)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		*error_r = statedir_errno("cannot stat", dir);
		return -1;
	}
	if (st.st_uid != uid && !(st.st_uid == 0 && statedir_is_fresh(fd))) {
		snprintf(statedir_errbuf, sizeof(statedir_errbuf),
		         "%s belongs to uid %ld, not to the auth account (uid %ld): chown the "
		         "directory and the files in it (all but the chroot directory empty/) to the "
		         "auth account",
		         dir, (long)st.st_uid, (long)uid);
		*error_r = statedir_errbuf;
		return -1;
	}
	if ((st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) < 0) {
		*error_r = statedir_errno("cannot chown", dir);
		return -1;
	}
	if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) < 0) {
		*error_r = statedir_errno("cannot chmod", dir);
		return -1;
	}
	return 0;
}

static int statedir_prepare_one(const char *dir, uid_t uid, gid_t gid, const char **error_r)
{
	int fd, r;

	if (statedir_mkdirs(dir, error_r) < 0)
		return -1;
	/* symlinks are the admin's own choice (state on another volume); checking and fixing
	 * go through one open fd */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		*error_r = statedir_errno("cannot open", dir);
		return -1;
	}
	r = statedir_fix(fd, dir, uid, gid, error_r);
	close(fd);
	return r;
}

int auth_statedir_prepare(const struct config *cfg, uid_t uid, gid_t gid, const char **error_r)
{
	char *dirs[STATEDIR_MAX];
	size_t n = statedir_list(cfg, dirs);
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		if (r == 0)
			r = statedir_prepare_one(dirs[i], uid, gid, error_r);
		free(dirs[i]);
	}
	return r;
}

/* ---- the mail tree ---- */

/* Appends the components of rel to out (an absolute path without a trailing '/'), dropping "."
 * and applying ".." lexically. */
static void statedir_append(char *out, size_t size, const char *rel)
{
	char *copy = xstrdup(rel), *save = NULL;

	for (char *c = strtok_r(copy, "/", &save); c != NULL; c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, ".") == 0)
			continue;
		if (strcmp(c, "..") == 0) {
			char *slash = strrchr(out, '/');

			if (slash != NULL)
				slash[slash == out ? 1 : 0] = '\0';
			continue;
		}
		if (strcmp(out, "/") != 0)
			strncat(out, "/", size - strlen(out) - 1);
		strncat(out, c, size - strlen(out) - 1);
	}
	free(copy);
}

/* The absolute path with symlinks of its existing part resolved, the rest normalised. NULL when
 * path is not absolute. */
static char *statedir_resolve(const char *path)
{
	char *head = xstrdup(path), out[PATH_MAX];
	const char *tail = "";

	if (path[0] != '/') {
		free(head);
		return NULL;
	}
	for (;;) {
		char *slash;

		if (realpath(head[0] != '\0' ? head : "/", out) != NULL)
			break;
		slash = strrchr(head, '/');
		*slash = '\0';
		tail = path + (slash - head) + 1;
	}
	statedir_append(out, sizeof(out), tail);
	free(head);
	return xstrdup(out);
}

/* The directory every maildir lies beneath: the template up to the directory holding its first
 * %-variable (the whole template when it has none). */
static char *statedir_mail_root(const char *template)
{
	char *root = xstrdup(template);
	char *pct = strchr(root, '%');

	if (pct != NULL) {
		*pct = '\0';
		*(strrchr(root, '/') != NULL ? strrchr(root, '/') : root) = '\0';
		if (root[0] == '\0' && template[0] == '/')
			strcpy(root, "/");
	}
	return root;
}

static bool statedir_beneath(const char *a, const char *b)
{
	size_t len = strlen(b);

	return strcmp(b, "/") == 0 || (strncmp(a, b, len) == 0 && (a[len] == '/' || a[len] == '\0'));
}

int auth_statedir_overlaps_mail(const struct config *cfg, char **error_r)
{
	char *root = statedir_mail_root(cfg->maildir), *mail = statedir_resolve(root);
	char *dirs[STATEDIR_MAX];
	size_t n = statedir_list(cfg, dirs);
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		char *dir = statedir_resolve(dirs[i]);

		if (r == 0 && mail != NULL && dir != NULL &&
		    (statedir_beneath(dir, mail) || statedir_beneath(mail, dir))) {
			*error_r = xasprintf("the mail tree %s and the auth service's directory %s "
			                     "contain one another: keep the auth store out of reach "
			                     "of every maildir",
			                     mail, dir);
			r = 1;
		}
		free(dir);
		free(dirs[i]);
	}
	free(root);
	free(mail);
	return r;
}
