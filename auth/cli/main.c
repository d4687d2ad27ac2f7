/* twofold: the admin command. Finds the subcommand, loads the config, becomes the service user
 * when started as root, opens the auth store and runs the subcommand. */
#include "auth/cli/cli.h"
#include "auth/policy.h"
#include "common/config.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <getopt.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CLI_MAX_OPTS 8

static const struct cli_command *const cli_tables[] = {
    cli_user_commands,     cli_totp_commands,    cli_apppass_commands,
    cli_recovery_commands, cli_log_commands,     cli_auth_commands,
    cli_key_commands,      cli_yubikey_commands, cli_login_commands,
    cli_who_commands,      cli_user_show_commands,
};

static void cli_print_usage(FILE *out)
{
	fprintf(out, "usage: twofold [-c FILE] [-v] COMMAND ...\n\ncommands:\n");
	for (size_t t = 0; t < sizeof(cli_tables) / sizeof(cli_tables[0]); t++)
		for (const struct cli_command *c = cli_tables[t]; c->group != NULL; c++)
			fprintf(out, "  twofold [-c FILE] %s\n", c->usage);
	fprintf(out,
	        "\n  -c, --config FILE  configuration (default %s)\n"
	        "  -v                 debug output\n"
	        "  -h, --help         this text; `twofold COMMAND --help` explains a command\n"
	        "  -V, --version      the version\n"
	        "\nSee twofold(8).\n",
	        TWOFOLD_DEFAULT_CONFIG);
}

/* One command's usage and what it does, wrapped at 78 columns. */
static void cli_print_command_help(const struct cli_command *c)
{
	const char *p = c->help;
	int col = 4;

	printf("twofold [-c FILE] %s\n", c->usage);
	if (p == NULL)
		return;
	fputs("    ", stdout);
	while (*p != '\0') {
		size_t word = strcspn(p, " ");

		if (col > 4 && col + 1 + (int)word > 78) {
			fputs("\n    ", stdout);
			col = 4;
		} else if (col > 4) {
			putchar(' ');
			col++;
		}
		fwrite(p, 1, word, stdout);
		col += (int)word;
		p += word;
		p += strspn(p, " ");
	}
	putchar('\n');
}

/* `twofold GROUP --help`, `twofold GROUP NAME --help`: the commands that match. */
static int cli_help(const char *group, const char *name)
{
	bool first = true;

	for (size_t t = 0; t < sizeof(cli_tables) / sizeof(cli_tables[0]); t++)
		for (const struct cli_command *c = cli_tables[t]; c->group != NULL; c++) {
			if (strcmp(c->group, group) != 0 ||
			    (name != NULL && c->name != NULL && strcmp(c->name, name) != 0))
				continue;
			if (!first)
				putchar('\n');
			first = false;
			cli_print_command_help(c);
		}
	return CLI_EXIT_OK;
}

/* A --help or -h among the words (before a "--"). */
static bool cli_wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

int cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("twofold: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_EXIT_ERROR;
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("twofold: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd != NULL)
		fprintf(stderr, " (usage: twofold [-c FILE] %s)\n", cmd->usage);
	else
		fputs(" (see twofold --help)\n", stderr);
	return CLI_EXIT_USAGE;
}

static const struct cli_command *cli_find(int argc, char **argv, int *used_r)
{
	for (size_t t = 0; t < sizeof(cli_tables) / sizeof(cli_tables[0]); t++) {
		for (const struct cli_command *c = cli_tables[t]; c->group != NULL; c++) {
			if (strcmp(c->group, argv[0]) != 0)
				continue;
			if (c->name == NULL) {
				*used_r = 1;
				return c;
			}
			if (argc >= 2 && strcmp(c->name, argv[1]) == 0) {
				*used_r = 2;
				return c;
			}
		}
	}
	return NULL;
}

static bool cli_group_known(const char *group)
{
	for (size_t t = 0; t < sizeof(cli_tables) / sizeof(cli_tables[0]); t++)
		for (const struct cli_command *c = cli_tables[t]; c->group != NULL; c++)
			if (strcmp(c->group, group) == 0)
				return true;
	return false;
}

/* The index of name in list (NULL-terminated or NULL), or -1; *count_r: the list's length. */
static int cli_list_index(const char *const *list, const char *name, size_t len, int *count_r)
{
	int found = -1, i = 0;

	for (; list != NULL && list[i] != NULL; i++)
		if (found < 0 && strlen(list[i]) == len && strncmp(list[i], name, len) == 0)
			found = i;
	*count_r = i;
	return found;
}

/* "--name" -> its index in optvals (cmd->opts, then cmd->flags), -1 when the command has no
 * such option; *flag_r: it takes no value. */
static int cli_opt_index(const struct cli_command *cmd, const char *name, size_t len,
                         bool *flag_r)
{
	int nopts, nflags;
	int i = cli_list_index(cmd->opts, name, len, &nopts);
	int j = cli_list_index(cmd->flags, name, len, &nflags);

	*flag_r = i < 0 && j >= 0;
	return i >= 0 ? i : j >= 0 ? nopts + j : -1;
}

/* Splits the words after the command into positional arguments (moved to the front of argv)
 * and --option values. Returns CLI_EXIT_OK or CLI_EXIT_USAGE. */
static int cli_parse_args(const struct cli_command *cmd, int argc, char **argv, unsigned *nargs_r,
                          const char **optvals)
{
	unsigned nargs = 0;
	bool opts_done = false;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *eq, *value;
		size_t len;
		bool flag;
		int idx;

		if (opts_done || strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			if (!opts_done && strcmp(a, "--") == 0) {
				opts_done = true;
				continue;
			}
			argv[nargs++] = argv[i];
			continue;
		}
		eq = strchr(a + 2, '=');
		len = eq != NULL ? (size_t)(eq - (a + 2)) : strlen(a + 2);
		idx = cli_opt_index(cmd, a + 2, len, &flag);
		if (idx < 0)
			return cli_usage_error(cmd, "unknown option '%s'", a);
		if (flag && eq != NULL)
			return cli_usage_error(cmd, "option '--%.*s' takes no value", (int)len, a + 2);
		if (flag)
			value = "";
		else if (eq != NULL)
			value = eq + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		else
			return cli_usage_error(cmd, "option '%s' needs a value", a);
		optvals[idx] = value;
	}
	if (nargs < cmd->args_min)
		return cli_usage_error(cmd, "missing argument");
	if (nargs > cmd->args_max)
		return cli_usage_error(cmd, "too many arguments");
	*nargs_r = nargs;
	return CLI_EXIT_OK;
}

static int cli_open(const char *config_path, const struct cli_command *cmd, struct config **cfg_r,
                    struct auth_policy **policy_r)
{
	const char *error;
	char *cfg_error;

	if (config_load(config_path, cfg_r, &cfg_error) < 0) {
		fprintf(stderr, "%s\n", cfg_error);
		free(cfg_error);
		return CLI_EXIT_ERROR;
	}
	if (cmd->no_store)
		return CLI_EXIT_OK;
	if (cli_privileges_setup(*cfg_r, cmd->makes_maildir, &error) < 0)
		return cli_error("%s", error);
	if (auth_policy_open(*cfg_r, policy_r, &error) < 0)
		return cli_error("%s", error);
	return CLI_EXIT_OK;
}

static int cli_run(const char *config_path, int argc, char **argv)
{
	const char *optvals[CLI_MAX_OPTS] = {NULL};
	const struct cli_command *cmd;
	struct config *cfg = NULL;
	struct auth_policy *policy = NULL;
	unsigned nargs = 0;
	int used, ret;

	cmd = cli_find(argc, argv, &used);
	if (cmd == NULL && !cli_group_known(argv[0]))
		return cli_usage_error(NULL, "unknown command '%s'", argv[0]);
	if (cli_wants_help(argc, argv))
		return cli_help(argv[0], cmd != NULL && cmd->name != NULL ? cmd->name : NULL);
	if (cmd == NULL && argc < 2)
		return cli_usage_error(NULL, "'%s' needs a subcommand", argv[0]);
	if (cmd == NULL)
		return cli_usage_error(NULL, "unknown subcommand '%s %s'", argv[0], argv[1]);
	ret = cli_parse_args(cmd, argc - used, argv + used, &nargs, optvals);
	if (ret != CLI_EXIT_OK)
		return ret;
	ret = cli_open(config_path, cmd, &cfg, &policy);
	if (ret == CLI_EXIT_OK) {
		struct cli cli = {.cfg = cfg, .policy = policy};

		ret = cmd->run(&cli, argv + used, nargs, optvals);
	}
	auth_policy_close(&policy);
	cli_privileges_done();
	config_free(&cfg);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"config", required_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	const char *config_path = TWOFOLD_DEFAULT_CONFIG;
	int c, ret;

	log_init("twofold", true);
	log_set_level(LOG_LEVEL_ERROR);
	if (sodium_init() < 0)
		fatal("libsodium initialisation failed");
	umask(027);
	while ((c = getopt_long(argc, argv, "+c:vh", long_opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'v':
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		case 'h':
			cli_print_usage(stdout);
			return CLI_EXIT_OK;
		case 'V':
			printf("twofold %s\n", TWOFOLD_VERSION);
			return CLI_EXIT_OK;
		default:
			cli_print_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		cli_print_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	ret = cli_run(config_path, argc - optind, argv + optind);
	if (fflush(stdout) != 0 || ferror(stdout))
		return cli_error("cannot write output");
	return ret;
}
