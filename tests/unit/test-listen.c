/* Listen addresses and the scoreboard: parsing, binding, slot accounting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/config.h"
#include "common/xalloc.h"
#include "server/listen.h"
#include "server/scoreboard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_parse_good(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;

	assert_int_equal(listen_parse("127.0.0.1:995", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 995);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(listen_parse("[::1]:10995", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 10995);
	assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	assert_int_equal(listen_parse("[::]:995", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(listen_parse("*:995", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(sin->sin_addr.s_addr, htonl(INADDR_ANY));
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {"localhost:995", "995",       ":995",
	                                  "[::1:995",      "::1:995",   "[]:995",
	                                  "1.2.3:99",      "1.2.3.4:x", "[1.2.3.4]:995"};
	struct sockaddr_storage ss;
	socklen_t len;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(listen_parse(bad[i], &ss, &len), -1);
}

static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	return ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
	                               : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void test_open_and_conflict(void **state)
{
	struct config *cfg = config_defaults();
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct listen_set set;
	char *error = NULL;
	int busy = socket(AF_INET, SOCK_STREAM, 0);

	/* a port someone else listens on: a clear error naming the address, nothing left open */
	assert_int_equal(bind(busy, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(busy, 1), 0);
	cfg->pop3_listen.addrs[0] = xasprintf("127.0.0.1:%d", bound_port(busy));
	cfg->pop3_listen.count = 1;
	assert_int_equal(listen_open(cfg, &set, &error), -1);
	assert_non_null(strstr(error, cfg->pop3_listen.addrs[0]));
	assert_null(set.l);
	free(error);
	close(busy);
	/* free again: bound, listening, non-blocking */
	assert_int_equal(listen_open(cfg, &set, &error), 0);
	assert_int_equal(set.count, 1);
	assert_int_equal(set.l[0].proto, AUTH_PROTO_POP3);
	assert_string_equal(set.l[0].addr, cfg->pop3_listen.addrs[0]);
	assert_int_equal(accept(set.l[0].fd, NULL, NULL), -1);
	listen_close(&set);
	assert_int_equal(set.count, 0);
	config_free(&cfg);
}

static void test_same(void **state)
{
	struct config *a = config_defaults(), *b = config_defaults();

	a->pop3_listen.addrs[0] = xstrdup("127.0.0.1:995");
	a->pop3_listen.count = 1;
	assert_false(listen_same(a, b));
	b->pop3_listen.addrs[0] = xstrdup("127.0.0.1:995");
	b->pop3_listen.count = 1;
	assert_true(listen_same(a, b));
	b->imap_listen.addrs[0] = xstrdup("127.0.0.1:993");
	b->imap_listen.count = 1;
	assert_false(listen_same(a, b));
	config_free(&a);
	config_free(&b);
}

/* A listen address the config accepts (ADDR:PORT) but that is no number: refused before
 * anything binds, with the line of the section's listen key. */
static void test_check_names_line(void **state)
{
	static const char text[] = "[imap]\nlisten = 127.0.0.1:993\n[pop3]\n\n"
	                           "listen = 127.0.0.1:995 mail.example.org:995\n"
	                           "[tls]\ncert = /c.pem\nkey = /k.pem\n";
	char path[] = "/tmp/twofold-test-listen-XXXXXX", want[128];
	int fd = mkstemp(path);
	struct config *cfg;
	char *error = NULL;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(config_load(path, &cfg, &error), 0);
	assert_int_equal(listen_check(cfg, &error), -1);
	snprintf(
	    want, sizeof(want),
	    "%s:5: [pop3] listen: not a numeric ADDR:PORT or [V6]:PORT: 'mail.example.org:995'",
	    path);
	assert_string_equal(error, want);
	free(error);
	config_free(&cfg);
	unlink(path);
}

/* Slots as the master claims and releases them, counted as the workers see them. */
static void test_scoreboard_slots(void **state)
{
	struct scoreboard sb;
	struct scoreboard_counts c;

	assert_int_equal(scoreboard_init(&sb, 4), 0);
	scoreboard_claim(&sb, 0, 101, 0);
	scoreboard_claim(&sb, 1, 102, 0);
	scoreboard_claim(&sb, 2, 103, 1);
	assert_int_equal(sb.used, 3);
	scoreboard_set_state(&sb, 0, SLOT_IDLE);
	scoreboard_set_state(&sb, 1, SLOT_BUSY);
	scoreboard_workers(&sb, &c);
	assert_int_equal(c.total, 3);
	assert_int_equal(c.busy, 1);
	assert_int_equal(c.idle, 2); /* idle + starting, any generation */
	/* the overflow process is no worker */
	scoreboard_set_state(&sb, 2, SLOT_OVERFLOW);
	scoreboard_workers(&sb, &c);
	assert_int_equal(c.total, 2);
	assert_int_equal(c.idle, 1);
	assert_int_equal(scoreboard_session_done(&sb, 1), 1);
	assert_int_equal(scoreboard_session_done(&sb, 1), 2);
	scoreboard_workers(&sb, &c);
	assert_int_equal(c.done, 2);
	/* releasing the highest slot lowers the high-water mark the workers scan to */
	scoreboard_release(&sb, 1);
	assert_int_equal(sb.used, 3);
	scoreboard_release(&sb, 2);
	assert_int_equal(sb.used, 1);
	scoreboard_workers(&sb, &c);
	assert_int_equal(c.total, 1);
	assert_int_equal(c.done, 0);
	scoreboard_claim(&sb, 3, 104, 0);
	assert_int_equal(sb.used, 4);
	scoreboard_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_good),        cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_open_and_conflict), cmocka_unit_test(test_same),
	    cmocka_unit_test(test_check_names_line),  cmocka_unit_test(test_scoreboard_slots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
