/* storage/index-vfs-wal.c: WAL writes gathered into few system calls, never seen early or lost */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test-measure.h"
#include "test-tmpdir.h"

#include "common/xalloc.h"
#include "storage/index.h"

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct fixture {
	char dir[256];
	int dirfd;
	struct mail_index *idx;
	unsigned next; /* keys "k<n>" inserted so far: k0 .. k<next-1> */
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	const char *error = NULL;
	bool rebuild;

	test_tmpdir_make(f->dir, sizeof(f->dir), "index-vfs-wal");
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	assert_true(f->dirfd >= 0);
	assert_int_equal(mail_index_open(f->dirfd, &f->idx, &rebuild, &error), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	mail_index_close(&f->idx);
	close(f->dirfd);
	test_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

/* Inserts count rows with new keys inside an open transaction. */
static int insert_rows(struct fixture *f, unsigned count)
{
	struct mail_index_new *rows = xcalloc(count, sizeof(*rows));
	struct mail_index_rec *recs = xcalloc(count, sizeof(*recs));
	char **keys = xcalloc(count, sizeof(*keys));
	const char *error = NULL;
	int ret;

	for (unsigned i = 0; i < count; i++) {
		keys[i] = xasprintf("1700000000.M%uP42.some-host.example", f->next + i);
		recs[i] = (struct mail_index_rec){.size = i, .vsize = i + 1, .date = 1700000000};
		rows[i] = (struct mail_index_new){.key = keys[i], .rec = &recs[i]};
	}
	ret = mail_index_assign_absent_many(f->idx, rows, count, &error);
	if (ret == 0)
		f->next += count;
	for (unsigned i = 0; i < count; i++)
		free(keys[i]);
	free(keys);
	free(recs);
	free(rows);
	return ret;
}

static void commit_rows(struct fixture *f, unsigned count)
{
	const char *error = NULL;

	assert_int_equal(mail_index_begin(f->idx, &error), 0);
	assert_int_equal(insert_rows(f, count), 0);
	assert_int_equal(mail_index_commit(f->idx, &error), 0);
}

/* Write-type system calls of this process so far (/proc/self/io). */
static uint64_t write_syscalls(void)
{
	FILE *fp = fopen("/proc/self/io", "r");
	unsigned long long n = 0;
	char line[128];

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "syscw: %llu", &n) == 1)
			break;
	}
	fclose(fp);
	return n;
}

static off_t file_size(struct fixture *f, const char *name)
{
	struct stat st;

	return fstatat(f->dirfd, name, &st, 0) == 0 ? st.st_size : 0;
}

/* Every key inserted so far is found with its UID (keys got UIDs 1, 2, ... in order). */
static void check_rows(struct fixture *f)
{
	const char *error = NULL;
	char key[128];

	for (unsigned i = 0; i < f->next; i++) {
		struct mail_index_rec rec;

		snprintf(key, sizeof(key), "1700000000.M%uP42.some-host.example", i);
		assert_int_equal(mail_index_lookup(f->idx, key, &rec, &error), 1);
		assert_int_equal(rec.uid, i + 1);
	}
}

/* A transaction of 20,000 rows writes some 500 WAL frames (two pwrite calls each in SQLite's
 * unix VFS): they reach the file in a few dozen calls, and read back whole. (The table is not
 * empty, so the rows go into the key index as they come: no sort, whose temporary files would
 * count too.) */
static void test_wal_writes_gathered(void **state)
{
	struct fixture *f = *state;
	uint64_t before, calls;
	off_t wal, frames;

	commit_rows(f, 1);
	before = write_syscalls();
	commit_rows(f, 20000);
	calls = write_syscalls() - before;
	wal = file_size(f, "twofold.index-wal");
	frames = wal / (4096 + 24);
	print_message("%lld frames, %llu write calls\n", (long long)frames,
	              (unsigned long long)calls);
	assert_true(frames >= 200);
	assert_true(!test_measured() || calls * 8 < (uint64_t)frames);
	check_rows(f);
	mail_index_close(&f->idx); /* checkpoints */
	{
		const char *error = NULL;
		bool rebuild;

		assert_int_equal(mail_index_open(f->dirfd, &f->idx, &rebuild, &error), 0);
	}
	check_rows(f);
}

static int child_check(struct fixture *f, unsigned rows);

/* A bulk load into the empty table (100,000 rows: the key index is built after the rows, with
 * the small page cache, so SQLite spills pages to the WAL, reads them back, and rewrites some
 * frames in place while others wait in the buffer): the index comes out whole. */
static void test_bulk_load_whole(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	bool rebuild;

	commit_rows(f, 100000);
	assert_int_equal(child_check(f, 100000), 0);
	check_rows(f);
	mail_index_close(&f->idx);
	assert_int_equal(mail_index_open(f->dirfd, &f->idx, &rebuild, &error), 0);
	assert_int_equal(child_check(f, 100000), 0);
	check_rows(f);
}

/* Runs in a child process: the index read with SQLite's own VFS holds exactly rows rows and
 * passes its integrity check. Returns the child's exit status. */
static int child_check(struct fixture *f, unsigned rows)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		char path[300];
		sqlite3 *db;
		sqlite3_stmt *st;
		int ok;

		snprintf(path, sizeof(path), "%s/twofold.index", f->dir);
		if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
			_exit(2);
		sqlite3_busy_timeout(db, 5000);
		if (sqlite3_prepare_v2(db, "SELECT count(*) FROM msg", -1, &st, NULL) !=
		        SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_ROW)
			_exit(3);
		ok = sqlite3_column_int64(st, 0) == rows;
		sqlite3_finalize(st);
		if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_ROW ||
		    strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
			_exit(4);
		sqlite3_finalize(st);
		sqlite3_close(db);
		_exit(ok ? 0 : 5);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

/* Another process sees each commit whole as soon as it returns, and nothing of a transaction
 * still open (whose frames are partly in the buffer, partly spilled). */
static void test_other_process_sees_commits(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;

	for (unsigned round = 1; round <= 4; round++) {
		commit_rows(f, 3000);
		assert_int_equal(child_check(f, round * 3000), 0);
	}
	assert_int_equal(mail_index_begin(f->idx, &error), 0);
	assert_int_equal(insert_rows(f, 10000), 0);
	assert_int_equal(child_check(f, 12000), 0);
	assert_int_equal(mail_index_commit(f->idx, &error), 0);
	assert_int_equal(child_check(f, 22000), 0);
	check_rows(f);
}

/* One transaction of rows new rows with files limited to limit bytes (RLIMIT_FSIZE; SIGXFSZ
 * ignored): its result, the transaction rolled back when it failed, the limit lifted. A failed
 * transaction's keys are not counted in f->next. With insert_ok, the inserts themselves must
 * succeed (everything still in the buffer). */
static int transaction_over_limit(struct fixture *f, off_t limit, unsigned rows, bool insert_ok)
{
	const char *error = NULL;
	unsigned next = f->next;
	struct rlimit old, lim;
	int ret;

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = (rlim_t)limit;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(mail_index_begin(f->idx, &error), 0);
	ret = insert_rows(f, rows);
	if (insert_ok)
		assert_int_equal(ret, 0);
	if (ret == 0)
		ret = mail_index_commit(f->idx, &error);
	if (ret < 0 && mail_index_in_transaction(f->idx))
		mail_index_rollback(f->idx);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	if (ret < 0)
		f->next = next;
	return ret;
}

/* After a failed transaction: what was committed before stays, and the index takes new
 * commits. */
static void check_goes_on(struct fixture *f)
{
	unsigned before = f->next;

	check_rows(f);
	assert_int_equal(child_check(f, before), 0);
	commit_rows(f, 50);
	check_rows(f);
	assert_int_equal(child_check(f, before + 50), 0);
}

/* A write that fails (here: over RLIMIT_FSIZE, while a big transaction fills and flushes the
 * buffer) fails the transaction instead of being dropped from the buffer unnoticed. */
static void test_write_error_fails_transaction(void **state)
{
	struct fixture *f = *state;
	off_t biggest;

	commit_rows(f, 100);
	biggest = file_size(f, "twofold.index-wal");
	if (file_size(f, "twofold.index") > biggest)
		biggest = file_size(f, "twofold.index");
	assert_int_equal(transaction_over_limit(f, biggest + 64 * 1024, 20000, false), -1);
	check_goes_on(f);
}

/* A small commit whose frames all wait in the buffer until the sync: the write fails there
 * (the limit just above the WAL), and the commit fails instead of publishing frames that are
 * not in the file. */
static void test_write_error_at_sync(void **state)
{
	struct fixture *f = *state;

	commit_rows(f, 1);
	commit_rows(f, 100);
	assert_int_equal(
	    transaction_over_limit(f, file_size(f, "twofold.index-wal") + 100, 10, true), -1);
	check_goes_on(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_wal_writes_gathered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_process_sees_commits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_error_fails_transaction, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bulk_load_whole, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_error_at_sync, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
