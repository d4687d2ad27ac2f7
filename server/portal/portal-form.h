/*
 * What the portal parses of a request itself: application/x-www-form-urlencoded bodies (and
 * query strings, which have the same grammar) and the Cookie header. Bounded, no allocation
 * beyond the result; anything odd is refused as a whole, never half-used.
 */
#ifndef TWOFOLD_PORTAL_FORM_H
#define TWOFOLD_PORTAL_FORM_H

#include <stddef.h>

#define PORTAL_FORM_FIELDS    16
#define PORTAL_FORM_NAME_MAX  32
#define PORTAL_FORM_VALUE_MAX 8192

struct portal_form_field {
	char *name, *value; /* decoded, NUL-terminated; values wiped on free */
};

struct portal_form {
	struct portal_form_field f[PORTAL_FORM_FIELDS];
	size_t count;
};

/* Parses name=value pairs joined by '&' ('+' is a space, %XX a byte). 0 ok; -1 (form empty)
 * on a bad escape, more than PORTAL_FORM_FIELDS fields, a name (letters, digits, '_', '-')
 * or value too long, a name given twice, or a value that is not UTF-8 or has a control
 * character. An empty input is an empty form. */
int portal_form_parse(const char *s, size_t len, struct portal_form *form_r);
/* The value of name, or NULL. */
const char *portal_form_get(const struct portal_form *form, const char *name);
void portal_form_free(struct portal_form *form);
/* A code as people type it ("123 456", as apps show it) without its spaces, into out (cut to
 * size - 1 bytes). */
void portal_form_code(const char *in, char *out, size_t size);

/* Finds cookie name in a Cookie header ("a=1; b=2") and copies its value into out.
 * 1 found, 0 absent, -1 when it is there more than once or its value does not fit. */
int portal_cookie_get(const char *header, const char *name, char *out, size_t size);

#endif
