#include "common/config.h"
#include "common/text.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum config_type {
	CT_STRING, CT_UINT, CT_U64, CT_SIZE, CT_BOOL, CT_LISTEN, CT_FACTOR, CT_ORIGIN, CT_MAILDIR,
	CT_HOST, CT_HOSTPORT, CT_LOGIN
};

struct config_key {
	const char *section, *name;
	enum config_type type;
	size_t offset;
	uint64_t min, max; /* for numbers */
};

#define OFF(field) offsetof(struct config, field)
static const struct config_key config_keys[] = {
    {"server", "user", CT_STRING, OFF(user), 0, 0},
    {"server", "auth_user", CT_STRING, OFF(auth_user), 0, 0},
    {"server", "state_dir", CT_STRING, OFF(state_dir), 0, 0},
    {"server", "chroot", CT_STRING, OFF(chroot_dir), 0, 0},
    {"server", "control", CT_STRING, OFF(control_socket), 0, 0},
    {"server", "min_spare", CT_UINT, OFF(min_spare), 0, 1024},
    {"server", "max_spare", CT_UINT, OFF(max_spare), 1, 1024},
    {"server", "max_workers", CT_UINT, OFF(max_workers), 1, 65536},
    {"server", "sessions_per_worker", CT_UINT, OFF(sessions_per_worker), 1, 1000000},
    {"server", "max_prelogin_per_ip", CT_UINT, OFF(max_prelogin_per_ip), 1, 65536},
    {"server", "max_sessions_per_ip", CT_UINT, OFF(max_sessions_per_ip), 1, 65536},
    {"server", "auth_processes", CT_UINT, OFF(auth_processes), 0, 256},
    {"server", "handshake_timeout", CT_UINT, OFF(handshake_timeout), 1, 3600},
    {"server", "login_timeout", CT_UINT, OFF(login_timeout), 1, 3600},
    {"server", "idle_timeout", CT_UINT, OFF(idle_timeout), 60, 86400},
    {"server", "debug", CT_BOOL, OFF(debug), 0, 0},
    {"tls", "cert", CT_STRING, OFF(tls_cert), 0, 0},
    {"tls", "key", CT_STRING, OFF(tls_key), 0, 0},
    {"tls", "priority", CT_STRING, OFF(tls_priority), 0, 0},
    {"tls", "key_process", CT_BOOL, OFF(tls_key_process), 0, 0},
    {"tls", "ticket_lifetime", CT_UINT, OFF(tls_ticket_lifetime), 1, 7 * 86400},
    {"imap", "listen", CT_LISTEN, OFF(imap_listen), 0, 0},
    {"imap", "idle_keepalive", CT_UINT, OFF(imap_idle_keepalive), 10, 29 * 60},
    {"imap", "append_limit", CT_U64, OFF(imap_append_limit), 1024, UINT64_C(1) << 32},
    {"pop3", "listen", CT_LISTEN, OFF(pop3_listen), 0, 0},
    {"pop3", "delete_retrieved", CT_BOOL, OFF(pop3_delete_retrieved), 0, 0},
    {"auth", "module", CT_STRING, OFF(auth_module), 0, 0},
    {"auth", "database", CT_STRING, OFF(auth_database), 0, 0},
    {"auth", "key_file", CT_STRING, OFF(auth_key_file), 0, 0},
    {"auth", "issuer", CT_STRING, OFF(auth_issuer), 0, 0},
    {"auth", "second_factor", CT_FACTOR, OFF(second_factor), 0, 0},
    {"auth", "totp_window", CT_UINT, OFF(totp_window), 0, 10},
    {"auth", "totp_digits", CT_UINT, OFF(totp_digits), 6, 8},
    {"auth", "totp_period", CT_UINT, OFF(totp_period), 15, 120},
    {"auth", "mfa_grace", CT_UINT, OFF(mfa_grace), 0, 30 * 86400},
    {"auth", "max_failures", CT_UINT, OFF(max_failures), 1, 1000},
    {"auth", "lockout", CT_UINT, OFF(lockout), 1, 30 * 86400},
    {"auth", "lockout_max", CT_UINT, OFF(lockout_max), 1, 365 * 86400},
    {"auth", "failure_delay", CT_UINT, OFF(failure_delay), 0, 60000},
    {"auth", "failure_delay_max", CT_UINT, OFF(failure_delay_max), 0, 300000},
    {"auth", "busy_timeout", CT_UINT, OFF(auth_busy_timeout), 100, 60000},
    {"auth", "familiar_days", CT_UINT, OFF(familiar_days), 1, 365},
    {"auth", "approval_wait", CT_UINT, OFF(approval_wait), 1, 600},
    {"auth", "approval_rate", CT_UINT, OFF(approval_rate), 1, 1000},
    {"auth", "preapprove_max", CT_UINT, OFF(preapprove_max), 0, 24 * 60},
    {"auth", "pwhash_opslimit", CT_U64, OFF(pwhash_opslimit), 1, 1000},
    {"auth", "pwhash_memlimit", CT_SIZE, OFF(pwhash_memlimit), 8192, UINT64_C(4) << 30},
    {"storage", "maildir", CT_MAILDIR, OFF(maildir), 0, 0},
    {"portal", "listen", CT_LISTEN, OFF(portal_listen), 0, 1},
    {"portal", "origin", CT_ORIGIN, OFF(portal_origin), 0, 0},
    {"portal", "session_lifetime", CT_UINT, OFF(portal_session_lifetime), 60, 7 * 86400},
    {"clients", "host", CT_HOST, OFF(clients_host), 0, 0},
    {"clients", "submission", CT_HOSTPORT, OFF(clients_submission), 0, 0},
    {"clients", "login", CT_LOGIN, OFF(clients_localpart), 0, 0},
};

#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

struct config_parse {
	struct config *cfg;
	const char *path;
	FILE *fp;
	unsigned line;                   /* line most recently read */
	unsigned section_line;           /* line of the latest [section] header */
	unsigned key_line[CONFIG_NKEYS]; /* of config_keys[i] where the file sets it, else 0 */
	char *error;
};

static void config_set_defaults(struct config *cfg)
{
	cfg->state_dir = xstrdup("/var/lib/twofold");
	cfg->auth_user = xstrdup("twofold-auth");
	cfg->control_socket = xstrdup("/run/twofold/control");
	cfg->min_spare = 2;
	cfg->max_spare = 8;
	/* A household behind one address: a dozen phones, tablets and desktops with a few IMAP
	 * connections each (IDLE on INBOX and more) stay logged in together, and reconnect at
	 * once after a network change. An idle session costs a few hundred KiB (README). */
	cfg->max_workers = 256;
	cfg->max_prelogin_per_ip = 32;
	cfg->max_sessions_per_ip = 64;
	cfg->sessions_per_worker = 100;
	cfg->handshake_timeout = 30;
	cfg->login_timeout = 60;
	cfg->idle_timeout = 600;
	/* AEAD suites with forward secrecy only: no CBC (padding oracles, SHA-1 MACs), no static
	 * RSA key exchange. Every client of the last decade offers one of these three. */
	cfg->tls_priority = xstrdup(CONFIG_TLS_PRIORITY_DEFAULT);
	cfg->tls_ticket_lifetime = 12 * 3600;
	cfg->tls_key_process = true;
	cfg->imap_idle_keepalive = 2 * 60;
	cfg->imap_append_limit = 64 * 1024 * 1024;
	cfg->auth_module = xstrdup("sqlite");
	cfg->auth_issuer = xstrdup("twofold");
	cfg->second_factor = SECOND_FACTOR_REQUIRED;
	cfg->totp_window = 1;
	cfg->totp_digits = 6;
	cfg->totp_period = 30;
	cfg->mfa_grace = 8 * 3600;
	cfg->max_failures = 10;
	cfg->lockout = 900;
	cfg->lockout_max = 86400;
	cfg->failure_delay = 2000;
	cfg->failure_delay_max = 15000;
	cfg->auth_busy_timeout = 10000;
	cfg->familiar_days = 30;
	cfg->approval_wait = 60;
	cfg->approval_rate = 10;
	cfg->preapprove_max = 60;
	cfg->pwhash_opslimit = 2;        /* crypto_pwhash_OPSLIMIT_INTERACTIVE */
	cfg->pwhash_memlimit = 67108864; /* crypto_pwhash_MEMLIMIT_INTERACTIVE */
	cfg->portal_session_lifetime = 3600;
}

/* max: how many addresses the key takes (0 = CONFIG_MAX_LISTEN). */
static int config_parse_listen(struct config_listen *l, const char *value, size_t max,
                               const char **err)
{
	char *copy = xstrdup(value), *save = NULL;

	for (size_t i = 0; i < l->count; i++)
		xfree(&l->addrs[i]);
	l->count = 0;
	for (char *tok = strtok_r(copy, " \t,", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t,", &save)) {
		char *colon = strrchr(tok, ':');
		char *end;
		unsigned long port;

		if (l->count == (max > 0 ? max : CONFIG_MAX_LISTEN)) {
			*err = max == 1 ? "one listen address only" : "too many listen addresses";
			goto fail;
		}
		if (colon == NULL || colon == tok) {
			*err = "listen address must be ADDR:PORT or [V6]:PORT";
			goto fail;
		}
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (errno != 0 || *end != '\0' || port == 0 || port > 65535 || colon[1] == '\0') {
			*err = "bad port in listen address";
			goto fail;
		}
		if (tok[0] == '[' && colon[-1] != ']') {
			*err = "IPv6 listen address must be [ADDR]:PORT";
			goto fail;
		}
		l->addrs[l->count++] = xstrdup(tok);
	}
	free(copy);
	return 0;
fail:
	free(copy);
	return -1;
}

static int config_parse_number(const struct config_key *k, const char *value, uint64_t *out,
                               const char **err)
{
	char *end;
	unsigned long long v;

	if (value[0] == '-' || value[0] == '\0') {
		*err = "expected a non-negative number";
		return -1;
	}
	errno = 0;
	v = strtoull(value, &end, 10);
	if (errno != 0 || *end != '\0') {
		*err = "expected a number";
		return -1;
	}
	if (v < k->min || v > k->max) {
		*err = "number out of range";
		return -1;
	}
	*out = v;
	return 0;
}

static bool config_port_ok(const char *s)
{
	char *end;
	unsigned long port;

	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	port = strtoul(s, &end, 10);
	return errno == 0 && *end == '\0' && port > 0 && port <= 65535;
}

bool config_hostname_ok(const char *host, size_t len)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-";

	if (len == 0 || len > 253 || host[0] == '.' || host[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (host[i] == '\0' || strchr(set, host[i]) == NULL)
			return false;
	return true;
}

char *config_origin_host(const char *origin)
{
	const char *host;
	size_t len;

	if (strncmp(origin, "https://", 8) != 0)
		return NULL;
	host = origin + 8;
	len = strcspn(host, ":");
	/* a DNS name: an IPv6 literal is not a valid WebAuthn RP ID */
	if (!config_hostname_ok(host, len))
		return NULL;
	if (host[len] == ':' && !config_port_ok(host + len + 1))
		return NULL;
	return xstrndup(host, len);
}

/* The portal's origin is what browsers bind WebAuthn credentials and cookies to: https only,
 * a host and an optional port, nothing after (no path, no trailing slash). Kept as browsers
 * write it (host in lower case, no ":443"), for the byte-exact compares WebAuthn asks for. */
static int config_set_origin(char **field, const char *value, const char **err)
{
	char *host = config_origin_host(value);
	const char *port;

	if (host == NULL) {
		*err = "expected https://HOST or https://HOST:PORT";
		return -1;
	}
	for (char *c = host; *c != '\0'; c++)
		*c = (char)tolower((unsigned char)*c);
	port = value + 8 + strlen(host);
	free(*field);
	*field = strcmp(port, ":443") == 0 ? xasprintf("https://%s", host)
	                                   : xasprintf("https://%s%s", host, port);
	free(host);
	return 0;
}

/* A name mail programs connect to (written into the files they fetch): a DNS name, stored in
 * lower case; with CT_HOSTPORT a port after it. */
static int config_set_host(char **field, const char *value, bool port, const char **err)
{
	size_t len = strcspn(value, ":");
	char *copy;

	if (!config_hostname_ok(value, len) || (!port && value[len] != '\0') ||
	    (port && (value[len] != ':' || !config_port_ok(value + len + 1)))) {
		*err = port ? "expected HOST:PORT with a DNS name" : "expected a DNS name";
		return -1;
	}
	copy = xstrdup(value);
	for (char *c = copy; c < copy + len; c++)
		*c = (char)tolower((unsigned char)*c);
	free(*field);
	*field = copy;
	return 0;
}

static int config_set_number(const struct config_key *k, void *field, const char *value,
                             const char **err)
{
	uint64_t num;

	if (config_parse_number(k, value, &num, err) < 0)
		return -1;
	if (k->type == CT_UINT)
		*(unsigned *)field = (unsigned)num;
	else if (k->type == CT_U64)
		*(uint64_t *)field = num;
	else
		*(size_t *)field = (size_t)num;
	return 0;
}

static int config_set_bool(bool *field, const char *value, const char **err)
{
	if (strcasecmp(value, "yes") == 0 || strcasecmp(value, "true") == 0 ||
	    strcmp(value, "1") == 0)
		*field = true;
	else if (strcasecmp(value, "no") == 0 || strcasecmp(value, "false") == 0 ||
	         strcmp(value, "0") == 0)
		*field = false;
	else {
		*err = "expected yes or no";
		return -1;
	}
	return 0;
}

static int config_set(struct config *cfg, const struct config_key *k, const char *value,
                      const char **err)
{
	void *field = (char *)cfg + k->offset;

	switch (k->type) {
	case CT_MAILDIR:
		if (config_maildir_template_check(value, err) < 0)
			return -1;
		/* fall through */
	case CT_STRING:
		if (value[0] == '\0') {
			*err = "empty value";
			return -1;
		}
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return 0;
	case CT_UINT:
	case CT_U64:
	case CT_SIZE:
		return config_set_number(k, field, value, err);
	case CT_BOOL:
		return config_set_bool(field, value, err);
	case CT_LISTEN:
		return config_parse_listen(field, value, (size_t)k->max, err);
	case CT_ORIGIN:
		return config_set_origin(field, value, err);
	case CT_HOST:
	case CT_HOSTPORT:
		return config_set_host(field, value, k->type == CT_HOSTPORT, err);
	case CT_LOGIN:
		if (strcmp(value, "address") != 0 && strcmp(value, "localpart") != 0) {
			*err = "expected address or localpart";
			return -1;
		}
		*(bool *)field = strcmp(value, "localpart") == 0;
		return 0;
	case CT_FACTOR:
		if (strcmp(value, "required") == 0)
			cfg->second_factor = SECOND_FACTOR_REQUIRED;
		else if (strcmp(value, "optional") == 0)
			cfg->second_factor = SECOND_FACTOR_OPTIONAL;
		else {
			*err = "expected required or optional";
			return -1;
		}
		return 0;
	}
	return -1;
}

static bool config_known_section(const char *section)
{
	for (size_t i = 0; i < sizeof(config_keys) / sizeof(config_keys[0]); i++)
		if (strcmp(config_keys[i].section, section) == 0)
			return true;
	return false;
}

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct config_parse *p = user;
	const char *err = NULL;

	if (p->error != NULL) /* libinih goes on after an error: report only the first */
		return 0;
	if (!config_known_section(section)) {
		p->error =
		    xasprintf("%s:%u: unknown section [%s]", p->path, p->section_line, section);
		return 0;
	}
	if (name == NULL) /* section header alone (INI_CALL_HANDLER_ON_NEW_SECTION builds) */
		return 1;
	if (!text_is_utf8(value, strlen(value))) {
		p->error = xasprintf("%s:%u: value is not valid UTF-8", p->path, p->line);
		return 0;
	}
	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		const struct config_key *k = &config_keys[i];

		if (strcmp(k->section, section) != 0 || strcmp(k->name, name) != 0)
			continue;
		if (config_set(p->cfg, k, value, &err) < 0) {
			p->error = xasprintf("%s:%u: [%s] %s: %s: '%s'", p->path, p->line, section,
			                     name, err, value);
			return 0;
		}
		p->key_line[i] = p->line;
		return 1;
	}
	p->error = xasprintf("%s:%u: unknown key '%s' in [%s]", p->path, p->line, name, section);
	return 0;
}

/* fgets that counts lines, so the handler knows where it is. */
static char *config_reader(char *str, int num, void *stream)
{
	struct config_parse *p = stream;
	char *r = fgets(str, num, p->fp);

	if (r != NULL) {
		const char *t = r + strspn(r, " \t");

		p->line++;
		if (*t == '[')
			p->section_line = p->line;
	}
	return r;
}

/* For a check across keys: the line of the first of the keys named ("section key", NULL-ended)
 * that the file sets, so the message points at a key it is about, not at the file's end. */
static unsigned config_check_line(const struct config_parse *p, const char *const *keys)
{
	for (; *keys != NULL; keys++)
		for (size_t i = 0; i < CONFIG_NKEYS; i++) {
			const struct config_key *k = &config_keys[i];
			size_t len = strlen(k->section);

			if (p->key_line[i] != 0 && strncmp(*keys, k->section, len) == 0 &&
			    (*keys)[len] == ' ' && strcmp(*keys + len + 1, k->name) == 0)
				return p->key_line[i];
		}
	return 0;
}

static void config_check_failed(struct config_parse *p, const char *const *keys, const char *what)
{
	p->error = xasprintf("%s:%u: %s", p->path, config_check_line(p, keys), what);
}

static int config_check(struct config_parse *p)
{
	static const char *const listen_keys[] = {"imap listen", "pop3 listen", "portal listen",
	                                          NULL};
	static const char *const spare_keys[] = {"server min_spare", "server max_spare", NULL};
	static const char *const lockout_keys[] = {"auth lockout", "auth lockout_max", NULL};
	static const char *const delay_keys[] = {"auth failure_delay", "auth failure_delay_max",
	                                         NULL};
	struct config *cfg = p->cfg;

	if (cfg->imap_listen.count + cfg->pop3_listen.count + cfg->portal_listen.count > 0 &&
	    (cfg->tls_cert == NULL || cfg->tls_key == NULL)) {
		config_check_failed(p, listen_keys,
		                    "[tls] cert and key are required when a listen address is set");
		return -1;
	}
	if (cfg->min_spare > cfg->max_spare) {
		config_check_failed(p, spare_keys, "[server] min_spare is greater than max_spare");
		return -1;
	}
	if (cfg->lockout > cfg->lockout_max) {
		config_check_failed(p, lockout_keys, "[auth] lockout is greater than lockout_max");
		return -1;
	}
	if (cfg->failure_delay > cfg->failure_delay_max) {
		config_check_failed(p, delay_keys,
		                    "[auth] failure_delay is greater than failure_delay_max");
		return -1;
	}
	return 0;
}

static void config_fill_derived(struct config *cfg)
{
	if (cfg->auth_database == NULL)
		cfg->auth_database = xasprintf("%s/auth.db", cfg->state_dir);
	if (cfg->auth_key_file == NULL)
		cfg->auth_key_file = xasprintf("%s/secret.key", cfg->state_dir);
	if (cfg->chroot_dir == NULL)
		cfg->chroot_dir = xasprintf("%s/empty", cfg->state_dir);
	if (cfg->maildir == NULL)
		cfg->maildir = xstrdup("/var/mail/%d/%n");
}

struct config *config_defaults(void)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));

	config_set_defaults(cfg);
	config_fill_derived(cfg);
	return cfg;
}

int config_load(const char *path, struct config **cfg_r, char **error_r)
{
	struct config_parse p = {0};
	int r;

	*cfg_r = NULL;
	*error_r = NULL;
	p.path = path;
	p.fp = fopen(path, "r");
	if (p.fp == NULL) {
		*error_r = xasprintf("%s:0: cannot open: %s", path, strerror(errno));
		return -1;
	}
	p.cfg = xcalloc(1, sizeof(*p.cfg));
	config_set_defaults(p.cfg);
	r = ini_parse_stream(config_reader, &p, config_handler, &p);
	fclose(p.fp);
	if (r != 0 && p.error == NULL)
		p.error = r < 0 ? xasprintf("%s:0: cannot read", path)
		                : xasprintf("%s:%d: syntax error", path, r);
	if (p.error == NULL)
		config_check(&p);
	if (p.error != NULL) {
		config_free(&p.cfg);
		*error_r = p.error;
		return -1;
	}
	config_fill_derived(p.cfg);
	p.cfg->path = xstrdup(path);
	*cfg_r = p.cfg;
	return 0;
}

void config_free(struct config **cfgp)
{
	struct config *cfg = *cfgp;

	if (cfg == NULL)
		return;
	for (size_t i = 0; i < sizeof(config_keys) / sizeof(config_keys[0]); i++) {
		const struct config_key *k = &config_keys[i];
		void *field = (char *)cfg + k->offset;

		if (k->type == CT_STRING || k->type == CT_ORIGIN || k->type == CT_MAILDIR ||
		    k->type == CT_HOST || k->type == CT_HOSTPORT) {
			xfree(field);
		} else if (k->type == CT_LISTEN) {
			struct config_listen *l = field;

			for (size_t j = 0; j < l->count; j++)
				xfree(&l->addrs[j]);
			l->count = 0;
		}
	}
	free(cfg->path);
	free(cfg);
	*cfgp = NULL;
}

/* The [section] of the line: "[name]" with optional blanks around. */
static bool config_line_is_section(const char *s, const char *section)
{
	size_t len = strlen(section);

	return *s == '[' && strncmp(s + 1, section, len) == 0 && s[1 + len] == ']';
}

unsigned config_line_of(const struct config *cfg, const char *section, const char *key)
{
	FILE *fp = cfg->path != NULL ? fopen(cfg->path, "r") : NULL;
	char line[1024];
	unsigned n = 0, key_line = 0, section_line = 0;
	bool in = false;

	if (fp == NULL)
		return 0;
	while (key_line == 0 && fgets(line, sizeof(line), fp) != NULL) {
		const char *s = line + strspn(line, " \t");

		n++;
		if (*s == '[') {
			in = config_line_is_section(s, section);
			if (in && section_line == 0)
				section_line = n;
		} else if (in && strncmp(s, key, strlen(key)) == 0 &&
		           strchr(" \t=", s[strlen(key)]) != NULL) {
			key_line = n;
		}
	}
	fclose(fp);
	return key_line != 0 ? key_line : section_line;
}

/* Which of %u, %n, %d the template uses (a "%%" is none of them). */
static void config_template_vars(const char *tpl, bool *u_r, bool *n_r, bool *d_r)
{
	*u_r = *n_r = *d_r = false;
	for (const char *s = strchr(tpl, '%'); s != NULL && s[1] != '\0'; s = strchr(s + 2, '%')) {
		*u_r = *u_r || s[1] == 'u';
		*n_r = *n_r || s[1] == 'n';
		*d_r = *d_r || s[1] == 'd';
	}
}

/* Every user's path has the same number of components, each variable filling one component
 * of its own with a non-empty value: so no user's maildir can lie inside another's, and two
 * paths are equal only when the names are (given %u, or %n for names without a domain). */
int config_maildir_template_check(const char *tpl, const char **error_r)
{
	unsigned in_component = 0;
	bool u, n, d;

	if (tpl[0] != '/') {
		*error_r = "must be an absolute path";
		return -1;
	}
	for (const char *s = tpl; *s != '\0'; s++) {
		if (*s == '/') {
			in_component = 0;
		} else if (*s == '%') {
			if (s[1] != 'u' && s[1] != 'n' && s[1] != 'd' && s[1] != '%') {
				*error_r = "unknown %-variable (use %u, %n, %d)";
				return -1;
			}
			if (*++s != '%' && ++in_component > 1) {
				*error_r = "put each of %u, %n, %d in a path component of its own "
				           "(e.g. /var/mail/%d/%n): joined, two names can make one path";
				return -1;
			}
		}
	}
	config_template_vars(tpl, &u, &n, &d);
	if (!u && !n) {
		*error_r = d ? "%d without %n or %u: all users of a domain would share one maildir"
		             : "no %u or %n: all users would share one maildir";
		return -1;
	}
	return 0;
}

int config_maildir_user_check(const struct config *cfg, const char *user, const char **error_r)
{
	bool u, n, d, domain = strchr(user, '@') != NULL;

	config_template_vars(cfg->maildir, &u, &n, &d);
	if (d && !domain) {
		*error_r = "the name has no domain, but the [storage] maildir template uses %d "
		           "(name the user user@domain, or change the template)";
		return -1;
	}
	if (domain && !u && !d) {
		*error_r = "the name has a domain, but the [storage] maildir template has neither %u "
		           "nor %d: users with the same local part would share one maildir";
		return -1;
	}
	return 0;
}

char *config_maildir_for(const struct config *cfg, const char *user)
{
	const char *at = strchr(user, '@'), *error;
	size_t ulen = strlen(user);
	size_t nlen = at != NULL ? (size_t)(at - user) : ulen;
	const char *domain = at != NULL ? at + 1 : "";
	char *out, *o;
	size_t cap;

	/* A user name never becomes a path component that could climb or hide. */
	if (ulen == 0 || strchr(user, '/') != NULL || user[0] == '.' ||
	    strstr(user, "..") != NULL || !text_has_no_controls(user, ulen) ||
	    (at != NULL &&
	     (nlen == 0 || domain[0] == '\0' || domain[0] == '.' || strchr(domain, '@') != NULL)) ||
	    config_maildir_user_check(cfg, user, &error) < 0)
		return NULL;
	cap = strlen(cfg->maildir) * (ulen + 1) + 1;
	out = o = xmalloc(cap);
	for (const char *s = cfg->maildir; *s != '\0'; s++) {
		if (*s != '%') {
			*o++ = *s;
			continue;
		}
		s++;
		if (*s == 'u') {
			memcpy(o, user, ulen);
			o += ulen;
		} else if (*s == 'n') {
			memcpy(o, user, nlen);
			o += nlen;
		} else if (*s == 'd') {
			memcpy(o, domain, strlen(domain));
			o += strlen(domain);
		} else if (*s == '%') {
			*o++ = '%';
		} else {
			free(out);
			return NULL;
		}
	}
	*o = '\0';
	return out;
}
