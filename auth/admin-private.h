/* Helpers shared by the admin files (admin.c, admin-key.c) only. */
#ifndef TWOFOLD_AUTH_ADMIN_PRIVATE_H
#define TWOFOLD_AUTH_ADMIN_PRIVATE_H

#include "auth/admin.h"
#include "auth/policy-private.h"

/* Formats one user-facing line into p->error, points *error_r at it and returns -1. */
int admin_fail(struct auth_policy *p, const char **error_r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* -1 with the store's error, or a generic one. */
int admin_store_error(struct auth_policy *p, const char *error, const char **error_r);
/* Fills *user_r for an existing user; -1 with a clear error otherwise. */
int admin_get_user(struct auth_policy *p, const char *name, struct auth_user *user_r,
                   const char **error_r);

/* Store calls on the user named name: the user is looked up, call made on it, and a store
 * error (-1, the error in *error_r) reported as the admin error. Returns what call returned. */
typedef int admin_user_call_fn(struct auth_policy *p, struct auth_user *user, void *ctx,
                               const char **error_r);
int admin_user_call(struct auth_policy *p, const char *name, admin_user_call_fn *call, void *ctx,
                    const char **error_r);

/* A webauthn_list callback adding one to the unsigned ctx points at. */
void admin_count_key(const struct auth_webauthn *k, void *ctx);

#endif
