/* twofold totp enroll|remove */
#include "auth/cli/cli.h"
#include "auth/admin.h"
#include "common/xalloc.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CLI_TOTP_TRIES 3

/* On a terminal the admin scans the code and proves it works before the seed goes live. */
static int cli_totp_confirm(struct cli *cli, const char *name)
{
	char code[32];
	const char *error = "no code given";

	for (int i = 0; i < CLI_TOTP_TRIES; i++) {
		int r = cli_read_line("Enter the current code from the app to activate: ", false,
		                      code, sizeof(code), &error);

		if (r <= 0)
			break;
		if (admin_totp_confirm(cli->policy, name, code, time(NULL), &error) == 0) {
			sodium_memzero(code, sizeof(code));
			printf("TOTP activated for %s\n", name);
			return CLI_EXIT_OK;
		}
		fprintf(stderr, "%s\n", error);
	}
	sodium_memzero(code, sizeof(code));
	return cli_error("TOTP not activated: %s", error);
}

static int cli_totp_enroll(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	bool terminal = isatty(STDOUT_FILENO) == 1 && cli_stdin_is_tty();
	const char *error;
	char *uri = NULL;
	int ret = CLI_EXIT_OK;

	if (!cli_user_name_ok(args[0]))
		return CLI_EXIT_ERROR;
	if (admin_totp_enroll(cli->policy, args[0], terminal, &uri, &error) < 0)
		return cli_error("%s", error);
	printf("%s\n", uri);
	if (terminal) {
		if (cli_qr_print(uri) < 0)
			fprintf(stderr,
			        "twofold: cannot draw the QR code; enter the URI by hand\n");
		fflush(stdout);
		ret = cli_totp_confirm(cli, args[0]);
	}
	xfree_secret_str(&uri);
	return ret;
}

static int cli_totp_remove(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	const char *error;

	if (!cli_user_name_ok(args[0]))
		return CLI_EXIT_ERROR;
	if (admin_totp_remove(cli->policy, args[0], &error) < 0)
		return cli_error("%s", error);
	return CLI_EXIT_OK;
}

const struct cli_command cli_totp_commands[] = {
    {.group = "totp",
     .name = "enroll",
     .args_min = 1,
     .args_max = 1,
     .usage = "totp enroll NAME",
     .help = "A new TOTP seed: prints the otpauth:// URI (and on a terminal a QR code, then asks for a current code before activating it).",
     .run = cli_totp_enroll},
    {.group = "totp",
     .name = "remove",
     .args_min = 1,
     .args_max = 1,
     .usage = "totp remove NAME",
     .help = "Removes the user's TOTP seed.",
     .run = cli_totp_remove},
    {.group = NULL},
};
