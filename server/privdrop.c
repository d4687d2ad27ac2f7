#include "server/privdrop.h"
#include "common/config.h"
#include "common/xalloc.h"

#include <errno.h>
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

static int privdrop_check_chroot(const char *dir, char **error_r)
{
	struct stat st;

	if (privdrop_mkdirs(dir) < 0) {
		*error_r = xasprintf("cannot create chroot directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) < 0) {
		*error_r = xasprintf("chroot directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) != 0) {
		*error_r = xasprintf("chroot directory %s must be a directory owned by root and "
		                     "writable by nobody else",
		                     dir);
		return -1;
	}
	return 0;
}

int privdrop_prepare(const struct config *cfg, struct privdrop *p, char **error_r)
{
	struct passwd *pw;

	memset(p, 0, sizeof(*p));
	p->uid = getuid();
	p->gid = getgid();
	if (geteuid() != 0)
		return 0;
	if (cfg->user == NULL) {
		*error_r = xasprintf("%s: [server] user must be set when started as root",
		                     cfg->path != NULL ? cfg->path : "config");
		return -1;
	}
	errno = 0;
	pw = getpwnam(cfg->user);
	if (pw == NULL) {
		*error_r = xasprintf("%s: [server] user: no such user '%s'",
		                     cfg->path != NULL ? cfg->path : "config", cfg->user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		*error_r = xasprintf("%s: [server] user must not be root",
		                     cfg->path != NULL ? cfg->path : "config");
		return -1;
	}
	if (privdrop_check_chroot(cfg->chroot_dir, error_r) < 0)
		return -1;
	p->root = true;
	p->user = xstrdup(cfg->user);
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	p->chroot_dir = xstrdup(cfg->chroot_dir);
	return 0;
}

void privdrop_free(struct privdrop *p)
{
	xfree(&p->user);
	xfree(&p->chroot_dir);
}

int privdrop_apply(const struct privdrop *p, bool do_chroot, const char **error_r)
{
	if (!p->root)
		return 0;
	if (do_chroot && (chroot(p->chroot_dir) < 0 || chdir("/") < 0)) {
		*error_r = privdrop_errno("chroot");
		return -1;
	}
	if (setgroups(1, &p->gid) < 0 || setresgid(p->gid, p->gid, p->gid) < 0 ||
	    setresuid(p->uid, p->uid, p->uid) < 0) {
		*error_r = privdrop_errno("dropping privileges");
		return -1;
	}
	if (setuid(0) == 0) {
		*error_r = "dropping privileges: could regain root";
		return -1;
	}
	return 0;
}
