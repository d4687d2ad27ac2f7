/* The INBOX notice of a held login (server/notice.c): its message. Posting and removal run in
 * the daemon (tests/integration/test_approval.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/config.h"
#include "common/xalloc.h"
#include "server/notice.h"

#include <stdlib.h>
#include <string.h>

static const struct notice_fields fields = {
    .user = "alice@example.org",
    .proto = "imap",
    .ip = "2001:db8::7",
    .client_id = "Thunderbird",
    .request_id = 42,
    .now = 1800000000, /* 2027-01-15 08:00:00 UTC */
    .wait = 60,
};

static char *message(struct config *cfg, const struct notice_fields *f, char **body_r)
{
	size_t len;
	char *msg = notice_message(cfg, f, &len), *sep;

	assert_int_equal(strlen(msg), len);
	/* CRLF line ends only */
	for (size_t i = 0; i < len; i++)
		if (msg[i] == '\n')
			assert_true(i > 0 && msg[i - 1] == '\r');
	sep = strstr(msg, "\r\n\r\n");
	assert_non_null(sep);
	*sep = '\0';
	*body_r = sep + 4;
	return msg;
}

static void test_header_and_portal_link(void **state)
{
	struct config *cfg = config_defaults();
	char *head, *body;

	(void)state;
	cfg->portal_origin = xstrdup("https://mail.example.org:8443");
	head = message(cfg, &fields, &body);
	assert_non_null(strstr(head, "\r\nSubject: Approve login from IP 2001:db8::7 (IMAP)\r\n"));
	assert_non_null(strstr(head, "From: twofold <postmaster@mail.example.org>\r\n"));
	assert_non_null(strstr(head, "\r\nDate: Fri, 15 Jan 2027 08:00:00 +0000\r\n"));
	assert_non_null(strstr(head, "\r\nMessage-ID: <approval-42."));
	assert_non_null(strstr(head, "\r\nAuto-Submitted: auto-generated"));
	assert_non_null(strstr(body, "  client    Thunderbird\r\n"));
	assert_non_null(strstr(body, "https://mail.example.org:8443/approvals\r\n"));
	assert_non_null(strstr(body, "waits 60 seconds"));
	free(head);
	config_free(&cfg);
}

/* What the client sent as its IMAP ID name never reaches the header and is shown reduced. */
static void test_client_name_reduced(void **state)
{
	struct config *cfg = config_defaults();
	struct notice_fields f = fields;
	char long_name[200], *head, *body;

	(void)state;
	f.client_id = "Evil\r\nBcc: victim@example.org\x1b[2J\"\\";
	head = message(cfg, &f, &body);
	assert_null(strstr(head, "Bcc"));
	assert_null(strstr(head, "Evil"));
	assert_non_null(strstr(body, "  client    Evil??Bcc: victim@example.org?[2J??\r\n"));
	/* no portal: the admin decides */
	assert_non_null(strstr(body, "twofold login approve alice@example.org 42"));
	assert_null(strstr(body, "https://"));
	free(head);
	/* bounded, and an empty name is said so */
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	f.client_id = long_name;
	head = message(cfg, &f, &body);
	assert_non_null(strstr(body, "  client    xxxx"));
	assert_null(
	    strstr(body, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
	free(head);
	f.client_id = "";
	head = message(cfg, &f, &body);
	assert_non_null(strstr(body, "  client    (did not say)\r\n"));
	free(head);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_and_portal_link),
	    cmocka_unit_test(test_client_name_reduced),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
