/* The POP3 session: greeting, the command loop with its limits, and the end of a session. */
#include "server/pop3/pop3-private.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "server/conn.h"
#include "server/session.h"

#include <malloc.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct pop3_command {
	const char *name;
	enum pop3_cmd_result (*handler)(struct pop3 *p, struct pop3_cmd *cmd);
	unsigned states; /* enum pop3_state bits */
};

#define POP3_ANY_STATE (POP3_STATE_AUTHORIZATION | POP3_STATE_TRANSACTION)

static const struct pop3_command pop3_commands[] = {
    {"CAPA", pop3_cmd_capa, POP3_ANY_STATE},
    {"QUIT", pop3_cmd_quit, POP3_ANY_STATE},
    {"NOOP", pop3_cmd_noop, POP3_STATE_TRANSACTION},
    {"USER", pop3_cmd_user, POP3_STATE_AUTHORIZATION},
    {"PASS", pop3_cmd_pass, POP3_STATE_AUTHORIZATION},
    {"AUTH", pop3_cmd_auth, POP3_STATE_AUTHORIZATION},
    {"STAT", pop3_cmd_stat, POP3_STATE_TRANSACTION},
    {"LIST", pop3_cmd_list, POP3_STATE_TRANSACTION},
    {"UIDL", pop3_cmd_uidl, POP3_STATE_TRANSACTION},
    {"RETR", pop3_cmd_retr, POP3_STATE_TRANSACTION},
    {"TOP", pop3_cmd_top, POP3_STATE_TRANSACTION},
    {"DELE", pop3_cmd_dele, POP3_STATE_TRANSACTION},
    {"RSET", pop3_cmd_rset, POP3_STATE_TRANSACTION},
};

unsigned pop3_login_time_left(const struct pop3 *p)
{
	return clock_seconds_left(p->login_deadline_ms);
}

static void pop3_reply(struct pop3 *p, const char *status, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void pop3_reply(struct pop3 *p, const char *status, const char *fmt, va_list ap)
{
	char text[512];

	vsnprintf(text, sizeof(text), fmt, ap);
	conn_printf(p->conn, "%s %s\r\n", status, text);
}

void pop3_ok(struct pop3 *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pop3_reply(p, "+OK", fmt, ap);
	va_end(ap);
}

void pop3_err(struct pop3 *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pop3_reply(p, "-ERR", fmt, ap);
	va_end(ap);
}

static const struct pop3_command *pop3_command_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(pop3_commands) / sizeof(pop3_commands[0]); i++) {
		if (strcmp(pop3_commands[i].name, name) == 0)
			return &pop3_commands[i];
	}
	return NULL;
}

enum pop3_cmd_result pop3_bad(struct pop3 *p, const char *error)
{
	if (p->state == POP3_STATE_AUTHORIZATION && ++p->bad_commands >= POP3_MAX_BAD_COMMANDS) {
		p->end = "bad-commands";
		pop3_err(p, "Too many bad commands, closing connection.");
		return POP3_CMD_END;
	}
	pop3_err(p, "%s", error);
	return POP3_CMD_BAD;
}

static enum pop3_cmd_result pop3_run(struct pop3 *p, struct pop3_cmd *cmd)
{
	const struct pop3_command *c = pop3_command_find(cmd->name);

	if (c == NULL)
		return pop3_bad(p, "Unknown command.");
	if ((c->states & p->state) == 0)
		return pop3_bad(p, p->state == POP3_STATE_AUTHORIZATION ? "Not logged in."
		                                                        : "Already logged in.");
	return c->handler(p, cmd);
}

static enum pop3_cmd_result pop3_dispatch(struct pop3 *p, char *line, size_t len)
{
	struct pop3_cmd cmd;
	const char *error;
	enum pop3_cmd_result r;
	enum pop3_parse_status st = pop3_parse_line(&p->parser, line, len, &cmd, &error);

	/* the parser holds its own copy; the line may have been a password, and a handler that
	 * reads on (AUTH PLAIN's continuation) may move the connection's buffer */
	sodium_memzero(line, len);
	if (st == POP3_PARSE_DONE) {
		r = pop3_run(p, &cmd);
	} else {
		char text[128];

		snprintf(text, sizeof(text), "%s.", error);
		r = pop3_bad(p, text);
	}
	pop3_parser_wipe(&p->parser);
	return r;
}

/* Reads and runs one command. false when the session is over. */
static bool pop3_step(struct pop3 *p)
{
	bool preauth = p->state == POP3_STATE_AUTHORIZATION;
	unsigned timeout = preauth ? pop3_login_time_left(p) : p->s->cfg->idle_timeout;
	char *line;
	ssize_t n;
	enum pop3_cmd_result r;

	if (session_stopping(p->s)) {
		p->end = "shutdown";
		pop3_err(p, "[SYS/TEMP] Server shutting down.");
		return false;
	}
	if (timeout == 0) {
		p->end = "timeout";
		pop3_err(p, "Login timeout, closing connection.");
		return false;
	}
	n = conn_read_line(p->conn, &line, preauth ? POP3_LINE_MAX_PREAUTH : POP3_LINE_MAX,
	                   timeout);
	if (n == CONN_TOO_LONG)
		return pop3_bad(p, "Line too long.") != POP3_CMD_END;
	if (n == CONN_TIMEOUT) {
		p->end = "timeout";
		pop3_err(p, "%s",
		         preauth ? "Login timeout, closing connection."
		                 : "Disconnected for inactivity.");
		return false;
	}
	if (n == CONN_SHUTDOWN) {
		p->end = "shutdown";
		pop3_err(p, "[SYS/TEMP] Server shutting down.");
		return false;
	}
	if (n < 0)
		return false;
	r = pop3_dispatch(p, line, (size_t)n);
	if (!conn_input_buffered(p->conn))
		conn_flush(p->conn); /* one flush per pipelined batch */
	return r != POP3_CMD_END && !conn_broken(p->conn);
}

/* The client has gone quiet (conn_set_idle; the connection has released its buffers): freed
 * heap pages back to the kernel for the wait. */
static void pop3_idle(void *ctx)
{
	(void)ctx;
	(void)malloc_trim(0);
}

/* What happened to the maildrop: a session that did not end with QUIT (dropped, timed out,
 * shut down) removed nothing, whatever it marked with DELE. */
static void pop3_log_logout(const struct pop3 *p)
{
	const char *end = p->end != NULL ? p->end : "dropped";
	bool quit = strcmp(end, "quit") == 0;

	log_info("pop3 logout user=%s ip=%s end=%s retrieved=%u deleted=%u%s",
	         log_quote(p->login_user), conn_peer_ip(p->conn), end, p->n_retr, p->n_removed,
	         !quit && p->n_dele > 0 ? " (DELE not applied: no QUIT)" : "");
}

void pop3_session_run(struct session *s)
{
	struct pop3 p;

	memset(&p, 0, sizeof(p));
	p.s = s;
	p.conn = s->conn;
	p.state = POP3_STATE_AUTHORIZATION;
	pop3_parser_init(&p.parser, POP3_LINE_MAX_PREAUTH);
	p.login_deadline_ms = session_begin(s, pop3_idle, NULL);

	pop3_ok(&p, "twofold ready.");
	while (pop3_step(&p)) {
	}
	conn_flush(p.conn);
	if (p.login_user != NULL)
		pop3_log_logout(&p);
	pop3_maildrop_close(&p);
	xfree_secret_str(&p.user);
	pop3_parser_deinit(&p.parser);
	conn_set_idle(p.conn, 0, NULL, NULL);
}
