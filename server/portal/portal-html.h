/* Building the portal's pages: one layout, escaped text, forms that carry the CSRF token. */
#ifndef TWOFOLD_PORTAL_HTML_H
#define TWOFOLD_PORTAL_HTML_H

#include "common/buf.h"

#include <stdbool.h>
#include <time.h>

struct portal_req;

/* Opens a page: head (viewport, the stylesheet, the one script), header with the navigation
 * when r is signed in (r->user set). */
void html_begin(struct buf *b, const struct portal_req *r, const char *title);
void html_end(struct buf *b);
/* Appends s with &, <, >, " and ' escaped. */
void html_text(struct buf *b, const char *s);
/* <p class="note|error|alarm">text</p>, text escaped. */
void html_para(struct buf *b, const char *cls, const char *text);
/* Opens a POST form to action with the request's CSRF token in it; close with html_form_end.
 * confirm: a question the script asks before sending, or NULL. */
void html_form(struct buf *b, const struct portal_req *r, const char *action, const char *confirm);
void html_form_end(struct buf *b, const char *button);
/* The account password field of a form that removes a factor (the auth service checks it). */
void html_password_again(struct buf *b);
/* A time as "YYYY-MM-DD HH:MM UTC", or "never" for 0. */
void html_time(struct buf *b, time_t t);

#endif
