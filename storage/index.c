#include "storage/index.h"

#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define INDEX_FILE            "twofold.index"
#define INDEX_SIDE_FILE       "twofold.uidvalidity"
#define INDEX_SIDE_TMP        "twofold.uidvalidity.tmp"
#define INDEX_SCHEMA_VERSION  1
#define INDEX_UID_RESERVATION 1024

struct mail_index {
	sqlite3 *db;
	int dirfd; /* not owned */
	uint32_t uidvalidity;
	uint32_t uidnext; /* valid inside a transaction */
	uint32_t floor;   /* UIDNEXT floor recorded in the side file */
	bool rebuild;
	bool in_tx;
	sqlite3_stmt *st_lookup, *st_insert, *st_taken, *st_remove, *st_meta_get, *st_meta_set;
};

static const char index_schema[] =
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS msg (uid INTEGER PRIMARY KEY, base TEXT NOT NULL UNIQUE,"
    " size INTEGER NOT NULL, vsize INTEGER NOT NULL, date INTEGER NOT NULL);"
    "PRAGMA user_version = 1;";

static int index_fail(struct mail_index *idx, const char *what, const char **error_r)
{
	log_error("index: %s: %s", what, sqlite3_errmsg(idx->db));
	*error_r = "mailbox index error";
	return -1;
}

static int index_exec(struct mail_index *idx, const char *sql, const char **error_r)
{
	if (sqlite3_exec(idx->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return index_fail(idx, sql, error_r);
	return 0;
}

static int index_prepare(struct mail_index *idx, const char *sql, sqlite3_stmt **st_r,
                         const char **error_r)
{
	if (sqlite3_prepare_v3(idx->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st_r, NULL) !=
	    SQLITE_OK)
		return index_fail(idx, sql, error_r);
	return 0;
}

/* Side file: "<uidvalidity> <uidnext floor>\n". 1 read, 0 missing or unreadable. */
static int index_side_read(int dirfd, uint32_t *uidvalidity_r, uint32_t *floor_r)
{
	char text[64];
	ssize_t n;
	int fd = openat(dirfd, INDEX_SIDE_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	if (sscanf(text, "%u %u", uidvalidity_r, floor_r) != 2 || *uidvalidity_r == 0)
		return 0;
	return 1;
}

static int index_side_write(struct mail_index *idx, uint32_t floor, const char **error_r)
{
	char text[64];
	int len = snprintf(text, sizeof(text), "%u %u\n", idx->uidvalidity, floor);
	int fd;

	(void)unlinkat(idx->dirfd, INDEX_SIDE_TMP, 0);
	fd = openat(idx->dirfd, INDEX_SIDE_TMP,
	            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, (size_t)len) != len || fsync(fd) < 0 ||
	    renameat(idx->dirfd, INDEX_SIDE_TMP, idx->dirfd, INDEX_SIDE_FILE) < 0) {
		log_error("index: writing %s: %s", INDEX_SIDE_FILE, strerror(errno));
		if (fd >= 0)
			close(fd);
		*error_r = "mailbox index error";
		return -1;
	}
	close(fd);
	idx->floor = floor;
	return 0;
}

static int index_meta_get(struct mail_index *idx, const char *key, uint32_t *value_r,
                          const char **error_r)
{
	sqlite3_stmt *st = idx->st_meta_get;
	int ret;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	ret = sqlite3_step(st);
	if (ret == SQLITE_ROW)
		*value_r = (uint32_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (ret != SQLITE_ROW && ret != SQLITE_DONE)
		return index_fail(idx, "reading meta", error_r);
	return ret == SQLITE_ROW ? 1 : 0;
}

static int index_meta_set(struct mail_index *idx, const char *key, uint32_t value,
                          const char **error_r)
{
	sqlite3_stmt *st = idx->st_meta_set;
	int ret;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, value);
	ret = sqlite3_step(st);
	sqlite3_reset(st);
	if (ret != SQLITE_DONE)
		return index_fail(idx, "writing meta", error_r);
	return 0;
}

/* A new index: UIDVALIDITY and the UIDNEXT floor come from the side file when there is one. */
static int index_create(struct mail_index *idx, const char **error_r)
{
	uint32_t uidvalidity, floor;

	if (index_exec(idx, index_schema, error_r) < 0)
		return -1;
	if (index_side_read(idx->dirfd, &uidvalidity, &floor) > 0) {
		idx->uidvalidity = uidvalidity;
		idx->floor = floor;
	} else {
		idx->uidvalidity = (uint32_t)time(NULL);
		floor = 1;
		if (index_side_write(idx, floor + INDEX_UID_RESERVATION, error_r) < 0)
			return -1;
	}
	idx->rebuild = true;
	if (index_meta_set(idx, "uidvalidity", idx->uidvalidity, error_r) < 0 ||
	    index_meta_set(idx, "uidnext", floor, error_r) < 0)
		return -1;
	return 0;
}

static int index_prepare_all(struct mail_index *idx, const char **error_r)
{
	if (index_exec(idx,
	               "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY,"
	               " value INTEGER NOT NULL)",
	               error_r) < 0)
		return -1;
	if (index_prepare(idx, "SELECT value FROM meta WHERE key = ?", &idx->st_meta_get, error_r) <
	        0 ||
	    index_prepare(idx, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
	                  &idx->st_meta_set, error_r) < 0)
		return -1;
	return 0;
}

static int index_prepare_msg(struct mail_index *idx, const char **error_r)
{
	if (index_prepare(idx, "SELECT uid, size, vsize, date FROM msg WHERE base = ?",
	                  &idx->st_lookup, error_r) < 0 ||
	    index_prepare(idx,
	                  "INSERT INTO msg (uid, base, size, vsize, date) VALUES (?, ?, ?, ?, ?)",
	                  &idx->st_insert, error_r) < 0 ||
	    index_prepare(idx, "SELECT 1 FROM msg WHERE uid = ?", &idx->st_taken, error_r) < 0 ||
	    index_prepare(idx, "DELETE FROM msg WHERE base = ?", &idx->st_remove, error_r) < 0)
		return -1;
	return 0;
}

static int index_user_version(struct mail_index *idx, int *version_r, const char **error_r)
{
	sqlite3_stmt *st;
	int ret;

	if (index_prepare(idx, "PRAGMA user_version", &st, error_r) < 0)
		return -1;
	ret = sqlite3_step(st);
	*version_r = ret == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	if (ret != SQLITE_ROW)
		return index_fail(idx, "PRAGMA user_version", error_r);
	return 0;
}

static int index_setup(struct mail_index *idx, const char **error_r)
{
	uint32_t side_uidvalidity;
	int version;

	*error_r = NULL;
	sqlite3_busy_timeout(idx->db, 15000);
	if (index_exec(idx, "PRAGMA journal_mode = WAL", error_r) < 0 ||
	    index_exec(idx, "PRAGMA synchronous = FULL", error_r) < 0 ||
	    index_exec(idx, "PRAGMA cache_size = -512", error_r) < 0 ||
	    index_exec(idx, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	if (index_user_version(idx, &version, error_r) < 0 || index_prepare_all(idx, error_r) < 0)
		goto fail;
	if (version > INDEX_SCHEMA_VERSION) {
		*error_r = "mailbox index written by a newer version";
		goto fail;
	}
	if ((version == 0 && index_create(idx, error_r) < 0) ||
	    index_meta_get(idx, "uidvalidity", &idx->uidvalidity, error_r) <= 0 ||
	    index_prepare_msg(idx, error_r) < 0)
		goto fail;
	if (!idx->rebuild && index_side_read(idx->dirfd, &side_uidvalidity, &idx->floor) == 0)
		idx->floor = 0; /* side file lost: rewritten at the next UID assignment */
	return index_exec(idx, "COMMIT", error_r);
fail:
	if (*error_r == NULL)
		*error_r = "mailbox index error";
	sqlite3_exec(idx->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static void index_free(struct mail_index *idx)
{
	sqlite3_stmt **stmts[] = {&idx->st_lookup, &idx->st_insert,   &idx->st_taken,
	                          &idx->st_remove, &idx->st_meta_get, &idx->st_meta_set};

	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		sqlite3_finalize(*stmts[i]);
		*stmts[i] = NULL;
	}
	sqlite3_close(idx->db);
	idx->db = NULL;
}

/* An unreadable index is only a cache: remove it so that it is rebuilt. */
static void index_remove_files(int dirfd)
{
	static const char *const names[] = {INDEX_FILE, INDEX_FILE "-wal", INDEX_FILE "-shm"};

	log_warn("index: %s is damaged, rebuilding it", INDEX_FILE);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		(void)unlinkat(dirfd, names[i], 0);
}

static int index_try_open(struct mail_index *idx, const char **error_r)
{
	char *path = mail_index_vfs_path(idx->dirfd, INDEX_FILE);
	int ret = sqlite3_open_v2(path, &idx->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);

	xfree(&path);
	if (ret != SQLITE_OK)
		return index_fail(idx, "open", error_r);
	sqlite3_extended_result_codes(idx->db, 1);
	return index_setup(idx, error_r);
}

int mail_index_open(int dirfd, struct mail_index **idx_r, bool *rebuild_r, const char **error_r)
{
	struct mail_index *idx = xcalloc(1, sizeof(*idx));
	int code;

	idx->dirfd = dirfd;
	if (index_try_open(idx, error_r) < 0) {
		code = idx->db == NULL ? SQLITE_CANTOPEN : sqlite3_errcode(idx->db) & 0xff;
		index_free(idx);
		if (code != SQLITE_NOTADB && code != SQLITE_CORRUPT) {
			xfree(&idx);
			return -1;
		}
		index_remove_files(dirfd);
		memset(idx, 0, sizeof(*idx));
		idx->dirfd = dirfd;
		if (index_try_open(idx, error_r) < 0) {
			index_free(idx);
			xfree(&idx);
			return -1;
		}
	}
	*rebuild_r = idx->rebuild;
	*idx_r = idx;
	return 0;
}

void mail_index_close(struct mail_index **idxp)
{
	struct mail_index *idx = *idxp;

	if (idx == NULL)
		return;
	if (idx->in_tx)
		mail_index_rollback(idx);
	index_free(idx);
	xfree(idxp);
}

uint32_t mail_index_uidvalidity(const struct mail_index *idx)
{
	return idx->uidvalidity;
}

int mail_index_uidnext(struct mail_index *idx, uint32_t *uidnext_r, const char **error_r)
{
	if (idx->in_tx) {
		*uidnext_r = idx->uidnext;
		return 0;
	}
	if (index_meta_get(idx, "uidnext", uidnext_r, error_r) <= 0) {
		*error_r = "mailbox index error";
		return -1;
	}
	return 0;
}

static void index_row_read(sqlite3_stmt *st, int col, struct mail_index_rec *rec)
{
	rec->uid = (uint32_t)sqlite3_column_int64(st, col);
	rec->size = (uint64_t)sqlite3_column_int64(st, col + 1);
	rec->vsize = (uint64_t)sqlite3_column_int64(st, col + 2);
	rec->date = (time_t)sqlite3_column_int64(st, col + 3);
}

int mail_index_lookup(struct mail_index *idx, const char *base, struct mail_index_rec *rec_r,
                      const char **error_r)
{
	sqlite3_stmt *st = idx->st_lookup;
	int ret;

	sqlite3_bind_text(st, 1, base, -1, SQLITE_STATIC);
	ret = sqlite3_step(st);
	if (ret == SQLITE_ROW)
		index_row_read(st, 0, rec_r);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (ret != SQLITE_ROW && ret != SQLITE_DONE)
		return index_fail(idx, "lookup", error_r);
	return ret == SQLITE_ROW ? 1 : 0;
}

int mail_index_iterate(struct mail_index *idx, mail_index_row_cb *cb, void *ctx,
                       const char **error_r)
{
	struct mail_index_rec rec;
	sqlite3_stmt *st;
	int ret;

	if (index_prepare(idx, "SELECT base, uid, size, vsize, date FROM msg", &st, error_r) < 0)
		return -1;
	while ((ret = sqlite3_step(st)) == SQLITE_ROW) {
		index_row_read(st, 1, &rec);
		cb(ctx, (const char *)sqlite3_column_text(st, 0), &rec);
	}
	sqlite3_finalize(st);
	if (ret != SQLITE_DONE)
		return index_fail(idx, "iterate", error_r);
	return 0;
}

int mail_index_begin(struct mail_index *idx, const char **error_r)
{
	if (index_exec(idx, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	idx->in_tx = true;
	if (index_meta_get(idx, "uidnext", &idx->uidnext, error_r) <= 0) {
		mail_index_rollback(idx);
		*error_r = "mailbox index error";
		return -1;
	}
	return 0;
}

int mail_index_commit(struct mail_index *idx, const char **error_r)
{
	/* The side file's floor is written before the UIDs it covers become visible. */
	if ((idx->uidnext > idx->floor &&
	     index_side_write(idx, idx->uidnext + INDEX_UID_RESERVATION, error_r) < 0) ||
	    index_meta_set(idx, "uidnext", idx->uidnext, error_r) < 0 ||
	    index_exec(idx, "COMMIT", error_r) < 0) {
		mail_index_rollback(idx);
		return -1;
	}
	idx->in_tx = false;
	return 0;
}

void mail_index_rollback(struct mail_index *idx)
{
	sqlite3_exec(idx->db, "ROLLBACK", NULL, NULL, NULL);
	idx->in_tx = false;
}

uint32_t mail_index_next_uid(struct mail_index *idx)
{
	return idx->uidnext;
}

static int index_uid_taken(struct mail_index *idx, uint32_t uid, const char **error_r)
{
	sqlite3_stmt *st = idx->st_taken;
	int ret;

	sqlite3_bind_int64(st, 1, uid);
	ret = sqlite3_step(st);
	sqlite3_reset(st);
	if (ret != SQLITE_ROW && ret != SQLITE_DONE)
		return index_fail(idx, "uid lookup", error_r);
	return ret == SQLITE_ROW ? 1 : 0;
}

static int index_insert(struct mail_index *idx, const char *base, const struct mail_index_rec *rec,
                        const char **error_r)
{
	sqlite3_stmt *st = idx->st_insert;
	int ret;

	sqlite3_bind_int64(st, 1, rec->uid);
	sqlite3_bind_text(st, 2, base, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)rec->size);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)rec->vsize);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)rec->date);
	ret = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (ret != SQLITE_DONE)
		return index_fail(idx, "insert", error_r);
	return 0;
}

int mail_index_assign(struct mail_index *idx, const char *base, uint32_t want_uid,
                      struct mail_index_rec *rec, bool *recovered_r, const char **error_r)
{
	int ret = mail_index_lookup(idx, base, rec, error_r);

	if (ret != 0) {
		*recovered_r = true;
		return ret < 0 ? -1 : 0;
	}
	*recovered_r = false;
	rec->uid = idx->uidnext;
	if (want_uid != 0 && (want_uid >= idx->uidnext || idx->rebuild)) {
		if ((ret = index_uid_taken(idx, want_uid, error_r)) < 0)
			return -1;
		if (ret == 0) {
			rec->uid = want_uid;
			*recovered_r = true;
		}
	}
	if (rec->uid == UINT32_MAX) {
		*error_r = "mailbox has run out of UIDs";
		return -1;
	}
	if (index_insert(idx, base, rec, error_r) < 0)
		return -1;
	if (rec->uid >= idx->uidnext)
		idx->uidnext = rec->uid + 1;
	return 0;
}

int mail_index_remove(struct mail_index *idx, const char *base, const char **error_r)
{
	sqlite3_stmt *st = idx->st_remove;
	int ret;

	sqlite3_bind_text(st, 1, base, -1, SQLITE_STATIC);
	ret = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (ret != SQLITE_DONE)
		return index_fail(idx, "remove", error_r);
	return 0;
}

void mail_index_release_memory(struct mail_index *idx)
{
	sqlite3_db_release_memory(idx->db);
}

void mail_index_rebuild_done(struct mail_index *idx)
{
	idx->rebuild = false;
}
