/* The TRANSACTION state commands (RFC 1939), CAPA (RFC 2449) and QUIT with the UPDATE state. */
#include "server/pop3/pop3-dot.h"
#include "server/pop3/pop3-private.h"
#include "common/config.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "server/conn.h"
#include "server/session.h"
#include "storage/storage.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#define POP3_CHUNK    65536
#define POP3_UIDL_MAX 70 /* RFC 1939: 1 to 70 characters in 0x21..0x7E */

enum pop3_cmd_result pop3_cmd_capa(struct pop3 *p, struct pop3_cmd *cmd)
{
	pop3_ok(p, "Capability list follows");
	conn_puts(p->conn, "TOP\r\nUIDL\r\nUSER\r\nSASL PLAIN\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n"
	                   "PIPELINING\r\n");
	conn_puts(p->conn, p->s->cfg->pop3_delete_retrieved ? "EXPIRE 0\r\n" : "EXPIRE NEVER\r\n");
	conn_puts(p->conn, "IMPLEMENTATION twofold\r\n.\r\n");
	return POP3_CMD_OK;
}

/* A message retrieved in full and kept becomes \Seen, as an IMAP client of the same mailbox
 * expects (Dovecot does the same). Like the deletions, only at QUIT: a dropped session changes
 * nothing. Best effort: a flag that cannot be set is logged, the QUIT goes on. */
static void pop3_mark_seen(struct pop3 *p, const bool *remove)
{
	const char *error;
	bool failed = false;

	/* as one change: one index write for all of them */
	if (mailbox_changes_begin(p->box, &error) < 0) {
		log_error("pop3 user=%s: marking messages seen: %s", p->login_user, error);
		return;
	}
	for (size_t i = 0; i < p->count && !failed; i++) {
		if (!p->retrieved[i] || remove[i] ||
		    (mailbox_get(p->box, i)->flags & MAIL_SEEN) != 0)
			continue;
		failed = mailbox_set_flags(p->box, i, MAIL_SEEN, 0, &error) < 0;
		if (failed)
			log_error("pop3 user=%s: marking message %zu seen: %s", p->login_user,
			          i + 1, error);
	}
	if (mailbox_changes_commit(p->box, &error) < 0)
		log_error("pop3 user=%s: marking messages seen: %s", p->login_user, error);
}

/* RFC 1939 UPDATE: only after QUIT in TRANSACTION are messages removed. */
static int pop3_update(struct pop3 *p, const char **error_r)
{
	bool *remove = xcalloc(p->count + 1, sizeof(bool));
	bool any = false;
	size_t i;
	int r = 0;

	for (i = 0; i < p->count; i++) {
		remove[i] = p->deleted[i] || (p->s->cfg->pop3_delete_retrieved && p->retrieved[i]);
		any |= remove[i];
	}
	pop3_mark_seen(p, remove);
	if (any)
		r = mailbox_expunge(p->box, remove, error_r) < 0 ? -1 : 0;
	for (i = 0; r == 0 && i < p->count; i++)
		p->n_removed += remove[i];
	free(remove);
	return r;
}

/* The maildrop lock goes before the reply: a client that reconnects as soon as it reads +OK
 * must not find its own finished session still holding the maildrop ([IN-USE]). */
static void pop3_release_maildrop(struct pop3 *p)
{
	if (p->box != NULL)
		mailbox_close(&p->box);
	if (p->storage != NULL)
		mail_storage_close(&p->storage);
}

enum pop3_cmd_result pop3_cmd_quit(struct pop3 *p, struct pop3_cmd *cmd)
{
	const char *error;
	int r = 0;

	p->end = "quit";
	if (p->state == POP3_STATE_TRANSACTION) {
		r = pop3_update(p, &error);
		pop3_release_maildrop(p);
	}
	if (r < 0) {
		log_error("pop3 user=%s: removing messages failed: %s", p->login_user, error);
		p->end = "quit-update-failed";
		pop3_err(p, "[SYS/TEMP] Some deleted messages were not removed.");
		return POP3_CMD_END;
	}
	pop3_ok(p, "Logging out.");
	return POP3_CMD_END;
}

enum pop3_cmd_result pop3_cmd_noop(struct pop3 *p, struct pop3_cmd *cmd)
{
	pop3_ok(p, "NOOP");
	return POP3_CMD_OK;
}

enum pop3_cmd_result pop3_cmd_rset(struct pop3 *p, struct pop3_cmd *cmd)
{
	/* also forgets what RETR would have expired: the client asked to keep everything */
	memset(p->deleted, 0, p->count * sizeof(bool));
	memset(p->retrieved, 0, p->count * sizeof(bool));
	p->n_dele = 0;
	pop3_ok(p, "%zu messages.", p->count);
	return POP3_CMD_OK;
}

/* Message number argument: 1 ok (*index_r 0-based), 0 answered with -ERR. */
static int pop3_msg_arg(struct pop3 *p, const char *arg, size_t *index_r)
{
	uint32_t n;

	if (pop3_parse_number(arg, &n) != 1 || n == 0) {
		pop3_err(p, "Invalid message number.");
		return 0;
	}
	if (n > p->count) {
		pop3_err(p, "No such message, only %zu messages in maildrop.", p->count);
		return 0;
	}
	if (p->deleted[n - 1]) {
		pop3_err(p, "Message %" PRIu32 " already deleted.", n);
		return 0;
	}
	*index_r = n - 1;
	return 1;
}

/* Splits the arguments expecting between min and max words. 0 answered with -ERR. */
static int pop3_args(struct pop3 *p, struct pop3_cmd *cmd, char **argv, int min, int max)
{
	int argc = pop3_split_args(cmd->args, argv, max);

	if (argc < min || argc > max) {
		pop3_err(p, "Syntax error.");
		return -1;
	}
	return argc;
}

/* RFC 1939 sizes are of the message as sent (CRLF). A message that has vanished counts 0 (its
 * RETR fails). */
static uint64_t pop3_octets(struct pop3 *p, size_t i)
{
	const char *error = "";
	uint64_t size = 0;

	if (mailbox_msg_crlf_size(p->box, i, &size, &error) < 0)
		log_warn("pop3 user=%s: size of message %zu: %s", p->login_user, i + 1, error);
	return size;
}

/* Every size at once (the first STAT of a maildrop other tools filled reads its files). */
static int pop3_measure_all(struct pop3 *p)
{
	const char *error = "";

	if (mailbox_measure_all(p->box, &error) == 0)
		return 0;
	log_error("pop3 user=%s: measuring messages: %s", p->login_user, error);
	pop3_err(p, "[SYS/TEMP] Mailbox is not available.");
	return -1;
}

enum pop3_cmd_result pop3_cmd_stat(struct pop3 *p, struct pop3_cmd *cmd)
{
	uint64_t octets = 0;
	size_t i, n = 0;
	char *argv[1];

	if (pop3_args(p, cmd, argv, 0, 0) < 0 || pop3_measure_all(p) < 0)
		return POP3_CMD_OK;
	for (i = 0; i < p->count; i++) {
		if (!p->deleted[i]) {
			n++;
			octets += pop3_octets(p, i);
		}
	}
	pop3_ok(p, "%zu %" PRIu64, n, octets);
	return POP3_CMD_OK;
}

/* The UIDL is the maildir base name; one outside RFC 1939's alphabet or length is replaced
 * by a hash of itself, which is just as stable. */
static const char *pop3_uidl(const struct mail *mail, char buf[POP3_UIDL_MAX + 1])
{
	size_t i, len = strlen(mail->uidl);
	unsigned char hash[16];

	for (i = 0; i < len && len <= POP3_UIDL_MAX; i++) {
		if (mail->uidl[i] < 0x21 || mail->uidl[i] > 0x7e)
			break;
	}
	if (len > 0 && i == len)
		return mail->uidl;
	crypto_generichash(hash, sizeof(hash), (const unsigned char *)mail->uidl, len, NULL, 0);
	return sodium_bin2hex(buf, POP3_UIDL_MAX + 1, hash, sizeof(hash));
}

static void pop3_list_line(struct pop3 *p, size_t i, bool uidl, bool ok)
{
	const struct mail *mail = mailbox_get(p->box, i);
	char buf[POP3_UIDL_MAX + 1];

	if (uidl)
		conn_printf(p->conn, "%s%zu %s\r\n", ok ? "+OK " : "", i + 1, pop3_uidl(mail, buf));
	else
		conn_printf(p->conn, "%s%zu %" PRIu64 "\r\n", ok ? "+OK " : "", i + 1,
		            pop3_octets(p, i));
}

/* LIST and UIDL: one message with an argument, else all that are not deleted. */
static enum pop3_cmd_result pop3_listing(struct pop3 *p, struct pop3_cmd *cmd, bool uidl)
{
	char *argv[1];
	size_t i;
	int argc = pop3_args(p, cmd, argv, 0, 1);

	if (argc < 0)
		return POP3_CMD_OK;
	if (argc == 1) {
		if (pop3_msg_arg(p, argv[0], &i) == 1)
			pop3_list_line(p, i, uidl, true);
		return POP3_CMD_OK;
	}
	if (!uidl && pop3_measure_all(p) < 0)
		return POP3_CMD_OK;
	pop3_ok(p, "%s", uidl ? "Unique-ID listing follows" : "Scan listing follows");
	for (i = 0; i < p->count; i++) {
		if (!p->deleted[i])
			pop3_list_line(p, i, uidl, false);
	}
	conn_puts(p->conn, ".\r\n");
	return POP3_CMD_OK;
}

enum pop3_cmd_result pop3_cmd_list(struct pop3 *p, struct pop3_cmd *cmd)
{
	return pop3_listing(p, cmd, false);
}

enum pop3_cmd_result pop3_cmd_uidl(struct pop3 *p, struct pop3_cmd *cmd)
{
	return pop3_listing(p, cmd, true);
}

/* Streams the open message fd after the +OK line. -1 when the session can't go on: a read
 * error after +OK leaves no honest way to end the reply. */
static int pop3_stream(struct pop3 *p, int fd, bool top, uint64_t lines)
{
	struct pop3_dot dot;
	ssize_t n;
	size_t out;

	if (p->io_in == NULL) {
		p->io_in = xmalloc(POP3_CHUNK);
		p->io_out = xmalloc(2 * POP3_CHUNK + POP3_DOT_FINISH_MAX);
	}
	pop3_dot_init(&dot, top, lines);
	while (!dot.done) {
		n = read(fd, p->io_in, POP3_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		out = pop3_dot_convert(&dot, p->io_in, (size_t)n, p->io_out);
		if (conn_write(p->conn, p->io_out, out) < 0)
			return -1;
	}
	out = pop3_dot_finish(&dot, p->io_out);
	return conn_write(p->conn, p->io_out, out) < 0 ? -1 : 0;
}

/* RETR/TOP of a message that cannot be sent: -ERR for it alone, the session goes on. One whose
 * file cannot be read was logged once by the storage; one that vanished is a race with another
 * client, not an error. */
static enum pop3_cmd_result pop3_unavailable(struct pop3 *p, size_t i, const char *error)
{
	if (mailbox_msg_gone(p->box, i) || errno == ENOENT)
		log_info("pop3 user=%s: message %zu has vanished", p->login_user, i + 1);
	else if (!mailbox_msg_unavailable(p->box, i))
		log_warn("pop3 user=%s: message %zu: %s", p->login_user, i + 1, error);
	pop3_err(p, "[SYS/TEMP] Message %zu is not available.", i + 1);
	return POP3_CMD_OK;
}

static enum pop3_cmd_result pop3_send(struct pop3 *p, size_t i, bool top, uint64_t lines)
{
	const char *error = "";
	uint64_t octets = 0;
	int fd = -1, r;

	errno = 0;
	if ((r = mailbox_msg_crlf_size(p->box, i, &octets, &error)) > 0)
		fd = mailbox_msg_open(p->box, i, &error);
	if (fd < 0)
		return pop3_unavailable(p, i, error);
	if (top)
		pop3_ok(p, "Top of message follows");
	else
		pop3_ok(p, "%" PRIu64 " octets", octets);
	r = pop3_stream(p, fd, top, lines);
	if (r < 0 && !conn_broken(p->conn))
		mailbox_msg_read_failed(p->box, i, errno);
	close(fd);
	return r < 0 ? POP3_CMD_END : POP3_CMD_OK;
}

enum pop3_cmd_result pop3_cmd_retr(struct pop3 *p, struct pop3_cmd *cmd)
{
	enum pop3_cmd_result r;
	char *argv[1];
	size_t i;

	if (pop3_args(p, cmd, argv, 1, 1) < 0 || pop3_msg_arg(p, argv[0], &i) != 1)
		return POP3_CMD_OK;
	r = pop3_send(p, i, false, 0);
	if (r == POP3_CMD_OK) {
		p->retrieved[i] = true;
		p->n_retr++;
	}
	return r;
}

enum pop3_cmd_result pop3_cmd_top(struct pop3 *p, struct pop3_cmd *cmd)
{
	char *argv[2];
	uint32_t lines;
	size_t i;

	if (pop3_args(p, cmd, argv, 2, 2) < 0 || pop3_msg_arg(p, argv[0], &i) != 1)
		return POP3_CMD_OK;
	if (pop3_parse_number(argv[1], &lines) != 1) {
		pop3_err(p, "Invalid number of lines.");
		return POP3_CMD_OK;
	}
	return pop3_send(p, i, true, lines);
}

enum pop3_cmd_result pop3_cmd_dele(struct pop3 *p, struct pop3_cmd *cmd)
{
	char *argv[1];
	size_t i;

	if (pop3_args(p, cmd, argv, 1, 1) < 0 || pop3_msg_arg(p, argv[0], &i) != 1)
		return POP3_CMD_OK;
	p->deleted[i] = true;
	p->n_dele++;
	pop3_ok(p, "Message %zu deleted.", i + 1);
	return POP3_CMD_OK;
}
