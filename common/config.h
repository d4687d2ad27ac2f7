/* The configuration file (INI, libinih) loaded into one typed struct. */
#ifndef TWOFOLD_CONFIG_H
#define TWOFOLD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_LISTEN 8
/* [tls] priority when the config sets none: TLS 1.3 and 1.2, AEAD ciphers, (EC)DHE only. */
#define CONFIG_TLS_PRIORITY_DEFAULT                                                              \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+CHACHA20-POLY1305:"  \
	"+AES-128-GCM:-MAC-ALL:+AEAD:-RSA:%SERVER_PRECEDENCE"

enum second_factor_mode { SECOND_FACTOR_REQUIRED, SECOND_FACTOR_OPTIONAL };

struct config_listen {
	char *addrs[CONFIG_MAX_LISTEN]; /* "addr:port" or "[v6]:port" as written */
	size_t count;
};

struct config {
	char *path; /* the file this was read from */

	/* [server] */
	char *user;       /* service account; NULL = run as whoever starts us */
	char *auth_user;  /* the auth and key processes' account (root start); default twofold-auth */
	char *state_dir;  /* default /var/lib/twofold */
	char *chroot_dir; /* empty dir workers chroot into; default <state_dir>/empty */
	char *control_socket; /* the master's socket for `twofold who/kick` (root only) */
	unsigned min_spare, max_spare, max_workers, sessions_per_worker;
	unsigned max_prelogin_per_ip; /* connections not logged in, per IPv4 address or IPv6 /64 */
	unsigned max_sessions_per_ip; /* logged-in sessions, the same */
	unsigned auth_processes;    /* 0 = number of CPUs */
	unsigned handshake_timeout; /* seconds */
	unsigned login_timeout;
	unsigned idle_timeout; /* after login (POP3; IMAP outside IDLE) */
	bool debug;

	/* [tls] */
	char *tls_cert, *tls_key;
	char *tls_priority;
	unsigned tls_ticket_lifetime; /* seconds a session-ticket key (and a ticket) lives */
	bool tls_key_process;         /* the private key in the key process only (default); no:
	                                 in every worker (to measure what the hop costs) */

	/* [imap] */
	struct config_listen imap_listen;
	unsigned imap_idle_keepalive; /* seconds, <= 29 min */
	uint64_t imap_append_limit;

	/* [pop3] */
	struct config_listen pop3_listen;
	bool pop3_delete_retrieved;

	/* [auth] */
	char *auth_module;
	char *auth_database;
	char *auth_key_file; /* default <state_dir>/secret.key */
	char *auth_issuer;   /* otpauth issuer */
	enum second_factor_mode second_factor;
	unsigned totp_window; /* steps either side */
	unsigned totp_digits, totp_period;
	unsigned mfa_grace; /* seconds, 0 = strict */
	unsigned max_failures;
	unsigned lockout, lockout_max; /* seconds */
	unsigned failure_delay;        /* ms a first failed login waits; doubles per failure */
	unsigned failure_delay_max;    /* ms, the longest such wait (and a locked login's) */
	unsigned auth_busy_timeout; /* ms a login waits for a store another process is writing */
	unsigned familiar_days;     /* a source stays familiar this long after a login from it */
	unsigned approval_wait;     /* seconds a held login waits for the user's approval */
	unsigned approval_rate;     /* new approval requests per user per hour */
	unsigned preapprove_max;    /* minutes: the longest pre-approval of an IP, 0 = none */
	uint64_t pwhash_opslimit;
	size_t pwhash_memlimit;

	/* [storage] */
	char *maildir; /* template: %u user, %n local part, %d domain */

	/* [portal]: no listen address = no portal */
	struct config_listen portal_listen; /* at most one address */
	char *portal_origin;                /* "https://HOST[:PORT]", normalised; NULL = none */
	unsigned portal_session_lifetime;   /* seconds a portal sign-in lasts */

	/* [clients]: what mail programs are told to use (autoconfig, Autodiscover, profiles) */
	char *clients_host;       /* DNS name for IMAP/POP3; NULL = the portal origin's host */
	char *clients_submission; /* "HOST:PORT" of the SMTP submission server, NULL = none */
	bool clients_localpart;   /* log in with the local part, not the whole address */
};

/* Loads path. Returns 0 on success, -1 with *error_r = "FILE:LINE: message" (caller frees). */
int config_load(const char *path, struct config **cfg_r, char **error_r);
/* Defaults only, no file: for tests and the CLI when no file is given. */
struct config *config_defaults(void);
void config_free(struct config **cfg);

/* The line of key in [section] of cfg's file, for FILE:LINE messages: the key's own line, or
 * the section header's when the key is not set there (a default applies), or 0. */
unsigned config_line_of(const struct config *cfg, const char *section, const char *key);
/* The host of an "https://HOST[:PORT]" origin (the WebAuthn RP ID), or NULL when origin is not
 * of that form. Caller frees. */
char *config_origin_host(const char *origin);
/* True when the first len bytes of host are a DNS name (letters, digits, dots, hyphens). */
bool config_hostname_ok(const char *host, size_t len);

/* Expands the [storage] maildir template for user; NULL if the name can't be expanded safely
 * (a name that could climb out, or that does not fit the template: config_maildir_user_check). */
char *config_maildir_for(const struct config *cfg, const char *user);
/* A [storage] maildir template that cannot make two users share a directory, nor put one
 * user's maildir inside another's: absolute; only %u, %n, %d, %%; each variable alone in its
 * path component; %u or %n present. 0 ok, -1 with *error_r (static). */
int config_maildir_template_check(const char *tpl, const char **error_r);
/* Whether user fits cfg's template: a name with a domain needs %u or %d in it (else the domain
 * is dropped and user@a and user@b collide); a name without one cannot be used with %d (the
 * component would be empty: /var/mail/%d/%n gives /var/mail//alice, beside the domains).
 * 0 ok, -1 with *error_r (static). */
int config_maildir_user_check(const struct config *cfg, const char *user, const char **error_r);

#endif
