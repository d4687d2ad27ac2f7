/* SASL PLAIN (RFC 4616) as IMAP AUTHENTICATE and POP3 AUTH receive it: base64 of
 * "authzid NUL authcid NUL password". Shared by both protocols. */
#ifndef TWOFOLD_SASL_PLAIN_H
#define TWOFOLD_SASL_PLAIN_H

#include <stddef.h>

struct sasl_plain {
	char *bin; /* decoded bytes, NUL-terminated; wiped by sasl_plain_free */
	size_t cap;
	const char *authcid, *password; /* point into bin */
};

/* Decodes b64[0..len). 1 ok; 0 well-formed base64 but not an acceptable PLAIN message (missing
 * parts, empty authcid, or an authzid other than the authcid: acting as someone else is not
 * offered); -1 not base64. Always call sasl_plain_free afterwards. */
int sasl_plain_decode(const char *b64, size_t len, struct sasl_plain *out);
void sasl_plain_free(struct sasl_plain *p);

#endif
