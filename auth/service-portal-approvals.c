/* The portal's pending-approvals operations: the user's held logins (each with a security-key
 * challenge bound to it), and the decisions: a key touch, a TOTP code, or deny. The store and
 * the rules are auth/admin-approval.c's; these only carry the portal's arguments there. */
#include "auth/admin.h"
#include "auth/service-portal-private.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One pending request per user is the rule; a few more rows cost nothing. */
#define PORTAL_PENDING_MAX 8

struct portal_pending {
	size_t n;
	struct portal_pending_row {
		int64_t id;
		char *proto, *ip, *client_id;
		time_t created, expires;
	} rows[PORTAL_PENDING_MAX];
};

static void portal_pending_row(const struct admin_approval_info *info, void *ctx)
{
	struct portal_pending *p = ctx;

	if (p->n == PORTAL_PENDING_MAX)
		return;
	p->rows[p->n] = (struct portal_pending_row){.id = info->id,
	                                            .proto = xstrdup(info->proto),
	                                            .ip = xstrdup(info->ip),
	                                            .client_id = xstrdup(info->client_id),
	                                            .created = info->created,
	                                            .expires = info->expires};
	p->n++;
}

/* The row's cells, then the key options of a challenge bound to it (12 columns). A request
 * decided meanwhile has no challenge: it is left out. */
static void portal_pending_cells(struct portal_call *c, const struct portal_pending_row *row,
                                 time_t now)
{
	struct admin_key_options o;
	const char *error = NULL;

	if (admin_approval_challenge(c->p, c->session->user, row->id, now, &o, &error) < 0) {
		log_info("portal: no challenge for held login %lld of %s: %s", (long long)row->id,
		         c->session->user, error);
		return;
	}
	portal_cell_i64(c, row->id);
	portal_cell(c, row->proto);
	portal_cell(c, row->ip);
	portal_cell(c, row->client_id);
	portal_cell_i64(c, row->created);
	portal_cell_i64(c, row->expires);
	portal_key_option_cells(c, &o);
	admin_key_options_free(&o);
}

/* Rows: [id, proto, ip, client id, created, expires] + portal_key_option_cells. */
int portal_op_approval_list(struct portal_call *c)
{
	struct portal_pending pending = {0};
	const char *error = NULL;
	time_t now = time(NULL);
	int rc =
	    admin_approval_list(c->p, c->session->user, now, portal_pending_row, &pending, &error);

	c->cols = 12;
	for (size_t i = 0; i < pending.n; i++) {
		if (rc == 0)
			portal_pending_cells(c, &pending.rows[i], now);
		free(pending.rows[i].proto);
		free(pending.rows[i].ip);
		free(pending.rows[i].client_id);
	}
	return portal_admin_result(c, rc, error);
}

/* Minutes of pre-approval as the form sends them ("" = none); -1 when not a number. */
static long portal_preapprove_arg(const char *s)
{
	char *end;
	long minutes;

	if (s[0] == '\0')
		return 0;
	minutes = strtol(s, &end, 10);
	return s[0] >= '0' && s[0] <= '9' && *end == '\0' && minutes <= 100000 ? minutes : -1;
}

/* The id and minutes of a decision; 0, or a refusal queued and -1. */
static int portal_decision_args(struct portal_call *c, const char *id_arg, const char *minutes_arg,
                                int64_t *id_r, unsigned *minutes_r)
{
	long minutes = portal_preapprove_arg(minutes_arg);

	*id_r = portal_arg_id(id_arg);
	if (*id_r == 0 || minutes < 0) {
		portal_refuse(c, IPC_PORTAL_REFUSED, "That is not a pending login.");
		return -1;
	}
	*minutes_r = (unsigned)minutes;
	return 0;
}

/* argv: id, pre-approval minutes, then the assertion (portal_assertion_decode). */
int portal_op_approval_key(struct portal_call *c)
{
	struct admin_key_response r;
	const char *error = "the browser's answer is malformed";
	enum admin_key_result res = ADMIN_KEY_REFUSED;
	unsigned minutes;
	int64_t id;

	if (portal_decision_args(c, c->argv[0], c->argv[1], &id, &minutes) < 0)
		return 0;
	if (portal_assertion_decode(c->argv + 2, &r) == 0)
		res = admin_approval_approve_key(c->p, c->session->user, id, &r, c->ip, minutes,
		                                 time(NULL), &error);
	portal_assertion_free(&r);
	if (res == ADMIN_KEY_TEMPFAIL)
		return portal_refuse(c, IPC_PORTAL_TEMPFAIL, "");
	if (res != ADMIN_KEY_OK) {
		log_info("portal: approval by key refused for %s: %s", c->session->user, error);
		return portal_refuse(
		    c, IPC_PORTAL_REFUSED,
		    "The security key was not accepted: the login is still waiting.");
	}
	return 0;
}

/* argv: id, the current TOTP code, pre-approval minutes. */
int portal_op_approval_totp(struct portal_call *c)
{
	const char *error = NULL;
	unsigned minutes;
	int64_t id;

	if (portal_decision_args(c, c->argv[0], c->argv[2], &id, &minutes) < 0)
		return 0;
	return portal_admin_result(c,
	                           admin_approval_approve_totp(c->p, c->session->user, id,
	                                                       c->argv[1], minutes, time(NULL),
	                                                       &error),
	                           error);
}

/* argv: id. */
int portal_op_approval_deny(struct portal_call *c)
{
	const char *error = NULL;
	int64_t id = portal_arg_id(c->argv[0]);

	if (id == 0)
		return portal_refuse(c, IPC_PORTAL_REFUSED, "That is not a pending login.");
	return portal_admin_result(
	    c, admin_approval_deny(c->p, c->session->user, id, time(NULL), &error), error);
}
