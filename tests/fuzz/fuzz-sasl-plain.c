/*
 * SASL PLAIN as IMAP AUTHENTICATE and POP3 AUTH receive it, before login: any bytes. Checks that
 * a decode never reads or writes outside its buffer and that an accepted message has the shape
 * RFC 4616 gives it: the parts point into the decoded bytes, the authcid is not empty, and
 * encoding "authzid NUL authcid NUL password" again gives back the input.
 */
#include "server/sasl-plain.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Rebuilds the decoded message from the parts and compares its base64 with the input. */
static void check_accepted(const struct sasl_plain *p, const char *b64, size_t len)
{
	size_t authcid_len = strlen(p->authcid), pw_len = strlen(p->password);
	size_t authz_len = (size_t)(p->authcid - 1 - p->bin);
	size_t bin_len = authz_len + 1 + authcid_len + 1 + pw_len;
	size_t enc_cap = sodium_base64_encoded_len(bin_len, sodium_base64_VARIANT_ORIGINAL);
	char *enc = malloc(enc_cap);

	if (authcid_len == 0 || p->authcid < p->bin || p->password < p->authcid ||
	    p->password + pw_len > p->bin + p->cap || enc == NULL)
		abort();
	if (authz_len != 0 && (authz_len != authcid_len || memcmp(p->bin, p->authcid, authz_len)))
		abort();
	sodium_bin2base64(enc, enc_cap, (const unsigned char *)p->bin, bin_len,
	                  sodium_base64_VARIANT_ORIGINAL);
	if (strlen(enc) != len || memcmp(enc, b64, len) != 0)
		abort();
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the exact bytes, without a terminator: the decoder must not look past len */
	char *b64 = malloc(size > 0 ? size : 1);
	struct sasl_plain p;
	int rc;

	if (b64 == NULL)
		abort();
	memcpy(b64, data, size);
	rc = sasl_plain_decode(b64, size, &p);
	if (rc == 1)
		check_accepted(&p, b64, size);
	else if (rc != 0 && rc != -1)
		abort();
	sasl_plain_free(&p);
	free(b64);
	return 0;
}
