/* twofold user show NAME: one user as an admin looking into a complaint needs it: status and
 * lockouts, alarms, every factor with its dates, the maildir, the last logins. */
#include "auth/cli/cli.h"
#include "auth/admin.h"
#include "common/config.h"

#include <stdio.h>
#include <stdlib.h>

#define CLI_SHOW_LOGINS 5

static void cli_show_field(const char *label, const char *value)
{
	printf("%-22s ", label);
	cli_print_safe(value);
	putchar('\n');
}

static void cli_show_time(const char *label, time_t t, const char *zero)
{
	char buf[32];

	cli_format_time(t, zero, buf, sizeof(buf));
	cli_show_field(label, buf);
}

static void cli_show_number(const char *label, unsigned n)
{
	printf("%-22s %u\n", label, n);
}

static void cli_show_user(const struct admin_user_info *u, void *ctx)
{
	*(bool *)ctx = true;
	cli_show_field("user:", u->name);
	cli_show_field("enabled:", u->enabled ? "yes" : "no (user lock)");
	cli_show_time("locked until:", u->locked_until, "-");
	cli_show_time("unfamiliar locked:", u->unfamiliar_locked_until, "-");
	cli_show_number("failures in a row:", u->failures);
	cli_show_number("stolen-password alarms:", u->stolen_password_signs);
	cli_show_time("last login:", u->last_login, "never");
	cli_show_field("totp:", u->has_totp ? "active" : "none");
	cli_show_number("recovery codes left:", u->recovery_left);
}

static void cli_show_apppass(const struct admin_apppass_info *a, void *ctx)
{
	char created[32], expires[32], used[32];

	cli_format_time(a->created, "-", created, sizeof(created));
	cli_format_time(a->expires, "never", expires, sizeof(expires));
	cli_format_time(a->last_used, "never", used, sizeof(used));
	printf("  app password %lld  ", (long long)a->id);
	cli_print_safe(a->label);
	printf("  proto=%s  created=%s  expires=%s  last-used=%s", a->proto, created, expires,
	       used);
	if (a->last_ip != NULL && a->last_ip[0] != '\0') {
		fputs(" from ", stdout);
		cli_print_safe(a->last_ip);
	}
	putchar('\n');
}

static void cli_show_key(const struct admin_key_info *k, void *ctx)
{
	char created[32], used[32];

	cli_format_time(k->created, "-", created, sizeof(created));
	cli_format_time(k->last_used, "never", used, sizeof(used));
	printf("  security key %lld  ", (long long)k->id);
	cli_print_safe(k->label);
	printf("  %s  created=%s  last-used=%s\n", k->alg, created, used);
}

static void cli_show_yubikey(const struct admin_yubikey_info *y, void *ctx)
{
	char created[32], used[32];

	cli_format_time(y->created, "-", created, sizeof(created));
	cli_format_time(y->last_used, "never", used, sizeof(used));
	fputs("  yubikey ", stdout);
	cli_print_safe(y->public_id);
	printf("  created=%s  last-used=%s\n", created, used);
}

static void cli_show_login(const struct admin_log_entry *e, void *ctx)
{
	char when[32];

	cli_format_time(e->time, "-", when, sizeof(when));
	printf("  %s  ", when);
	cli_print_safe(e->proto);
	fputs("  ", stdout);
	cli_print_safe(e->ip);
	fputs("  ", stdout);
	cli_print_safe(e->factor);
	fputs("  ", stdout);
	cli_print_safe(e->result);
	fputs("  ", stdout);
	cli_print_safe(e->reason);
	putchar('\n');
}

static int cli_show_factors(struct cli *cli, const char *name, const char **error_r)
{
	puts("factors:");
	if (admin_apppass_list(cli->policy, name, cli_show_apppass, NULL, error_r) < 0 ||
	    admin_key_list(cli->policy, name, cli_show_key, NULL, error_r) < 0 ||
	    admin_yubikey_list(cli->policy, name, cli_show_yubikey, NULL, error_r) < 0)
		return -1;
	puts("last logins:");
	return admin_log(cli->policy, name, CLI_SHOW_LOGINS, cli_show_login, NULL, error_r);
}

static int cli_user_show(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	bool found = false;
	const char *error;
	char *maildir;

	if (!cli_user_name_ok(args[0]))
		return CLI_EXIT_ERROR;
	if (admin_user_show(cli->policy, args[0], cli_show_user, &found, &error) < 0)
		return cli_error("%s", error);
	if (!found)
		return cli_error("no such user '%s'", args[0]);
	maildir = config_maildir_for(cli->cfg, args[0]);
	cli_show_field("maildir:",
	               maildir != NULL ? maildir : "(the name does not fit the template)");
	free(maildir);
	if (cli_show_factors(cli, args[0], &error) < 0)
		return cli_error("%s", error);
	return CLI_EXIT_OK;
}

/* The block a source earns with failures against users it is unfamiliar to. */
static int cli_unblock(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	char source[128];
	const char *error;

	if (admin_source_unblock(cli->policy, args[0], source, sizeof(source), &error) < 0)
		return cli_error("%s", error);
	printf("failures from %s forgotten\n", source);
	return CLI_EXIT_OK;
}

const struct cli_command cli_user_show_commands[] = {
    {.group = "user",
     .name = "show",
     .args_min = 1,
     .args_max = 1,
     .usage = "user show NAME",
     .help = "One user: status, lockouts and alarms, TOTP and recovery codes, each app password, "
             "security key and YubiKey with its dates, the maildir and the last logins.",
     .run = cli_user_show},
    {.group = "unblock",
     .name = NULL,
     .args_min = 1,
     .args_max = 1,
     .usage = "unblock IP",
     .help = "Forgets the failures counted against the address (an IPv6 address: its /64), which lifts its block for the users it is unfamiliar to (log reason locked-source). A user's own lockouts: user unlock.",
     .run = cli_unblock},
    {.group = NULL},
};
