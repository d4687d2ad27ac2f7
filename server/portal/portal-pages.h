/* The portal's pages: GET handlers render, POST handlers change and redirect or show a result
 * once (a new app password, recovery codes, a TOTP QR code). */
#ifndef TWOFOLD_PORTAL_PAGES_H
#define TWOFOLD_PORTAL_PAGES_H

#include "server/portal/portal-http.h"

portal_handler portal_page_home, portal_page_signin, portal_post_signin, portal_post_signout,
    portal_page_signin_key, portal_post_signin_key;
portal_handler portal_page_apppass, portal_post_apppass_new, portal_post_apppass_revoke;
portal_handler portal_page_totp, portal_post_totp_begin, portal_post_totp_confirm,
    portal_post_totp_remove;
portal_handler portal_page_recovery, portal_post_recovery_new;
portal_handler portal_page_log;
portal_handler portal_page_enrol, portal_post_enrol, portal_page_keys, portal_post_keys_register,
    portal_post_keys_rename, portal_post_keys_remove;
portal_handler portal_page_approvals, portal_post_approvals_key, portal_post_approvals_totp,
    portal_post_approvals_deny;
portal_handler portal_static;
portal_handler portal_page_clients, portal_post_clients_apple, portal_clients_autoconfig,
    portal_clients_autodiscover;

/* An SVG drawing of text as a QR code (libqrencode), appended to b. -1 if it does not fit. */
int portal_qr_svg(struct buf *b, const char *text);

#endif
