/* twofold user add|passwd|del|lock|unlock|list */
#include "auth/cli/cli.h"
#include "auth/admin.h"
#include "common/config.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

typedef int admin_password_fn(struct auth_policy *p, const char *name, const char *password,
                              const char **error_r);
typedef int admin_name_fn(struct auth_policy *p, const char *name, const char **error_r);

static int cli_user_set_password(struct cli *cli, const char *name, admin_password_fn *fn)
{
	char *password;
	const char *error;
	int ret = CLI_EXIT_OK;

	if (!cli_user_name_ok(name))
		return CLI_EXIT_ERROR;
	password = sodium_malloc(CLI_SECRET_MAX + 1);
	if (password == NULL)
		return cli_error("out of memory");
	if (cli_read_new_password(password, CLI_SECRET_MAX + 1, &error) < 0 ||
	    admin_password_check(password, &error) < 0 ||
	    fn(cli->policy, name, password, &error) < 0)
		ret = cli_error("%s", error);
	sodium_free(password); /* wipes */
	return ret;
}

/* The maildir comes after the store entry, so a refused add leaves no directory behind; it is
 * made as the mail account, which the auth service (another account) cannot do at login. */
static int cli_user_add(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	const char *error;
	int ret;

	/* before asking for the password (admin_user_add checks it again) */
	if (admin_user_name_valid(args[0]) &&
	    config_maildir_user_check(cli->cfg, args[0], &error) < 0)
		return cli_error("user '%s': %s", args[0], error);
	ret = cli_user_set_password(cli, args[0], admin_user_add);
	if (ret == CLI_EXIT_OK && cli_maildir_make(cli->cfg, args[0], &error) < 0)
		ret = cli_error("user %s added, but not its maildir: %s", args[0], error);
	return ret;
}

static int cli_user_passwd(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	return cli_user_set_password(cli, args[0], admin_user_passwd);
}

static int cli_user_simple(struct cli *cli, const char *name, admin_name_fn *fn)
{
	const char *error;

	if (!cli_user_name_ok(name))
		return CLI_EXIT_ERROR;
	if (fn(cli->policy, name, &error) < 0)
		return cli_error("%s", error);
	return CLI_EXIT_OK;
}

static int cli_user_del(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	return cli_user_simple(cli, args[0], admin_user_del);
}

static const char *const cli_user_delete_flags[] = {"keep-mail", NULL};

/* The store entry first: a user who cannot log in any more, then the mail. */
static int cli_user_delete(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	const char *error;
	int ret = cli_user_simple(cli, args[0], admin_user_del);

	if (ret != CLI_EXIT_OK || opts[0] != NULL)
		return ret;
	if (cli_maildir_op(cli->cfg, CLI_MAIL_REMOVE, args[0], NULL, &error) < 0)
		return cli_error("user %s deleted, but not all of its maildir: %s", args[0], error);
	return CLI_EXIT_OK;
}

/* The store first (it checks the new name); a maildir that cannot move undoes it. */
static int cli_user_rename(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	const char *error, *undo_error;

	if (!cli_user_name_ok(args[0]) || !cli_user_name_ok(args[1]))
		return CLI_EXIT_ERROR;
	if (admin_user_rename(cli->policy, args[0], args[1], &error) < 0)
		return cli_error("%s", error);
	if (cli_maildir_op(cli->cfg, CLI_MAIL_RENAME, args[0], args[1], &error) == 0)
		return CLI_EXIT_OK;
	if (admin_user_rename(cli->policy, args[1], args[0], &undo_error) < 0)
		return cli_error("%s renamed to %s, but its maildir was not moved (%s) and the "
		                 "rename could not be undone: %s",
		                 args[0], args[1], error, undo_error);
	return cli_error("%s not renamed: %s", args[0], error);
}

static int cli_user_lock(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	return cli_user_simple(cli, args[0], admin_user_lock);
}

static int cli_user_unlock(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	return cli_user_simple(cli, args[0], admin_user_unlock);
}

static void cli_user_until(const char *what, time_t t, char *buf, size_t size)
{
	struct tm tm;
	char until[32] = "?";

	if (localtime_r(&t, &tm) != NULL)
		strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s=%s", what, until);
}

/* A lockout of every source outranks one of unfamiliar sources only. */
static void cli_user_status(const struct admin_user_info *u, char *buf, size_t size)
{
	if (!u->enabled)
		snprintf(buf, size, "locked");
	else if (u->locked_until != 0)
		cli_user_until("lockout-until", u->locked_until, buf, size);
	else if (u->unfamiliar_locked_until != 0)
		cli_user_until("unfamiliar-lockout-until", u->unfamiliar_locked_until, buf, size);
	else
		snprintf(buf, size, "enabled");
}

static void cli_user_json(const struct admin_user_info *u, struct cli_json_array *a)
{
	cli_json_next(a);
	putchar('{');
	cli_print_json_member("name", u->name, true);
	printf(", \"enabled\": %s, \"totp\": %s, \"keys\": %u, \"yubikeys\": %u, "
	       "\"apppasses\": %u, \"recovery_left\": %u, \"failures\": %u, "
	       "\"locked_until\": %lld, \"unfamiliar_locked_until\": %lld, "
	       "\"stolen_password_signs\": %u, \"last_login\": %lld}",
	       u->enabled ? "true" : "false", u->has_totp ? "true" : "false", u->keys, u->yubikeys,
	       u->apppasses, u->recovery_left, u->failures, (long long)u->locked_until,
	       (long long)u->unfamiliar_locked_until, u->stolen_password_signs,
	       (long long)u->last_login);
}

static void cli_user_row(const struct admin_user_info *u, void *ctx)
{
	char status[64], last[32], factors[64];

	if (ctx != NULL && ((struct cli_json_array *)ctx)->json) {
		cli_user_json(u, ctx);
		return;
	}

	cli_user_status(u, status, sizeof(status));
	cli_format_time(u->last_login, "never", last, sizeof(last));
	snprintf(factors, sizeof(factors), "%s,keys=%u,yubikey=%u,apppass=%u,recovery=%u",
	         u->has_totp ? "totp" : "no-totp", u->keys, u->yubikeys, u->apppasses,
	         u->recovery_left);
	cli_print_safe(u->name);
	printf("\t%s\t%s\tfailures=%u\tlast-login=%s", status, factors, u->failures, last);
	if (u->stolen_password_signs > 0)
		printf("\tSTOLEN-PASSWORD?(%u)", u->stolen_password_signs);
	putchar('\n');
}

static const char *const cli_json_flags[] = {"json", NULL};

static int cli_user_list(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	struct cli_json_array a = {.json = opts[0] != NULL};
	const char *error;

	if (admin_user_list(cli->policy, cli_user_row, &a, &error) < 0)
		return cli_error("%s", error);
	if (a.json)
		cli_json_end(&a);
	return CLI_EXIT_OK;
}

const struct cli_command cli_user_commands[] = {
    {.group = "user",
     .name = "add",
     .args_min = 1,
     .args_max = 1,
     .usage = "user add NAME",
     .help = "Adds a user (password: prompted twice on a terminal, else the first line of stdin) and makes the maildir as the mail account.",
     .run = cli_user_add,
     .makes_maildir = true},
    {.group = "user",
     .name = "passwd",
     .args_min = 1,
     .args_max = 1,
     .usage = "user passwd NAME",
     .help = "Sets a new password (read like user add); the current one is refused.",
     .run = cli_user_passwd},
    {.group = "user",
     .name = "del",
     .args_min = 1,
     .args_max = 1,
     .usage = "user del NAME",
     .help = "Deletes the user and its factors from the auth store (the maildir stays): user delete --keep-mail.",
     .run = cli_user_del},
    {.group = "user",
     .name = "delete",
     .args_min = 1,
     .args_max = 1,
     .flags = cli_user_delete_flags,
     .usage = "user delete NAME [--keep-mail]",
     .help = "Deletes the user and its factors from the auth store, then its maildir with all its mail (as the mail account) unless --keep-mail.",
     .run = cli_user_delete,
     .makes_maildir = true},
    {.group = "user",
     .name = "rename",
     .args_min = 2,
     .args_max = 2,
     .usage = "user rename NAME NEW-NAME",
     .help = "Renames the user (factors, app passwords and log stay with it) and moves its maildir to the new name's place; the new name must be free and fit the maildir template.",
     .run = cli_user_rename,
     .makes_maildir = true},
    {.group = "user",
     .name = "lock",
     .args_min = 1,
     .args_max = 1,
     .usage = "user lock NAME",
     .help = "Disables every login of the user until user unlock.",
     .run = cli_user_lock},
    {.group = "user",
     .name = "unlock",
     .args_min = 1,
     .args_max = 1,
     .usage = "user unlock NAME",
     .help = "Re-enables the user, lifts every lockout of the user and clears the stolen-password alarm.",
     .run = cli_user_unlock},
    {.group = "user",
     .name = "list",
     .args_min = 0,
     .args_max = 0,
     .flags = cli_json_flags,
     .usage = "user list [--json]",
     .help = "Every user: status, factors, failures, last login and alarms; one line each, tab-separated key=value fields, or a JSON array with --json (times as Unix seconds, 0 = none).",
     .run = cli_user_list},
    {.group = NULL},
};
