/* twofold recovery new */
#include "auth/cli/cli.h"
#include "auth/admin.h"

#include <stdio.h>
#include <unistd.h>

#define CLI_RECOVERY_CODES 10

static int cli_recovery_new(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	const char *error;
	char **codes = NULL;

	if (!cli_user_name_ok(args[0]))
		return CLI_EXIT_ERROR;
	if (admin_recovery_new(cli->policy, args[0], CLI_RECOVERY_CODES, &codes, &error) < 0)
		return cli_error("%s", error);
	/* stdout carries only the codes, so scripts can take them line by line. */
	for (unsigned i = 0; i < CLI_RECOVERY_CODES; i++)
		printf("%s\n", codes[i]);
	admin_codes_free(&codes, CLI_RECOVERY_CODES);
	if (isatty(STDOUT_FILENO) == 1)
		fprintf(stderr,
		        "Each code works once, typed after the password in place of a TOTP "
		        "code. Earlier recovery codes of %s no longer work.\n",
		        args[0]);
	return CLI_EXIT_OK;
}

const struct cli_command cli_recovery_commands[] = {
    {.group = "recovery",
     .name = "new",
     .args_min = 1,
     .args_max = 1,
     .usage = "recovery new NAME",
     .help = "Ten new one-time recovery codes (shown once), replacing the user's old ones.",
     .run = cli_recovery_new},
    {.group = NULL},
};
