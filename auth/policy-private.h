/* The policy object, shared by policy.c and admin.c only. */
#ifndef TWOFOLD_AUTH_POLICY_PRIVATE_H
#define TWOFOLD_AUTH_POLICY_PRIVATE_H

#include "auth/module.h"
#include "auth/password.h"
#include "auth/policy.h"
#include "auth/secretkey.h"

struct auth_policy {
	const struct config *cfg; /* owned by the caller; outlives the policy */
	const struct auth_module *module;
	struct auth_store *store;
	struct secret_keys keys;
	struct password_params pw;
	char *dummy_hash;        /* unknown users are verified against this: the same Argon2 work */
	char dummy_pw[33];       /* its random password (auth_policy_warm_up), wiped at close */
	char error[512];         /* for error_r strings that need formatting */
	time_t next_prune;       /* the store's housekeeping runs at the first login after this */
	unsigned audit_max_rows; /* the audit log keeps at most this many entries */
};

#endif
