/* Dropping root: workers (chroot + [server] user), the auth service ([server] auth_user) and the
 * key process (chroot + auth_user). */
#ifndef TWOFOLD_PRIVDROP_H
#define TWOFOLD_PRIVDROP_H

#include <stdbool.h>
#include <sys/types.h>

struct config;

struct privdrop {
	bool root;          /* started as root: chroot and setuid really happen */
	uid_t uid;          /* the workers' account ([server] user); our own when not root */
	gid_t gid;
	uid_t auth_uid;     /* the auth and key processes' account ([server] auth_user) */
	gid_t auth_gid;
	int chroot_fd;      /* the checked chroot directory (O_PATH), -1 when not root */
	char *chroot_dir;   /* NULL when not root */
};

/* What a child becomes. */
enum privdrop_role { PRIVDROP_WORKER, PRIVDROP_AUTH, PRIVDROP_KEY };

/* In the master (and twofoldd -t): looks up [server] user and auth_user (distinct accounts, not
 * root), prepares the auth service's private directories (auth/statedir.h) and makes sure
 * chroot_dir exists, is a directory owned by root and writable by nobody else; holds it open so
 * the directory checked is the one chrooted into. Nothing to do when not root.
 * -1 with *error_r = "FILE:LINE: message" (caller frees). */
int privdrop_prepare(const struct config *cfg, struct privdrop *p, char **error_r);
void privdrop_free(struct privdrop *p);
/* Creates dir (0755) when missing, opens it (O_PATH) and checks that the directory opened can
 * serve as a chroot: owned by root, writable by nobody else. For a process with a chroot of
 * its own (the portal): put the fd in a copy's chroot_fd. -1 with *error_r (caller frees). */
int privdrop_open_chroot(const char *dir, int *fd_r, char **error_r);
/* In a child: chroot (for the roles that have one), then setgroups/setgid/setuid to the role's
 * account. Closes the chroot fd either way. -1 with *error_r. */
int privdrop_apply(const struct privdrop *p, enum privdrop_role role, const char **error_r);

#endif
