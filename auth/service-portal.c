/*
 * The auth service's answers to the portal: the operation table (which session level and
 * whether the CSRF token each operation needs), the reply, the sessions, the dispatch. The
 * operations themselves are in service-portal-account.c and service-portal-keys.c.
 */
#include "auth/service-portal-private.h"
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

#define PORTAL_ARGS_MAX  8
#define PORTAL_CELLS_MAX 512

_Static_assert((int)AUTH_PORTAL_ENROL == (int)IPC_PORTAL_LEVEL_ENROL &&
                   (int)AUTH_PORTAL_FULL == (int)IPC_PORTAL_LEVEL_FULL &&
                   (int)AUTH_PORTAL_KEY == (int)IPC_PORTAL_LEVEL_KEY,
               "store and IPC name the same portal levels");

/* The session levels an operation takes (none: it needs no session). */
#define LV_ENROL (1u << AUTH_PORTAL_ENROL)
#define LV_FULL  (1u << AUTH_PORTAL_FULL)
#define LV_KEY   (1u << AUTH_PORTAL_KEY)
#define LV_ANY   (LV_ENROL | LV_FULL | LV_KEY)

struct portal_op {
	const char *name;
	portal_op_handler *handler;
	uint32_t argc;
	unsigned levels; /* LV_*: the sessions that may call it; 0 = no session needed */
	bool csrf;       /* a change: the session's CSRF token must come with it */
};

/* A session that has shown the password alone (LV_KEY) may only go on to the key, or leave:
 * nothing else, registering a key least of all. */
static const struct portal_op portal_ops[] = {
    {"signin", portal_op_signin, 3, 0, false},
    {"session", portal_op_session, 0, LV_ANY, false},
    {"signout", portal_op_signout, 0, LV_ANY, true},
    {"overview", portal_op_overview, 0, LV_FULL, false},
    {"apppass_list", portal_op_apppass_list, 0, LV_FULL, false},
    {"apppass_add", portal_op_apppass_add, 3, LV_FULL, true},
    {"apppass_revoke", portal_op_apppass_revoke, 1, LV_FULL, true},
    {"totp_begin", portal_op_totp_begin, 0, LV_FULL, true},
    {"totp_confirm", portal_op_totp_confirm, 1, LV_FULL, true},
    {"totp_remove", portal_op_totp_remove, 1, LV_FULL, true},
    {"recovery_new", portal_op_recovery_new, 0, LV_FULL, true},
    {"log", portal_op_log, 0, LV_FULL, false},
    {"enrol", portal_op_enrol, 1, 0, false},
    {"key_options", portal_op_key_options, 0, LV_ENROL | LV_FULL, false},
    {"key_register", portal_op_key_register, 4, LV_ENROL | LV_FULL, true},
    {"key_list", portal_op_key_list, 0, LV_FULL, false},
    {"key_rename", portal_op_key_rename, 2, LV_FULL, true},
    {"key_remove", portal_op_key_remove, 2, LV_FULL, true},
    {"signin_key_options", portal_op_signin_key_options, 0, LV_KEY, false},
    {"signin_key", portal_op_signin_key, 5, LV_KEY, true},
    {"approval_list", portal_op_approval_list, 0, LV_FULL, false},
    {"approval_key", portal_op_approval_key, 7, LV_FULL, true},
    {"approval_totp", portal_op_approval_totp, 3, LV_FULL, true},
    {"approval_deny", portal_op_approval_deny, 1, LV_FULL, true},
};

/* ---- the reply ---- */

void portal_cell(struct portal_call *c, const char *value)
{
	if (c->ncells == PORTAL_CELLS_MAX)
		fatal("portal reply: too many cells");
	c->cells = xreallocarray(c->cells, c->ncells + 1, sizeof(*c->cells));
	c->cells[c->ncells++] = xstrdup(value);
}

void portal_cell_i64(struct portal_call *c, int64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRId64, v);
	portal_cell(c, num);
}

int portal_refuse(struct portal_call *c, uint32_t status, const char *message)
{
	c->status = status;
	snprintf(c->message, sizeof(c->message), "%s", message);
	return 0;
}

int portal_admin_result(struct portal_call *c, int rc, const char *error)
{
	if (rc < 0)
		return portal_refuse(c, IPC_PORTAL_REFUSED, error != NULL ? error : "refused");
	return 0;
}

void portal_cell_b64(struct portal_call *c, const unsigned char *bin, size_t len)
{
	size_t size = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *text = xmalloc(size);

	sodium_bin2base64(text, size, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	portal_cell(c, text);
	free(text);
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

int portal_session_start(struct portal_call *c, int64_t user_id, const char *user,
                         enum auth_portal_level level, time_t until)
{
	struct auth_portal_session s = {.user_id = user_id, .level = level};
	char id[PORTAL_TOKEN_LEN + 1];
	const char *error = NULL;

	portal_token(id);
	portal_token(s.csrf);
	portal_session_hash(id, s.hash);
	s.created = time(NULL);
	s.expires = s.created + (time_t)c->p->cfg->portal_session_lifetime;
	if (until != 0 && until < s.expires)
		s.expires = until;
	if (c->p->module->portal_session_put(c->p->store, &s, &error) < 0 ||
	    (user == NULL &&
	     c->p->module->portal_session_get(c->p->store, s.hash, s.created, &s, &error) <= 0)) {
		log_error("portal session for user %lld: %s", (long long)user_id,
		          error != NULL ? error : "gone");
		return portal_refuse(c, IPC_PORTAL_TEMPFAIL, "");
	}
	c->cols = 5;
	portal_cell(c, id);
	portal_cell(c, s.csrf);
	portal_cell(c, user != NULL ? user : s.user);
	portal_cell_i64(c, s.expires);
	portal_cell_i64(c, level);
	sodium_memzero(id, sizeof(id));
	sodium_memzero(&s, sizeof(s));
	return 0;
}

void portal_session_end(struct portal_call *c)
{
	const char *error = NULL;

	if (c->p->module->portal_session_del(c->p->store, c->session->hash, &error) < 0)
		log_error("portal session of %s not ended: %s", c->session->user,
		          error != NULL ? error : "store error");
}

/* ---- arguments ---- */

unsigned char *portal_b64_decode(const char *s, size_t max, size_t *len_r)
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

int64_t portal_arg_id(const char *s)
{
	char *end;
	long long id = strtoll(s, &end, 10);

	return s[0] != '\0' && *end == '\0' && id > 0 ? id : 0;
}

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

	if (op->levels == 0)
		return 1;
	rc = portal_session_find(c->p, id, s, &error);
	if (rc < 0) {
		log_error("portal session: %s", error);
		portal_refuse(c, IPC_PORTAL_TEMPFAIL, "");
		return -1;
	}
	if (rc == 0 || (unsigned)s->level > AUTH_PORTAL_KEY || (op->levels & (1u << s->level)) == 0)
		return portal_refuse(c, IPC_PORTAL_NO_SESSION, ""), 0;
	if (op->csrf && !portal_csrf_ok(s, csrf)) {
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
