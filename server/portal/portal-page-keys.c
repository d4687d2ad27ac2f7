/* Security keys: the enrolment link, adding a key (WebAuthn registration through the one
 * script), listing, renaming, removing. */
#include "common/ipc.h"
#include "server/portal/portal-html.h"
#include "server/portal/portal-pages.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PORTAL_INVITE_MAX 64

/* GET /enrol?t=TOKEN only shows a button: a link preview or a mail scanner that fetches the
 * link must not use it up. */
void portal_page_enrol(struct portal_req *r)
{
	const char *t = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "t");
	struct buf b;

	if (t == NULL || t[0] == '\0' || strlen(t) > PORTAL_INVITE_MAX ||
	    strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") !=
	        strlen(t)) {
		portal_respond_error(r, MHD_HTTP_NOT_FOUND, "This enrolment link is not valid");
		return;
	}
	buf_init(&b);
	b.secret = true;
	html_begin(&b, r, "Register a security key");
	html_para(&b, "note",
	          "Your administrator sent you this link to register a security key "
	          "for your mail account. It works once.");
	buf_append_str(&b, "<form method=\"post\" action=\"/enrol\"><input type=\"hidden\" "
	                   "name=\"t\" value=\"");
	html_text(&b, t);
	buf_append_str(&b, "\"><button type=\"submit\">Continue</button></form>\n");
	html_end(&b);
	portal_respond_html(r, MHD_HTTP_OK, &b);
	buf_free(&b);
}

void portal_post_enrol(struct portal_req *r)
{
	const char *t = portal_form_get(&r->form, "t");
	struct portal_answer a;

	portal_req_call(r, "enrol", 1, (const char *const[]){t != NULL ? t : ""}, &a);
	if (a.status == IPC_PORTAL_OK && a.rows == 1)
		portal_respond_redirect(r, "/keys", PORTAL_SET_COOKIE,
		                        portal_answer_cell(&a, 0, 0));
	else
		portal_respond_answer(r, &a, "/signin");
	portal_answer_free(&a);
}

static void portal_key_row(struct buf *b, const struct portal_req *r, const struct portal_answer *a,
                           uint32_t i)
{
	buf_append_str(b, "<tr><td data-label=\"Name\">");
	html_text(b, portal_answer_cell(a, i, 1));
	buf_append_str(b, "</td><td data-label=\"Added\">");
	html_time(b, (time_t)atoll(portal_answer_cell(a, i, 3)));
	buf_append_str(b, "</td><td data-label=\"Last used\">");
	html_time(b, (time_t)atoll(portal_answer_cell(a, i, 4)));
	buf_append_str(b, "</td><td>");
	html_form(b, r, "/keys/rename", NULL);
	buf_append_str(b, "<input type=\"hidden\" name=\"id\" value=\"");
	html_text(b, portal_answer_cell(a, i, 0));
	buf_append_str(b, "\"><input name=\"label\" maxlength=\"64\" aria-label=\"New name\" "
	                  "value=\"");
	html_text(b, portal_answer_cell(a, i, 1));
	buf_append_str(b, "\">");
	html_form_end(b, "Rename");
	html_form(b, r, "/keys/remove", "Remove this security key? It stops working at once.");
	buf_append_str(b, "<input type=\"hidden\" name=\"id\" value=\"");
	html_text(b, portal_answer_cell(a, i, 0));
	buf_append_str(b, "\">");
	html_password_again(b);
	html_form_end(b, "Remove");
	buf_append_str(b, "</td></tr>\n");
}

/* The list (full sessions only). -1 when a response has been queued instead. */
static int portal_keys_list(struct buf *b, struct portal_req *r)
{
	struct portal_answer a;

	portal_req_call(r, "key_list", 0, NULL, &a);
	if (a.status != IPC_PORTAL_OK) {
		portal_respond_answer(r, &a, "/");
		portal_answer_free(&a);
		return -1;
	}
	if (a.rows == 0)
		html_para(b, "note", "You have no security keys.");
	else
		buf_append_str(b, "<table id=\"keys\"><tr><th>Name</th><th>Added</th><th>Last used"
		                  "</th><th></th></tr>\n");
	for (uint32_t i = 0; i < a.rows; i++)
		portal_key_row(b, r, &a, i);
	if (a.rows > 0)
		buf_append_str(b, "</table>\n");
	portal_answer_free(&a);
	return 0;
}

/* The form the script fills in from navigator.credentials.create(); the options travel in
 * data- attributes, so the page needs no inline script and no JSON endpoint. */
static int portal_keys_add_form(struct buf *b, struct portal_req *r)
{
	static const char *const attrs[] = {"challenge", "rp-id", "user-name", "user-id",
	                                    "exclude"};
	struct portal_answer a;

	portal_req_call(r, "key_options", 0, NULL, &a);
	if (a.status != IPC_PORTAL_OK || a.rows != 1) {
		portal_respond_answer(r, &a, "/");
		portal_answer_free(&a);
		return -1;
	}
	buf_append_str(b, "<h2>Add a security key</h2>\n<form method=\"post\" "
	                  "action=\"/keys/register\" id=\"key-register\"");
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		buf_printf(b, " data-%s=\"", attrs[i]);
		html_text(b, portal_answer_cell(&a, 0, (uint32_t)i));
		buf_append_str(b, "\"");
	}
	buf_append_str(b, "><input type=\"hidden\" name=\"csrf\" value=\"");
	html_text(b, r->csrf);
	buf_append_str(b, "\"><input type=\"hidden\" name=\"client_data\"><input type=\"hidden\" "
	                  "name=\"attestation\"><input type=\"hidden\" name=\"cred_id\">"
	                  "<div class=\"stack\"><label>Name (which key) <input name=\"label\" "
	                  "maxlength=\"64\" placeholder=\"blue key\"></label>"
	                  "<button type=\"button\" id=\"key-add\">Add a security key</button>"
	                  "</div><p class=\"error key-error\" hidden></p></form>\n");
	portal_answer_free(&a);
	return 0;
}

void portal_page_keys(struct portal_req *r)
{
	struct buf b;

	if (portal_req_session(r, PORTAL_LV_ENROL | PORTAL_LV_FULL) == 0)
		return;
	buf_init(&b);
	html_begin(&b, r, "Security keys");
	html_para(&b, "note",
	          "A security key (a USB or NFC key, or your phone) is a second factor "
	          "you touch instead of typing a code.");
	if ((r->level == IPC_PORTAL_LEVEL_FULL && portal_keys_list(&b, r) < 0) ||
	    portal_keys_add_form(&b, r) < 0) {
		buf_free(&b);
		return;
	}
	html_end(&b);
	portal_respond_html(r, MHD_HTTP_OK, &b);
	buf_free(&b);
}

void portal_post_keys_register(struct portal_req *r)
{
	static const char *const fields[] = {"client_data", "attestation", "cred_id", "label"};
	const char *argv[4];
	struct portal_answer a;
	struct buf b;
	bool enrol;

	if (portal_req_session(r, PORTAL_LV_ENROL | PORTAL_LV_FULL) == 0)
		return;
	enrol = r->level != IPC_PORTAL_LEVEL_FULL;
	for (size_t i = 0; i < 4; i++) {
		argv[i] = portal_form_get(&r->form, fields[i]);
		argv[i] = argv[i] != NULL ? argv[i] : "";
	}
	portal_req_call(r, "key_register", 4, argv, &a);
	if (a.status != IPC_PORTAL_OK) {
		portal_respond_answer(r, &a, "/keys");
		portal_answer_free(&a);
		return;
	}
	portal_answer_free(&a);
	buf_init(&b);
	if (enrol)
		r->user[0] = '\0'; /* the enrolment session is over */
	html_begin(&b, r, "Security key added");
	html_para(&b, "ok",
	          enrol ? "Your security key is registered. Sign in with your password "
	                  "and the key to manage your sign-in methods."
	                : "Your security key is registered.");
	buf_printf(&b, "<p><a href=\"%s\">Continue</a></p>\n", enrol ? "/signin" : "/keys");
	html_end(&b);
	portal_respond_html(r, MHD_HTTP_OK, &b);
	buf_free(&b);
}

static void portal_keys_change(struct portal_req *r, const char *op, unsigned argc,
                               const char *const *argv)
{
	struct portal_answer a;

	if (portal_req_session(r, PORTAL_LV_FULL) == 0)
		return;
	portal_req_call(r, op, argc, argv, &a);
	if (a.status == IPC_PORTAL_OK)
		portal_respond_redirect(r, "/keys", 0, NULL);
	else
		portal_respond_answer(r, &a, "/keys");
	portal_answer_free(&a);
}

void portal_post_keys_rename(struct portal_req *r)
{
	const char *id = portal_form_get(&r->form, "id"),
	           *label = portal_form_get(&r->form, "label");

	portal_keys_change(r, "key_rename", 2,
	                   (const char *const[]){id != NULL ? id : "", label != NULL ? label : ""});
}

void portal_post_keys_remove(struct portal_req *r)
{
	const char *id = portal_form_get(&r->form, "id"),
	           *password = portal_form_get(&r->form, "password");

	portal_keys_change(
	    r, "key_remove", 2,
	    (const char *const[]){id != NULL ? id : "", password != NULL ? password : ""});
}
