/* STORE (+/-FLAGS, .SILENT), COPY and MOVE (RFC 6851) with COPYUID (RFC 4315). */
#include "server/imap/imap-client.h"
#include "server/imap/imap-context.h"
#include "server/imap/imap-reply.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "server/conn.h"
#include "storage/storage.h"

#include <string.h>
#include <strings.h>

#define IMAP_SYSTEM_FLAGS (MAIL_SEEN | MAIL_ANSWERED | MAIL_FLAGGED | MAIL_DELETED | MAIL_DRAFT)

enum imap_store_mode { STORE_REPLACE, STORE_ADD, STORE_REMOVE };

struct imap_store {
	enum imap_store_mode mode;
	bool silent;
	unsigned flags;
	uint64_t keywords;
	uint64_t unchangedsince; /* UINT64_MAX: none */
};

static int imap_store_item(const char *item, struct imap_store *st)
{
	const char *p = item;

	st->mode = STORE_REPLACE;
	if (*p == '+' || *p == '-')
		st->mode = *p++ == '+' ? STORE_ADD : STORE_REMOVE;
	if (strncasecmp(p, "FLAGS", 5) != 0)
		return -1;
	p += 5;
	st->silent = strcasecmp(p, ".SILENT") == 0;
	return st->silent || *p == '\0' ? 0 : -1;
}

/* Flags as one list or as separate atoms. 0 ok, -1 BAD (*error_r), -2 keyword table full. */
static int imap_store_flags(struct imap_client *c, const struct imap_arg *a, unsigned n,
                            struct imap_store *st, const char **error_r)
{
	st->flags = 0;
	st->keywords = 0;
	if (n == 1 && a[0].type == IMAP_ARG_LIST)
		return imap_parse_flags(c->box, &a[0], st->mode != STORE_REMOVE, &st->flags,
		                        &st->keywords, error_r);
	for (unsigned i = 0; i < n; i++) {
		unsigned f;
		uint64_t k;
		int r;

		if (a[i].type == IMAP_ARG_LIST) {
			*error_r = "Invalid flag list.";
			return -1;
		}
		r = imap_parse_flags(c->box, &a[i], st->mode != STORE_REMOVE, &f, &k, error_r);
		if (r < 0)
			return r;
		st->flags |= f;
		st->keywords |= k;
	}
	return 0;
}

/* 1 done, 0 vanished, -1 error */
static int imap_store_one(struct imap_client *c, size_t i, const struct imap_store *st,
                          const char **error_r)
{
	unsigned set = 0, clear = 0;
	uint64_t kset = 0, kclear = 0;
	int r;

	if (st->mode == STORE_REPLACE) {
		set = st->flags;
		clear = IMAP_SYSTEM_FLAGS & ~st->flags;
		kset = st->keywords;
		kclear = ~st->keywords;
	} else if (st->mode == STORE_ADD) {
		set = st->flags;
		kset = st->keywords;
	} else {
		clear = st->flags;
		kclear = st->keywords;
	}
	r = mailbox_set_flags(c->box, i, set, clear, error_r);
	if (r > 0 && (kset != 0 || (kclear & mailbox_get(c->box, i)->keywords) != 0))
		r = mailbox_set_keywords(c->box, i, kset, kclear, error_r);
	return r;
}

/* .SILENT leaves FLAGS out; a CONDSTORE client is still told the new MODSEQ (RFC 7162 3.2). */
static void imap_store_reply(struct imap_client *c, size_t i, bool silent)
{
	const struct mail *m = mailbox_get(c->box, i);
	struct buf out;

	if (silent && !c->condstore)
		return;
	buf_init(&out);
	buf_printf(&out, "* %zu FETCH (", i + 1);
	/* a QRESYNC client keeps its messages by UID: every FETCH tells it */
	if (c->uid || c->qresync)
		buf_printf(&out, "UID %u%s", m->uid, silent ? "" : " ");
	if (!silent) {
		buf_append_str(&out, "FLAGS ");
		imap_append_msg_flags(&out, c, i);
	}
	imap_append_modseq(&out, c, i);
	buf_append_str(&out, ")\r\n");
	conn_write(c->conn, out.data, out.len);
	buf_free(&out);
}

/* The changes, as one (one MODSEQ): *stored marks what to answer. A message changed since
 * UNCHANGEDSINCE is left alone and marked in modified. NULL, or the error of the last
 * failure. */
static const char *imap_store_apply(struct imap_client *c, const bool *sel,
                                    const struct imap_store *st, bool *stored, bool *modified)
{
	const char *error, *failed = NULL;

	if (mailbox_changes_begin(c->box, &error) < 0)
		return error;
	for (size_t i = 0; i < c->known_count; i++) {
		int r;

		if (!sel[i] || mailbox_msg_gone(c->box, i))
			continue;
		if (mailbox_get(c->box, i)->modseq > st->unchangedsince) {
			modified[i] = true;
			continue;
		}
		r = imap_store_one(c, i, st, &error);
		if (r < 0) {
			log_error("imap user=%s: store failed: %s", c->user, error);
			failed = error;
		}
		stored[i] = r > 0;
	}
	if (mailbox_changes_commit(c->box, &error) < 0)
		failed = error;
	return failed;
}

/* Messages another session expunged meanwhile are left out and the rest stored: OK, as
 * RFC 2180 4.2.1 allows and clients expect. Replies go out after the commit: the index's
 * write lock is not held while the client reads. */
static void imap_store_run(struct imap_client *c, const bool *sel, const struct imap_store *st)
{
	bool *stored = xcalloc((size_t)c->known_count + 1, sizeof(bool));
	bool *modified = xcalloc((size_t)c->known_count + 1, sizeof(bool));
	const char *failed;
	struct buf code;

	imap_report_keywords(c); /* new keywords are announced before they are used */
	failed = imap_store_apply(c, sel, st, stored, modified);
	for (size_t i = 0; i < c->known_count; i++) {
		if (stored[i]) {
			imap_store_reply(c, i, st->silent);
			imap_context_changed(c, i);
		}
	}
	imap_context_flush(c);
	buf_init(&code);
	imap_store_modified(c, modified, &code);
	if (failed != NULL)
		imap_storage_failed(c, "Store", failed);
	else
		imap_ok(c, "%sStore completed.", code.len > 0 ? code.data : "");
	buf_free(&code);
	xfree(&stored);
	xfree(&modified);
}

enum imap_cmd_result imap_cmd_store(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	const char *set, *item, *error = "Invalid STORE arguments.";
	struct imap_store st;
	bool *sel;
	int r, mods = imap_store_modifiers(c, a, n, &st.unchangedsince, &error);

	if (mods < 0)
		return imap_bad(c, error);
	/* the modifiers come between the set and the item: skipped */
	if (n < 3 + (unsigned)mods || !imap_arg_get_atom(&a[0], &set) ||
	    !imap_arg_get_atom(&a[1 + mods], &item) || imap_store_item(item, &st) < 0)
		return imap_bad(c, "STORE takes a set, [+|-]FLAGS[.SILENT] and flags.");
	a += mods;
	n -= (unsigned)mods;
	if (c->readonly) {
		imap_tagged(c, "NO", "[READ-ONLY] The mailbox is read-only.");
		return IMAP_CMD_OK;
	}
	if (imap_seqset_select(c, set, c->uid, &sel, &error) < 0)
		return imap_bad(c, error);
	r = imap_store_flags(c, a + 2, n - 2, &st, &error);
	if (r == 0)
		imap_store_run(c, sel, &st);
	else if (r == -2)
		imap_tagged(c, "NO", "[LIMIT] Too many keywords in this mailbox.");
	xfree(&sel);
	return r == -1 ? imap_bad(c, error) : IMAP_CMD_OK;
}

/* --- COPY / MOVE --- */

/* The selected messages, for mailbox_copy_many: view indexes and UIDs, ascending. */
struct imap_copy {
	size_t *idx;
	uint32_t *src, *dst;
	size_t count;
};

static void imap_copy_select(struct imap_client *c, const bool *sel, struct imap_copy *cp)
{
	cp->idx = xcalloc((size_t)c->known_count + 1, sizeof(*cp->idx));
	cp->src = xcalloc((size_t)c->known_count + 1, sizeof(*cp->src));
	cp->dst = xcalloc((size_t)c->known_count + 1, sizeof(*cp->dst));
	cp->count = 0;
	for (size_t i = 0; i < c->known_count; i++) {
		if (!sel[i])
			continue;
		cp->idx[cp->count] = i;
		cp->src[cp->count++] = mailbox_get(c->box, i)->uid;
	}
}

static void imap_copy_free(struct imap_copy *cp)
{
	xfree(&cp->idx);
	xfree(&cp->src);
	xfree(&cp->dst);
}

static void imap_copyuid(struct buf *out, struct mailbox *dst, const struct imap_copy *cp)
{
	buf_printf(out, "[COPYUID %u ", mailbox_uidvalidity(dst));
	imap_append_numset(out, cp->src, cp->count);
	buf_append_str(out, " ");
	imap_append_numset(out, cp->dst, cp->count);
	buf_append_str(out, "]");
}

/* MOVE: the untagged COPYUID, then the sources expunged (RFC 6851). */
static void imap_move_expunge(struct imap_client *c, struct mailbox *dst,
                              const struct imap_copy *cp)
{
	bool *remove = xcalloc((size_t)mailbox_count(c->box) + 1, sizeof(bool));
	struct buf out;
	const char *error;

	buf_init(&out);
	buf_append_str(&out, "* OK ");
	imap_copyuid(&out, dst, cp);
	buf_append_str(&out, " Moved.\r\n");
	if (cp->count > 0)
		conn_write(c->conn, out.data, out.len);
	buf_free(&out);
	for (size_t j = 0; j < cp->count; j++)
		remove[cp->idx[j]] = true;
	if (imap_expunge_marked(c, remove, &error) < 0)
		log_error("imap user=%s: expunge after move failed: %s", c->user, error);
	xfree(&remove);
}

static void imap_copy_reply(struct imap_client *c, struct mailbox *dst, bool move,
                            const struct imap_copy *cp)
{
	struct buf out;

	buf_init(&out);
	if (move) {
		imap_move_expunge(c, dst, cp);
	} else if (cp->count > 0) {
		imap_copyuid(&out, dst, cp);
		buf_append_str(&out, " ");
	}
	imap_ok(c, "%s%s completed.", out.len > 0 ? out.data : "", move ? "Move" : "Copy");
	buf_free(&out);
}

/* All or nothing: a message expunged by another session meanwhile fails the whole command
 * with nothing copied; the EXPUNGE goes out first, so that the client's retry can succeed. */
static void imap_copy_to(struct imap_client *c, const bool *sel, const char *name, bool move)
{
	struct imap_copy cp;
	struct mailbox *dst = NULL;
	const char *error;
	int r = mailbox_open(c->storage, name, &dst, &error);

	if (r == 0) {
		imap_tagged(c, "NO", "[TRYCREATE] Mailbox does not exist.");
		return;
	}
	if (r < 0) {
		imap_storage_error(c, move ? "Move" : "Copy", error);
		return;
	}
	imap_copy_select(c, sel, &cp);
	r = mailbox_copy_many(c->box, cp.idx, cp.count, dst, cp.dst, &error);
	if (r < 0) {
		log_error("imap user=%s: %s failed: %s", c->user, move ? "move" : "copy", error);
		imap_storage_failed(c, move ? "Move" : "Copy", error);
	} else if (r == 0) {
		imap_sync_report(c, true);
		imap_tagged(c, "NO", "[EXPUNGEISSUED] Some of the messages no longer exist.");
	} else {
		imap_copy_reply(c, dst, move, &cp);
	}
	imap_copy_free(&cp);
	mailbox_close(&dst);
}

static enum imap_cmd_result imap_copy_cmd(struct imap_client *c, const struct imap_arg *a,
                                          unsigned n, bool move)
{
	const char *set, *name, *error;
	bool *sel;
	int r;

	if (n != 2 || !imap_arg_get_atom(&a[0], &set))
		return imap_bad(c, "COPY/MOVE take a set and a mailbox name.");
	r = imap_mailbox_arg(c, &a[1], &name);
	if (r <= 0)
		return r < 0 ? IMAP_CMD_BAD : IMAP_CMD_OK;
	if (move && c->readonly) {
		imap_tagged(c, "NO", "[READ-ONLY] The mailbox is read-only.");
		return IMAP_CMD_OK;
	}
	if (imap_seqset_select(c, set, c->uid, &sel, &error) < 0)
		return imap_bad(c, error);
	imap_copy_to(c, sel, name, move);
	xfree(&sel);
	return IMAP_CMD_OK;
}

enum imap_cmd_result imap_cmd_copy(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	return imap_copy_cmd(c, a, n, false);
}

enum imap_cmd_result imap_cmd_move(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	return imap_copy_cmd(c, a, n, true);
}
