/* Fuzz target: the portal's request parsing. The first byte picks what the rest is: a form body
 * (or query string), or a Cookie header. */
#include "server/portal/portal-form.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_form(const char *s, size_t len)
{
	struct portal_form f;

	if (portal_form_parse(s, len, &f) < 0) {
		if (f.count != 0)
			abort(); /* a refused form leaves nothing behind */
		return;
	}
	for (size_t i = 0; i < f.count; i++)
		if (portal_form_get(&f, f.f[i].name) != f.f[i].value ||
		    strlen(f.f[i].value) > PORTAL_FORM_VALUE_MAX)
			abort(); /* names are unique, values bounded */
	portal_form_free(&f);
}

static void fuzz_cookie(const char *s, size_t len)
{
	char *header = malloc(len + 1), out[65];

	memcpy(header, s, len);
	header[len] = '\0';
	if (portal_cookie_get(header, "__Host-twofold", out, sizeof(out)) == 1 &&
	    strlen(out) >= sizeof(out))
		abort();
	free(header);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_cookie((const char *)data + 1, size - 1);
	else
		fuzz_form((const char *)data + 1, size - 1);
	return 0;
}
