/* The portal's security-key operations: the enrolment link, registration, the list, and
 * the key step of a sign-in. */
#include "auth/admin.h"
#include "auth/service-portal-private.h"
#include "auth/webauthn.h"
#include "common/buf.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* argv: the invite token. A single-use link from `twofold key invite` becomes a session that
 * may add a security key and nothing else. */
int portal_op_enrol(struct portal_call *c)
{
	const char *error = NULL;
	int64_t user_id;

	if (admin_key_invite_consume(c->p, c->argv[0], time(NULL), &user_id, &error) < 0) {
		log_info("portal: enrolment link refused from %s: %s", log_quote(c->ip), error);
		return portal_refuse(
		    c, IPC_PORTAL_REFUSED,
		    "This enrolment link does not work any more (it was used, or it "
		    "has expired). Ask your administrator for a new one.");
	}
	return portal_session_start(c, user_id, NULL, AUTH_PORTAL_ENROL, 0);
}

void portal_key_option_cells(struct portal_call *c, const struct admin_key_options *o)
{
	struct buf ids;

	portal_cell_b64(c, o->challenge, sizeof(o->challenge));
	portal_cell(c, o->rp_id);
	portal_cell(c, o->user_name);
	portal_cell_b64(c, o->user_handle, sizeof(o->user_handle));
	buf_init(&ids);
	for (size_t i = 0; i < o->ncreds; i++) {
		size_t size = sodium_base64_ENCODED_LEN(o->creds[i].len,
		                                        sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		char *text = buf_reserve(&ids, size + 1);

		sodium_bin2base64(text, size, o->creds[i].id, o->creds[i].len,
		                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		buf_added(&ids, strlen(text));
		if (i + 1 < o->ncreds)
			buf_append_str(&ids, " ");
	}
	portal_cell(c, ids.data != NULL ? ids.data : "");
	buf_free(&ids);
	portal_cell_i64(c, o->expires);
}

/* A challenge for the session's user and purpose, as portal_key_options_cells. */
static int portal_key_challenge(struct portal_call *c, enum admin_key_purpose purpose,
                                int64_t bound_id)
{
	struct admin_key_options o;
	const char *error = NULL;

	if (admin_key_challenge(c->p, c->session->user, purpose, bound_id, time(NULL), &o, &error) <
	    0)
		return portal_admin_result(c, -1, error);
	c->cols = 6;
	portal_key_option_cells(c, &o);
	admin_key_options_free(&o);
	return 0;
}

/* Registration: the credential ids in the reply are the ones to exclude. */
int portal_op_key_options(struct portal_call *c)
{
	return portal_key_challenge(c, ADMIN_KEY_REGISTER, 0);
}

/* argv: clientDataJSON, attestationObject, raw credential id (base64url), label. An
 * enrolment session ends with the key it was for: the link gives one key. */
int portal_op_key_register(struct portal_call *c)
{
	struct admin_key_response r = {0};
	unsigned char *cd, *att, *id;
	const char *error = NULL;
	int64_t key_id;
	int rc = -1;

	cd = portal_b64_decode(c->argv[0], WEBAUTHN_CLIENT_DATA_MAX, &r.client_data_len);
	att = portal_b64_decode(c->argv[1], WEBAUTHN_ATTESTATION_MAX, &r.attestation_len);
	id = portal_b64_decode(c->argv[2], WEBAUTHN_CRED_ID_MAX, &r.cred_id_len);
	r.client_data = cd;
	r.attestation = att;
	r.cred_id = id;
	if (cd != NULL && att != NULL && id != NULL)
		rc = admin_key_register(c->p, c->session->user, &r, c->argv[3], c->ip, time(NULL),
		                        &key_id, &error);
	else
		error = "the browser's answer is malformed";
	free(cd);
	free(att);
	free(id);
	if (rc < 0) {
		log_info("portal: security key for %s refused: %s", c->session->user, error);
		return portal_refuse(c, IPC_PORTAL_REFUSED, "The security key was not registered.");
	}
	if (c->session->level == AUTH_PORTAL_ENROL)
		(void)c->p->module->portal_session_del(c->p->store, c->session->hash, &error);
	c->cols = 1;
	portal_cell_i64(c, key_id);
	return 0;
}

static void portal_key_row(const struct admin_key_info *k, void *ctx)
{
	struct portal_call *c = ctx;

	portal_cell_i64(c, k->id);
	portal_cell(c, k->label);
	portal_cell(c, k->alg);
	portal_cell_i64(c, k->created);
	portal_cell_i64(c, k->last_used);
	portal_cell(c, k->last_ip);
}

int portal_op_key_list(struct portal_call *c)
{
	const char *error = NULL;
	int rc;

	c->cols = 6;
	rc = admin_key_list(c->p, c->session->user, portal_key_row, c, &error);
	return portal_admin_result(c, rc, error);
}

int portal_op_key_rename(struct portal_call *c)
{
	const char *error = NULL;

	return portal_admin_result(
	    c,
	    admin_key_rename(c->p, c->session->user, portal_arg_id(c->argv[0]), c->argv[1], &error),
	    error);
}

/* argv: the key's id, the account password. */
int portal_op_key_remove(struct portal_call *c)
{
	const char *error = NULL;

	if (portal_password_again(c, c->argv[1]) < 0)
		return 0;
	return portal_admin_result(
	    c, admin_key_remove(c->p, c->session->user, portal_arg_id(c->argv[0]), &error), error);
}

/* ---- the key step of a sign-in ---- */

/* After the password alone (a session of level KEY): the credential ids are the ones the
 * browser may use. */
int portal_op_signin_key_options(struct portal_call *c)
{
	return portal_key_challenge(c, ADMIN_KEY_SIGNIN, 0);
}

int portal_assertion_decode(const char *const *argv, struct admin_key_response *r)
{
	memset(r, 0, sizeof(*r));
	r->client_data = portal_b64_decode(argv[0], WEBAUTHN_CLIENT_DATA_MAX, &r->client_data_len);
	r->auth_data = portal_b64_decode(argv[1], WEBAUTHN_AUTH_DATA_MAX, &r->auth_data_len);
	r->sig = portal_b64_decode(argv[2], WEBAUTHN_SIG_MAX, &r->sig_len);
	r->cred_id = portal_b64_decode(argv[3], WEBAUTHN_CRED_ID_MAX, &r->cred_id_len);
	r->user_handle = portal_b64_decode(argv[4], ADMIN_USER_HANDLE_LEN, &r->user_handle_len);
	return r->client_data != NULL && r->auth_data != NULL && r->sig != NULL &&
	               r->cred_id != NULL && r->user_handle != NULL
	           ? 0
	           : -1;
}

void portal_assertion_free(struct admin_key_response *r)
{
	free((void *)r->client_data);
	free((void *)r->auth_data);
	free((void *)r->sig);
	free((void *)r->cred_id);
	free((void *)r->user_handle);
}

/* The outcome of the key's answer; TEMPFAIL when there is none yet (the store failed). */
static enum admin_key_result portal_signin_assert(struct portal_call *c,
                                                  const struct admin_key_response *r)
{
	const char *error = "the browser's answer is malformed";
	enum admin_key_result res = ADMIN_KEY_REFUSED;
	int64_t bound;

	if (r != NULL)
		res = admin_key_assert(c->p, c->session->user, ADMIN_KEY_SIGNIN, r, c->ip,
		                       time(NULL), &bound, &error);
	if (res != ADMIN_KEY_OK)
		log_info("portal: security key of %s refused at sign-in: %s", c->session->user,
		         error);
	return res;
}

static const enum auth_hold_outcome portal_key_outcomes[] = {
    [ADMIN_KEY_OK] = AUTH_HOLD_KEY_OK,
    [ADMIN_KEY_REFUSED] = AUTH_HOLD_KEY_REFUSED,
    [ADMIN_KEY_CLONED] = AUTH_HOLD_KEY_CLONED,
};

/* argv: the assertion (portal_assertion_decode). The sign-in is decided by the policy as any
 * login; success replaces the session with a full one (a new id), a failure ends it. */
int portal_op_signin_key(struct portal_call *c)
{
	struct auth_hold hold = {.user_id = c->session->user_id, .proto = AUTH_PROTO_PORTAL};
	struct admin_key_response r;
	struct auth_reply reply;
	enum admin_key_result res;
	int bad = portal_assertion_decode(c->argv, &r);

	res = portal_signin_assert(c, bad < 0 ? NULL : &r);
	portal_assertion_free(&r);
	if (res == ADMIN_KEY_TEMPFAIL)
		return portal_refuse(c, IPC_PORTAL_TEMPFAIL, "");
	snprintf(hold.user, sizeof(hold.user), "%s", c->session->user);
	snprintf(hold.ip, sizeof(hold.ip), "%s", c->ip);
	auth_policy_hold_finish(c->p, &hold, portal_key_outcomes[res], time(NULL), NULL, NULL,
	                        &reply);
	if (reply.result == AUTH_TEMPFAIL)
		return portal_refuse(c, IPC_PORTAL_TEMPFAIL, "");
	portal_session_end(c);
	if (reply.result != AUTH_OK) {
		c->delay_ms = reply.delay_ms;
		return portal_refuse(c, IPC_PORTAL_FAIL, "");
	}
	return portal_session_start(c, c->session->user_id, c->session->user, AUTH_PORTAL_FULL, 0);
}
