#include "auth/service-portal.h"
#include "auth/admin.h"
#include "auth/policy-private.h"
#include "auth/webauthn.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PORTAL_ARGS_MAX   8
#define PORTAL_CELLS_MAX  512
#define PORTAL_LOG_ROWS   25
#define PORTAL_RECOVERY   10
#define PORTAL_SECRET_MAX 1024

_Static_assert((int)AUTH_PORTAL_ENROL == (int)IPC_PORTAL_LEVEL_ENROL &&
                   (int)AUTH_PORTAL_FULL == (int)IPC_PORTAL_LEVEL_FULL,
               "store and IPC name the same portal levels");

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

enum portal_need {
	PORTAL_NEED_NOTHING,
	PORTAL_NEED_SESSION,   /* any signed-in session, enrolment ones too */
	PORTAL_NEED_FULL,      /* signed in with password and second factor */
	PORTAL_NEED_FULL_CSRF, /* that, for a change: the session's CSRF token too */
	PORTAL_NEED_SESSION_CSRF,
};

struct portal_op {
	const char *name;
	int (*handler)(struct portal_call *c);
	uint32_t argc;
	enum portal_need need;
};

/* ---- the reply ---- */

static void portal_cell(struct portal_call *c, const char *value)
{
	if (c->ncells == PORTAL_CELLS_MAX)
		fatal("portal reply: too many cells");
	c->cells = xreallocarray(c->cells, c->ncells + 1, sizeof(*c->cells));
	c->cells[c->ncells++] = xstrdup(value);
}

static void portal_cell_i64(struct portal_call *c, int64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRId64, v);
	portal_cell(c, num);
}

static int portal_refuse(struct portal_call *c, uint32_t status, const char *message)
{
	c->status = status;
	snprintf(c->message, sizeof(c->message), "%s", message);
	return 0;
}

/* An admin_* error line becomes the user's message. */
static int portal_admin_result(struct portal_call *c, int rc, const char *error)
{
	if (rc < 0)
		return portal_refuse(c, IPC_PORTAL_REFUSED, error != NULL ? error : "refused");
	return 0;
}

static void portal_reply_write(struct portal_call *c, struct ipc_msg *out, uint32_t request_id)
{
	uint32_t cols = c->cols > 0 ? c->cols : 1;

	ipc_msg_init(out, IPC_PORTAL_REPLY, request_id);
	ipc_put_u32(out, c->status);
	ipc_put_u32(out, c->delay_ms);
	ipc_put_str(out, c->message);
	if (c->status != IPC_PORTAL_OK || c->ncells % cols != 0) {
		ipc_put_u32(out, 0);
		ipc_put_u32(out, 0);
		return;
	}
	ipc_put_u32(out, c->ncells / cols);
	ipc_put_u32(out, cols);
	for (uint32_t i = 0; i < c->ncells; i++)
		ipc_put_str(out, c->cells[i]);
	if (out->overflow) {
		/* a table too big for one message: say so rather than send a cut one */
		ipc_msg_init(out, IPC_PORTAL_REPLY, request_id);
		ipc_put_u32(out, IPC_PORTAL_REFUSED);
		ipc_put_u32(out, 0);
		ipc_put_str(out, "answer too large");
		ipc_put_u32(out, 0);
		ipc_put_u32(out, 0);
	}
}

static void portal_call_free(struct portal_call *c)
{
	for (uint32_t i = 0; i < c->ncells; i++)
		xfree_secret_str(&c->cells[i]);
	free(c->cells);
	sodium_memzero(c, sizeof(*c));
}

/* ---- sessions ---- */

static void portal_token(char out[PORTAL_TOKEN_LEN + 1])
{
	unsigned char raw[32];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(out, PORTAL_TOKEN_LEN + 1, raw, sizeof(raw),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
}

/* The id is 256 random bits: a plain hash is enough to make a copy of the store useless for
 * taking over sessions (nothing to guess offline). */
static void portal_session_hash(const char *id, unsigned char out[AUTH_HASH_LEN])
{
	crypto_generichash(out, AUTH_HASH_LEN, (const unsigned char *)id, strlen(id), NULL, 0);
}

static bool portal_token_shape(const char *s)
{
	return strlen(s) == PORTAL_TOKEN_LEN &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
	           PORTAL_TOKEN_LEN;
}

/* 1 found, 0 none (or not a session id at all), -1 store error. */
static int portal_session_find(struct auth_policy *p, const char *id,
                               struct auth_portal_session *s_r, const char **error_r)
{
	unsigned char hash[AUTH_HASH_LEN];

	if (!portal_token_shape(id))
		return 0;
	portal_session_hash(id, hash);
	return p->module->portal_session_get(p->store, hash, time(NULL), s_r, error_r);
}

/* Makes a session for user (NULL: read back with the session) and puts [id, csrf, user,
 * expires] in the reply. */
static int portal_session_start(struct portal_call *c, int64_t user_id, const char *user,
                                enum auth_portal_level level)
{
	struct auth_portal_session s = {.user_id = user_id, .level = level};
	char id[PORTAL_TOKEN_LEN + 1];
	const char *error = NULL;

	portal_token(id);
	portal_token(s.csrf);
	portal_session_hash(id, s.hash);
	s.created = time(NULL);
	s.expires = s.created + (time_t)c->p->cfg->portal_session_lifetime;
	if (c->p->module->portal_session_put(c->p->store, &s, &error) < 0 ||
	    (user == NULL &&
	     c->p->module->portal_session_get(c->p->store, s.hash, s.created, &s, &error) <= 0)) {
		log_error("portal session for user %lld: %s", (long long)user_id,
		          error != NULL ? error : "gone");
		return portal_refuse(c, IPC_PORTAL_TEMPFAIL, "");
	}
	c->cols = 4;
	portal_cell(c, id);
	portal_cell(c, s.csrf);
	portal_cell(c, user != NULL ? user : s.user);
	portal_cell_i64(c, s.expires);
	sodium_memzero(id, sizeof(id));
	sodium_memzero(&s, sizeof(s));
	return 0;
}

/* ---- operations ---- */

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
 * policy as an IMAP/POP3 login, as proto "portal": delays, lockout, audit, alarms. */
static int portal_op_signin(struct portal_call *c)
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
	if (reply.result != AUTH_OK) {
		c->delay_ms = reply.delay_ms;
		return portal_refuse(
		    c, reply.result == AUTH_FAIL ? IPC_PORTAL_FAIL : IPC_PORTAL_TEMPFAIL, "");
	}
	if (portal_user_id(c, reply.user, &id) < 0)
		return portal_refuse(c, IPC_PORTAL_TEMPFAIL, "");
	return portal_session_start(c, id, reply.user, AUTH_PORTAL_FULL);
}

static int portal_op_session(struct portal_call *c)
{
	c->cols = 4;
	portal_cell(c, c->session->user);
	portal_cell_i64(c, c->session->level);
	portal_cell(c, c->session->csrf);
	portal_cell_i64(c, c->session->expires);
	return 0;
}

static int portal_op_signout(struct portal_call *c)
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

static int portal_op_overview(struct portal_call *c)
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

static int portal_op_apppass_list(struct portal_call *c)
{
	const char *error = NULL;
	int rc;

	c->cols = 7;
	rc = admin_apppass_list(c->p, c->session->user, portal_apppass_row, c, &error);
	return portal_admin_result(c, rc, error);
}

/* argv: label, proto (imap, pop3, all), days until it expires (0 = never). */
static int portal_op_apppass_add(struct portal_call *c)
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

static int portal_op_apppass_revoke(struct portal_call *c)
{
	const char *error = NULL;
	char *end;
	long long id = strtoll(c->argv[0], &end, 10);

	if (c->argv[0][0] == '\0' || *end != '\0' || id <= 0)
		return portal_refuse(c, IPC_PORTAL_REFUSED, "no such app password");
	return portal_admin_result(c, admin_apppass_revoke(c->p, c->session->user, id, &error),
	                           error);
}

static int portal_op_totp_begin(struct portal_call *c)
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

static int portal_op_totp_confirm(struct portal_call *c)
{
	const char *error = NULL;
	int rc = admin_totp_confirm(c->p, c->session->user, c->argv[0], time(NULL), &error);

	return portal_admin_result(c, rc, error);
}

static int portal_op_totp_remove(struct portal_call *c)
{
	const char *error = NULL;

	return portal_admin_result(c, admin_totp_remove(c->p, c->session->user, &error), error);
}

static int portal_op_recovery_new(struct portal_call *c)
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

static int portal_op_log(struct portal_call *c)
{
	const char *error = NULL;
	int rc;

	c->cols = 8;
	rc = admin_log(c->p, c->session->user, PORTAL_LOG_ROWS, portal_log_row, c, &error);
	return portal_admin_result(c, rc, error);
}

/* ---- security keys ---- */

/* base64url (no padding) -> bytes; NULL when malformed or longer than max. */
static unsigned char *portal_b64_decode(const char *s, size_t max, size_t *len_r)
{
	size_t cap = strlen(s) * 3 / 4 + 3;
	unsigned char *out;

	if (cap > max + 3)
		return NULL;
	out = xmalloc(cap);
	if (sodium_base642bin(out, cap, s, strlen(s), NULL, len_r, NULL,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    *len_r > max) {
		free(out);
		return NULL;
	}
	return out;
}

static void portal_cell_b64(struct portal_call *c, const unsigned char *bin, size_t len)
{
	size_t size = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *text = xmalloc(size);

	sodium_bin2base64(text, size, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	portal_cell(c, text);
	free(text);
}

/* argv: the invite token. A single-use link from `twofold key invite` becomes a session that
 * may add a security key and nothing else. */
static int portal_op_enrol(struct portal_call *c)
{
	const char *error = NULL;
	int64_t user_id;

	if (admin_key_invite_consume(c->p, c->argv[0], time(NULL), &user_id, &error) < 0) {
		log_info("portal: enrolment link refused from %s: %s", c->ip, error);
		return portal_refuse(
		    c, IPC_PORTAL_REFUSED,
		    "This enrolment link does not work any more (it was used, or it "
		    "has expired). Ask your administrator for a new one.");
	}
	return portal_session_start(c, user_id, NULL, AUTH_PORTAL_ENROL);
}

/* A registration challenge for the session's user: [challenge, rp id, user name, user handle,
 * the user's credential ids (space-separated), expires]. */
static int portal_op_key_options(struct portal_call *c)
{
	struct admin_key_options o;
	const char *error = NULL;
	struct buf ids;

	if (admin_key_challenge(c->p, c->session->user, ADMIN_KEY_REGISTER, 0, time(NULL), &o,
	                        &error) < 0)
		return portal_admin_result(c, -1, error);
	c->cols = 6;
	portal_cell_b64(c, o.challenge, sizeof(o.challenge));
	portal_cell(c, o.rp_id);
	portal_cell(c, o.user_name);
	portal_cell_b64(c, o.user_handle, sizeof(o.user_handle));
	buf_init(&ids);
	for (size_t i = 0; i < o.ncreds; i++) {
		size_t size = sodium_base64_ENCODED_LEN(o.creds[i].len,
		                                        sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		char *text = buf_reserve(&ids, size + 1);

		sodium_bin2base64(text, size, o.creds[i].id, o.creds[i].len,
		                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		buf_added(&ids, strlen(text));
		if (i + 1 < o.ncreds)
			buf_append_str(&ids, " ");
	}
	portal_cell(c, ids.data != NULL ? ids.data : "");
	buf_free(&ids);
	portal_cell_i64(c, o.expires);
	admin_key_options_free(&o);
	return 0;
}

/* argv: clientDataJSON, attestationObject, raw credential id (base64url), label. An
 * enrolment session ends with the key it was for: the link gives one key. */
static int portal_op_key_register(struct portal_call *c)
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

static int portal_op_key_list(struct portal_call *c)
{
	const char *error = NULL;
	int rc;

	c->cols = 6;
	rc = admin_key_list(c->p, c->session->user, portal_key_row, c, &error);
	return portal_admin_result(c, rc, error);
}

/* The id in argv[0], or 0 when it is not one. */
static int64_t portal_arg_id(const char *s)
{
	char *end;
	long long id = strtoll(s, &end, 10);

	return s[0] != '\0' && *end == '\0' && id > 0 ? id : 0;
}

static int portal_op_key_rename(struct portal_call *c)
{
	const char *error = NULL;

	return portal_admin_result(
	    c,
	    admin_key_rename(c->p, c->session->user, portal_arg_id(c->argv[0]), c->argv[1], &error),
	    error);
}

static int portal_op_key_remove(struct portal_call *c)
{
	const char *error = NULL;

	return portal_admin_result(
	    c, admin_key_remove(c->p, c->session->user, portal_arg_id(c->argv[0]), &error), error);
}

static const struct portal_op portal_ops[] = {
    {"signin", portal_op_signin, 3, PORTAL_NEED_NOTHING},
    {"session", portal_op_session, 0, PORTAL_NEED_SESSION},
    {"signout", portal_op_signout, 0, PORTAL_NEED_SESSION_CSRF},
    {"overview", portal_op_overview, 0, PORTAL_NEED_FULL},
    {"apppass_list", portal_op_apppass_list, 0, PORTAL_NEED_FULL},
    {"apppass_add", portal_op_apppass_add, 3, PORTAL_NEED_FULL_CSRF},
    {"apppass_revoke", portal_op_apppass_revoke, 1, PORTAL_NEED_FULL_CSRF},
    {"totp_begin", portal_op_totp_begin, 0, PORTAL_NEED_FULL_CSRF},
    {"totp_confirm", portal_op_totp_confirm, 1, PORTAL_NEED_FULL_CSRF},
    {"totp_remove", portal_op_totp_remove, 0, PORTAL_NEED_FULL_CSRF},
    {"recovery_new", portal_op_recovery_new, 0, PORTAL_NEED_FULL_CSRF},
    {"log", portal_op_log, 0, PORTAL_NEED_FULL},
    {"enrol", portal_op_enrol, 1, PORTAL_NEED_NOTHING},
    {"key_options", portal_op_key_options, 0, PORTAL_NEED_SESSION},
    {"key_register", portal_op_key_register, 4, PORTAL_NEED_SESSION_CSRF},
    {"key_list", portal_op_key_list, 0, PORTAL_NEED_FULL},
    {"key_rename", portal_op_key_rename, 2, PORTAL_NEED_FULL_CSRF},
    {"key_remove", portal_op_key_remove, 1, PORTAL_NEED_FULL_CSRF},
};

/* ---- dispatch ---- */

static const struct portal_op *portal_op_find(const char *name)
{
	for (size_t i = 0; i < sizeof(portal_ops) / sizeof(portal_ops[0]); i++)
		if (strcmp(portal_ops[i].name, name) == 0)
			return &portal_ops[i];
	return NULL;
}

static bool portal_csrf_ok(const struct auth_portal_session *s, const char *csrf)
{
	size_t len = strlen(s->csrf);

	return len > 0 && strlen(csrf) == len && sodium_memcmp(s->csrf, csrf, len) == 0;
}

/* Checks what op needs. 1: go on; 0: refused (status set); -1: store error (status set). */
static int portal_check_need(struct portal_call *c, const struct portal_op *op, const char *id,
                             const char *csrf, struct auth_portal_session *s)
{
	const char *error = NULL;
	int rc;

	if (op->need == PORTAL_NEED_NOTHING)
		return 1;
	rc = portal_session_find(c->p, id, s, &error);
	if (rc < 0) {
		log_error("portal session: %s", error);
		portal_refuse(c, IPC_PORTAL_TEMPFAIL, "");
		return -1;
	}
	if (rc == 0 || ((op->need == PORTAL_NEED_FULL || op->need == PORTAL_NEED_FULL_CSRF) &&
	                s->level != AUTH_PORTAL_FULL))
		return portal_refuse(c, IPC_PORTAL_NO_SESSION, ""), 0;
	if ((op->need == PORTAL_NEED_FULL_CSRF || op->need == PORTAL_NEED_SESSION_CSRF) &&
	    !portal_csrf_ok(s, csrf)) {
		log_warn("portal: %s for %s without the session's CSRF token", op->name, s->user);
		return portal_refuse(c, IPC_PORTAL_BAD_CSRF, ""), 0;
	}
	c->session = s;
	return 1;
}

struct portal_request {
	const char *op, *session, *csrf, *ip;
	const char *argv[PORTAL_ARGS_MAX];
	uint32_t argc;
};

static int portal_decode(struct ipc_msg *m, struct portal_request *r)
{
	if (m->hdr.type != IPC_PORTAL_REQUEST || ipc_get_str(m, &r->op) < 0 ||
	    ipc_get_str(m, &r->session) < 0 || ipc_get_str(m, &r->csrf) < 0 ||
	    ipc_get_str(m, &r->ip) < 0 || ipc_get_u32(m, &r->argc) < 0 || r->argc > PORTAL_ARGS_MAX)
		return -1;
	for (uint32_t i = 0; i < r->argc; i++)
		if (ipc_get_str(m, &r->argv[i]) < 0)
			return -1;
	return ipc_end(m);
}

int auth_service_portal(struct auth_policy *policy, struct ipc_msg *in, struct ipc_msg *out)
{
	struct portal_request r;
	struct portal_call c = {.p = policy};
	struct auth_portal_session session;
	const struct portal_op *op;

	if (portal_decode(in, &r) < 0 || (op = portal_op_find(r.op)) == NULL || r.argc != op->argc)
		return -1;
	c.ip = r.ip;
	c.argv = r.argv;
	if (portal_check_need(&c, op, r.session, r.csrf, &session) == 1)
		op->handler(&c);
	portal_reply_write(&c, out, in->hdr.request_id);
	portal_call_free(&c);
	sodium_memzero(&session, sizeof(session));
	return 0;
}
