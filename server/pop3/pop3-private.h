/* Shared between the POP3 files only: the session state and the command handlers. */
#ifndef TWOFOLD_POP3_PRIVATE_H
#define TWOFOLD_POP3_PRIVATE_H

#include "server/pop3/pop3-parse.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct session;
struct mail_storage;
struct mailbox;

/* RFC 2449: 255 octets per command. Before login AUTH PLAIN initial responses need more. */
#define POP3_LINE_MAX         255
#define POP3_LINE_MAX_PREAUTH 1024
#define POP3_MAX_BAD_COMMANDS 3

enum pop3_state {
	POP3_STATE_AUTHORIZATION = 1 << 0,
	POP3_STATE_TRANSACTION = 1 << 1,
};

enum pop3_cmd_result {
	POP3_CMD_OK,  /* answered, the session goes on */
	POP3_CMD_BAD, /* answered with -ERR and counts as a bad command before login */
	POP3_CMD_END, /* answered, the session ends now */
};

struct pop3 {
	struct session *s;
	struct conn *conn;
	struct pop3_parser parser;
	enum pop3_state state;
	long login_deadline_ms; /* CLOCK_MONOTONIC */
	unsigned bad_commands;
	char *user; /* from USER, until PASS */

	/* TRANSACTION: the maildrop as it was at login; the view never changes in a session */
	char *login_user;
	struct mail_storage *storage;
	struct mailbox *box;
	size_t count;
	bool *deleted;
	bool *retrieved;
	char *io_in, *io_out; /* RETR/TOP chunk buffers */
	unsigned n_retr, n_dele;
	unsigned n_removed; /* messages the UPDATE state removed (QUIT only) */
	const char *end;    /* how the session ended, for the logout line; NULL = dropped */
};

/* Replies (CRLF added). */
void pop3_ok(struct pop3 *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pop3_err(struct pop3 *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Answers a bad command: -ERR error, or before login the third time, the closing answer. */
enum pop3_cmd_result pop3_bad(struct pop3 *p, const char *error);
/* Seconds left before the login deadline (at least 1 while time is left, 0 when it passed). */
unsigned pop3_login_time_left(const struct pop3 *p);

/* pop3-auth.c */
enum pop3_cmd_result pop3_cmd_user(struct pop3 *p, struct pop3_cmd *cmd);
enum pop3_cmd_result pop3_cmd_pass(struct pop3 *p, struct pop3_cmd *cmd);
enum pop3_cmd_result pop3_cmd_auth(struct pop3 *p, struct pop3_cmd *cmd);
void pop3_maildrop_close(struct pop3 *p);

/* pop3-cmd.c */
enum pop3_cmd_result pop3_cmd_capa(struct pop3 *p, struct pop3_cmd *cmd);
enum pop3_cmd_result pop3_cmd_quit(struct pop3 *p, struct pop3_cmd *cmd);
enum pop3_cmd_result pop3_cmd_stat(struct pop3 *p, struct pop3_cmd *cmd);
enum pop3_cmd_result pop3_cmd_list(struct pop3 *p, struct pop3_cmd *cmd);
enum pop3_cmd_result pop3_cmd_uidl(struct pop3 *p, struct pop3_cmd *cmd);
enum pop3_cmd_result pop3_cmd_retr(struct pop3 *p, struct pop3_cmd *cmd);
enum pop3_cmd_result pop3_cmd_top(struct pop3 *p, struct pop3_cmd *cmd);
enum pop3_cmd_result pop3_cmd_dele(struct pop3 *p, struct pop3_cmd *cmd);
enum pop3_cmd_result pop3_cmd_noop(struct pop3 *p, struct pop3_cmd *cmd);
enum pop3_cmd_result pop3_cmd_rset(struct pop3 *p, struct pop3_cmd *cmd);

#endif
