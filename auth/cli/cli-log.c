/* twofold log [NAME] [--limit N]: the audit log, most recent first. */
#include "auth/cli/cli.h"
#include "auth/admin.h"

#include <stdio.h>

#define CLI_LOG_DEFAULT_LIMIT 50
#define CLI_LOG_MAX_LIMIT     1000000

static const char *const cli_log_opts[] = {"limit", NULL};

static void cli_log_field(const char *label, const char *value)
{
	printf("\t%s", label);
	cli_print_safe(value);
}

static const char *const cli_log_flags[] = {"json", NULL};

static void cli_log_json(const struct admin_log_entry *e, struct cli_json_array *a)
{
	cli_json_next(a);
	printf("{\"time\": %lld", (long long)e->time);
	cli_print_json_member("user", e->user, false);
	cli_print_json_member("proto", e->proto, false);
	cli_print_json_member("ip", e->ip, false);
	cli_print_json_member("factor", e->factor, false);
	cli_print_json_member("result", e->result, false);
	cli_print_json_member("reason", e->reason, false);
	cli_print_json_member("client", e->client_id, false);
	printf(", \"stolen_password\": %s}", e->stolen_password ? "true" : "false");
}

static void cli_log_row(const struct admin_log_entry *e, void *ctx)
{
	char when[32];

	if (((struct cli_json_array *)ctx)->json) {
		cli_log_json(e, ctx);
		return;
	}

	cli_format_time(e->time, "-", when, sizeof(when));
	printf("%s", when);
	cli_log_field("user=", e->user);
	cli_log_field("proto=", e->proto);
	cli_log_field("ip=", e->ip);
	cli_log_field("factor=", e->factor);
	cli_log_field("result=", e->result);
	cli_log_field("reason=", e->reason);
	if (e->client_id != NULL && e->client_id[0] != '\0')
		cli_log_field("client=", e->client_id);
	if (e->stolen_password)
		printf("\tSTOLEN-PASSWORD? (password right, second factor wrong)");
	putchar('\n');
}

static int cli_log(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	struct cli_json_array a = {.json = opts[1] != NULL};
	const char *error;
	uint64_t limit = CLI_LOG_DEFAULT_LIMIT;

	if (opts[0] != NULL && !cli_parse_uint(opts[0], 1, CLI_LOG_MAX_LIMIT, &limit))
		return cli_usage_error(&cli_log_commands[0], "--limit takes a positive number");
	if (admin_log(cli->policy, nargs > 0 ? args[0] : NULL, (unsigned)limit, cli_log_row, &a,
	              &error) < 0)
		return cli_error("%s", error);
	if (a.json)
		cli_json_end(&a);
	return CLI_EXIT_OK;
}

const struct cli_command cli_log_commands[] = {
    {.group = "log",
     .name = NULL,
     .args_min = 0,
     .args_max = 1,
     .opts = cli_log_opts,
     .flags = cli_log_flags,
     .usage = "log [NAME] [--limit N] [--json]",
     .help = "Recent logins, most recent first: time, user, protocol, IP, factor, result and reason; one line each, tab-separated key=value fields, or a JSON array with --json (time as Unix seconds).",
     .run = cli_log},
    {.group = NULL},
};
