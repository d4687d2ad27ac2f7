/* twofoldd -t beyond the configuration file: what the auth service will meet when it starts. */
#ifndef TWOFOLD_CHECK_H
#define TWOFOLD_CHECK_H

struct config;
struct privdrop;

/* In a child under the auth account (as the service runs): the key file and the auth store
 * open as the service opens them, and every stored user's name fits the [storage] maildir
 * template. -1 with *error_r = "FILE: [section] key: reason" (caller frees). */
int check_auth_service(const struct config *cfg, const struct privdrop *priv, char **error_r);

#endif
