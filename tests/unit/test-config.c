/* config loading: values, defaults, and FILE:LINE errors */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *write_conf(const char *text)
{
	char *path = strdup("/tmp/twofold-test-config-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

/* Loads text; returns the error (caller frees) or NULL on success with *cfg_r set. */
static char *load(const char *text, struct config **cfg_r)
{
	char *path = write_conf(text);
	char *err = NULL;
	char *expect_prefix;

	if (config_load(path, cfg_r, &err) == 0) {
		unlink(path);
		free(path);
		return NULL;
	}
	expect_prefix = malloc(strlen(path) + 2);
	sprintf(expect_prefix, "%s:", path);
	assert_true(strncmp(err, expect_prefix, strlen(expect_prefix)) == 0);
	/* strip the temp path so tests compare "LINE: message" */
	memmove(err, err + strlen(expect_prefix), strlen(err) - strlen(expect_prefix) + 1);
	free(expect_prefix);
	unlink(path);
	free(path);
	return err;
}

static void test_full_config(void **state)
{
	struct config *cfg;
	char *err = load("; comment\n"
	                 "[server]\nuser = vmail\nstate_dir = /srv/tf\nmin_spare = 3\n"
	                 "[tls]\ncert = /c.pem\nkey = /k.pem\n"
	                 "[pop3]\nlisten = 127.0.0.1:995 [::1]:995\ndelete_retrieved = yes\n"
	                 "[auth]\nsecond_factor = optional\nmfa_grace = 0\nmax_failures = 5\n"
	                 "failure_delay = 50\nfailure_delay_max = 400\n"
	                 "[storage]\nmaildir = /var/mail/%d/%n\n",
	                 &cfg);

	assert_null(err);
	assert_string_equal(cfg->user, "vmail");
	assert_string_equal(cfg->state_dir, "/srv/tf");
	assert_int_equal(cfg->min_spare, 3);
	assert_int_equal(cfg->pop3_listen.count, 2);
	assert_string_equal(cfg->pop3_listen.addrs[1], "[::1]:995");
	assert_true(cfg->pop3_delete_retrieved);
	assert_int_equal(cfg->second_factor, SECOND_FACTOR_OPTIONAL);
	assert_int_equal(cfg->mfa_grace, 0);
	assert_int_equal(cfg->max_failures, 5);
	assert_int_equal(cfg->failure_delay, 50);
	assert_int_equal(cfg->failure_delay_max, 400);
	/* derived from state_dir */
	assert_string_equal(cfg->auth_database, "/srv/tf/auth.db");
	assert_string_equal(cfg->auth_key_file, "/srv/tf/secret.key");
	config_free(&cfg);
	assert_null(cfg);
}

static void test_defaults(void **state)
{
	struct config *cfg = config_defaults();

	assert_int_equal(cfg->second_factor, SECOND_FACTOR_REQUIRED);
	assert_int_equal(cfg->mfa_grace, 8 * 3600);
	assert_int_equal(cfg->max_failures, 10);
	assert_int_equal(cfg->lockout, 900);
	assert_int_equal(cfg->lockout_max, 86400);
	assert_int_equal(cfg->totp_window, 1);
	assert_int_equal(cfg->totp_digits, 6);
	assert_int_equal(cfg->totp_period, 30);
	assert_false(cfg->pop3_delete_retrieved);
	assert_string_equal(cfg->auth_module, "sqlite");
	config_free(&cfg);
}

static void test_errors(void **state)
{
	static const struct {
		const char *text, *error;
	} cases[] = {
	    {"[server]\nuser = x\n[bogus]\na = b\n", "3: unknown section [bogus]"},
	    {"[server]\n\nfoo = 1\n", "3: unknown key 'foo' in [server]"},
	    {"[server]\nmin_spare = lots\n", "2: [server] min_spare: expected a number: 'lots'"},
	    {"[server]\nmin_spare = -1\n",
	     "2: [server] min_spare: expected a non-negative number: '-1'"},
	    {"[auth]\nmax_failures = 0\n", "2: [auth] max_failures: number out of range: '0'"},
	    {"[pop3]\ndelete_retrieved = maybe\n",
	     "2: [pop3] delete_retrieved: expected yes or no: 'maybe'"},
	    {"[auth]\nsecond_factor = sometimes\n",
	     "2: [auth] second_factor: expected required or optional: 'sometimes'"},
	    {"[pop3]\nlisten = 127.0.0.1\n",
	     "2: [pop3] listen: listen address must be ADDR:PORT or [V6]:PORT: '127.0.0.1'"},
	    {"[pop3]\nlisten = 127.0.0.1:99999\n",
	     "2: [pop3] listen: bad port in listen address: '127.0.0.1:99999'"},
	    {"[server]\nuser\n", "2: syntax error"},
	    {"[pop3]\nlisten = 127.0.0.1:995\n",
	     "2: [tls] cert and key are required when a listen address is set"},
	    {"[storage]\nmaildir = /m/%x\n",
	     "2: [storage] maildir: unknown %-variable (use %u, %n, %d): '/m/%x'"},
	    {"[storage]\n\nmaildir = /m/%d\n",
	     "3: [storage] maildir: %d without %n or %u: all users of a domain would share one "
	     "maildir: '/m/%d'"},
	    {"[storage]\nmaildir = /m/box\n",
	     "2: [storage] maildir: no %u or %n: all users would share one maildir: '/m/box'"},
	    {"[storage]\nmaildir = m/%u\n", "2: [storage] maildir: must be an absolute path: 'm/%u'"},
	    {"[storage]\nmaildir = /m/%n.%d\n",
	     "2: [storage] maildir: put each of %u, %n, %d in a path component of its own (e.g. "
	     "/var/mail/%d/%n): joined, two names can make one path: '/m/%n.%d'"},
	    {"[storage]\nmaildir = /m/%u%%/x-%n%n\n",
	     "2: [storage] maildir: put each of %u, %n, %d in a path component of its own (e.g. "
	     "/var/mail/%d/%n): joined, two names can make one path: '/m/%u%%/x-%n%n'"},
	    {"[imap]\nidle_keepalive = 3600\n",
	     "2: [imap] idle_keepalive: number out of range: '3600'"},
	    {"[portal]\n\norigin = http://mail.example.org\n",
	     "3: [portal] origin: expected https://HOST or https://HOST:PORT: "
	     "'http://mail.example.org'"},
	    {"[portal]\norigin = https://mail.example.org/\n",
	     "2: [portal] origin: expected https://HOST or https://HOST:PORT: "
	     "'https://mail.example.org/'"},
	    {"[portal]\norigin = https://mail.example.org:0\n",
	     "2: [portal] origin: expected https://HOST or https://HOST:PORT: "
	     "'https://mail.example.org:0'"},
	    {"[portal]\norigin = https://[::1]:8443\n",
	     "2: [portal] origin: expected https://HOST or https://HOST:PORT: "
	     "'https://[::1]:8443'"},
	    {"[portal]\nlisten = 127.0.0.1:8443 127.0.0.1:8444\n",
	     "2: [portal] listen: one listen address only: '127.0.0.1:8443 127.0.0.1:8444'"},
	    {"[portal]\nsession_lifetime = 5\n",
	     "2: [portal] session_lifetime: number out of range: '5'"},
	    {"[clients]\n\nhost = mail.example.org:993\n",
	     "3: [clients] host: expected a DNS name: 'mail.example.org:993'"},
	    {"[clients]\nhost = -mail.example.org\n",
	     "2: [clients] host: expected a DNS name: '-mail.example.org'"},
	    {"[clients]\nhost = <x>.example.org\n",
	     "2: [clients] host: expected a DNS name: '<x>.example.org'"},
	    {"[clients]\nsubmission = smtp.example.org\n",
	     "2: [clients] submission: expected HOST:PORT with a DNS name: 'smtp.example.org'"},
	    {"[clients]\nsubmission = smtp.example.org:70000\n",
	     "2: [clients] submission: expected HOST:PORT with a DNS name: "
	     "'smtp.example.org:70000'"},
	    {"[clients]\nlogin = user\n", "2: [clients] login: expected address or localpart: 'user'"},
	    /* a check across keys names the line of a key it is about, not the file's last */
	    {"[imap]\nlisten = 127.0.0.1:993\n[server]\nuser = x\n",
	     "2: [tls] cert and key are required when a listen address is set"},
	    {"[server]\nmin_spare = 9\nmax_spare = 3\n\n[auth]\nmax_failures = 5\n",
	     "2: [server] min_spare is greater than max_spare"},
	    {"[server]\nuser = x\n\nmax_spare = 1\n[auth]\nmax_failures = 5\n",
	     "4: [server] min_spare is greater than max_spare"},
	    {"[auth]\nlockout_max = 500\nmax_failures = 5\nlockout = 1000\n[server]\nuser = x\n",
	     "4: [auth] lockout is greater than lockout_max"},
	    {"[auth]\nfailure_delay = 30000\n",
	     "2: [auth] failure_delay is greater than failure_delay_max"},
	    {"[auth]\nfailure_delay = 100\nfailure_delay_max = 50\n[server]\nuser = x\n",
	     "2: [auth] failure_delay is greater than failure_delay_max"},
	    {"[auth]\nfailure_delay = 60001\n",
	     "2: [auth] failure_delay: number out of range: '60001'"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cfg = NULL;
		char *err = load(cases[i].text, &cfg);

		if (err == NULL)
			fail_msg("case %zu was accepted", i);
		if (strcmp(err, cases[i].error) != 0)
			fail_msg("case %zu: got '%s', want '%s'", i, err, cases[i].error);
		assert_null(cfg);
		free(err);
	}
}

static void test_portal_keys(void **state)
{
	struct config *cfg;
	char *host, *err = load("[tls]\ncert = /c.pem\nkey = /k.pem\n"
	                        "[portal]\nlisten = 127.0.0.1:8443\n"
	                        "origin = https://Mail.example.org:8443\nsession_lifetime = 600\n",
	                        &cfg);

	assert_null(err);
	assert_int_equal(cfg->portal_listen.count, 1);
	assert_string_equal(cfg->portal_listen.addrs[0], "127.0.0.1:8443");
	assert_string_equal(cfg->portal_origin, "https://mail.example.org:8443");
	assert_int_equal(cfg->portal_session_lifetime, 600);
	host = config_origin_host(cfg->portal_origin);
	assert_string_equal(host, "mail.example.org");
	free(host);
	config_free(&cfg);
	/* as a browser writes it: no default port */
	assert_null(load("[portal]\norigin = https://MAIL.example.org:443\n", &cfg));
	assert_string_equal(cfg->portal_origin, "https://mail.example.org");
	config_free(&cfg);
	cfg = config_defaults();
	assert_int_equal(cfg->portal_listen.count, 0);
	assert_null(cfg->portal_origin);
	assert_int_equal(cfg->portal_session_lifetime, 3600);
	config_free(&cfg);
	host = config_origin_host("https://localhost");
	assert_string_equal(host, "localhost");
	free(host);
	assert_null(config_origin_host("https://"));
	assert_null(config_origin_host("https://a b"));
}

static void test_missing_file(void **state)
{
	struct config *cfg;
	char *err;

	assert_int_equal(config_load("/nonexistent/twofold.conf", &cfg, &err), -1);
	assert_non_null(strstr(err, "/nonexistent/twofold.conf:0: cannot open"));
	free(err);
}

/* [portal] origin: the WebAuthn origin, https://HOST[:PORT] and nothing else. */
static void test_portal_origin(void **state)
{
	static const char *const bad[] = {
	    "http://mail.example.org",
	    "https://",
	    "https://mail.example.org/",
	    "https://mail.example.org:",
	    "https://mail.example.org:0",
	    "https://mail.example.org:70000",
	    "https://[::1]:8443",
	    "https://a b",
	    "https://user@mail.example.org",
	    "mail.example.org",
	};
	struct config *cfg;
	char *err, *host;

	err = load("[portal]\norigin = https://mail.example.org:8443\n", &cfg);
	assert_null(err);
	assert_string_equal(cfg->portal_origin, "https://mail.example.org:8443");
	host = config_origin_host(cfg->portal_origin);
	assert_string_equal(host, "mail.example.org");
	free(host);
	config_free(&cfg);
	err = load("[server]\nuser = x\n", &cfg);
	assert_null(err);
	assert_null(cfg->portal_origin);
	config_free(&cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256];

		snprintf(text, sizeof(text), "[portal]\norigin = %s\n", bad[i]);
		err = load(text, &cfg);
		assert_non_null(err);
		assert_non_null(strstr(err, "2: [portal] origin: expected https://HOST"));
		free(err);
	}
}

static void test_maildir_template(void **state)
{
	struct config *cfg = config_defaults();
	char *p;

	free(cfg->maildir);
	cfg->maildir = strdup("/var/mail/%d/%n/%u%%");
	p = config_maildir_for(cfg, "alice@example.org");
	assert_string_equal(p, "/var/mail/example.org/alice/alice@example.org%");
	free(p);
	assert_null(config_maildir_for(cfg, "../etc"));
	assert_null(config_maildir_for(cfg, "a/b"));
	assert_null(config_maildir_for(cfg, ".hidden"));
	assert_null(config_maildir_for(cfg, "a@b@c"));
	assert_null(config_maildir_for(cfg, "a\nb"));
	assert_null(config_maildir_for(cfg, ""));
	/* an empty local part would make the domain folder (holding everyone's maildirs) a
	 * mailbox; an empty or dot-led domain would fold into another user's path */
	assert_null(config_maildir_for(cfg, "@example.org"));
	assert_null(config_maildir_for(cfg, "alice@"));
	assert_null(config_maildir_for(cfg, "alice@."));
	assert_null(config_maildir_for(cfg, "alice@.example.org"));
	config_free(&cfg);
}

/* Two users never share a maildir, nor does one's lie inside another's: a name without a
 * domain cannot go where %d is (example.com's maildir would hold new@example.com's). */
static void test_maildir_names_fit_template(void **state)
{
	struct config *cfg = config_defaults();
	const char *err;
	char *p;

	assert_string_equal(cfg->maildir, "/var/mail/%d/%n");
	assert_null(config_maildir_for(cfg, "alice"));
	assert_null(config_maildir_for(cfg, "example.com"));
	assert_int_equal(config_maildir_user_check(cfg, "example.com", &err), -1);
	assert_non_null(strstr(err, "no domain"));
	p = config_maildir_for(cfg, "new@example.com");
	assert_string_equal(p, "/var/mail/example.com/new");
	free(p);

	free(cfg->maildir);
	cfg->maildir = strdup("/srv/mail/%n/Maildir");
	p = config_maildir_for(cfg, "alice");
	assert_string_equal(p, "/srv/mail/alice/Maildir");
	free(p);
	assert_null(config_maildir_for(cfg, "alice@example.org"));
	assert_int_equal(config_maildir_user_check(cfg, "alice@example.org", &err), -1);
	assert_non_null(strstr(err, "same local part"));

	free(cfg->maildir);
	cfg->maildir = strdup("/srv/mail/%u");
	assert_int_equal(config_maildir_user_check(cfg, "alice", &err), 0);
	assert_int_equal(config_maildir_user_check(cfg, "alice@example.org", &err), 0);
	config_free(&cfg);
}

static void test_maildir_template_check(void **state)
{
	static const char *const good[] = {"/var/mail/%d/%n", "/var/mail/%u", "/home/%n/Maildir",
	                                   "/m/%d/%n/%u%%", "/m/user-%n", "/m/100%%/%u"};
	static const char *const bad[] = {"/m", "/m/%d", "/m/%n%d", "/m/%n@%d", "/m/%u.%n",
	                                  "/m/%", "/m/%z/%u", "relative/%u", "", "/m/%%n"};
	const char *err;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (config_maildir_template_check(good[i], &err) != 0)
			fail_msg("'%s' refused: %s", good[i], err);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (config_maildir_template_check(bad[i], &err) != -1)
			fail_msg("'%s' accepted", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_config),   cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_errors),        cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_portal_origin), cmocka_unit_test(test_maildir_template),
	    cmocka_unit_test(test_maildir_names_fit_template),
	    cmocka_unit_test(test_maildir_template_check), cmocka_unit_test(test_portal_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
