/*
 * What a login is, as the worker and the portal ask the auth service and as it answers: the
 * protocol it is for and its outcome. Shared by both sides of the IPC so that the protocols in
 * server/ need nothing of the login policy (auth/policy.h).
 */
#ifndef TWOFOLD_COMMON_AUTH_PROTO_H
#define TWOFOLD_COMMON_AUTH_PROTO_H

enum auth_result {
	AUTH_OK,       /* with the canonical user name */
	AUTH_FAIL,     /* with the delay to apply before answering the client */
	AUTH_TEMPFAIL, /* store busy or broken: try again later; never a success */
	AUTH_PENDING,  /* held for the user's approval (auth/policy.h: auth_policy_hold_check); on
	                * the portal: the security key is next (auth_policy_hold_finish) */
};

/* PORTAL: a sign-in to the self-service portal, where an app password never counts. */
enum auth_proto { AUTH_PROTO_IMAP, AUTH_PROTO_POP3, AUTH_PROTO_OTHER, AUTH_PROTO_PORTAL };

/* What a failed login may tell the client beyond "failed". Given only to a client that sent
 * the right password with a code this user logged in with before: it tells nothing to anyone
 * without the credential. */
enum auth_hint {
	AUTH_HINT_NONE,
	AUTH_HINT_CODE_EXPIRED, /* send the password with the current code */
};

const char *auth_proto_name(enum auth_proto proto);
/* "imap" / "pop3" / "portal" -> proto; -1 if unknown. */
int auth_proto_parse(const char *name, enum auth_proto *proto_r);

#endif
