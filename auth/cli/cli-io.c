/* Terminal and stdin input for secrets, and safe output of stored text. */
#include "auth/cli/cli.h"
#include "auth/admin.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

bool cli_stdin_is_tty(void)
{
	return isatty(STDIN_FILENO) == 1;
}

bool cli_user_name_ok(const char *name)
{
	if (admin_user_name_valid(name))
		return true;
	cli_error("bad user name");
	return false;
}

/* Byte by byte from fd 0: no stdio buffer keeps a copy of the secret. */
static int cli_read_fd_line(char *buf, size_t size, const char **error_r)
{
	size_t len = 0;
	bool too_long = false, any = false;
	char c;

	for (;;) {
		ssize_t n = read(STDIN_FILENO, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = "cannot read standard input";
			return -1;
		}
		if (n == 0)
			break;
		any = true;
		if (c == '\n')
			break;
		if (len + 1 < size)
			buf[len++] = c;
		else
			too_long = true;
	}
	c = 0;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	if (too_long) {
		sodium_memzero(buf, size);
		*error_r = "input line too long";
		return -1;
	}
	return any ? 1 : 0;
}

static int cli_read_tty_line(const char *prompt, bool secret, char *buf, size_t size,
                             const char **error_r)
{
	struct termios old, quiet;
	bool echo_off = false;
	int ret;

	/* Echo goes off before the prompt shows: nothing typed after the prompt is echoed. */
	if (secret && tcgetattr(STDIN_FILENO, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
	}
	fputs(prompt, stderr);
	fflush(stderr);
	ret = cli_read_fd_line(buf, size, error_r);
	if (echo_off) {
		tcsetattr(STDIN_FILENO, TCSANOW, &old);
		fputc('\n', stderr);
	}
	return ret;
}

int cli_read_line(const char *prompt, bool secret, char *buf, size_t size, const char **error_r)
{
	buf[0] = '\0';
	if (cli_stdin_is_tty())
		return cli_read_tty_line(prompt, secret, buf, size, error_r);
	return cli_read_fd_line(buf, size, error_r);
}

int cli_read_new_password(char *buf, size_t size, const char **error_r)
{
	char *again;
	int ret = 0;

	if (!cli_stdin_is_tty())
		return cli_read_fd_line(buf, size, error_r) < 0 ? -1 : 0;
	if (cli_read_tty_line("New password: ", true, buf, size, error_r) < 0)
		return -1;
	again = sodium_malloc(size);
	if (again == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	if (cli_read_tty_line("Repeat password: ", true, again, size, error_r) < 0) {
		ret = -1;
	} else if (strlen(buf) != strlen(again) || sodium_memcmp(buf, again, strlen(buf)) != 0) {
		*error_r = "passwords do not match";
		ret = -1;
	}
	sodium_free(again);
	return ret;
}

void cli_print_safe(const char *s)
{
	if (s == NULL || *s == '\0') {
		fputc('-', stdout);
		return;
	}
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		fputc(c < 0x20 || c == 0x7f ? '?' : c, stdout);
	}
}

void cli_format_time(time_t t, const char *zero, char *buf, size_t size)
{
	struct tm tm;

	if (t == 0 || localtime_r(&t, &tm) == NULL) {
		snprintf(buf, size, "%s", zero);
		return;
	}
	strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

bool cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *value_r)
{
	unsigned long long v;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*value_r = v;
	return true;
}

void cli_print_json_string(const char *s)
{
	putchar('"');
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

void cli_print_json_member(const char *key, const char *value, bool first)
{
	printf("%s\"%s\": ", first ? "" : ", ", key);
	cli_print_json_string(value);
}

void cli_json_next(struct cli_json_array *a)
{
	fputs(a->n++ == 0 ? "[\n  " : ",\n  ", stdout);
}

void cli_json_end(struct cli_json_array *a)
{
	fputs(a->n == 0 ? "[]\n" : "\n]\n", stdout);
}
