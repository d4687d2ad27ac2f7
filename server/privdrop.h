/* Dropping root for workers (chroot + service user) and the auth service (service user). */
#ifndef TWOFOLD_PRIVDROP_H
#define TWOFOLD_PRIVDROP_H

#include <stdbool.h>
#include <sys/types.h>

struct config;

struct privdrop {
	bool root;  /* started as root: chroot and setuid really happen */
	char *user; /* NULL when not root */
	uid_t uid;
	gid_t gid;
	char *chroot_dir; /* NULL when not root */
};

/* In the master: looks up [server] user and, as root, makes sure chroot_dir exists, is a
 * directory owned by root and writable by nobody else. -1 with *error_r (caller frees). */
int privdrop_prepare(const struct config *cfg, struct privdrop *p, char **error_r);
void privdrop_free(struct privdrop *p);
/* In a child: chroot (when asked and root), then setgroups/setgid/setuid. -1 with *error_r. */
int privdrop_apply(const struct privdrop *p, bool chroot, const char **error_r);

#endif
