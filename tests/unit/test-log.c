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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_controls_masked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
