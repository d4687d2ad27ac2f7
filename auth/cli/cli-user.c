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

static void cli_user_row(const struct admin_user_info *u, void *ctx)
{
	char status[64], last[32], factors[64];

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

static int cli_user_list(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	const char *error;

	if (admin_user_list(cli->policy, cli_user_row, NULL, &error) < 0)
		return cli_error("%s", error);
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
     .help = "Deletes the user and its factors from the auth store (the maildir stays).",
     .run = cli_user_del},
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
     .usage = "user list",
     .help = "Every user: status, factors, failures, last login and alarms.",
     .run = cli_user_list},
    {.group = NULL},
};
