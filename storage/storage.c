/*
 * The mailbox interface over maildir + index. A mailbox view is an array of messages in UID
 * order; sync merges one readdir of cur/ (after moving new/ into cur/) into it: known messages
 * get their flags from the file name, missing ones are marked gone (they stay until expunge),
 * unknown ones get their UID from the index or a fresh one, in one index transaction.
 */
#include "storage/storage.h"

#include "common/log.h"
#include "common/xalloc.h"
#include "storage/index.h"
#include "storage/maildir-name.h"
#include "storage/maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAILBOX_LOCK_FILE "twofold.lock"
#define MAILBOX_NAME_MAX  200
/* Above this many unknown files, one pass over the index beats point lookups. */
#define SYNC_ITERATE_THRESHOLD 64
/* cur/'s mtime only proves "unchanged" once the clock has moved past it by this much. */
#define SYNC_MTIME_SLACK 2

struct mail_storage {
	int dirfd;
};

struct msg_rec {
	struct mail mail; /* mail.uidl is owned: the base name */
	char *rest;       /* file name = uidl + rest */
	bool gone;
};

struct mailbox {
	struct mail_storage *st;
	struct maildir_dirs dirs;
	struct mail_index *index;
	bool rebuild;
	struct msg_rec *msgs;
	size_t count, cap;
	uint32_t uidnext;
	int lock_fd;
	bool cur_known;
	struct timespec cur_mtime;
	time_t cur_scanned;
};

/* One cur/ listing, with a hash of base names. */
struct scan_entry {
	char *name;
	struct maildir_name parsed;
	struct mail_index_rec rec;
	bool used, indexed, fresh;
};

struct scan {
	struct scan_entry *e;
	size_t count, cap;
	size_t *hash; /* entry index + 1, 0 empty */
	size_t hash_size;
};

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
	return 0;
}

void mail_storage_close(struct mail_storage **stp)
{
	if (*stp == NULL)
		return;
	close((*stp)->dirfd);
	xfree(stp);
}

/* ---- scans ---- */

static uint64_t scan_hash_of(const char *s, size_t len)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static struct scan_entry *scan_lookup(const struct scan *sc, const char *base, size_t len)
{
	size_t mask = sc->hash_size - 1;

	if (sc->hash_size == 0)
		return NULL;
	for (size_t i = scan_hash_of(base, len) & mask; sc->hash[i] != 0; i = (i + 1) & mask) {
		struct scan_entry *e = &sc->e[sc->hash[i] - 1];

		if (e->parsed.base_len == len && memcmp(e->name, base, len) == 0)
			return e;
	}
	return NULL;
}

static void scan_add(void *ctx, const char *name)
{
	struct scan *sc = ctx;
	struct scan_entry *e;

	if (sc->count == sc->cap) {
		sc->cap = sc->cap == 0 ? 64 : sc->cap * 2;
		sc->e = xreallocarray(sc->e, sc->cap, sizeof(*sc->e));
	}
	e = &sc->e[sc->count];
	memset(e, 0, sizeof(*e));
	e->name = xstrdup(name);
	if (maildir_name_parse(e->name, &e->parsed) > 0)
		sc->count++;
	else
		xfree(&e->name);
}

/* Duplicate base names (a race with another tool) keep the first entry only. */
static void scan_build_hash(struct scan *sc)
{
	size_t mask;

	for (sc->hash_size = 16; sc->hash_size < sc->count * 2; sc->hash_size *= 2)
		;
	sc->hash = xcalloc(sc->hash_size, sizeof(*sc->hash));
	mask = sc->hash_size - 1;
	for (size_t n = 0; n < sc->count; n++) {
		struct scan_entry *e = &sc->e[n];
		size_t i = scan_hash_of(e->name, e->parsed.base_len) & mask;

		if (scan_lookup(sc, e->name, e->parsed.base_len) != NULL) {
			e->used = true;
			continue;
		}
		while (sc->hash[i] != 0)
			i = (i + 1) & mask;
		sc->hash[i] = n + 1;
	}
}

static void scan_free(struct scan *sc)
{
	for (size_t i = 0; i < sc->count; i++)
		xfree(&sc->e[i].name);
	xfree(&sc->e);
	xfree(&sc->hash);
	memset(sc, 0, sizeof(*sc));
}

static int scan_cur(struct mailbox *box, struct scan *sc, const char **error_r)
{
	memset(sc, 0, sizeof(*sc));
	if (maildir_readdir(box->dirs.curfd, scan_add, sc, error_r) < 0) {
		scan_free(sc);
		return -1;
	}
	scan_build_hash(sc);
	return 0;
}

/* ---- new/ -> cur/ ---- */

struct move_ctx {
	struct mailbox *box;
	unsigned moved;
};

static void move_one(void *ctx, const char *name)
{
	struct move_ctx *mc = ctx;
	char *target = strchr(name, ':') != NULL ? xstrdup(name) : xasprintf("%s:2,", name);

	if (maildir_rename(mc->box->dirs.newfd, name, mc->box->dirs.curfd, target) == 0)
		mc->moved++;
	else if (errno != ENOENT) /* ENOENT: another session moved it */
		log_warn("storage: cannot move new/%s to cur/: %s", name, strerror(errno));
	xfree(&target);
}

static int sync_move_new(struct mailbox *box, unsigned *moved_r, const char **error_r)
{
	struct move_ctx mc = {.box = box};

	if (maildir_readdir(box->dirs.newfd, move_one, &mc, error_r) < 0)
		return -1;
	*moved_r = mc.moved;
	return 0;
}

/* ---- merging a scan into the view ---- */

static void rec_set_rest(struct msg_rec *m, const struct scan_entry *e)
{
	if (strcmp(m->rest, e->parsed.rest) == 0)
		return;
	xfree(&m->rest);
	m->rest = xstrdup(e->parsed.rest);
	m->mail.flags = e->parsed.flags | (m->mail.flags & MAIL_RECENT);
}

static void sync_known(struct mailbox *box, struct scan *sc)
{
	for (size_t i = 0; i < box->count; i++) {
		struct msg_rec *m = &box->msgs[i];
		struct scan_entry *e;

		if (m->gone)
			continue;
		e = scan_lookup(sc, m->mail.uidl, strlen(m->mail.uidl));
		if (e == NULL) {
			m->gone = true;
			continue;
		}
		e->used = true;
		rec_set_rest(m, e);
	}
}

static void sync_index_row(void *ctx, const char *base, const struct mail_index_rec *rec)
{
	struct scan *sc = ctx;
	struct scan_entry *e = scan_lookup(sc, base, strlen(base));

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
		char *base;

		if (e->used)
			continue;
		base = xstrndup(e->name, e->parsed.base_len);
		ret = mail_index_lookup(box->index, base, &e->rec, error_r);
		xfree(&base);
		if (ret < 0)
			return -1;
		e->indexed = ret > 0;
	}
	return 0;
}

/* First sight of a file: its sizes and date, read once and then kept in the index. 0 when it
 * vanished meanwhile. */
static int sync_measure(struct mailbox *box, struct scan_entry *e, const char **error_r)
{
	int fd = openat(box->dirs.curfd, e->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat stbuf;
	int ret = 0;

	if (fd < 0) {
		if (errno == ENOENT || errno == ELOOP)
			return 0;
		log_error("storage: open cur/%s: %s", e->name, strerror(errno));
		*error_r = "mailbox access error";
		return -1;
	}
	if (fstat(fd, &stbuf) < 0 || !S_ISREG(stbuf.st_mode)) {
		close(fd);
		return 0;
	}
	e->rec.date = stbuf.st_mtime;
	e->rec.size = e->parsed.has_size ? e->parsed.size : (uint64_t)stbuf.st_size;
	if (e->parsed.has_vsize)
		e->rec.vsize = e->parsed.vsize;
	else
		ret = maildir_vsize_fd(fd, &e->rec.size, &e->rec.vsize, error_r);
	close(fd);
	return ret < 0 ? -1 : 1;
}

/* Recovered UIDs first (so fresh ones go above them), then delivery order. */
static int sync_fresh_cmp(const void *a, const void *b)
{
	const struct scan_entry *x = *(struct scan_entry *const *)a;
	const struct scan_entry *y = *(struct scan_entry *const *)b;

	if (x->parsed.has_uid != y->parsed.has_uid)
		return x->parsed.has_uid ? -1 : 1;
	if (x->parsed.has_uid && x->parsed.uid != y->parsed.uid)
		return x->parsed.uid < y->parsed.uid ? -1 : 1;
	if (x->rec.date != y->rec.date)
		return x->rec.date < y->rec.date ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int sync_assign_list(struct mailbox *box, struct scan_entry **list, size_t n,
                            const char **error_r)
{
	bool recovered;

	if (mail_index_begin(box->index, error_r) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct scan_entry *e = list[i];
		char *base = xstrndup(e->name, e->parsed.base_len);
		int ret = mail_index_assign(box->index, base, e->parsed.has_uid ? e->parsed.uid : 0,
		                            &e->rec, &recovered, error_r);

		xfree(&base);
		if (ret < 0) {
			mail_index_rollback(box->index);
			return -1;
		}
		e->indexed = true;
		e->fresh = !recovered;
	}
	return mail_index_commit(box->index, error_r);
}

/* Gives every unindexed entry a UID, in one transaction. */
static int sync_assign(struct mailbox *box, struct scan *sc, const char **error_r)
{
	struct scan_entry **list = xreallocarray(NULL, sc->count + 1, sizeof(*list));
	size_t n = 0;
	int ret = 0;

	for (size_t i = 0; i < sc->count && ret >= 0; i++) {
		struct scan_entry *e = &sc->e[i];

		if (e->used || e->indexed)
			continue;
		ret = sync_measure(box, e, error_r);
		if (ret > 0)
			list[n++] = e;
		else if (ret == 0)
			e->used = true; /* gone already */
	}
	if (ret >= 0 && n > 0) {
		qsort(list, n, sizeof(*list), sync_fresh_cmp);
		ret = sync_assign_list(box, list, n, error_r);
	}
	xfree(&list);
	return ret < 0 ? -1 : 0;
}

static int sync_uid_cmp(const void *a, const void *b)
{
	const struct msg_rec *x = a, *y = b;

	return x->mail.uid < y->mail.uid ? -1 : x->mail.uid > y->mail.uid;
}

static void view_append(struct mailbox *box, const struct scan_entry *e)
{
	struct msg_rec *m;

	if (box->count == box->cap) {
		box->cap = box->cap == 0 ? 64 : box->cap * 2;
		box->msgs = xreallocarray(box->msgs, box->cap, sizeof(*box->msgs));
	}
	m = &box->msgs[box->count++];
	memset(m, 0, sizeof(*m));
	m->mail.uidl = xstrndup(e->name, e->parsed.base_len);
	m->rest = xstrdup(e->parsed.rest);
	m->mail.uid = e->rec.uid;
	m->mail.size = e->rec.size;
	m->mail.crlf_size = e->rec.vsize;
	m->mail.internal_date = e->rec.date;
	m->mail.flags = e->parsed.flags | (e->fresh ? MAIL_RECENT : 0);
}

/* New messages go to the end of the view in UID order. A UID below one already in the view
 * (another session's append committed late) still goes to the end: positions never move. */
static void sync_append_new(struct mailbox *box, struct scan *sc)
{
	size_t first = box->count;

	for (size_t i = 0; i < sc->count; i++) {
		struct scan_entry *e = &sc->e[i];

		if (!e->used && e->indexed)
			view_append(box, e);
	}
	qsort(box->msgs + first, box->count - first, sizeof(*box->msgs), sync_uid_cmp);
}

static int sync_scan(struct mailbox *box, struct scan *sc, const char **error_r)
{
	size_t unknown = 0;

	sync_known(box, sc);
	for (size_t i = 0; i < sc->count; i++)
		unknown += sc->e[i].used ? 0 : 1;
	if (unknown == 0)
		return 0;
	if (sync_lookup_index(box, sc, unknown, error_r) < 0 || sync_assign(box, sc, error_r) < 0)
		return -1;
	sync_append_new(box, sc);
	return 0;
}

/* ---- sync ---- */

/* True when cur/ cannot have changed since the last scan. */
static bool sync_cur_unchanged(struct mailbox *box, const struct timespec *mtime)
{
	return box->cur_known && mtime->tv_sec == box->cur_mtime.tv_sec &&
	       mtime->tv_nsec == box->cur_mtime.tv_nsec &&
	       box->cur_scanned - mtime->tv_sec >= SYNC_MTIME_SLACK;
}

static int sync_read_uidnext(struct mailbox *box, const char **error_r)
{
	return mail_index_uidnext(box->index, &box->uidnext, error_r);
}

int mailbox_sync(struct mailbox *box, const char **error_r)
{
	struct stat stbuf;
	struct scan sc;
	unsigned moved;
	time_t now = time(NULL);
	int ret;

	if (sync_move_new(box, &moved, error_r) < 0)
		return -1;
	if (fstat(box->dirs.curfd, &stbuf) < 0) {
		log_error("storage: fstat cur: %s", strerror(errno));
		*error_r = "mailbox access error";
		return -1;
	}
	if (moved == 0 && sync_cur_unchanged(box, &stbuf.st_mtim))
		return 0;
	if (scan_cur(box, &sc, error_r) < 0)
		return -1;
	ret = sync_scan(box, &sc, error_r);
	scan_free(&sc);
	if (ret < 0)
		return -1;
	box->cur_known = true;
	box->cur_mtime = stbuf.st_mtim;
	box->cur_scanned = now;
	if (box->rebuild) {
		mail_index_rebuild_done(box->index);
		box->rebuild = false;
	}
	ret = sync_read_uidnext(box, error_r);
	mail_index_release_memory(box->index);
	return ret;
}

/* ---- open / close ---- */

/* Maildir++ folder names: no path separator, no "..", no leading or trailing '.', no empty
 * hierarchy level, no control characters. */
static bool mailbox_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > MAILBOX_NAME_MAX || name[0] == '.' || name[len - 1] == '.' ||
	    strstr(name, "..") != NULL)
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p == '/' || *p < 0x20 || *p == 0x7f)
			return false;
	}
	return true;
}

static void mailbox_free(struct mailbox *box)
{
	for (size_t i = 0; i < box->count; i++) {
		xfree(&box->msgs[i].mail.uidl);
		xfree(&box->msgs[i].rest);
	}
	xfree(&box->msgs);
	mail_index_close(&box->index);
	if (box->lock_fd >= 0)
		close(box->lock_fd);
	maildir_dirs_close(&box->dirs);
	free(box);
}

int mailbox_open(struct mail_storage *st, const char *name, struct mailbox **box_r,
                 const char **error_r)
{
	struct mailbox *box;
	char *dir;
	int ret;

	if (strcasecmp(name, "INBOX") == 0) {
		dir = xstrdup(".");
	} else if (mailbox_name_valid(name)) {
		dir = xasprintf(".%s", name);
	} else {
		*error_r = "invalid mailbox name";
		return -1;
	}
	box = xcalloc(1, sizeof(*box));
	box->st = st;
	box->lock_fd = -1;
	ret = maildir_dirs_open(st->dirfd, dir, &box->dirs, error_r);
	xfree(&dir);
	if (ret <= 0) {
		if (ret == 0)
			*error_r = "no such mailbox";
		free(box);
		return ret;
	}
	if (mail_index_open(box->dirs.dirfd, &box->index, &box->rebuild, error_r) < 0 ||
	    mailbox_sync(box, error_r) < 0) {
		mailbox_free(box);
		return -1;
	}
	*box_r = box;
	return 1;
}

void mailbox_close(struct mailbox **boxp)
{
	if (*boxp == NULL)
		return;
	mailbox_free(*boxp);
	*boxp = NULL;
}

size_t mailbox_count(const struct mailbox *box)
{
	return box->count;
}

const struct mail *mailbox_get(const struct mailbox *box, size_t index)
{
	return index < box->count ? &box->msgs[index].mail : NULL;
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

/* ---- message access ---- */

static const char *msg_filename(const struct msg_rec *m, char buf[static NAME_MAX + 1])
{
	int len = snprintf(buf, NAME_MAX + 1, "%s%s", m->mail.uidl, m->rest);

	return len > 0 && len <= NAME_MAX ? buf : "";
}

/* A file renamed behind our back (another session changed flags): finds its current name via
 * one fresh listing of cur/, made on first need. 1 found, 0 gone, -1 error. */
static int msg_relocate(struct mailbox *box, struct scan *sc, bool *have_scan, size_t index,
                        const char **error_r)
{
	struct msg_rec *m = &box->msgs[index];
	struct scan_entry *e;

	if (!*have_scan) {
		if (scan_cur(box, sc, error_r) < 0)
			return -1;
		*have_scan = true;
	}
	e = scan_lookup(sc, m->mail.uidl, strlen(m->mail.uidl));
	if (e == NULL) {
		m->gone = true;
		return 0;
	}
	rec_set_rest(m, e);
	return 1;
}

static int msg_open_file(struct mailbox *box, const struct msg_rec *m)
{
	char buf[NAME_MAX + 1];

	return openat(box->dirs.curfd, msg_filename(m, buf), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
}

int mailbox_msg_open(struct mailbox *box, size_t index, const char **error_r)
{
	struct scan sc;
	bool have_scan = false;
	int fd, ret;

	if (index >= box->count || box->msgs[index].gone) {
		*error_r = "message has been expunged";
		return -1;
	}
	fd = msg_open_file(box, &box->msgs[index]);
	if (fd < 0 && errno == ENOENT) {
		ret = msg_relocate(box, &sc, &have_scan, index, error_r);
		if (have_scan)
			scan_free(&sc);
		if (ret <= 0) {
			if (ret == 0)
				*error_r = "message has been expunged";
			return -1;
		}
		fd = msg_open_file(box, &box->msgs[index]);
	}
	if (fd < 0) {
		log_error("storage: open message uid %u: %s", box->msgs[index].mail.uid,
		          strerror(errno));
		*error_r = errno == ENOENT ? "message has been expunged" : "mailbox access error";
		return -1;
	}
	return fd;
}

static int msg_rename(struct mailbox *box, struct msg_rec *m, const char *new_rest)
{
	char from[NAME_MAX + 1], to[NAME_MAX + 1];
	int len = snprintf(to, sizeof(to), "%s%s", m->mail.uidl, new_rest);

	if (len <= 0 || len > NAME_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return maildir_rename(box->dirs.curfd, msg_filename(m, from), box->dirs.curfd, to);
}

/* 1 renamed (or nothing to change), 0 the file is gone, -1 error. */
static int msg_set_flags(struct mailbox *box, size_t index, unsigned set, unsigned clear,
                         struct scan *sc, bool *have_scan, const char **error_r)
{
	struct msg_rec *m = &box->msgs[index];

	for (int attempt = 0;; attempt++) {
		unsigned flags = (m->mail.flags & ~clear) | set;
		char *rest = maildir_rest_with_flags(m->rest, flags & ~(unsigned)MAIL_RECENT);
		int ret;

		if (strcmp(rest, m->rest) == 0 || msg_rename(box, m, rest) == 0) {
			xfree(&m->rest);
			m->rest = rest;
			m->mail.flags = flags;
			return 1;
		}
		xfree(&rest);
		if (errno != ENOENT || attempt > 0) {
			if (errno == ENOENT)
				return 0;
			log_error("storage: rename uid %u: %s", m->mail.uid, strerror(errno));
			*error_r = "mailbox access error";
			return -1;
		}
		if ((ret = msg_relocate(box, sc, have_scan, index, error_r)) <= 0)
			return ret;
	}
}

int mailbox_set_flags(struct mailbox *box, size_t index, unsigned set, unsigned clear,
                      const char **error_r)
{
	struct scan sc;
	bool have_scan = false;
	int ret;

	if (index >= box->count) {
		*error_r = "no such message";
		return -1;
	}
	if (box->msgs[index].gone)
		return 0;
	ret = msg_set_flags(box, index, set, clear, &sc, &have_scan, error_r);
	if (have_scan)
		scan_free(&sc);
	if (ret == 0)
		box->msgs[index].gone = true;
	return ret;
}

/* ---- expunge ---- */

/* 1 removed or already gone, -1 error. */
static int msg_unlink(struct mailbox *box, size_t index, struct scan *sc, bool *have_scan,
                      const char **error_r)
{
	struct msg_rec *m = &box->msgs[index];
	char buf[NAME_MAX + 1];

	for (int attempt = 0;; attempt++) {
		if (m->gone || unlinkat(box->dirs.curfd, msg_filename(m, buf), 0) == 0)
			return 1;
		if (errno != ENOENT) {
			log_error("storage: unlink uid %u: %s", m->mail.uid, strerror(errno));
			*error_r = "mailbox access error";
			return -1;
		}
		if (attempt > 0)
			return 1;
		if (msg_relocate(box, sc, have_scan, index, error_r) < 0)
			return -1;
	}
}

static int expunge_index(struct mailbox *box, const bool *removed, const char **error_r)
{
	if (mail_index_begin(box->index, error_r) < 0)
		return -1;
	for (size_t i = 0; i < box->count; i++) {
		if (removed[i] &&
		    mail_index_remove(box->index, box->msgs[i].mail.uidl, error_r) < 0) {
			mail_index_rollback(box->index);
			return -1;
		}
	}
	return mail_index_commit(box->index, error_r);
}

static void view_compact(struct mailbox *box, const bool *removed)
{
	size_t out = 0;

	for (size_t i = 0; i < box->count; i++) {
		if (removed[i]) {
			xfree(&box->msgs[i].mail.uidl);
			xfree(&box->msgs[i].rest);
		} else {
			box->msgs[out++] = box->msgs[i];
		}
	}
	box->count = out;
}

int mailbox_expunge(struct mailbox *box, const bool *remove, const char **error_r)
{
	bool *removed = xcalloc(box->count + 1, sizeof(*removed));
	struct scan sc;
	bool have_scan = false, any = false;
	int ret = 0;

	for (size_t i = 0; i < box->count; i++) {
		if (!remove[i])
			continue;
		if (msg_unlink(box, i, &sc, &have_scan, error_r) > 0)
			removed[i] = any = true;
		else
			ret = -1;
	}
	if (have_scan)
		scan_free(&sc);
	if (any) {
		/* Make the unlinks durable: a deleted POP3 message must not come back. */
		if (fsync(box->dirs.curfd) < 0)
			log_warn("storage: fsync cur: %s", strerror(errno));
		/* Rows left behind on failure are harmless: no file will have that base again. */
		if (expunge_index(box, removed, error_r) < 0)
			ret = -1;
		view_compact(box, removed);
	}
	xfree(&removed);
	return ret;
}

/* ---- lock ---- */

int mailbox_lock_exclusive(struct mailbox *box, const char **error_r)
{
	if (box->lock_fd >= 0)
		return 1;
	return maildir_lock(box->dirs.dirfd, MAILBOX_LOCK_FILE, &box->lock_fd, error_r);
}

/* ---- append ---- */

/* Renames tmp/tmpname to cur/<base>,U=<uid>:2,<flags> and indexes it, in one transaction so
 * that the UID is taken exactly once. A crash between the rename and the commit is repaired by
 * the next sync, which finds the UID in the file name. */
static int append_commit(struct mailbox *box, const char *tmpname, const char *base0,
                         struct mail_index_rec *rec, unsigned flags, const char **error_r)
{
	char *base, *rest, *name;
	bool recovered;
	int ret;

	if (mail_index_begin(box->index, error_r) < 0)
		return -1;
	rec->uid = mail_index_next_uid(box->index);
	base = xasprintf("%s,U=%u", base0, rec->uid);
	rest = maildir_rest_with_flags("", flags & ~(unsigned)MAIL_RECENT);
	name = xasprintf("%s%s", base, rest);
	ret = maildir_rename(box->dirs.tmpfd, tmpname, box->dirs.curfd, name);
	if (ret < 0) {
		log_error("storage: rename tmp/%s: %s", tmpname, strerror(errno));
		*error_r = "mailbox access error";
		mail_index_rollback(box->index);
	} else if (mail_index_assign(box->index, base, rec->uid, rec, &recovered, error_r) < 0 ||
	           mail_index_commit(box->index, error_r) < 0) {
		mail_index_rollback(box->index);
		ret = -1; /* the file stays; the next sync indexes it with this UID */
	} else if (fsync(box->dirs.curfd) < 0) {
		log_warn("storage: fsync cur: %s", strerror(errno));
	}
	xfree(&base);
	xfree(&rest);
	xfree(&name);
	return ret;
}

int mailbox_append(struct mailbox *box, const void *data, size_t len, unsigned flags,
                   time_t internal_date, uint32_t *uid_r, const char **error_r)
{
	struct mail_index_rec rec = {
	    .size = len,
	    .vsize = maildir_vsize_mem(data, len),
	    .date = internal_date != 0 ? internal_date : time(NULL),
	};
	char *tmpname = maildir_unique_name();
	char *base0 = xasprintf("%s,S=%zu,W=%llu", tmpname, len, (unsigned long long)rec.vsize);
	int ret = maildir_write_tmp(box->dirs.tmpfd, tmpname, data, len, rec.date, error_r);

	if (ret == 0 && (ret = append_commit(box, tmpname, base0, &rec, flags, error_r)) < 0)
		(void)unlinkat(box->dirs.tmpfd, tmpname, 0);
	xfree(&tmpname);
	xfree(&base0);
	if (ret < 0)
		return -1;
	if (uid_r != NULL)
		*uid_r = rec.uid;
	return 0;
}
