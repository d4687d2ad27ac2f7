/* The strings of a mailbox view's messages (storage/msg-strings.c): all in the view's name
 * pool, whose dead bytes (names replaced by flag changes, messages expunged) are dropped by
 * copying the live strings into a fresh pool. Real maildirs in a temp dir, real SQLite; the
 * view's records are read through storage's internal header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tests/unit/test-storage-fixture.h"

#include "storage/name-pool-test.h"
#include "storage/storage-private.h"

#include <stdio.h>
#include <string.h>

#define BIG_VIEW 1000
#define SWEEPS   50
#define MIXED    300

/* Pool bytes a view may hold per live byte of its strings, plus the pool's first chunk. */
#define POOL_BOUND_FACTOR 4
#define POOL_BOUND_SLACK  ((size_t)16 << 10)

struct expect {
	uint32_t uid;
	char key[160];
	char uidl[80];
};

/* The key of message i: mostly a plain maildir base; with mixed, every tenth is too long for
 * a UIDL and every tenth but one has an 8-bit byte (both get a hashed UIDL). */
static void key_of(size_t i, bool mixed, char *out, size_t size)
{
	if (mixed && i % 10 == 0)
		snprintf(out, size, "1700000000.M%zuP1.%0100zu", i, i);
	else if (mixed && i % 10 == 1)
		snprintf(out, size, "1700000000.M%zuP1.h\xc3\xa9st", i);
	else
		snprintf(out, size, "1700000000.M%zuP1.host", i);
}

/* count messages in cur/ (sizes in their names: nothing is read). */
static void put_messages(struct fixture *f, const char *dir, size_t first, size_t count, bool mixed)
{
	for (size_t i = first; i < first + count; i++) {
		char key[160], rel[256];

		key_of(i, mixed, key, sizeof(key));
		snprintf(rel, sizeof(rel), "%s/%s,S=5,W=6%s", dir, key,
		         strcmp(dir, "cur") == 0 ? ":2," : "");
		test_fixture_put(f, rel, "abcd\n", 5);
	}
}

/* Bytes the view's strings need: key, name and a uidl of its own. */
static size_t live_bytes(const struct mailbox *box)
{
	size_t n = 0;

	for (size_t i = 0; i < box->count; i++) {
		const struct msg_rec *m = &box->msgs[i];

		n += strlen(m->key) + 1 + strlen(m->name) + 1;
		if (m->mail.uidl != m->key)
			n += strlen(m->mail.uidl) + 1;
	}
	return n;
}

static void assert_bounded(const struct mailbox *box)
{
	size_t held = name_pool_size(box->names), live = live_bytes(box);

	if (held > POOL_BOUND_FACTOR * live + POOL_BOUND_SLACK)
		fail_msg("pool holds %zu bytes for %zu live", held, live);
}

/* The uidl each message of box has, by UID, as the expectation of later checks. */
static struct expect *expect_of(const struct mailbox *box)
{
	struct expect *x = xcalloc(box->count + 1, sizeof(*x));

	for (size_t i = 0; i < box->count; i++) {
		const struct msg_rec *m = &box->msgs[i];

		x[i].uid = m->mail.uid;
		snprintf(x[i].key, sizeof(x[i].key), "%s", m->key);
		snprintf(x[i].uidl, sizeof(x[i].uidl), "%s", m->mail.uidl);
	}
	return x;
}

/* Every message of box has the key and uidl x lists for its UID, and the name its file has in
 * cur/. */
static void check_strings(struct fixture *f, const struct mailbox *box, const struct expect *x,
                          size_t xcount)
{
	size_t j = 0;

	for (size_t i = 0; i < box->count; i++) {
		const struct msg_rec *m = &box->msgs[i];
		char name[512];

		while (j < xcount && x[j].uid < m->mail.uid)
			j++;
		assert_true(j < xcount && x[j].uid == m->mail.uid);
		assert_string_equal(m->key, x[j].key);
		assert_string_equal(m->mail.uidl, x[j].uidl);
		assert_true(test_fixture_find_name(f, "cur", m->key, name, sizeof(name)));
		assert_string_equal(m->name, name);
	}
}

/* Sets (odd sweep) or clears \Seen on every message of box, as one STORE does. */
static void sweep(struct mailbox *box, int n)
{
	const char *error = NULL;

	assert_int_equal(mailbox_changes_begin(box, &error), 0);
	for (size_t i = 0; i < box->count; i++) {
		assert_int_equal(
		    mailbox_set_flags(box, i, n % 2 ? MAIL_SEEN : 0, n % 2 ? 0 : MAIL_SEEN, &error),
		    1);
	}
	assert_int_equal(mailbox_changes_commit(box, &error), 0);
}

/* Sweeps box until its pool is replaced (at most 8 sweeps). */
static void sweep_until_compacted(struct mailbox *box)
{
	for (int n = 1; n <= 8; n++) {
		const struct name_pool *before = box->names;

		sweep(box, n);
		test_fixture_sync(box);
		if (box->names != before)
			return;
	}
	fail_msg("8 flag sweeps and the pool was never compacted");
}

/* A session that flips every flag 50 times, and one that only watches (an IDLE), keep their
 * pools within a small multiple of the bytes their strings need. */
static void test_flag_sweeps_bounded(void **state)
{
	struct fixture *f = *state;
	struct mailbox *idle;
	struct expect *x;

	put_messages(f, "cur", 0, BIG_VIEW, false);
	f->box = test_fixture_open_box(f, "INBOX", false);
	idle = test_fixture_open_box(f, "INBOX", false);
	assert_int_equal(mailbox_count(f->box), BIG_VIEW);
	for (int n = 1; n <= SWEEPS; n++) {
		sweep(f->box, n);
		test_fixture_sync(f->box);
		test_fixture_sync(idle);
		assert_bounded(f->box);
		assert_bounded(idle);
		assert_int_equal(mailbox_get(idle, BIG_VIEW - 1)->flags & MAIL_SEEN,
		                 n % 2 ? MAIL_SEEN : 0);
	}
	x = expect_of(f->box);
	check_strings(f, f->box, x, BIG_VIEW);
	check_strings(f, idle, x, BIG_VIEW);
	xfree(&x);
	mailbox_close(&idle);
}

/* A compaction keeps every key, name and uidl: plain keys (uidl the key itself), keys hashed
 * for their UIDL, strings of the listing the view was built from and strings copied in later;
 * so does the one an expunge of most messages starts. */
static void test_compaction_keeps_strings(void **state)
{
	struct fixture *f = *state;
	bool *remove = xcalloc(MIXED + 10, sizeof(*remove));
	const struct name_pool *before;
	const char *error = NULL;
	struct expect *x;
	size_t hashed = 0;

	put_messages(f, "cur", 0, MIXED, true);
	f->box = test_fixture_open_box(f, "INBOX", false);
	put_messages(f, "new", MIXED, 10, true);
	test_fixture_sync(f->box);
	assert_int_equal(mailbox_count(f->box), MIXED + 10);
	x = expect_of(f->box);
	for (size_t i = 0; i < MIXED + 10; i++) {
		if (strcmp(x[i].uidl, x[i].key) != 0) {
			assert_int_equal(strlen(x[i].uidl), MAILDIR_UIDL_HASH_LEN);
			hashed++;
		}
	}
	assert_int_equal(hashed, (MIXED + 10) / 5);

	sweep_until_compacted(f->box);
	check_strings(f, f->box, x, MIXED + 10);
	for (size_t i = 0; i < MIXED + 10; i++)
		remove[i] = i % 3 != 0;
	before = f->box->names;
	assert_int_equal(mailbox_expunge(f->box, remove, &error), 0);
	assert_ptr_not_equal(f->box->names, before);
	assert_int_equal(mailbox_count(f->box), (MIXED + 10 + 2) / 3);
	check_strings(f, f->box, x, MIXED + 10);
	xfree(&x);
	xfree(&remove);
}

/* A mailbox taken over from Dovecot: every message has a UIDL of its own (UID and
 * UIDVALIDITY), which a compaction keeps. */
static void test_dovecot_uidls_survive_compaction(void **state)
{
	static const char uidlist[] = "3 V1733000000 N1\n";
	struct fixture *f = *state;
	struct expect *x;

	test_fixture_put(f, "dovecot-uidlist", uidlist, sizeof(uidlist) - 1);
	put_messages(f, "cur", 0, MIXED, false);
	f->box = test_fixture_open_box(f, "INBOX", false);
	x = expect_of(f->box);
	for (size_t i = 0; i < MIXED; i++) {
		char want[20];

		snprintf(want, sizeof(want), "%08x%08x", x[i].uid, 1733000000u);
		assert_string_equal(x[i].uidl, want);
	}
	sweep_until_compacted(f->box);
	check_strings(f, f->box, x, MIXED);
	xfree(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_flag_sweeps_bounded, test_fixture_setup_storage,
	                                    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_compaction_keeps_strings,
	                                    test_fixture_setup_storage, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_dovecot_uidls_survive_compaction,
	                                    test_fixture_setup_storage, test_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
