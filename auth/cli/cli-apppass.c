/* twofold apppass add|list|revoke */
#include "auth/cli/cli.h"
#include "auth/admin.h"
#include "common/xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define CLI_APPPASS_MAX_DAYS 36500

enum { OPT_LABEL, OPT_PROTO, OPT_EXPIRES };
static const char *const cli_apppass_add_opts[] = {"label", "proto", "expires", NULL};

#define CLI_APPPASS_ADD    (&cli_apppass_commands[0])
#define CLI_APPPASS_REVOKE (&cli_apppass_commands[2])

static int cli_apppass_add(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	const char *label = opts[OPT_LABEL] != NULL ? opts[OPT_LABEL] : "unnamed";
	const char *proto = opts[OPT_PROTO] != NULL ? opts[OPT_PROTO] : "all";
	const char *error;
	uint64_t days = 0;
	char *password = NULL;
	int64_t id;

	if (strcmp(proto, "imap") != 0 && strcmp(proto, "pop3") != 0 && strcmp(proto, "all") != 0)
		return cli_usage_error(CLI_APPPASS_ADD, "--proto must be imap, pop3 or all");
	if (opts[OPT_EXPIRES] != NULL &&
	    !cli_parse_uint(opts[OPT_EXPIRES], 1, CLI_APPPASS_MAX_DAYS, &days))
		return cli_usage_error(CLI_APPPASS_ADD, "--expires takes a number of days");
	if (!cli_user_name_ok(args[0]))
		return CLI_EXIT_ERROR;
	if (admin_apppass_add(cli->policy, args[0], label, proto, (unsigned)days, &password, &id,
	                      &error) < 0)
		return cli_error("%s", error);
	printf("App password %" PRId64 " for %s (protocols: %s, expires: ", id, args[0], proto);
	if (days > 0)
		printf("in %" PRIu64 " days", days);
	else
		printf("never");
	printf("). It is shown only once:\n%s\n", password);
	xfree_secret_str(&password);
	return CLI_EXIT_OK;
}

static void cli_apppass_row(const struct admin_apppass_info *a, void *ctx)
{
	char created[32], expires[32], used[32];

	cli_format_time(a->created, "-", created, sizeof(created));
	cli_format_time(a->expires, "never", expires, sizeof(expires));
	cli_format_time(a->last_used, "never", used, sizeof(used));
	printf("%" PRId64 "\t", a->id);
	cli_print_safe(a->label);
	printf("\tproto=%s\tcreated=%s\texpires=%s\tlast-used=%s\tlast-ip=", a->proto, created,
	       expires, used);
	cli_print_safe(a->last_ip);
	putchar('\n');
}

static int cli_apppass_list(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	const char *error;

	if (!cli_user_name_ok(args[0]))
		return CLI_EXIT_ERROR;
	if (admin_apppass_list(cli->policy, args[0], cli_apppass_row, NULL, &error) < 0)
		return cli_error("%s", error);
	return CLI_EXIT_OK;
}

static int cli_apppass_revoke(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	const char *error;
	uint64_t id;

	if (!cli_parse_uint(args[1], 1, INT64_MAX, &id))
		return cli_usage_error(CLI_APPPASS_REVOKE, "bad app password id '%s'", args[1]);
	if (!cli_user_name_ok(args[0]))
		return CLI_EXIT_ERROR;
	if (admin_apppass_revoke(cli->policy, args[0], (int64_t)id, &error) < 0)
		return cli_error("%s", error);
	return CLI_EXIT_OK;
}

const struct cli_command cli_apppass_commands[] = {
    {.group = "apppass",
     .name = "add",
     .args_min = 1,
     .args_max = 1,
     .opts = cli_apppass_add_opts,
     .usage = "apppass add NAME [--label L] [--proto imap|pop3|all] [--expires DAYS]",
     .help = "Mints an app password for one device (shown once, alone on the last line); --proto limits it to one protocol, --expires to DAYS days.",
     .run = cli_apppass_add},
    {.group = "apppass",
     .name = "list",
     .args_min = 1,
     .args_max = 1,
     .usage = "apppass list NAME",
     .help = "The user's app passwords: id, label, scope, created, expires, last use and IP.",
     .run = cli_apppass_list},
    {.group = "apppass",
     .name = "revoke",
     .args_min = 2,
     .args_max = 2,
     .usage = "apppass revoke NAME ID",
     .help = "Revokes app password ID of the user at once.",
     .run = cli_apppass_revoke},
    {.group = NULL},
};
