#include "server/portal/portal-form.h"
#include "common/text.h"
#include "common/xalloc.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Decodes s[0..len) into a new string; NULL on a bad escape or when it exceeds max bytes. */
static char *portal_form_decode(const char *s, size_t len, size_t max)
{
	char *out, *o;

	if (len > 3 * max)
		return NULL;
	out = o = xmalloc(len + 1);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			int hi = i + 2 < len ? text_hex_value(s[i + 1]) : -1;
			int lo = i + 2 < len ? text_hex_value(s[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				goto fail;
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else {
			*o++ = s[i] == '+' ? ' ' : s[i];
		}
		if ((size_t)(o - out) > max)
			goto fail;
	}
	*o = '\0';
	if ((size_t)(o - out) != strlen(out)) /* a %00 */
		goto fail;
	return out;
fail:
	xfree_secret(out, len + 1);
	return NULL;
}

static bool portal_form_name_ok(const char *name)
{
	size_t len = strlen(name);

	return len > 0 && len <= PORTAL_FORM_NAME_MAX &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
	           len;
}

static bool portal_form_value_ok(const char *value)
{
	size_t len = strlen(value);

	return text_is_utf8(value, len) && text_has_no_controls(value, len);
}

/* One "name=value" (or "name") piece. */
static int portal_form_field(struct portal_form *form, const char *s, size_t len)
{
	const char *eq = memchr(s, '=', len);
	size_t nlen = eq != NULL ? (size_t)(eq - s) : len;
	struct portal_form_field f;

	if (form->count == PORTAL_FORM_FIELDS)
		return -1;
	f.name = portal_form_decode(s, nlen, PORTAL_FORM_NAME_MAX);
	f.value = eq != NULL ? portal_form_decode(eq + 1, len - nlen - 1, PORTAL_FORM_VALUE_MAX)
	                     : xstrdup("");
	if (f.name == NULL || f.value == NULL || !portal_form_name_ok(f.name) ||
	    !portal_form_value_ok(f.value) || portal_form_get(form, f.name) != NULL) {
		free(f.name);
		if (f.value != NULL)
			xfree_secret_str(&f.value);
		return -1;
	}
	form->f[form->count++] = f;
	return 0;
}

int portal_form_parse(const char *s, size_t len, struct portal_form *form_r)
{
	size_t start = 0;

	memset(form_r, 0, sizeof(*form_r));
	while (start < len) {
		const char *amp = memchr(s + start, '&', len - start);
		size_t end = amp != NULL ? (size_t)(amp - s) : len;

		if (end > start && portal_form_field(form_r, s + start, end - start) < 0) {
			portal_form_free(form_r);
			return -1;
		}
		start = end + 1;
	}
	return 0;
}

const char *portal_form_get(const struct portal_form *form, const char *name)
{
	for (size_t i = 0; i < form->count; i++)
		if (strcmp(form->f[i].name, name) == 0)
			return form->f[i].value;
	return NULL;
}

void portal_form_free(struct portal_form *form)
{
	for (size_t i = 0; i < form->count; i++) {
		free(form->f[i].name);
		xfree_secret_str(&form->f[i].value);
	}
	form->count = 0;
}

/* ---- cookies ---- */

int portal_cookie_get(const char *header, const char *name, char *out, size_t size)
{
	size_t nlen = strlen(name);
	const char *p = header;
	int found = 0;

	while (*p != '\0') {
		size_t len;

		p += strspn(p, " \t;");
		len = strcspn(p, ";");
		if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			size_t vlen = len - nlen - 1;

			while (vlen > 0 &&
			       (p[nlen + 1 + vlen - 1] == ' ' || p[nlen + 1 + vlen - 1] == '\t'))
				vlen--;
			if (found || vlen >= size)
				return -1;
			memcpy(out, p + nlen + 1, vlen);
			out[vlen] = '\0';
			found = 1;
		}
		p += len;
	}
	return found;
}

void portal_form_code(const char *in, char *out, size_t size)
{
	size_t n = 0;

	for (; *in != '\0' && n + 1 < size; in++)
		if (*in != ' ')
			out[n++] = *in;
	out[n] = '\0';
}
