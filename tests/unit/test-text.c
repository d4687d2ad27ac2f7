/* UTF-8 and control-byte checks on untrusted input */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/text.h"

#include <string.h>

#define U(s) text_is_utf8(s, sizeof(s) - 1)

static void test_utf8(void **state)
{
	assert_true(U(""));
	assert_true(U("plain ascii"));
	assert_true(U("gr\xc3\xbc\xc3\x9f"
	              "e"));                 /* grüße */
	assert_true(U("\xe2\x82\xac"));      /* € */
	assert_true(U("\xf0\x9f\x94\x91"));  /* 🔑 */
	assert_true(U("\xf4\x8f\xbf\xbf"));  /* U+10FFFF */
	assert_false(U("\xc3"));             /* truncated */
	assert_false(U("\xe2\x82"));         /* truncated */
	assert_false(U("\x80"));             /* lone continuation */
	assert_false(U("\xc0\xaf"));         /* overlong '/' */
	assert_false(U("\xe0\x80\xaf"));     /* overlong */
	assert_false(U("\xed\xa0\x80"));     /* surrogate D800 */
	assert_false(U("\xf4\x90\x80\x80")); /* > U+10FFFF */
	assert_false(U("\xff"));
	assert_false(U("ok\xc3(")); /* bad continuation */
}

static void test_controls(void **state)
{
	assert_true(text_has_no_controls("abc def", 7));
	assert_false(text_has_no_controls("a\nb", 3));
	assert_false(text_has_no_controls("a\rb", 3));
	assert_false(text_has_no_controls("a\0b", 3));
	assert_false(text_has_no_controls("a\x7f", 2));
	assert_false(text_has_no_controls("\t", 1));
}

static void test_sane(void **state)
{
	assert_true(text_is_sane("alice", 5, 255));
	assert_false(text_is_sane("", 0, 255));
	assert_false(text_is_sane("alice", 5, 4));
	assert_false(text_is_sane("al\x01"
	                          "ce",
	                          5, 255));
	assert_false(text_is_sane("al\xc3", 3, 255));
	/* C1 controls in UTF-8 (U+009B is CSI: terminals act on it; U+0085 is a line break) */
	assert_false(text_is_sane("bob\xc2\x9b"
	                          "2J",
	                          7, 255));
	assert_false(text_is_sane("a\xc2\x85\x62", 4, 255));
	assert_false(text_is_sane("\xc2\x80", 2, 255));
	/* the printable neighbours stay allowed: U+00A0, U+00E9, U+0100 */
	assert_true(text_is_sane("\xc2\xa0\xc3\xa9\xc4\x80", 6, 255));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_controls),
	    cmocka_unit_test(test_sane),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
