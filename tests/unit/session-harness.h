/* The fork-over-socketpair harness of the session tests: an IMAP or POP3 session runs in a
 * child process on one end of a socketpair, against a real maildir in a private directory,
 * with a login of its own at the unit-test edge; the test is the client on the other end.
 * Include after cmocka.h. */
#ifndef TWOFOLD_TEST_SESSION_HARNESS_H
#define TWOFOLD_TEST_SESSION_HARNESS_H

#include "common/config.h"
#include "server/session.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The received bytes not taken yet: a whole multi-line POP3 reply fits. */
#define SRV_IN_SIZE (1 << 20)

struct srv {
	pid_t pid;
	int fd;   /* client side */
	char *in; /* SRV_IN_SIZE bytes, from srv_start to srv_wait */
	size_t in_len;
};

/* The maildir and the configuration the sessions of the running test use. */
extern char srv_maildir[512];
extern struct config *srv_cfg;

/* Makes a maildir <tmp>/<prefix>-XXXXXX (cur, new, tmp) and a default configuration for
 * sessions of proto; srv_teardown removes both. */
void srv_setup(const char *prefix, enum auth_proto proto);
void srv_teardown(void);
/* Writes a message file <maildir>/<sub>/<name>. */
void srv_write_msg(const char *sub, const char *name, const char *data);
/* The client id the last login was given (the session is a child: it leaves it in a file). */
void srv_client_id(char *buf, size_t size);

/* The login accepts alice with "pass word123456", answers "temp" with a temporary failure and
 * everything else with a failure. */
void srv_start(struct srv *c);
/* Waits for the session process to end; its exit status must be clean. Frees c->in. */
void srv_wait(struct srv *c);
void srv_send(struct srv *c, const char *s);
/* One byte per write, with the peer given time to read each: the parser sees every split. */
void srv_send_slowly(struct srv *c, const char *s);
/* Reads more; false at EOF. No reply in time fails the test. */
bool srv_fill(struct srv *c);
/* Takes len bytes of received output into out (NUL-terminated). */
void srv_take(struct srv *c, size_t len, char *out);
/* One reply line including its line end. */
const char *srv_line(struct srv *c);
/* The next line must start with prefix. */
void srv_expect(struct srv *c, const char *prefix);
/* The session closes the connection with nothing more sent. */
void srv_expect_eof(struct srv *c);

/* IMAP: untagged lines skipped up to the tagged reply, which must start with prefix. */
void srv_imap_expect_tagged(struct srv *c, const char *prefix);
/* IMAP: a session started and logged in as alice. */
void srv_imap_login(struct srv *c);

#endif
