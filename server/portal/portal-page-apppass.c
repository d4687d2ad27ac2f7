/* App passwords: list with last use, create (shown once), revoke. */
#include "common/ipc.h"
#include "server/portal/portal-html.h"
#include "server/portal/portal-pages.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void portal_apppass_row(struct buf *b, const struct portal_req *r,
                               const struct portal_answer *a, uint32_t i)
{
	const char *expires = portal_answer_cell(a, i, 4);

	buf_append_str(b, "<tr><td data-label=\"Label\">");
	html_text(b, portal_answer_cell(a, i, 1)[0] != '\0' ? portal_answer_cell(a, i, 1)
	                                                    : "(no label)");
	buf_append_str(b, "</td><td data-label=\"For\">");
	html_text(b, portal_answer_cell(a, i, 2));
	buf_append_str(b, "</td><td data-label=\"Created\">");
	html_time(b, (time_t)atoll(portal_answer_cell(a, i, 3)));
	buf_append_str(b, "</td><td data-label=\"Last used\">");
	html_time(b, (time_t)atoll(portal_answer_cell(a, i, 5)));
	if (portal_answer_cell(a, i, 6)[0] != '\0') {
		buf_append_str(b, " from ");
		html_text(b, portal_answer_cell(a, i, 6));
	}
	buf_append_str(b, "</td><td data-label=\"Expires\">");
	if (strcmp(expires, "0") == 0)
		buf_append_str(b, "never");
	else
		html_time(b, (time_t)atoll(expires));
	buf_append_str(b, "</td><td>");
	html_form(b, r, "/apppass/revoke",
	          "Revoke this app password? Devices using it stop working.");
	buf_append_str(b, "<input type=\"hidden\" name=\"id\" value=\"");
	html_text(b, portal_answer_cell(a, i, 0));
	buf_append_str(b, "\">");
	html_form_end(b, "Revoke");
	buf_append_str(b, "</td></tr>\n");
}

static void portal_apppass_new_form(struct buf *b, const struct portal_req *r)
{
	buf_append_str(b, "<h2>New app password</h2>\n");
	html_form(b, r, "/apppass/new", NULL);
	buf_append_str(b, "<div class=\"stack\"><label>Label (which device) <input name=\"label\" "
	                  "maxlength=\"64\" placeholder=\"phone\"></label>"
	                  "<label>For <select name=\"proto\"><option value=\"all\">IMAP and POP3"
	                  "</option><option value=\"imap\">IMAP only</option><option "
	                  "value=\"pop3\">POP3 only</option></select></label>"
	                  "<label>Expires after (days, 0 = never) <input name=\"days\" "
	                  "inputmode=\"numeric\" value=\"0\"></label></div>");
	html_form_end(b, "Create");
}

void portal_page_apppass(struct portal_req *r)
{
	struct portal_answer a;
	struct buf b;

	if (portal_req_session(r, PORTAL_LV_FULL) == 0)
		return;
	portal_req_call(r, "apppass_list", 0, NULL, &a);
	if (a.status != IPC_PORTAL_OK) {
		portal_respond_answer(r, &a, "/");
		portal_answer_free(&a);
		return;
	}
	buf_init(&b);
	html_begin(&b, r, "App passwords");
	html_para(&b, "note",
	          "An app password lets one mail program log in without a code. "
	          "Give each device its own, and revoke the one of a lost device.");
	if (a.rows == 0)
		html_para(&b, "note", "You have no app passwords.");
	else
		buf_append_str(&b, "<table><tr><th>Label</th><th>For</th><th>Created</th><th>Last "
		                   "used</th><th>Expires</th><th></th></tr>\n");
	for (uint32_t i = 0; i < a.rows; i++)
		portal_apppass_row(&b, r, &a, i);
	if (a.rows > 0)
		buf_append_str(&b, "</table>\n");
	portal_apppass_new_form(&b, r);
	html_end(&b);
	portal_respond_html(r, MHD_HTTP_OK, &b);
	buf_free(&b);
	portal_answer_free(&a);
}

void portal_post_apppass_new(struct portal_req *r)
{
	const char *label = portal_form_get(&r->form, "label");
	const char *proto = portal_form_get(&r->form, "proto");
	const char *days = portal_form_get(&r->form, "days");
	struct portal_answer a;
	struct buf b;

	if (portal_req_session(r, PORTAL_LV_FULL) == 0)
		return;
	portal_req_call(r, "apppass_add", 3,
	                (const char *const[]){label != NULL ? label : "",
	                                      proto != NULL ? proto : "all",
	                                      days != NULL && days[0] != '\0' ? days : "0"},
	                &a);
	if (a.status != IPC_PORTAL_OK || a.rows != 1) {
		portal_respond_answer(r, &a, "/apppass");
		portal_answer_free(&a);
		return;
	}
	buf_init(&b);
	b.secret = true;
	html_begin(&b, r, "New app password");
	html_para(&b, "note",
	          "Enter it in your mail program as the password. It is shown only "
	          "this once: twofold keeps only a hash of it.");
	buf_append_str(&b, "<p class=\"secret\" id=\"apppass\">");
	html_text(&b, portal_answer_cell(&a, 0, 0));
	buf_append_str(&b, "</p>\n<p><a href=\"/apppass\">Done</a></p>\n");
	html_end(&b);
	portal_respond_html(r, MHD_HTTP_OK, &b);
	buf_free(&b);
	portal_answer_free(&a);
}

void portal_post_apppass_revoke(struct portal_req *r)
{
	const char *id = portal_form_get(&r->form, "id");
	struct portal_answer a;

	if (portal_req_session(r, PORTAL_LV_FULL) == 0)
		return;
	portal_req_call(r, "apppass_revoke", 1, (const char *const[]){id != NULL ? id : ""}, &a);
	if (a.status == IPC_PORTAL_OK)
		portal_respond_redirect(r, "/apppass", 0, NULL);
	else
		portal_respond_answer(r, &a, "/apppass");
	portal_answer_free(&a);
}
