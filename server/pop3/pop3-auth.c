/* The AUTHORIZATION state: USER/PASS, AUTH PLAIN (RFC 5034), and opening the maildrop. */
#include "server/pop3/pop3-private.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "server/conn.h"
#include "server/sasl-plain.h"
#include "server/session.h"
#include "storage/storage.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* 1 locked and synced, 0 in use by another session, -1 error. */
static int pop3_maildrop_lock(struct pop3 *p, int maildir_fd, const char **error_r)
{
	int r;

	*error_r = "storage error";
	if (maildir_fd < 0 || mail_storage_open(maildir_fd, &p->storage, error_r) < 0 ||
	    p->storage == NULL)
		return -1;
	if (mailbox_open(p->storage, "INBOX", &p->box, error_r) < 0 || p->box == NULL)
		return -1;
	r = mailbox_lock_exclusive(p->box, error_r);
	if (r <= 0)
		return r;
	return mailbox_sync(p->box, error_r) < 0 ? -1 : 1;
}

void pop3_maildrop_close(struct pop3 *p)
{
	if (p->box != NULL)
		mailbox_close(&p->box);
	if (p->storage != NULL)
		mail_storage_close(&p->storage);
	xfree(&p->deleted);
	xfree(&p->retrieved);
	xfree(&p->io_in);
	xfree(&p->io_out);
	xfree(&p->login_user);
	p->count = 0;
}

static enum pop3_cmd_result pop3_maildrop_open(struct pop3 *p, const struct session_login *login)
{
	const char *error;
	int r = pop3_maildrop_lock(p, login->maildir_fd, &error);

	if (login->maildir_fd >= 0)
		close(login->maildir_fd);
	if (r == 0) {
		log_info("pop3 user=%s ip=%s: maildrop in use", log_quote(login->user),
		         conn_peer_ip(p->conn));
		pop3_err(p, "[IN-USE] Mailbox is locked by another POP3 session.");
	} else if (r < 0) {
		log_error("pop3 user=%s: opening the maildrop failed: %s", log_quote(login->user),
		          error);
		pop3_err(p, "[SYS/TEMP] Mailbox unavailable, try again later.");
	}
	if (r <= 0) {
		pop3_maildrop_close(p);
		return POP3_CMD_END;
	}
	p->login_user = xstrdup(login->user);
	p->count = mailbox_count(p->box);
	p->deleted = xcalloc(p->count + 1, sizeof(bool));
	p->retrieved = xcalloc(p->count + 1, sizeof(bool));
	p->state = POP3_STATE_TRANSACTION;
	pop3_parser_set_max(&p->parser, POP3_LINE_MAX);
	log_info("pop3 login user=%s ip=%s messages=%zu", log_quote(p->login_user),
	         conn_peer_ip(p->conn), p->count);
	pop3_ok(p, "Logged in.");
	return POP3_CMD_OK;
}

/* Every failure looks the same to the client but for the auth service's hint (see imap_login);
 * session_login applied the delay. */
static enum pop3_cmd_result pop3_login(struct pop3 *p, const char *user, const char *secret)
{
	struct session_login login;

	memset(&login, 0, sizeof(login));
	login.maildir_fd = -1;
	session_login(p->s, user, secret, NULL, &login);
	p->login_deadline_ms += login.waited_ms;
	if (login.result == AUTH_OK)
		return pop3_maildrop_open(p, &login);
	if (login.maildir_fd >= 0)
		close(login.maildir_fd);
	if (login.result == AUTH_TEMPFAIL)
		pop3_err(p, "[SYS/TEMP] Temporary authentication failure, try again later.");
	else if (login.hint == AUTH_HINT_CODE_EXPIRED)
		pop3_err(p, "[AUTH] " SESSION_HINT_CODE_EXPIRED);
	else
		pop3_err(p, "[AUTH] Authentication failed.");
	return POP3_CMD_OK;
}

enum pop3_cmd_result pop3_cmd_user(struct pop3 *p, struct pop3_cmd *cmd)
{
	if (cmd->args_len == 0)
		return pop3_bad(p, "USER needs a user name.");
	xfree_secret_str(&p->user);
	p->user = xstrdup(cmd->args);
	pop3_ok(p, "Send your password followed by your code.");
	return POP3_CMD_OK;
}

enum pop3_cmd_result pop3_cmd_pass(struct pop3 *p, struct pop3_cmd *cmd)
{
	enum pop3_cmd_result r;

	if (p->user == NULL)
		return pop3_bad(p, "No user name given (USER first).");
	if (!cmd->has_args)
		return pop3_bad(p, "PASS needs a password.");
	/* the rest of the line: passwords may contain spaces */
	r = pop3_login(p, p->user, cmd->args);
	xfree_secret_str(&p->user);
	return r;
}

static enum pop3_cmd_result pop3_auth_plain(struct pop3 *p, const char *b64, size_t len)
{
	struct sasl_plain plain;
	enum pop3_cmd_result r;

	switch (sasl_plain_decode(b64, len, &plain)) {
	case 1:
		r = pop3_login(p, plain.authcid, plain.password);
		break;
	case 0:
		pop3_err(p, "[AUTH] Authentication failed.");
		r = POP3_CMD_BAD;
		break;
	default:
		r = pop3_bad(p, "Invalid base64 data.");
		break;
	}
	sasl_plain_free(&plain);
	return r;
}

/* "AUTH PLAIN" without an initial response: an empty challenge, then the response line. */
static enum pop3_cmd_result pop3_auth_continue(struct pop3 *p)
{
	unsigned left = pop3_login_time_left(p);
	enum pop3_cmd_result r;
	char *line;
	ssize_t n;

	conn_puts(p->conn, "+ \r\n");
	n = conn_read_line(p->conn, &line, POP3_LINE_MAX_PREAUTH, left > 0 ? left : 1);
	if (n == CONN_TOO_LONG)
		return pop3_bad(p, "Line too long.");
	if (n == CONN_TIMEOUT)
		pop3_err(p, "Login timeout, closing connection.");
	else if (n == CONN_SHUTDOWN)
		pop3_err(p, "[SYS/TEMP] Server shutting down.");
	if (n < 0)
		return POP3_CMD_END;
	if (n == 1 && line[0] == '*') {
		pop3_err(p, "Authentication cancelled.");
		return POP3_CMD_OK;
	}
	r = pop3_auth_plain(p, line, (size_t)n);
	sodium_memzero(line, (size_t)n);
	return r;
}

enum pop3_cmd_result pop3_cmd_auth(struct pop3 *p, struct pop3_cmd *cmd)
{
	char *argv[2];
	int argc = pop3_split_args(cmd->args, argv, 2);

	if (argc == 0) {
		/* the pre-CAPA way clients ask for the mechanism list */
		conn_puts(p->conn, "+OK\r\nPLAIN\r\n.\r\n");
		return POP3_CMD_OK;
	}
	if (argc < 0)
		return pop3_bad(p, "Syntax error.");
	if (strcasecmp(argv[0], "PLAIN") != 0)
		return pop3_bad(p, "Unsupported authentication mechanism.");
	if (argc == 2)
		return pop3_auth_plain(p, argv[1], strlen(argv[1]));
	return pop3_auth_continue(p);
}
