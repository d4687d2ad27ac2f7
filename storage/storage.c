/*
 * The mailbox interface over maildir + index. A mailbox view is an array of messages in
 * ascending UID order. A sync that finds anything changed on disk works under the index's write
 * lock (BEGIN IMMEDIATE), so that UIDs are given out in delivery order and no session can add a
 * UID below one another session already shows:
 *   1. new/ is listed once; its files are measured (sizes and date from ",S=" ",W=" and the
 *      name's leading seconds when present, else one open and read) and, in delivery order,
 *      renamed to cur/<key>,S=<size>,W=<crlf size>,U=<uid>:2,<info> and indexed, so the UID
 *      survives an index deletion;
 *   2. cur/ is listed once (a second time only when a message of the view seems missing, since
 *      a listing can miss a file another session renames meanwhile): messages in the view get
 *      their flags from the name (a difference goes to the changed list), missing ones are
 *      marked gone (they stay until expunge), unknown ones get their UID from the index, from
 *      ",U=" or a fresh one; an unknown file without ",W=" is not read now but when its size
 *      is first asked for (mailbox-measure.c);
 *   3. keyword changes of other sessions are read by their change sequence.
 * A sync that finds new/ empty and cur/'s mtime unchanged takes no lock and reads no directory
 * beyond new/.
 */
#include "storage/storage-sync.h"
#include "storage/beneath.h"
#include "storage/bigarray.h"

#include "common/log.h"
#include "common/xalloc.h"
#include "storage/maildir-name.h"
#include "storage/name-pool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Above this many unknown files, one pass over the index beats point lookups. */
#define SYNC_ITERATE_THRESHOLD 64
/* cur/'s mtime only proves "unchanged" once the clock has moved past it by this much. */
#define SYNC_MTIME_SLACK 2
/* A view cleans tmp/ of stale files at its first sync, then at most this often. */
#define SYNC_TMP_CLEAN_INTERVAL (8 * 60 * 60)

int mail_storage_open(int dirfd, struct mail_storage **st_r, const char **error_r)
{
	struct stat stbuf;
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);

	if (fd < 0 || fstat(fd, &stbuf) < 0 || !S_ISDIR(stbuf.st_mode)) {
		log_error("storage: maildir fd %d is not a usable directory", dirfd);
		if (fd >= 0)
			close(fd);
		*error_r = "mailbox access error";
		return -1;
	}
	if (maildir_create_subdirs(fd, error_r) < 0) {
		close(fd);
		return -1;
	}
	*st_r = xcalloc(1, sizeof(**st_r));
	(*st_r)->dirfd = fd;
	if (folder_create_defaults(*st_r, error_r) < 0) {
		mail_storage_close(st_r);
		return -1;
	}
	return 0;
}

void mail_storage_close(struct mail_storage **stp)
{
	if (*stp == NULL)
		return;
	close((*stp)->dirfd);
	mailbox_unreadable_free(*stp);
	xfree(stp);
}

/* A file in cur/ without ",W=" is measured when first asked for (mailbox-measure.c): its row
 * gets vsize MAIL_INDEX_VSIZE_UNKNOWN. Everything else is measured now. */
static bool sync_lazy(const struct scan_entry *e, bool cur)
{
	return cur && !e->parsed.has_vsize;
}

/* Leaves e unmeasured: its sizes are measured when first asked for (mailbox-measure.c). */
static void scan_entry_unmeasured(struct scan_entry *e)
{
	e->rec.size = 0;
	e->rec.date = 0;
	e->rec.vsize = MAIL_INDEX_VSIZE_UNKNOWN;
	if (!maildir_name_time(e->name, &e->order))
		e->order = 0;
	e->ready = true;
}

/* Makes the unused (and, with skip_indexed, unindexed) entries of sc (a listing of cur/, else
 * of new/) ready: measured, or marked unmeasured when lazy or unreadable. Entries that
 * vanished meanwhile become used. */
static int sync_measure_all(struct mailbox *box, struct scan *sc, bool skip_indexed, bool cur,
                            const char **error_r)
{
	int dirfd = cur ? box->dirs.curfd : box->dirs.newfd;
	struct measure_item *items = big_array_realloc(NULL, sc->count + 1, sizeof(*items));
	struct scan_entry **which = big_array_realloc(NULL, sc->count + 1, sizeof(*which));
	size_t n = 0;
	int ret;

	for (size_t i = 0; i < sc->count; i++) {
		struct scan_entry *e = &sc->e[i];

		if (e->used || (skip_indexed && e->indexed))
			continue;
		if (e->parsed.has_size && e->parsed.has_vsize &&
		    maildir_name_time(e->name, &e->rec.date)) {
			/* all in the name (what maildir_measure would find without I/O) */
			e->rec.size = e->parsed.size;
			e->rec.vsize = e->parsed.vsize;
			e->order = e->rec.date;
			e->ready = true;
			continue;
		}
		if (sync_lazy(e, cur)) {
			scan_entry_unmeasured(e);
			continue;
		}
		items[n] = (struct measure_item){.name = e->name, .parsed = &e->parsed};
		which[n++] = e;
	}
	ret = n == 0 ? 0 : maildir_measure_many(dirfd, items, n, error_r);
	for (size_t i = 0; i < n && ret == 0; i++) {
		struct scan_entry *e = which[i];

		if (items[i].ret == MEASURE_GONE) {
			e->used = true; /* gone already */
			continue;
		}
		if (items[i].ret == MEASURE_UNREADABLE) {
			/* indexed all the same: the rest of the mailbox does not wait for it */
			mailbox_unreadable_note(box, e->key, cur ? "cur" : "new", e->name,
			                        items[i].err);
			scan_entry_unmeasured(e);
			continue;
		}
		e->rec.size = items[i].sizes.size;
		e->rec.vsize = items[i].sizes.crlf_size;
		e->rec.date = e->order = items[i].sizes.date;
		e->ready = true;
	}
	big_array_free(&items);
	big_array_free(&which);
	return ret;
}

/* Makes the unused entries of sc ready, into a list in delivery order. */
static int sync_measure_list(struct mailbox *box, struct scan *sc, bool skip_indexed, bool cur,
                             struct scan_entry ***list_r, size_t *n_r, const char **error_r)
{
	struct scan_entry **list;
	size_t n = 0;

	if (sync_measure_all(box, sc, skip_indexed, cur, error_r) < 0)
		return -1;
	list = xreallocarray(NULL, sc->count + 1, sizeof(*list));
	for (size_t i = 0; i < sc->count; i++) {
		if (sc->e[i].ready && !sc->e[i].used)
			list[n++] = &sc->e[i];
	}
	scan_order_sort(list, n);
	*list_r = list;
	*n_r = n;
	return 0;
}

/* ---- new/ -> cur/ (inside the transaction) ---- */

static char *new_target_name(const struct scan_entry *e, uint32_t uid)
{
	const char *rest = e->parsed.has_info ? e->parsed.rest : ":2,";
	char *name =
	    e->rec.vsize == MAIL_INDEX_VSIZE_UNKNOWN /* could not be read yet */
	        ? xasprintf("%s,U=%u%s", e->key, uid, rest)
	        : xasprintf("%s,S=%llu,W=%llu,U=%u%s", e->key, (unsigned long long)e->rec.size,
	                    (unsigned long long)e->rec.vsize, uid, rest);

	if (strlen(name) <= NAME_MAX)
		return name;
	xfree(&name); /* no room for the fields: the UID is then only in the index */
	return strchr(e->name, ':') != NULL ? xstrdup(e->name) : xasprintf("%s:2,", e->name);
}

/* 1 moved and indexed, 0 skipped (gone, or cannot be moved), -1 index error. */
static int new_move_one(struct mailbox *box, struct scan_entry *e, const char **error_r)
{
	struct mail_index_rec found;
	bool recovered;
	int ret = mail_index_lookup(box->index, e->key, &found, error_r);
	uint32_t uid = ret > 0 ? found.uid : mail_index_dovecot_uid(box->index, e->key);
	char *target;

	if (ret < 0)
		return -1;
	if (uid == 0)
		uid = mail_index_next_uid(box->index);
	target = new_target_name(e, uid);
	e->rec.mflags = (int)e->parsed.flags;
	if (maildir_rename(box->dirs.newfd, e->name, box->dirs.curfd, target) < 0) {
		if (errno != ENOENT) /* ENOENT: a tool moved it; the cur/ scan finds it */
			log_warn("storage: cannot move new/%s to cur/: %s", e->name,
			         strerror(errno));
		xfree(&target);
		return 0;
	}
	xfree(&target);
	if (ret == 0 &&
	    mail_index_assign(box->index, e->key, uid, &e->rec, &recovered, error_r) < 0)
		return -1;
	return 1;
}

static int sync_move_new(struct mailbox *box, struct scan *news, const char **error_r)
{
	struct scan_entry **list;
	size_t n;

	if (sync_measure_list(box, news, false, false, &list, &n, error_r) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (new_move_one(box, list[i], error_r) < 0) {
			xfree(&list);
			return -1;
		}
	}
	xfree(&list);
	return 0;
}

/* ---- merging a cur/ scan into the view ---- */

void mailbox_mark_changed(struct mailbox *box, size_t index)
{
	struct msg_rec *m = &box->msgs[index];

	if (m->changed)
		return;
	m->changed = true;
	if (box->changed_count == box->changed_cap) {
		box->changed_cap = box->changed_cap == 0 ? 16 : box->changed_cap * 2;
		box->changed = xreallocarray(box->changed, box->changed_cap, sizeof(*box->changed));
	}
	box->changed[box->changed_count++] = index;
}

void mailbox_changed_clear(struct mailbox *box)
{
	for (size_t i = 0; i < box->changed_count; i++) {
		if (box->changed[i] < box->count)
			box->msgs[box->changed[i]].changed = false;
	}
	box->changed_count = 0;
}

/* Takes the file's current name and flags. True when the flags changed. */
bool rec_set_name(struct mailbox *box, struct msg_rec *m, const struct scan_entry *e)
{
	unsigned old = m->mail.flags;

	if (strcmp(m->name, e->name) == 0)
		return false;
	msg_strings_rename(box, m, e->name);
	m->mail.flags = e->parsed.flags | (old & MAIL_RECENT);
	return m->mail.flags != old;
}

#define MSG_FLAG_COMBINATIONS 32 /* of the five flags a maildir name carries */

/* A listing misses a file that another session renames while it runs (the new name lands
 * where the listing has been), and two listings can miss it both. Before a message is taken
 * for gone, its file is looked for under every name a flag change can give it (the base kept,
 * any combination of the flags, other info letters kept). 1 found (name and flags taken, a
 * change listed), 0 not there. */
int msg_probe(struct mailbox *box, size_t index)
{
	struct msg_rec *m = &box->msgs[index];
	struct maildir_name parsed;
	struct stat st;

	if (maildir_name_parse(m->name, &parsed) <= 0 || !parsed.has_info)
		return 0;
	for (unsigned flags = 0; flags < MSG_FLAG_COMBINATIONS; flags++) {
		char *rest = maildir_rest_with_flags(parsed.rest, flags);
		char *name = xasprintf("%.*s%s", (int)parsed.base_len, m->name, rest);
		unsigned old = m->mail.flags;

		xfree(&rest);
		if (beneath_stat(box->dirs.curfd, name, &st) < 0) {
			xfree(&name);
			continue;
		}
		msg_strings_rename(box, m, name);
		xfree(&name);
		m->mail.flags = maildir_info_flags(strchr(m->name, ':') + 3) | (old & MAIL_RECENT);
		if (m->mail.flags != old)
			mailbox_mark_flags_changed(box, index);
		return 1;
	}
	return 0;
}

/* Matches the view against a cur/ listing. Returns how many messages were not found; they are
 * marked gone only when mark_gone (and not found by msg_probe either). */
size_t sync_known(struct mailbox *box, struct scan *sc, bool mark_gone)
{
	size_t missing = 0;

	for (size_t i = 0; i < box->count; i++) {
		struct msg_rec *m = &box->msgs[i];
		struct scan_entry *e;

		if (m->gone)
			continue;
		e = scan_lookup(sc, m->key);
		if (e == NULL) {
			missing++;
			m->gone = mark_gone && msg_probe(box, i) == 0;
			continue;
		}
		e->used = true;
		if (rec_set_name(box, m, e))
			mailbox_mark_flags_changed(box, i);
	}
	return missing;
}

static void sync_index_row(void *ctx, const char *key, const struct mail_index_rec *rec)
{
	struct scan *sc = ctx;
	struct scan_entry *e = scan_lookup(sc, key);

	if (e != NULL && !e->used) {
		e->rec = *rec;
		e->indexed = true;
	}
}

static int sync_lookup_index(struct mailbox *box, struct scan *sc, size_t unknown,
                             const char **error_r)
{
	int ret;

	if (unknown > SYNC_ITERATE_THRESHOLD)
		return mail_index_iterate(box->index, sync_index_row, sc, error_r);
	for (size_t i = 0; i < sc->count; i++) {
		struct scan_entry *e = &sc->e[i];

		if (e->used)
			continue;
		if ((ret = mail_index_lookup(box->index, e->key, &e->rec, error_r)) < 0)
			return -1;
		e->indexed = ret > 0;
	}
	return 0;
}

/* Gives every unindexed entry a UID (inside the transaction). */
static int sync_assign(struct mailbox *box, struct scan *sc, const char **error_r)
{
	struct mail_index_new *rows;
	struct scan_entry **list;
	size_t n;
	int ret;

	if (sync_measure_list(box, sc, true, true, &list, &n, error_r) < 0)
		return -1;
	scan_order_apply(sc, list, n);
	/* sync_lookup_index looked every unused key up: these are not in the index */
	rows = big_array_realloc(NULL, n + 1, sizeof(*rows));
	for (size_t i = 0; i < n; i++) {
		rows[i] = (struct mail_index_new){
		    .key = list[i]->key,
		    .want_uid = list[i]->parsed.has_uid
		                    ? list[i]->parsed.uid
		                    : mail_index_dovecot_uid(box->index, list[i]->key),
		    .rec = &list[i]->rec};
		list[i]->rec.keywords |=
		    mail_index_dovecot_keywords(box->index, list[i]->parsed.rest);
		list[i]->rec.mflags = (int)list[i]->parsed.flags;
	}
	ret = mail_index_assign_absent_many(box->index, rows, n, error_r);
	for (size_t i = 0; i < n && ret == 0; i++)
		list[i]->indexed = true;
	big_array_free(&rows);
	xfree(&list);
	return ret;
}

/* An empty view filled from one big listing takes the listing's name pool (strings not
 * copied); a few new messages get their strings copied into the view's pool, so that the pool
 * of a whole listing is not kept for them. */
#define VIEW_TAKE_POOL_MIN 256

/* Appends e, whose strings are in box->names already when in_pool. Room must have been
 * made. */
static void view_append(struct mailbox *box, const struct scan_entry *e, bool in_pool)
{
	struct msg_rec *m = &box->msgs[box->count++];

	memset(m, 0, sizeof(*m));
	m->mail.uid = e->rec.uid;
	msg_strings_set(box, m, e, in_pool);
	m->measured = e->rec.vsize != MAIL_INDEX_VSIZE_UNKNOWN;
	if (m->measured)
		m->sizes = (struct mail_sizes){e->rec.size, e->rec.vsize, e->rec.date};
	m->mail.flags = e->parsed.flags;
	m->mail.keywords = e->rec.keywords;
	m->mail.modseq = e->rec.modseq;
}

static void view_reserve(struct mailbox *box, size_t more)
{
	if (box->count + more <= box->cap)
		return;
	box->cap = box->cap * 2 > box->count + more ? box->cap * 2 : box->count + more;
	box->msgs = big_array_realloc(box->msgs, box->cap, sizeof(*box->msgs));
}

/* New messages go to the end of the view in UID order. Under the write lock no UID below the
 * view's last can appear (msg_rename_locked); should one (a listing that missed a file a tool
 * outside the server renamed meanwhile), it is left out of this view rather than breaking the
 * order sequence numbers depend on. */
void sync_append_new(struct mailbox *box, struct scan *sc)
{
	struct scan_entry **list = xreallocarray(NULL, sc->count + 1, sizeof(*list));
	uint32_t last = box->count > 0 ? box->msgs[box->count - 1].mail.uid : 0;
	size_t n = 0;
	bool pooled;

	for (size_t i = 0; i < sc->count; i++) {
		if (!sc->e[i].used && sc->e[i].indexed)
			list[n++] = &sc->e[i];
	}
	scan_order_by_uid(list, n);
	pooled = box->count == 0 && n >= VIEW_TAKE_POOL_MIN;
	if (pooled) {
		/* the view is empty: nothing points into its pool */
		name_pool_free(&box->names);
		box->names = sc->pool;
		sc->pool = NULL;
	}
	view_reserve(box, n);
	for (size_t i = 0; i < n; i++) {
		if (list[i]->rec.uid <= last) {
			log_warn("storage: uid %u appeared below the view's last %u; left out",
			         list[i]->rec.uid, last);
			continue;
		}
		view_append(box, list[i], pooled);
		last = list[i]->rec.uid;
	}
	xfree(&list);
}

/* \Recent for the messages appended from index first on; a read-write session claims them. */
static int sync_recent(struct mailbox *box, size_t first, const char **error_r)
{
	uint32_t floor, next = mail_index_next_uid(box->index);

	if (mail_index_recent_floor(box->index, &floor, error_r) < 0)
		return -1;
	for (size_t i = first; i < box->count; i++) {
		if (box->msgs[i].mail.uid >= floor)
			box->msgs[i].mail.flags |= MAIL_RECENT;
	}
	if (box->claim_recent && next > floor)
		return mail_index_set_recent_floor(box->index, next, error_r);
	return 0;
}

static int sync_cur(struct mailbox *box, const char **error_r)
{
	size_t unknown = 0, first = box->count;
	struct scan sc;
	int ret = -1;

	if (scan_dir(box->dirs.curfd, &sc, error_r) < 0)
		return -1;
	if (sync_known(box, &sc, false) > 0) {
		scan_free(&sc);
		if (scan_dir(box->dirs.curfd, &sc, error_r) < 0)
			return -1;
		sync_known(box, &sc, true);
	}
	for (size_t i = 0; i < sc.count; i++)
		unknown += sc.e[i].used ? 0 : 1;
	if (unknown == 0 ||
	    (sync_lookup_index(box, &sc, unknown, error_r) == 0 &&
	     sync_assign(box, &sc, error_r) == 0 && mailbox_modseq_fresh(box, &sc, error_r) == 0)) {
		sync_append_new(box, &sc);
		ret = sync_recent(box, first, error_r);
	}
	scan_free(&sc);
	return ret;
}

/* ---- keywords of other sessions ---- */

static ssize_t view_find(const struct mailbox *box, uint32_t uid)
{
	size_t lo = 0, hi = box->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (box->msgs[mid].mail.uid == uid)
			return (ssize_t)mid;
		if (box->msgs[mid].mail.uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static void sync_keyword_row(void *ctx, uint32_t uid, uint64_t keywords)
{
	struct mailbox *box = ctx;
	ssize_t i = view_find(box, uid);

	if (i < 0 || box->msgs[i].mail.keywords == keywords)
		return;
	box->msgs[i].mail.keywords = keywords;
	mailbox_mark_changed(box, (size_t)i);
}

static int sync_keywords(struct mailbox *box, bool reload, const char **error_r)
{
	uint32_t seq;

	if (mail_index_keyword_seq(box->index, &seq, error_r) < 0)
		return -1;
	if (seq != box->kwseq) {
		if (mail_index_keyword_changes(box->index, box->kwseq, sync_keyword_row, box,
		                               error_r) < 0)
			return -1;
		box->kwseq = seq;
		reload = true;
	}
	return reload ? mailbox_keywords_reload(box, error_r) : 0;
}

/* ---- sync ---- */

/* True when cur/ cannot have changed since the last scan. */
static bool sync_cur_unchanged(struct mailbox *box, const struct timespec *mtime)
{
	return box->cur_known && mtime->tv_sec == box->cur_mtime.tv_sec &&
	       mtime->tv_nsec == box->cur_mtime.tv_nsec &&
	       box->cur_scanned - mtime->tv_sec >= SYNC_MTIME_SLACK;
}

static int sync_locked(struct mailbox *box, struct scan *news, const char **error_r)
{
	if (mail_index_begin(box->index, error_r) < 0)
		return -1;
	mailbox_cache_flush(box, true);
	if (sync_move_new(box, news, error_r) < 0 || sync_cur(box, error_r) < 0 ||
	    sync_keywords(box, true, error_r) < 0 || mailbox_modseq_sync(box, error_r) < 0) {
		mail_index_rollback(box->index);
		return -1;
	}
	return mail_index_commit(box->index, error_r);
}

/* Files an APPEND or a delivery killed midway left in tmp/: a few system calls when there are
 * none, so at the first sync of every view. */
static void sync_clean_tmp(struct mailbox *box, time_t now)
{
	if (box->tmp_cleaned != 0 && now - box->tmp_cleaned < SYNC_TMP_CLEAN_INTERVAL)
		return;
	box->tmp_cleaned = now;
	if (maildir_tmp_clean(box->dirs.tmpfd, now - MAILDIR_TMP_STALE_SECS) < 0)
		log_warn("storage: %s: cannot list tmp/: %s", log_quote(box->name),
		         strerror(errno));
}

static int sync_view(struct mailbox *box, const char **error_r)
{
	struct stat stbuf;
	struct scan news;
	time_t now = time(NULL);
	int ret;

	sync_clean_tmp(box, now);
	if (fstat(box->dirs.curfd, &stbuf) < 0) {
		log_error("storage: fstat cur: %s", strerror(errno));
		*error_r = "mailbox access error";
		return -1;
	}
	if (scan_dir(box->dirs.newfd, &news, error_r) < 0)
		return -1;
	if (news.count == 0 && !box->modseq_check && sync_cur_unchanged(box, &stbuf.st_mtim)) {
		scan_free(&news);
		if (sync_keywords(box, false, error_r) < 0)
			return -1;
		return mailbox_modseq_catch_up(box, error_r);
	}
	ret = sync_locked(box, &news, error_r);
	scan_free(&news);
	if (ret < 0)
		return -1;
	box->cur_known = true;
	box->cur_mtime = stbuf.st_mtim;
	box->cur_scanned = now;
	if (box->rebuild) {
		mail_index_rebuild_done(box->index);
		box->rebuild = false;
	}
	ret = mail_index_uidnext(box->index, &box->uidnext, error_r);
	mail_index_release_memory(box->index);
	return ret;
}

int mailbox_sync(struct mailbox *box, const char **error_r)
{
	int ret = sync_view(box, error_r);

	msg_strings_tidy(box);
	return ret;
}

/* ---- open / close ---- */

static void mailbox_free(struct mailbox *box)
{
	if (box->index != NULL)
		mailbox_cache_flush(box, false);
	mailbox_cache_discard(box);
	mailbox_sizes_discard(box);
	mailbox_cache_invalidate(box);
	for (unsigned i = 0; i < box->kw_count; i++)
		xfree(&box->kw[i]);
	big_array_free(&box->msgs);
	name_pool_free(&box->names);
	xfree(&box->changed);
	xfree(&box->name);
	mail_index_close(&box->index);
	if (box->lock_fd >= 0)
		close(box->lock_fd);
	if (box->watch_fd >= 0)
		close(box->watch_fd);
	maildir_dirs_close(&box->dirs);
	free(box);
}

int mailbox_open_internal(struct mail_storage *st, const char *name, bool claim_recent,
                          struct mailbox **box_r, const char **error_r)
{
	struct mailbox *box;
	char *dir = folder_dir_name(name, error_r);
	int ret;

	if (dir == NULL)
		return -1;
	box = xcalloc(1, sizeof(*box));
	box->st = st;
	box->lock_fd = box->watch_fd = -1;
	box->claim_recent = claim_recent;
	ret = maildir_dirs_open(st->dirfd, dir, &box->dirs, error_r);
	xfree(&dir);
	if (ret <= 0) {
		if (ret == 0)
			*error_r = mail_error_no_mailbox;
		free(box);
		return ret;
	}
	box->name = folder_canonical_name(name);
	box->names = name_pool_new();
	if (mail_index_open_in(st->dirfd, box->dirs.dirfd, &box->index, &box->rebuild, error_r) <
	        0 ||
	    mailbox_sync(box, error_r) < 0) {
		mailbox_free(box);
		return -1;
	}
	*box_r = box;
	return 1;
}

int mailbox_open(struct mail_storage *st, const char *name, struct mailbox **box_r,
                 const char **error_r)
{
	return mailbox_open_internal(st, name, false, box_r, error_r);
}

int mailbox_open_imap(struct mail_storage *st, const char *name, bool readonly,
                      struct mailbox **box_r, const char **error_r)
{
	return mailbox_open_internal(st, name, !readonly, box_r, error_r);
}

void mailbox_close(struct mailbox **boxp)
{
	if (*boxp == NULL)
		return;
	mailbox_free(*boxp);
	*boxp = NULL;
}

const char *mailbox_name(const struct mailbox *box)
{
	return box->name;
}

size_t mailbox_count(const struct mailbox *box)
{
	return box->count;
}

const struct mail *mailbox_get(const struct mailbox *box, size_t index)
{
	return index < box->count ? &box->msgs[index].mail : NULL;
}

ssize_t mailbox_find_uid(const struct mailbox *box, uint32_t uid)
{
	return view_find(box, uid);
}

bool mailbox_msg_gone(const struct mailbox *box, size_t index)
{
	return index < box->count && box->msgs[index].gone;
}

uint32_t mailbox_uidvalidity(const struct mailbox *box)
{
	return mail_index_uidvalidity(box->index);
}

uint32_t mailbox_uidnext(const struct mailbox *box)
{
	return box->uidnext;
}

size_t mailbox_changed_count(const struct mailbox *box)
{
	return box->changed_count;
}

size_t mailbox_changed_index(const struct mailbox *box, size_t i)
{
	return i < box->changed_count ? box->changed[i] : (size_t)-1;
}
