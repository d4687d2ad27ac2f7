/* The portal's account operations: signing in and out, the overview, app passwords, the
 * authenticator app, recovery codes, the login log. */
#include "auth/admin.h"
#include "auth/service-portal-private.h"
#include "common/ipc.h"
#include "common/xalloc.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PORTAL_LOG_ROWS   25
#define PORTAL_RECOVERY   10
#define PORTAL_SECRET_MAX 1024

static int portal_user_id(struct portal_call *c, const char *name, int64_t *id_r)
{
	struct auth_user user;
	const char *error = NULL;
	int rc = c->p->module->user_get(c->p->store, name, &user, &error);

	if (rc <= 0)
		return -1;
	*id_r = user.id;
	auth_user_clear(&user);
	return 0;
}

/* argv: user, password, second factor (a TOTP or recovery code; may be empty). The same
 * policy as an IMAP/POP3 login, as proto "portal": delays, lockout, audit, alarms. The
 * password alone of a user with a security key opens a session that may only go on to the
 * key (service-portal-keys.c). */
int portal_op_signin(struct portal_call *c)
{
	size_t plen = strlen(c->argv[1]), clen = strlen(c->argv[2]);
	struct auth_request req = {.user = c->argv[0],
	                           .proto = AUTH_PROTO_PORTAL,
	                           .ip = c->ip,
	                           .client_id = "",
	                           .now = time(NULL)};
	struct auth_reply reply;
	char *secret;
	int64_t id;

	if (plen + clen > PORTAL_SECRET_MAX)
		return portal_refuse(c, IPC_PORTAL_FAIL, "");
	secret = xmalloc(plen + clen + 1);
	memcpy(secret, c->argv[1], plen);
	memcpy(secret + plen, c->argv[2], clen + 1);
	req.secret = secret;
	auth_policy_login(c->p, &req, &reply);
	xfree_secret(secret, plen + clen + 1);
	if (reply.result == AUTH_PENDING)
		return portal_session_start(c, reply.hold.user_id, reply.hold.user, AUTH_PORTAL_KEY,
		                            reply.hold.until);
	if (reply.result != AUTH_OK) {
		c->delay_ms = reply.delay_ms;
		return portal_refuse(
		    c, reply.result == AUTH_FAIL ? IPC_PORTAL_FAIL : IPC_PORTAL_TEMPFAIL, "");
	}
	if (portal_user_id(c, reply.user, &id) < 0)
		return portal_refuse(c, IPC_PORTAL_TEMPFAIL, "");
	return portal_session_start(c, id, reply.user, AUTH_PORTAL_FULL, 0);
}

int portal_password_again(struct portal_call *c, const char *password)
{
	static const char wrong[] = "That is not your password: nothing was removed.";
	struct auth_request req = {.user = c->session->user,
	                           .secret = password,
	                           .proto = AUTH_PROTO_PORTAL,
	                           .ip = c->ip,
	                           .client_id = "",
	                           .now = time(NULL),
	                           .password_again = true};
	struct auth_reply reply;

	if (strlen(password) > PORTAL_SECRET_MAX) {
		portal_refuse(c, IPC_PORTAL_REFUSED, wrong);
		return -1;
	}
	auth_policy_login(c->p, &req, &reply);
	if (reply.result == AUTH_OK)
		return 0;
	if (reply.result == AUTH_FAIL) {
		c->delay_ms = reply.delay_ms;
		portal_refuse(c, IPC_PORTAL_REFUSED, wrong);
	} else {
		portal_refuse(c, IPC_PORTAL_TEMPFAIL, "");
	}
	return -1;
}

int portal_op_session(struct portal_call *c)
{
	c->cols = 4;
	portal_cell(c, c->session->user);
	portal_cell_i64(c, c->session->level);
	portal_cell(c, c->session->csrf);
	portal_cell_i64(c, c->session->expires);
	return 0;
}

int portal_op_signout(struct portal_call *c)
{
	const char *error = NULL;

	if (c->p->module->portal_session_del(c->p->store, c->session->hash, &error) < 0)
		return portal_refuse(c, IPC_PORTAL_TEMPFAIL, "");
	return 0;
}

static void portal_overview_row(const struct admin_user_info *info, void *ctx)
{
	struct portal_call *c = ctx;

	c->cols = 7;
	portal_cell_i64(c, info->has_totp);
	portal_cell_i64(c, info->apppasses);
	portal_cell_i64(c, info->recovery_left);
	portal_cell_i64(c, info->stolen_password_signs);
	portal_cell_i64(c, info->last_login);
	portal_cell_i64(c, info->failures);
	portal_cell_i64(c, info->keys);
}

int portal_op_overview(struct portal_call *c)
{
	const char *error = NULL;
	int rc = admin_user_show(c->p, c->session->user, portal_overview_row, c, &error);

	return portal_admin_result(c, rc, error);
}

static void portal_apppass_row(const struct admin_apppass_info *ap, void *ctx)
{
	struct portal_call *c = ctx;

	portal_cell_i64(c, ap->id);
	portal_cell(c, ap->label);
	portal_cell(c, ap->proto);
	portal_cell_i64(c, ap->created);
	portal_cell_i64(c, ap->expires);
	portal_cell_i64(c, ap->last_used);
	portal_cell(c, ap->last_ip);
}

int portal_op_apppass_list(struct portal_call *c)
{
	const char *error = NULL;
	int rc;

	c->cols = 7;
	rc = admin_apppass_list(c->p, c->session->user, portal_apppass_row, c, &error);
	return portal_admin_result(c, rc, error);
}

/* argv: label, proto (imap, pop3, all), days until it expires (0 = never). */
int portal_op_apppass_add(struct portal_call *c)
{
	char *password = NULL, *end;
	const char *error = NULL;
	unsigned long days = strtoul(c->argv[2], &end, 10);
	int64_t id;
	int rc;

	if (c->argv[2][0] < '0' || c->argv[2][0] > '9' || *end != '\0' || days > 36500)
		return portal_refuse(c, IPC_PORTAL_REFUSED, "bad expiry (days, 0 = never)");
	rc = admin_apppass_add(c->p, c->session->user, c->argv[0], c->argv[1], (unsigned)days,
	                       &password, &id, &error);
	if (rc < 0)
		return portal_admin_result(c, rc, error);
	c->cols = 2;
	portal_cell(c, password);
	portal_cell_i64(c, id);
	xfree_secret_str(&password);
	return 0;
}

int portal_op_apppass_revoke(struct portal_call *c)
{
	const char *error = NULL;
	char *end;
	long long id = strtoll(c->argv[0], &end, 10);

	if (c->argv[0][0] == '\0' || *end != '\0' || id <= 0)
		return portal_refuse(c, IPC_PORTAL_REFUSED, "no such app password");
	return portal_admin_result(c, admin_apppass_revoke(c->p, c->session->user, id, &error),
	                           error);
}

int portal_op_totp_begin(struct portal_call *c)
{
	const char *error = NULL;
	char *uri = NULL;
	int rc = admin_totp_enroll(c->p, c->session->user, true, &uri, &error);

	if (rc < 0)
		return portal_admin_result(c, rc, error);
	c->cols = 1;
	portal_cell(c, uri);
	xfree_secret_str(&uri);
	return 0;
}

int portal_op_totp_confirm(struct portal_call *c)
{
	const char *error = NULL;
	int rc = admin_totp_confirm(c->p, c->session->user, c->argv[0], time(NULL), &error);

	return portal_admin_result(c, rc, error);
}

/* argv: the account password. */
int portal_op_totp_remove(struct portal_call *c)
{
	const char *error = NULL;

	if (portal_password_again(c, c->argv[0]) < 0)
		return 0;
	return portal_admin_result(c, admin_totp_remove(c->p, c->session->user, &error), error);
}

int portal_op_recovery_new(struct portal_call *c)
{
	const char *error = NULL;
	char **codes = NULL;
	int rc = admin_recovery_new(c->p, c->session->user, PORTAL_RECOVERY, &codes, &error);

	if (rc < 0)
		return portal_admin_result(c, rc, error);
	c->cols = 1;
	for (unsigned i = 0; i < PORTAL_RECOVERY; i++)
		portal_cell(c, codes[i]);
	admin_codes_free(&codes, PORTAL_RECOVERY);
	return 0;
}

static void portal_log_row(const struct admin_log_entry *e, void *ctx)
{
	struct portal_call *c = ctx;

	portal_cell_i64(c, e->time);
	portal_cell(c, e->proto);
	portal_cell(c, e->ip);
	portal_cell(c, e->client_id);
	portal_cell(c, e->factor);
	portal_cell(c, e->result);
	portal_cell(c, e->reason);
	portal_cell_i64(c, e->stolen_password);
}

int portal_op_log(struct portal_call *c)
{
	const char *error = NULL;
	int rc;

	c->cols = 8;
	rc = admin_log(c->p, c->session->user, PORTAL_LOG_ROWS, portal_log_row, c, &error);
	return portal_admin_result(c, rc, error);
}
