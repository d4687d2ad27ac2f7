/* Pending approvals: logins from mail clients held until the user says yes (a touch of the
 * security key bound to that login, or a TOTP code) or no. The page states plainly what is
 * waiting: protocol, address, client, when. */
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
static const char *const portal_approve_fields[] = {"client_data", "auth_data", "sig", "cred_id",
                                                    "user_handle"};

static void portal_approval_id_field(struct buf *b, const char *id)
{
	buf_append_str(b, "<input type=\"hidden\" name=\"id\" value=\"");
	html_text(b, id);
	buf_append_str(b, "\">");
}

static void portal_approval_minutes(struct buf *b)
{
	buf_append_str(b, "<label>Also let further logins from this network through for "
	                  "<input name=\"minutes\" type=\"number\" min=\"0\" max=\"1440\" "
	                  "value=\"0\" inputmode=\"numeric\"> minutes</label>");
}

/* The key form: the challenge bound to this login travels in data- attributes. */
static void portal_approval_key_form(struct buf *b, const struct portal_req *r,
                                     const struct portal_answer *a, uint32_t i)
{
	static const struct {
		const char *attr;
		uint32_t col;
	} attrs[] = {{"challenge", 6}, {"rp-id", 7}, {"allow", 10}};

	buf_append_str(b, "<form method=\"post\" action=\"/approvals/key\" class=\"key-approve\"");
	for (size_t k = 0; k < sizeof(attrs) / sizeof(attrs[0]); k++) {
		buf_printf(b, " data-%s=\"", attrs[k].attr);
		html_text(b, portal_answer_cell(a, i, attrs[k].col));
		buf_append_str(b, "\"");
	}
	buf_append_str(b, "><input type=\"hidden\" name=\"csrf\" value=\"");
	html_text(b, r->csrf);
	buf_append_str(b, "\">");
	portal_approval_id_field(b, portal_answer_cell(a, i, 0));
	for (size_t k = 0; k < sizeof(portal_approve_fields) / sizeof(portal_approve_fields[0]);
	     k++)
		buf_printf(b, "<input type=\"hidden\" name=\"%s\">", portal_approve_fields[k]);
	portal_approval_minutes(b);
	buf_append_str(b, "<button type=\"button\" class=\"key-use\">Approve with my security key"
	                  "</button><p class=\"error key-error\" hidden></p></form>\n");
}

static void portal_approval_row(struct buf *b, const struct portal_req *r,
                                const struct portal_answer *a, uint32_t i)
{
	const char *proto = portal_answer_cell(a, i, 1), *client = portal_answer_cell(a, i, 3);

	buf_append_str(b, "<section class=\"pending\"><p><strong>");
	html_text(b, strcmp(proto, "pop3") == 0   ? "POP3"
	             : strcmp(proto, "imap") == 0 ? "IMAP"
	                                          : proto);
	buf_append_str(b, " login from ");
	html_text(b, portal_answer_cell(a, i, 2));
	buf_append_str(b, "</strong>, client ");
	html_text(b, client[0] != '\0' ? client : "(not named)");
	buf_append_str(b, ", at ");
	html_time(b, (time_t)atoll(portal_answer_cell(a, i, 4)));
	buf_append_str(b, "; it waits until ");
	html_time(b, (time_t)atoll(portal_answer_cell(a, i, 5)));
	buf_append_str(b, ".</p>\n");
	portal_approval_key_form(b, r, a, i);
	html_form(b, r, "/approvals/totp", NULL);
	portal_approval_id_field(b, portal_answer_cell(a, i, 0));
	buf_append_str(b, "<label>Or a code from your authenticator app <input name=\"code\" "
	                  "inputmode=\"numeric\" autocomplete=\"one-time-code\"></label>");
	portal_approval_minutes(b);
	html_form_end(b, "Approve with the code");
	html_form(b, r, "/approvals/deny", NULL);
	portal_approval_id_field(b, portal_answer_cell(a, i, 0));
	html_form_end(b, "Deny: this was not me");
	buf_append_str(b, "</section>\n");
}

/* ?done=approved|denied: back from a decision. */
void portal_page_approvals(struct portal_req *r)
{
	const char *done = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "done");
	struct portal_answer a;
	struct buf b;

	if (portal_req_session(r, PORTAL_LV_FULL) == 0)
		return;
	portal_req_call(r, "approval_list", 0, NULL, &a);
	if (a.status != IPC_PORTAL_OK) {
		portal_respond_answer(r, &a, "/");
		portal_answer_free(&a);
		return;
	}
	buf_init(&b);
	html_begin(&b, r, "Pending approvals");
	if (done != NULL && strcmp(done, "approved") == 0)
		html_para(&b, "ok", "Approved: the login goes through.");
	else if (done != NULL && strcmp(done, "denied") == 0)
		html_para(&b, "ok",
		          "Denied: the login fails, and it is recorded as a sign that "
		          "someone has your password. Change it.");
	html_para(&b, "note",
	          "A mail client that sends your password alone waits here until you say yes. "
	          "Approve only a login you are making yourself, right now.");
	if (a.rows == 0)
		html_para(&b, "note", "No login is waiting.");
	for (uint32_t i = 0; i < a.rows; i++)
		portal_approval_row(&b, r, &a, i);
	html_end(&b);
	portal_respond_html(r, MHD_HTTP_OK, &b);
	buf_free(&b);
	portal_answer_free(&a);
}

static void portal_approval_decided(struct portal_req *r, const char *op, unsigned argc,
                                    const char *const *argv, const char *done)
{
	struct portal_answer a;

	if (portal_req_session(r, PORTAL_LV_FULL) == 0)
		return;
	portal_req_call(r, op, argc, argv, &a);
	if (a.status == IPC_PORTAL_OK)
		portal_respond_redirect(r, done, 0, NULL);
	else
		portal_respond_answer(r, &a, "/approvals");
	portal_answer_free(&a);
}

static const char *portal_field(struct portal_req *r, const char *name)
{
	const char *v = portal_form_get(&r->form, name);

	return v != NULL ? v : "";
}

void portal_post_approvals_key(struct portal_req *r)
{
	const char *argv[7] = {portal_field(r, "id"), portal_field(r, "minutes")};

	for (size_t i = 0; i < 5; i++)
		argv[2 + i] = portal_field(r, portal_approve_fields[i]);
	portal_approval_decided(r, "approval_key", 7, argv, "/approvals?done=approved");
}

void portal_post_approvals_totp(struct portal_req *r)
{
	char compact[PORTAL_CODE_MAX];

	portal_form_code(portal_field(r, "code"), compact, sizeof(compact));
	portal_approval_decided(
	    r, "approval_totp", 3,
	    (const char *const[]){portal_field(r, "id"), compact, portal_field(r, "minutes")},
	    "/approvals?done=approved");
	sodium_memzero(compact, sizeof(compact));
}

void portal_post_approvals_deny(struct portal_req *r)
{
	portal_approval_decided(r, "approval_deny", 1, (const char *const[]){portal_field(r, "id")},
	                        "/approvals?done=denied");
}
