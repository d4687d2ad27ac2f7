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

static const char *const cli_totp_enroll_flags[] = {"force", NULL};

static void cli_totp_note(const struct admin_user_info *u, void *ctx)
{
	*(bool *)ctx = u->has_totp;
}

/* A new seed replaces the one in the user's app: the phone stops working until it is scanned
 * again, so only on purpose. */
static int cli_totp_replace_ok(struct cli *cli, const char *name, bool force)
{
	bool has_totp = false;
	const char *error;

	if (admin_user_show(cli->policy, name, cli_totp_note, &has_totp, &error) < 0)
		return cli_error("%s", error);
	if (has_totp && !force)
		return cli_error("%s has TOTP already: a new seed replaces the one in the user's app "
		                 "(give --force to do that)",
		                 name);
	return CLI_EXIT_OK;
}

static int cli_totp_enroll(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	bool terminal = isatty(STDOUT_FILENO) == 1 && cli_stdin_is_tty();
	const char *error;
	char *uri = NULL;
	int ret = CLI_EXIT_OK;

	if (!cli_user_name_ok(args[0]))
		return CLI_EXIT_ERROR;
	ret = cli_totp_replace_ok(cli, args[0], opts[0] != NULL);
	if (ret != CLI_EXIT_OK)
		return ret;
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
     .flags = cli_totp_enroll_flags,
     .usage = "totp enroll NAME [--force]",
     .help = "A new TOTP seed: prints the otpauth:// URI (and on a terminal a QR code, then asks for a current code before activating it). A user who has TOTP already keeps it unless --force.",
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
