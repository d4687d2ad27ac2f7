/*
 * The index's VFS: SQLite's unix VFS with consecutive writes to a WAL file gathered into one
 * buffer.
 *
 * SQLite writes a WAL frame as two pwrite calls (a 24-byte header, then the page), so the first
 * sync of a big mailbox spent more on the system calls for its WAL than on the bytes they
 * copy. Here a write that extends the previous one is appended to a buffer, written with one
 * pwrite when full, and before anything that could observe the file:
 * - a read, truncate, sync, size query, lock, unlock, file control or close of that file;
 * - any shared-memory call (map, lock, barrier, unmap) of any index database in the process:
 *   SQLite publishes new frames to readers by writing the wal-index header in shared memory,
 *   and it calls the barrier between the two copies of that header. A checkpoint takes
 *   shared-memory locks before it reads frames.
 * A write that does not extend the buffered run (SQLite rewriting a frame of the open
 * transaction, or the WAL restarting at offset 0) first flushes the run, so writes reach the
 * file in the order SQLite made them.
 * This relies on the index running with synchronous = FULL (index.c): SQLite then syncs the WAL
 * after a commit's last frame and before it publishes any of them, so the frames are flushed,
 * and a failed write is reported to the commit, by that sync. The shared-memory flushes are
 * guards; a write error in one of those (which cannot return it) is reported by the next call
 * on the file. Data lost in a crash is data SQLite had not synced, which it expects to lose.
 * Other files (the database, temporary files) pass straight through.
 *
 * Temporary files (the spill of a sort that builds a key index) are created in the directory
 * of the index that was opened last and is still open, through its dirfd path, and unlinked at
 * once: a chrooted worker has no temporary directory, and SQLite's in-memory alternative
 * allocates every sorted key alone.
 */
#include "storage/index.h"

#include "common/log.h"
#include "common/xalloc.h"

#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

/* The unix VFS writes at most 128 KiB - 1 bytes per call (it masks the length with 0x1ffff):
 * a run stays below that. */
#define WAL_BUF_SIZE (124 * 1024)

struct wal_file {
	sqlite3_file base; /* our methods */
	sqlite3_file *real;
	bool buffered;      /* a main database or WAL file */
	unsigned char *buf; /* pending bytes for [off, off + len), NULL when none */
	size_t len;
	sqlite3_int64 off;
	int error; /* a failed flush in a call that cannot report it, for the next call */
	struct wal_file *next; /* open buffered files, or open databases, of the process */
	struct wal_file **pprev;
	char *dir;       /* a database: its directory as a VFS path, for temporary files */
	char *temp_name; /* a temporary file: the name it was created under (SQLite keeps it) */
};

static sqlite3_vfs *wal_unix;
static struct wal_file *wal_open_files;
static struct wal_file *wal_open_dbs; /* the last opened first */
static unsigned wal_temp_seq;

static struct wal_file *wal_of(sqlite3_file *f)
{
	return (struct wal_file *)f;
}

/* Writes the pending run; the buffer is kept for more of the same burst when keep, else
 * freed (an idle session holds none). SQLITE_OK, or the I/O error of this flush or of an
 * earlier unreported one (the run is dropped: SQLite fails the transaction on it). */
static int wal_flush(struct wal_file *w, bool keep)
{
	int rc = SQLITE_OK;

	if (w->len > 0)
		rc = w->real->pMethods->xWrite(w->real, w->buf, (int)w->len, w->off);
	w->len = 0;
	if (!keep)
		xfree(&w->buf);
	if (rc == SQLITE_OK)
		rc = w->error;
	w->error = SQLITE_OK;
	return rc;
}

static int wal_flush_if(struct wal_file *w)
{
	return w->buffered ? wal_flush(w, false) : SQLITE_OK;
}

static void wal_flush_all(void)
{
	for (struct wal_file *w = wal_open_files; w != NULL; w = w->next)
		w->error = wal_flush(w, false);
}

static int wal_close(sqlite3_file *f)
{
	struct wal_file *w = wal_of(f);
	int rc = wal_flush_if(w);
	int rc_close = w->real->pMethods->xClose(w->real);

	if (w->pprev != NULL) {
		*w->pprev = w->next;
		if (w->next != NULL)
			w->next->pprev = w->pprev;
	}
	xfree(&w->dir);
	xfree(&w->temp_name);
	return rc != SQLITE_OK ? rc : rc_close;
}

static int wal_read(sqlite3_file *f, void *data, int amount, sqlite3_int64 off)
{
	struct wal_file *w = wal_of(f);
	int rc = wal_flush_if(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xRead(w->real, data, amount, off);
}

static int wal_write(sqlite3_file *f, const void *data, int amount, sqlite3_int64 off)
{
	struct wal_file *w = wal_of(f);
	size_t n = (size_t)amount;

	if (!w->buffered)
		return w->real->pMethods->xWrite(w->real, data, amount, off);
	if (w->len > 0 && (off != w->off + (sqlite3_int64)w->len || w->len + n > WAL_BUF_SIZE)) {
		int rc = wal_flush(w, true);

		if (rc != SQLITE_OK)
			return rc;
	}
	if (n >= WAL_BUF_SIZE)
		return w->real->pMethods->xWrite(w->real, data, amount, off);
	if (w->buf == NULL)
		w->buf = xmalloc(WAL_BUF_SIZE);
	if (w->len == 0)
		w->off = off;
	memcpy(w->buf + w->len, data, n);
	w->len += n;
	return SQLITE_OK;
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct wal_file *w = wal_of(f);
	int rc = wal_flush_if(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xTruncate(w->real, size);
}

static int wal_sync(sqlite3_file *f, int flags)
{
	struct wal_file *w = wal_of(f);
	int rc = wal_flush_if(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xSync(w->real, flags);
}

static int wal_file_size(sqlite3_file *f, sqlite3_int64 *size_r)
{
	struct wal_file *w = wal_of(f);
	int rc = wal_flush_if(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xFileSize(w->real, size_r);
}

static int wal_lock(sqlite3_file *f, int level)
{
	struct wal_file *w = wal_of(f);
	int rc = wal_flush_if(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xLock(w->real, level);
}

static int wal_unlock(sqlite3_file *f, int level)
{
	struct wal_file *w = wal_of(f);
	int rc = wal_flush_if(w);
	int rc_unlock = w->real->pMethods->xUnlock(w->real, level);

	return rc != SQLITE_OK ? rc : rc_unlock;
}

static int wal_check_reserved(sqlite3_file *f, int *out_r)
{
	return wal_of(f)->real->pMethods->xCheckReservedLock(wal_of(f)->real, out_r);
}

static int wal_file_control(sqlite3_file *f, int op, void *arg)
{
	struct wal_file *w = wal_of(f);
	int rc = wal_flush_if(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xFileControl(w->real, op, arg);
}

static int wal_sector_size(sqlite3_file *f)
{
	return wal_of(f)->real->pMethods->xSectorSize(wal_of(f)->real);
}

static int wal_device_characteristics(sqlite3_file *f)
{
	return wal_of(f)->real->pMethods->xDeviceCharacteristics(wal_of(f)->real);
}

static int wal_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **p_r)
{
	wal_flush_all();
	return wal_of(f)->real->pMethods->xShmMap(wal_of(f)->real, region, size, extend, p_r);
}

static int wal_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	wal_flush_all();
	return wal_of(f)->real->pMethods->xShmLock(wal_of(f)->real, offset, n, flags);
}

static void wal_shm_barrier(sqlite3_file *f)
{
	wal_flush_all();
	wal_of(f)->real->pMethods->xShmBarrier(wal_of(f)->real);
}

static int wal_shm_unmap(sqlite3_file *f, int delete_flag)
{
	wal_flush_all();
	return wal_of(f)->real->pMethods->xShmUnmap(wal_of(f)->real, delete_flag);
}

static int wal_fetch(sqlite3_file *f, sqlite3_int64 off, int amount, void **p_r)
{
	struct wal_file *w = wal_of(f);
	int rc = wal_flush_if(w);

	return rc != SQLITE_OK ? rc : w->real->pMethods->xFetch(w->real, off, amount, p_r);
}

static int wal_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return wal_of(f)->real->pMethods->xUnfetch(wal_of(f)->real, off, p);
}

static const sqlite3_io_methods wal_methods = {
    .iVersion = 3,
    .xClose = wal_close,
    .xRead = wal_read,
    .xWrite = wal_write,
    .xTruncate = wal_truncate,
    .xSync = wal_sync,
    .xFileSize = wal_file_size,
    .xLock = wal_lock,
    .xUnlock = wal_unlock,
    .xCheckReservedLock = wal_check_reserved,
    .xFileControl = wal_file_control,
    .xSectorSize = wal_sector_size,
    .xDeviceCharacteristics = wal_device_characteristics,
    .xShmMap = wal_shm_map,
    .xShmLock = wal_shm_lock,
    .xShmBarrier = wal_shm_barrier,
    .xShmUnmap = wal_shm_unmap,
    .xFetch = wal_fetch,
    .xUnfetch = wal_unfetch,
};

static void wal_list_add(struct wal_file **head, struct wal_file *w)
{
	w->next = *head;
	if (w->next != NULL)
		w->next->pprev = &w->next;
	w->pprev = head;
	*head = w;
}

/* The name for a temporary file: in the directory of the index opened last (double NUL
 * terminated, as SQLite's own temporary names are), or NULL (SQLite's temporary directory). */
static char *wal_temp_name(void)
{
	char *name;
	size_t len;

	if (wal_open_dbs == NULL)
		return NULL;
	name =
	    xasprintf("%s/twofold.sort-%ld-%u", wal_open_dbs->dir, (long)getpid(), ++wal_temp_seq);
	len = strlen(name);
	name = xrealloc(name, len + 2);
	name[len + 1] = '\0';
	return name;
}

/* The directory part of a database's VFS path (it ends with "/<name>"). */
static char *wal_dir_of(const char *name)
{
	const char *slash = strrchr(name, '/');

	return slash == NULL ? NULL : xstrndup(name, (size_t)(slash - name));
}

static int wal_vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
                        int *out_flags)
{
	struct wal_file *w = wal_of(f);
	int rc;

	(void)vfs;
	memset(w, 0, sizeof(*w));
	w->real = (sqlite3_file *)(w + 1);
	if (name == NULL && (flags & SQLITE_OPEN_DELETEONCLOSE) != 0) {
		w->temp_name = wal_temp_name();
		name = w->temp_name;
	}
	rc = wal_unix->xOpen(wal_unix, name, w->real, flags, out_flags);
	if (rc != SQLITE_OK || w->real->pMethods == NULL) {
		/* SQLite calls xClose when pMethods is set, even after a failed open */
		if (w->real->pMethods != NULL)
			(void)w->real->pMethods->xClose(w->real);
		xfree(&w->temp_name);
		w->base.pMethods = NULL;
		return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
	}
	if (w->real->pMethods->iVersion < 3)
		fatal("index: SQLite unix file methods older than version 3");
	w->buffered = (flags & SQLITE_OPEN_WAL) != 0;
	if (w->buffered)
		wal_list_add(&wal_open_files, w);
	else if ((flags & SQLITE_OPEN_MAIN_DB) != 0 && name != NULL &&
	         (w->dir = wal_dir_of(name)) != NULL)
		wal_list_add(&wal_open_dbs, w);
	w->base.pMethods = &wal_methods;
	return SQLITE_OK;
}

void mail_index_vfs_wal_register(void)
{
	static sqlite3_vfs vfs;

	if (wal_unix != NULL)
		return;
	if ((wal_unix = sqlite3_vfs_find("unix")) == NULL || wal_unix->iVersion < 3)
		fatal("index: SQLite unix VFS unavailable");
	vfs = *wal_unix;
	vfs.szOsFile = (int)sizeof(struct wal_file) + wal_unix->szOsFile;
	vfs.zName = MAIL_INDEX_VFS;
	vfs.pNext = NULL;
	vfs.xOpen = wal_vfs_open;
	if (sqlite3_vfs_register(&vfs, 0) != SQLITE_OK)
		fatal("index: cannot register the SQLite VFS " MAIL_INDEX_VFS);
}
