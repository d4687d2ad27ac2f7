/* Administration of the auth store for the `twofold` CLI (auth/admin.h). */
#include "auth/admin-private.h"
#include "auth/approval.h"
#include "auth/factor.h"
#include "common/config.h"
#include "common/text.h"
#include "common/xalloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yubikey.h>

#define ADMIN_PASSWORD_MIN   8
#define ADMIN_PASSWORD_MAX   512
#define ADMIN_LABEL_MAX      64
#define ADMIN_RECOVERY_MAX   100
#define ADMIN_APPPASS_MAXDAY 36500

static const char *const admin_weak_passwords[] = {
    "password", "password1", "12345678", "123456789", "1234567890", "qwertyui", "qwertyuiop",
    "iloveyou", "letmein1",  "abcdefgh", "00000000",  "11111111",   "passw0rd", NULL,
};

static bool admin_name_char(char c)
{
	return isalnum((unsigned char)c) || strchr("._-+@", c) != NULL;
}

bool admin_user_name_valid(const char *name)
{
	size_t len = name != NULL ? strnlen(name, 256) : 0;
	const char *at;

	if (len == 0 || len > 255 || name[0] == '.' || name[0] == '-' || name[0] == '@' ||
	    strstr(name, "..") != NULL)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!admin_name_char(name[i]))
			return false;
	at = strchr(name, '@');
	return at == NULL || (strchr(at + 1, '@') == NULL && at[1] != '\0' && at[1] != '.');
}

static bool admin_password_trivial(const char *password, size_t len)
{
	char lower[ADMIN_PASSWORD_MAX + 1];
	bool weak = true;

	for (size_t i = 1; i < len; i++)
		if (password[i] != password[0])
			weak = false;
	for (size_t i = 0; i <= len; i++)
		lower[i] = (char)tolower((unsigned char)password[i]);
	for (size_t i = 0; !weak && admin_weak_passwords[i] != NULL; i++)
		weak = strcmp(lower, admin_weak_passwords[i]) == 0;
	sodium_memzero(lower, sizeof(lower));
	return weak;
}

int admin_password_check(const char *password, const char **error_r)
{
	size_t len = password != NULL ? strnlen(password, ADMIN_PASSWORD_MAX + 1) : 0;

	if (len == 0) {
		*error_r = "empty password";
		return -1;
	}
	if (len > ADMIN_PASSWORD_MAX) {
		*error_r = "password too long (at most 512 bytes)";
		return -1;
	}
	if (!text_is_sane(password, len, ADMIN_PASSWORD_MAX)) {
		*error_r = "password contains control characters or invalid UTF-8";
		return -1;
	}
	if (len < ADMIN_PASSWORD_MIN) {
		*error_r = "password too weak: use at least 8 characters";
		return -1;
	}
	if (admin_password_trivial(password, len)) {
		*error_r = "password too weak: too common or repetitive";
		return -1;
	}
	return 0;
}

/* ---- helpers ---- */

int admin_fail(struct auth_policy *p, const char **error_r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->error, sizeof(p->error), fmt, ap);
	va_end(ap);
	*error_r = p->error;
	return -1;
}

int admin_store_error(struct auth_policy *p, const char *error, const char **error_r)
{
	return admin_fail(p, error_r, "%s", error != NULL ? error : "auth store error");
}

int admin_get_user(struct auth_policy *p, const char *name, struct auth_user *user_r,
                   const char **error_r)
{
	const char *err = NULL;
	int rc;

	if (!admin_user_name_valid(name))
		return admin_fail(p, error_r, "bad user name '%s'",
		                  name != NULL && text_is_sane(name, strlen(name), 255) ? name
		                                                                        : "?");
	rc = p->module->user_get(p->store, name, user_r, &err);
	if (rc < 0)
		return admin_store_error(p, err, error_r);
	if (rc == 0)
		return admin_fail(p, error_r, "unknown user '%s'", name);
	return 0;
}

int admin_user_call(struct auth_policy *p, const char *name, admin_user_call_fn *call, void *ctx,
                    const char **error_r)
{
	struct auth_user user;
	const char *err = NULL;
	int rc;

	if (admin_get_user(p, name, &user, error_r) < 0)
		return -1;
	rc = call(p, &user, ctx, &err);
	auth_user_clear(&user);
	return rc < 0 ? admin_store_error(p, err, error_r) : rc;
}

static char *admin_hash_password(struct auth_policy *p, const char *password, const char **error_r)
{
	char *hash;

	if (admin_password_check(password, error_r) < 0)
		return NULL;
	hash = password_hash(password, strlen(password), &p->pw);
	if (hash == NULL)
		*error_r = "cannot compute the password hash (pwhash_memlimit too high?)";
	return hash;
}

/* 1 (with *error_r) when the user has a security key and the password ends like a code: the
 * login of such a password alone is never held for approval (a hold would tell that it was
 * right), so the user could not log in from a mail client. -1 on a store error. */
static int admin_password_coded_for_key(struct auth_policy *p, const struct auth_user *user,
                                        const char *password, const char **error_r)
{
	int rc;

	if (!policy_secret_coded(p->cfg, password, strlen(password)))
		return 0;
	rc = approval_user_has_key(p, user->id, error_r);
	if (rc > 0)
		*error_r = "the user has a security key and the password ends like a code (digits, "
		           "a recovery code or a YubiKey OTP): choose another";
	return rc;
}

/* A new password for user: refused when it is the current one (a password change that changes
 * nothing would leave a leaked password working). */
static char *admin_new_password_hash(struct auth_policy *p, const struct auth_user *user,
                                     const char *password, const char **error_r)
{
	if (admin_password_check(password, error_r) < 0)
		return NULL;
	if (password_verify(user->pwhash, password, strlen(password)) == 1) {
		*error_r = "the new password is the current one: choose another";
		return NULL;
	}
	if (admin_password_coded_for_key(p, user, password, error_r) != 0)
		return NULL;
	return admin_hash_password(p, password, error_r);
}

/* ---- users ---- */

int admin_user_add(struct auth_policy *p, const char *name, const char *password,
                   const char **error_r)
{
	struct auth_user user = {0};
	const char *err = NULL;
	int rc;

	if (!admin_user_name_valid(name))
		return admin_fail(p, error_r, "bad user name '%s'",
		                  name != NULL && text_is_sane(name, strlen(name), 255) ? name
		                                                                        : "?");
	if (config_maildir_user_check(p->cfg, name, &err) < 0)
		return admin_fail(p, error_r, "user '%s': %s", name, err);
	user.pwhash = admin_hash_password(p, password, error_r);
	if (user.pwhash == NULL)
		return -1;
	user.name = xstrdup(name);
	user.enabled = true;
	user.created = time(NULL);
	rc = p->module->user_put(p->store, &user, &err);
	auth_user_clear(&user);
	if (rc < 0)
		return admin_store_error(p, err, error_r);
	if (rc == 0)
		return admin_fail(p, error_r, "user '%s' exists", name);
	return 0;
}

int admin_user_passwd(struct auth_policy *p, const char *name, const char *password,
                      const char **error_r)
{
	struct auth_user user;
	const char *err = NULL;
	char *hash;
	int rc;

	if (admin_get_user(p, name, &user, error_r) < 0)
		return -1;
	hash = admin_new_password_hash(p, &user, password, error_r);
	if (hash == NULL) {
		auth_user_clear(&user);
		return -1;
	}
	xfree_secret_str(&user.pwhash);
	user.pwhash = hash;
	rc = p->module->user_put(p->store, &user, &err);
	auth_user_clear(&user);
	return rc < 0 ? admin_store_error(p, err, error_r) : 0;
}

static int admin_user_del_call(struct auth_policy *p, struct auth_user *user, void *ctx,
                               const char **error_r)
{
	(void)ctx;
	if (p->module->user_del(p->store, user->id, error_r) < 0)
		return -1;
	return policy_user_forget_failures(p, user->name, error_r);
}

int admin_user_del(struct auth_policy *p, const char *name, const char **error_r)
{
	return admin_user_call(p, name, admin_user_del_call, NULL, error_r) < 0 ? -1 : 0;
}

int admin_source_unblock(struct auth_policy *p, const char *ip, char *source_r, size_t size,
                         const char **error_r)
{
	unsigned char a[16];
	const char *err = NULL;

	if (inet_pton(AF_INET, ip, a) != 1 && inet_pton(AF_INET6, ip, a) != 1)
		return admin_fail(p, error_r, "'%s' is not an IPv4 or IPv6 address",
		                  text_is_sane(ip, strlen(ip), 64) ? ip : "?");
	if (policy_source_forget(p, ip, source_r, size, &err) < 0)
		return admin_store_error(p, err, error_r);
	return 0;
}

int admin_user_rename(struct auth_policy *p, const char *name, const char *new_name,
                      const char **error_r)
{
	struct auth_user user;
	const char *err = NULL;
	int rc;

	if (!admin_user_name_valid(new_name))
		return admin_fail(p, error_r, "bad user name '%s'",
		                  text_is_sane(new_name, strlen(new_name), 255) ? new_name : "?");
	if (config_maildir_user_check(p->cfg, new_name, &err) < 0)
		return admin_fail(p, error_r, "user '%s': %s", new_name, err);
	if (admin_get_user(p, name, &user, error_r) < 0)
		return -1;
	free(user.name);
	user.name = xstrdup(new_name);
	rc = p->module->user_put(p->store, &user, &err);
	/* failures and lockouts are counted by name: the old name's go */
	if (rc > 0)
		rc = policy_user_forget_failures(p, name, &err) < 0 ? -1 : 1;
	auth_user_clear(&user);
	if (rc < 0)
		return admin_store_error(p, err, error_r);
	if (rc == 0)
		return admin_fail(p, error_r, "user '%s' exists", new_name);
	return 0;
}

static int admin_set_enabled_call(struct auth_policy *p, struct auth_user *user, void *ctx,
                                  const char **error_r)
{
	bool enabled = *(const bool *)ctx;
	int rc;

	user->enabled = enabled;
	rc = p->module->user_put(p->store, user, error_r);
	if (rc >= 0 && enabled)
		rc = policy_user_forget_failures(p, user->name, error_r);
	if (rc >= 0 && enabled)
		rc = p->module->stolen_clear(p->store, user->id, error_r);
	return rc;
}

static int admin_set_enabled(struct auth_policy *p, const char *name, bool enabled,
                             const char **error_r)
{
	return admin_user_call(p, name, admin_set_enabled_call, &enabled, error_r) < 0 ? -1 : 0;
}

int admin_user_lock(struct auth_policy *p, const char *name, const char **error_r)
{
	return admin_set_enabled(p, name, false, error_r);
}

int admin_user_unlock(struct auth_policy *p, const char *name, const char **error_r)
{
	return admin_set_enabled(p, name, true, error_r);
}

struct admin_names {
	char **names;
	size_t count;
};

static void admin_collect_name(const struct auth_user *user, void *ctx)
{
	struct admin_names *n = ctx;

	n->names = xreallocarray(n->names, n->count + 1, sizeof(*n->names));
	n->names[n->count++] = xstrdup(user->name);
}

struct admin_apppass_count {
	unsigned active;
	time_t now;
};

static void admin_count_apppass(const struct auth_apppass *ap, void *ctx)
{
	struct admin_apppass_count *c = ctx;

	if (ap->expires == 0 || ap->expires > c->now)
		c->active++;
}

void admin_count_key(const struct auth_webauthn *k, void *ctx)
{
	(*(unsigned *)ctx)++;
}

static int admin_user_info(struct auth_policy *p, const struct auth_user *user,
                           struct admin_user_info *info, const char **err)
{
	const struct auth_module *m = p->module;
	struct admin_apppass_count apc = {.now = time(NULL)};
	unsigned char *blob = NULL;
	size_t len;
	int rc;

	struct policy_user_state st;

	memset(info, 0, sizeof(*info));
	if (policy_user_state(p, user->name, apc.now, &st, err) < 0)
		return -1;
	info->name = user->name;
	info->enabled = user->enabled;
	info->locked_until = st.locked_until;
	info->unfamiliar_locked_until = st.unfamiliar_locked_until;
	info->failures = st.failures;
	info->stolen_password_signs = user->stolen_signs;
	info->last_login = user->last_login;
	rc = m->factor_get(p->store, user->id, FACTOR_KIND_TOTP, false, &blob, &len, err);
	free(blob);
	if (rc < 0)
		return -1;
	info->has_totp = rc == 1;
	if (m->apppass_list(p->store, user->id, admin_count_apppass, &apc, err) < 0 ||
	    m->yubikey_count(p->store, user->id, &info->yubikeys, err) < 0 ||
	    m->recovery_count(p->store, user->id, &info->recovery_left, err) < 0 ||
	    m->webauthn_list(p->store, user->id, admin_count_key, &info->keys, err) < 0)
		return -1;
	info->apppasses = apc.active;
	return 0;
}

static int admin_list_one(struct auth_policy *p, const char *name,
                          void (*cb)(const struct admin_user_info *, void *), void *ctx,
                          const char **err)
{
	struct auth_user user;
	struct admin_user_info info;
	int rc = p->module->user_get(p->store, name, &user, err);

	if (rc <= 0)
		return rc; /* deleted meanwhile: skip */
	rc = admin_user_info(p, &user, &info, err);
	if (rc == 0)
		cb(&info, ctx);
	auth_user_clear(&user);
	return rc;
}

int admin_user_list(struct auth_policy *p, void (*cb)(const struct admin_user_info *, void *),
                    void *ctx, const char **error_r)
{
	struct admin_names names = {0};
	const char *err = NULL;
	int rc = p->module->user_list(p->store, admin_collect_name, &names, &err);

	for (size_t i = 0; i < names.count; i++) {
		if (rc >= 0)
			rc = admin_list_one(p, names.names[i], cb, ctx, &err);
		free(names.names[i]);
	}
	free(names.names);
	return rc < 0 ? admin_store_error(p, err, error_r) : 0;
}

int admin_user_show(struct auth_policy *p, const char *name,
                    void (*cb)(const struct admin_user_info *, void *), void *ctx,
                    const char **error_r)
{
	struct auth_user user;
	struct admin_user_info info;
	const char *err = NULL;
	int rc;

	if (admin_get_user(p, name, &user, error_r) < 0)
		return -1;
	rc = admin_user_info(p, &user, &info, &err);
	if (rc == 0)
		cb(&info, ctx);
	auth_user_clear(&user);
	return rc < 0 ? admin_store_error(p, err, error_r) : 0;
}

/* ---- TOTP ---- */

static int admin_totp_activate(struct auth_policy *p, int64_t user_id, const unsigned char *blob,
                               size_t len, const char **err)
{
	const struct auth_module *m = p->module;

	if (m->factor_put(p->store, user_id, FACTOR_KIND_TOTP, false, blob, len, err) < 0 ||
	    m->factor_del(p->store, user_id, FACTOR_KIND_TOTP, true, err) < 0 ||
	    m->grace_clear(p->store, user_id, err) < 0)
		return -1;
	return 0;
}

int admin_totp_enroll(struct auth_policy *p, const char *name, bool need_confirm, char **uri_r,
                      const char **error_r)
{
	unsigned char seed[TOTP_SEED_LEN], *blob;
	struct auth_user user;
	const char *err = NULL;
	size_t len;
	int rc;

	*uri_r = NULL;
	if (admin_get_user(p, name, &user, error_r) < 0)
		return -1;
	randombytes_buf(seed, sizeof(seed));
	totp_seed_seal(&p->keys, seed, sizeof(seed), &blob, &len);
	if (need_confirm)
		rc = p->module->factor_put(p->store, user.id, FACTOR_KIND_TOTP, true, blob, len,
		                           &err);
	else
		rc = admin_totp_activate(p, user.id, blob, len, &err);
	free(blob);
	if (rc >= 0)
		*uri_r = totp_uri(p->cfg->auth_issuer, user.name, seed, sizeof(seed),
		                  p->cfg->totp_digits, p->cfg->totp_period);
	sodium_memzero(seed, sizeof(seed));
	auth_user_clear(&user);
	return rc < 0 ? admin_store_error(p, err, error_r) : 0;
}

/* 1: code right and not used before; 0: wrong or replayed (error set); -1 store error. */
static int admin_totp_check_pending(struct auth_policy *p, const struct auth_user *user,
                                    const unsigned char *blob, size_t len, const char *code,
                                    time_t now, const char **error_r)
{
	unsigned char *seed;
	size_t seed_len;
	int64_t step;
	int rc;

	if (totp_seed_open(&p->keys, blob, len, &seed, &seed_len) != 1) {
		*error_r = "the pending TOTP seed does not open with the server key";
		return -1;
	}
	rc = code != NULL ? totp_check(seed, seed_len, code, strlen(code), now, p->cfg->totp_period,
	                               p->cfg->totp_window, &step)
	                  : 0;
	xfree_secret(seed, seed_len);
	if (rc == 0) {
		*error_r = "wrong code";
		return 0;
	}
	rc = p->module->replay_check_and_set(p->store, user->id, step, error_r);
	if (rc == 0)
		*error_r = "code already used: wait for the next one";
	return rc;
}

int admin_totp_confirm(struct auth_policy *p, const char *name, const char *code, time_t now,
                       const char **error_r)
{
	struct auth_user user;
	const char *err = NULL;
	unsigned char *blob = NULL;
	size_t len = 0;
	int rc;

	if (admin_get_user(p, name, &user, error_r) < 0)
		return -1;
	rc = p->module->factor_get(p->store, user.id, FACTOR_KIND_TOTP, true, &blob, &len, &err);
	if (rc == 0) {
		auth_user_clear(&user);
		return admin_fail(p, error_r, "no pending TOTP enrolment for '%s'", name);
	}
	if (rc > 0)
		rc = admin_totp_check_pending(p, &user, blob, len, code, now, &err);
	if (rc > 0 && admin_totp_activate(p, user.id, blob, len, &err) < 0)
		rc = -1;
	free(blob);
	auth_user_clear(&user);
	return rc <= 0 ? admin_store_error(p, err, error_r) : 0;
}

int admin_totp_remove(struct auth_policy *p, const char *name, const char **error_r)
{
	const struct auth_module *m = p->module;
	struct auth_user user;
	const char *err = NULL;
	int active, pending = -1;

	if (admin_get_user(p, name, &user, error_r) < 0)
		return -1;
	active = m->factor_del(p->store, user.id, FACTOR_KIND_TOTP, false, &err);
	if (active >= 0)
		pending = m->factor_del(p->store, user.id, FACTOR_KIND_TOTP, true, &err);
	if (pending >= 0 && m->grace_clear(p->store, user.id, &err) < 0)
		pending = -1;
	auth_user_clear(&user);
	if (active < 0 || pending < 0)
		return admin_store_error(p, err, error_r);
	if (active == 0 && pending == 0)
		return admin_fail(p, error_r, "user '%s' has no TOTP enrolled", name);
	return 0;
}

/* ---- app passwords ---- */

static int admin_apppass_args(const char *label, const char *proto, unsigned expires_days,
                              const char **error_r)
{
	if (strcmp(proto, "imap") != 0 && strcmp(proto, "pop3") != 0 && strcmp(proto, "all") != 0) {
		*error_r = "bad protocol (use imap, pop3 or all)";
		return -1;
	}
	if (label[0] != '\0' && !text_is_sane(label, strlen(label), ADMIN_LABEL_MAX)) {
		*error_r = "bad label (at most 64 printable characters)";
		return -1;
	}
	if (expires_days > ADMIN_APPPASS_MAXDAY) {
		*error_r = "expiry too far in the future";
		return -1;
	}
	return 0;
}

int admin_apppass_add(struct auth_policy *p, const char *name, const char *label, const char *proto,
                      unsigned expires_days, char **password_r, int64_t *id_r, const char **error_r)
{
	struct auth_apppass ap = {0};
	struct auth_user user;
	char norm[APPPASS_CHARS + 1], *password;
	const char *err = NULL;

	*password_r = NULL;
	label = label != NULL ? label : "";
	proto = proto != NULL ? proto : "all";
	if (admin_apppass_args(label, proto, expires_days, error_r) < 0 ||
	    admin_get_user(p, name, &user, error_r) < 0)
		return -1;
	password = apppass_generate();
	if (apppass_normalize(password, strlen(password), norm) != 1)
		abort(); /* our own generator: cannot happen */
	apppass_hash(&p->keys, norm, ap.hash);
	sodium_memzero(norm, sizeof(norm));
	ap.user_id = user.id;
	ap.label = (char *)label;
	ap.proto = (char *)proto;
	ap.created = time(NULL);
	ap.expires = expires_days == 0 ? 0 : ap.created + (time_t)expires_days * 86400;
	auth_user_clear(&user);
	if (p->module->apppass_add(p->store, &ap, id_r, &err) < 0) {
		xfree_secret_str(&password);
		return admin_store_error(p, err, error_r);
	}
	*password_r = password;
	return 0;
}

struct admin_apppass_cb {
	void (*cb)(const struct admin_apppass_info *, void *);
	void *ctx;
};

static void admin_apppass_one(const struct auth_apppass *ap, void *ctx)
{
	struct admin_apppass_cb *c = ctx;
	struct admin_apppass_info info = {
	    .id = ap->id,
	    .label = ap->label,
	    .proto = ap->proto,
	    .created = ap->created,
	    .expires = ap->expires,
	    .last_used = ap->last_used,
	    .last_ip = ap->last_ip,
	};

	c->cb(&info, c->ctx);
}

static int admin_apppass_list_call(struct auth_policy *p, struct auth_user *user, void *ctx,
                                   const char **error_r)
{
	return p->module->apppass_list(p->store, user->id, admin_apppass_one, ctx, error_r);
}

int admin_apppass_list(struct auth_policy *p, const char *name,
                       void (*cb)(const struct admin_apppass_info *, void *), void *ctx,
                       const char **error_r)
{
	struct admin_apppass_cb c = {.cb = cb, .ctx = ctx};

	return admin_user_call(p, name, admin_apppass_list_call, &c, error_r) < 0 ? -1 : 0;
}

static int admin_apppass_revoke_call(struct auth_policy *p, struct auth_user *user, void *ctx,
                                     const char **error_r)
{
	return p->module->apppass_revoke(p->store, user->id, *(const int64_t *)ctx, error_r);
}

int admin_apppass_revoke(struct auth_policy *p, const char *name, int64_t id, const char **error_r)
{
	int rc = admin_user_call(p, name, admin_apppass_revoke_call, &id, error_r);

	if (rc == 0)
		return admin_fail(p, error_r, "no app password with that id for '%s'", name);
	return rc < 0 ? -1 : 0;
}

/* ---- YubiKeys ---- */

/* Lower-cases s into out (size len + 1) when it is exactly len characters of alphabet. */
static bool admin_fold(const char *s, size_t len, const char *alphabet, char *out)
{
	if (s == NULL || strnlen(s, len + 1) != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		out[i] = (char)tolower((unsigned char)s[i]);
		if (strchr(alphabet, out[i]) == NULL)
			return false;
	}
	out[len] = '\0';
	return true;
}

static int admin_yubikey_values(const char *aes_key, const char *private_id, const char *public_id,
                                struct admin_yubikey_secrets *v, const char **error_r)
{
	static const char hex[] = "0123456789abcdef";

	if (!admin_fold(aes_key, 32, hex, v->aes_key))
		*error_r = "the AES key must be 32 hex digits";
	else if (!admin_fold(private_id, 12, hex, v->private_id))
		*error_r = "the private id must be 12 hex digits";
	else if (!admin_fold(public_id, YUBIKEY_PUBLIC_ID_LEN, YUBIKEY_MODHEX_MAP, v->public_id))
		*error_r = "the public id must be 12 modhex characters (cbdefghijklnrtuv)";
	else
		return 0;
	sodium_memzero(v, sizeof(*v));
	return -1;
}

bool admin_yubikey_values_valid(const char *aes_key, const char *private_id, const char *public_id,
                                const char **error_r)
{
	struct admin_yubikey_secrets v;
	int rc = admin_yubikey_values(aes_key, private_id, public_id, &v, error_r);

	sodium_memzero(&v, sizeof(v));
	return rc == 0;
}

/* Seals the AES key and the private id the way yubikey_otp_decrypt reads them. */
static void admin_yubikey_seal(struct auth_policy *p, const struct admin_yubikey_secrets *v,
                               struct auth_yubikey *yk)
{
	unsigned char secret[YUBIKEY_SECRET_LEN];

	yubikey_hex_decode((char *)secret, v->aes_key, YUBIKEY_AES_KEY_LEN);
	yubikey_hex_decode((char *)secret + YUBIKEY_AES_KEY_LEN, v->private_id,
	                   YUBIKEY_PRIVATE_ID_LEN);
	totp_seed_seal(&p->keys, secret, sizeof(secret), &yk->sealed, &yk->sealed_len);
	sodium_memzero(secret, sizeof(secret));
}

static int admin_yubikey_store(struct auth_policy *p, const char *name,
                               const struct admin_yubikey_secrets *v, const char **error_r)
{
	struct auth_yubikey yk = {0};
	struct auth_user user;
	const char *err = NULL;
	int rc;

	if (admin_get_user(p, name, &user, error_r) < 0)
		return -1;
	yk.user_id = user.id;
	snprintf(yk.public_id, sizeof(yk.public_id), "%s", v->public_id);
	yk.created = time(NULL);
	admin_yubikey_seal(p, v, &yk);
	rc = p->module->yubikey_add(p->store, &yk, &err);
	auth_yubikey_clear(&yk);
	auth_user_clear(&user);
	if (rc < 0)
		return admin_store_error(p, err, error_r);
	if (rc == 0)
		return admin_fail(p, error_r, "that YubiKey (public id %s) is enrolled already",
		                  v->public_id);
	return 0;
}

int admin_yubikey_add(struct auth_policy *p, const char *name, const char *aes_key,
                      const char *private_id, const char *public_id, const char **error_r)
{
	struct admin_yubikey_secrets v;
	int rc;

	if (admin_yubikey_values(aes_key, private_id, public_id, &v, error_r) < 0)
		return -1;
	rc = admin_yubikey_store(p, name, &v, error_r);
	sodium_memzero(&v, sizeof(v));
	return rc;
}

int admin_yubikey_generate(struct auth_policy *p, const char *name,
                           struct admin_yubikey_secrets *secrets_r, const char **error_r)
{
	unsigned char aes[YUBIKEY_AES_KEY_LEN], priv[YUBIKEY_PRIVATE_ID_LEN], pub[5];

	randombytes_buf(aes, sizeof(aes));
	randombytes_buf(priv, sizeof(priv));
	randombytes_buf(pub, sizeof(pub));
	yubikey_hex_encode(secrets_r->aes_key, (const char *)aes, sizeof(aes));
	yubikey_hex_encode(secrets_r->private_id, (const char *)priv, sizeof(priv));
	memcpy(secrets_r->public_id, "vv", 2);
	yubikey_modhex_encode(secrets_r->public_id + 2, (const char *)pub, sizeof(pub));
	sodium_memzero(aes, sizeof(aes));
	sodium_memzero(priv, sizeof(priv));
	if (admin_yubikey_store(p, name, secrets_r, error_r) < 0) {
		sodium_memzero(secrets_r, sizeof(*secrets_r));
		return -1;
	}
	return 0;
}

struct admin_yubikey_cb {
	void (*cb)(const struct admin_yubikey_info *, void *);
	void *ctx;
};

static void admin_yubikey_one(const struct auth_yubikey *yk, void *ctx)
{
	struct admin_yubikey_cb *c = ctx;
	struct admin_yubikey_info info = {
	    .public_id = yk->public_id,
	    .created = yk->created,
	    .last_used = yk->last_used,
	};

	c->cb(&info, c->ctx);
}

static int admin_yubikey_list_call(struct auth_policy *p, struct auth_user *user, void *ctx,
                                   const char **error_r)
{
	return p->module->yubikey_list(p->store, user->id, admin_yubikey_one, ctx, error_r);
}

int admin_yubikey_list(struct auth_policy *p, const char *name,
                       void (*cb)(const struct admin_yubikey_info *, void *), void *ctx,
                       const char **error_r)
{
	struct admin_yubikey_cb c = {.cb = cb, .ctx = ctx};

	return admin_user_call(p, name, admin_yubikey_list_call, &c, error_r) < 0 ? -1 : 0;
}

int admin_yubikey_remove(struct auth_policy *p, const char *name, const char *public_id,
                         const char **error_r)
{
	char folded[YUBIKEY_PUBLIC_ID_LEN + 1];
	struct auth_user user;
	const char *err = NULL;
	int rc;

	if (!admin_fold(public_id, YUBIKEY_PUBLIC_ID_LEN, YUBIKEY_MODHEX_MAP, folded)) {
		*error_r = "the public id must be 12 modhex characters (cbdefghijklnrtuv)";
		return -1;
	}
	if (admin_get_user(p, name, &user, error_r) < 0)
		return -1;
	rc = p->module->yubikey_remove(p->store, user.id, folded, &err);
	if (rc > 0)
		rc = p->module->grace_clear(p->store, user.id, &err);
	auth_user_clear(&user);
	if (rc < 0)
		return admin_store_error(p, err, error_r);
	if (rc == 0)
		return admin_fail(p, error_r, "no YubiKey with public id %s for that user", folded);
	return 0;
}

/* ---- recovery codes ---- */

void admin_codes_free(char ***codes, unsigned count)
{
	if (*codes == NULL)
		return;
	for (unsigned i = 0; i < count; i++)
		xfree_secret_str(&(*codes)[i]);
	free(*codes);
	*codes = NULL;
}

int admin_recovery_new(struct auth_policy *p, const char *name, unsigned count, char ***codes_r,
                       const char **error_r)
{
	unsigned char(*hashes)[AUTH_HASH_LEN];
	struct auth_user user;
	const char *err = NULL;
	char **codes;
	int rc;

	*codes_r = NULL;
	if (count == 0 || count > ADMIN_RECOVERY_MAX) {
		*error_r = "number of recovery codes must be 1..100";
		return -1;
	}
	if (admin_get_user(p, name, &user, error_r) < 0)
		return -1;
	codes = xcalloc(count, sizeof(*codes));
	hashes = xcalloc(count, sizeof(*hashes));
	for (unsigned i = 0; i < count; i++) {
		codes[i] = recovery_code_generate();
		recovery_code_hash(&p->keys, user.id, codes[i], strlen(codes[i]), hashes[i]);
	}
	rc = p->module->recovery_replace(
	    p->store, user.id, (const unsigned char(*)[AUTH_HASH_LEN])hashes, count, &err);
	free(hashes);
	auth_user_clear(&user);
	if (rc < 0) {
		admin_codes_free(&codes, count);
		return admin_store_error(p, err, error_r);
	}
	*codes_r = codes;
	return 0;
}

/* ---- the login log ---- */

int admin_log(struct auth_policy *p, const char *name, unsigned limit,
              void (*cb)(const struct admin_log_entry *, void *), void *ctx, const char **error_r)
{
	const char *err = NULL;

	if (p->module->audit_list(p->store, name, limit, cb, ctx, &err) < 0)
		return admin_store_error(p, err, error_r);
	return 0;
}
