/* The portal's own request parsing: urlencoded forms and the Cookie header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/portal/portal-form.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *s, struct portal_form *f)
{
	return portal_form_parse(s, strlen(s), f);
}

static void test_form_fields(void **state)
{
	struct portal_form f;

	assert_int_equal(parse("user=alice&password=p%40ss+w%C3%B6rd&code=&flag", &f), 0);
	assert_int_equal(f.count, 4);
	assert_string_equal(portal_form_get(&f, "user"), "alice");
	assert_string_equal(portal_form_get(&f, "password"), "p@ss w\xc3\xb6rd");
	assert_string_equal(portal_form_get(&f, "code"), "");
	assert_string_equal(portal_form_get(&f, "flag"), "");
	assert_null(portal_form_get(&f, "other"));
	portal_form_free(&f);
	assert_int_equal(f.count, 0);
	/* empty pieces are skipped; an empty body is an empty form */
	assert_int_equal(parse("&&a=1&&", &f), 0);
	assert_int_equal(f.count, 1);
	portal_form_free(&f);
	assert_int_equal(parse("", &f), 0);
	assert_int_equal(f.count, 0);
}

static void test_form_refused(void **state)
{
	static const char *const bad[] = {
	    "a=%zz",         /* bad escape */
	    "a=%4",          /* cut escape */
	    "a=%",           /* cut escape */
	    "a=x%00y",       /* a NUL */
	    "a=%0a",         /* a control character */
	    "a=%ff",         /* not UTF-8 */
	    "a=1&a=2",       /* a name twice */
	    "=x",            /* no name */
	    "b%20c=1",       /* a name with a space */
	    "a.b=1",         /* a name with a dot */
	};
	struct portal_form f;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &f), -1);
		assert_int_equal(f.count, 0);
	}
}

static void test_form_bounds(void **state)
{
	char *s = malloc(4 * PORTAL_FORM_VALUE_MAX);
	struct portal_form f;
	size_t n = 0;

	/* PORTAL_FORM_FIELDS fields do, one more does not */
	for (int i = 0; i < PORTAL_FORM_FIELDS; i++)
		n += (size_t)sprintf(s + n, "f%d=1&", i);
	assert_int_equal(portal_form_parse(s, n, &f), 0);
	portal_form_free(&f);
	n += (size_t)sprintf(s + n, "extra=1");
	assert_int_equal(portal_form_parse(s, n, &f), -1);
	/* the longest value does, one byte more does not (also when escaped) */
	memcpy(s, "v=", 2);
	memset(s + 2, 'x', PORTAL_FORM_VALUE_MAX + 1);
	assert_int_equal(portal_form_parse(s, 2 + PORTAL_FORM_VALUE_MAX, &f), 0);
	portal_form_free(&f);
	assert_int_equal(portal_form_parse(s, 3 + PORTAL_FORM_VALUE_MAX, &f), -1);
	n = 2;
	for (int i = 0; i <= PORTAL_FORM_VALUE_MAX; i++)
		n += (size_t)sprintf(s + n, "%%41");
	assert_int_equal(portal_form_parse(s, n, &f), -1);
	/* a 33-byte name is too long */
	assert_int_equal(parse("abcdefghijklmnopqrstuvwxyz0123456=1", &f), -1);
	free(s);
}

/* The parser never reads past len: a form cut anywhere parses as its prefix does. */
static void test_form_prefixes(void **state)
{
	const char *s = "user=bob&password=a%2Bb&code=123+456";
	struct portal_form f;

	for (size_t len = 0; len <= strlen(s); len++) {
		char *copy = malloc(len);

		memcpy(copy, s, len); /* no NUL after it: ASan sees any overread */
		if (portal_form_parse(copy, len, &f) == 0)
			portal_form_free(&f);
		free(copy);
	}
	assert_int_equal(parse(s, &f), 0);
	assert_string_equal(portal_form_get(&f, "code"), "123 456");
	portal_form_free(&f);
}

/* A code typed as apps show it loses its spaces; a long one is cut, never overrun. */
static void test_form_code(void **state)
{
	char out[8];

	(void)state;
	portal_form_code("123 456", out, sizeof(out));
	assert_string_equal(out, "123456");
	portal_form_code(" 1 2 ", out, sizeof(out));
	assert_string_equal(out, "12");
	portal_form_code("1234 5678 9", out, sizeof(out));
	assert_string_equal(out, "1234567");
	portal_form_code("", out, sizeof(out));
	assert_string_equal(out, "");
}

static void test_cookie(void **state)
{
	char out[64];

	assert_int_equal(portal_cookie_get("a=1; __Host-twofold=abc_-9; b=2", "__Host-twofold", out,
	                                   sizeof(out)),
	                 1);
	assert_string_equal(out, "abc_-9");
	assert_int_equal(portal_cookie_get("__Host-twofold=x ", "__Host-twofold", out, sizeof(out)),
	                 1);
	assert_string_equal(out, "x");
	assert_int_equal(portal_cookie_get("a=1;b=2", "__Host-twofold", out, sizeof(out)), 0);
	assert_int_equal(portal_cookie_get("x__Host-twofold=1", "__Host-twofold", out, sizeof(out)),
	                 0);
	/* twice (a cookie planted beside ours) or too long: refused */
	assert_int_equal(portal_cookie_get("__Host-twofold=a; __Host-twofold=b", "__Host-twofold",
	                                   out, sizeof(out)),
	                 -1);
	assert_int_equal(portal_cookie_get("__Host-twofold=0123456789", "__Host-twofold", out, 10),
	                 -1);
	assert_int_equal(portal_cookie_get("", "__Host-twofold", out, sizeof(out)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_form_fields), cmocka_unit_test(test_form_refused),
	    cmocka_unit_test(test_form_bounds), cmocka_unit_test(test_form_prefixes),
	    cmocka_unit_test(test_cookie), cmocka_unit_test(test_form_code),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
