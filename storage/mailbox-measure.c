/*
 * Message sizes and dates. A file twofold named carries ",S=" ",W=" and its date in the name;
 * a file delivered into new/ is measured when the sync moves it to cur/ (it is read anyway and
 * gets those fields). A file another tool put into cur/ without ",W=" (a migrated mailbox: a
 * hundred thousand of them) is measured only when someone asks: one open, fstat and read, the
 * result kept in the index row (its vsize was -1) so it is read once ever. Walking the view in
 * order (FETCH 1:* RFC822.SIZE, SEARCH LARGER) measures ahead in growing windows, many at a
 * time (maildir-measure-many.c); the results are written in one transaction with the
 * metadata cache entries (mailbox-cache.c).
 */
#include "storage/storage-private.h"
#include "storage/beneath.h"

#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* In-order measuring: the window doubles from MEASURE_WINDOW_MIN up to this. */
#define MEASURE_WINDOW_MIN 16
#define MEASURE_WINDOW_MAX 2048
/* Measured sizes kept in memory before they are written. */
#define SIZES_PENDING_MAX 4096

/* A failed open or read of one file: that file's problem, or the process's. */
static enum measure_result measure_failed(const char *what, const char *name, int err, int *err_r,
                                          const char **error_r)
{
	if (mailbox_unreadable_errno(err)) {
		*err_r = err;
		return MEASURE_UNREADABLE;
	}
	log_error("storage: %s %s: %s", what, name, strerror(err));
	*error_r = "mailbox access error";
	return MEASURE_ERROR;
}

enum measure_result maildir_measure(int dirfd, const char *name, const struct maildir_name *parsed,
                                    struct mail_sizes *sizes_r, int *err_r, const char **error_r)
{
	struct stat stbuf;
	int fd, ret = 0, err;

	if (parsed->has_size && parsed->has_vsize && maildir_name_time(name, &sizes_r->date)) {
		sizes_r->size = parsed->size;
		sizes_r->crlf_size = parsed->vsize;
		return MEASURE_OK;
	}
	fd = beneath_open(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd < 0) {
		if (errno == ENOENT || errno == ELOOP)
			return MEASURE_GONE;
		return measure_failed("open", name, errno, err_r, error_r);
	}
	if (fstat(fd, &stbuf) < 0 || !S_ISREG(stbuf.st_mode)) {
		close(fd);
		return MEASURE_GONE;
	}
	sizes_r->date = stbuf.st_mtime;
	sizes_r->size = parsed->has_size ? parsed->size : (uint64_t)stbuf.st_size;
	if (parsed->has_vsize)
		sizes_r->crlf_size = parsed->vsize;
	else
		ret = maildir_vsize_fd_sized(fd, (uint64_t)stbuf.st_size, &sizes_r->size,
		                             &sizes_r->crlf_size);
	err = errno;
	close(fd);
	return ret < 0 ? measure_failed("read", name, err, err_r, error_r) : MEASURE_OK;
}

/* ---- the view's lazily measured messages ---- */

void mailbox_sizes_discard(struct mailbox *box)
{
	xfree(&box->sizes_pending);
	box->sizes_pending_count = box->sizes_pending_cap = 0;
}

static void sizes_pending_add(struct mailbox *box, const struct msg_rec *m)
{
	if (box->sizes_pending_count == box->sizes_pending_cap) {
		box->sizes_pending_cap =
		    box->sizes_pending_cap == 0 ? 64 : box->sizes_pending_cap * 2;
		box->sizes_pending = xreallocarray(box->sizes_pending, box->sizes_pending_cap,
		                                   sizeof(*box->sizes_pending));
	}
	box->sizes_pending[box->sizes_pending_count++] =
	    (struct sizes_pending){.uid = m->mail.uid, .sizes = m->sizes};
}

/* Files not found under their view name (renamed by a flag change of another session, or
 * removed): one fresh listing of cur/ finds their names; the ones found are measured again. */
static int measure_relocated(struct mailbox *box, const size_t *idx, size_t count,
                             const char **error_r)
{
	if (mailbox_msgs_relocate(box, idx, count, error_r) < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		struct msg_rec *m = &box->msgs[idx[i]];
		struct maildir_name parsed;
		enum measure_result ret;
		int err = 0;

		if (m->gone)
			continue;
		maildir_name_parse(m->name, &parsed);
		ret = maildir_measure(box->dirs.curfd, m->name, &parsed, &m->sizes, &err, error_r);
		if (ret == MEASURE_ERROR)
			return -1;
		/* renamed twice meanwhile: treated as gone, like a listing */
		m->gone = ret == MEASURE_GONE;
		m->measured = ret == MEASURE_OK;
		if (ret == MEASURE_UNREADABLE)
			mailbox_msg_set_unavailable(box, idx[i], err);
	}
	return 0;
}

/* Measures the unmeasured messages of view indexes idx[0..count). */
static int measure_indexes(struct mailbox *box, const size_t *idx, size_t count,
                           const char **error_r)
{
	struct measure_item *items = xcalloc(count + 1, sizeof(*items));
	struct maildir_name *parsed = xcalloc(count + 1, sizeof(*parsed));
	size_t *missing = xcalloc(count + 1, sizeof(*missing));
	size_t n_missing = 0;
	int ret;

	for (size_t i = 0; i < count; i++) {
		maildir_name_parse(box->msgs[idx[i]].name, &parsed[i]);
		items[i] =
		    (struct measure_item){.name = box->msgs[idx[i]].name, .parsed = &parsed[i]};
	}
	ret = maildir_measure_many(box->dirs.curfd, items, count, error_r);
	for (size_t i = 0; i < count && ret == 0; i++) {
		struct msg_rec *m = &box->msgs[idx[i]];

		if (items[i].ret == MEASURE_GONE) {
			missing[n_missing++] = idx[i];
		} else if (items[i].ret == MEASURE_UNREADABLE) {
			mailbox_msg_set_unavailable(box, idx[i], items[i].err);
		} else {
			m->sizes = items[i].sizes;
			m->measured = true;
			m->unavailable = false;
		}
	}
	if (ret == 0 && n_missing > 0)
		ret = measure_relocated(box, missing, n_missing, error_r);
	for (size_t i = 0; i < count && ret == 0; i++) {
		if (box->msgs[idx[i]].measured)
			sizes_pending_add(box, &box->msgs[idx[i]]);
	}
	xfree(&items);
	xfree(&parsed);
	xfree(&missing);
	return ret;
}

/* Measures the unmeasured, present messages among view indexes [first, first + count). */
static int measure_range(struct mailbox *box, size_t first, size_t count, const char **error_r)
{
	size_t *idx = xreallocarray(NULL, count + 1, sizeof(*idx)), n = 0;
	int ret;

	for (size_t i = first; i < first + count && i < box->count; i++) {
		if (!box->msgs[i].measured && !box->msgs[i].gone)
			idx[n++] = i;
	}
	ret = n == 0 ? 0 : measure_indexes(box, idx, n, error_r);
	xfree(&idx);
	if (ret == 0 && box->sizes_pending_count >= SIZES_PENDING_MAX)
		mailbox_cache_flush(box, false);
	return ret;
}

/* One message, or, when the previous call ended right before it (the view is walked in order),
 * a window of them that doubles each time. */
static int measure_at(struct mailbox *box, size_t index, const char **error_r)
{
	size_t count;

	if (index == box->measure_next && index != 0) {
		box->measure_window *= 2;
		if (box->measure_window < MEASURE_WINDOW_MIN)
			box->measure_window = MEASURE_WINDOW_MIN;
		if (box->measure_window > MEASURE_WINDOW_MAX)
			box->measure_window = MEASURE_WINDOW_MAX;
	} else {
		box->measure_window = 1;
	}
	count = box->count - index < box->measure_window ? box->count - index : box->measure_window;
	box->measure_next = index + count;
	return measure_range(box, index, count, error_r);
}

int mailbox_msg_sizes(struct mailbox *box, size_t index, struct mail_sizes *sizes_r,
                      const char **error_r)
{
	struct msg_rec *m;

	if (index >= box->count) {
		*error_r = mail_error_no_message;
		return -1;
	}
	m = &box->msgs[index];
	if (!m->measured && !m->gone && measure_at(box, index, error_r) < 0)
		return -1;
	if (!m->measured)
		return 0;
	*sizes_r = m->sizes;
	return 1;
}

int mailbox_msg_crlf_size(struct mailbox *box, size_t index, uint64_t *size_r, const char **error_r)
{
	struct mail_sizes sizes;
	int ret = mailbox_msg_sizes(box, index, &sizes, error_r);

	if (ret > 0)
		*size_r = sizes.crlf_size;
	return ret;
}

int mailbox_measure_all(struct mailbox *box, const char **error_r)
{
	int ret = measure_range(box, 0, box->count, error_r);

	mailbox_cache_flush(box, false);
	return ret;
}
