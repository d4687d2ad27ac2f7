/* What the portal tells mail programs: address checks, the address in an Autodiscover request,
 * and the three documents (autoconfig, Autodiscover, Apple profile) for a configured site. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/config.h"
#include "common/xalloc.h"
#include "server/portal/portal-clients.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct config *site_config(void)
{
	struct config *cfg = config_defaults();

	cfg->portal_origin = xstrdup("https://portal.example.org:8443");
	cfg->imap_listen.addrs[cfg->imap_listen.count++] = xstrdup("0.0.0.0:993");
	cfg->imap_listen.addrs[cfg->imap_listen.count++] = xstrdup("[::]:993");
	cfg->pop3_listen.addrs[cfg->pop3_listen.count++] = xstrdup("[::]:995");
	return cfg;
}

static bool addr_ok(const char *s)
{
	return clients_address_ok(s, strlen(s));
}

static void test_address_ok(void **state)
{
	assert_true(addr_ok("alice@example.org"));
	assert_true(addr_ok("a.b+tag@mail.example.org"));
	assert_true(addr_ok("o'neil@example.org"));
	assert_false(addr_ok("alice"));
	assert_false(addr_ok("@example.org"));
	assert_false(addr_ok("alice@"));
	assert_false(addr_ok(".alice@example.org"));
	assert_false(addr_ok("al..ice@example.org"));
	assert_false(addr_ok("al<ice@example.org"));
	assert_false(addr_ok("alice@exa mple.org"));
	assert_false(addr_ok("alice@example.org>"));
	assert_false(addr_ok("alice@b@example.org"));
	assert_false(clients_address_ok("alice@example.org", 6)); /* only len bytes count */
	assert_true(clients_address_ok("alice@example.org>", 17));
	assert_false(clients_address_ok("a\0b@example.org", 15));
	{
		char local[80];

		memset(local, 'a', 65);
		strcpy(local + 65, "@x.org");
		assert_false(addr_ok(local)); /* local part over 64 bytes */
		strcpy(local + 64, "@x.org");
		assert_true(addr_ok(local));
	}
}

static void test_autodiscover_address(void **state)
{
	static const char req[] =
	    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n"
	    "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/"
	    "requestschema/2006\">\r\n  <Request>\r\n    <EMailAddress> bob@example.org\r\n"
	    "</EMailAddress>\r\n    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/"
	    "autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>\r\n  </Request>\r\n"
	    "</Autodiscover>\r\n";
	char out[CLIENTS_ADDRESS_MAX + 1];

	assert_int_equal(clients_autodiscover_address(req, sizeof(req) - 1, out), 1);
	assert_string_equal(out, "bob@example.org");
	/* cut inside the element: no end tag, nothing taken */
	assert_int_equal(clients_autodiscover_address(req, strstr(req, "</EMail") - req, out), 0);
	assert_string_equal(out, "");
	assert_int_equal(clients_autodiscover_address("<EMailAddress>x<y@z</EMailAddress>", 33, out),
	                 0);
	assert_int_equal(clients_autodiscover_address("<EMailAddress></EMailAddress>", 29, out), 0);
	assert_int_equal(clients_autodiscover_address("no element", 10, out), 0);
}

static void test_site(void **state)
{
	struct config *cfg = site_config();
	struct clients_site s;

	assert_int_equal(clients_site_init(cfg, &s), 0);
	assert_string_equal(s.host, "portal.example.org"); /* the origin's host, no port */
	assert_string_equal(s.imap_port, "993");
	assert_string_equal(s.pop3_port, "995");
	assert_string_equal(s.smtp_host, "");
	cfg->clients_host = xstrdup("imap.example.org");
	cfg->clients_submission = xstrdup("smtp.example.org:587");
	assert_int_equal(clients_site_init(cfg, &s), 0);
	assert_string_equal(s.host, "imap.example.org");
	assert_string_equal(s.smtp_host, "smtp.example.org");
	assert_string_equal(s.smtp_port, "587");
	config_free(&cfg);
	cfg = config_defaults();
	assert_int_equal(clients_site_init(cfg, &s), -1); /* no name to give */
	config_free(&cfg);
}

static void test_autoconfig(void **state)
{
	struct config *cfg = site_config();
	struct clients_site s;
	struct buf b;

	assert_int_equal(clients_site_init(cfg, &s), 0);
	buf_init(&b);
	clients_autoconfig(&b, &s, "carol@example.org");
	buf_append(&b, "", 1);
	assert_non_null(strstr(b.data, "<domain>example.org</domain>"));
	assert_non_null(strstr(b.data, "<incomingServer type=\"imap\">\n      <hostname>portal."
	                               "example.org</hostname>\n      <port>993</port>\n      "
	                               "<socketType>SSL</socketType>\n      <username>%EMAILADDRESS%"
	                               "</username>"));
	assert_non_null(strstr(b.data, "<incomingServer type=\"pop3\">"));
	assert_null(strstr(b.data, "outgoingServer"));
	assert_null(strstr(b.data, "STARTTLS"));
	assert_non_null(strstr(b.data, "<documentation url=\"https://portal.example.org:8443/\">"));
	buf_free(&b);
	cfg->clients_localpart = true;
	cfg->clients_submission = xstrdup("smtp.example.org:587");
	assert_int_equal(clients_site_init(cfg, &s), 0);
	buf_init(&b);
	clients_autoconfig(&b, &s, NULL);
	buf_append(&b, "", 1);
	assert_non_null(strstr(b.data, "<domain>portal.example.org</domain>"));
	assert_non_null(strstr(b.data, "<username>%EMAILLOCALPART%</username>"));
	assert_non_null(strstr(b.data, "<outgoingServer type=\"smtp\">\n      <hostname>smtp.example."
	                               "org</hostname>\n      <port>587</port>\n      <socketType>"
	                               "STARTTLS</socketType>"));
	buf_free(&b);
	config_free(&cfg);
}

static void test_autodiscover(void **state)
{
	struct config *cfg = site_config();
	struct clients_site s;
	struct buf b;

	cfg->clients_submission = xstrdup("smtp.example.org:465");
	cfg->clients_localpart = true;
	assert_int_equal(clients_site_init(cfg, &s), 0);
	buf_init(&b);
	clients_autodiscover(&b, &s, "dave@example.org");
	buf_append(&b, "", 1);
	assert_non_null(strstr(b.data, "<Type>IMAP</Type>\n        <Server>portal.example.org"
	                               "</Server>\n        <Port>993</Port>"));
	assert_non_null(strstr(b.data, "<LoginName>dave</LoginName>"));
	assert_non_null(strstr(b.data, "<Type>SMTP</Type>\n        <Server>smtp.example.org</Server>"
	                               "\n        <Port>465</Port>"));
	assert_null(strstr(b.data, "<Encryption>")); /* 465: implicit TLS, said with <SSL> */
	buf_free(&b);
	buf_init(&b);
	clients_autodiscover(&b, &s, NULL);
	buf_append(&b, "", 1);
	assert_null(strstr(b.data, "LoginName"));
	buf_free(&b);
	config_free(&cfg);
}

static void test_mobileconfig(void **state)
{
	struct config *cfg = site_config();
	struct clients_site s;
	char u1[CLIENTS_UUID_LEN], u2[CLIENTS_UUID_LEN];
	struct buf b;

	cfg->clients_submission = xstrdup("smtp.example.org:587");
	assert_int_equal(clients_site_init(cfg, &s), 0);
	clients_uuid(u1);
	clients_uuid(u2);
	assert_int_equal(strlen(u1), 36);
	assert_int_equal(u1[14], '4'); /* version 4 */
	assert_true(strchr("89AB", u1[19]) != NULL);
	assert_string_not_equal(u1, u2);
	buf_init(&b);
	clients_mobileconfig(&b, &s, "erin@example.org", "abcd efgh <&>", u1, u2);
	buf_append(&b, "", 1);
	assert_non_null(strstr(b.data, "<key>IncomingPassword</key>\n\t\t\t<string>abcd efgh "
	                               "&lt;&amp;&gt;</string>"));
	assert_non_null(strstr(b.data, "<key>EmailAddress</key>\n\t\t\t<string>erin@example.org"));
	assert_non_null(strstr(b.data, "<key>IncomingMailServerPortNumber</key>\n\t\t\t<integer>993"
	                               "</integer>"));
	assert_non_null(strstr(b.data, u1));
	assert_non_null(strstr(b.data, u2));
	buf_free(&b);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_address_ok),   cmocka_unit_test(test_autodiscover_address),
	    cmocka_unit_test(test_site),         cmocka_unit_test(test_autoconfig),
	    cmocka_unit_test(test_autodiscover), cmocka_unit_test(test_mobileconfig),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
