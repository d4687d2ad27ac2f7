#include "server/sasl-plain.h"
#include "common/xalloc.h"

#include <sodium.h>
#include <stdbool.h>
#include <string.h>

/* Splits bin[0..len) in place. 1 ok, 0 malformed. */
static int sasl_plain_split(struct sasl_plain *p, size_t len)
{
	char *bin = p->bin;
	char *nul1 = memchr(bin, '\0', len);
	char *nul2 = nul1 != NULL ? memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - bin)) : NULL;

	if (nul2 == NULL || memchr(nul2 + 1, '\0', len - (size_t)(nul2 + 1 - bin)) != NULL)
		return 0;
	if (nul1 == nul2 - 1 || (nul1 != bin && strcmp(bin, nul1 + 1) != 0))
		return 0;
	p->authcid = nul1 + 1;
	p->password = nul2 + 1;
	return 1;
}

/* libsodium's decoder takes some bytes outside the alphabet (0xff) as digits: check first. */
static bool sasl_plain_alphabet_ok(const char *b64, size_t len)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";

	for (size_t i = 0; i < len; i++)
		if (b64[i] == '\0' || strchr(alphabet, b64[i]) == NULL)
			return false;
	return true;
}

int sasl_plain_decode(const char *b64, size_t len, struct sasl_plain *p)
{
	size_t bin_len = 0;
	const char *end;

	memset(p, 0, sizeof(*p));
	p->cap = len / 4 * 3 + 4;
	p->bin = xmalloc(p->cap);
	if (!sasl_plain_alphabet_ok(b64, len) ||
	    sodium_base642bin((unsigned char *)p->bin, p->cap - 1, b64, len, NULL, &bin_len, &end,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != b64 + len)
		return -1;
	p->bin[bin_len] = '\0';
	return sasl_plain_split(p, bin_len);
}

void sasl_plain_free(struct sasl_plain *p)
{
	xfree_secret(p->bin, p->cap);
	memset(p, 0, sizeof(*p));
}
