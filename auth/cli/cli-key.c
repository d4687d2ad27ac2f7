/* twofold key invite|list|remove: security keys (WebAuthn), registered by the user on the
 * portal from a single-use invitation link. */
#include "auth/cli/cli.h"
#include "auth/admin.h"
#include "common/config.h"
#include "common/xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define CLI_KEY_DEFAULT_HOURS 24

enum { OPT_HOURS };
static const char *const cli_key_invite_opts[] = {"hours", NULL};

#define CLI_KEY_INVITE (&cli_key_commands[0])
#define CLI_KEY_REMOVE (&cli_key_commands[2])

static int cli_key_invite(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	uint64_t hours = CLI_KEY_DEFAULT_HOURS;
	char *token = NULL, until[32];
	const char *error;
	time_t expires;

	if (opts[OPT_HOURS] != NULL &&
	    !cli_parse_uint(opts[OPT_HOURS], 1, ADMIN_INVITE_HOURS_MAX, &hours))
		return cli_usage_error(CLI_KEY_INVITE, "--hours takes 1 to %d",
		                       ADMIN_INVITE_HOURS_MAX);
	if (!cli_user_name_ok(args[0]))
		return CLI_EXIT_ERROR;
	/* the link is useless without the portal's address: refuse before making one */
	if (cli->cfg->portal_origin == NULL)
		return cli_error(
		    "no [portal] origin in %s: set it to the portal's https:// address "
		    "(e.g. origin = https://mail.example.org:8443)",
		    cli->cfg->path);
	if (admin_key_invite(cli->policy, args[0], (unsigned)hours, time(NULL), &token, &expires,
	                     &error) < 0)
		return cli_error("%s", error);
	cli_format_time(expires, "-", until, sizeof(until));
	printf("Security key invitation for %s, single use, valid until %s:\n", args[0], until);
	printf("%s/enrol?t=%s\n", cli->cfg->portal_origin, token);
	xfree_secret_str(&token);
	return CLI_EXIT_OK;
}

static void cli_key_row(const struct admin_key_info *k, void *ctx)
{
	char created[32], used[32];

	cli_format_time(k->created, "-", created, sizeof(created));
	cli_format_time(k->last_used, "never", used, sizeof(used));
	printf("%" PRId64 "\t", k->id);
	cli_print_safe(k->label);
	printf("\talg=%s\tcreated=%s\tlast-used=%s\tlast-ip=", k->alg, created, used);
	cli_print_safe(k->last_ip);
	putchar('\n');
}

static int cli_key_list(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	const char *error;

	if (!cli_user_name_ok(args[0]))
		return CLI_EXIT_ERROR;
	if (admin_key_list(cli->policy, args[0], cli_key_row, NULL, &error) < 0)
		return cli_error("%s", error);
	return CLI_EXIT_OK;
}

static int cli_key_remove(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	const char *error;
	uint64_t id;

	if (!cli_parse_uint(args[1], 1, INT64_MAX, &id))
		return cli_usage_error(CLI_KEY_REMOVE, "bad security key id '%s'", args[1]);
	if (!cli_user_name_ok(args[0]))
		return CLI_EXIT_ERROR;
	if (admin_key_remove(cli->policy, args[0], (int64_t)id, &error) < 0)
		return cli_error("%s", error);
	return CLI_EXIT_OK;
}

const struct cli_command cli_key_commands[] = {
    {.group = "key",
     .name = "invite",
     .args_min = 1,
     .args_max = 1,
     .opts = cli_key_invite_opts,
     .usage = "key invite NAME [--hours H]",
     .help = "A single-use portal link, valid H hours (default 24), where the user registers a security key.",
     .run = cli_key_invite},
    {.group = "key",
     .name = "list",
     .args_min = 1,
     .args_max = 1,
     .usage = "key list NAME",
     .help = "The user's security keys: id, label, algorithm, created, last use and IP.",
     .run = cli_key_list},
    {.group = "key",
     .name = "remove",
     .args_min = 2,
     .args_max = 2,
     .usage = "key remove NAME ID",
     .help = "Removes security key ID of the user.",
     .run = cli_key_remove},
    {.group = NULL},
};
