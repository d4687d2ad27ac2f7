#include "server/portal/portal-http.h"
#include "common/config.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "server/portal/portal-html.h"
#include "server/portal/portal-pages.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <sodium.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Every response: no script but our file, no framing, no sniffing, and no referrer to other
 * sites (an enrolment link must not leak through one). Same-origin rather than no-referrer:
 * with no-referrer browsers send "Origin: null" on our own form POSTs. */
static const char *const portal_headers[][2] = {
    {"Content-Security-Policy",
     "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
     "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "same-origin"},
    {"X-Frame-Options", "DENY"},
    {"Cross-Origin-Opener-Policy", "same-origin"},
};

/* The state of one connection's current request between MHD's calls. */
struct portal_conn {
	struct buf body; /* secret: passwords pass through it */
	bool too_large;
};

struct portal_route {
	const char *method, *path;
	portal_handler *handler;
};

static const struct portal_route portal_routes[] = {
    {"GET", "/", portal_page_home},
    {"GET", "/signin", portal_page_signin},
    {"POST", "/signin", portal_post_signin},
    {"GET", "/signin/key", portal_page_signin_key},
    {"POST", "/signin/key", portal_post_signin_key},
    {"POST", "/signout", portal_post_signout},
    {"GET", "/apppass", portal_page_apppass},
    {"POST", "/apppass/new", portal_post_apppass_new},
    {"POST", "/apppass/revoke", portal_post_apppass_revoke},
    {"GET", "/totp", portal_page_totp},
    {"POST", "/totp/begin", portal_post_totp_begin},
    {"POST", "/totp/confirm", portal_post_totp_confirm},
    {"POST", "/totp/remove", portal_post_totp_remove},
    {"GET", "/recovery", portal_page_recovery},
    {"POST", "/recovery/new", portal_post_recovery_new},
    {"GET", "/log", portal_page_log},
    {"GET", "/enrol", portal_page_enrol},
    {"POST", "/enrol", portal_post_enrol},
    {"GET", "/keys", portal_page_keys},
    {"POST", "/keys/register", portal_post_keys_register},
    {"POST", "/keys/rename", portal_post_keys_rename},
    {"POST", "/keys/remove", portal_post_keys_remove},
    {"GET", "/approvals", portal_page_approvals},
    {"POST", "/approvals/key", portal_post_approvals_key},
    {"POST", "/approvals/totp", portal_post_approvals_totp},
    {"POST", "/approvals/deny", portal_post_approvals_deny},
    {"GET", "/static/portal.css", portal_static},
    {"GET", "/static/portal.js", portal_static},
    {"GET", "/clients", portal_page_clients},
    {"POST", "/clients/apple", portal_post_clients_apple},
};

/* What mail programs fetch to set themselves up: not pages of ours, so no Origin on their
 * POSTs, no session, and a body that is not a form. */
static const struct portal_route portal_foreign_routes[] = {
    {"GET", "/.well-known/autoconfig/mail/config-v1.1.xml", portal_clients_autoconfig},
    {"GET", "/mail/config-v1.1.xml", portal_clients_autoconfig},
    {"POST", "/autodiscover/autodiscover.xml", portal_clients_autodiscover},
    {"POST", "/Autodiscover/Autodiscover.xml", portal_clients_autodiscover},
    {"GET", "/autodiscover/autodiscover.xml", portal_clients_autodiscover},
    {"GET", "/Autodiscover/Autodiscover.xml", portal_clients_autodiscover},
};

/* ---- responses ---- */

static void portal_queue(struct portal_req *r, unsigned status, struct MHD_Response *resp,
                         bool no_store)
{
	for (size_t i = 0; i < sizeof(portal_headers) / sizeof(portal_headers[0]); i++)
		MHD_add_response_header(resp, portal_headers[i][0], portal_headers[i][1]);
	if (no_store)
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (MHD_queue_response(r->conn, status, resp) == MHD_YES)
		r->queued = true;
	MHD_destroy_response(resp);
}

void portal_respond_html(struct portal_req *r, unsigned status, struct buf *html)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(html->len, html->data, MHD_RESPMEM_MUST_COPY);

	MHD_add_response_header(resp, "Content-Type", "text/html; charset=utf-8");
	portal_queue(r, status, resp, true);
}

void portal_respond_document(struct portal_req *r, struct buf *doc, const char *type,
                             bool no_store, const char *filename)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(doc->len, doc->data, MHD_RESPMEM_MUST_COPY);
	char disposition[128];

	MHD_add_response_header(resp, "Content-Type", type);
	if (filename != NULL) {
		snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s\"", filename);
		MHD_add_response_header(resp, "Content-Disposition", disposition);
	}
	if (!no_store)
		MHD_add_response_header(resp, "Cache-Control", "max-age=300");
	portal_queue(r, MHD_HTTP_OK, resp, no_store);
}

void portal_respond_static(struct portal_req *r, const void *data, size_t len, const char *type)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);

	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Cache-Control", "max-age=300");
	portal_queue(r, MHD_HTTP_OK, resp, false);
}

static void portal_set_cookie(struct MHD_Response *resp, const struct portal_req *r, unsigned flags,
                              const char *value)
{
	char header[256];

	if (flags & PORTAL_SET_COOKIE)
		snprintf(header, sizeof(header),
		         PORTAL_COOKIE "=%s; Path=/; Max-Age=%u; Secure; HttpOnly; SameSite=Strict",
		         value, r->site->cfg->portal_session_lifetime);
	else if (flags & PORTAL_CLEAR_COOKIE)
		snprintf(header, sizeof(header),
		         PORTAL_COOKIE "=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict");
	else
		return;
	MHD_add_response_header(resp, "Set-Cookie", header);
	sodium_memzero(header, sizeof(header));
}

void portal_respond_redirect(struct portal_req *r, const char *path, unsigned flags,
                             const char *cookie)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);

	MHD_add_response_header(resp, "Location", path);
	portal_set_cookie(resp, r, flags, cookie);
	portal_queue(r, MHD_HTTP_SEE_OTHER, resp, true);
}

void portal_respond_error(struct portal_req *r, unsigned status, const char *text)
{
	struct portal_req anon = *r;
	struct buf b;

	anon.user[0] = '\0'; /* no navigation on error pages */
	buf_init(&b);
	html_begin(&b, &anon, text);
	buf_append_str(&b, "<p><a href=\"/\">Back to the start page</a></p>\n");
	html_end(&b);
	portal_respond_html(r, status, &b);
	buf_free(&b);
}

void portal_sleep_ms(uint32_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0)
		;
}

void portal_respond_answer(struct portal_req *r, const struct portal_answer *a,
                           const char *back_path)
{
	struct buf b;

	switch (a->status) {
	case IPC_PORTAL_NO_SESSION:
		portal_respond_redirect(r, "/signin", PORTAL_CLEAR_COOKIE, NULL);
		return;
	case IPC_PORTAL_BAD_CSRF:
		portal_respond_error(r, MHD_HTTP_FORBIDDEN,
		                     "Request refused: reload the page and try again");
		return;
	case IPC_PORTAL_REFUSED:
		if (a->delay_ms > 0)
			portal_sleep_ms(a->delay_ms); /* a wrong password again: as at sign-in */
		buf_init(&b);
		html_begin(&b, r, "Not done");
		html_para(&b, "error", a->message);
		buf_printf(&b, "<p><a href=\"%s\">Back</a></p>\n", back_path);
		html_end(&b);
		portal_respond_html(r, MHD_HTTP_UNPROCESSABLE_CONTENT, &b);
		buf_free(&b);
		return;
	default:
		portal_respond_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
		                     "Temporarily unavailable: try again in a minute");
	}
}

/* ---- sessions ---- */

void portal_req_call(struct portal_req *r, const char *op, unsigned argc, const char *const *argv,
                     struct portal_answer *a)
{
	const char *csrf = portal_form_get(&r->form, "csrf");

	portal_auth_call(op, r->sid, csrf != NULL ? csrf : "", r->ip, argc, argv, a);
}

int portal_req_session(struct portal_req *r, unsigned levels)
{
	struct portal_answer a;

	portal_req_call(r, "session", 0, NULL, &a);
	if (a.status == IPC_PORTAL_OK && a.rows == 1 && a.cols == 4) {
		snprintf(r->user, sizeof(r->user), "%s", portal_answer_cell(&a, 0, 0));
		r->level = atoi(portal_answer_cell(&a, 0, 1));
		snprintf(r->csrf, sizeof(r->csrf), "%s", portal_answer_cell(&a, 0, 2));
	}
	if (a.status == IPC_PORTAL_OK && r->level > 0 && r->level < 32 &&
	    (levels & (1u << r->level)) != 0) {
		portal_answer_free(&a);
		return 1;
	}
	if (a.status == IPC_PORTAL_OK)
		a.status = IPC_PORTAL_NO_SESSION;
	r->user[0] = '\0';
	portal_respond_answer(r, &a, "/");
	portal_answer_free(&a);
	return 0;
}

/* ---- requests ---- */

static void portal_req_ip(struct portal_req *r)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

	r->ip[0] = '\0';
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->ip,
		          sizeof(r->ip));
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], r->ip, sizeof(r->ip));
		else
			inet_ntop(AF_INET6, a, r->ip, sizeof(r->ip));
	}
}

/* A POST must come from a page of ours: browsers send Origin with every POST, and one that
 * names another site is a cross-site request (login CSRF included). */
static bool portal_origin_ok(const struct portal_req *r)
{
	const char *origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");

	return origin != NULL && strcasecmp(origin, r->site->origin) == 0;
}

static int portal_req_form(struct portal_req *r, const struct buf *body)
{
	const char *type;

	if (strcmp(r->method, "POST") != 0)
		return 0; /* pages take their few GET parameters from MHD directly */
	type = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
	if (type == NULL || strncasecmp(type, "application/x-www-form-urlencoded", 33) != 0 ||
	    (type[33] != '\0' && type[33] != ';')) {
		portal_respond_error(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		                     "Unsupported form encoding");
		return -1;
	}
	if (portal_form_parse(body->data, body->len, &r->form) < 0) {
		portal_respond_error(r, MHD_HTTP_BAD_REQUEST, "Malformed form");
		return -1;
	}
	return 0;
}

static int portal_req_cookie(struct portal_req *r)
{
	const char *header = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Cookie");

	r->sid[0] = '\0';
	if (header != NULL && portal_cookie_get(header, PORTAL_COOKIE, r->sid, sizeof(r->sid)) < 0)
		r->sid[0] = '\0'; /* two of ours, or an overlong one: as good as none */
	return 0;
}

static const struct portal_route *portal_route_find(const struct portal_route *routes, size_t n,
                                                    const char *method, const char *path,
                                                    bool *path_known_r)
{
	bool head = strcmp(method, "HEAD") == 0;

	for (size_t i = 0; i < n; i++) {
		const struct portal_route *rt = &routes[i];

		if (strcmp(rt->path, path) != 0)
			continue;
		*path_known_r = true;
		if (strcmp(rt->method, method) == 0 || (head && strcmp(rt->method, "GET") == 0))
			return rt;
	}
	return NULL;
}

static void portal_dispatch(struct portal_req *r, const struct buf *body)
{
	bool known = false;
	const struct portal_route *rt =
	    portal_route_find(portal_foreign_routes,
	                      sizeof(portal_foreign_routes) / sizeof(portal_foreign_routes[0]),
	                      r->method, r->path, &known);

	r->body = body;
	if (rt != NULL) {
		rt->handler(r);
		if (!r->queued)
			portal_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "Internal error");
		return;
	}
	rt = portal_route_find(portal_routes, sizeof(portal_routes) / sizeof(portal_routes[0]),
	                       r->method, r->path, &known);
	if (rt == NULL) {
		if (known)
			portal_respond_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed");
		else
			portal_respond_error(r, MHD_HTTP_NOT_FOUND, "Page not found");
		return;
	}
	if (strcmp(rt->method, "POST") == 0 && !portal_origin_ok(r)) {
		log_info("portal: POST %s from %s refused: wrong or missing Origin", r->path,
		         r->ip);
		portal_respond_error(r, MHD_HTTP_FORBIDDEN, "Request refused: not from this site");
		return;
	}
	if (portal_req_form(r, body) < 0 || portal_req_cookie(r) < 0)
		return;
	rt->handler(r);
	if (!r->queued)
		portal_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "Internal error");
}

/* ---- MHD callbacks ---- */

static bool portal_declared_too_large(struct MHD_Connection *conn)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
	char *end;
	unsigned long long n;

	if (cl == NULL)
		return false;
	errno = 0;
	n = strtoull(cl, &end, 10);
	return errno != 0 || *end != '\0' || n > PORTAL_BODY_MAX;
}

static enum MHD_Result portal_http_request(const struct portal_site *site,
                                           struct MHD_Connection *conn, const char *url,
                                           const char *method, struct portal_conn *pc)
{
	struct portal_req r = {.conn = conn, .site = site, .method = method, .path = url};

	portal_req_ip(&r);
	if (pc->too_large)
		portal_respond_error(&r, MHD_HTTP_CONTENT_TOO_LARGE, "Request too large");
	else
		portal_dispatch(&r, &pc->body);
	portal_form_free(&r.form);
	sodium_memzero(r.sid, sizeof(r.sid));
	sodium_memzero(r.csrf, sizeof(r.csrf));
	return r.queued ? MHD_YES : MHD_NO;
}

enum MHD_Result portal_http_access(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload,
                                   size_t *upload_size, void **con_cls)
{
	struct portal_conn *pc = *con_cls;

	if (pc == NULL) {
		pc = xcalloc(1, sizeof(*pc));
		buf_init(&pc->body);
		pc->body.secret = true;
		pc->too_large = portal_declared_too_large(conn);
		*con_cls = pc;
		if (!pc->too_large)
			return MHD_YES;
		/* answer before reading a body we will not take */
		return portal_http_request(cls, conn, url, method, pc);
	}
	if (*upload_size > 0) {
		if (pc->body.len + *upload_size > PORTAL_BODY_MAX)
			pc->too_large = true;
		else
			buf_append(&pc->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	return portal_http_request(cls, conn, url, method, pc);
}

void portal_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
	struct portal_conn *pc = *con_cls;

	if (pc == NULL)
		return;
	buf_free(&pc->body);
	free(pc);
	*con_cls = NULL;
}
