#include "server/pop3/pop3-parse.h"

#include <sodium.h>
#include <string.h>

enum pop3_parse_state {
	PARSE_NAME, /* reading the keyword */
	PARSE_ARGS, /* after the first space */
	PARSE_SKIP, /* the line is bad: discard up to its end, then report */
};

void pop3_parser_init(struct pop3_parser *p, size_t max)
{
	memset(p, 0, sizeof(*p));
	buf_init(&p->args);
	p->args.secret = true;
	p->max = max;
}

void pop3_parser_deinit(struct pop3_parser *p)
{
	buf_free(&p->args);
	sodium_memzero(p, sizeof(*p));
}

void pop3_parser_set_max(struct pop3_parser *p, size_t max)
{
	p->max = max;
}

void pop3_parser_wipe(struct pop3_parser *p)
{
	buf_reset(&p->args);
}

static void pop3_parser_start_line(struct pop3_parser *p)
{
	p->state = PARSE_NAME;
	p->in_line = true;
	p->pending_cr = false;
	p->len = 0;
	p->name_len = 0;
	p->name[0] = '\0';
	p->error = NULL;
	buf_reset(&p->args);
}

static void pop3_parser_fail(struct pop3_parser *p, const char *error)
{
	if (p->error == NULL)
		p->error = error;
	p->state = PARSE_SKIP;
}

static bool pop3_is_letter(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

static void pop3_parser_name_byte(struct pop3_parser *p, unsigned char ch)
{
	if (ch == ' ' && p->name_len > 0)
		p->state = PARSE_ARGS;
	else if (ch == ' ')
		pop3_parser_fail(p, "Syntax error");
	else if (!pop3_is_letter(ch) || p->name_len == POP3_NAME_MAX)
		pop3_parser_fail(p, "Unknown command");
	else
		p->name[p->name_len++] = (char)(ch & ~0x20);
	p->name[p->name_len] = '\0';
}

/* One byte of the line that is not part of its line end. */
static void pop3_parser_byte(struct pop3_parser *p, unsigned char ch)
{
	if (++p->len > p->max)
		pop3_parser_fail(p, "Line too long");
	if (p->state == PARSE_NAME) {
		pop3_parser_name_byte(p, ch);
	} else if (p->state == PARSE_ARGS) {
		/* control bytes (NUL, a CR not before LF, ...) never belong in a command */
		if (ch < 0x20 || ch == 0x7f)
			pop3_parser_fail(p, "Invalid characters in command");
		else
			buf_append(&p->args, &ch, 1);
	}
}

static enum pop3_parse_status pop3_parser_end_line(struct pop3_parser *p, struct pop3_cmd *cmd_r,
                                                   const char **error_r)
{
	p->in_line = false;
	if (p->state != PARSE_SKIP && p->name_len == 0)
		pop3_parser_fail(p, "Empty command");
	if (p->state == PARSE_SKIP) {
		*error_r = p->error;
		return POP3_PARSE_ERROR;
	}
	memcpy(cmd_r->name, p->name, sizeof(cmd_r->name));
	buf_reserve(&p->args, 0);
	p->args.data[p->args.len] = '\0'; /* a fresh buffer has no terminator yet */
	cmd_r->args = p->args.data;
	cmd_r->args_len = p->args.len;
	cmd_r->has_args = p->state == PARSE_ARGS;
	return POP3_PARSE_DONE;
}

enum pop3_parse_status pop3_parser_feed(struct pop3_parser *p, const void *data, size_t len,
                                        size_t *used_r, struct pop3_cmd *cmd_r,
                                        const char **error_r)
{
	const unsigned char *in = data;
	size_t i;

	for (i = 0; i < len; i++) {
		if (!p->in_line)
			pop3_parser_start_line(p);
		if (in[i] == '\n') {
			*used_r = i + 1;
			return pop3_parser_end_line(p, cmd_r, error_r);
		}
		if (p->pending_cr)
			pop3_parser_byte(p, '\r'); /* a bare CR: an invalid byte */
		p->pending_cr = in[i] == '\r';
		if (!p->pending_cr)
			pop3_parser_byte(p, in[i]);
	}
	*used_r = len;
	return POP3_PARSE_MORE;
}

enum pop3_parse_status pop3_parse_line(struct pop3_parser *p, const char *line, size_t len,
                                       struct pop3_cmd *cmd_r, const char **error_r)
{
	size_t used;

	p->in_line = false;
	if (memchr(line, '\n', len) != NULL) {
		*error_r = "Invalid characters in command";
		return POP3_PARSE_ERROR;
	}
	(void)pop3_parser_feed(p, line, len, &used, cmd_r, error_r);
	return pop3_parser_feed(p, "\n", 1, &used, cmd_r, error_r);
}

int pop3_parse_number(const char *s, uint32_t *n_r)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 10)
			return 0;
		n = n * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == 0 || n > UINT32_MAX)
		return 0;
	*n_r = (uint32_t)n;
	return 1;
}

int pop3_split_args(char *args, char **argv, int max)
{
	int argc = 0;
	char *p = args;

	for (;;) {
		while (*p == ' ')
			*p++ = '\0';
		if (*p == '\0')
			return argc;
		if (argc == max)
			return -1;
		argv[argc++] = p;
		while (*p != '\0' && *p != ' ')
			p++;
	}
}
