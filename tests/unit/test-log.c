/* Logging: what reaches stderr (or syslog) is one line a terminal shows as it is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs log_info("<prefix><arg>") with stderr sent to a file; returns what was written. */
static char *logged(const char *prefix, const char *arg)
{
	char path[] = "/tmp/twofold-test-log-XXXXXX", *out = calloc(1, 4096);
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	FILE *f;

	assert_true(fd >= 0 && saved >= 0 && out != NULL);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	log_init("test", true);
	log_info("%s%s", prefix, arg);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	f = fdopen(fd, "r");
	rewind(f);
	assert_true(fread(out, 1, 4095, f) > 0);
	fclose(f);
	unlink(path);
	return out;
}

static void test_controls_masked(void **state)
{
	char *line;

	(void)state;
	/* C0 controls, DEL, and C1 controls in UTF-8 (U+009B CSI, U+0085 NEL) */
	line = logged("imap id name=", "a\r\nb\x1b[2J\x7f"
	                               "c\xc2\x9b"
	                               "31md\xc2\x85"
	                               "e");
	assert_non_null(strstr(line, "imap id name=a??b?[2J?c??31md??e\n"));
	assert_null(strchr(line, '\x1b'));
	assert_null(strstr(line, "\xc2\x9b"));
	assert_null(strstr(line, "\xc2\x85"));
	assert_int_equal(strchr(line, '\n') - line, (long)strlen(line) - 1);
	free(line);
	/* printable UTF-8 passes unchanged */
	line = logged("name=", "J\xc3\xa9r\xc3\xb4me \xc2\xa0x");
	assert_non_null(strstr(line, "name=J\xc3\xa9r\xc3\xb4me \xc2\xa0x\n"));
	free(line);
}

static void test_quote_plain_tokens_unchanged(void **state)
{
	(void)state;
	assert_string_equal(log_quote("alice"), "alice");
	assert_string_equal(log_quote("bob.smith+tag@example.org"), "bob.smith+tag@example.org");
	assert_string_equal(log_quote("2001:db8::1/64"), "2001:db8::1/64");
	assert_string_equal(log_quote("Thunderbird_115-x"), "Thunderbird_115-x");
}

static void test_quote_escapes(void **state)
{
	(void)state;
	/* a space or '=' could start a forged field: quoted */
	assert_string_equal(log_quote("a ip=192.0.2.1"), "\"a ip=192.0.2.1\"");
	assert_string_equal(log_quote("x=y"), "\"x=y\"");
	/* quotes and backslashes cannot end the quoted value */
	assert_string_equal(log_quote("a\" ip=1"), "\"a\\\" ip=1\"");
	assert_string_equal(log_quote("a\\\" b"), "\"a\\\\\\\" b\"");
	/* controls and every non-ASCII byte as \xNN: no new line, no terminal escape, no bidi */
	assert_string_equal(log_quote("a\r\nlogin ok"), "\"a\\x0d\\x0alogin ok\"");
	assert_string_equal(log_quote("\x1b[2J\x7f"), "\"\\x1b[2J\\x7f\"");
	assert_string_equal(log_quote("J\xc3\xa9r\xe2\x80\xae"), "\"J\\xc3\\xa9r\\xe2\\x80\\xae\"");
	assert_string_equal(log_quote("\t"), "\"\\x09\"");
	/* empty and NULL are visible as such */
	assert_string_equal(log_quote(""), "\"\"");
	assert_string_equal(log_quote(NULL), "\"\"");
}

static void test_quote_long_cut(void **state)
{
	char in[LOG_QUOTE_MAX + 40], want[LOG_QUOTE_MAX + 8];
	const char *q;

	(void)state;
	memset(in, 'a', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	q = log_quote(in);
	snprintf(want, sizeof(want), "\"%.*s...\"", LOG_QUOTE_MAX, in);
	assert_string_equal(q, want);
	/* exactly LOG_QUOTE_MAX bytes is not cut */
	in[LOG_QUOTE_MAX] = '\0';
	assert_string_equal(log_quote(in), in);
	/* the worst case fills its buffer without overrunning it: 4 bytes out per byte in */
	memset(in, '\x01', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	q = log_quote(in);
	assert_int_equal(strlen(q), 1 + 4 * LOG_QUOTE_MAX + 3 + 1);
}

/* Several quoted values in one log call each keep their own buffer. */
static void test_quote_slots(void **state)
{
	const char *q[LOG_QUOTE_SLOTS];
	char name[16];
	char *line, fields[128];

	(void)state;
	for (unsigned i = 0; i < LOG_QUOTE_SLOTS; i++) {
		snprintf(name, sizeof(name), "v %u", i);
		q[i] = log_quote(name);
	}
	for (unsigned i = 0; i < LOG_QUOTE_SLOTS; i++) {
		snprintf(name, sizeof(name), "\"v %u\"", i);
		assert_string_equal(q[i], name);
	}
	snprintf(fields, sizeof(fields), "%s proto=imap",
	         log_quote("x proto=pop3 ip=203.0.113.9\n"));
	line = logged("login fail: user=", fields);
	assert_non_null(
	    strstr(line, "login fail: user=\"x proto=pop3 ip=203.0.113.9\\x0a\" proto=imap\n"));
	free(line);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_controls_masked),
	    cmocka_unit_test(test_quote_plain_tokens_unchanged),
	    cmocka_unit_test(test_quote_escapes),
	    cmocka_unit_test(test_quote_long_cut),
	    cmocka_unit_test(test_quote_slots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
