/* Unit tests for THREAD (server/imap/imap-thread.c): ORDEREDSUBJECT and REFERENCES on
 * messages given by their keys, rendered exactly as RFC 5256 writes threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "server/imap/imap-sort.h"
#include "server/imap/imap-thread.h"

#include <stdio.h>
#include <string.h>

/* One message: its date, Message-ID, References and Subject (reply: the subject said so). */
struct tmsg {
	time_t date;
	const char *id, *refs, *subject;
	bool reply;
};

static void check(enum imap_thread_algorithm alg, const struct tmsg *m, size_t n,
                  const char *want)
{
	struct imap_sort_keys *keys = xcalloc(n, sizeof(*keys));
	struct imap_thread_msg *msgs = xcalloc(n, sizeof(*msgs));
	struct buf out;

	for (size_t i = 0; i < n; i++) {
		for (int t = 0; t < SORT_TEXT_COUNT; t++)
			keys[i].text[t] = xstrdup("");
		xfree(&keys[i].text[SORT_TEXT_SUBJECT]);
		xfree(&keys[i].text[SORT_TEXT_MESSAGE_ID]);
		xfree(&keys[i].text[SORT_TEXT_REFERENCES]);
		keys[i].text[SORT_TEXT_SUBJECT] = xstrdup(m[i].subject);
		keys[i].text[SORT_TEXT_MESSAGE_ID] = xstrdup(m[i].id);
		keys[i].text[SORT_TEXT_REFERENCES] = xstrdup(m[i].refs);
		keys[i].reply = m[i].reply;
		msgs[i] = (struct imap_thread_msg){.number = (uint32_t)i + 1, .date = m[i].date,
		                                   .keys = &keys[i]};
	}
	buf_init(&out);
	imap_thread_render(alg, msgs, n, &out);
	if (strcmp(out.len > 0 ? out.data : "", want) != 0)
		fail_msg("threads %s, want %s", out.len > 0 ? out.data : "", want);
	buf_free(&out);
	for (size_t i = 0; i < n; i++)
		imap_sort_keys_clear(&keys[i]);
	xfree(&keys);
	xfree(&msgs);
}

static void test_ordered_subject(void **state)
{
	const struct tmsg m[] = {
	    {10, "", "", "A", false}, {20, "", "", "B", false}, {30, "", "", "a", true},
	    {40, "", "", "A", false}, {5, "", "", "C", false},  {30, "", "", "A", false},
	};

	(void)state;
	/* A's thread: 1 first, then 3 and 6 (same date: mailbox order) and 4 */
	check(IMAP_THREAD_ORDEREDSUBJECT, m, 6, "(5)(1 (3)(6)(4))(2)");
	check(IMAP_THREAD_ORDEREDSUBJECT, m, 2, "(1)(2)");
	check(IMAP_THREAD_ORDEREDSUBJECT, m, 0, "");
	check(IMAP_THREAD_ORDEREDSUBJECT, (const struct tmsg[]){{1, "", "", "x", false},
	                                                        {2, "", "", "x", false}},
	      2, "(1 2)");
}

static void test_references(void **state)
{
	const struct tmsg m[] = {
	    {1, "a", "", "Hello", false},
	    {2, "b", "a", "Hello", true},
	    {3, "c", "a b", "Hello", true},
	    {4, "d", "a", "Hello", true},
	    {5, "e", "x", "Other", false},     /* its parent is missing: a thread of its own */
	    {6, "f", "y", "Another", false},   /* two replies to a missing message: */
	    {7, "g", "y", "Another", true},    /* a dummy at the top keeps them together */
	    {8, "h", "", "Hello", true},       /* no references, a "Re:" subject: below 1 */
	};

	(void)state;
	check(IMAP_THREAD_REFERENCES, m, 8, "(1 (2 3)(4)(8))(5)((6)(7))");
}

static void test_references_edge_cases(void **state)
{
	(void)state;
	/* a loop in the references is not made */
	check(IMAP_THREAD_REFERENCES,
	      (const struct tmsg[]){{1, "a", "b", "x", false}, {2, "b", "a", "y", false}}, 2,
	      "(2 1)");
	/* a second message with a taken Message-ID is a message of its own */
	check(IMAP_THREAD_REFERENCES,
	      (const struct tmsg[]){{1, "a", "", "x", false},
	                            {2, "a", "", "y", false},
	                            {3, "c", "a", "z", false}},
	      3, "(1 3)(2)");
	/* the last reference is the parent, over a link an earlier (truncated) list made */
	check(IMAP_THREAD_REFERENCES,
	      (const struct tmsg[]){{1, "a", "", "s1", false},
	                            {2, "b", "", "s2", false},
	                            {3, "c", "a", "s3", false},
	                            {4, "d", "b c", "s4", false}},
	      4, "(1 3 4)(2)");
	/* same subject, neither a reply: both under a new dummy */
	check(IMAP_THREAD_REFERENCES,
	      (const struct tmsg[]){{2, "a", "", "Same", false}, {1, "b", "", "same", false}}, 2,
	      "((2)(1))");
	/* a message that refers to itself */
	check(IMAP_THREAD_REFERENCES, (const struct tmsg[]){{1, "a", "a", "s", false}}, 1, "(1)");
	/* no Message-ID, no subject: each alone, by date */
	check(IMAP_THREAD_REFERENCES,
	      (const struct tmsg[]){{9, "", "", "", false}, {3, "", "", "", false}}, 2, "(2)(1)");
}

/* A reply chain thousands deep is threaded and written without deep recursion. */
static void test_deep_chain(void **state)
{
	enum { N = 20000 };
	struct tmsg *m = xcalloc(N, sizeof(*m));
	char (*ids)[16] = xcalloc(N, sizeof(*ids));
	struct buf want;

	(void)state;
	buf_init(&want);
	buf_append_str(&want, "(");
	for (size_t i = 0; i < N; i++) {
		snprintf(ids[i], sizeof(ids[i]), "m%zu", i);
		m[i] = (struct tmsg){(time_t)i, ids[i], i > 0 ? ids[i - 1] : "", "deep", i > 0};
		buf_printf(&want, "%s%zu", i > 0 ? " " : "", i + 1);
	}
	buf_append_str(&want, ")");
	check(IMAP_THREAD_REFERENCES, m, N, want.data);
	check(IMAP_THREAD_ORDEREDSUBJECT, m, 3, "(1 (2)(3))");
	buf_free(&want);
	xfree(&m);
	xfree(&ids);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ordered_subject),
	    cmocka_unit_test(test_references),
	    cmocka_unit_test(test_references_edge_cases),
	    cmocka_unit_test(test_deep_chain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
