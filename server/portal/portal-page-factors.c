/* The authenticator app (enrol with a QR code, confirm with a code, remove) and recovery
 * codes (regenerate, shown once). */
#include "common/ipc.h"
#include "server/portal/portal-html.h"
#include "server/portal/portal-pages.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

/* The overview's "has TOTP" cell, or -1 (and a response queued) when it cannot be had. */
static int portal_has_totp(struct portal_req *r)
{
	struct portal_answer a;
	int has;

	portal_req_call(r, "overview", 0, NULL, &a);
	if (a.status != IPC_PORTAL_OK || a.rows != 1) {
		portal_respond_answer(r, &a, "/");
		portal_answer_free(&a);
		return -1;
	}
	has = strcmp(portal_answer_cell(&a, 0, 0), "1") == 0;
	portal_answer_free(&a);
	return has;
}

void portal_page_totp(struct portal_req *r)
{
	struct buf b;
	int has;

	if (portal_req_session(r, PORTAL_LV_FULL) == 0 || (has = portal_has_totp(r)) < 0)
		return;
	buf_init(&b);
	html_begin(&b, r, "Authenticator app");
	html_para(&b, "note",
	          has ? "An authenticator app is set up: log in with your password "
	                "immediately followed by its current code."
	              : "No authenticator app is set up.");
	html_form(&b, r, "/totp/begin",
	          has ? "Replace your authenticator app? The old one keeps "
	                "working until you confirm the new one."
	              : NULL);
	html_form_end(&b, has ? "Set up a new app" : "Set up an app");
	if (has) {
		html_form(&b, r, "/totp/remove",
		          "Remove your authenticator app? Codes from it stop working at once.");
		html_password_again(&b);
		html_form_end(&b, "Remove");
	}
	html_end(&b);
	portal_respond_html(r, MHD_HTTP_OK, &b);
	buf_free(&b);
}

/* The secret of an otpauth:// URI, for people who type it in instead of scanning. */
static void portal_totp_secret(struct buf *b, const char *uri)
{
	const char *s = strstr(uri, "secret=");
	size_t len;

	if (s == NULL)
		return;
	s += 7;
	len = strcspn(s, "&");
	buf_append_str(
	    b, "<p>Or type this key into the app: <code class=\"secret\" id=\"totp-secret\">");
	buf_append(b, s, len); /* base32: nothing to escape */
	buf_append_str(b, "</code></p>\n");
}

void portal_post_totp_begin(struct portal_req *r)
{
	struct portal_answer a;
	struct buf b;

	if (portal_req_session(r, PORTAL_LV_FULL) == 0)
		return;
	portal_req_call(r, "totp_begin", 0, NULL, &a);
	if (a.status != IPC_PORTAL_OK || a.rows != 1) {
		portal_respond_answer(r, &a, "/totp");
		portal_answer_free(&a);
		return;
	}
	buf_init(&b);
	b.secret = true;
	html_begin(&b, r, "Scan this code");
	html_para(&b, "note",
	          "Scan it with your authenticator app, then enter the code the app "
	          "shows to finish. This page is shown only once.");
	buf_append_str(&b, "<div class=\"qr\">");
	if (portal_qr_svg(&b, portal_answer_cell(&a, 0, 0)) < 0)
		html_para(&b, "error", "The QR code could not be drawn: type the key instead.");
	buf_append_str(&b, "</div>\n");
	portal_totp_secret(&b, portal_answer_cell(&a, 0, 0));
	html_form(&b, r, "/totp/confirm", NULL);
	buf_append_str(&b, "<label>Code from the app <input name=\"code\" inputmode=\"numeric\" "
	                   "autocomplete=\"one-time-code\" required></label>");
	html_form_end(&b, "Confirm");
	html_end(&b);
	portal_respond_html(r, MHD_HTTP_OK, &b);
	buf_free(&b);
	portal_answer_free(&a);
}

static void portal_done_page(struct portal_req *r, const char *title, const char *text,
                             const char *back)
{
	struct buf b;

	buf_init(&b);
	html_begin(&b, r, title);
	html_para(&b, "ok", text);
	buf_printf(&b, "<p><a href=\"%s\">Back</a></p>\n", back);
	html_end(&b);
	portal_respond_html(r, MHD_HTTP_OK, &b);
	buf_free(&b);
}

void portal_post_totp_confirm(struct portal_req *r)
{
	const char *code = portal_form_get(&r->form, "code");
	struct portal_answer a;

	if (portal_req_session(r, PORTAL_LV_FULL) == 0)
		return;
	portal_req_call(r, "totp_confirm", 1, (const char *const[]){code != NULL ? code : ""}, &a);
	if (a.status == IPC_PORTAL_OK)
		portal_done_page(
		    r, "Authenticator app set up",
		    "Done: from now on, log in with your password immediately followed "
		    "by the app's current code.",
		    "/");
	else
		portal_respond_answer(r, &a, "/totp");
	portal_answer_free(&a);
}

void portal_post_totp_remove(struct portal_req *r)
{
	const char *password = portal_form_get(&r->form, "password");
	struct portal_answer a;

	if (portal_req_session(r, PORTAL_LV_FULL) == 0)
		return;
	portal_req_call(r, "totp_remove", 1,
	                (const char *const[]){password != NULL ? password : ""}, &a);
	if (a.status == IPC_PORTAL_OK)
		portal_respond_redirect(r, "/totp", 0, NULL);
	else
		portal_respond_answer(r, &a, "/totp");
	portal_answer_free(&a);
}

void portal_page_recovery(struct portal_req *r)
{
	struct portal_answer a;
	struct buf b;

	if (portal_req_session(r, PORTAL_LV_FULL) == 0)
		return;
	portal_req_call(r, "overview", 0, NULL, &a);
	if (a.status != IPC_PORTAL_OK || a.rows != 1) {
		portal_respond_answer(r, &a, "/");
		portal_answer_free(&a);
		return;
	}
	buf_init(&b);
	html_begin(&b, r, "Recovery codes");
	buf_printf(&b,
	           "<p>You have <strong>%d</strong> unused recovery codes. Each one replaces "
	           "the code from your app once, for when the app is lost.</p>\n",
	           atoi(portal_answer_cell(&a, 0, 2)));
	html_form(&b, r, "/recovery/new", "Make new recovery codes? The old ones stop working.");
	html_form_end(&b, "Make new codes");
	html_end(&b);
	portal_respond_html(r, MHD_HTTP_OK, &b);
	buf_free(&b);
	portal_answer_free(&a);
}

void portal_post_recovery_new(struct portal_req *r)
{
	struct portal_answer a;
	struct buf b;

	if (portal_req_session(r, PORTAL_LV_FULL) == 0)
		return;
	portal_req_call(r, "recovery_new", 0, NULL, &a);
	if (a.status != IPC_PORTAL_OK) {
		portal_respond_answer(r, &a, "/recovery");
		portal_answer_free(&a);
		return;
	}
	buf_init(&b);
	b.secret = true;
	html_begin(&b, r, "Your new recovery codes");
	html_para(&b, "note",
	          "Print them or write them down and keep them safe: they are shown "
	          "only this once. The old codes no longer work.");
	buf_append_str(&b, "<ol class=\"codes secret\" id=\"recovery-codes\">");
	for (uint32_t i = 0; i < a.rows; i++) {
		buf_append_str(&b, "<li><code>");
		html_text(&b, portal_answer_cell(&a, i, 0));
		buf_append_str(&b, "</code></li>");
	}
	buf_append_str(&b, "</ol>\n<p><a href=\"/\">Done</a></p>\n");
	html_end(&b);
	portal_respond_html(r, MHD_HTTP_OK, &b);
	buf_free(&b);
	portal_answer_free(&a);
}
