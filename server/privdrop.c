#include "server/privdrop.h"
#include "auth/statedir.h"
#include "common/config.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char privdrop_errbuf[512];

static const char *privdrop_errno(const char *what)
{
	snprintf(privdrop_errbuf, sizeof(privdrop_errbuf), "%s: %s", what, strerror(errno));
	return privdrop_errbuf;
}

static int privdrop_mkdirs(const char *dir)
{
	char *path = xstrdup(dir);
	int r = 0;

	for (char *p = path + 1; *p != '\0' && r == 0; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			r = -1;
		*p = '/';
	}
	if (r == 0 && mkdir(path, 0755) < 0 && errno != EEXIST)
		r = -1;
	free(path);
	return r;
}

/* Opens the chroot directory and checks the very directory opened: its default place is inside
 * the auth account's state_dir, where that account could swap the name for another directory
 * or a symlink between a check by path and the chroot. */
int privdrop_open_chroot(const char *dir, int *fd_r, char **error_r)
{
	struct stat st;
	int fd;

	if (privdrop_mkdirs(dir) < 0) {
		*error_r = xasprintf("cannot create chroot directory %s: %s", dir, strerror(errno));
		return -1;
	}
	fd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		*error_r = xasprintf("chroot directory %s: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) != 0) {
		*error_r = xasprintf("chroot directory %s must be a directory owned by root and "
		                     "writable by nobody else",
		                     dir);
		close(fd);
		return -1;
	}
	*fd_r = fd;
	return 0;
}

/* The account named by [server] key (the value given, or the default): not root. */
static int privdrop_account(const struct config *cfg, const char *key, const char *name,
                            uid_t *uid_r, gid_t *gid_r, char **error_r)
{
	const char *path = cfg->path != NULL ? cfg->path : "config";
	unsigned line = config_line_of(cfg, "server", key);
	struct passwd *pw;

	if (name == NULL) {
		*error_r = xasprintf("%s:%u: [server] %s must be set when started as root", path,
		                     line, key);
		return -1;
	}
	errno = 0;
	pw = getpwnam(name);
	if (pw == NULL) {
		*error_r = xasprintf("%s:%u: [server] %s: no such user '%s' (create it: useradd "
		                     "--system --no-create-home --shell /usr/sbin/nologin %s)",
		                     path, line, key, name, name);
		return -1;
	}
	if (pw->pw_uid == 0) {
		*error_r = xasprintf("%s:%u: [server] %s must not be root", path, line, key);
		return -1;
	}
	*uid_r = pw->pw_uid;
	*gid_r = pw->pw_gid;
	return 0;
}

static int privdrop_accounts(const struct config *cfg, struct privdrop *p, char **error_r)
{
	if (privdrop_account(cfg, "user", cfg->user, &p->uid, &p->gid, error_r) < 0 ||
	    privdrop_account(cfg, "auth_user", cfg->auth_user, &p->auth_uid, &p->auth_gid,
	                     error_r) < 0)
		return -1;
	if (p->uid == p->auth_uid) {
		*error_r = xasprintf("%s:%u: [server] auth_user must be another account than user "
		                     "(uid %ld): the workers must not reach the auth store",
		                     cfg->path != NULL ? cfg->path : "config",
		                     config_line_of(cfg, "server", "auth_user"), (long)p->uid);
		return -1;
	}
	return 0;
}

int privdrop_prepare(const struct config *cfg, struct privdrop *p, char **error_r)
{
	const char *error;

	memset(p, 0, sizeof(*p));
	p->uid = p->auth_uid = getuid();
	p->gid = p->auth_gid = getgid();
	p->chroot_fd = -1;
	if (geteuid() != 0)
		return 0;
	if (privdrop_accounts(cfg, p, error_r) < 0)
		return -1;
	if (auth_statedir_prepare(cfg, p->auth_uid, p->auth_gid, &error) < 0) {
		*error_r = xasprintf("%s:%u: [server] state_dir: %s",
		                     cfg->path != NULL ? cfg->path : "config",
		                     config_line_of(cfg, "server", "state_dir"), error);
		return -1;
	}
	if (privdrop_open_chroot(cfg->chroot_dir, &p->chroot_fd, error_r) < 0)
		return -1;
	p->root = true;
	p->chroot_dir = xstrdup(cfg->chroot_dir);
	return 0;
}

void privdrop_free(struct privdrop *p)
{
	if (p->chroot_fd >= 0)
		close(p->chroot_fd);
	p->chroot_fd = -1;
	xfree(&p->chroot_dir);
}

static const struct {
	bool auth_account, chroot;
} privdrop_roles[] = {
    [PRIVDROP_WORKER] = {false, true},
    [PRIVDROP_AUTH] = {true, false}, /* opens the store and maildir paths */
    [PRIVDROP_KEY] = {true, true},   /* has read its key already */
};

static int privdrop_chroot(int fd, const char **error_r)
{
	if (fchdir(fd) < 0 || chroot(".") < 0 || chdir("/") < 0) {
		*error_r = privdrop_errno("chroot");
		return -1;
	}
	return 0;
}

int privdrop_apply(const struct privdrop *p, enum privdrop_role role, const char **error_r)
{
	uid_t uid = privdrop_roles[role].auth_account ? p->auth_uid : p->uid;
	gid_t gid = privdrop_roles[role].auth_account ? p->auth_gid : p->gid;
	int r = 0;

	if (!p->root)
		return 0;
	if (privdrop_roles[role].chroot)
		r = privdrop_chroot(p->chroot_fd, error_r);
	close(p->chroot_fd);
	if (r < 0)
		return -1;
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
		*error_r = privdrop_errno("dropping privileges");
		return -1;
	}
	if (setuid(0) == 0) {
		*error_r = "dropping privileges: could regain root";
		return -1;
	}
	return 0;
}
