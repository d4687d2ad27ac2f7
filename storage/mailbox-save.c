/*
 * Saving messages into a mailbox: APPEND, COPY, MOVE. Every saved file is named
 * "<unique>,S=<size>,W=<crlf size>,U=<uid>:2,<flags>" where <unique> starts with the internal
 * date's seconds, and is placed and indexed inside the destination's index transaction, so the
 * UID is taken exactly once, in order, and both the UID and the date survive an index deletion.
 * A crash between placing the file and the commit is repaired by the next sync, which finds the
 * UID in the name.
 */
#include "storage/storage-private.h"

#include "common/log.h"
#include "common/xalloc.h"
#include "storage/maildir-name.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Places the file named name into dst's cur/; 0 ok, -1 with errno. */
typedef int save_place_fn(void *ctx, struct mailbox *dst, const char *name);

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

static int save_index(struct mailbox *dst, struct save *sv, const char **error_r)
{
	bool recovered;

	if (mail_index_assign(dst->index, sv->key, sv->rec.uid, &sv->rec, &recovered, error_r) < 0)
		return -1;
	if (sv->cache_src != NULL && mail_index_cache_copy(sv->cache_src->index, sv->cache_uid,
	                                                   dst->index, sv->rec.uid, error_r) < 0)
		return -1;
	return mail_index_commit(dst->index, error_r);
}

/* 0 ok, -1 error with errno kept from place() when that failed. */
static int save_commit(struct mailbox *dst, struct save *sv, save_place_fn *place, void *ctx,
                       const char **error_r)
{
	char *name;
	int err;

	if (mail_index_begin(dst->index, error_r) < 0)
		return -1;
	sv->rec.uid = mail_index_next_uid(dst->index);
	name = save_name(sv);
	if (place(ctx, dst, name) < 0) {
		err = errno;
		if (err != ENOENT)
			log_error("storage: saving %s: %s", name, strerror(err));
		*error_r = err == ENOENT ? "message has been expunged" : "mailbox access error";
		mail_index_rollback(dst->index);
		xfree(&name);
		errno = err;
		return -1;
	}
	xfree(&name);
	if (save_index(dst, sv, error_r) < 0) {
		mail_index_rollback(dst->index);
		errno = 0;
		return -1; /* the file stays; the next sync indexes it with this UID */
	}
	if (fsync(dst->dirs.curfd) < 0)
		log_warn("storage: fsync cur: %s", strerror(errno));
	return 0;
}

/* ---- append ---- */

static int place_from_tmp(void *ctx, struct mailbox *dst, const char *name)
{
	return maildir_rename(dst->dirs.tmpfd, ctx, dst->dirs.curfd, name);
}

int mailbox_append(struct mailbox *box, const void *data, size_t len, unsigned flags,
                   time_t internal_date, uint32_t *uid_r, const char **error_r)
{
	struct save sv = {
	    .rec = {.size = len, .vsize = maildir_vsize_mem(data, len)},
	    .flags = flags,
	};
	char *tmpname;
	int ret;

	sv.rec.date = internal_date > 0 ? internal_date : time(NULL);
	tmpname = maildir_unique_name_at(sv.rec.date);
	sv.key = tmpname;
	ret = maildir_write_tmp(box->dirs.tmpfd, tmpname, data, len, sv.rec.date, error_r);
	if (ret == 0 && (ret = save_commit(box, &sv, place_from_tmp, tmpname, error_r)) < 0)
		(void)unlinkat(box->dirs.tmpfd, tmpname, 0);
	xfree(&tmpname);
	if (ret < 0)
		return -1;
	if (uid_r != NULL)
		*uid_r = sv.rec.uid;
	return 0;
}

/* ---- copy / move ---- */

struct transfer {
	struct mailbox *src;
	size_t index;
	bool move;
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
static int place_copy_through_tmp(struct transfer *t, struct mailbox *dst, const char *name)
{
	const struct msg_rec *m = &t->src->msgs[t->index];
	int from = openat(t->src->dirs.curfd, m->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char *tmpname = maildir_unique_name();
	int to = -1, ret = -1, err;

	if (from >= 0)
		to = openat(dst->dirs.tmpfd, tmpname,
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
		(void)unlinkat(dst->dirs.tmpfd, tmpname, 0);
	xfree(&tmpname);
	errno = err;
	return ret;
}

static int place_transfer(void *ctx, struct mailbox *dst, const char *name)
{
	struct transfer *t = ctx;
	const struct msg_rec *m = &t->src->msgs[t->index];

	if (t->move) {
		if (maildir_rename(t->src->dirs.curfd, m->name, dst->dirs.curfd, name) == 0)
			return 0;
		if (errno != EXDEV)
			return -1;
	} else {
		if (linkat(t->src->dirs.curfd, m->name, dst->dirs.curfd, name, 0) == 0)
			return 0;
		if (errno == ENOENT || errno == EEXIST)
			return -1;
	}
	if (place_copy_through_tmp(t, dst, name) < 0)
		return -1;
	if (t->move)
		(void)unlinkat(t->src->dirs.curfd, m->name, 0);
	return 0;
}

/* The source's keywords as bits of dst's table (names dst lacks are created; beyond its 64,
 * dropped). */
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

static int transfer(struct mailbox *src, size_t index, struct mailbox *dst, bool move,
                    uint32_t *uid_r, const char **error_r)
{
	struct transfer t = {.src = src, .index = index, .move = move};
	struct save sv = {.cache_src = src};
	struct mail_sizes sizes;
	const struct mail *m;
	char *key;
	int ret, relocated;

	if (index >= src->count || src->msgs[index].gone ||
	    (ret = mailbox_msg_sizes(src, index, &sizes, error_r)) == 0) {
		*error_r = "message has been expunged";
		return -1;
	}
	if (ret < 0)
		return -1;
	m = &src->msgs[index].mail;
	mailbox_cache_flush(src, false);
	sv.rec = (struct mail_index_rec){
	    .size = sizes.size, .vsize = sizes.crlf_size, .date = sizes.date};
	sv.rec.keywords = transfer_keywords(src, m->keywords, dst);
	sv.flags = m->flags;
	sv.cache_uid = m->uid;
	key = maildir_unique_name_at(sizes.date);
	sv.key = key;
	for (int attempt = 0;; attempt++) {
		ret = save_commit(dst, &sv, place_transfer, &t, error_r);
		if (ret == 0 || errno != ENOENT || attempt > 0)
			break;
		/* renamed by a flag change of another session: find it once */
		if ((relocated = mailbox_msg_relocate(src, index, error_r)) <= 0) {
			if (relocated == 0)
				*error_r = "message has been expunged";
			break;
		}
	}
	xfree(&key);
	if (ret < 0)
		return -1;
	*uid_r = sv.rec.uid;
	return 0;
}

int mailbox_copy(struct mailbox *src, size_t index, struct mailbox *dst, uint32_t *uid_r,
                 const char **error_r)
{
	uint32_t uid;

	return transfer(src, index, dst, false, uid_r != NULL ? uid_r : &uid, error_r);
}

int mailbox_move(struct mailbox *src, size_t index, struct mailbox *dst, uint32_t *uid_r,
                 const char **error_r)
{
	const char *ignored;
	uint32_t uid;

	if (transfer(src, index, dst, true, uid_r != NULL ? uid_r : &uid, error_r) < 0)
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
