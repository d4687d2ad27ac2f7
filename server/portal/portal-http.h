/*
 * The portal's HTTP side: one request at a time as the pages see it, the responses with the
 * headers every page carries (CSP, no caching, no referrer), the session cookie and the
 * route table. Pages live in portal-page-*.c and see only this header and portal-html.h.
 */
#ifndef TWOFOLD_PORTAL_HTTP_H
#define TWOFOLD_PORTAL_HTTP_H

#include "common/buf.h"
#include "common/ipc.h"
#include "server/portal/portal-auth.h"
#include "server/portal/portal-form.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

struct config;

#define PORTAL_BODY_MAX  16384            /* bytes of a request body */
#define PORTAL_COOKIE    "__Host-twofold" /* __Host-: Secure, Path=/, no Domain, by rule */
#define PORTAL_TOKEN_MAX 64

struct portal_site {
	const struct config *cfg;
	const char *origin; /* [portal] origin */
};

struct portal_req {
	struct MHD_Connection *conn;
	const struct portal_site *site;
	const char *method, *path;
	char ip[64];
	struct portal_form form;        /* the POST body of one of our forms */
	const struct buf *body;         /* the raw request body */
	char sid[PORTAL_TOKEN_MAX + 1]; /* session cookie, "" without */
	/* after portal_req_session: */
	char user[256];
	char csrf[PORTAL_TOKEN_MAX + 1];
	int level;   /* enum auth_portal_level */
	bool queued; /* a response has been queued */
};

/* Page handlers queue one response each (through the portal_respond_* functions). */
typedef void portal_handler(struct portal_req *r);

/* Flags of a response. */
#define PORTAL_SET_COOKIE   0x1 /* value in the extra argument */
#define PORTAL_CLEAR_COOKIE 0x2

/* A full HTML page (status 200, 403, ...). */
void portal_respond_html(struct portal_req *r, unsigned status, struct buf *html);
/* 303 See Other to a path of ours; flags may set or clear the session cookie. */
void portal_respond_redirect(struct portal_req *r, const char *path, unsigned flags,
                             const char *cookie);
/* A document made for this request (XML for mail programs, a profile to download): status
 * 200, never cached when no_store; with a filename, offered as a download of that name. */
void portal_respond_document(struct portal_req *r, struct buf *doc, const char *type,
                             bool no_store, const char *filename);
/* A static file (cacheable for a few minutes). */
void portal_respond_static(struct portal_req *r, const void *data, size_t len, const char *type);
/* A short error page: 400, 403, 404, 405, 413, 415, 503. */
void portal_respond_error(struct portal_req *r, unsigned status, const char *text);

/* Asks the auth service op for the request's session. */
void portal_req_call(struct portal_req *r, const char *op, unsigned argc, const char *const *argv,
                     struct portal_answer *a);
/* Session levels a page takes (enum ipc_portal_level as bits). */
#define PORTAL_LV_ENROL (1u << IPC_PORTAL_LEVEL_ENROL)
#define PORTAL_LV_FULL  (1u << IPC_PORTAL_LEVEL_FULL)
#define PORTAL_LV_KEY   (1u << IPC_PORTAL_LEVEL_KEY)

/* Checks the session cookie with the auth service and fills user, csrf, level. 1 signed in
 * at one of levels (PORTAL_LV_*); 0 a response (redirect to sign in, or 503) has been
 * queued. */
int portal_req_session(struct portal_req *r, unsigned levels);
/* Waits ms milliseconds (the policy's delay after a wrong password). */
void portal_sleep_ms(uint32_t ms);
/* Queues the response an answer that is not IPC_PORTAL_OK calls for (sign in again, stale
 * form, try later, or the refusal's message on the page of back_path, after its delay). */
void portal_respond_answer(struct portal_req *r, const struct portal_answer *a,
                           const char *back_path);

/* The MHD access handler and its completion callback, for MHD_start_daemon. */
enum MHD_Result portal_http_access(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload,
                                   size_t *upload_size, void **con_cls);
void portal_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe);

#endif
