/* twofold auth test NAME [--proto imap|pop3] [--ip ADDR]: one real login through the policy,
 * like `doveadm auth test`. Failures, replay state and the audit log change exactly as for a
 * login at the daemon; the delay the daemon would apply is printed, not slept. A login held for
 * the user's approval waits for it here as it would at the daemon. */
#include "auth/cli/cli.h"
#include "auth/policy.h"

#include <sodium.h>
#include <stdio.h>
#include <time.h>

#define CLI_HOLD_POLL_MS 250

enum { OPT_PROTO, OPT_IP };
static const char *const cli_auth_test_opts[] = {"proto", "ip", NULL};

static int cli_auth_test_print(const struct auth_reply *reply)
{
	switch (reply->result) {
	case AUTH_OK:
		printf("OK\n");
		return CLI_EXIT_OK;
	case AUTH_FAIL:
		printf("FAIL delay=%us%s\n", (reply->delay_ms + 999) / 1000,
		       reply->hint == AUTH_HINT_CODE_EXPIRED ? " hint=code-expired" : "");
		return CLI_EXIT_ERROR;
	case AUTH_TEMPFAIL:
		printf("TEMPFAIL\n");
		return CLI_EXIT_ERROR;
	case AUTH_PENDING: /* a portal sign-in: the password was right, the key is next */
		printf("PENDING security key\n");
		return CLI_EXIT_ERROR;
	}
	return CLI_EXIT_ERROR;
}

/* Waits for the decision on a held login, polling the store like the auth service. */
static void cli_auth_test_hold(struct cli *cli, struct auth_reply *reply)
{
	struct auth_hold hold = reply->hold;
	struct timespec pause = {.tv_nsec = CLI_HOLD_POLL_MS * 1000000L};

	fprintf(stderr, "held for approval (request %lld): waiting up to %u s\n",
	        (long long)hold.approval_id, (unsigned)(hold.until - time(NULL)));
	while (auth_policy_hold_check(cli->policy, &hold, time(NULL), NULL, NULL, reply) == 0)
		nanosleep(&pause, NULL);
}

static int cli_auth_test(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	struct auth_request req = {
	    .user = args[0],
	    .proto = AUTH_PROTO_IMAP,
	    .ip = opts[OPT_IP] != NULL ? opts[OPT_IP] : "",
	    .client_id = "twofold auth test",
	};
	struct auth_reply reply = {0};
	const char *error;
	char *secret;
	int ret;

	if (opts[OPT_PROTO] != NULL && auth_proto_parse(opts[OPT_PROTO], &req.proto) < 0)
		return cli_usage_error(&cli_auth_commands[0], "--proto must be imap or pop3");
	secret = sodium_malloc(CLI_SECRET_MAX + 1);
	if (secret == NULL)
		return cli_error("out of memory");
	ret = cli_read_line("Password and code: ", true, secret, CLI_SECRET_MAX + 1, &error);
	if (ret <= 0) {
		sodium_free(secret);
		return cli_error("%s", ret < 0 ? error : "no secret on standard input");
	}
	req.secret = secret;
	req.now = time(NULL);
	auth_policy_login(cli->policy, &req, &reply);
	sodium_free(secret); /* wipes */
	if (reply.result == AUTH_PENDING && req.proto != AUTH_PROTO_PORTAL)
		cli_auth_test_hold(cli, &reply);
	return cli_auth_test_print(&reply);
}

const struct cli_command cli_auth_commands[] = {
    {.group = "auth",
     .name = "test",
     .args_min = 1,
     .args_max = 1,
     .opts = cli_auth_test_opts,
     .usage = "auth test NAME [--proto imap|pop3] [--ip ADDR]",
     .help = "Runs the real login policy on the password (+ code) read from stdin: OK, or FAIL "
             "with the delay a client would get. Counts like a real login.",
     .run = cli_auth_test},
    {.group = NULL},
};
