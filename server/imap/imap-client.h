/* Shared between the IMAP session files only: the session state and the command handlers. */
#ifndef TWOFOLD_IMAP_CLIENT_H
#define TWOFOLD_IMAP_CLIENT_H

#include "server/imap/imap-parser.h"
#include "server/imap/imap-seqset.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct session;
struct conn;
struct mail_storage;
struct mailbox;
struct mail_save;
struct buf;
struct imap_contexts;

#define IMAP_MAX_BAD_COMMANDS_PRELOGIN 3
#define IMAP_PRELOGIN_TAG_MAX          32
/* Literals of commands other than APPEND (search strings, mailbox names, passwords). */
#define IMAP_MAX_OTHER_LITERAL (1024 * 1024)
/* Octets one command may hold in memory: its line and every literal but APPEND's message
 * (which streams to a file, bounded by [imap] append_limit). A constant, not a setting: the
 * biggest real command (a SEARCH with a long text, a UID set of thousands of ranges) is far
 * below it, and it keeps a worker's memory for one command at a few MiB whatever is sent:
 * a full line and two literals of the largest size, but not 300 of them. */
#define IMAP_MAX_COMMAND_SIZE (2 * IMAP_MAX_OTHER_LITERAL + 64 * 1024)
#define IMAP_CLIENT_ID_MAX    64

enum imap_state {
	IMAP_STATE_NOAUTH = 1 << 0,
	IMAP_STATE_AUTH = 1 << 1,
	IMAP_STATE_SELECTED = 1 << 2,
	IMAP_STATE_LOGOUT = 1 << 3,
};

enum imap_cmd_result {
	IMAP_CMD_OK,  /* answered (OK or NO), the session goes on */
	IMAP_CMD_BAD, /* answered BAD: counts as a bad command before login */
	IMAP_CMD_END, /* answered, the session ends now */
};

enum imap_cmd_flags {
	/* RFC 3501 7.4.1: no EXPUNGE responses after FETCH, STORE, SEARCH */
	IMAP_CMD_FLAG_NO_EXPUNGE = 1 << 0,
	/* the UID form of the command exists (UID FETCH, ...) */
	IMAP_CMD_FLAG_UID = 1 << 1,
};

struct imap_client;

struct imap_command {
	const char *name;
	enum imap_cmd_result (*handler)(struct imap_client *c, const struct imap_arg *args,
	                                unsigned count);
	unsigned states; /* enum imap_state bits */
	unsigned flags;  /* enum imap_cmd_flags */
};

struct imap_client {
	struct session *s;
	struct conn *conn;
	struct imap_parser *parser;
	struct imap_parser_limits limits; /* after login */
	bool parser_grown;                /* a big literal went through it: start a fresh one */
	enum imap_state state;
	long login_deadline_ms; /* CLOCK_MONOTONIC */
	unsigned bad_commands;
	bool compressed; /* COMPRESS DEFLATE is on */
	char client_id[IMAP_CLIENT_ID_MAX + 1]; /* from ID "name", "" if none */

	/* the command being run */
	const char *tag;
	bool uid; /* the UID form */
	const struct imap_command *cmd;

	/* after login */
	char *user;
	struct mail_storage *storage;
	/* APPEND: the mailbox its message literals stream into, the message being read, those
	 * read before it (MULTIAPPEND: closed files in tmp/ until the command commits them all,
	 * or imap_append_abort removes them), and whether the command was refused and answered
	 * (the rest of its data is read and thrown away) */
	struct mailbox *append_box;
	struct mail_save *append_save;
	struct mail_save **append_done;
	unsigned int append_count, append_alloc;
	bool append_refused;

	/* SELECTED */
	struct mailbox *box;
	bool readonly;
	uint32_t known_count;    /* messages the client knows of (EXISTS sent) */
	uint32_t known_recent;   /* last RECENT count sent */
	unsigned known_keywords; /* keywords announced in FLAGS */
	/* RETURN (UPDATE) searches (imap-context.h), or NULL */
	struct imap_contexts *contexts;
	/* RETURN (SAVE): what "$" names (RFC 5182), ascending UIDs */
	uint32_t *saved_uids;
	size_t saved_count;

	/* CONDSTORE (RFC 7162) enabled: FETCH responses of flag changes carry MODSEQ */
	bool condstore;
	/* ENABLE IMAP4rev2 (RFC 9051): no \Recent, no RECENT or [UNSEEN n], SEARCH answered
	 * with ESEARCH */
	bool rev2;
	/* QRESYNC enabled (implies condstore): VANISHED instead of EXPUNGE */
	bool qresync;
};

/* imap-commands.c */
const struct imap_command *imap_command_find(const char *name);
/* The capability list for c's state (without AUTH=PLAIN, added before login by the caller). */
const char *imap_capabilities(struct imap_client *c);

/* imap.c: untagged updates. Syncs the selected mailbox and reports flag changes, (when
 * allow_expunge) vanished messages as EXPUNGE, new messages as EXISTS/RECENT. */
void imap_sync_report(struct imap_client *c, bool allow_expunge);
/* The FLAGS of view message index as the client sees them: without \Recent in IMAP4rev2. */
void imap_append_msg_flags(struct buf *out, const struct imap_client *c, size_t index);
/* Announces FLAGS and PERMANENTFLAGS again when keywords were added to the mailbox. */
void imap_report_keywords(struct imap_client *c);
/* Sends EXPUNGE for the marked messages (descending; one VANISHED once QRESYNC is enabled),
 * expunges them, lowers known_count.
 * 0 ok, -1 error (*error_r). */
int imap_expunge_marked(struct imap_client *c, bool *remove, const char **error_r);
/* The tagged OK of a command: when a mailbox is selected, untagged updates first (EXPUNGE only
 * where the command allows it). */
void imap_ok(struct imap_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Closes the selected mailbox, back to AUTH. */
void imap_mailbox_unselect(struct imap_client *c);
/* Before a long wait (IDLE, a silent client): frees the connection's empty buffers and gives
 * the heap's free pages back to the kernel. */
void imap_client_release_memory(struct imap_client *c);
/* Seconds left before the login deadline, at least 1. */
unsigned imap_login_time_left(const struct imap_client *c);
/* Seconds to wait for the client's next bytes: the login deadline before login, else the idle
 * timeout. */
unsigned imap_read_timeout(const struct imap_client *c);
/* Reads one continuation line (AUTHENTICATE) after "+ ..." was sent. Length or negative
 * enum conn_status; the line is valid until the next read. */
long imap_read_continuation(struct imap_client *c, char **line_r);

/* Sequence sets: marks the view's messages named by set (sequence numbers, or UIDs when uid).
 * *sel_r (known_count entries) is allocated. 1 ok (*any_r: something matched), -1 BAD with
 * *error_r. */
int imap_seqset_select(struct imap_client *c, const char *set, bool uid, bool **sel_r,
                       const char **error_r);

/* Handlers: cmd-auth.c */
enum imap_cmd_result imap_cmd_capability(struct imap_client *c, const struct imap_arg *a,
                                         unsigned n);
enum imap_cmd_result imap_cmd_noop(struct imap_client *c, const struct imap_arg *a, unsigned n);
enum imap_cmd_result imap_cmd_logout(struct imap_client *c, const struct imap_arg *a, unsigned n);
enum imap_cmd_result imap_cmd_login(struct imap_client *c, const struct imap_arg *a, unsigned n);
enum imap_cmd_result imap_cmd_authenticate(struct imap_client *c, const struct imap_arg *a,
                                           unsigned n);
enum imap_cmd_result imap_cmd_enable(struct imap_client *c, const struct imap_arg *a, unsigned n);
enum imap_cmd_result imap_cmd_id(struct imap_client *c, const struct imap_arg *a, unsigned n);
void imap_client_logout_storage(struct imap_client *c);

/* cmd-mailbox.c */
enum imap_cmd_result imap_cmd_select(struct imap_client *c, const struct imap_arg *a, unsigned n);
enum imap_cmd_result imap_cmd_examine(struct imap_client *c, const struct imap_arg *a, unsigned n);
enum imap_cmd_result imap_cmd_create(struct imap_client *c, const struct imap_arg *a, unsigned n);
enum imap_cmd_result imap_cmd_delete(struct imap_client *c, const struct imap_arg *a, unsigned n);
enum imap_cmd_result imap_cmd_rename(struct imap_client *c, const struct imap_arg *a, unsigned n);
enum imap_cmd_result imap_cmd_subscribe(struct imap_client *c, const struct imap_arg *a,
                                        unsigned n);
enum imap_cmd_result imap_cmd_unsubscribe(struct imap_client *c, const struct imap_arg *a,
                                          unsigned n);
enum imap_cmd_result imap_cmd_list(struct imap_client *c, const struct imap_arg *a, unsigned n);
/* IMAP4rev2 SELECT and EXAMINE (RFC 9051 6.3.2): the LIST response of the selected mailbox,
 * with the attributes LIST gives it. Nothing when it cannot be listed. */
void imap_list_selected_mailbox(struct imap_client *c, const char *name);
/* True when name is not a mailbox but the parent of some (\NonExistent \HasChildren). */
bool imap_list_only_parent(struct imap_client *c, const char *name);
enum imap_cmd_result imap_cmd_lsub(struct imap_client *c, const struct imap_arg *a, unsigned n);
enum imap_cmd_result imap_cmd_status(struct imap_client *c, const struct imap_arg *a, unsigned n);
enum imap_cmd_result imap_cmd_namespace(struct imap_client *c, const struct imap_arg *a,
                                        unsigned n);

/* Mailbox name argument: 1 ok, 0 answered NO (not modified UTF-7), -1 answered BAD. */
int imap_mailbox_arg(struct imap_client *c, const struct imap_arg *arg, const char **name_r);
/* Answers NO for a storage error, with a response code where one fits. */
void imap_storage_error(struct imap_client *c, const char *what, const char *error);
/* NO for a storage failure of a command that has no client-made cause: [OVERQUOTA] for a full
 * disk, [UNAVAILABLE] for an unreadable message, else [SERVERBUG]. */
void imap_storage_failed(struct imap_client *c, const char *what, const char *error);
/* STATUS items list -> *items_r (the items in request order, 4 bits each); -1 when invalid. */
int imap_status_items_parse(const struct imap_arg *arg, uint64_t *items_r);
/* Writes "* STATUS name (...)". 1 ok, 0 no such mailbox, -1 error. */
int imap_status_write(struct imap_client *c, const char *name, uint64_t items,
                      const char **error_r);

/* imap.c: literals refused before their data. Sets c->tag for a reply about the literal. */
void imap_literal_tag(struct imap_client *c);
/* After replying to a refused literal: a synchronising one was never sent; a non-synchronising
 * one is on its way, read and thrown away when discard, else the connection ends (BYE). Any
 * APPEND message being saved is aborted and the command dropped. */
enum imap_cmd_result imap_literal_skip(struct imap_client *c, bool discard);

/* cmd-append.c */
/* "dd-Mon-yyyy hh:mm:ss +zzzz" -> time. 0 ok, -1 invalid. */
int imap_parse_datetime(const char *s, time_t *t_r);
/* An APPEND message literal, announced: refused (over APPENDLIMIT, no such mailbox, too many
 * messages; answered at once) or read into a new file in the mailbox's tmp/, never into
 * memory. *taken_r: its data was read (saved, or thrown away after a refusal): the parser goes
 * on after it; else a refused synchronising literal, and the command is dropped. */
enum imap_cmd_result imap_append_literal(struct imap_client *c, bool *taken_r);
/* Drops the messages an APPEND did not commit (their tmp/ files are removed). No-op without. */
void imap_append_abort(struct imap_client *c);
enum imap_cmd_result imap_cmd_append(struct imap_client *c, const struct imap_arg *a, unsigned n);

/* cmd-select.c */
enum imap_cmd_result imap_cmd_check(struct imap_client *c, const struct imap_arg *a, unsigned n);
enum imap_cmd_result imap_cmd_close(struct imap_client *c, const struct imap_arg *a, unsigned n);
enum imap_cmd_result imap_cmd_unselect(struct imap_client *c, const struct imap_arg *a, unsigned n);
enum imap_cmd_result imap_cmd_expunge(struct imap_client *c, const struct imap_arg *a, unsigned n);

/* cmd-store.c */
enum imap_cmd_result imap_cmd_store(struct imap_client *c, const struct imap_arg *a, unsigned n);
enum imap_cmd_result imap_cmd_copy(struct imap_client *c, const struct imap_arg *a, unsigned n);
enum imap_cmd_result imap_cmd_move(struct imap_client *c, const struct imap_arg *a, unsigned n);

/* cmd-condstore.c */
/* Appends " MODSEQ (n)" for the n-th message when CONDSTORE is enabled. */
void imap_append_modseq(struct buf *out, const struct imap_client *c, size_t index);
/* FETCH's modifiers: marks CONDSTORE enabled and unselects the messages not changed since
 * CHANGEDSINCE; with VANISHED (UID FETCH, QRESYNC enabled), sends the UIDs of set expunged
 * since. 0 ok, -1 BAD (*error_r). */
struct imap_fetch;
int imap_fetch_modifiers(struct imap_client *c, const char *set, const struct imap_arg *arg,
                         bool *sel, struct imap_fetch *fetch, const char **error_r);
int imap_store_modifiers(struct imap_client *c, const struct imap_arg *a, unsigned n,
                         uint64_t *unchangedsince_r, const char **error_r);
void imap_store_modified(const struct imap_client *c, const bool *modified, struct buf *out);
void imap_search_modseq_render(struct imap_client *c, bool esearch, uint64_t highest, size_t count,
                               struct buf *out);

/* cmd-qresync.c */
struct imap_qresync_params;
/* After SELECT's untagged responses: VANISHED (EARLIER) and FETCH of what changed since the
 * client's MODSEQ, unless its UIDVALIDITY is not the mailbox's. */
void imap_qresync_select(struct imap_client *c, const struct imap_qresync_params *q);
/* UID FETCH's VANISHED modifier: "* VANISHED (EARLIER)" for the UIDs of set expunged since
 * changedsince. 0 ok, -1 BAD (*error_r). */
int imap_qresync_fetch_vanished(struct imap_client *c, const char *set, uint64_t changedsince,
                                const char **error_r);
/* "* VANISHED" for the non-zero UIDs of uids[0..count) (ascending). */
void imap_qresync_report_expunged(struct imap_client *c, const uint32_t *uids, size_t count);

/* cmd-compress.c */
enum imap_cmd_result imap_cmd_compress(struct imap_client *c, const struct imap_arg *a,
                                       unsigned n);

/* cmd-fetch.c, cmd-search.c, cmd-sort.c (SORT, THREAD), cmd-idle.c */
enum imap_cmd_result imap_cmd_fetch(struct imap_client *c, const struct imap_arg *a, unsigned n);
enum imap_cmd_result imap_cmd_search(struct imap_client *c, const struct imap_arg *a, unsigned n);
enum imap_cmd_result imap_cmd_sort(struct imap_client *c, const struct imap_arg *a, unsigned n);
enum imap_cmd_result imap_cmd_thread(struct imap_client *c, const struct imap_arg *a, unsigned n);
enum imap_cmd_result imap_cmd_cancelupdate(struct imap_client *c, const struct imap_arg *a,
                                           unsigned n);
struct imap_search;
struct imap_sort;
/* RETURN (UPDATE) with a tag that already names a search context: the command is BAD. */
bool imap_search_tag_reused(struct imap_client *c, const struct imap_search *search);
/* After the reply of a SEARCH or SORT with RETURN (UPDATE): keeps the search, *sort and the
 * results (view indexes in their order) as a context, taking them, or answers
 * NO [NOUPDATE "tag"] when there are too many. Without UPDATE nothing happens. */
void imap_search_keep(struct imap_client *c, struct imap_search **search, struct imap_sort **sort,
                      const size_t *indexes, size_t count);
/* imap-searchres.c (SEARCHRES, RFC 5182): after a SEARCH or SORT with RETURN (SAVE), keeps
 * what "$" names from its results (view indexes in their order); nothing without SAVE. */
void imap_searchres_save(struct imap_client *c, const struct imap_search *search,
                         const size_t *indexes, size_t count);
/* "$" names nothing (SELECT, UNSELECT, a failed SAVE). */
void imap_searchres_clear(struct imap_client *c);
/* A message that was saved is expunged. */
void imap_searchres_expunged(struct imap_client *c, uint32_t uid);
/* The known messages "$" names, as imap_seqset_select marks them (known_count entries). */
bool *imap_searchres_select(const struct imap_client *c);
/* The view indexes (ascending) of the messages the client knows of that match search.
 * 0 ok (*indexes_r to free), -1 error (logged). */
int imap_search_indexes(struct imap_client *c, struct imap_search *search, size_t **indexes_r,
                        size_t *count_r);
/* indexes as the client names them: UIDs after UID, else sequence numbers. */
void imap_search_numbers(const struct imap_client *c, const size_t *indexes, size_t count,
                         uint32_t *numbers);
enum imap_cmd_result imap_cmd_idle(struct imap_client *c, const struct imap_arg *a, unsigned n);

#endif
