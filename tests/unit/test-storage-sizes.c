/* Storage, message sizes: the size and CRLF size of each message, measured by the sync or when
 * first asked for and then kept in the index, and STATUS with and without SIZE. Real maildirs in
 * a temp dir, real SQLite index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/test-storage-fixture.h"

#include "common/xalloc.h"
#include "storage/storage.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	test_fixture_sync(f->box);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sizes = test_fixture_uidl_sizes(f, cases[i].name);
		assert_int_equal(sizes.size, cases[i].len);
		assert_int_equal(sizes.crlf_size, cases[i].crlf);
	}
	sizes = test_fixture_uidl_sizes(f, "206.chunk.h");
	assert_int_equal(sizes.size, big_len);
	assert_int_equal(sizes.crlf_size, big_len);
	assert_int_equal(test_fixture_uidl_sizes(f, "207.w.h").crlf_size, 99);

	/* computed once, then cached in the index: a second session does not rescan */
	test_fixture_cur_name(f, "200.lf.h", name, sizeof(name));
	snprintf(path, sizeof(path), "cur/%s", name);
	test_fixture_put(f, path, "a\nb\nc\nd\n", 8);
	test_fixture_open_inbox(f);
	sizes = test_fixture_uidl_sizes(f, "200.lf.h");
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
			struct mail_sizes sizes = test_fixture_sizes(f->box, i);

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
	test_fixture_sync(f->box);
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
	test_fixture_sync(f->box);
	test_fixture_unlink_key(f, "600.gone.h");
	test_fixture_set_info(f, "601.moved.h", ":2,FS");
	assert_int_equal(
	    mailbox_msg_sizes(f->box, test_fixture_find_index(f, "600.gone.h"), &sizes, &error), 0);
	assert_true(mailbox_msg_gone(f->box, test_fixture_find_index(f, "600.gone.h")));
	sizes = test_fixture_uidl_sizes(f, "601.moved.h");
	assert_int_equal(sizes.size, 6);
	assert_int_equal(sizes.crlf_size, 7);
	assert_int_equal(mailbox_measure_all(f->box, &error), 0);
	assert_int_equal(test_fixture_uidl_sizes(f, "602.stays.h").crlf_size, 7);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_crlf_sizes, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_crlf_sizes_many, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_lazy_size_persisted, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_lazy_size_vanished_or_renamed, test_fixture_setup,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_status_without_size_reads_nothing,
	                                    test_fixture_setup, test_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
