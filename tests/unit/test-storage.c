/* Storage: real maildirs in a temp dir, real SQLite index, real processes for the lock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/test-storage-fixture.h"

#include "common/buf.h"
#include "common/xalloc.h"
#include "storage/maildir-name.h"
#include "storage/maildir.h"
#include "storage/storage.h"

#include <dirent.h>
#include <signal.h>
#include <sqlite3.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int setup(void **state)
{
	*state = test_fixture_new("storage", false);
	return 0;
}

static int teardown(void **state)
{
	test_fixture_free(*state);
	return 0;
}

#define PUT(f, rel, lit) test_fixture_put(f, rel, lit, sizeof(lit) - 1)

static void do_rename(struct fixture *f, const char *from, const char *to)
{
	char a[1024], b[1024];

	snprintf(a, sizeof(a), "%s/%s", f->root, from);
	snprintf(b, sizeof(b), "%s/%s", f->root, to);
	assert_int_equal(rename(a, b), 0);
}

static void do_unlink(struct fixture *f, const char *rel)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", f->root, rel);
	assert_int_equal(unlink(path), 0);
}

static size_t count_dir(struct fixture *f, const char *rel)
{
	char path[1024];
	struct dirent *d;
	size_t n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "%s/%s", f->root, rel);
	dir = opendir(path);
	assert_non_null(dir);
	while ((d = readdir(dir)) != NULL)
		n += d->d_name[0] == '.' ? 0 : 1;
	closedir(dir);
	return n;
}

/* The single file name in cur/ whose key is base (followed by ':' or twofold's ',' fields). */
static void cur_name(struct fixture *f, const char *base, char *out, size_t size)
{
	assert_true(test_fixture_find_name(f, "cur", base, out, size));
}

/* Renames the file of key in cur/ to its base + info (another session or tool changing flags). */
static void set_info(struct fixture *f, const char *key, const char *info)
{
	char name[256], from[300], to[300];

	cur_name(f, key, name, sizeof(name));
	snprintf(from, sizeof(from), "cur/%s", name);
	snprintf(to, sizeof(to), "cur/%.*s%s", (int)(strchr(name, ':') - name), name, info);
	do_rename(f, from, to);
}

static void unlink_key(struct fixture *f, const char *key)
{
	char name[256], rel[300];

	cur_name(f, key, name, sizeof(name));
	snprintf(rel, sizeof(rel), "cur/%s", name);
	do_unlink(f, rel);
}

static void sync_box(struct fixture *f)
{
	const char *error = NULL;

	assert_int_equal(mailbox_sync(f->box, &error), 0);
}

static const struct mail *find_uidl(struct fixture *f, const char *uidl)
{
	for (size_t i = 0; i < mailbox_count(f->box); i++) {
		if (strcmp(mailbox_get(f->box, i)->uidl, uidl) == 0)
			return mailbox_get(f->box, i);
	}
	fail_msg("uidl %s not in view", uidl);
	return NULL;
}

static size_t find_index(struct fixture *f, const char *uidl)
{
	for (size_t i = 0; i < mailbox_count(f->box); i++) {
		if (strcmp(mailbox_get(f->box, i)->uidl, uidl) == 0)
			return i;
	}
	fail_msg("uidl %s not in view", uidl);
	return 0;
}

static struct mail_sizes sizes_of(struct mailbox *box, size_t i)
{
	struct mail_sizes sizes = {0};
	const char *error = NULL;

	assert_int_equal(mailbox_msg_sizes(box, i, &sizes, &error), 1);
	return sizes;
}

static struct mail_sizes uidl_sizes(struct fixture *f, const char *uidl)
{
	return sizes_of(f->box, find_index(f, uidl));
}

static size_t read_msg(struct fixture *f, size_t i, char *buf, size_t size)
{
	const char *error = NULL;
	int fd = mailbox_msg_open(f->box, i, &error);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, size);
	assert_true(n >= 0);
	close(fd);
	return (size_t)n;
}

/* ---- file names ---- */

static void test_name_parse(void **state)
{
	struct maildir_name n;
	const char *name = "1700000000.M1P2.host,S=1234,W=1260,U=17:2,FSa";
	char *rest;

	assert_int_equal(maildir_name_parse(name, &n), 1);
	assert_int_equal(n.base_len, strlen("1700000000.M1P2.host,S=1234,W=1260,U=17"));
	assert_string_equal(n.rest, ":2,FSa");
	assert_true(n.has_info && n.has_size && n.has_vsize && n.has_uid);
	assert_int_equal(n.size, 1234);
	assert_int_equal(n.vsize, 1260);
	assert_int_equal(n.uid, 17);
	assert_int_equal(n.flags, MAIL_FLAGGED | MAIL_SEEN);

	assert_int_equal(maildir_name_parse("plain", &n), 1);
	assert_string_equal(n.rest, "");
	assert_false(n.has_info || n.has_size || n.has_vsize || n.has_uid);
	assert_int_equal(maildir_name_parse("x,S=12a,W=,U=0,U=99999999999:2,", &n), 1);
	assert_false(n.has_size || n.has_vsize || n.has_uid);
	assert_int_equal(maildir_name_parse(".hidden", &n), 0);
	assert_int_equal(maildir_name_parse("", &n), 0);
	assert_int_equal(maildir_name_parse(":2,S", &n), 0);

	assert_int_equal(maildir_info_flags("DFPRST"),
	                 MAIL_DRAFT | MAIL_FLAGGED | MAIL_ANSWERED | MAIL_SEEN | MAIL_DELETED);
	rest = maildir_rest_with_flags(":2,Sab", MAIL_FLAGGED | MAIL_DRAFT);
	assert_string_equal(rest, ":2,DFab"); /* S cleared, keywords kept, sorted */
	xfree(&rest);
	rest = maildir_rest_with_flags(":1,weird", MAIL_SEEN);
	assert_string_equal(rest, ":2,S");
	xfree(&rest);
	rest = maildir_rest_with_flags("", 0);
	assert_string_equal(rest, ":2,");
	xfree(&rest);
}

/* ---- deliveries, flags, sizes ---- */

static void test_delivery_moved_to_cur(void **state)
{
	struct fixture *f = *state;
	const struct mail *m;

	test_fixture_open_inbox(f); /* creates cur/ new/ tmp/ */
	PUT(f, "new/1700000000.M1P1.host", "Subject: a\n\nhello\n");
	sync_box(f);
	assert_int_equal(mailbox_count(f->box), 1);
	assert_int_equal(count_dir(f, "new"), 0);
	/* the UID is kept in the name (,U=), with the sizes, so an index rebuild finds them */
	assert_true(test_fixture_exists(f, "cur/1700000000.M1P1.host,S=18,W=21,U=1:2,"));
	m = mailbox_get(f->box, 0);
	assert_string_equal(m->uidl, "1700000000.M1P1.host");
	assert_int_equal(m->uid, 1);
	assert_int_equal(sizes_of(f->box, 0).size, 18);
	assert_int_equal(sizes_of(f->box, 0).crlf_size, 21);
	assert_int_equal(m->flags & ~MAIL_RECENT, 0);
	assert_true((m->flags & MAIL_RECENT) != 0);
	assert_true(test_fixture_exists(f, "twofold.index"));
}

static void test_flags_parsed_and_set(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	const struct mail *m;
	char name[256];

	test_fixture_open_inbox(f);
	PUT(f, "cur/100.a.host:2,FS", "a\n");
	PUT(f, "cur/101.b.host:2,DRT", "b\n");
	PUT(f, "cur/102.c.host:2,Sa", "c\n");
	PUT(f, "cur/103.d.host", "d\n"); /* no info at all */
	sync_box(f);
	assert_int_equal(mailbox_count(f->box), 4);
	assert_int_equal(find_uidl(f, "100.a.host")->flags & ~MAIL_RECENT,
	                 MAIL_FLAGGED | MAIL_SEEN);
	assert_int_equal(find_uidl(f, "101.b.host")->flags & ~MAIL_RECENT,
	                 MAIL_DRAFT | MAIL_ANSWERED | MAIL_DELETED);
	assert_int_equal(find_uidl(f, "103.d.host")->flags & ~MAIL_RECENT, 0);

	for (size_t i = 0; i < mailbox_count(f->box); i++) {
		m = mailbox_get(f->box, i);
		if (strcmp(m->uidl, "100.a.host") == 0)
			assert_int_equal(
			    mailbox_set_flags(f->box, i, MAIL_ANSWERED, MAIL_FLAGGED, &error), 1);
		else if (strcmp(m->uidl, "102.c.host") == 0)
			assert_int_equal(mailbox_set_flags(f->box, i, MAIL_FLAGGED, 0, &error), 1);
		else if (strcmp(m->uidl, "103.d.host") == 0)
			assert_int_equal(mailbox_set_flags(f->box, i, MAIL_SEEN, 0, &error), 1);
	}
	assert_true(test_fixture_exists(f, "cur/100.a.host:2,RS"));
	assert_false(test_fixture_exists(f, "cur/100.a.host:2,FS"));
	assert_true(test_fixture_exists(f, "cur/102.c.host:2,FSa"));
	assert_true(test_fixture_exists(f, "cur/103.d.host:2,S"));
	assert_int_equal(find_uidl(f, "100.a.host")->flags & ~MAIL_RECENT,
	                 MAIL_ANSWERED | MAIL_SEEN);

	/* persisted in the file names: a new session sees them */
	test_fixture_open_inbox(f);
	assert_int_equal(find_uidl(f, "100.a.host")->flags, MAIL_ANSWERED | MAIL_SEEN);
	assert_int_equal(find_uidl(f, "102.c.host")->flags, MAIL_FLAGGED | MAIL_SEEN);
	cur_name(f, "101.b.host", name, sizeof(name));
	assert_string_equal(name, "101.b.host:2,DRT");
}

static void test_crlf_sizes(void **state)
{
	static const struct {
		const char *name, *data;
		size_t len;
		uint64_t crlf;
	} cases[] = {
	    {"200.lf.h", "a\nb\n", 4, 6},       {"201.crlf.h", "a\r\nb\r\n", 6, 6},
	    {"202.mixed.h", "a\r\nb\nc", 6, 7}, {"203.nonl.h", "abc", 3, 3},
	    {"204.empty.h", "", 0, 0},          {"205.lone-cr.h", "a\rb\n\n", 5, 7},
	};
	struct fixture *f = *state;
	size_t big_len = 128 * 1024 + 1;
	char *big = xmalloc(big_len);
	char path[300], name[256];
	struct mail_sizes sizes;

	test_fixture_open_inbox(f);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(path, sizeof(path), "new/%s", cases[i].name);
		test_fixture_put(f, path, cases[i].data, cases[i].len);
	}
	/* a CRLF split across the 128 KiB read chunks is still one CRLF */
	memset(big, 'x', big_len);
	big[128 * 1024 - 1] = '\r';
	big[128 * 1024] = '\n';
	test_fixture_put(f, "new/206.chunk.h", big, big_len);
	/* W= is trusted: the file is not read */
	PUT(f, "cur/207.w.h,S=2,W=99:2,", "z\n");
	sync_box(f);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sizes = uidl_sizes(f, cases[i].name);
		assert_int_equal(sizes.size, cases[i].len);
		assert_int_equal(sizes.crlf_size, cases[i].crlf);
	}
	sizes = uidl_sizes(f, "206.chunk.h");
	assert_int_equal(sizes.size, big_len);
	assert_int_equal(sizes.crlf_size, big_len);
	assert_int_equal(uidl_sizes(f, "207.w.h").crlf_size, 99);

	/* computed once, then cached in the index: a second session does not rescan */
	cur_name(f, "200.lf.h", name, sizeof(name));
	snprintf(path, sizeof(path), "cur/%s", name);
	test_fixture_put(f, path, "a\nb\nc\nd\n", 8);
	test_fixture_open_inbox(f);
	sizes = uidl_sizes(f, "200.lf.h");
	assert_int_equal(sizes.size, 4);
	assert_int_equal(sizes.crlf_size, 6);
	xfree(&big);
}

/* Enough files other tools put into cur/ for the measuring to use several threads: every size
 * right (also around the one-read limit of 32 KiB), the date from the mtime, UIDs in name order
 * for equal dates. Walked in order (read-ahead windows) and, in a new session after the files
 * changed, from the index without reading them again. */
static void test_crlf_sizes_many(void **state)
{
	enum { MANY = 700 };
	struct fixture *f = *state;
	size_t cap = 40 * 1024;
	char *data = xmalloc(cap), path[300], uidl[64];
	uint64_t want_size[MANY], want_crlf[MANY];
	const struct timespec times[2] = {{1700000000, 0}, {1700000000, 0}};

	test_fixture_open_inbox(f);
	for (size_t i = 0; i < MANY; i++) {
		size_t len = i < 3 ? 32 * 1024 - 1 + i : (i * 7919) % cap;
		uint64_t lfs = 0;

		for (size_t j = 0; j < len; j++) {
			data[j] = (j % (i % 61 + 2)) == 0 ? '\n' : 'a' + (char)(j % 26);
			if (data[j] == '\n' && (j == 0 || i % 3 != 0))
				lfs++;
			else if (data[j] == '\n')
				data[j - 1] = '\r';
		}
		snprintf(path, sizeof(path), "cur/%05zu.many.h:2,S", i);
		test_fixture_put(f, path, data, len);
		assert_int_equal(utimensat(f->rootfd, path, times, 0), 0);
		want_size[i] = len;
		want_crlf[i] = len + lfs;
	}
	for (int pass = 0; pass < 2; pass++) {
		test_fixture_open_inbox(f);
		assert_int_equal(mailbox_count(f->box), MANY);
		for (size_t i = 0; i < MANY; i++) {
			struct mail_sizes sizes = sizes_of(f->box, i);

			snprintf(uidl, sizeof(uidl), "%05zu.many.h", i);
			assert_string_equal(mailbox_get(f->box, i)->uidl, uidl);
			assert_int_equal(sizes.size, want_size[i]);
			assert_int_equal(sizes.crlf_size, want_crlf[i]);
			assert_int_equal(sizes.date, 1700000000);
		}
		/* rewritten behind our back: the next session still has the first sizes */
		for (size_t i = 0; i < MANY && pass == 0; i++) {
			snprintf(path, sizeof(path), "cur/%05zu.many.h:2,S", i);
			test_fixture_put(f, path, "x", 1);
		}
	}
	xfree(&data);
}

/* A file in cur/ without ",W=" is not read by the sync but when its size is first asked for;
 * the result is kept in the index, so a later session does not read the file again. */
static void test_lazy_size_persisted(void **state)
{
	static const struct {
		const char *name, *data;
		uint64_t size, crlf;
	} cases[] = {
	    {"cur/500.lf.h:2,S", "a\nb\n", 4, 6},      {"cur/501.crlf.h:2,", "a\r\nb\r\n", 6, 6},
	    {"cur/502.nonl.h:2,", "a\nbc", 4, 5},      {"cur/503.empty.h:2,", "", 0, 0},
	    {"cur/504.s-only.h,S=3:2,", "a\nb", 3, 4},
	};
	enum { N = sizeof(cases) / sizeof(cases[0]) };
	const struct timespec times[2] = {{1600000000, 0}, {1600000000, 0}};
	struct fixture *f = *state;
	const char *error = NULL;
	struct mail_sizes sizes;

	test_fixture_open_inbox(f);
	for (size_t i = 0; i < N; i++)
		PUT(f, cases[i].name, "not yet");
	sync_box(f);
	assert_int_equal(mailbox_count(f->box), N);
	/* the files change after the sync: what is measured is what is there when asked */
	for (size_t i = 0; i < N; i++) {
		test_fixture_put(f, cases[i].name, cases[i].data, strlen(cases[i].data));
		assert_int_equal(utimensat(f->rootfd, cases[i].name, times, 0), 0);
	}
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(mailbox_msg_sizes(f->box, i, &sizes, &error), 1);
		assert_int_equal(sizes.size, cases[i].size);
		assert_int_equal(sizes.crlf_size, cases[i].crlf);
		assert_int_equal(sizes.date, 1600000000);
	}
	/* written to the index (at close); changed files are not read again */
	mailbox_close(&f->box);
	for (size_t i = 0; i < N; i++)
		PUT(f, cases[i].name, "changed\n\n\n");
	test_fixture_open_inbox(f);
	for (size_t i = 0; i < N; i++) {
		uint64_t crlf = 0;

		assert_int_equal(mailbox_msg_crlf_size(f->box, i, &crlf, &error), 1);
		assert_int_equal(crlf, cases[i].crlf);
	}
	/* an index rebuild measures them again */
	test_fixture_remove_index(f);
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_msg_sizes(f->box, 0, &sizes, &error), 1);
	assert_int_equal(sizes.size, 10);
	assert_int_equal(sizes.crlf_size, 13);
}

/* A lazily measured file that vanished gives 0 (no crash, no size); one renamed by a flag
 * change of another session is found under its new name. */
static void test_lazy_size_vanished_or_renamed(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct mail_sizes sizes;
	struct mailbox_status status;

	test_fixture_open_inbox(f);
	PUT(f, "cur/600.gone.h:2,", "gone\n");
	PUT(f, "cur/601.moved.h:2,", "moved\n");
	PUT(f, "cur/602.stays.h:2,S", "stays\n");
	sync_box(f);
	unlink_key(f, "600.gone.h");
	set_info(f, "601.moved.h", ":2,FS");
	assert_int_equal(mailbox_msg_sizes(f->box, find_index(f, "600.gone.h"), &sizes, &error), 0);
	assert_true(mailbox_msg_gone(f->box, find_index(f, "600.gone.h")));
	sizes = uidl_sizes(f, "601.moved.h");
	assert_int_equal(sizes.size, 6);
	assert_int_equal(sizes.crlf_size, 7);
	assert_int_equal(mailbox_measure_all(f->box, &error), 0);
	assert_int_equal(uidl_sizes(f, "602.stays.h").crlf_size, 7);
	/* STATUS SIZE measures what it needs and counts only what is there */
	mailbox_close(&f->box);
	PUT(f, "cur/603.late.h:2,", "a\nb\n");
	assert_int_equal(mailbox_get_status(f->st, "INBOX", true, &status, &error), 1);
	assert_int_equal(status.messages, 3);
	assert_int_equal(status.size, 7 + 7 + 6);
}

/* STATUS without SIZE reads no message file: a file another tool put into cur/ is measured only
 * when sizes are asked for (here after its content changed), and then kept. */
static void test_status_without_size_reads_nothing(void **state)
{
	struct fixture *f = *state;
	struct mailbox_status status;
	const char *error = NULL;

	test_fixture_open_inbox(f);
	mailbox_close(&f->box);
	PUT(f, "cur/700.a.h:2,", "first\n");
	assert_int_equal(mailbox_get_status(f->st, "INBOX", false, &status, &error), 1);
	assert_int_equal(status.messages, 1);
	assert_int_equal(status.unseen, 1);
	assert_int_equal(status.size, 0);
	PUT(f, "cur/700.a.h:2,", "second one\n");
	assert_int_equal(mailbox_get_status(f->st, "INBOX", true, &status, &error), 1);
	assert_int_equal(status.size, 12);
	PUT(f, "cur/700.a.h:2,", "x\n");
	assert_int_equal(mailbox_get_status(f->st, "INBOX", true, &status, &error), 1);
	assert_int_equal(status.size, 12);
}

/* ---- UIDL and UIDs ---- */

static void deliver_three(struct fixture *f)
{
	PUT(f, "new/300.one.h", "one\n");
	PUT(f, "new/301.two.h", "two\n");
	PUT(f, "new/302.three.h", "three\n");
}

static void test_uidl_stable(void **state)
{
	struct fixture *f = *state;
	uint32_t uidvalidity, uids[3], app_uid;
	const char *uidls[] = {"300.one.h", "301.two.h", "302.three.h"};
	const char *error = NULL;
	char name[256];

	test_fixture_open_inbox(f);
	deliver_three(f);
	sync_box(f);
	assert_int_equal(mailbox_append(f->box, "app\n", 4, MAIL_SEEN, 0, &app_uid, &error), 0);
	sync_box(f);
	assert_int_equal(mailbox_count(f->box), 4);
	uidvalidity = mailbox_uidvalidity(f->box);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(mailbox_get(f->box, i)->uidl, uidls[i]);
		uids[i] = mailbox_get(f->box, i)->uid;
	}
	assert_int_equal(mailbox_get(f->box, 3)->uid, app_uid);

	/* an external flag rename keeps UIDL and UID */
	set_info(f, "301.two.h", ":2,FS");
	sync_box(f);
	assert_int_equal(mailbox_count(f->box), 4);
	assert_string_equal(mailbox_get(f->box, 1)->uidl, "301.two.h");
	assert_int_equal(mailbox_get(f->box, 1)->uid, uids[1]);
	assert_int_equal(mailbox_get(f->box, 1)->flags & ~MAIL_RECENT, MAIL_FLAGGED | MAIL_SEEN);

	/* reopen */
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_uidvalidity(f->box), uidvalidity);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(mailbox_get(f->box, i)->uidl, uidls[i]);
		assert_int_equal(mailbox_get(f->box, i)->uid, uids[i]);
	}

	/* index deleted: UIDLs unchanged, UIDVALIDITY kept, every message keeps its UID: the
	 * appended one and the delivered ones (,U= added on new/ -> cur/) */
	test_fixture_remove_index(f);
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), 4);
	assert_int_equal(mailbox_uidvalidity(f->box), uidvalidity);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(mailbox_get(f->box, i)->uidl, uidls[i]);
		assert_int_equal(mailbox_get(f->box, i)->uid, uids[i]);
	}
	assert_int_equal(mailbox_get(f->box, 3)->uid, app_uid);
	assert_true(mailbox_uidnext(f->box) > app_uid);
	cur_name(f, "301.two.h", name, sizeof(name));
	assert_non_null(strstr(name, ":2,FS"));
}

static void test_uids_persistent_monotonic(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	bool remove[3] = {false, false, true};
	uint32_t last;

	test_fixture_open_inbox(f);
	PUT(f, "new/400.a.h", "a\n");
	PUT(f, "new/401.b.h", "b\n");
	sync_box(f);
	assert_int_equal(mailbox_get(f->box, 0)->uid, 1);
	assert_int_equal(mailbox_get(f->box, 1)->uid, 2);
	assert_int_equal(mailbox_uidnext(f->box), 3);

	PUT(f, "new/402.c.h", "c\n");
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), 3);
	assert_int_equal(mailbox_get(f->box, 0)->uid, 1);
	assert_int_equal(mailbox_get(f->box, 1)->uid, 2);
	assert_int_equal(mailbox_get(f->box, 2)->uid, 3);
	assert_int_equal(mailbox_get(f->box, 2)->flags, MAIL_RECENT);
	assert_int_equal(mailbox_get(f->box, 0)->flags, 0); /* seen by an earlier session */

	/* an expunged UID is never given out again */
	assert_int_equal(mailbox_expunge(f->box, remove, &error), 0);
	test_fixture_open_inbox(f);
	PUT(f, "new/403.d.h", "d\n");
	sync_box(f);
	assert_int_equal(mailbox_count(f->box), 3);
	last = mailbox_get(f->box, 2)->uid;
	assert_int_equal(last, 4);
	assert_string_equal(mailbox_get(f->box, 2)->uidl, "403.d.h");

	/* delivery order follows the file dates, not readdir order */
	PUT(f, "new/zzz-early", "e\n");
	PUT(f, "new/aaa-late", "l\n");
	{
		struct timespec t[2] = {{.tv_sec = 1000}, {.tv_sec = 1000}};
		struct timespec u[2] = {{.tv_sec = 2000}, {.tv_sec = 2000}};
		char p[1024];

		snprintf(p, sizeof(p), "%s/new/zzz-early", f->root);
		assert_int_equal(utimensat(AT_FDCWD, p, t, 0), 0);
		snprintf(p, sizeof(p), "%s/new/aaa-late", f->root);
		assert_int_equal(utimensat(AT_FDCWD, p, u, 0), 0);
	}
	sync_box(f);
	assert_int_equal(find_uidl(f, "zzz-early")->uid, last + 1);
	assert_int_equal(find_uidl(f, "aaa-late")->uid, last + 2);
	assert_int_equal(uidl_sizes(f, "zzz-early").date, 1000);
}

/* ---- deletions ---- */

static void test_external_delete(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	bool remove[2] = {true, false};
	char buf[16];

	test_fixture_open_inbox(f);
	PUT(f, "new/500.a.h", "a\n");
	PUT(f, "new/501.b.h", "b\n");
	sync_box(f);
	unlink_key(f, "500.a.h");
	sync_box(f);
	assert_int_equal(mailbox_count(f->box), 2);
	assert_true(mailbox_msg_gone(f->box, 0));
	assert_false(mailbox_msg_gone(f->box, 1));
	assert_int_equal(mailbox_msg_open(f->box, 0, &error), -1);
	assert_int_equal(mailbox_set_flags(f->box, 0, MAIL_SEEN, 0, &error), 0);
	assert_int_equal(read_msg(f, 1, buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "b\n", 2);
	assert_int_equal(mailbox_expunge(f->box, remove, &error), 0);
	assert_int_equal(mailbox_count(f->box), 1);
	assert_string_equal(mailbox_get(f->box, 0)->uidl, "501.b.h");

	/* deleted without a sync in between: msg_open notices too */
	unlink_key(f, "501.b.h");
	assert_int_equal(mailbox_msg_open(f->box, 0, &error), -1);
	assert_true(mailbox_msg_gone(f->box, 0));
}

static void test_expunge_removes_files(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	bool remove[3] = {true, false, true};
	char buf[16], name[256];

	test_fixture_open_inbox(f);
	deliver_three(f);
	sync_box(f);
	/* another session changed a flag meanwhile: expunge still finds the file */
	set_info(f, "302.three.h", ":2,S");
	assert_int_equal(mailbox_expunge(f->box, remove, &error), 0);
	assert_int_equal(mailbox_count(f->box), 1);
	assert_string_equal(mailbox_get(f->box, 0)->uidl, "301.two.h");
	assert_int_equal(count_dir(f, "cur"), 1);
	cur_name(f, "301.two.h", name, sizeof(name));
	assert_int_equal(read_msg(f, 0, buf, sizeof(buf)), 4);
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), 1);

	/* a message renamed by another session is still readable */
	set_info(f, "301.two.h", ":2,RS");
	assert_int_equal(read_msg(f, 0, buf, sizeof(buf)), 4);
	assert_int_equal(mailbox_get(f->box, 0)->flags, MAIL_ANSWERED | MAIL_SEEN);
}

/* ---- lock ---- */

static int child_lock(struct fixture *f)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct mail_storage *st = NULL;
		struct mailbox *box = NULL;
		const char *error = NULL;

		if (mail_storage_open(f->rootfd, &st, &error) < 0 ||
		    mailbox_open(st, "INBOX", &box, &error) != 1)
			_exit(3);
		_exit(mailbox_lock_exclusive(box, &error) == 1 ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_lock_exclusive(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;

	test_fixture_open_inbox(f);
	assert_int_equal(child_lock(f), 1); /* free */
	assert_int_equal(mailbox_lock_exclusive(f->box, &error), 1);
	assert_int_equal(mailbox_lock_exclusive(f->box, &error), 1); /* idempotent */
	assert_int_equal(child_lock(f), 0);                          /* in use */
	mailbox_close(&f->box);
	assert_int_equal(child_lock(f), 1); /* released by close */
}

/* ---- append ---- */

static void test_append(void **state)
{
	static const char msg[] = "Subject: hi\n\nbody line\r\nlast";
	struct fixture *f = *state;
	const char *error = NULL;
	const struct mail *m;
	struct stat st;
	char path[1024], buf[128];
	uint32_t uid1, uid2;
	int found = 0;
	struct dirent *d;
	DIR *dir;

	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_append(f->box, msg, sizeof(msg) - 1, MAIL_SEEN | MAIL_FLAGGED,
	                                1000000000, &uid1, &error),
	                 0);
	assert_int_equal(mailbox_append(f->box, "x", 1, 0, 0, &uid2, &error), 0);
	assert_true(uid2 > uid1);
	assert_int_equal(count_dir(f, "tmp"), 0);
	assert_int_equal(count_dir(f, "cur"), 2);
	sync_box(f);
	assert_int_equal(mailbox_count(f->box), 2);
	m = mailbox_get(f->box, 0);
	assert_int_equal(m->uid, uid1);
	/* stored with LF line ends, the CRLF size as sent */
	assert_int_equal(sizes_of(f->box, 0).size, sizeof(msg) - 1 - 1);
	assert_int_equal(sizes_of(f->box, 0).crlf_size, sizeof(msg) - 1 + 2);
	assert_int_equal(sizes_of(f->box, 0).date, 1000000000);
	assert_int_equal(m->flags, MAIL_SEEN | MAIL_FLAGGED | MAIL_RECENT);
	assert_int_equal(read_msg(f, 0, buf, sizeof(buf)), sizeof(msg) - 1 - 1);
	assert_memory_equal(buf, "Subject: hi\n\nbody line\nlast", sizeof(msg) - 1 - 1);

	snprintf(path, sizeof(path), "%s/cur", f->root);
	dir = opendir(path);
	assert_non_null(dir);
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.' || strstr(d->d_name, ":2,FS") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/cur/%s", f->root, d->d_name);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
		assert_int_equal(st.st_mtime, 1000000000);
		assert_non_null(strstr(d->d_name, ",S=27,W=30,U="));
		found++;
	}
	closedir(dir);
	assert_int_equal(found, 1);
	snprintf(path, sizeof(path), "%s/twofold.index", f->root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

/* CRLF becomes LF however the message arrives in pieces; a CR before a CR, a lone CR and a CR
 * at the very end stay, so the CRLF size of the file is the size of what was sent. */
static void test_append_stores_lf(void **state)
{
	static const char msg[] = "a\r\nb\r\r\nc\nd\re\r\n\r";
	static const char stored[] = "a\nb\r\r\nc\nd\re\n\r";
	const size_t len = sizeof(msg) - 1, crlf_size = len + 1; /* one bare LF, after c */
	struct fixture *f = *state;
	const char *error = NULL;
	char buf[64];

	test_fixture_open_inbox(f);
	for (size_t cut = 0; cut <= len; cut++) {
		struct mail_save *sv;

		assert_int_equal(mailbox_save_begin(f->box, &sv, &error), 0);
		assert_int_equal(mailbox_save_write(sv, msg, cut, &error), 0);
		assert_int_equal(mailbox_save_write(sv, msg + cut, len - cut, &error), 0);
		assert_int_equal(mailbox_save_finish(&sv, 0, 0, NULL, &error), 0);
	}
	sync_box(f);
	assert_int_equal(mailbox_count(f->box), len + 1);
	for (size_t i = 0; i <= len; i++) {
		assert_int_equal(read_msg(f, i, buf, sizeof(buf)), sizeof(stored) - 1);
		assert_memory_equal(buf, stored, sizeof(stored) - 1);
		assert_int_equal(sizes_of(f->box, i).size, sizeof(stored) - 1);
		assert_int_equal(sizes_of(f->box, i).crlf_size, crlf_size);
	}
}

/* ---- names that could escape ---- */

static void test_path_escape_refused(void **state)
{
	static const char *const bad[] = {
	    "..", "../x", "a/b", "/etc", ".hidden", "a..b", "", "trailing.", "x\ny", "..INBOX",
	};
	struct fixture *f = *state;
	struct mailbox *box = NULL;
	const char *error = NULL;
	char path[1024];

	test_fixture_open_inbox(f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mailbox_open(f->st, bad[i], &box, &error), -1);
		assert_null(box);
	}
	assert_int_equal(mailbox_open(f->st, "NoSuch", &box, &error), 0);
	assert_null(box);

	/* a real Maildir++ folder opens; a symlinked one does not */
	snprintf(path, sizeof(path), "%s/.Custom", f->root);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(mailbox_open(f->st, "Custom", &box, &error), 1);
	assert_int_equal(mailbox_count(box), 0);
	mailbox_close(&box);
	snprintf(path, sizeof(path), "%s/.Evil", f->root);
	assert_int_equal(symlink("/tmp", path), 0);
	assert_int_equal(mailbox_open(f->st, "Evil", &box, &error), 0); /* no such mailbox */
	assert_null(box);

	/* a symlink in cur/ is no message */
	snprintf(path, sizeof(path), "%s/cur/600.link.h:2,", f->root);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	sync_box(f);
	assert_int_equal(mailbox_count(f->box), 0);
}

/* ---- tmp/ ---- */

/* Stale by ctime only: no writer can set it back, while an APPEND gives its file an old mtime
 * (the internal date) before renaming it into cur/. */
static void test_tmp_clean_by_ctime(void **state)
{
	struct fixture *f = *state;
	struct timespec old[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
	char path[1024];
	int tmpfd;

	test_fixture_open_inbox(f);
	PUT(f, "tmp/appending", "Subject: x\n");
	snprintf(path, sizeof(path), "%s/tmp/appending", f->root);
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	snprintf(path, sizeof(path), "%s/tmp/subdir", f->root);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/tmp", f->root);
	tmpfd = open(path, O_RDONLY | O_DIRECTORY);
	assert_true(tmpfd >= 0);
	assert_int_equal(maildir_tmp_clean(tmpfd, time(NULL) - MAILDIR_TMP_STALE_SECS), 0);
	assert_true(test_fixture_exists(f, "tmp/appending"));
	/* seen from 36 hours later */
	assert_int_equal(maildir_tmp_clean(tmpfd, time(NULL) + 2), 1);
	assert_false(test_fixture_exists(f, "tmp/appending"));
	assert_true(test_fixture_exists(f, "tmp/subdir"));
	close(tmpfd);
}

/* ---- sessions ---- */

static void test_delivery_during_session(void **state)
{
	struct fixture *f = *state;
	struct mailbox *other = NULL;
	const char *error = NULL;

	test_fixture_open_inbox(f);
	PUT(f, "new/700.a.h", "a\n");
	sync_box(f);
	assert_int_equal(mailbox_count(f->box), 1);
	assert_int_equal(mailbox_open(f->st, "INBOX", &other, &error), 1);
	PUT(f, "new/701.b.h", "bb\n");
	sync_box(f);
	assert_int_equal(mailbox_count(f->box), 2);
	assert_string_equal(mailbox_get(f->box, 0)->uidl, "700.a.h");
	assert_string_equal(mailbox_get(f->box, 1)->uidl, "701.b.h");
	assert_int_equal(sizes_of(f->box, 1).crlf_size, 4);
	/* the other session sees the same UID */
	assert_int_equal(mailbox_sync(other, &error), 0);
	assert_int_equal(mailbox_count(other), 2);
	assert_int_equal(mailbox_get(other, 1)->uid, mailbox_get(f->box, 1)->uid);
	mailbox_close(&other);
}

static void test_damaged_index_rebuilt(void **state)
{
	struct fixture *f = *state;

	test_fixture_open_inbox(f);
	PUT(f, "new/800.a.h", "a\n");
	sync_box(f);
	test_fixture_remove_index(f);
	PUT(f, "twofold.index", "this is not an SQLite database, not at all, really not\n");
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), 1);
	assert_string_equal(mailbox_get(f->box, 0)->uidl, "800.a.h");
}

/* The worker's situation: chrooted into an empty directory, holding only the maildir fd. The
 * index (SQLite) must still work beneath that fd. */
static int chrooted_session(struct fixture *f, const char *jail)
{
	struct mail_storage *st = NULL;
	struct mailbox *box = NULL;
	const char *error = NULL;
	uint32_t uid;

	if (chroot(jail) < 0 || chdir("/") < 0)
		return 2;
	if (mail_storage_open(f->rootfd, &st, &error) < 0 ||
	    mailbox_open(st, "INBOX", &box, &error) != 1)
		return 3;
	if (mailbox_count(box) != 1 || mailbox_append(box, "x\n", 2, 0, 0, &uid, &error) < 0 ||
	    mailbox_sync(box, &error) < 0 || mailbox_count(box) != 2 ||
	    mailbox_get(box, 1)->uid != uid)
		return 4;
	mailbox_close(&box);
	mail_storage_close(&st);
	return 0;
}

static void test_index_in_chroot(void **state)
{
	struct fixture *f = *state;
	char jail[1024];
	int status;
	pid_t pid;

	if (geteuid() != 0)
		skip();
	test_fixture_open_inbox(f);
	mailbox_close(&f->box);
	PUT(f, "new/900.a.h", "a\n");
	snprintf(jail, sizeof(jail), "%s/jail", f->root);
	assert_int_equal(mkdir(jail, 0700), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(chrooted_session(f, jail));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(count_dir(f, "jail"), 0);
	/* the index written in the jail is the one a later session reads */
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), 2);
	assert_int_equal(mailbox_get(f->box, 0)->flags & ~MAIL_RECENT, 0);
}

static int chown_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return lchown(path, 65534, 65534);
}

/* A first sync in the jail, as an unprivileged user (as a worker is), big enough that building
 * the key index sorts more than SQLite keeps in memory: the sort spills to a temporary file,
 * which must go beside the index (the jail has no directory the worker may write). */
static void test_big_index_in_chroot(void **state)
{
	enum { FILES = 40000 };
	struct fixture *f = *state;
	char jail[1024], name[64];
	int status, curfd;
	pid_t pid;

	if (geteuid() != 0)
		skip();
	test_fixture_open_inbox(f);
	mailbox_close(&f->box);
	curfd = openat(f->rootfd, "cur", O_RDONLY | O_DIRECTORY);
	assert_true(curfd >= 0);
	for (int i = 0; i < FILES; i++) {
		int fd;

		snprintf(name, sizeof(name), "1700000000.M%dP77.a-rather-long-host-name:2,S", i);
		fd = openat(curfd, name, O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "x\n", 2), 2);
		close(fd);
	}
	close(curfd);
	snprintf(jail, sizeof(jail), "%s/jail", f->root);
	assert_int_equal(mkdir(jail, 0755), 0);
	assert_int_equal(nftw(f->root, chown_entry, 16, FTW_PHYS), 0);
	assert_int_equal(chown(jail, 0, 0), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct mail_storage *st = NULL;
		struct mailbox *box = NULL;
		const char *error = NULL;

		if (chroot(jail) < 0 || chdir("/") < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		if (mail_storage_open(f->rootfd, &st, &error) < 0 ||
		    mailbox_open(st, "INBOX", &box, &error) != 1)
			_exit(3);
		_exit(mailbox_count(box) == FILES ? 0 : 4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the sort's temporary files went beside the index, and are gone */
	{
		DIR *dir = opendir(f->root);
		struct dirent *d;

		assert_non_null(dir);
		while ((d = readdir(dir)) != NULL)
			assert_true(strncmp(d->d_name, "twofold.sort", 12) != 0);
		closedir(dir);
	}
	assert_int_equal(count_dir(f, "jail"), 0);
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), FILES);
}

/* Two processes syncing the same fresh deliveries at once agree on every UID. */
static void list_uids_n(struct fixture *f, const char *out, size_t expect)
{
	struct mail_storage *st = NULL;
	struct mailbox *box = NULL;
	const char *error = NULL;
	FILE *fp;

	if (mail_storage_open(f->rootfd, &st, &error) < 0 ||
	    mailbox_open(st, "INBOX", &box, &error) != 1 || (fp = fopen(out, "w")) == NULL)
		_exit(2);
	for (size_t i = 0; i < mailbox_count(box); i++)
		fprintf(fp, "%u %s\n", mailbox_get(box, i)->uid, mailbox_get(box, i)->uidl);
	_exit(fclose(fp) == 0 && mailbox_count(box) == expect ? 0 : 3);
}

static void list_uids(struct fixture *f, const char *out)
{
	list_uids_n(f, out, 300);
}

static void test_concurrent_sessions_agree(void **state)
{
	struct fixture *f = *state;
	char name[64], outs[2][1024], *texts[2];
	pid_t pids[2];
	int status;
	FILE *fp;

	test_fixture_open_inbox(f);
	mailbox_close(&f->box);
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "new/%d.c%d.h", 1000 + i, i);
		PUT(f, name, "m\n");
	}
	for (int p = 0; p < 2; p++) {
		snprintf(outs[p], sizeof(outs[p]), "%s/out%d", f->root, p);
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0)
			list_uids(f, outs[p]);
	}
	for (int p = 0; p < 2; p++) {
		long len;

		assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		fp = fopen(outs[p], "r");
		assert_non_null(fp);
		fseek(fp, 0, SEEK_END);
		len = ftell(fp);
		rewind(fp);
		texts[p] = xcalloc(1, (size_t)len + 1);
		assert_int_equal(fread(texts[p], 1, (size_t)len, fp), (size_t)len);
		fclose(fp);
	}
	assert_string_equal(texts[0], texts[1]);
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), 300);
	for (size_t i = 0; i < 300; i++)
		assert_int_equal(mailbox_get(f->box, i)->uid, i + 1);
	xfree(&texts[0]);
	xfree(&texts[1]);
}

/* A crash between an append's rename and its index commit leaves a file with ",U=" that the
 * index does not know: the next sync gives it that UID. A ",U=" below UIDNEXT that is already
 * taken (a copied file) gets a fresh UID instead. */
static void test_uid_from_name(void **state)
{
	struct fixture *f = *state;

	test_fixture_open_inbox(f);
	PUT(f, "new/1.a.h", "a\n");
	PUT(f, "new/2.b.h", "b\n");
	sync_box(f);
	assert_int_equal(mailbox_uidnext(f->box), 3);
	PUT(f, "cur/3.c.h,S=2,W=3,U=50:2,S", "c\n");
	PUT(f, "cur/4.d.h,S=2,W=3,U=1:2,", "d\n");
	sync_box(f);
	assert_int_equal(mailbox_count(f->box), 4);
	assert_int_equal(find_uidl(f, "3.c.h")->uid, 50);
	assert_int_equal(find_uidl(f, "3.c.h")->flags & ~MAIL_RECENT, MAIL_SEEN);
	assert_int_equal(find_uidl(f, "4.d.h")->uid, 3);
	assert_int_equal(mailbox_uidnext(f->box), 51);
	/* appended in UID order */
	assert_int_equal(mailbox_get(f->box, 2)->uid, 3);
	assert_int_equal(mailbox_get(f->box, 3)->uid, 50);
}

/* A first sync of many files inserts its rows in batches: files with ",U=" keep their UIDs
 * (checked against the rows inserted before them), the others get fresh UIDs above them in
 * name order, and the view is in UID order. */
/* kept files named with ",U=" (UID 1000 + 3 i), then fresh ones without, in cur/ */
static void put_kept_and_fresh(struct fixture *f, size_t kept, size_t fresh)
{
	char path[300];

	test_fixture_open_inbox(f);
	mailbox_close(&f->box);
	for (size_t i = 0; i < kept; i++) {
		snprintf(path, sizeof(path), "cur/%04zu.kept.h,S=2,W=3,U=%zu:2,S", i, 1000 + 3 * i);
		PUT(f, path, "k\n");
	}
	for (size_t i = 0; i < fresh; i++) {
		snprintf(path, sizeof(path), "cur/%04zu.fresh.h:2,", i);
		PUT(f, path, "f\n");
	}
}

/* kept files named with ",U=", then fresh ones; every round rebuilds the index. */
static void check_batched_rebuild(struct fixture *f, size_t kept, size_t fresh)
{
	char uidl[64];

	put_kept_and_fresh(f, kept, fresh);
	for (int round = 0; round < 2; round++) {
		test_fixture_remove_index(f);
		test_fixture_open_inbox(f);
		assert_int_equal(mailbox_count(f->box), kept + fresh);
		for (size_t i = 0; i < kept; i++) {
			const struct mail *m = mailbox_get(f->box, i);

			snprintf(uidl, sizeof(uidl), "%04zu.kept.h", i);
			assert_string_equal(m->uidl, uidl);
			assert_int_equal(m->uid, 1000 + 3 * i);
		}
		for (size_t i = 0; i < fresh; i++) {
			const struct mail *m = mailbox_get(f->box, kept + i);

			snprintf(uidl, sizeof(uidl), "%04zu.fresh.h", i);
			assert_string_equal(m->uidl, uidl);
			assert_true(m->uid > mailbox_get(f->box, kept + i - 1)->uid);
			assert_int_equal(sizes_of(f->box, kept + i).crlf_size, 3);
		}
		/* the next session finds every row by its key, UIDs unchanged */
		{
			uint32_t last = mailbox_get(f->box, kept + fresh - 1)->uid;

			test_fixture_open_inbox(f);
			assert_int_equal(mailbox_count(f->box), kept + fresh);
			assert_int_equal(mailbox_get(f->box, kept + fresh - 1)->uid, last);
			assert_int_equal(mailbox_uidnext(f->box), last + 1);
		}
	}
}

static void test_many_uids_batched(void **state)
{
	check_batched_rebuild(*state, 100, 150);
}

/* Fresh files get UIDs in delivery order: by the time their names start with, then by name
 * (700 files written in a scrambled order, many sharing a time: every merge level of the sort
 * and its ties are used). */
static void test_fresh_delivery_order(void **state)
{
	enum { N = 700 };
	struct fixture *f = *state;
	char path[300], uidl[64], prev[64] = "";

	test_fixture_open_inbox(f);
	mailbox_close(&f->box);
	for (size_t k = 0; k < N; k++) {
		size_t i = (k * 337) % N; /* 337 is prime to N: every i once */

		snprintf(path, sizeof(path), "cur/%zu.M%zuP1.h:2,", 1700000000 + (i * 7919) % 50,
		         (i * 104729) % 1000);
		PUT(f, path, "x\n");
	}
	test_fixture_remove_index(f);
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), N);
	for (size_t i = 0; i < N; i++) {
		const struct mail *m = mailbox_get(f->box, i);
		unsigned long t, pt;

		snprintf(uidl, sizeof(uidl), "%s", m->uidl);
		if (i > 0) {
			assert_true(m->uid > mailbox_get(f->box, i - 1)->uid);
			assert_int_equal(sscanf(uidl, "%lu", &t), 1);
			assert_int_equal(sscanf(prev, "%lu", &pt), 1);
			assert_true(pt < t || (pt == t && strcmp(prev, uidl) < 0));
		}
		memcpy(prev, uidl, sizeof(prev));
	}
}

/* KEPT files with ",U=" (1000 + 3 i) and FRESH without, in cur/, for the rebuild tests. */
enum { BULK_KEPT = 700, BULK_FRESH = 900 };

static void put_bulk_files(struct fixture *f)
{
	put_kept_and_fresh(f, BULK_KEPT, BULK_FRESH);
}

static off_t file_size(struct fixture *f, const char *name)
{
	struct stat stbuf;

	return fstatat(f->rootfd, name, &stbuf, 0) == 0 ? stbuf.st_size : -1;
}

static char *read_text(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *text;
	long len;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	rewind(fp);
	text = xcalloc(1, (size_t)len + 1);
	assert_int_equal(fread(text, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	return text;
}

/* The open view's "uid uidl" lines. */
static char *view_text(struct fixture *f)
{
	struct buf b;
	char line[128];
	char *text;

	buf_init(&b);
	for (size_t i = 0; i < mailbox_count(f->box); i++) {
		snprintf(line, sizeof(line), "%u %s\n", mailbox_get(f->box, i)->uid,
		         mailbox_get(f->box, i)->uidl);
		buf_append_str(&b, line);
	}
	buf_append(&b, "", 1);
	text = xstrdup(b.data);
	buf_free(&b);
	return text;
}

/* Two sessions rebuilding a big index at once (bulk load, each leaving without closing, as a
 * crash would): the same UIDs in both and in a third session. The bulk commit leaves its pages
 * in the synced WAL (no checkpoint before the caller can answer); the last close moves them
 * into the main file, which alone gives the same UIDs. */
static void test_bulk_rebuild_concurrent(void **state)
{
	struct fixture *f = *state;
	char outs[2][1024], *texts[2], *mine;
	pid_t pids[2];
	int status;

	put_bulk_files(f);
	test_fixture_remove_index(f);
	for (int p = 0; p < 2; p++) {
		snprintf(outs[p], sizeof(outs[p]), "%s/out%d", f->root, p);
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0)
			list_uids_n(f, outs[p], BULK_KEPT + BULK_FRESH);
	}
	for (int p = 0; p < 2; p++) {
		assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		texts[p] = read_text(outs[p]);
	}
	assert_string_equal(texts[0], texts[1]);
	assert_true(file_size(f, "twofold.index-wal") > 64 * 1024);
	test_fixture_open_inbox(f);
	mine = view_text(f);
	assert_string_equal(mine, texts[0]);
	for (size_t i = 0; i < BULK_KEPT; i++)
		assert_int_equal(mailbox_get(f->box, i)->uid, 1000 + 3 * i);
	mailbox_close(&f->box);
	mail_storage_close(&f->st);
	assert_true(file_size(f, "twofold.index-wal") <= 0);
	assert_true(file_size(f, "twofold.index") > 64 * 1024);
	test_fixture_open_inbox(f);
	xfree(&mine);
	mine = view_text(f);
	assert_string_equal(mine, texts[0]);
	xfree(&mine);
	xfree(&texts[0]);
	xfree(&texts[1]);
}

/* A rebuild killed at some point (SIGKILL after 0..64 ms): the next session finds a usable
 * index (or none) and never a torn one: every message, ,U= UIDs kept, UIDs ascending, the
 * same in the session after it, and SQLite's integrity check passes. */
static void test_bulk_rebuild_killed(void **state)
{
	static const unsigned delays_us[] = {0, 1000, 2000, 4000, 8000, 16000, 32000, 64000};
	struct fixture *f = *state;
	char out[1024], path[300], *first, *again;
	int status;

	put_bulk_files(f);
	snprintf(out, sizeof(out), "%s/out", f->root);
	for (size_t d = 0; d < sizeof(delays_us) / sizeof(delays_us[0]); d++) {
		pid_t pid;
		sqlite3 *db;
		sqlite3_stmt *st;

		test_fixture_remove_index(f);
		mail_storage_close(&f->st);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			list_uids_n(f, out, BULK_KEPT + BULK_FRESH);
		usleep(delays_us[d]);
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		test_fixture_open_inbox(f);
		assert_int_equal(mailbox_count(f->box), BULK_KEPT + BULK_FRESH);
		for (size_t i = 0; i < BULK_KEPT + BULK_FRESH; i++) {
			if (i < BULK_KEPT)
				assert_int_equal(mailbox_get(f->box, i)->uid, 1000 + 3 * i);
			if (i > 0)
				assert_true(mailbox_get(f->box, i)->uid >
				            mailbox_get(f->box, i - 1)->uid);
		}
		first = view_text(f);
		test_fixture_open_inbox(f);
		again = view_text(f);
		assert_string_equal(first, again);
		snprintf(path, sizeof(path), "%s/twofold.index", f->root);
		assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
		                 SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
		                 SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
		sqlite3_finalize(st);
		sqlite3_close(db);
		xfree(&first);
		xfree(&again);
	}
}

/* The uid of key through the unique key index (forced), 0 when absent. */
static uint32_t key_index_uid(sqlite3 *db, const char *key)
{
	sqlite3_stmt *st;
	uint32_t uid = 0;

	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT uid FROM msg INDEXED BY msg_key WHERE key = ?",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		uid = (uint32_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return uid;
}

/* A rebuild big enough to load the empty table without its key index (re-created at the end
 * of the same transaction): the ,U= UIDs are kept, the index is whole and unique, and a
 * second session and a delivery find every key. */
static void test_bulk_rebuild_key_index(void **state)
{
	enum { KEPT = 1100, FRESH = 500 };
	struct fixture *f = *state;
	const char *error = NULL;
	char path[300], key[64];
	sqlite3 *db;
	sqlite3_stmt *st;

	check_batched_rebuild(f, KEPT, FRESH);
	snprintf(path, sizeof(path), "%s/twofold.index", f->root);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	for (size_t i = 0; i < KEPT + FRESH; i++) {
		const struct mail *m = mailbox_get(f->box, i);

		snprintf(key, sizeof(key), i < KEPT ? "%04zu.kept.h" : "%04zu.fresh.h",
		         i < KEPT ? i : i - KEPT);
		assert_int_equal(key_index_uid(db, key), m->uid);
	}
	/* unique: a second row with a present key is refused */
	assert_int_not_equal(sqlite3_exec(db,
	                                  "INSERT INTO msg (uid, key, size, vsize, date)"
	                                  " VALUES (999999, '0000.kept.h', 1, 1, 1)",
	                                  NULL, NULL, NULL),
	                     SQLITE_OK);
	sqlite3_close(db);
	/* a delivery is looked up and added by key */
	PUT(f, "new/zz.delivered.h", "d\n");
	assert_int_equal(mailbox_sync(f->box, &error), 0);
	assert_int_equal(mailbox_count(f->box), KEPT + FRESH + 1);
	assert_string_equal(mailbox_get(f->box, KEPT + FRESH)->uidl, "zz.delivered.h");
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), KEPT + FRESH + 1);
}

/* A new session on a mailbox whose index has rows finds 5,000 new files in cur/: the listing
 * is reordered with the indexed entries behind the new ones, and the view has both, the old
 * UIDs kept and the new ones above them. */
static void test_big_listing_with_indexed_entries(void **state)
{
	enum { OLD = 100, NEW = 5000 };
	struct fixture *f = *state;
	uint32_t old_uid[OLD];
	char path[300];

	test_fixture_open_inbox(f);
	for (size_t i = 0; i < OLD; i++) {
		snprintf(path, sizeof(path), "cur/%04zu.old.h:2,S", i);
		PUT(f, path, "o\n");
	}
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), OLD);
	for (size_t i = 0; i < OLD; i++)
		old_uid[i] = mailbox_get(f->box, i)->uid;
	mailbox_close(&f->box);
	for (size_t i = 0; i < NEW; i++) {
		snprintf(path, sizeof(path), "cur/%04zu.new.h:2,", i);
		PUT(f, path, "nn\n");
	}
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), OLD + NEW);
	for (size_t i = 0; i < OLD; i++) {
		snprintf(path, sizeof(path), "%04zu.old.h", i);
		assert_string_equal(mailbox_get(f->box, i)->uidl, path);
		assert_int_equal(mailbox_get(f->box, i)->uid, old_uid[i]);
		assert_int_equal(mailbox_get(f->box, i)->flags & MAIL_SEEN, MAIL_SEEN);
	}
	for (size_t i = 0; i < NEW; i += 250) {
		snprintf(path, sizeof(path), "%04zu.new.h", i);
		assert_string_equal(mailbox_get(f->box, OLD + i)->uidl, path);
		assert_true(mailbox_get(f->box, OLD + i)->uid > old_uid[OLD - 1]);
		assert_int_equal(sizes_of(f->box, OLD + i).crlf_size, 4);
		assert_int_equal(sizes_of(f->box, i % OLD).crlf_size, 3);
	}
}

/* A listing big enough to be reordered before it is indexed (SCAN_REORDER_MIN in scan-order.c):
 * UIDs, flags, names (files opened and renamed through them) and sizes come out right, and
 * later syncs of that view and a new session work on it. */
static void test_big_listing_reordered(void **state)
{
	enum { KEPT = 2500, FRESH = 2500 };
	struct fixture *f = *state;
	const char *error = NULL;
	char path[300];
	size_t i;

	check_batched_rebuild(f, KEPT, FRESH);
	test_fixture_remove_index(f);
	test_fixture_open_inbox(f);
	for (i = 0; i < KEPT + FRESH; i += 97) {
		const struct mail *m = mailbox_get(f->box, i);

		assert_int_equal(m->flags & MAIL_SEEN, i < KEPT ? MAIL_SEEN : 0);
		assert_int_equal(sizes_of(f->box, i).crlf_size, 3);
	}
	/* a flag change renames the file through the view's name */
	i = KEPT + 1234;
	assert_int_equal(mailbox_set_flags(f->box, i, MAIL_FLAGGED, 0, &error), 1);
	assert_true(test_fixture_exists(f, "cur/1234.fresh.h:2,F"));
	/* a delivery and an outside rename are picked up by the next sync */
	PUT(f, "new/zz.delivered.h", "d\n");
	set_info(f, "0007.kept.h", ":2,ST");
	sync_box(f);
	assert_int_equal(mailbox_count(f->box), KEPT + FRESH + 1);
	assert_int_equal(find_uidl(f, "0007.kept.h")->flags & MAIL_DELETED, MAIL_DELETED);
	assert_int_equal(find_uidl(f, "zz.delivered.h")->uid,
	                 mailbox_get(f->box, KEPT + FRESH - 1)->uid + 1);
	/* another session sees the same */
	snprintf(path, sizeof(path), "%u", mailbox_get(f->box, KEPT + 1234)->uid);
	test_fixture_open_inbox(f);
	assert_int_equal(mailbox_count(f->box), KEPT + FRESH + 1);
	assert_int_equal(find_uidl(f, "1234.fresh.h")->flags & MAIL_FLAGGED, MAIL_FLAGGED);
	assert_int_equal(find_uidl(f, "1234.fresh.h")->uid, (uint32_t)strtoul(path, NULL, 10));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_tmp_clean_by_ctime, setup, teardown),
	    cmocka_unit_test(test_name_parse),
	    cmocka_unit_test_setup_teardown(test_delivery_moved_to_cur, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flags_parsed_and_set, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crlf_sizes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crlf_sizes_many, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lazy_size_persisted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lazy_size_vanished_or_renamed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_without_size_reads_nothing, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_uidl_stable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uids_persistent_monotonic, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_external_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expunge_removes_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lock_exclusive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_append, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_append_stores_lf, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_path_escape_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delivery_during_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_index_rebuilt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_index_in_chroot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_big_index_in_chroot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_sessions_agree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uid_from_name, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_uids_batched, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bulk_rebuild_key_index, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fresh_delivery_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bulk_rebuild_concurrent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bulk_rebuild_killed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_big_listing_reordered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_big_listing_with_indexed_entries, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
