/* Setting up mail programs: the files they fetch by themselves (Thunderbird autoconfig,
 * Outlook Autodiscover), and for a signed-in user the settings to type in and an Apple profile
 * that carries an app password minted for that device. */
#include "common/ipc.h"
#include "server/portal/portal-clients.h"
#include "server/portal/portal-html.h"
#include "server/portal/portal-pages.h"

#include <microhttpd.h>
#include <string.h>

#define CLIENTS_XML "application/xml; charset=utf-8"

static int portal_clients_site(struct portal_req *r, struct clients_site *s)
{
	if (clients_site_init(r->site->cfg, s) == 0)
		return 0;
	portal_respond_error(r, MHD_HTTP_NOT_FOUND, "Page not found");
	return -1;
}

void portal_clients_autoconfig(struct portal_req *r)
{
	const char *address =
	    MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "emailaddress");
	struct clients_site s;
	struct buf b;

	if (portal_clients_site(r, &s) < 0)
		return;
	/* an address we cannot vouch for gets the placeholders, never echoed text */
	if (address != NULL && !clients_address_ok(address, strlen(address)))
		address = NULL;
	buf_init(&b);
	clients_autoconfig(&b, &s, address);
	portal_respond_document(r, &b, CLIENTS_XML, false, NULL);
	buf_free(&b);
}

void portal_clients_autodiscover(struct portal_req *r)
{
	char address[CLIENTS_ADDRESS_MAX + 1];
	struct clients_site s;
	struct buf b;

	if (portal_clients_site(r, &s) < 0)
		return;
	if (r->body == NULL || r->body->len == 0 ||
	    clients_autodiscover_address(r->body->data, r->body->len, address) == 0)
		address[0] = '\0';
	buf_init(&b);
	clients_autodiscover(&b, &s, address[0] != '\0' ? address : NULL);
	portal_respond_document(r, &b, CLIENTS_XML, true, NULL);
	buf_free(&b);
}

static void portal_clients_row(struct buf *b, const char *what, const char *value)
{
	buf_append_str(b, "<tr><th>");
	html_text(b, what);
	buf_append_str(b, "</th><td>");
	html_text(b, value);
	buf_append_str(b, "</td></tr>\n");
}

static void portal_clients_settings(struct buf *b, const struct portal_req *r,
                                    const struct clients_site *s)
{
	buf_append_str(b, "<h2>Settings</h2>\n<table>\n");
	portal_clients_row(b, "Server", s->host);
	if (s->imap_port[0] != '\0')
		portal_clients_row(b, "IMAP port", s->imap_port);
	if (s->pop3_port[0] != '\0')
		portal_clients_row(b, "POP3 port", s->pop3_port);
	portal_clients_row(b, "Security", "SSL/TLS (not STARTTLS)");
	portal_clients_row(b, "User name", r->user);
	portal_clients_row(b, "Password",
	                   "your password followed by the 6-digit code of your authenticator "
	                   "app, or an app password");
	buf_append_str(b, "</table>\n");
	html_para(b, "note",
	          "Thunderbird and Outlook find these settings by themselves from your address.");
}

static void portal_clients_apple_form(struct buf *b, const struct portal_req *r,
                                      const struct clients_site *s)
{
	buf_append_str(b, "<h2>iPhone, iPad, Mac</h2>\n");
	if (s->imap_port[0] == '\0' || s->smtp_host[0] == '\0') {
		html_para(b, "note",
		          "A ready-made profile needs the server's IMAP port and an outgoing mail "
		          "server ([clients] submission): ask your administrator.");
		return;
	}
	html_para(b, "note",
	          "Download a profile that sets up Mail with an app password of its own for that "
	          "device (revoke it on the App passwords page if the device is lost). Open the "
	          "file on the device and install it in Settings.");
	html_form(b, r, "/clients/apple", NULL);
	buf_append_str(b, "<div class=\"stack\"><label>Device <input name=\"label\" "
	                  "maxlength=\"64\" placeholder=\"iPhone\"></label></div>");
	html_form_end(b, "Download profile");
}

void portal_page_clients(struct portal_req *r)
{
	struct clients_site s;
	struct buf b;

	if (portal_req_session(r, PORTAL_LV_FULL) == 0 || portal_clients_site(r, &s) < 0)
		return;
	buf_init(&b);
	html_begin(&b, r, "Mail programs");
	portal_clients_settings(&b, r, &s);
	portal_clients_apple_form(&b, r, &s);
	html_end(&b);
	portal_respond_html(r, MHD_HTTP_OK, &b);
	buf_free(&b);
}

void portal_post_clients_apple(struct portal_req *r)
{
	const char *label = portal_form_get(&r->form, "label");
	char profile_uuid[CLIENTS_UUID_LEN], account_uuid[CLIENTS_UUID_LEN];
	struct clients_site s;
	struct portal_answer a;
	struct buf b;

	if (portal_req_session(r, PORTAL_LV_FULL) == 0 || portal_clients_site(r, &s) < 0)
		return;
	if (s.imap_port[0] == '\0' || s.smtp_host[0] == '\0') {
		portal_respond_error(r, MHD_HTTP_NOT_FOUND, "Page not found");
		return;
	}
	portal_req_call(r, "apppass_add", 3,
	                (const char *const[]){label != NULL && label[0] != '\0' ? label : "Apple "
	                                                                                  "device",
	                                      "imap", "0"},
	                &a);
	if (a.status != IPC_PORTAL_OK || a.rows != 1) {
		portal_respond_answer(r, &a, "/clients");
		portal_answer_free(&a);
		return;
	}
	clients_uuid(profile_uuid);
	clients_uuid(account_uuid);
	buf_init(&b);
	b.secret = true;
	clients_mobileconfig(&b, &s, r->user, portal_answer_cell(&a, 0, 0), profile_uuid,
	                     account_uuid);
	portal_answer_free(&a);
	portal_respond_document(r, &b, "application/x-apple-aspen-config", true,
	                        "twofold.mobileconfig");
	buf_free(&b);
}
