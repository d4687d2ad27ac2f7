/* Inside the auth service's portal answers: what the operation files share (service-portal.c
 * keeps the table, the sessions and the dispatch; service-portal-*.c the operations). */
#ifndef TWOFOLD_AUTH_SERVICE_PORTAL_PRIVATE_H
#define TWOFOLD_AUTH_SERVICE_PORTAL_PRIVATE_H

#include "auth/module.h"
#include "auth/policy-private.h"
#include "auth/service-portal.h"

#include <stddef.h>
#include <stdint.h>

/* What a handler may use: the request, the caller's session, and the reply it builds. */
struct portal_call {
	struct auth_policy *p;
	const char *ip;
	const char *const *argv;
	const struct auth_portal_session *session; /* NULL for operations without one */
	uint32_t status, delay_ms;
	char message[256];
	char **cells; /* reply table, row by row; wiped when sent (may hold secrets) */
	uint32_t ncells, cols;
};

typedef int portal_op_handler(struct portal_call *c);

/* the reply */
void portal_cell(struct portal_call *c, const char *value);
void portal_cell_i64(struct portal_call *c, int64_t v);
void portal_cell_b64(struct portal_call *c, const unsigned char *bin, size_t len);
/* Sets a status other than OK with a message for the user; returns 0 (handlers end with it). */
int portal_refuse(struct portal_call *c, uint32_t status, const char *message);
/* An admin_* result: rc < 0 becomes IPC_PORTAL_REFUSED with the error line as the message. */
int portal_admin_result(struct portal_call *c, int rc, const char *error);

/* sessions */
/* Makes a session of level for user (NULL: read back from the store) lasting at most until
 * `until` (0: the configured lifetime); the reply is [id, csrf, user, expires, level]. */
int portal_session_start(struct portal_call *c, int64_t user_id, const char *user,
                         enum auth_portal_level level, time_t until);
/* Ends the caller's session (a sign-in step done or failed). */
void portal_session_end(struct portal_call *c);

/* The signed-in user's password again, before a factor goes: checked by the login policy as a
 * portal sign-in (lockouts, delays, audit). 0 when right; else the call is refused (a wrong
 * one with its delay and a message) and -1. */
int portal_password_again(struct portal_call *c, const char *password);

/* arguments */
/* base64url (no padding) -> bytes; NULL when malformed or longer than max. */
unsigned char *portal_b64_decode(const char *s, size_t max, size_t *len_r);
/* The positive id in s, or 0 when it is not one. */
int64_t portal_arg_id(const char *s);

/* security keys (service-portal-keys.c) */
struct admin_key_options;
struct admin_key_response;
/* The options of a ceremony as 6 reply cells: [challenge, rp id, user name, user handle, the
 * user's credential ids (space-separated), expires]; the caller sets cols. */
void portal_key_option_cells(struct portal_call *c, const struct admin_key_options *o);
/* The browser's assertion fields in argv[0..4], base64url: clientDataJSON, authenticatorData,
 * signature, raw credential id, userHandle (may be empty). 0, or -1 when one is malformed;
 * free with portal_assertion_free either way. */
int portal_assertion_decode(const char *const *argv, struct admin_key_response *r);
void portal_assertion_free(struct admin_key_response *r);

/* service-portal-account.c */
portal_op_handler portal_op_signin, portal_op_session, portal_op_signout, portal_op_overview,
    portal_op_apppass_list, portal_op_apppass_add, portal_op_apppass_revoke, portal_op_totp_begin,
    portal_op_totp_confirm, portal_op_totp_remove, portal_op_recovery_new, portal_op_log;
/* service-portal-keys.c */
portal_op_handler portal_op_enrol, portal_op_key_options, portal_op_key_register,
    portal_op_key_list, portal_op_key_rename, portal_op_key_remove, portal_op_signin_key_options,
    portal_op_signin_key;
/* service-portal-approvals.c */
portal_op_handler portal_op_approval_list, portal_op_approval_key, portal_op_approval_totp,
    portal_op_approval_deny;

#endif
