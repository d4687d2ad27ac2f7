/* twofold who [--json], twofold kick NAME: asked of the running daemon over its control socket
 * ([server] control, server/control.h), not of the store. */
#include "auth/cli/cli.h"
#include "common/config.h"
#include "common/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* The master's answer is one line per session: a bound far above any pool. */
#define CLI_WHO_ANSWER_MAX (4u << 20)
#define CLI_WHO_TIMEOUT_S  10

static const char *const cli_who_flags[] = {"json", NULL};

struct cli_who_session {
	char *pid, *user, *proto, *ip, *since;
};

static int cli_who_connect(const struct config *cfg)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = CLI_WHO_TIMEOUT_S};
	int fd;

	if (strlen(cfg->control_socket) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, cfg->control_socket, strlen(cfg->control_socket));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Sends request, returns the whole answer (caller frees) or NULL with the reason printed. */
static char *cli_who_ask(const struct config *cfg, const char *request)
{
	size_t len = 0, cap = 4096;
	char *answer;
	ssize_t n;
	int fd = cli_who_connect(cfg);

	if (fd < 0) {
		cli_error("cannot reach the daemon at %s ([server] control): %s (is twofoldd "
		          "running? as root?)",
		          cfg->control_socket, strerror(errno));
		return NULL;
	}
	if (dprintf(fd, "%s\n", request) < 0) {
		cli_error("%s: %s", cfg->control_socket, strerror(errno));
		close(fd);
		return NULL;
	}
	answer = xmalloc(cap);
	while ((n = read(fd, answer + len, cap - 1 - len)) > 0) {
		len += (size_t)n;
		if (len == cap - 1 && cap < CLI_WHO_ANSWER_MAX)
			answer = xrealloc(answer, cap *= 2);
		else if (len == cap - 1)
			break;
	}
	close(fd);
	answer[len] = '\0';
	return answer;
}

/* Splits one "S\t..." line into its fields (in place); false when it is not one. */
static bool cli_who_parse(char *line, struct cli_who_session *s)
{
	char *f[6], *save = NULL;
	size_t n = 0;

	for (char *t = strtok_r(line, "\t", &save); t != NULL && n < 6;
	     t = strtok_r(NULL, "\t", &save))
		f[n++] = t;
	if (n != 6 || strcmp(f[0], "S") != 0)
		return false;
	*s = (struct cli_who_session){f[1], f[2], f[3], f[4], f[5]};
	return true;
}

static void cli_who_row(const struct cli_who_session *s, bool json, bool first)
{
	char since[32];

	cli_format_time((time_t)strtoll(s->since, NULL, 10), "-", since, sizeof(since));
	if (json) {
		printf("%s\n  {\"user\": ", first ? "" : ",");
		cli_print_json_string(s->user);
		printf(", \"protocol\": ");
		cli_print_json_string(s->proto);
		printf(", \"ip\": ");
		cli_print_json_string(s->ip);
		printf(", \"since\": %lld, \"pid\": %ld}", strtoll(s->since, NULL, 10),
		       strtol(s->pid, NULL, 10));
		return;
	}
	printf("%-32s %-5s %-39s %-19s %s\n", s->user, s->proto, s->ip, since, s->pid);
}

/* Prints the sessions of an answer; the number its OK line gives, or -1 (reason printed). */
static long cli_who_print(char *answer, bool json, bool header)
{
	struct cli_who_session s;
	char *save = NULL;
	bool first = true;

	if (header && !json)
		printf("%-32s %-5s %-39s %-19s %s\n", "USER", "PROTO", "IP", "SINCE", "PID");
	if (json)
		putchar('[');
	for (char *line = strtok_r(answer, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "OK\t", 3) == 0) {
			if (json)
				printf("%s]\n", first ? "" : "\n");
			return strtol(line + 3, NULL, 10);
		}
		if (strncmp(line, "ERR\t", 4) == 0) {
			cli_error("the daemon refused: %s", line + 4);
			return -1;
		}
		if (cli_who_parse(line, &s))
			cli_who_row(&s, json, first);
		first = false;
	}
	cli_error("the daemon's answer ended early");
	return -1;
}

static int cli_who(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	char *answer = cli_who_ask(cli->cfg, "who");
	long n;

	if (answer == NULL)
		return CLI_EXIT_ERROR;
	n = cli_who_print(answer, opts[0] != NULL, true);
	free(answer);
	return n < 0 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
}

static int cli_kick(struct cli *cli, char **args, unsigned nargs, const char **opts)
{
	char *request, *answer;
	long n;

	if (!cli_user_name_ok(args[0]))
		return CLI_EXIT_ERROR;
	request = xasprintf("kick %s", args[0]);
	answer = cli_who_ask(cli->cfg, request);
	free(request);
	if (answer == NULL)
		return CLI_EXIT_ERROR;
	n = cli_who_print(answer, false, false);
	free(answer);
	if (n < 0)
		return CLI_EXIT_ERROR;
	printf("%ld session%s of %s ended\n", n, n == 1 ? "" : "s", args[0]);
	return CLI_EXIT_OK;
}

const struct cli_command cli_who_commands[] = {
    {.group = "who",
     .name = NULL,
     .args_min = 0,
     .args_max = 0,
     .flags = cli_who_flags,
     .usage = "who [--json]",
     .help = "The logged-in sessions of the running daemon: user, protocol, IP, since when, worker "
             "pid (a header and fixed columns, or --json).",
     .run = cli_who,
     .no_store = true},
    {.group = "kick",
     .name = NULL,
     .args_min = 1,
     .args_max = 1,
     .usage = "kick NAME",
     .help = "Ends every session of the user in the running daemon (the client sees the server "
             "close, as at a shutdown); lists the sessions ended.",
     .run = cli_kick,
     .no_store = true},
    {.group = NULL},
};
