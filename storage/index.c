#include "storage/index-private.h"
#include "storage/index-dovecot.h"
#include "storage/beneath.h"
#include "storage/dovecot-uidlist.h"
#include "storage/index-memory.h"
#include "storage/storage.h"

#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define INDEX_FILE           "twofold.index"
#define INDEX_SIDE_FILE      "twofold.uidvalidity"
#define INDEX_SIDE_TMP       "twofold.uidvalidity.tmp"
#define INDEX_SIDE_DOVECOT   "dovecot"
#define INDEX_SCHEMA_VERSION 5

/* In the maildir root: the last UIDVALIDITY given to a new index of this storage. */
#define INDEX_UIDVALIDITY_LAST "twofold.uidvalidity-last"
/* Version 3 only adds rows with vsize -1 (not measured yet): a version 2 index is taken over
 * as it is, while a version 2 reader refuses a version 3 index instead of showing -1 sizes.
 * Version 4 adds each message's MODSEQ and the flags it was given at (index-modseq.c): a
 * version 2 or 3 index gets the two columns, while an older reader refuses a version 4 index,
 * since it would change flags without advancing their MODSEQ. Version 5 adds the expunged UIDs
 * (index-vanished.c), which an older reader would not record. */
#define INDEX_SCHEMA_COMPATIBLE 2
#define INDEX_SCHEMA_MODSEQ     4
#define INDEX_UID_RESERVATION   1024
/* Page cache of a connection, in KiB: small, since a session mostly idles with the index open.
 * A bulk load into the empty table keeps it too: its rows are appended and its key index is
 * built from sorted keys, so the pages SQLite spills into the WAL (through index-vfs-wal.c's
 * buffer, no system call per page) are mostly finished ones; a cache big enough to hold the
 * whole load cost more in page faults than it saved (100,000 rows: 0.19 s instead of 0.16 s
 * with 8 MiB). Many rows inserted into a table that has rows go into the key index in random
 * order: that transaction gets up to INDEX_CACHE_BULK_MAX (about INDEX_CACHE_ROW_BYTES a row),
 * since a page spilled and then modified again is rewritten in the WAL, and every frame after
 * it has its checksum rewritten at the commit (a read and a write each). */
#define INDEX_CACHE_KIB       512
#define INDEX_CACHE_BULK_MAX  (64 * 1024)
#define INDEX_CACHE_ROW_BYTES 256
/* Rows per INSERT statement when many are inserted at once: a statement's fixed cost (cursors,
 * its savepoint, reset) then counts once per batch. 6 parameters a row stay below SQLite's
 * oldest limit of 999. */
#define INDEX_INSERT_BATCH 64
/* SQLite's default automatic checkpoint threshold, in WAL pages. */
#define INDEX_WAL_AUTOCHECKPOINT 1000
#define INDEX_INSERT_COLS        8

/* Keys are unique. An index created since this layout has the key index under a name, so that
 * a bulk load into the empty table (a rebuild) can drop it and build it once from the sorted
 * keys in the same transaction, instead of inserting each key into it in random order. An
 * older index (UNIQUE in the table definition: an automatic index that cannot be dropped) is
 * used as it is. Both layouts are version 3: every version-3 reader handles both alike. */
#define INDEX_KEY_INDEX_SQL "CREATE UNIQUE INDEX IF NOT EXISTS msg_key ON msg (key)"
/* A bulk load of fewer rows keeps the key index. */
#define INDEX_BULK_MIN 1024

static const char index_schema[] =
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS msg (uid INTEGER PRIMARY KEY, key TEXT NOT NULL,"
    " size INTEGER NOT NULL, vsize INTEGER NOT NULL, date INTEGER NOT NULL,"
    " keywords INTEGER NOT NULL DEFAULT 0, kwmod INTEGER NOT NULL DEFAULT 0,"
    " modseq INTEGER NOT NULL DEFAULT 1, mflags INTEGER NOT NULL DEFAULT -1);" INDEX_KEY_INDEX_SQL
    ";"
    "CREATE INDEX IF NOT EXISTS msg_kwmod ON msg (kwmod) WHERE kwmod > 0;"
    "CREATE TABLE IF NOT EXISTS kw (bit INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE COLLATE NOCASE);"
    "CREATE TABLE IF NOT EXISTS cache (uid INTEGER NOT NULL, field TEXT NOT NULL,"
    " data BLOB NOT NULL, PRIMARY KEY (uid, field)) WITHOUT ROWID;"
    "PRAGMA user_version = 4;"; /* index_vanished_upgrade makes it 5 */

#define STR_(x) #x
#define STR(x)  STR_(x)

/* A full disk (or quota) is said as such: the client can do something about it. */
int index_fail(struct mail_index *idx, const char *what, const char **error_r)
{
	int err = idx->db != NULL ? sqlite3_system_errno(idx->db) : 0;
	bool full = (idx->db != NULL && (sqlite3_errcode(idx->db) & 0xff) == SQLITE_FULL) ||
	            err == ENOSPC || err == EDQUOT;

	log_error("index: %s: %s", what, sqlite3_errmsg(idx->db));
	*error_r = full ? mail_error_nospace : "mailbox index error";
	return -1;
}

static int index_exec(struct mail_index *idx, const char *sql, const char **error_r)
{
	if (sqlite3_exec(idx->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return index_fail(idx, sql, error_r);
	return 0;
}

int index_prepare(struct mail_index *idx, const char *sql, sqlite3_stmt **st_r,
                  const char **error_r)
{
	if (sqlite3_prepare_v3(idx->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st_r, NULL) !=
	    SQLITE_OK)
		return index_fail(idx, sql, error_r);
	return 0;
}

/* Side file: "<uidvalidity> <uidnext floor>[ dovecot][ m=<HIGHESTMODSEQ floor>]\n", "dovecot"
 * for a mailbox taken over from Dovecot (older versions read the two numbers alone, and the
 * first word after them). 1 read, 0 missing or unreadable. */
static int index_side_read(int dirfd, uint32_t *uidvalidity_r, uint32_t *floor_r, bool *dovecot_r,
                           uint64_t *modseq_floor_r)
{
	char text[96], word[16] = "";
	const char *m;
	unsigned long long modseq = 0;
	ssize_t n;
	int fd = beneath_open(dirfd, INDEX_SIDE_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);

	if (fd < 0)
		return 0;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	if (sscanf(text, "%u %u %15s", uidvalidity_r, floor_r, word) < 2 || *uidvalidity_r == 0)
		return 0;
	*dovecot_r = strcmp(word, INDEX_SIDE_DOVECOT) == 0;
	m = strstr(text, " m=");
	if (m != NULL && sscanf(m + 3, "%llu", &modseq) != 1)
		modseq = 0;
	*modseq_floor_r = modseq;
	return 1;
}

static int index_side_write(struct mail_index *idx, uint32_t floor, const char **error_r)
{
	char text[96];
	int len = snprintf(text, sizeof(text), "%u %u%s m=%llu\n", idx->uidvalidity, floor,
	                   idx->dovecot_uidl ? " " INDEX_SIDE_DOVECOT : "",
	                   (unsigned long long)idx->modseq_floor);
	int fd;

	(void)beneath_unlink(idx->dirfd, INDEX_SIDE_TMP, 0);
	fd = beneath_open(idx->dirfd, INDEX_SIDE_TMP,
	                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, (size_t)len) != len || fsync(fd) < 0 ||
	    beneath_rename(idx->dirfd, INDEX_SIDE_TMP, idx->dirfd, INDEX_SIDE_FILE, 0) < 0) {
		int err = errno;

		log_error("index: writing %s: %s", INDEX_SIDE_FILE, strerror(err));
		if (fd >= 0)
			close(fd);
		/* a full disk is said as such (index_fail) */
		*error_r =
		    err == ENOSPC || err == EDQUOT ? mail_error_nospace : "mailbox index error";
		return -1;
	}
	close(fd);
	idx->floor = floor;
	return 0;
}

int index_meta_get(struct mail_index *idx, const char *key, uint32_t *value_r, const char **error_r)
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

int index_meta_set(struct mail_index *idx, const char *key, uint32_t value, const char **error_r)
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

/* The UIDVALIDITY of a mailbox that has none yet: the time, or one above the last one this
 * storage gave out when that is not below it. A name deleted and created again within a second
 * (or after the clock went back) then never shows a UIDVALIDITY again, while its UIDs restart
 * at 1 (RFC 3501 2.3.1.1). The last value is kept in the root, its updates serialised by flock. */
static int index_new_uidvalidity(int rootfd, uint32_t *uidvalidity_r, const char **error_r)
{
	uint32_t last = 0, now = (uint32_t)time(NULL), next;
	char text[32];
	ssize_t n;
	int len, err,
	    fd = beneath_open(rootfd, INDEX_UIDVALIDITY_LAST,
	                      O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0 || flock(fd, LOCK_EX) < 0)
		goto fail;
	n = pread(fd, text, sizeof(text) - 1, 0);
	if (n > 0) {
		text[n] = '\0';
		if (sscanf(text, "%u", &last) != 1)
			last = 0;
	}
	next = now > last ? now : last + 1;
	if (next == 0)
		next = 1;
	len = snprintf(text, sizeof(text), "%u\n", next);
	if (pwrite(fd, text, (size_t)len, 0) != len || ftruncate(fd, len) < 0 || fsync(fd) < 0)
		goto fail;
	close(fd);
	*uidvalidity_r = next;
	return 0;
fail:
	err = errno;
	log_error("index: %s: %s", INDEX_UIDVALIDITY_LAST, strerror(err));
	if (fd >= 0)
		close(fd);
	*error_r = err == ENOSPC || err == EDQUOT ? mail_error_nospace : "mailbox index error";
	return -1;
}

static uint32_t index_floor_above(uint32_t uidnext)
{
	return uidnext > UINT32_MAX - INDEX_UID_RESERVATION ? UINT32_MAX
	                                                    : uidnext + INDEX_UID_RESERVATION;
}

/* A new index: UIDVALIDITY and the UIDNEXT floor come from the side file when there is one,
 * else from Dovecot's dovecot-uidlist when there is one. */
static int index_create(struct mail_index *idx, const char **error_r)
{
	uint32_t uidvalidity, uidnext;
	bool dovecot;

	if (index_exec(idx, index_schema, error_r) < 0)
		return -1;
	if (index_side_read(idx->dirfd, &uidvalidity, &uidnext, &dovecot, &idx->modseq_floor) > 0) {
		idx->uidvalidity = uidvalidity;
		idx->floor = uidnext;
		idx->dovecot_uidl = dovecot;
		/* MODSEQs go on above every one given out before the index was lost */
		if (index_modseq_restart(idx, error_r) < 0)
			return -1;
	} else if (index_dovecot_take(idx, &uidnext)) {
		/* what Dovecot already showed is not \Recent again */
		if (index_side_write(idx, index_floor_above(uidnext), error_r) < 0 ||
		    index_meta_set(idx, "recent", uidnext, error_r) < 0)
			return -1;
	} else {
		if (index_new_uidvalidity(idx->rootfd, &idx->uidvalidity, error_r) < 0)
			return -1;
		uidnext = 1;
		if (index_side_write(idx, uidnext + INDEX_UID_RESERVATION, error_r) < 0)
			return -1;
	}
	idx->rebuild = true;
	if (index_modseq_create(idx, error_r) < 0 || index_meta_set(idx, "rebuild", 1, error_r) < 0 ||
	    index_meta_set(idx, "uidvalidity", idx->uidvalidity, error_r) < 0 ||
	    index_meta_set(idx, "uidnext", uidnext, error_r) < 0 ||
	    (idx->dovecot_uidl && index_meta_set(idx, "uidl", INDEX_UIDL_DOVECOT, error_r) < 0))
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
	if (index_prepare(idx,
	                  "SELECT uid, size, vsize, date, keywords, modseq, mflags FROM msg"
	                  " WHERE key = ?",
	                  &idx->st_lookup, error_r) < 0 ||
	    index_prepare(idx,
	                  "INSERT INTO msg (uid, key, size, vsize, date, keywords, modseq, mflags)"
	                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	                  &idx->st_insert, error_r) < 0 ||
	    index_prepare(idx, "SELECT 1 FROM msg WHERE uid = ?", &idx->st_taken, error_r) < 0 ||
	    index_prepare(idx, "DELETE FROM msg WHERE uid = ?", &idx->st_remove, error_r) < 0 ||
	    index_prepare(idx, "DELETE FROM cache WHERE uid = ?", &idx->st_cache_remove, error_r) <
	        0 ||
	    index_prepare(idx,
	                  "UPDATE msg SET keywords = (keywords & ~?2) | ?3, kwmod = ?4,"
	                  " modseq = CASE WHEN (keywords & ~?2) | ?3 != keywords THEN ?5"
	                  " ELSE modseq END WHERE uid = ?1 RETURNING keywords, modseq",
	                  &idx->st_kw_set, error_r) < 0 ||
	    index_prepare(idx, "SELECT uid, keywords FROM msg WHERE kwmod > ?", &idx->st_kw_get,
	                  error_r) < 0 ||
	    index_prepare(idx, "SELECT data FROM cache WHERE uid = ? AND field = ?",
	                  &idx->st_cache_get, error_r) < 0 ||
	    index_prepare(idx,
	                  "INSERT OR REPLACE INTO cache (uid, field, data) SELECT ?1, ?2, ?3"
	                  " WHERE EXISTS (SELECT 1 FROM msg WHERE uid = ?1)",
	                  &idx->st_cache_put, error_r) < 0 ||
	    index_prepare(idx,
	                  "SELECT uid, data FROM cache WHERE uid BETWEEN ? AND ? AND field = ?",
	                  &idx->st_cache_range, error_r) < 0 ||
	    index_prepare(idx,
	                  "UPDATE msg SET size = ?2, vsize = ?3, date = ?4 WHERE uid = ?1"
	                  " AND vsize < 0",
	                  &idx->st_set_sizes, error_r) < 0)
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

/* Switching a new file to WAL needs it alone, and SQLite's busy handler is not called for
 * that: two sessions creating the index at once retry instead of failing (up to ~15 s, as the
 * busy timeout). */
static int index_set_wal(struct mail_index *idx, const char **error_r)
{
	int ret;

	for (int tries = 0;; tries++) {
		ret = sqlite3_exec(idx->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
		if ((ret & 0xff) != SQLITE_BUSY || tries >= 3000)
			break;
		usleep(5000);
	}
	if (ret != SQLITE_OK)
		return index_fail(idx, "PRAGMA journal_mode = WAL", error_r);
	return 0;
}

static int index_setup(struct mail_index *idx, const char **error_r)
{
	uint32_t side_uidvalidity, rebuilding;
	bool side_dovecot;
	int version, ret;

	*error_r = NULL;
	sqlite3_busy_timeout(idx->db, 15000);
	if (index_set_wal(idx, error_r) < 0 ||
	    /* FULL: index-vfs-wal.c's buffer relies on a sync before frames are published */
	    index_exec(idx, "PRAGMA synchronous = FULL", error_r) < 0 ||
	    index_exec(idx, "PRAGMA cache_size = -" STR(INDEX_CACHE_KIB), error_r) < 0 ||
	    index_exec(idx, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	if (index_user_version(idx, &version, error_r) < 0 || index_prepare_all(idx, error_r) < 0)
		goto fail;
	if (version > INDEX_SCHEMA_VERSION) {
		*error_r = "mailbox index written by a newer version";
		goto fail;
	}
	if (version != 0 && version < INDEX_SCHEMA_COMPATIBLE) {
		idx->outdated = true;
		goto fail;
	}
	if (version != 0 && version < INDEX_SCHEMA_MODSEQ && index_modseq_upgrade(idx, error_r) < 0)
		goto fail;
	if ((version == 0 && index_create(idx, error_r) < 0) ||
	    index_meta_get(idx, "uidvalidity", &idx->uidvalidity, error_r) <= 0 ||
	    index_prepare_msg(idx, error_r) < 0 ||
	    (version < INDEX_SCHEMA_VERSION && index_vanished_upgrade(idx, error_r) < 0))
		goto fail;
	/* a rebuild that did not commit its first sync (a crash) goes on as one */
	if (!idx->rebuild && (ret = index_meta_get(idx, "rebuild", &rebuilding, error_r)) < 0)
		goto fail;
	if (!idx->rebuild && ret > 0 && rebuilding != 0)
		idx->rebuild = true;
	if (index_dovecot_setup(idx, error_r) < 0)
		goto fail;
	if (!idx->rebuild && index_side_read(idx->dirfd, &side_uidvalidity, &idx->floor,
	                                     &side_dovecot, &idx->modseq_floor) == 0)
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
	sqlite3_stmt **stmts[] = {
	    &idx->st_lookup,    &idx->st_insert,       &idx->st_taken,        &idx->st_remove,
	    &idx->st_meta_get,  &idx->st_meta_set,     &idx->st_cache_remove, &idx->st_kw_set,
	    &idx->st_kw_get,    &idx->st_cache_get,    &idx->st_cache_put,    &idx->st_cache_range,
	    &idx->st_set_sizes, &idx->st_insert_batch, &idx->st_modseq_since, &idx->st_set_mflags,
	    &idx->st_modseq_scan, &idx->st_van_before, &idx->st_van_after, &idx->st_van_gap,
	    &idx->st_van_delete, &idx->st_van_insert, &idx->st_van_since};

	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		sqlite3_finalize(*stmts[i]);
		*stmts[i] = NULL;
	}
	sqlite3_close(idx->db);
	idx->db = NULL;
	dovecot_uidlist_free(&idx->dovecot);
}

/* An unreadable index is only a cache: remove it so that it is rebuilt. */
static void index_remove_files(int dirfd, bool outdated)
{
	static const char *const names[] = {INDEX_FILE, INDEX_FILE "-wal", INDEX_FILE "-shm"};

	if (outdated)
		log_info("index: %s has an older format, rebuilding it", INDEX_FILE);
	else
		log_warn("index: %s is damaged, rebuilding it", INDEX_FILE);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		(void)beneath_unlink(dirfd, names[i], 0);
}

/* The process's SQLite memory settings, before its first index (they must precede SQLite's
 * initialisation); tried once per process. */
static void index_memory_once(void)
{
	static bool tried;
	const char *error;

	if (tried)
		return;
	tried = true;
	if (mail_index_memory_setup(&error) < 0)
		log_debug("index: %s", error);
}

static int index_try_open(struct mail_index *idx, const char **error_r)
{
	char *path;
	int ret;

	index_memory_once();
	path = mail_index_vfs_path(idx->dirfd, INDEX_FILE);
	/* one thread uses a connection: no mutex around every call */
	ret = sqlite3_open_v2(path, &idx->db,
	                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                      MAIL_INDEX_VFS);

	xfree(&path);
	if (ret != SQLITE_OK)
		return index_fail(idx, "open", error_r);
	sqlite3_extended_result_codes(idx->db, 1);
	return index_setup(idx, error_r);
}

int mail_index_open(int dirfd, struct mail_index **idx_r, bool *rebuild_r, const char **error_r)
{
	return mail_index_open_in(dirfd, dirfd, idx_r, rebuild_r, error_r);
}

int mail_index_open_in(int rootfd, int dirfd, struct mail_index **idx_r, bool *rebuild_r,
                       const char **error_r)
{
	struct mail_index *idx = xcalloc(1, sizeof(*idx));
	bool outdated;
	int code;

	idx->dirfd = dirfd;
	idx->rootfd = rootfd;
	if (index_try_open(idx, error_r) < 0) {
		code = idx->db == NULL ? SQLITE_CANTOPEN : sqlite3_errcode(idx->db) & 0xff;
		outdated = idx->outdated;
		index_free(idx);
		if (code != SQLITE_NOTADB && code != SQLITE_CORRUPT && !outdated) {
			xfree(&idx);
			return -1;
		}
		index_remove_files(dirfd, outdated);
		memset(idx, 0, sizeof(*idx));
		idx->dirfd = dirfd;
		idx->rootfd = rootfd;
		if (index_try_open(idx, error_r) < 0) {
			index_free(idx);
			xfree(&idx);
			return -1;
		}
	}
	idx->rootfd = -1;
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
	rec->keywords = (uint64_t)sqlite3_column_int64(st, col + 4);
	rec->modseq = (uint64_t)sqlite3_column_int64(st, col + 5);
	rec->mflags = sqlite3_column_int(st, col + 6);
}

int mail_index_lookup(struct mail_index *idx, const char *key, struct mail_index_rec *rec_r,
                      const char **error_r)
{
	sqlite3_stmt *st = idx->st_lookup;
	int ret;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
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

	if (index_prepare(idx,
	                  "SELECT key, uid, size, vsize, date, keywords, modseq, mflags FROM msg",
	                  &st, error_r) < 0)
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
	if (index_meta_get(idx, "uidnext", &idx->uidnext, error_r) <= 0 ||
	    index_modseq_begin(idx, error_r) < 0) {
		mail_index_rollback(idx);
		*error_r = "mailbox index error";
		return -1;
	}
	idx->uidnext_begin = idx->uidnext;
	return 0;
}

static void index_tx_end(struct mail_index *idx)
{
	idx->in_tx = false;
	idx->bulk = false;
	if (idx->big_cache)
		(void)sqlite3_exec(idx->db, "PRAGMA cache_size = -" STR(INDEX_CACHE_KIB), NULL,
		                   NULL, NULL);
	idx->big_cache = false;
	idx->modseq_used = false;
	idx->vanished_added = false;
}

/* A transaction that changed nothing commits without a write (no WAL frame, no fsync): a sync
 * that found nothing new costs no disk write. */
int mail_index_commit(struct mail_index *idx, const char **error_r)
{
	int ret;

	/* The side file's floors are written before the UIDs and MODSEQs they cover become
	 * visible. */
	if (((idx->uidnext > idx->floor || index_modseq_over_floor(idx)) &&
	     index_side_write(
	         idx, idx->uidnext > idx->floor ? index_floor_above(idx->uidnext) : idx->floor,
	         error_r) < 0) ||
	    (idx->uidnext != idx->uidnext_begin &&
	     index_meta_set(idx, "uidnext", idx->uidnext, error_r) < 0) ||
	    (idx->rebuild && index_meta_set(idx, "rebuild", 0, error_r) < 0) ||
	    index_vanished_commit(idx, error_r) < 0 || index_modseq_commit(idx, error_r) < 0) {
		mail_index_rollback(idx);
		return -1;
	}
	/* A bulk transaction is durable once its WAL frames are synced (synchronous = FULL):
	 * copying them into the main file (the automatic checkpoint, a second write of every
	 * page and another sync) is left to a later commit or the close, not done before the
	 * caller can answer. */
	if (idx->bulk)
		(void)sqlite3_wal_autocheckpoint(idx->db, 0);
	ret = index_exec(idx, "COMMIT", error_r);
	if (idx->bulk)
		(void)sqlite3_wal_autocheckpoint(idx->db, INDEX_WAL_AUTOCHECKPOINT);
	if (ret < 0) {
		mail_index_rollback(idx);
		return -1;
	}
	index_tx_end(idx);
	return 0;
}

void mail_index_rollback(struct mail_index *idx)
{
	sqlite3_exec(idx->db, "ROLLBACK", NULL, NULL, NULL);
	index_tx_end(idx);
}

/* See INDEX_CACHE_KIB. */
static void index_cache_for(struct mail_index *idx, size_t rows)
{
	char sql[64];
	size_t kib = rows / 1024 * INDEX_CACHE_ROW_BYTES;

	if (kib <= INDEX_CACHE_KIB)
		return;
	if (kib > INDEX_CACHE_BULK_MAX)
		kib = INDEX_CACHE_BULK_MAX;
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%zu", kib);
	idx->big_cache = sqlite3_exec(idx->db, sql, NULL, NULL, NULL) == SQLITE_OK;
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

/* Binds one row's values at parameter first + 1... */
static void index_bind_row(sqlite3_stmt *st, int first, const char *key,
                           const struct mail_index_rec *rec)
{
	sqlite3_bind_int64(st, first + 1, rec->uid);
	sqlite3_bind_text(st, first + 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, first + 3, (sqlite3_int64)rec->size);
	sqlite3_bind_int64(st, first + 4, (sqlite3_int64)rec->vsize);
	sqlite3_bind_int64(st, first + 5, (sqlite3_int64)rec->date);
	sqlite3_bind_int64(st, first + 6, (sqlite3_int64)rec->keywords);
	sqlite3_bind_int64(st, first + 7, (sqlite3_int64)rec->modseq);
	sqlite3_bind_int(st, first + 8, rec->mflags);
}

/* index_bind_row for the batch statement: the UID NULL when it is the next to append. */
static void index_bind_batch_row(struct mail_index *idx, sqlite3_stmt *st, int first,
                                 const char *key, const struct mail_index_rec *rec)
{
	index_bind_row(st, first, key, rec);
	if (idx->append_known && rec->uid == idx->max_uid + 1)
		sqlite3_bind_null(st, first + 1);
	if (rec->uid > idx->max_uid)
		idx->max_uid = rec->uid;
}

static int index_insert(struct mail_index *idx, const char *key, const struct mail_index_rec *rec,
                        const char **error_r)
{
	sqlite3_stmt *st = idx->st_insert;
	int ret;

	index_bind_row(st, 0, key, rec);
	ret = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (ret != SQLITE_DONE)
		return index_fail(idx, "insert", error_r);
	return 0;
}

int mail_index_assign(struct mail_index *idx, const char *key, uint32_t want_uid,
                      struct mail_index_rec *rec, bool *recovered_r, const char **error_r)
{
	int ret = mail_index_lookup(idx, key, rec, error_r);

	if (ret != 0) {
		*recovered_r = true;
		return ret < 0 ? -1 : 0;
	}
	return mail_index_assign_absent(idx, key, want_uid, rec, recovered_r, error_r);
}

static int index_prepare_batch(struct mail_index *idx, const char **error_r)
{
	struct buf sql;
	int ret;

	if (idx->st_insert_batch != NULL)
		return 0;
	buf_init(&sql);
	buf_append_str(&sql, "INSERT INTO msg (uid, key, size, vsize, date, keywords, modseq,"
	                     " mflags) VALUES ");
	for (int i = 0; i < INDEX_INSERT_BATCH; i++)
		buf_append_str(&sql,
		               i == 0 ? "(?, ?, ?, ?, ?, ?, ?, ?)" : ", (?, ?, ?, ?, ?, ?, ?, ?)");
	buf_append(&sql, "", 1);
	ret = index_prepare(idx, sql.data, &idx->st_insert_batch, error_r);
	buf_free(&sql);
	return ret;
}

/* Inserts rows [first, end): full batches with the batch statement, the rest one by one. */
static int index_insert_rows(struct mail_index *idx, const struct mail_index_new *rows,
                             size_t first, size_t end, const char **error_r)
{
	sqlite3_stmt *st = idx->st_insert_batch;
	int ret;

	for (; end - first >= INDEX_INSERT_BATCH; first += INDEX_INSERT_BATCH) {
		for (int i = 0; i < INDEX_INSERT_BATCH; i++)
			index_bind_batch_row(idx, st, i * INDEX_INSERT_COLS, rows[first + i].key,
			                     rows[first + i].rec);
		ret = sqlite3_step(st);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		if (ret != SQLITE_DONE)
			return index_fail(idx, "insert", error_r);
		/* the appended UIDs were the ones given out: checked on the last row */
		if (idx->append_known && sqlite3_last_insert_rowid(idx->db) !=
		                             rows[first + INDEX_INSERT_BATCH - 1].rec->uid) {
			log_error("index: bulk insert got UID %lld, not %u",
			          (long long)sqlite3_last_insert_rowid(idx->db),
			          rows[first + INDEX_INSERT_BATCH - 1].rec->uid);
			*error_r = "mailbox index error";
			return -1;
		}
	}
	for (; first < end; first++) {
		if (index_insert(idx, rows[first].key, rows[first].rec, error_r) < 0)
			return -1;
		if (rows[first].rec->uid > idx->max_uid)
			idx->max_uid = rows[first].rec->uid;
	}
	return 0;
}

/* The UID for a row: want_uid when allowed and free, else the next one. -1 on error. */
static int index_pick_uid(struct mail_index *idx, uint32_t want_uid, uint32_t *uid_r,
                          bool *recovered_r, const char **error_r)
{
	int ret;

	*recovered_r = false;
	*uid_r = idx->uidnext;
	if (want_uid != 0 && (want_uid >= idx->uidnext || idx->rebuild)) {
		if ((ret = index_uid_taken(idx, want_uid, error_r)) < 0)
			return -1;
		if (ret == 0) {
			*uid_r = want_uid;
			*recovered_r = true;
		}
	}
	if (*uid_r == UINT32_MAX) {
		*error_r = "mailbox has run out of UIDs";
		return -1;
	}
	if (*uid_r >= idx->uidnext)
		idx->uidnext = *uid_r + 1;
	return 0;
}

/* Before count rows are inserted: drops the named key index when the table is empty and the
 * load is big (*dropped_r). The caller re-creates it in the same transaction, so no reader and
 * no crash ever sees the table without it. */
static int index_bulk_drop_key(struct mail_index *idx, size_t count, bool *dropped_r,
                               const char **error_r)
{
	sqlite3_stmt *st;
	int ret, empty;

	*dropped_r = false;
	if (count < INDEX_BULK_MIN)
		return 0;
	if (index_prepare(idx,
	                  "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'index'"
	                  " AND name = 'msg_key') AND NOT EXISTS (SELECT 1 FROM msg)",
	                  &st, error_r) < 0)
		return -1;
	ret = sqlite3_step(st);
	empty = ret == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	if (ret != SQLITE_ROW)
		return index_fail(idx, "bulk check", error_r);
	if (empty == 0)
		return 0;
	if (index_exec(idx, "DROP INDEX msg_key", error_r) < 0)
		return -1;
	*dropped_r = true;
	return 0;
}

static int index_insert_many(struct mail_index *idx, const struct mail_index_new *rows,
                             size_t count, const char **error_r)
{
	size_t pending = 0; /* rows [pending, i) have their UID but are not inserted yet */
	bool recovered;

	for (size_t i = 0; i < count; i++) {
		/* a ",U=" UID is checked against the rows inserted so far */
		if (rows[i].want_uid != 0 && index_insert_rows(idx, rows, pending, i, error_r) < 0)
			return -1;
		if (rows[i].want_uid != 0)
			pending = i;
		if (index_pick_uid(idx, rows[i].want_uid, &rows[i].rec->uid, &recovered, error_r) <
		    0)
			return -1;
		rows[i].rec->modseq = mail_index_tx_modseq(idx);
	}
	return index_insert_rows(idx, rows, pending, count, error_r);
}

int mail_index_assign_absent_many(struct mail_index *idx, const struct mail_index_new *rows,
                                  size_t count, const char **error_r)
{
	bool dropped;
	int ret;

	if (count >= INDEX_INSERT_BATCH && index_prepare_batch(idx, error_r) < 0)
		return -1;
	if (index_bulk_drop_key(idx, count, &dropped, error_r) < 0)
		return -1;
	if (count >= INDEX_BULK_MIN)
		idx->bulk = true;
	if (!dropped)
		index_cache_for(idx, count);
	idx->append_known = dropped; /* the table is empty */
	idx->max_uid = 0;
	ret = index_insert_many(idx, rows, count, error_r);
	idx->append_known = false;
	if (ret < 0)
		return -1;
	/* a duplicate key fails here as it would have failed its INSERT */
	/* the sort spills to a temporary file beside the index (index-vfs-wal.c), not to
	 * per-key allocations that SQLite's zone would keep (test_bulk_sort_not_kept) */
	if (dropped && index_exec(idx, INDEX_KEY_INDEX_SQL, error_r) < 0)
		return -1;
	return 0;
}

int mail_index_assign_absent(struct mail_index *idx, const char *key, uint32_t want_uid,
                             struct mail_index_rec *rec, bool *recovered_r, const char **error_r)
{
	uint32_t uidnext = idx->uidnext;

	if (index_pick_uid(idx, want_uid, &rec->uid, recovered_r, error_r) < 0)
		return -1;
	rec->modseq = mail_index_tx_modseq(idx);
	if (index_insert(idx, key, rec, error_r) < 0) {
		idx->uidnext = uidnext;
		return -1;
	}
	return 0;
}

static int index_step_uid(struct mail_index *idx, sqlite3_stmt *st, uint32_t uid,
                          const char **error_r)
{
	int ret;

	sqlite3_bind_int64(st, 1, uid);
	ret = sqlite3_step(st);
	sqlite3_reset(st);
	if (ret != SQLITE_DONE)
		return index_fail(idx, "remove", error_r);
	return 0;
}

int mail_index_set_sizes(struct mail_index *idx, const struct mail_index_rec *rec,
                         const char **error_r)
{
	sqlite3_stmt *st = idx->st_set_sizes;
	int ret;

	sqlite3_bind_int64(st, 1, rec->uid);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)rec->size);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)rec->vsize);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)rec->date);
	ret = sqlite3_step(st);
	sqlite3_reset(st);
	if (ret != SQLITE_DONE)
		return index_fail(idx, "set sizes", error_r);
	return 0;
}

int mail_index_remove(struct mail_index *idx, uint32_t uid, const char **error_r)
{
	if (index_step_uid(idx, idx->st_remove, uid, error_r) < 0 ||
	    index_step_uid(idx, idx->st_cache_remove, uid, error_r) < 0 ||
	    index_vanished_add(idx, uid, error_r) < 0)
		return -1;
	return 0;
}

void mail_index_release_memory(struct mail_index *idx)
{
	sqlite3_db_release_memory(idx->db);
}

void mail_index_rebuild_done(struct mail_index *idx)
{
	idx->rebuild = false;
	dovecot_uidlist_free(&idx->dovecot);
}

bool mail_index_in_transaction(const struct mail_index *idx)
{
	return idx->in_tx;
}
