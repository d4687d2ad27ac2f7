/* Recent logins, with "password right, second factor wrong" shown plainly. */
#include "common/ipc.h"
#include "server/portal/portal-html.h"
#include "server/portal/portal-pages.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

static void portal_log_row(struct buf *b, const struct portal_answer *a, uint32_t i)
{
	bool stolen = strcmp(portal_answer_cell(a, i, 7), "1") == 0;
	bool ok = strcmp(portal_answer_cell(a, i, 5), "ok") == 0;
	bool pending = strcmp(portal_answer_cell(a, i, 5), "pending") == 0;

	buf_printf(b, "<tr class=\"%s\"><td data-label=\"When\">",
	           stolen    ? "alarm"
	           : ok      ? "ok"
	           : pending ? "pending"
	                     : "fail");
	html_time(b, (time_t)atoll(portal_answer_cell(a, i, 0)));
	buf_append_str(b, "</td><td data-label=\"How\">");
	html_text(b, portal_answer_cell(a, i, 1));
	buf_append_str(b, "</td><td data-label=\"From\">");
	html_text(b, portal_answer_cell(a, i, 2));
	if (portal_answer_cell(a, i, 3)[0] != '\0') {
		buf_append_str(b, " (");
		html_text(b, portal_answer_cell(a, i, 3));
		buf_append_str(b, ")");
	}
	buf_append_str(b, "</td><td data-label=\"Result\">");
	if (stolen)
		buf_append_str(b, "<strong>Password right, second factor wrong</strong>");
	else if (ok)
		html_text(b, portal_answer_cell(a, i, 4));
	else if (pending && strcmp(portal_answer_cell(a, i, 4), "approval") == 0)
		buf_append_str(b, "password right, waiting for your approval");
	else if (pending)
		buf_append_str(b, "password right, security key asked for");
	else
		buf_append_str(b, "failed");
	buf_append_str(b, "</td></tr>\n");
}

void portal_page_log(struct portal_req *r)
{
	struct portal_answer a;
	struct buf b;
	bool alarm = false;

	if (portal_req_session(r, PORTAL_LV_FULL) == 0)
		return;
	portal_req_call(r, "log", 0, NULL, &a);
	if (a.status != IPC_PORTAL_OK) {
		portal_respond_answer(r, &a, "/");
		portal_answer_free(&a);
		return;
	}
	for (uint32_t i = 0; i < a.rows; i++)
		alarm |= strcmp(portal_answer_cell(&a, i, 7), "1") == 0;
	buf_init(&b);
	html_begin(&b, r, "Recent logins");
	if (alarm)
		html_para(
		    &b, "alarm",
		    "Someone gave your password with a wrong or missing second factor (marked "
		    "below). If that was not you, your password is known to someone else: "
		    "change it now.");
	buf_append_str(&b, "<table><tr><th>When</th><th>How</th><th>From</th><th>Result</th>"
	                   "</tr>\n");
	for (uint32_t i = 0; i < a.rows; i++)
		portal_log_row(&b, &a, i);
	buf_append_str(&b, "</table>\n");
	html_end(&b);
	portal_respond_html(r, MHD_HTTP_OK, &b);
	buf_free(&b);
	portal_answer_free(&a);
}
