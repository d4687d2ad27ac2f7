/* twofold yubikey add|list|remove */
#include "auth/cli/cli.h"
#include "auth/admin.h"

#include <sodium.h>
#include <stdio.h>

enum { OPT_AES_KEY, OPT_PRIVATE_ID, OPT_PUBLIC_ID };
static const char *const cli_yubikey_add_opts[] = {"aes-key", "private-id", "public-id", NULL};

#define CLI_YUBIKEY_ADD (&cli_yubikey_commands[0])

/* Slot 2 of a YubiKey defaults to a static password: the -o-... flags turn that off, so the
 * slot types a Yubico OTP (public id first) when touched long. */
static void cli_yubikey_print_program(const char *name, const struct admin_yubikey_secrets *v)
{
	printf("YubiKey %s enrolled for %s. Program slot 2 of the key with this command "
	       "(the AES key is shown only once):\n",
	       v->public_id, name);
	printf("ykpersonalize -2 -ofixed=%s -ouid=%s -a%s -o-static-ticket -o-strong-pw1 "
	       "-o-strong-pw2 -o-man-update\n",
	       v->public_id, v->private_id, v->aes_key);
}

static int cli_yubikey_generate(struct cli *cli, const char *name)
{
	struct admin_yubikey_secrets v;
	const char *error;

	if (admin_yubikey_generate(cli->policy, name, &v, &error) < 0)
		return cli_error("%s", error);
	cli_yubikey_print_program(name, &v);
	sodium_memzero(&v, sizeof(v));
	return CLI_EXIT_OK;
}

static int cli_yubikey_add(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	unsigned given = (opts[OPT_AES_KEY] != NULL) + (opts[OPT_PRIVATE_ID] != NULL) +
	                 (opts[OPT_PUBLIC_ID] != NULL);
	const char *error;

	if (given != 0 && given != 3)
		return cli_usage_error(CLI_YUBIKEY_ADD,
		                       "--aes-key, --private-id and --public-id go together");
	if (given == 3 && !admin_yubikey_values_valid(opts[OPT_AES_KEY], opts[OPT_PRIVATE_ID],
	                                              opts[OPT_PUBLIC_ID], &error))
		return cli_usage_error(CLI_YUBIKEY_ADD, "%s", error);
	if (!cli_user_name_ok(args[0]))
		return CLI_EXIT_ERROR;
	if (given == 0)
		return cli_yubikey_generate(cli, args[0]);
	if (admin_yubikey_add(cli->policy, args[0], opts[OPT_AES_KEY], opts[OPT_PRIVATE_ID],
	                      opts[OPT_PUBLIC_ID], &error) < 0)
		return cli_error("%s", error);
	printf("YubiKey enrolled for %s\n", args[0]);
	return CLI_EXIT_OK;
}

static void cli_yubikey_row(const struct admin_yubikey_info *y, void *ctx)
{
	char created[32], used[32];

	cli_format_time(y->created, "-", created, sizeof(created));
	cli_format_time(y->last_used, "never", used, sizeof(used));
	cli_print_safe(y->public_id);
	printf("\tcreated=%s\tlast-used=%s\n", created, used);
}

static int cli_yubikey_list(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	const char *error;

	if (!cli_user_name_ok(args[0]))
		return CLI_EXIT_ERROR;
	if (admin_yubikey_list(cli->policy, args[0], cli_yubikey_row, NULL, &error) < 0)
		return cli_error("%s", error);
	return CLI_EXIT_OK;
}

static int cli_yubikey_remove(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	const char *error;

	if (!cli_user_name_ok(args[0]))
		return CLI_EXIT_ERROR;
	if (admin_yubikey_remove(cli->policy, args[0], args[1], &error) < 0)
		return cli_error("%s", error);
	return CLI_EXIT_OK;
}

const struct cli_command cli_yubikey_commands[] = {
    {.group = "yubikey",
     .name = "add",
     .args_min = 1,
     .args_max = 1,
     .opts = cli_yubikey_add_opts,
     .usage = "yubikey add NAME [--aes-key HEX32 --private-id HEX12 --public-id MODHEX12]",
     .help = "Registers a YubiKey (Yubico OTP) as the user's second factor; without the key options it generates the secrets and prints the ykpersonalize line that programs them.",
     .run = cli_yubikey_add},
    {.group = "yubikey",
     .name = "list",
     .args_min = 1,
     .args_max = 1,
     .usage = "yubikey list NAME",
     .help = "Lists the user's YubiKeys by public id.",
     .run = cli_yubikey_list},
    {.group = "yubikey",
     .name = "remove",
     .args_min = 2,
     .args_max = 2,
     .usage = "yubikey remove NAME PUBLIC-ID",
     .help = "Removes one of the user's YubiKeys.",
     .run = cli_yubikey_remove},
    {.group = NULL},
};
