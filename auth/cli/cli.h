/* The `twofold` admin command: shared pieces of the command groups (private to auth/cli/). */
#ifndef TWOFOLD_AUTH_CLI_H
#define TWOFOLD_AUTH_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct config;
struct auth_policy;

/* Exit codes of the command. */
enum cli_exit { CLI_EXIT_OK = 0, CLI_EXIT_ERROR = 1, CLI_EXIT_USAGE = 2 };

/* Longest secret read from a terminal or stdin (the policy refuses longer ones anyway). */
#define CLI_SECRET_MAX 1024

struct cli {
	const struct config *cfg;
	struct auth_policy *policy;
};

/* One subcommand: "user add NAME". args/args_max count positional arguments after the words;
 * opts lists the accepted --options (each takes a value), flags the --options without one,
 * both NULL-terminated. run gets the values in optvals: opts first, then flags ("" when given). */
struct cli_command {
	const char *group, *name;
	unsigned args_min, args_max;
	const char *const *opts;
	const char *const *flags;
	const char *usage;
	const char *help; /* one or two sentences for `twofold GROUP [NAME] --help`; may be NULL */
	int (*run)(struct cli *cli, char **args, unsigned nargs, const char **optvals);
	bool makes_maildir; /* run calls cli_maildir_make */
	bool no_store;      /* run needs neither the store nor the auth account (cli->policy NULL) */
};

/* Tables, one per command group, each ending with a {.group = NULL} entry. */
extern const struct cli_command cli_user_commands[];
extern const struct cli_command cli_user_show_commands[];
extern const struct cli_command cli_totp_commands[];
extern const struct cli_command cli_apppass_commands[];
extern const struct cli_command cli_recovery_commands[];
extern const struct cli_command cli_log_commands[];
extern const struct cli_command cli_auth_commands[];
extern const struct cli_command cli_key_commands[];
extern const struct cli_command cli_yubikey_commands[];
extern const struct cli_command cli_login_commands[];
extern const struct cli_command cli_who_commands[];

/* Prints "twofold: <message>" on stderr; returns CLI_EXIT_ERROR. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "twofold: <message>" and a usage hint on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Checks a user name given on the command line; prints the error. */
bool cli_user_name_ok(const char *name);

/* Reads one line (the newline and a CR before it removed) from fd 0 into buf (size > 1), without
 * stdio buffering so no copy of the secret stays behind. On a terminal prompts on stderr with echo
 * off when secret. 1 read, 0 end of input before any byte, -1 error (too long, read error). */
int cli_read_line(const char *prompt, bool secret, char *buf, size_t size, const char **error_r);
/* A new password: twice with no echo on a terminal (must match), else the first stdin line.
 * buf is wiped by the caller. -1 with *error_r on failure. */
int cli_read_new_password(char *buf, size_t size, const char **error_r);
bool cli_stdin_is_tty(void);

/* Writes s to stdout with control bytes masked, or "-" when empty/NULL. */
void cli_print_safe(const char *s);
/* Writes s to stdout as a JSON string (quoted, escaped; "" for NULL). */
void cli_print_json_string(const char *s);
/* `, "key": "value"` (or without the comma when first) for one string member of an object. */
void cli_print_json_member(const char *key, const char *value, bool first);

/* A JSON array written one element at a time: "[", elements separated by ",\n", "]". */
struct cli_json_array {
	bool json;    /* false: the command prints text instead */
	unsigned n;   /* elements so far */
};
/* Before an element: "[" or ",", a newline and indent. */
void cli_json_next(struct cli_json_array *a);
/* After the last one: "]" (or "[]" when there was none). */
void cli_json_end(struct cli_json_array *a);
/* "2024-11-29 01:30:00" (local time) or "never"/"-" style fallback when t is 0. */
void cli_format_time(time_t t, const char *zero, char *buf, size_t size);

/* Parses a decimal number in [min, max]; false when it is not one. */
bool cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *value_r);

/* Draws text as a QR code on stdout (UTF-8 half blocks with ANSI colours). -1 on failure. */
int cli_qr_print(const char *text);

/* Makes the state directories and, as root with [server] user, becomes [server] auth_user.
 * mail_helper: first fork a helper, as the mail account, for cli_maildir_make. */
int cli_privileges_setup(const struct config *cfg, bool mail_helper, const char **error_r);
/* Makes user's maildir as the mail account (the helper's job when root). -1 with *error_r. */
int cli_maildir_make(const struct config *cfg, const char *user, const char **error_r);
/* What the mail account does to a maildir for the CLI (auth/maildir.h). */
enum cli_mail_op { CLI_MAIL_MAKE = 'm', CLI_MAIL_RENAME = 'r', CLI_MAIL_REMOVE = 'd' };
/* op on user's maildir (new_user: the rename's target, else NULL), as the mail account.
 * -1 with *error_r. */
int cli_maildir_op(const struct config *cfg, enum cli_mail_op op, const char *user,
                   const char *new_user, const char **error_r);
/* Ends the helper, if any. */
void cli_privileges_done(void);

#endif
