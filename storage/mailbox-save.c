/*
 * Saving messages into a mailbox: APPEND, COPY, MOVE. Every saved file is named
 * "<unique>,S=<size>,W=<crlf size>,U=<uid>:2,<flags>" where <unique> starts with the internal
 * date's seconds, and is placed and indexed inside the destination's index transaction, so the
 * UID is taken exactly once, in order, and both the UID and the date survive an index deletion.
 * A crash between placing the file and the commit is repaired by the next sync, which finds the
 * UID in the name. An appended message is stored with LF line ends, as an MTA delivers mail
 * into a maildir, so every file of a mailbox has one form whoever wrote it.
 */
#include "storage/storage-private.h"
#include "storage/beneath.h"

#include "common/log.h"
#include "common/xalloc.h"
#include "storage/maildir-name.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct save {
	const char *key; /* the unique name */
	struct mail_index_rec rec;
	unsigned flags;
	struct mailbox *cache_src; /* copy its cached metadata of cache_uid, or NULL */
	uint32_t cache_uid;
};

static char *save_name(const struct save *sv)
{
	char *rest = maildir_rest_with_flags("", sv->flags & ~(unsigned)MAIL_RECENT);
	char *name = xasprintf("%s,S=%llu,W=%llu,U=%u%s", sv->key, (unsigned long long)sv->rec.size,
	                       (unsigned long long)sv->rec.vsize, sv->rec.uid, rest);

	xfree(&rest);
	return name;
}

/* Inside dst's transaction: the row of a placed file, with the cached metadata. */
static int save_index_row(struct mailbox *dst, struct save *sv, const char **error_r)
{
	bool recovered;

	sv->rec.mflags = (int)(sv->flags & ~(unsigned)MAIL_RECENT);
	if (mail_index_assign(dst->index, sv->key, sv->rec.uid, &sv->rec, &recovered, error_r) < 0)
		return -1;
	if (sv->cache_src != NULL && mail_index_cache_copy(sv->cache_src->index, sv->cache_uid,
	                                                   dst->index, sv->rec.uid, error_r) < 0)
		return -1;
	return 0;
}

static const char *save_errno_text(int err)
{
	if (err == ENOENT)
		return "message has been expunged";
	return err == ENOSPC || err == EDQUOT ? mail_error_nospace : "mailbox access error";
}

/* ---- append: whole, or in pieces as the data arrives ---- */

struct mail_save {
	struct mailbox *box;
	char *tmpname;
	int fd; /* -1 once closed */
	uint64_t size, vsize;
	time_t date;       /* set when closed */
	bool prev_cr;      /* the last byte taken was a CR (for the CRLF size) */
	bool held_cr;      /* that CR is not written yet: an LF may follow */
	bool keep_crlf;    /* the data is stored as sent */
	const char *error; /* set once a write failed: only abort is left */
};

int mailbox_save_begin(struct mailbox *box, struct mail_save **save_r, const char **error_r)
{
	struct mail_save *sv = xcalloc(1, sizeof(*sv));

	sv->box = box;
	sv->tmpname = maildir_unique_name();
	if (maildir_tmp_create(box->dirs.tmpfd, sv->tmpname, &sv->fd, error_r) < 0) {
		xfree(&sv->tmpname);
		xfree(&sv);
		return -1;
	}
	*save_r = sv;
	return 0;
}

static int save_out(struct mail_save *sv, const unsigned char *data, size_t len)
{
	if (len == 0 || maildir_tmp_write(sv->fd, sv->tmpname, data, len, &sv->error) < 0)
		return len == 0 ? 0 : -1;
	sv->size += len;
	return 0;
}

/* Writes data with CRLF turned into LF: a CR is dropped before an LF unless a CR precedes it
 * as well ("\r\r\n" stays), so the CRLF size measured from the file later is exactly the size
 * of what the client sent (RFC822.SIZE does not change). */
static int save_out_lf(struct mail_save *sv, const unsigned char *data, size_t len)
{
	unsigned char out[8192];
	size_t n = 0;
	bool prev_cr = sv->prev_cr;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = data[i];

		if (n + 2 > sizeof(out)) {
			if (save_out(sv, out, n) < 0)
				return -1;
			n = 0;
		}
		if (sv->held_cr) {
			sv->held_cr = false;
			if (c != '\n')
				out[n++] = '\r';
		}
		if (c == '\r' && !prev_cr)
			sv->held_cr = true;
		else
			out[n++] = c;
		prev_cr = c == '\r';
	}
	return save_out(sv, out, n);
}

int mailbox_save_write(struct mail_save *sv, const void *data, size_t len, const char **error_r)
{
	bool prev_cr = sv->prev_cr;

	if (sv->error == NULL &&
	    (sv->keep_crlf ? save_out(sv, data, len) : save_out_lf(sv, data, len)) == 0) {
		sv->vsize += maildir_vsize_chunk(data, len, &prev_cr);
		sv->prev_cr = prev_cr;
		return 0;
	}
	*error_r = sv->error;
	return -1;
}

void mailbox_save_keep_crlf(struct mail_save *sv)
{
	sv->keep_crlf = true;
}

static void mail_save_free(struct mail_save **svp)
{
	xfree(&(*svp)->tmpname);
	xfree(svp);
}

void mailbox_save_abort(struct mail_save **svp)
{
	struct mail_save *sv = *svp;

	if (sv == NULL)
		return;
	if (sv->fd >= 0)
		close(sv->fd);
	(void)beneath_unlink(sv->box->dirs.tmpfd, sv->tmpname, 0);
	mail_save_free(svp);
}

int mailbox_save_close(struct mail_save *sv, time_t internal_date, const char **error_r)
{
	if (sv->fd >= 0 && sv->held_cr) { /* a CR at the very end: no LF after it */
		sv->held_cr = false;
		(void)save_out(sv, (const unsigned char *)"\r", 1);
	}
	if (sv->fd >= 0 && sv->error == NULL) {
		sv->date = internal_date > 0 ? internal_date : time(NULL);
		if (maildir_tmp_finish(sv->box->dirs.tmpfd, sv->fd, sv->tmpname, sv->date,
		                       &sv->error) == 0) {
			sv->fd = -1;
			return 0;
		}
		sv->fd = -1; /* closed and removed */
	}
	*error_r = sv->error != NULL ? sv->error : "message already closed";
	return -1;
}

/* Several closed saves committed in one transaction of their mailbox. */
struct save_batch {
	struct mailbox *box;
	struct mail_save **saves;
	size_t count;
	struct save *sv;
	char **keys, **placed;
};

/* Inside the transaction: renames the i-th file into cur/ and indexes it. */
static int batch_place(struct save_batch *b, size_t i, unsigned flags, const char **error_r)
{
	const struct mail_save *ms = b->saves[i];
	struct save *sv = &b->sv[i];
	char *name;

	if (ms->fd >= 0 || ms->error != NULL || ms->box != b->box) {
		*error_r = ms->error != NULL ? ms->error : "message not complete";
		return -1;
	}
	b->keys[i] = maildir_unique_name_at(ms->date);
	*sv = (struct save){.key = b->keys[i], .flags = flags};
	sv->rec = (struct mail_index_rec){.size = ms->size, .vsize = ms->vsize, .date = ms->date};
	sv->rec.uid = mail_index_next_uid(b->box->index);
	name = save_name(sv);
	if (maildir_rename(b->box->dirs.tmpfd, ms->tmpname, b->box->dirs.curfd, name) < 0) {
		int err = errno;

		log_error("storage: saving %s: %s", name, strerror(err));
		*error_r = save_errno_text(err);
		xfree(&name);
		return -1;
	}
	b->placed[i] = name;
	return save_index_row(b->box, sv, error_r);
}

/* Takes back what was placed: the mailbox is as before. */
static void batch_undo(struct save_batch *b)
{
	mail_index_rollback(b->box->index);
	for (size_t i = 0; i < b->count; i++) {
		if (b->placed[i] != NULL && beneath_unlink(b->box->dirs.curfd, b->placed[i], 0) < 0)
			log_error("storage: removing %s after a failed append: %s", b->placed[i],
			          strerror(errno));
	}
}

static int batch_run(struct save_batch *b, const unsigned *flags, uint32_t *uids_r,
                     const char **error_r)
{
	int ret = 0;

	if (mail_index_begin(b->box->index, error_r) < 0)
		return -1;
	for (size_t i = 0; i < b->count && ret == 0; i++)
		ret = batch_place(b, i, flags[i], error_r);
	if (ret == 0 && mail_index_commit(b->box->index, error_r) < 0)
		ret = -1;
	if (ret < 0) {
		batch_undo(b);
		return -1;
	}
	if (fsync(b->box->dirs.curfd) < 0)
		log_warn("storage: fsync cur: %s", strerror(errno));
	for (size_t i = 0; i < b->count; i++)
		uids_r[i] = b->sv[i].rec.uid;
	return 0;
}

int mailbox_save_commit(struct mail_save **saves, size_t count, const unsigned *flags,
                        uint32_t *uids_r, const char **error_r)
{
	struct save_batch b = {.box = saves[0]->box, .saves = saves, .count = count};
	int ret;

	b.sv = xcalloc(count, sizeof(*b.sv));
	b.keys = xcalloc(count, sizeof(*b.keys));
	b.placed = xcalloc(count, sizeof(*b.placed));
	ret = batch_run(&b, flags, uids_r, error_r);
	for (size_t i = 0; i < count; i++) {
		if (ret == 0)
			mail_save_free(&saves[i]); /* its file is in cur/ now */
		else
			mailbox_save_abort(&saves[i]);
		xfree(&b.keys[i]);
		xfree(&b.placed[i]);
	}
	xfree(&b.sv);
	xfree(&b.keys);
	xfree(&b.placed);
	return ret;
}

int mailbox_save_finish(struct mail_save **svp, unsigned flags, time_t internal_date,
                        uint32_t *uid_r, const char **error_r)
{
	uint32_t uid;

	if (mailbox_save_close(*svp, internal_date, error_r) < 0 ||
	    mailbox_save_commit(svp, 1, &flags, &uid, error_r) < 0) {
		mailbox_save_abort(svp);
		return -1;
	}
	if (uid_r != NULL)
		*uid_r = uid;
	return 0;
}

int mailbox_append(struct mailbox *box, const void *data, size_t len, unsigned flags,
                   time_t internal_date, uint32_t *uid_r, const char **error_r)
{
	struct mail_save *sv;

	if (mailbox_save_begin(box, &sv, error_r) < 0)
		return -1;
	if (mailbox_save_write(sv, data, len, error_r) < 0) {
		mailbox_save_abort(&sv);
		return -1;
	}
	return mailbox_save_finish(&sv, flags, internal_date, uid_r, error_r);
}

/* ---- copy / move ---- */

/* A COPY of several messages is one transaction of the destination: every file is placed (a
 * hard link, else a copy through tmp/) and indexed under its write lock, so no other session
 * sees a part of it, and when one source turns out to have been expunged by another session
 * (or anything fails) the files placed so far are removed and the transaction rolled back: the
 * destination is as before. A MOVE is such a copy followed by the expunge of the sources, so it
 * is all or nothing as well. */
/* Times a source renamed meanwhile (flag changes of other sessions) is looked up again. */
#define TRANSFER_ATTEMPTS 8

struct transfer {
	struct mailbox *src, *dst;
	const size_t *idx;
	size_t count;
	struct save *sv;
	char **keys;
	char **placed; /* names placed in dst's cur/, NULL where none yet */
};

static int copy_data(int from, int to)
{
	char chunk[65536];
	ssize_t n;

	while ((n = read(from, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(to, chunk + off, (size_t)(n - off));

			if (w < 0 && errno != EINTR)
				return -1;
			off += w > 0 ? w : 0;
		}
	}
	return fsync(to);
}

/* Hard links are impossible (another file system, link limits): a real copy through tmp/. */
static int place_copy_through_tmp(const struct msg_rec *m, struct mailbox *src, struct mailbox *dst,
                                  const char *name)
{
	int from = beneath_open(src->dirs.curfd, m->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
	char *tmpname = maildir_unique_name();
	int to = -1, ret = -1, err;

	if (from >= 0)
		to = beneath_open(dst->dirs.tmpfd, tmpname,
		                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (to >= 0 && copy_data(from, to) == 0 && close(to) == 0) {
		to = -1;
		ret = maildir_rename(dst->dirs.tmpfd, tmpname, dst->dirs.curfd, name);
	}
	err = errno;
	if (to >= 0)
		close(to);
	if (from >= 0)
		close(from);
	if (ret < 0)
		(void)beneath_unlink(dst->dirs.tmpfd, tmpname, 0);
	xfree(&tmpname);
	errno = err;
	return ret;
}

/* Places message index of src as name in dst's cur/; 0 ok, -1 with errno (ENOENT: the source
 * file is not under the name the view knows). */
static int place_copy(struct mailbox *src, size_t index, struct mailbox *dst, const char *name)
{
	const struct msg_rec *m = &src->msgs[index];

	if (beneath_link(src->dirs.curfd, m->name, dst->dirs.curfd, name) == 0)
		return 0;
	if (errno == ENOENT || errno == EEXIST)
		return -1;
	return place_copy_through_tmp(m, src, dst, name);
}

/* The source's keywords as bits of dst's table (names dst lacks are created; beyond its 64,
 * dropped). Creating one takes dst's write lock, so this runs before the copy's transaction. */
static uint64_t transfer_keywords(struct mailbox *src, uint64_t keywords, struct mailbox *dst)
{
	uint64_t out = 0;

	if (src == dst)
		return keywords;
	for (unsigned bit = 0; bit < src->kw_count; bit++) {
		int to;

		if ((keywords & (1ULL << bit)) == 0)
			continue;
		to = mailbox_keyword_index(dst, src->kw[bit], true);
		if (to >= 0)
			out |= 1ULL << to;
	}
	return out;
}

/* Sizes, date, flags, keywords and a new key of the i-th message, before the transaction
 * (measuring and keyword creation write to the indexes themselves). 1, 0 vanished, -1. */
static int transfer_prepare(struct transfer *t, size_t i, const char **error_r)
{
	size_t index = t->idx[i];
	struct mail_sizes sizes;
	const struct mail *m;
	int ret;

	if (index >= t->src->count || t->src->msgs[index].gone)
		return 0;
	if ((ret = mailbox_msg_sizes(t->src, index, &sizes, error_r)) <= 0) {
		if (ret < 0 || !t->src->msgs[index].unavailable)
			return ret;
		*error_r = mail_error_unavailable; /* there, but cannot be read */
		return -1;
	}
	m = &t->src->msgs[index].mail;
	t->sv[i] = (struct save){.cache_src = t->src, .cache_uid = m->uid, .flags = m->flags};
	t->sv[i].rec = (struct mail_index_rec){
	    .size = sizes.size, .vsize = sizes.crlf_size, .date = sizes.date};
	t->sv[i].rec.keywords = transfer_keywords(t->src, m->keywords, t->dst);
	t->keys[i] = maildir_unique_name_at(sizes.date);
	t->sv[i].key = t->keys[i];
	return 1;
}

/* Inside the transaction: places and indexes the i-th message. 1, 0 its source has vanished,
 * -1 error. */
static int transfer_place(struct transfer *t, size_t i, const char **error_r)
{
	struct save *sv = &t->sv[i];
	int ret;

	sv->rec.uid = mail_index_next_uid(t->dst->index);
	for (int attempt = 0;; attempt++) {
		/* the flags as the file has them now */
		sv->flags = t->src->msgs[t->idx[i]].mail.flags;
		t->placed[i] = save_name(sv);
		if (place_copy(t->src, t->idx[i], t->dst, t->placed[i]) == 0)
			break;
		if (errno != ENOENT || attempt == TRANSFER_ATTEMPTS) {
			int err = errno;

			log_error("storage: copying to %s: %s", t->placed[i], strerror(err));
			*error_r = save_errno_text(err == ENOENT ? EIO : err);
			xfree(&t->placed[i]);
			return -1;
		}
		xfree(&t->placed[i]);
		/* renamed by a flag change of another session, or expunged; dst's lock is held
		 * (and is src's when src is dst) */
		if ((ret = mailbox_msg_relocate_unlocked(t->src, t->idx[i], error_r)) <= 0)
			return ret;
	}
	return save_index_row(t->dst, sv, error_r) < 0 ? -1 : 1;
}

/* Takes back what was placed: the destination is as before. */
static void transfer_undo(struct transfer *t)
{
	mail_index_rollback(t->dst->index);
	for (size_t i = 0; i < t->count; i++) {
		if (t->placed[i] != NULL && beneath_unlink(t->dst->dirs.curfd, t->placed[i], 0) < 0)
			log_error("storage: removing %s after a failed copy: %s", t->placed[i],
			          strerror(errno));
	}
}

static int transfer_run(struct transfer *t, uint32_t *uids_r, const char **error_r)
{
	int ret = 1;

	for (size_t i = 0; i < t->count && ret > 0; i++)
		ret = transfer_prepare(t, i, error_r);
	if (ret <= 0)
		return ret;
	mailbox_cache_flush(t->src, false);
	if (mail_index_begin(t->dst->index, error_r) < 0)
		return -1;
	for (size_t i = 0; i < t->count && ret > 0; i++)
		ret = transfer_place(t, i, error_r);
	if (ret > 0 && mail_index_commit(t->dst->index, error_r) < 0)
		ret = -1;
	if (ret <= 0) {
		transfer_undo(t);
		return ret;
	}
	if (fsync(t->dst->dirs.curfd) < 0)
		log_warn("storage: fsync cur: %s", strerror(errno));
	for (size_t i = 0; i < t->count; i++)
		uids_r[i] = t->sv[i].rec.uid;
	return 1;
}

int mailbox_copy_many(struct mailbox *src, const size_t *idx, size_t count, struct mailbox *dst,
                      uint32_t *uids_r, const char **error_r)
{
	struct transfer t = {.src = src, .dst = dst, .idx = idx, .count = count};
	int ret;

	if (count == 0)
		return 1;
	t.sv = xcalloc(count, sizeof(*t.sv));
	t.keys = xcalloc(count, sizeof(*t.keys));
	t.placed = xcalloc(count, sizeof(*t.placed));
	ret = transfer_run(&t, uids_r, error_r);
	for (size_t i = 0; i < count; i++) {
		xfree(&t.keys[i]);
		xfree(&t.placed[i]);
	}
	xfree(&t.sv);
	xfree(&t.keys);
	xfree(&t.placed);
	return ret;
}

int mailbox_copy(struct mailbox *src, size_t index, struct mailbox *dst, uint32_t *uid_r,
                 const char **error_r)
{
	uint32_t uid;
	int ret = mailbox_copy_many(src, &index, 1, dst, &uid, error_r);

	if (ret == 0)
		*error_r = "message has been expunged";
	if (ret <= 0)
		return -1;
	if (uid_r != NULL)
		*uid_r = uid;
	return 0;
}

int mailbox_move(struct mailbox *src, size_t index, struct mailbox *dst, uint32_t *uid_r,
                 const char **error_r)
{
	const char *ignored;

	if (mailbox_copy(src, index, dst, uid_r, error_r) < 0)
		return -1;
	if (mailbox_msg_unlink(src, index, error_r) < 0)
		return -1;
	src->msgs[index].gone = true;
	/* the source row goes now (the file is gone); failing that it is only a stale row */
	if (mail_index_begin(src->index, &ignored) == 0) {
		if (mail_index_remove(src->index, src->msgs[index].mail.uid, &ignored) < 0 ||
		    mail_index_commit(src->index, &ignored) < 0)
			mail_index_rollback(src->index);
	}
	return 0;
}
