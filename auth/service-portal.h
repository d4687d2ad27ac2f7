/*
 * The auth service's answers to the portal (IPC_PORTAL_REQUEST): one operation per request,
 * found by name in a table that says which need a signed-in session and its CSRF token. The
 * portal never sees the store: sessions live here, as hashes of the ids in browsers' cookies.
 */
#ifndef TWOFOLD_AUTH_SERVICE_PORTAL_H
#define TWOFOLD_AUTH_SERVICE_PORTAL_H

struct auth_policy;
struct ipc_msg;

/* Session ids and CSRF tokens: 32 random bytes, base64url without padding. */
#define PORTAL_TOKEN_LEN 43

/* Answers the request in `in` into `out`. -1 when the request breaks the protocol (unknown
 * operation, wrong arguments): the caller closes that peer. Bad values from the browser are
 * not protocol errors: they get a status in the reply. */
int auth_service_portal(struct auth_policy *policy, struct ipc_msg *in, struct ipc_msg *out);

#endif
