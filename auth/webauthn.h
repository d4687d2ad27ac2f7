/*
 * WebAuthn Level 2 verification of security keys: registration (§7.1) and assertion (§7.2).
 * Pure: no store, no clock, no config. The caller issues and takes back the challenge (the store
 * keeps it single use with an expiry), looks up the stored credential and keeps its counter.
 * clientDataJSON is read with jansson; CBOR with libcbor after a bounded walk over every byte;
 * signatures are checked only by libfido2 against the credential's public key.
 */
#ifndef TWOFOLD_AUTH_WEBAUTHN_H
#define TWOFOLD_AUTH_WEBAUTHN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEBAUTHN_CHALLENGE_LEN   32
#define WEBAUTHN_CRED_ID_MAX     1023 /* credentialIdLength limit of §6.5.1 */
#define WEBAUTHN_PUBKEY_MAX      259  /* libfido2's RS256 form: n (256 bytes) || e (3 bytes) */
#define WEBAUTHN_CLIENT_DATA_MAX 4096
#define WEBAUTHN_ATTESTATION_MAX 12288 /* room for a packed attestation's certificate */
#define WEBAUTHN_AUTH_DATA_MAX   1024
#define WEBAUTHN_SIG_MAX         512

/* COSE algorithm identifiers of the credential public keys we accept. */
enum webauthn_alg {
	WEBAUTHN_ALG_ES256 = -7,
	WEBAUTHN_ALG_EDDSA = -8,
	WEBAUTHN_ALG_RS256 = -257,
};

/* The relying party: origin exactly as browsers serialise it ("https://host[:port]"), and the RP
 * ID, the host of that origin. */
struct webauthn_rp {
	const char *id;
	const char *origin;
};

/* A registered credential: what the store keeps and an assertion is checked against. */
struct webauthn_key {
	unsigned char id[WEBAUTHN_CRED_ID_MAX];
	size_t id_len;
	int alg; /* enum webauthn_alg */
	/* libfido2's raw form for alg: ES256 x || y, EdDSA the 32-byte point, RS256 n || e */
	unsigned char pubkey[WEBAUTHN_PUBKEY_MAX];
	size_t pubkey_len;
	uint32_t sign_count;
};

/* What navigator.credentials.create() returned, base64url-decoded by the caller. */
struct webauthn_registration {
	const unsigned char *client_data; /* clientDataJSON */
	size_t client_data_len;
	const unsigned char *attestation; /* attestationObject (CBOR) */
	size_t attestation_len;
};

/* What navigator.credentials.get() returned, base64url-decoded by the caller. */
struct webauthn_assertion {
	const unsigned char *client_data;
	size_t client_data_len;
	const unsigned char *auth_data; /* authenticatorData */
	size_t auth_data_len;
	const unsigned char *sig;
	size_t sig_len;
};

enum webauthn_result {
	WEBAUTHN_OK,
	WEBAUTHN_REFUSED, /* malformed, or a rule of the ceremony failed: *reason_r says which */
	/* The assertion is genuine but its signature counter did not increase past the stored
	 * one (either being non-zero): two authenticators hold this key, one of them a clone. */
	WEBAUTHN_CLONED,
};

/* Flags of the authenticator data that the caller may want to record. */
struct webauthn_outcome {
	bool user_verified; /* UV: PIN or biometric, beyond mere presence */
	uint32_t sign_count;
};

/* The challenge named in clientDataJSON, to find the issued one: 1 when clientDataJSON is a JSON
 * object whose "challenge" is the base64url form of WEBAUTHN_CHALLENGE_LEN bytes, else 0. */
int webauthn_client_challenge(const unsigned char *client_data, size_t len,
                              unsigned char challenge_r[WEBAUTHN_CHALLENGE_LEN]);

/* §7.1: checks clientDataJSON (type webauthn.create, challenge, origin, not cross-origin), the
 * authenticator data (rpIdHash, user present, attested credential with an ES256, EdDSA or RS256
 * key) and the attestation statement ("none"; "packed" self or full, and "fido-u2f", whose
 * signature libfido2 verifies; no certificate chain is trusted or required). On WEBAUTHN_OK
 * *key_r is the new credential with its initial counter. */
enum webauthn_result webauthn_register(const struct webauthn_rp *rp,
                                       const unsigned char challenge[WEBAUTHN_CHALLENGE_LEN],
                                       const struct webauthn_registration *reg,
                                       struct webauthn_key *key_r,
                                       struct webauthn_outcome *outcome_r, const char **reason_r);

/* §7.2: checks clientDataJSON (type webauthn.get, challenge, origin), the authenticator data
 * (rpIdHash, user present, no attested credential) and the signature against key, then the
 * counter rule against key->sign_count. outcome_r->sign_count is the counter to store. */
enum webauthn_result webauthn_assert(const struct webauthn_rp *rp,
                                     const unsigned char challenge[WEBAUTHN_CHALLENGE_LEN],
                                     const struct webauthn_assertion *as,
                                     const struct webauthn_key *key,
                                     struct webauthn_outcome *outcome_r, const char **reason_r);

/* True when a counter moved from stored to presented is acceptable: it increased, or the
 * authenticator keeps no counter (both zero). */
bool webauthn_counter_ok(uint32_t stored, uint32_t presented);

/* "ES256", "EdDSA", "RS256", or NULL for an algorithm we do not accept. */
const char *webauthn_alg_name(int alg);

#endif
