/* twofold login list|approve|deny|preapprove: logins held for the user's approval (a user with a
 * security key who sent the password alone). The daemon's auth process that holds the login
 * sees the decision within a fraction of a second. */
#include "auth/cli/cli.h"
#include "auth/admin.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#define CLI_LOGIN_LIST       (&cli_login_commands[0])
#define CLI_LOGIN_APPROVE    (&cli_login_commands[1])
#define CLI_LOGIN_DENY       (&cli_login_commands[2])
#define CLI_LOGIN_PREAPPROVE (&cli_login_commands[3])
#define CLI_MINUTES_MAX      (24 * 60)

static const char *const cli_login_approve_opts[] = {"preapprove", NULL};

static void cli_login_row(const struct admin_approval_info *a, void *ctx)
{
	char since[32];
	long left = (long)(a->expires - time(NULL));

	cli_format_time(a->created, "-", since, sizeof(since));
	printf("%" PRId64 "\tproto=%s\tip=", a->id, a->proto);
	cli_print_safe(a->ip);
	printf("\tclient=");
	cli_print_safe(a->client_id);
	printf("\tsince=%s\texpires-in=%lds\n", since, left > 0 ? left : 0);
}

static int cli_login_list(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	const char *error;

	if (!cli_user_name_ok(args[0]))
		return CLI_EXIT_ERROR;
	if (admin_approval_list(cli->policy, args[0], time(NULL), cli_login_row, NULL, &error) < 0)
		return cli_error("%s", error);
	return CLI_EXIT_OK;
}

/* The request id argument; false (after a usage message) when it is not one. */
static bool cli_login_id(const struct cli_command *cmd, const char *arg, int64_t *id_r)
{
	uint64_t id;

	if (!cli_parse_uint(arg, 1, INT64_MAX, &id)) {
		cli_usage_error(cmd, "bad request id '%s'", arg);
		return false;
	}
	*id_r = (int64_t)id;
	return true;
}

static int cli_login_approve(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	const char *error;
	uint64_t minutes = 0;
	int64_t id;

	if (!cli_login_id(CLI_LOGIN_APPROVE, args[1], &id))
		return CLI_EXIT_USAGE;
	if (opts[0] != NULL && !cli_parse_uint(opts[0], 0, CLI_MINUTES_MAX, &minutes))
		return cli_usage_error(CLI_LOGIN_APPROVE, "--preapprove takes a number of minutes");
	if (!cli_user_name_ok(args[0]))
		return CLI_EXIT_ERROR;
	if (admin_approval_approve(cli->policy, args[0], id, (unsigned)minutes, time(NULL),
	                           &error) < 0)
		return cli_error("%s", error);
	return CLI_EXIT_OK;
}

static int cli_login_deny(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	const char *error;
	int64_t id;

	if (!cli_login_id(CLI_LOGIN_DENY, args[1], &id))
		return CLI_EXIT_USAGE;
	if (!cli_user_name_ok(args[0]))
		return CLI_EXIT_ERROR;
	if (admin_approval_deny(cli->policy, args[0], id, time(NULL), &error) < 0)
		return cli_error("%s", error);
	return CLI_EXIT_OK;
}

static int cli_login_preapprove(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	const char *error;
	uint64_t minutes;

	if (!cli_parse_uint(args[2], 1, CLI_MINUTES_MAX, &minutes))
		return cli_usage_error(CLI_LOGIN_PREAPPROVE, "bad number of minutes '%s'", args[2]);
	if (!cli_user_name_ok(args[0]))
		return CLI_EXIT_ERROR;
	if (admin_preapprove(cli->policy, args[0], args[1], (unsigned)minutes, time(NULL), &error) <
	    0)
		return cli_error("%s", error);
	return CLI_EXIT_OK;
}

const struct cli_command cli_login_commands[] = {
    {.group = "login",
     .name = "list",
     .args_min = 1,
     .args_max = 1,
     .usage = "login list NAME",
     .help = "Lists the user's logins held for approval: request id, protocol, client IP, IMAP ID "
             "name, age and time left.",
     .run = cli_login_list},
    {.group = "login",
     .name = "approve",
     .args_min = 2,
     .args_max = 2,
     .opts = cli_login_approve_opts,
     .usage = "login approve NAME ID [--preapprove MINUTES]",
     .help = "Lets a held login through (as if the user had touched the key); --preapprove also "
             "lets password-only logins from its network pass for MINUTES without a new approval.",
     .run = cli_login_approve},
    {.group = "login",
     .name = "deny",
     .args_min = 2,
     .args_max = 2,
     .usage = "login deny NAME ID",
     .help = "Refuses a held login: it fails as a wrong password, counts for the lockout and is "
             "logged as a stolen-password alarm.",
     .run = cli_login_deny},
    {.group = "login",
     .name = "preapprove",
     .args_min = 3,
     .args_max = 3,
     .usage = "login preapprove NAME IP MINUTES",
     .help = "Lets password-only logins of a user with a security key from the network of IP pass "
             "without approval for MINUTES (at most [auth] preapprove_max).",
     .run = cli_login_preapprove},
    {.group = NULL},
};
