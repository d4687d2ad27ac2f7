/* Any-state and login commands: CAPABILITY NOOP LOGOUT LOGIN AUTHENTICATE ENABLE ID. */
#include "server/imap/imap-client.h"
#include "server/imap/imap-reply.h"
#include "common/config.h"
#include "common/log.h"
#include "common/text.h"
#include "common/xalloc.h"
#include "server/conn.h"
#include "server/sasl-plain.h"
#include "server/session.h"
#include "storage/storage.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum imap_cmd_result imap_cmd_capability(struct imap_client *c, const struct imap_arg *a,
                                         unsigned n)
{
	(void)a;
	if (n != 0)
		return imap_bad(c, "CAPABILITY takes no arguments.");
	imap_untagged(c, "CAPABILITY %s%s", imap_capabilities(c),
	              c->state == IMAP_STATE_NOAUTH ? " AUTH=PLAIN" : "");
	imap_ok(c, "Capability completed.");
	return IMAP_CMD_OK;
}

enum imap_cmd_result imap_cmd_noop(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	(void)a;
	(void)n;
	imap_ok(c, "NOOP completed.");
	return IMAP_CMD_OK;
}

enum imap_cmd_result imap_cmd_logout(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	(void)a;
	if (n != 0)
		return imap_bad(c, "LOGOUT takes no arguments.");
	imap_untagged(c, "BYE Logging out.");
	imap_tagged(c, "OK", "Logout completed.");
	c->state = IMAP_STATE_LOGOUT;
	return IMAP_CMD_END;
}

static void imap_wipe_arg(const struct imap_arg *arg)
{
	/* the parser's copy of a password: wipe it before the arguments are freed */
	if (arg->str != NULL)
		sodium_memzero(arg->str, arg->str_len);
}

static enum imap_cmd_result imap_logged_in(struct imap_client *c, const struct session_login *login)
{
	const char *error = "no maildir";

	if (login->maildir_fd < 0 ||
	    mail_storage_open(login->maildir_fd, &c->storage, &error) < 0) {
		log_error("imap user=%s: opening the mail storage failed: %s",
		          log_quote(login->user), error);
		if (login->maildir_fd >= 0)
			close(login->maildir_fd);
		imap_tagged(c, "NO", "[UNAVAILABLE] Mailbox unavailable, try again later.");
		return IMAP_CMD_OK;
	}
	close(login->maildir_fd);
	c->user = xstrdup(login->user);
	c->state = IMAP_STATE_AUTH;
	c->limits = imap_parser_limits_default;
	c->limits.max_literal = UINT64_MAX; /* APPEND checks its own limit: NO [TOOBIG] */
	imap_parser_set_limits(c->parser, &c->limits);
	log_info("imap login user=%s ip=%s", log_quote(c->user), conn_peer_ip(c->conn));
	imap_tagged(c, "OK", "[CAPABILITY %s] Logged in.", imap_capabilities(c));
	return IMAP_CMD_OK;
}

/* Every failure looks the same to the client, but for the hint that the auth service gives
 * only to a client that sent the right password with a code it used before; session_login
 * applied the delay. */
static enum imap_cmd_result imap_login(struct imap_client *c, const char *user, const char *secret)
{
	struct session_login login;

	memset(&login, 0, sizeof(login));
	login.maildir_fd = -1;
	session_login(c->s, user, secret, c->client_id[0] != '\0' ? c->client_id : NULL, &login);
	c->login_deadline_ms += login.waited_ms;
	if (login.result == AUTH_OK)
		return imap_logged_in(c, &login);
	if (login.maildir_fd >= 0)
		close(login.maildir_fd);
	if (login.result == AUTH_TEMPFAIL)
		imap_tagged(c, "NO",
		            "[UNAVAILABLE] Temporary authentication failure, try again later.");
	else if (login.hint == AUTH_HINT_CODE_EXPIRED)
		imap_tagged(c, "NO", "[EXPIRED] " SESSION_HINT_CODE_EXPIRED);
	else
		imap_tagged(c, "NO", "[AUTHENTICATIONFAILED] Authentication failed.");
	return IMAP_CMD_OK;
}

static enum imap_cmd_result imap_login_args(struct imap_client *c, const struct imap_arg *a,
                                            unsigned n)
{
	const char *user, *pass;
	enum imap_cmd_result r;

	if (n != 2 || !imap_arg_get_astring(&a[0], &user) || !imap_arg_get_astring(&a[1], &pass)) {
		if (n >= 2)
			imap_wipe_arg(&a[1]);
		return imap_bad(c, "LOGIN needs a user name and a password.");
	}
	r = imap_login(c, user, pass);
	imap_wipe_arg(&a[1]);
	return r;
}

static enum imap_cmd_result imap_auth_plain(struct imap_client *c, const char *b64, size_t len)
{
	struct sasl_plain plain;
	enum imap_cmd_result r;

	switch (sasl_plain_decode(b64, len, &plain)) {
	case 1:
		r = imap_login(c, plain.authcid, plain.password);
		break;
	case 0:
		imap_tagged(c, "NO", "[AUTHENTICATIONFAILED] Authentication failed.");
		r = IMAP_CMD_OK;
		break;
	default:
		r = imap_bad(c, "Invalid base64 data.");
		break;
	}
	sasl_plain_free(&plain);
	return r;
}

/* No initial response: an empty challenge, then the response line. */
static enum imap_cmd_result imap_auth_continue(struct imap_client *c)
{
	enum imap_cmd_result r;
	char *line;
	long n;

	conn_puts(c->conn, "+ \r\n");
	n = imap_read_continuation(c, &line);
	if (n == CONN_TOO_LONG)
		return imap_bad(c, "Line too long.");
	if (n < 0) {
		if (n == CONN_TIMEOUT)
			imap_untagged(c, "BYE Login timeout, closing connection.");
		return IMAP_CMD_END;
	}
	if (n == 1 && line[0] == '*') {
		imap_tagged(c, "BAD", "Authentication cancelled.");
		return IMAP_CMD_OK;
	}
	r = imap_auth_plain(c, line, (size_t)n);
	sodium_memzero(line, (size_t)n);
	return r;
}

static enum imap_cmd_result imap_authenticate_args(struct imap_client *c, const struct imap_arg *a,
                                                   unsigned n)
{
	const char *mech, *ir;
	enum imap_cmd_result r;

	if (n < 1 || n > 2 || !imap_arg_get_atom(&a[0], &mech))
		return imap_bad(c, "AUTHENTICATE needs a mechanism.");
	if (strcasecmp(mech, "PLAIN") != 0) {
		imap_tagged(c, "NO", "Unsupported authentication mechanism.");
		return IMAP_CMD_OK;
	}
	if (n == 1)
		return imap_auth_continue(c);
	if (!imap_arg_get_astring(&a[1], &ir))
		return imap_bad(c, "Invalid initial response.");
	/* SASL-IR: "=" is an empty initial response */
	r = strcmp(ir, "=") == 0 ? imap_auth_plain(c, "", 0) : imap_auth_plain(c, ir, strlen(ir));
	imap_wipe_arg(&a[1]);
	return r;
}

/* The parser's copies of the password (or the PLAIN response) and of the user name: wiped as
 * soon as the command is done, whatever its outcome. */
enum imap_cmd_result imap_cmd_login(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	enum imap_cmd_result r = imap_login_args(c, a, n);

	imap_parser_wipe(c->parser);
	return r;
}

enum imap_cmd_result imap_cmd_authenticate(struct imap_client *c, const struct imap_arg *a,
                                           unsigned n)
{
	enum imap_cmd_result r = imap_authenticate_args(c, a, n);

	imap_parser_wipe(c->parser);
	return r;
}

/* RFC 5161: ENABLED lists what this command enabled; unknown names are ignored. IMAP4rev2
 * (RFC 9051 appendix A) switches the session to that protocol's responses. QRESYNC enables
 * CONDSTORE too, which is listed only when named (RFC 7162 3.2.3). */
enum imap_cmd_result imap_cmd_enable(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	const char *cap;
	bool condstore = false, rev2 = false, qresync = false;

	for (unsigned i = 0; i < n; i++) {
		if (!imap_arg_get_atom(&a[i], &cap))
			return imap_bad(c, "ENABLE takes capability names.");
		condstore = condstore || strcasecmp(cap, "CONDSTORE") == 0;
		rev2 = rev2 || strcasecmp(cap, "IMAP4rev2") == 0;
		qresync = qresync || strcasecmp(cap, "QRESYNC") == 0;
	}
	if (n == 0)
		return imap_bad(c, "ENABLE needs a capability name.");
	imap_untagged(c, "ENABLED%s%s%s", condstore && !c->condstore ? " CONDSTORE" : "",
	              rev2 && !c->rev2 ? " IMAP4rev2" : "", qresync && !c->qresync ? " QRESYNC" : "");
	c->condstore = c->condstore || condstore || qresync;
	c->rev2 = c->rev2 || rev2;
	c->qresync = c->qresync || qresync;
	imap_ok(c, "Enabled.");
	return IMAP_CMD_OK;
}

/* Keeps the client's "name" for the audit log: printable ASCII only, bounded. */
static void imap_id_keep_name(struct imap_client *c, const char *value)
{
	size_t j = 0;

	for (size_t i = 0; value[i] != '\0' && j < IMAP_CLIENT_ID_MAX; i++) {
		unsigned char ch = (unsigned char)value[i];

		c->client_id[j++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	c->client_id[j] = '\0';
}

static int imap_id_parse(struct imap_client *c, const struct imap_arg *arg)
{
	const struct imap_arg *list;
	unsigned count;
	const char *key, *value;

	if (arg->type == IMAP_ARG_NIL)
		return 0;
	if (!imap_arg_get_list(arg, &list, &count) || count % 2 != 0 || count > 60)
		return -1;
	for (unsigned i = 0; i < count; i += 2) {
		if (!imap_arg_get_string(&list[i], &key) ||
		    !imap_arg_get_nstring(&list[i + 1], &value))
			return -1;
		if (strcasecmp(key, "name") == 0 && value != NULL)
			imap_id_keep_name(c, value);
	}
	return 0;
}

enum imap_cmd_result imap_cmd_id(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	if (n != 1 || imap_id_parse(c, &a[0]) < 0)
		return imap_bad(c, "ID takes NIL or a list of field/value pairs.");
	if (c->client_id[0] != '\0')
		log_info("imap id ip=%s name=%s", conn_peer_ip(c->conn), log_quote(c->client_id));
	imap_untagged(c, "ID (\"name\" \"twofold\")");
	imap_ok(c, "ID completed.");
	return IMAP_CMD_OK;
}
