/*
 * Where the auth service keeps its secrets (state_dir, the store's and the key file's
 * directories) and who may reach them: only the auth account ([server] auth_user), mode 0700,
 * never a directory of the mail tree. Used by the daemon's config check and by the CLI.
 */
#ifndef TWOFOLD_AUTH_STATEDIR_H
#define TWOFOLD_AUTH_STATEDIR_H

#include <sys/types.h>

struct config;

/* As root: every private directory exists, belongs to uid:gid and has mode 0700. A missing one
 * is created so; a root-owned one that holds nothing but "empty" (a fresh state_dir made by
 * systemd or mkdir, with the chroot directory in it) is handed over; looser modes are tightened;
 * one owned by anybody else is refused (its files are somebody else's). -1 with *error_r
 * (static). */
int auth_statedir_prepare(const struct config *cfg, uid_t uid, gid_t gid, const char **error_r);

/* 1 when a private directory and the mail tree (the fixed part of [storage] maildir) contain one
 * another: then a user name could make the state dir a maildir, or a path beneath a maildir lead
 * into the store. *error_r (caller frees) names both. 0 when apart. */
int auth_statedir_overlaps_mail(const struct config *cfg, char **error_r);

#endif
