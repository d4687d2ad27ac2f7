#include "server/portal/portal-html.h"
#include "common/ipc.h"
#include "server/portal/portal-http.h"

#include <string.h>

void html_text(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		size_t n = strcspn(s, "&<>\"'");

		buf_append(b, s, n);
		s += n;
		switch (*s) {
		case '&':
			buf_append_str(b, "&amp;");
			break;
		case '<':
			buf_append_str(b, "&lt;");
			break;
		case '>':
			buf_append_str(b, "&gt;");
			break;
		case '"':
			buf_append_str(b, "&quot;");
			break;
		case '\'':
			buf_append_str(b, "&#39;");
			break;
		default:
			return; /* the end */
		}
	}
}

static void html_nav(struct buf *b, const struct portal_req *r)
{
	static const char *const links[][2] = {
	    {"/", "Overview"},
	    {"/keys", "Security keys"},
	    {"/totp", "Authenticator app"},
	    {"/apppass", "App passwords"},
	    {"/recovery", "Recovery codes"},
	    {"/log", "Recent logins"},
	    {"/approvals", "Pending approvals"},
	    {"/clients", "Mail programs"},
	};

	buf_append_str(b, "<nav>");
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		buf_printf(b, "<a href=\"%s\"%s>%s</a> ", links[i][0],
		           strcmp(r->path, links[i][0]) == 0 ? " aria-current=\"page\"" : "",
		           links[i][1]);
	buf_append_str(b, "</nav>");
}

void html_begin(struct buf *b, const struct portal_req *r, const char *title)
{
	buf_append_str(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	                  "<title>");
	html_text(b, title);
	buf_append_str(b, " - twofold</title><link rel=\"stylesheet\" href=\"/static/portal.css\">"
	                  "<script src=\"/static/portal.js\" defer></script></head>\n<body><header>"
	                  "<span class=\"brand\">twofold</span>");
	if (r->user[0] != '\0') {
		buf_append_str(b, "<span class=\"who\">");
		html_text(b, r->user);
		buf_append_str(b, "</span>");
		html_form(b, r, "/signout", NULL);
		html_form_end(b, "Sign out");
	}
	buf_append_str(b, "</header>\n");
	if (r->user[0] != '\0' && r->level == IPC_PORTAL_LEVEL_FULL)
		html_nav(b, r);
	buf_append_str(b, "<main>\n<h1>");
	html_text(b, title);
	buf_append_str(b, "</h1>\n");
}

void html_end(struct buf *b)
{
	buf_append_str(b, "</main>\n</body></html>\n");
}

void html_para(struct buf *b, const char *cls, const char *text)
{
	buf_printf(b, "<p class=\"%s\">", cls);
	html_text(b, text);
	buf_append_str(b, "</p>\n");
}

void html_form(struct buf *b, const struct portal_req *r, const char *action, const char *confirm)
{
	buf_printf(b, "<form method=\"post\" action=\"%s\"", action);
	if (confirm != NULL) {
		buf_append_str(b, " data-confirm=\"");
		html_text(b, confirm);
		buf_append_str(b, "\"");
	}
	buf_append_str(b, "><input type=\"hidden\" name=\"csrf\" value=\"");
	html_text(b, r->csrf);
	buf_append_str(b, "\">");
}

void html_form_end(struct buf *b, const char *button)
{
	buf_append_str(b, "<button type=\"submit\">");
	html_text(b, button);
	buf_append_str(b, "</button></form>\n");
}

void html_password_again(struct buf *b)
{
	buf_append_str(b, "<label>Your password <input name=\"password\" type=\"password\" "
	                  "autocomplete=\"current-password\" required></label>");
}

void html_time(struct buf *b, time_t t)
{
	struct tm tm;
	char text[32];

	if (t == 0 || gmtime_r(&t, &tm) == NULL) {
		buf_append_str(b, "never");
		return;
	}
	strftime(text, sizeof(text), "%Y-%m-%d %H:%M UTC", &tm);
	buf_append_str(b, text);
}
