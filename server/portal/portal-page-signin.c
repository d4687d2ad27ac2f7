/* Signing in (password + code, or password then security key) and out, and the overview
 * page a signed-in user lands on. */
#include "common/ipc.h"
#include "server/portal/portal-html.h"
#include "server/portal/portal-pages.h"

#include <microhttpd.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PORTAL_CODE_MAX 64

/* What the script fills in from the key's assertion, in the order the auth service takes. */
static const char *const portal_key_fields[] = {"client_data", "auth_data", "sig", "cred_id",
                                                "user_handle"};

static void portal_signin_form(struct portal_req *r, unsigned status, const char *error)
{
	const char *user = portal_form_get(&r->form, "user");
	struct buf b;

	buf_init(&b);
	html_begin(&b, r, "Sign in");
	if (error != NULL)
		html_para(&b, "error", error);
	buf_append_str(&b, "<form method=\"post\" action=\"/signin\" class=\"stack\">"
	                   "<label>User name <input name=\"user\" autocomplete=\"username\" "
	                   "autocapitalize=\"none\" required value=\"");
	html_text(&b, user != NULL ? user : "");
	buf_append_str(&b, "\"></label>"
	                   "<label>Password <input name=\"password\" type=\"password\" "
	                   "autocomplete=\"current-password\" required></label>"
	                   "<label>Code from your authenticator app, or a recovery code "
	                   "(leave it empty to use a security key) <input name=\"code\" "
	                   "inputmode=\"numeric\" autocomplete=\"one-time-code\">"
	                   "</label><button type=\"submit\">Sign in</button></form>\n");
	html_para(&b, "note", "An app password does not sign in here: use your own password.");
	html_end(&b);
	portal_respond_html(r, status, &b);
	buf_free(&b);
}

/* ?failed=1: back from a refused security key (the redirect ended the half session). */
void portal_page_signin(struct portal_req *r)
{
	const char *failed = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "failed");

	portal_signin_form(r, MHD_HTTP_OK,
	                   failed != NULL ? "Sign-in failed: the security key was not accepted."
	                                  : NULL);
}

/* A session from a sign-in step: full, or one that goes on to the security key. A refusal
 * comes after the policy's delay. */
static void portal_signin_answer(struct portal_req *r, const struct portal_answer *a)
{
	bool key = strcmp(portal_answer_cell(a, 0, 4), "3") == 0;

	if (a->delay_ms > 0)
		portal_sleep_ms(a->delay_ms);
	if (a->status == IPC_PORTAL_OK && a->rows == 1)
		portal_respond_redirect(r, key ? "/signin/key" : "/", PORTAL_SET_COOKIE,
		                        portal_answer_cell(a, 0, 0));
	else if (a->status == IPC_PORTAL_FAIL)
		portal_signin_form(r, MHD_HTTP_FORBIDDEN,
		                   "Sign-in failed: wrong user name, password, code or key.");
	else
		portal_respond_answer(r, a, "/signin");
}

void portal_post_signin(struct portal_req *r)
{
	const char *user = portal_form_get(&r->form, "user");
	const char *password = portal_form_get(&r->form, "password");
	const char *code = portal_form_get(&r->form, "code");
	char compact[PORTAL_CODE_MAX + 1];
	struct portal_answer a;

	if (user == NULL || password == NULL) {
		portal_signin_form(r, MHD_HTTP_BAD_REQUEST, "Enter your user name and password.");
		return;
	}
	portal_form_code(code != NULL ? code : "", compact, sizeof(compact));
	portal_req_call(r, "signin", 3, (const char *const[]){user, password, compact}, &a);
	sodium_memzero(compact, sizeof(compact));
	portal_signin_answer(r, &a);
	portal_answer_free(&a);
}

/* After the password alone, for a user with a security key: the browser asks the key
 * (navigator.credentials.get() in the one script) and posts its answer. */
void portal_page_signin_key(struct portal_req *r)
{
	static const char *const attrs[] = {"challenge", "rp-id", NULL, NULL, "allow"};
	struct portal_answer a;
	struct buf b;

	if (portal_req_session(r, PORTAL_LV_KEY) == 0)
		return;
	portal_req_call(r, "signin_key_options", 0, NULL, &a);
	if (a.status != IPC_PORTAL_OK || a.rows != 1) {
		portal_respond_answer(r, &a, "/signin");
		portal_answer_free(&a);
		return;
	}
	buf_init(&b);
	html_begin(&b, r, "Use your security key");
	buf_append_str(&b, "<form method=\"post\" action=\"/signin/key\" id=\"key-signin\"");
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		if (attrs[i] == NULL)
			continue;
		buf_printf(&b, " data-%s=\"", attrs[i]);
		html_text(&b, portal_answer_cell(&a, 0, (uint32_t)i));
		buf_append_str(&b, "\"");
	}
	buf_append_str(&b, "><input type=\"hidden\" name=\"csrf\" value=\"");
	html_text(&b, r->csrf);
	buf_append_str(&b, "\">");
	for (size_t i = 0; i < sizeof(portal_key_fields) / sizeof(portal_key_fields[0]); i++)
		buf_printf(&b, "<input type=\"hidden\" name=\"%s\">", portal_key_fields[i]);
	buf_append_str(&b, "<p>Your password was right. Now insert or hold your security key "
	                   "near the device, press the button and touch the key.</p>"
	                   "<button type=\"button\" id=\"key-use\">Use my security key</button>"
	                   "<p class=\"error key-error\" hidden></p></form>\n");
	html_end(&b);
	portal_respond_html(r, MHD_HTTP_OK, &b);
	buf_free(&b);
	portal_answer_free(&a);
}

void portal_post_signin_key(struct portal_req *r)
{
	const char *argv[5];
	struct portal_answer a;

	for (size_t i = 0; i < 5; i++) {
		argv[i] = portal_form_get(&r->form, portal_key_fields[i]);
		argv[i] = argv[i] != NULL ? argv[i] : "";
	}
	portal_req_call(r, "signin_key", 5, argv, &a);
	if (a.status == IPC_PORTAL_FAIL) {
		/* the half session is over: so is its cookie */
		portal_sleep_ms(a.delay_ms);
		portal_respond_redirect(r, "/signin?failed=1", PORTAL_CLEAR_COOKIE, NULL);
	} else {
		portal_signin_answer(r, &a);
	}
	portal_answer_free(&a);
}

void portal_post_signout(struct portal_req *r)
{
	struct portal_answer a;

	portal_req_call(r, "signout", 0, NULL, &a);
	if (a.status == IPC_PORTAL_OK || a.status == IPC_PORTAL_NO_SESSION)
		portal_respond_redirect(r, "/signin", PORTAL_CLEAR_COOKIE, NULL);
	else
		portal_respond_answer(r, &a, "/");
	portal_answer_free(&a);
}

static void portal_home_alarm(struct buf *b, const char *signs)
{
	if (strcmp(signs, "0") == 0 || signs[0] == '\0')
		return;
	buf_printf(b,
	           "<div class=\"alarm\" role=\"alert\"><strong>Someone may know your "
	           "password.</strong> Since your last successful login, your password was "
	           "given %d time(s) with a wrong or missing second factor. If that was not "
	           "you, change your password now (ask your administrator) and look at "
	           "<a href=\"/log\">Recent logins</a>.</div>\n",
	           atoi(signs));
}

static void portal_home_render(struct portal_req *r, const struct portal_answer *a)
{
	struct buf b;

	buf_init(&b);
	html_begin(&b, r, "Your sign-in methods");
	portal_home_alarm(&b, portal_answer_cell(a, 0, 3));
	buf_append_str(&b, "<ul class=\"cards\">");
	buf_printf(&b, "<li><a href=\"/keys\">Security keys</a>: %d</li>",
	           atoi(portal_answer_cell(a, 0, 6)));
	buf_printf(&b, "<li><a href=\"/totp\">Authenticator app</a>: %s</li>",
	           strcmp(portal_answer_cell(a, 0, 0), "1") == 0 ? "set up" : "not set up");
	buf_printf(&b, "<li><a href=\"/apppass\">App passwords</a>: %d active</li>",
	           atoi(portal_answer_cell(a, 0, 1)));
	buf_printf(&b, "<li><a href=\"/recovery\">Recovery codes</a>: %d left</li>",
	           atoi(portal_answer_cell(a, 0, 2)));
	buf_append_str(&b, "<li><a href=\"/log\">Recent logins</a>: last successful ");
	html_time(&b, (time_t)atoll(portal_answer_cell(a, 0, 4)));
	buf_append_str(&b, "</li></ul>\n");
	html_end(&b);
	portal_respond_html(r, MHD_HTTP_OK, &b);
	buf_free(&b);
}

void portal_page_home(struct portal_req *r)
{
	struct portal_answer a;

	if (portal_req_session(r, PORTAL_LV_FULL) == 0)
		return;
	portal_req_call(r, "overview", 0, NULL, &a);
	if (a.status == IPC_PORTAL_OK && a.rows == 1)
		portal_home_render(r, &a);
	else
		portal_respond_answer(r, &a, "/");
	portal_answer_free(&a);
}
