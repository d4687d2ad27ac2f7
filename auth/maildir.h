/*
 * A user's maildir from the auth side: the auth service hands the worker an O_PATH fd of it, and
 * `twofold user add` makes it. Maildirs belong to the mail account ([server] user), which the
 * auth account is not: to open an O_PATH fd the auth account needs only search permission on
 * the directories above the maildir (0711 is enough), none on the maildir itself; the worker,
 * running as the mail account, opens what lies beneath it. So the auth service never creates a
 * maildir when it runs under an account of its own (what it made would be its own): the CLI
 * makes it as the mail account when the user is added, or the MTA on the first delivery.
 */
#ifndef TWOFOLD_AUTH_MAILDIR_H
#define TWOFOLD_AUTH_MAILDIR_H

#include <stdbool.h>

struct config;

/* An O_PATH directory fd of user's maildir. create: make it first when missing (only when the
 * caller runs as the mail account). -1 with *error_r (static). */
int auth_maildir_open(const struct config *cfg, const char *user, bool create,
                      const char **error_r);

/* Makes user's maildir with cur/ new/ tmp/ (0700) and any missing directory above it (0711:
 * the auth account must search them). Call as the mail account. -1 with *error_r (static). */
int auth_maildir_create(const struct config *cfg, const char *user, const char **error_r);

/* Moves user's maildir to new_user's place (directories above it made as for create); the new
 * place must not exist. 0 also when user has no maildir. Call as the mail account. -1 with
 * *error_r (static). */
int auth_maildir_rename(const struct config *cfg, const char *user, const char *new_user,
                        const char **error_r);
/* Removes user's maildir and everything in it (symlinks removed, never followed). 0 also when
 * there is none. Call as the mail account. -1 with *error_r (static). */
int auth_maildir_remove(const struct config *cfg, const char *user, const char **error_r);

#endif
