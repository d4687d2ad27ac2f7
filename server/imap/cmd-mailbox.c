/* Mailbox commands: SELECT EXAMINE CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE STATUS NAMESPACE.
 * LIST and LSUB are in cmd-list.c. */
#include "server/imap/imap-client.h"
#include "server/imap/imap-condstore.h"
#include "server/imap/imap-reply.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "server/conn.h"
#include "server/session.h"
#include "storage/storage.h"

#include <string.h>
#include <strings.h>

int imap_mailbox_arg(struct imap_client *c, const struct imap_arg *arg, const char **name_r)
{
	if (!imap_arg_get_astring(arg, name_r)) {
		imap_bad(c, "Mailbox name expected.");
		return -1;
	}
	if (strlen(*name_r) != arg->str_len || !imap_mutf7_is_valid(*name_r)) {
		imap_tagged(c, "NO", "[CANNOT] Mailbox name is not valid modified UTF-7.");
		return 0;
	}
	return 1;
}

/* The RFC 5530 code of each kind of storage error; NULL: none to give. */
static const char *const imap_storage_codes[] = {
    [MAIL_ERROR_OTHER] = NULL,
    [MAIL_ERROR_NOTFOUND] = "NONEXISTENT",
    [MAIL_ERROR_EXISTS] = "ALREADYEXISTS",
    [MAIL_ERROR_NOSPACE] = "OVERQUOTA",
    [MAIL_ERROR_UNAVAILABLE] = "UNAVAILABLE",
};

/* A kind the client can do something about whatever the command: room, an unreadable file. */
static bool imap_storage_actionable(enum mail_error kind)
{
	return kind == MAIL_ERROR_NOSPACE || kind == MAIL_ERROR_UNAVAILABLE;
}

void imap_storage_failed(struct imap_client *c, const char *what, const char *error)
{
	enum mail_error kind = mail_error_of(error);

	if (imap_storage_actionable(kind))
		imap_tagged(c, "NO", "[%s] %s failed: %s.", imap_storage_codes[kind], what, error);
	else
		imap_tagged(c, "NO", "[SERVERBUG] %s failed.", what);
}

void imap_storage_error(struct imap_client *c, const char *what, const char *error)
{
	enum mail_error kind = mail_error_of(error);

	if (imap_storage_actionable(kind))
		imap_storage_failed(c, what, error);
	else if (imap_storage_codes[kind] != NULL)
		imap_tagged(c, "NO", "[%s] %s failed: %s", imap_storage_codes[kind], what, error);
	else
		imap_tagged(c, "NO", "%s failed: %s", what, error);
}

/* --- SELECT / EXAMINE --- */

static uint32_t imap_first_unseen(const struct mailbox *box)
{
	size_t n = mailbox_count(box);

	for (size_t i = 0; i < n; i++) {
		if ((mailbox_get(box, i)->flags & MAIL_SEEN) == 0)
			return (uint32_t)i + 1;
	}
	return 0;
}

static void imap_select_untagged(struct imap_client *c)
{
	struct buf out;
	uint32_t unseen = c->rev2 ? 0 : imap_first_unseen(c->box);

	buf_init(&out);
	buf_append_str(&out, "* FLAGS (");
	imap_append_flag_names(&out, c->box);
	buf_append_str(&out, ")\r\n* OK [PERMANENTFLAGS (");
	if (!c->readonly) {
		imap_append_flag_names(&out, c->box);
		buf_append_str(&out, " \\*");
	}
	buf_append_str(&out, ")] Flags permitted.\r\n");
	buf_printf(&out, "* %u EXISTS\r\n", c->known_count);
	/* IMAP4rev2 has neither (RFC 9051 appendix E) */
	if (!c->rev2)
		buf_printf(&out, "* %u RECENT\r\n", c->known_recent);
	if (unseen > 0 && !c->rev2)
		buf_printf(&out, "* OK [UNSEEN %u] First unseen.\r\n", unseen);
	buf_printf(&out, "* OK [UIDVALIDITY %u] UIDs valid.\r\n", mailbox_uidvalidity(c->box));
	buf_printf(&out, "* OK [UIDNEXT %u] Predicted next UID.\r\n", mailbox_uidnext(c->box));
	/* every mailbox has MODSEQs: always, not only to a CONDSTORE client (RFC 7162 3.1.2.1) */
	buf_printf(&out, "* OK [HIGHESTMODSEQ %llu] Highest.\r\n",
	           (unsigned long long)mailbox_highest_modseq(c->box));
	conn_write(c->conn, out.data, out.len);
	buf_free(&out);
}

/* The selected mailbox is closed by SELECT/EXAMINE (whatever comes of it): the responses
 * after CLOSED are of the new one (RFC 7162 3.2.11, for every client of a server with QRESYNC,
 * so that a client that enables it later is not misled). */
static void imap_select_close_previous(struct imap_client *c)
{
	if (c->box == NULL)
		return;
	imap_mailbox_unselect(c);
	imap_untagged(c, "OK [CLOSED] Previous mailbox closed.");
}

static enum imap_cmd_result imap_select_open(struct imap_client *c, const struct imap_arg *a,
                                             const struct imap_select_params *params,
                                             bool readonly)
{
	const char *name, *error;
	struct mailbox *box = NULL;
	int r;

	if (params->condstore)
		c->condstore = true;
	imap_select_close_previous(c);
	r = imap_mailbox_arg(c, &a[0], &name);
	if (r <= 0)
		return r < 0 ? IMAP_CMD_BAD : IMAP_CMD_OK;
	r = mailbox_open_imap(c->storage, name, readonly, &box, &error);
	if (r == 0) {
		imap_tagged(c, "NO", "[NONEXISTENT] Mailbox does not exist.");
		return IMAP_CMD_OK;
	}
	if (r < 0) {
		imap_storage_error(c, "Select", error);
		return IMAP_CMD_OK;
	}
	c->box = box;
	c->readonly = readonly;
	c->state = IMAP_STATE_SELECTED;
	c->known_count = (uint32_t)mailbox_count(box);
	c->known_recent = 0;
	for (uint32_t i = 0; i < c->known_count; i++)
		c->known_recent += (mailbox_get(box, i)->flags & MAIL_RECENT) != 0;
	c->known_keywords = mailbox_keyword_count(box);
	imap_select_untagged(c);
	if (c->rev2)
		imap_list_selected_mailbox(c, name);
	if (params->qresync)
		imap_qresync_select(c, &params->q);
	imap_tagged(c, "OK", "[%s] %s completed.", readonly ? "READ-ONLY" : "READ-WRITE",
	            readonly ? "Examine" : "Select");
	return IMAP_CMD_OK;
}

static enum imap_cmd_result imap_select(struct imap_client *c, const struct imap_arg *a, unsigned n,
                                        bool readonly)
{
	struct imap_select_params params = {0};
	enum imap_cmd_result r;
	const char *error;

	if (n != 1 && n != 2)
		return imap_bad(c, "SELECT/EXAMINE take a mailbox name and parameters.");
	if (n == 2 && imap_select_params_parse(&a[1], &params, &error) < 0)
		r = imap_bad(c, error);
	else if (params.qresync && !c->qresync)
		r = imap_bad(c, "QRESYNC needs ENABLE QRESYNC.");
	else
		r = imap_select_open(c, a, &params, readonly);
	imap_select_params_free(&params);
	return r;
}

enum imap_cmd_result imap_cmd_select(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	return imap_select(c, a, n, false);
}

enum imap_cmd_result imap_cmd_examine(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	return imap_select(c, a, n, true);
}

/* --- CREATE DELETE RENAME SUBSCRIBE --- */

enum imap_cmd_result imap_cmd_create(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	const char *name, *error;
	char *copy;
	size_t len;
	int r;

	if (n != 1)
		return imap_bad(c, "CREATE takes one mailbox name.");
	r = imap_mailbox_arg(c, &a[0], &name);
	if (r <= 0)
		return r < 0 ? IMAP_CMD_BAD : IMAP_CMD_OK;
	copy = xstrdup(name);
	len = strlen(copy);
	if (len > 1 && copy[len - 1] == '.')
		copy[len - 1] = '\0'; /* "foo." announces a future parent: create "foo" */
	if (strcasecmp(copy, "INBOX") == 0) {
		imap_tagged(c, "NO", "[ALREADYEXISTS] INBOX always exists.");
	} else if (mailbox_create(c->storage, copy, &error) < 0) {
		imap_storage_error(c, "Create", error);
	} else {
		imap_ok(c, "Create completed.");
	}
	xfree(&copy);
	return IMAP_CMD_OK;
}

static bool imap_is_selected(const struct imap_client *c, const char *name)
{
	if (c->box == NULL)
		return false;
	if (strcasecmp(name, "INBOX") == 0)
		return strcasecmp(mailbox_name(c->box), "INBOX") == 0;
	return strcmp(mailbox_name(c->box), name) == 0;
}

enum imap_cmd_result imap_cmd_delete(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	const char *name, *error;
	int r;

	if (n != 1)
		return imap_bad(c, "DELETE takes one mailbox name.");
	r = imap_mailbox_arg(c, &a[0], &name);
	if (r <= 0)
		return r < 0 ? IMAP_CMD_BAD : IMAP_CMD_OK;
	if (strcasecmp(name, "INBOX") == 0) {
		imap_tagged(c, "NO", "[CANNOT] INBOX cannot be deleted.");
		return IMAP_CMD_OK;
	}
	if (imap_is_selected(c, name))
		imap_mailbox_unselect(c);
	/* RFC 9051 6.3.4: a name that only holds others cannot be deleted */
	r = mailbox_delete(c->storage, name, &error);
	if (r < 0 && imap_list_only_parent(c, name))
		imap_tagged(c, "NO", "[HASCHILDREN] Mailbox has inferior hierarchical names.");
	else if (r < 0)
		imap_storage_error(c, "Delete", error);
	else
		imap_ok(c, "Delete completed.");
	return IMAP_CMD_OK;
}

enum imap_cmd_result imap_cmd_rename(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	const char *from, *to, *error;
	int r;

	if (n != 2)
		return imap_bad(c, "RENAME takes two mailbox names.");
	r = imap_mailbox_arg(c, &a[0], &from);
	if (r > 0)
		r = imap_mailbox_arg(c, &a[1], &to);
	if (r <= 0)
		return r < 0 ? IMAP_CMD_BAD : IMAP_CMD_OK;
	if (strcasecmp(to, "INBOX") == 0) {
		imap_tagged(c, "NO", "[ALREADYEXISTS] INBOX always exists.");
		return IMAP_CMD_OK;
	}
	if (imap_is_selected(c, from) && strcasecmp(from, "INBOX") != 0)
		imap_mailbox_unselect(c);
	if (mailbox_rename(c->storage, from, to, &error) < 0)
		imap_storage_error(c, "Rename", error);
	else
		imap_ok(c, "Rename completed.");
	return IMAP_CMD_OK;
}

static enum imap_cmd_result imap_subscribe(struct imap_client *c, const struct imap_arg *a,
                                           unsigned n, bool subscribe)
{
	const char *name, *error;
	int r;

	if (n != 1)
		return imap_bad(c, "SUBSCRIBE/UNSUBSCRIBE take one mailbox name.");
	r = imap_mailbox_arg(c, &a[0], &name);
	if (r <= 0)
		return r < 0 ? IMAP_CMD_BAD : IMAP_CMD_OK;
	if (mailbox_subscribe(c->storage, name, subscribe, &error) < 0)
		imap_storage_error(c, subscribe ? "Subscribe" : "Unsubscribe", error);
	else
		imap_ok(c, "%s completed.", subscribe ? "Subscribe" : "Unsubscribe");
	return IMAP_CMD_OK;
}

enum imap_cmd_result imap_cmd_subscribe(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	return imap_subscribe(c, a, n, true);
}

enum imap_cmd_result imap_cmd_unsubscribe(struct imap_client *c, const struct imap_arg *a,
                                          unsigned n)
{
	return imap_subscribe(c, a, n, false);
}

/* --- STATUS --- */

static const char *const imap_status_items[] = {
    "MESSAGES",    "RECENT",        "UIDNEXT", "UIDVALIDITY", "UNSEEN", "SIZE",
    "APPENDLIMIT", "HIGHESTMODSEQ", "DELETED"};

/* at most 16 items of 4 bits in a uint64_t */
#define IMAP_N_STATUS_ITEMS       (sizeof(imap_status_items) / sizeof(imap_status_items[0]))
#define IMAP_STATUS_SIZE          5 /* index of "SIZE" */
#define IMAP_STATUS_HIGHESTMODSEQ 7
#define IMAP_STATUS_DELETED       8 /* RFC 9051: messages with \Deleted */

int imap_status_items_parse(const struct imap_arg *arg, uint64_t *items_r)
{
	const struct imap_arg *list;
	unsigned count;
	const char *name;

	*items_r = 0;
	if (!imap_arg_get_list(arg, &list, &count) || count == 0 || count > IMAP_N_STATUS_ITEMS)
		return -1;
	for (unsigned i = 0; i < count; i++) {
		size_t k;

		if (!imap_arg_get_atom(&list[i], &name))
			return -1;
		for (k = 0; k < IMAP_N_STATUS_ITEMS; k++) {
			if (strcasecmp(name, imap_status_items[k]) == 0)
				break;
		}
		if (k == IMAP_N_STATUS_ITEMS)
			return -1;
		*items_r |= (uint64_t)(k + 1) << (4 * i);
	}
	return 0;
}

static uint64_t imap_status_value(struct imap_client *c, const struct mailbox_status *st, size_t k)
{
	switch (k) {
	case 0:
		return st->messages;
	case 1:
		return st->recent;
	case 2:
		return st->uidnext;
	case 3:
		return st->uidvalidity;
	case 4:
		return st->unseen;
	case IMAP_STATUS_SIZE:
		return st->size;
	case IMAP_STATUS_HIGHESTMODSEQ:
		return st->highestmodseq;
	case IMAP_STATUS_DELETED:
		return st->deleted;
	default:
		return c->s->cfg->imap_append_limit;
	}
}

/* True when items (as imap_status_items_parse returns them) ask for item k. */
static bool imap_status_wants(uint64_t items, size_t k)
{
	for (; items != 0; items >>= 4) {
		if ((items & 0xf) - 1 == k)
			return true;
	}
	return false;
}

int imap_status_write(struct imap_client *c, const char *name, uint64_t items, const char **error_r)
{
	struct mailbox_status st;
	const char *sep = "";
	struct buf out;
	int r = mailbox_get_status(c->storage, name, imap_status_wants(items, IMAP_STATUS_SIZE),
	                           &st, error_r);

	if (r <= 0)
		return r;
	buf_init(&out);
	buf_append_str(&out, "* STATUS ");
	imap_append_mailbox(&out, name);
	buf_append_str(&out, " (");
	for (; items != 0; items >>= 4) {
		size_t k = (items & 0xf) - 1;

		buf_printf(&out, "%s%s %llu", sep, imap_status_items[k],
		           (unsigned long long)imap_status_value(c, &st, k));
		sep = " ";
	}
	buf_append_str(&out, ")\r\n");
	conn_write(c->conn, out.data, out.len);
	buf_free(&out);
	return 1;
}

enum imap_cmd_result imap_cmd_status(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	const char *name, *error = "";
	uint64_t items;
	int r;

	if (n != 2)
		return imap_bad(c, "STATUS takes a mailbox name and a list of items.");
	r = imap_mailbox_arg(c, &a[0], &name);
	if (r <= 0)
		return r < 0 ? IMAP_CMD_BAD : IMAP_CMD_OK;
	if (imap_status_items_parse(&a[1], &items) < 0)
		return imap_bad(c, "Invalid STATUS items.");
	if (imap_status_wants(items, IMAP_STATUS_HIGHESTMODSEQ))
		c->condstore = true;
	r = imap_status_write(c, name, items, &error);
	if (r == 0)
		imap_tagged(c, "NO", "[NONEXISTENT] Mailbox does not exist.");
	else if (r < 0)
		imap_storage_error(c, "Status", error);
	else
		imap_ok(c, "Status completed.");
	return IMAP_CMD_OK;
}

enum imap_cmd_result imap_cmd_namespace(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	(void)a;
	if (n != 0)
		return imap_bad(c, "NAMESPACE takes no arguments.");
	imap_untagged(c, "NAMESPACE ((\"\" \".\")) NIL NIL");
	imap_ok(c, "Namespace completed.");
	return IMAP_CMD_OK;
}
