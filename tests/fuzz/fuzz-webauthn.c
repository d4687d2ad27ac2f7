/*
 * WebAuthn verification on arbitrary browser responses: clientDataJSON (jansson), the
 * attestationObject and authenticatorData (the bounded CBOR walk, libcbor, libfido2).
 *
 * Input: one mode byte, then fields each preceded by a 2-byte big-endian length (a length past
 * the end takes what is left). Mode 0: clientDataJSON alone (challenge extraction); 1: a
 * registration (clientDataJSON, attestationObject); 2: an assertion (clientDataJSON,
 * authenticatorData, signature) against a fixed stored EdDSA key. The RP, the challenge and the
 * key are fixed so that the seeds, made by the unit tests' software authenticator with these
 * values, pass every check and mutations start from complete, valid responses.
 */
#include "auth/webauthn.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_FIELDS 3

static const struct webauthn_rp fuzz_rp = {.id = "portal.example.org",
                                           .origin = "https://portal.example.org:8443"};

struct fuzz_input {
	const uint8_t *field[FUZZ_FIELDS];
	size_t len[FUZZ_FIELDS];
};

static void fuzz_split(const uint8_t *data, size_t size, struct fuzz_input *in)
{
	memset(in, 0, sizeof(*in));
	for (size_t i = 0; i < FUZZ_FIELDS && size >= 2; i++) {
		size_t len = (size_t)data[0] << 8 | data[1];

		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		in->field[i] = data;
		in->len[i] = len;
		data += len;
		size -= len;
	}
}

/* The fixed challenge 0x01..0x20 and the EdDSA key made from a seed of 32 bytes 0x42. */
static void fuzz_fixed(unsigned char challenge[WEBAUTHN_CHALLENGE_LEN], struct webauthn_key *key)
{
	unsigned char seed[crypto_sign_SEEDBYTES], sk[crypto_sign_SECRETKEYBYTES];

	for (size_t i = 0; i < WEBAUTHN_CHALLENGE_LEN; i++)
		challenge[i] = (unsigned char)(i + 1);
	memset(seed, 0x42, sizeof(seed));
	memset(key, 0, sizeof(*key));
	crypto_sign_seed_keypair(key->pubkey, sk, seed);
	key->pubkey_len = crypto_sign_PUBLICKEYBYTES;
	key->alg = WEBAUTHN_ALG_EDDSA;
	key->sign_count = 0;
}

static void fuzz_register(const unsigned char *challenge, const struct fuzz_input *in)
{
	struct webauthn_registration reg = {.client_data = in->field[0],
	                                    .client_data_len = in->len[0],
	                                    .attestation = in->field[1],
	                                    .attestation_len = in->len[1]};
	struct webauthn_key key;
	struct webauthn_outcome out;
	const char *reason = NULL;
	enum webauthn_result r = webauthn_register(&fuzz_rp, challenge, &reg, &key, &out, &reason);

	if (r == WEBAUTHN_OK &&
	    (key.id_len == 0 || key.id_len > WEBAUTHN_CRED_ID_MAX ||
	     webauthn_alg_name(key.alg) == NULL || key.pubkey_len == 0 ||
	     key.pubkey_len > WEBAUTHN_PUBKEY_MAX || out.sign_count != key.sign_count))
		abort();
	if (r != WEBAUTHN_OK && (r != WEBAUTHN_REFUSED || reason == NULL))
		abort(); /* a refusal always says why; registration never reports a clone */
}

static void fuzz_assert(const unsigned char *challenge, const struct webauthn_key *key,
                        const struct fuzz_input *in)
{
	struct webauthn_assertion as = {.client_data = in->field[0],
	                                .client_data_len = in->len[0],
	                                .auth_data = in->field[1],
	                                .auth_data_len = in->len[1],
	                                .sig = in->field[2],
	                                .sig_len = in->len[2]};
	struct webauthn_outcome out;
	const char *reason = NULL;
	enum webauthn_result r = webauthn_assert(&fuzz_rp, challenge, &as, key, &out, &reason);

	if (r != WEBAUTHN_OK && reason == NULL)
		abort();
	if (r == WEBAUTHN_OK && !webauthn_counter_ok(key->sign_count, out.sign_count))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct webauthn_key key;
	static unsigned char challenge[WEBAUTHN_CHALLENGE_LEN];
	unsigned char got[WEBAUTHN_CHALLENGE_LEN];
	struct fuzz_input in;

	if (key.pubkey_len == 0) {
		if (sodium_init() < 0)
			abort();
		fuzz_fixed(challenge, &key);
	}
	if (size == 0)
		return 0;
	fuzz_split(data + 1, size - 1, &in);
	switch (data[0] % 3) {
	case 0:
		webauthn_client_challenge(in.field[0], in.len[0], got);
		break;
	case 1:
		fuzz_register(challenge, &in);
		break;
	default:
		fuzz_assert(challenge, &key, &in);
		break;
	}
	return 0;
}
