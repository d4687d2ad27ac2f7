/* WebAuthn Level 2 registration (§7.1) and assertion (§7.2) verification (auth/webauthn.h). */
#include "auth/webauthn.h"

#include <cbor.h>
#include <fido.h>
#include <fido/eddsa.h>
#include <fido/es256.h>
#include <fido/rs256.h>
#include <jansson.h>
#include <sodium.h>
#include <string.h>

#define WEBAUTHN_CBOR_DEPTH 8  /* attestationObject -> attStmt -> x5c -> certificate is 3 */
#define AUTHDATA_FIXED_LEN  37 /* rpIdHash (32), flags (1), signCount (4) */
#define AUTHDATA_AAGUID_LEN 16
#define WEBAUTHN_FMT_MAX    16

#define CBOR_MAJOR_MAP 5 /* major type in the top 3 bits of an item's first byte */

#define FLAG_UP 0x01 /* user present */
#define FLAG_UV 0x04 /* user verified */
#define FLAG_AT 0x40 /* attested credential data included */
#define FLAG_ED 0x80 /* extension data included */

/* ---- a bounded walk over one CBOR item ----
 *
 * libcbor's cbor_load allocates what a header declares before it sees the items (an array
 * header of 9 bytes asks for 32 GiB) and frees nested items recursively. Every byte is walked
 * first with the streaming decoder, which allocates nothing: counts must fit in the bytes left,
 * nesting is bounded, and what WebAuthn never uses (indefinite lengths, tags, floats) is refused.
 */

struct cbor_walk {
	size_t pending[WEBAUTHN_CBOR_DEPTH + 1]; /* items still expected at each level */
	unsigned depth;
	size_t left; /* bytes from the current header to the end of the input */
	bool bad;
};

static void walk_item(void *ctx)
{
	struct cbor_walk *w = ctx;

	if (w->pending[w->depth] == 0) {
		w->bad = true;
		return;
	}
	w->pending[w->depth]--;
	while (w->depth > 0 && w->pending[w->depth] == 0)
		w->depth--;
}

static void walk_container(struct cbor_walk *w, size_t count, size_t per_item)
{
	if (count > w->left / per_item || w->depth == WEBAUTHN_CBOR_DEPTH) {
		w->bad = true;
		return;
	}
	if (count == 0) {
		walk_item(w);
		return;
	}
	w->pending[w->depth]--; /* the container is one item of its parent */
	w->pending[++w->depth] = count * per_item;
}

static void walk_array(void *ctx, size_t count)
{
	walk_container(ctx, count, 1);
}

static void walk_map(void *ctx, size_t count)
{
	walk_container(ctx, count, 2);
}

static void walk_bad(void *ctx)
{
	((struct cbor_walk *)ctx)->bad = true;
}

static void walk_u8(void *ctx, uint8_t v)
{
	walk_item(ctx);
}

static void walk_u16(void *ctx, uint16_t v)
{
	walk_item(ctx);
}

static void walk_u32(void *ctx, uint32_t v)
{
	walk_item(ctx);
}

static void walk_u64(void *ctx, uint64_t v)
{
	walk_item(ctx);
}

static void walk_string(void *ctx, cbor_data data, size_t len)
{
	walk_item(ctx);
}

static void walk_bool(void *ctx, bool v)
{
	walk_item(ctx);
}

static void walk_tag(void *ctx, uint64_t v)
{
	walk_bad(ctx);
}

static void walk_float(void *ctx, float v)
{
	walk_bad(ctx);
}

static void walk_double(void *ctx, double v)
{
	walk_bad(ctx);
}

static const struct cbor_callbacks walk_callbacks = {
    .uint8 = walk_u8,
    .uint16 = walk_u16,
    .uint32 = walk_u32,
    .uint64 = walk_u64,
    .negint8 = walk_u8,
    .negint16 = walk_u16,
    .negint32 = walk_u32,
    .negint64 = walk_u64,
    .byte_string = walk_string,
    .byte_string_start = walk_bad,
    .string = walk_string,
    .string_start = walk_bad,
    .array_start = walk_array,
    .indef_array_start = walk_bad,
    .map_start = walk_map,
    .indef_map_start = walk_bad,
    .tag = walk_tag,
    .float2 = walk_float,
    .float4 = walk_float,
    .float8 = walk_double,
    .undefined = walk_item,
    .null = walk_item,
    .boolean = walk_bool,
    .indef_break = walk_bad,
};

/* Length of the one well-formed item at the start of buf: 1 with *span_r, 0 otherwise. */
static int cbor_span(const unsigned char *buf, size_t len, size_t *span_r)
{
	struct cbor_walk w = {.pending = {1}};
	size_t pos = 0;

	while (!w.bad && (w.depth > 0 || w.pending[0] > 0)) {
		struct cbor_decoder_result r;

		if (pos >= len)
			return 0;
		w.left = len - pos;
		r = cbor_stream_decode(buf + pos, len - pos, &walk_callbacks, &w);
		if (r.status != CBOR_DECODER_FINISHED || r.read == 0)
			return 0;
		pos += r.read;
	}
	if (w.bad)
		return 0;
	*span_r = pos;
	return 1;
}

/* cbor_load of exactly the one item at the start of buf; *span_r its length. NULL if bad. */
static cbor_item_t *cbor_load_span(const unsigned char *buf, size_t len, size_t *span_r)
{
	struct cbor_load_result res;
	cbor_item_t *item;

	if (cbor_span(buf, len, span_r) == 0)
		return NULL;
	item = cbor_load(buf, *span_r, &res);
	if (item != NULL && res.read != *span_r)
		cbor_decref(&item);
	return item;
}

/* The whole of buf as one item. */
static cbor_item_t *cbor_load_all(const unsigned char *buf, size_t len)
{
	size_t span;
	cbor_item_t *item = cbor_load_span(buf, len, &span);

	if (item != NULL && span != len)
		cbor_decref(&item);
	return item;
}

static bool cbor_text_is(const cbor_item_t *item, const char *text)
{
	size_t len = strlen(text);

	return cbor_isa_string(item) && cbor_string_is_definite(item) &&
	       cbor_string_length(item) == len && memcmp(cbor_string_handle(item), text, len) == 0;
}

/* The value of the text key `name` in a definite map, or NULL. */
static const cbor_item_t *cbor_map_get(const cbor_item_t *map, const char *name)
{
	const struct cbor_pair *pairs = cbor_map_handle(map);

	for (size_t i = 0; i < cbor_map_size(map); i++)
		if (cbor_text_is(pairs[i].key, name))
			return pairs[i].value;
	return NULL;
}

/* A negative integer item as an int (COSE algorithm identifiers), 0 if it is not one. */
static int cbor_negint_value(const cbor_item_t *item)
{
	if (item == NULL || !cbor_isa_negint(item) || cbor_get_int(item) > 0xffff)
		return 0;
	return -1 - (int)cbor_get_int(item);
}

/* ---- authenticator data (§6.1) ---- */

struct authdata {
	const unsigned char *rp_id_hash;
	uint8_t flags;
	uint32_t sign_count;
	const unsigned char *cred_id, *cose_key, *ext;
	size_t cred_id_len, cose_key_len, ext_len;
};

static int refuse(const char **reason_r, const char *reason)
{
	*reason_r = reason;
	return -1;
}

/* aaguid, credentialIdLength, credentialId, credentialPublicKey (COSE_Key) */
static int authdata_attested(const unsigned char *p, size_t len, size_t *pos, struct authdata *ad,
                             const char **reason_r)
{
	size_t at = *pos + AUTHDATA_AAGUID_LEN;

	if (len - *pos < AUTHDATA_AAGUID_LEN + 2)
		return refuse(reason_r, "authenticatorData: attested credential data truncated");
	ad->cred_id_len = (size_t)p[at] << 8 | p[at + 1];
	at += 2;
	if (ad->cred_id_len == 0 || ad->cred_id_len > WEBAUTHN_CRED_ID_MAX ||
	    len - at < ad->cred_id_len)
		return refuse(reason_r, "authenticatorData: bad credential id length");
	ad->cred_id = p + at;
	at += ad->cred_id_len;
	ad->cose_key = p + at;
	if (cbor_span(p + at, len - at, &ad->cose_key_len) == 0 || (p[at] >> 5) != CBOR_MAJOR_MAP)
		return refuse(reason_r, "authenticatorData: malformed credential public key");
	*pos = at + ad->cose_key_len;
	return 0;
}

static int authdata_parse(const unsigned char *p, size_t len, struct authdata *ad,
                          const char **reason_r)
{
	size_t pos = AUTHDATA_FIXED_LEN;

	memset(ad, 0, sizeof(*ad));
	if (len < AUTHDATA_FIXED_LEN)
		return refuse(reason_r, "authenticatorData: truncated");
	ad->rp_id_hash = p;
	ad->flags = p[32];
	ad->sign_count =
	    (uint32_t)p[33] << 24 | (uint32_t)p[34] << 16 | (uint32_t)p[35] << 8 | (uint32_t)p[36];
	if ((ad->flags & FLAG_AT) != 0 && authdata_attested(p, len, &pos, ad, reason_r) < 0)
		return -1;
	if ((ad->flags & FLAG_ED) != 0) {
		ad->ext = p + pos;
		if (pos >= len || cbor_span(p + pos, len - pos, &ad->ext_len) == 0 ||
		    (p[pos] >> 5) != CBOR_MAJOR_MAP)
			return refuse(reason_r, "authenticatorData: malformed extensions");
		pos += ad->ext_len;
	}
	if (pos != len)
		return refuse(reason_r, "authenticatorData: trailing bytes");
	return 0;
}

/* rpIdHash is SHA-256 of our RP ID, and the user was present (touched the key). */
static int authdata_check(const struct authdata *ad, const struct webauthn_rp *rp,
                          const char **reason_r)
{
	unsigned char hash[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(hash, (const unsigned char *)rp->id, strlen(rp->id));
	if (sodium_memcmp(hash, ad->rp_id_hash, sizeof(hash)) != 0)
		return refuse(reason_r, "rpIdHash is not the hash of our RP ID");
	if ((ad->flags & FLAG_UP) == 0)
		return refuse(reason_r, "user presence flag not set");
	return 0;
}

/* ---- clientDataJSON (§5.8.1) ---- */

static json_t *client_data_load(const unsigned char *cd, size_t len)
{
	json_t *root;

	if (len == 0 || len > WEBAUTHN_CLIENT_DATA_MAX)
		return NULL;
	root = json_loadb((const char *)cd, len, JSON_REJECT_DUPLICATES, NULL);
	if (root != NULL && !json_is_object(root)) {
		json_decref(root);
		return NULL;
	}
	return root;
}

static bool json_string_is(const json_t *v, const char *expected, size_t len)
{
	return json_is_string(v) && json_string_length(v) == len &&
	       sodium_memcmp(json_string_value(v), expected, len) == 0;
}

/* crossOrigin must be absent or false; a tokenBinding "present" cannot be honoured. */
static int client_data_context(json_t *root, const char **reason_r)
{
	json_t *cross = json_object_get(root, "crossOrigin");
	json_t *tb = json_object_get(root, "tokenBinding");

	if (cross != NULL && !json_is_false(cross))
		return refuse(reason_r, "clientDataJSON: crossOrigin is not false");
	if (tb != NULL &&
	    (!json_is_object(tb) || json_string_is(json_object_get(tb, "status"), "present", 7)))
		return refuse(reason_r, "clientDataJSON: token binding is not supported");
	return 0;
}

static int client_data_fields(json_t *root, const char *type, const struct webauthn_rp *rp,
                              const unsigned char challenge[WEBAUTHN_CHALLENGE_LEN],
                              const char **reason_r)
{
	char b64[sodium_base64_ENCODED_LEN(WEBAUTHN_CHALLENGE_LEN,
	                                   sodium_base64_VARIANT_URLSAFE_NO_PADDING)];

	if (!json_string_is(json_object_get(root, "type"), type, strlen(type)))
		return refuse(reason_r, "clientDataJSON: wrong type");
	sodium_bin2base64(b64, sizeof(b64), challenge, WEBAUTHN_CHALLENGE_LEN,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	if (!json_string_is(json_object_get(root, "challenge"), b64, strlen(b64)))
		return refuse(reason_r, "clientDataJSON: not the challenge issued");
	if (!json_string_is(json_object_get(root, "origin"), rp->origin, strlen(rp->origin)))
		return refuse(reason_r, "clientDataJSON: wrong origin");
	return client_data_context(root, reason_r);
}

static int client_data_check(const unsigned char *cd, size_t len, const char *type,
                             const struct webauthn_rp *rp,
                             const unsigned char challenge[WEBAUTHN_CHALLENGE_LEN],
                             const char **reason_r)
{
	json_t *root = client_data_load(cd, len);
	int rc;

	if (root == NULL)
		return refuse(reason_r, "clientDataJSON: not a JSON object");
	rc = client_data_fields(root, type, rp, challenge, reason_r);
	json_decref(root);
	return rc;
}

int webauthn_client_challenge(const unsigned char *client_data, size_t len,
                              unsigned char challenge_r[WEBAUTHN_CHALLENGE_LEN])
{
	json_t *root = client_data_load(client_data, len), *c;
	const char *end = NULL;
	size_t bin_len = 0;
	int rc = 0;

	if (root == NULL)
		return 0;
	c = json_object_get(root, "challenge");
	if (json_is_string(c) &&
	    sodium_base642bin(challenge_r, WEBAUTHN_CHALLENGE_LEN, json_string_value(c),
	                      json_string_length(c), NULL, &bin_len, &end,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
	    bin_len == WEBAUTHN_CHALLENGE_LEN &&
	    end == json_string_value(c) + json_string_length(c))
		rc = 1;
	json_decref(root);
	return rc;
}

/* ---- algorithms: libfido2 does every signature check ---- */

static int verify_es256(const fido_assert_t *as, const unsigned char *raw, size_t len)
{
	es256_pk_t *pk = es256_pk_new();
	int r = FIDO_ERR_INVALID_ARGUMENT;

	if (pk != NULL && es256_pk_from_ptr(pk, raw, len) == FIDO_OK)
		r = fido_assert_verify(as, 0, COSE_ES256, pk);
	es256_pk_free(&pk);
	return r;
}

static int verify_eddsa(const fido_assert_t *as, const unsigned char *raw, size_t len)
{
	eddsa_pk_t *pk = eddsa_pk_new();
	int r = FIDO_ERR_INVALID_ARGUMENT;

	if (pk != NULL && eddsa_pk_from_ptr(pk, raw, len) == FIDO_OK)
		r = fido_assert_verify(as, 0, COSE_EDDSA, pk);
	eddsa_pk_free(&pk);
	return r;
}

static int verify_rs256(const fido_assert_t *as, const unsigned char *raw, size_t len)
{
	rs256_pk_t *pk = rs256_pk_new();
	int r = FIDO_ERR_INVALID_ARGUMENT;

	if (pk != NULL && rs256_pk_from_ptr(pk, raw, len) == FIDO_OK)
		r = fido_assert_verify(as, 0, COSE_RS256, pk);
	rs256_pk_free(&pk);
	return r;
}

struct webauthn_alg_ops {
	int alg;
	const char *name;
	size_t pubkey_len; /* of libfido2's raw form */
	int (*verify)(const fido_assert_t *as, const unsigned char *raw, size_t len);
};

static const struct webauthn_alg_ops webauthn_algs[] = {
    {.alg = WEBAUTHN_ALG_ES256, .name = "ES256", .pubkey_len = 64, .verify = verify_es256},
    {.alg = WEBAUTHN_ALG_EDDSA, .name = "EdDSA", .pubkey_len = 32, .verify = verify_eddsa},
    {.alg = WEBAUTHN_ALG_RS256, .name = "RS256", .pubkey_len = 259, .verify = verify_rs256},
};

static const struct webauthn_alg_ops *webauthn_alg_find(int alg)
{
	for (size_t i = 0; i < sizeof(webauthn_algs) / sizeof(webauthn_algs[0]); i++)
		if (webauthn_algs[i].alg == alg)
			return &webauthn_algs[i];
	return NULL;
}

const char *webauthn_alg_name(int alg)
{
	const struct webauthn_alg_ops *ops = webauthn_alg_find(alg);

	return ops != NULL ? ops->name : NULL;
}

bool webauthn_counter_ok(uint32_t stored, uint32_t presented)
{
	return presented > stored || (stored == 0 && presented == 0);
}

static void webauthn_fido_init(void)
{
	static bool done;

	if (!done)
		fido_init(0);
	done = true;
}

/* ---- registration (§7.1) ---- */

/* The three members of an attestationObject; pointers into root. */
struct attobj {
	cbor_item_t *root;
	char fmt[WEBAUTHN_FMT_MAX];
	const cbor_item_t *stmt;
	const unsigned char *auth_data;
	size_t auth_data_len;
};

static int attobj_fmt(struct attobj *att, const cbor_item_t *v)
{
	size_t len = cbor_isa_string(v) && cbor_string_is_definite(v) ? cbor_string_length(v) : 0;

	if (att->fmt[0] != '\0' || len == 0 || len >= sizeof(att->fmt) ||
	    memchr(cbor_string_handle(v), 0, len) != NULL)
		return -1;
	memcpy(att->fmt, cbor_string_handle(v), len);
	return 0;
}

static int attobj_member(struct attobj *att, const struct cbor_pair *pair)
{
	const cbor_item_t *v = pair->value;

	if (cbor_text_is(pair->key, "fmt"))
		return attobj_fmt(att, v);
	if (cbor_text_is(pair->key, "attStmt")) {
		if (att->stmt != NULL || !cbor_isa_map(v) || !cbor_map_is_definite(v))
			return -1;
		att->stmt = v;
		return 0;
	}
	if (cbor_text_is(pair->key, "authData")) {
		if (att->auth_data != NULL || !cbor_isa_bytestring(v) ||
		    !cbor_bytestring_is_definite(v) || cbor_bytestring_length(v) == 0)
			return -1;
		att->auth_data = cbor_bytestring_handle(v);
		att->auth_data_len = cbor_bytestring_length(v);
		return 0;
	}
	/* other text keys are ignored (room for extension members) */
	return cbor_isa_string(pair->key) ? 0 : -1;
}

static int attobj_parse(const unsigned char *buf, size_t len, struct attobj *att,
                        const char **reason_r)
{
	const struct cbor_pair *pairs;

	memset(att, 0, sizeof(*att));
	att->root = len <= WEBAUTHN_ATTESTATION_MAX ? cbor_load_all(buf, len) : NULL;
	if (att->root == NULL || !cbor_isa_map(att->root) || !cbor_map_is_definite(att->root))
		return refuse(reason_r, "attestationObject: not a CBOR map");
	pairs = cbor_map_handle(att->root);
	for (size_t i = 0; i < cbor_map_size(att->root); i++)
		if (attobj_member(att, &pairs[i]) < 0)
			return refuse(reason_r, "attestationObject: malformed member");
	if (att->fmt[0] == '\0' || att->stmt == NULL || att->auth_data == NULL)
		return refuse(reason_r, "attestationObject: fmt, attStmt or authData missing");
	return 0;
}

/* The COSE "alg" (label 3) of the credential public key, if one we accept. */
static int cose_key_alg(const struct authdata *ad, int *alg_r, const char **reason_r)
{
	cbor_item_t *key = cbor_load_all(ad->cose_key, ad->cose_key_len);
	int alg = 0;

	if (key != NULL && cbor_isa_map(key) && cbor_map_is_definite(key)) {
		const struct cbor_pair *pairs = cbor_map_handle(key);

		for (size_t i = 0; i < cbor_map_size(key); i++)
			if (cbor_isa_uint(pairs[i].key) && cbor_get_int(pairs[i].key) == 3)
				alg = cbor_negint_value(pairs[i].value);
	}
	if (key != NULL)
		cbor_decref(&key);
	if (webauthn_alg_find(alg) == NULL)
		return refuse(reason_r,
		              "credential public key: algorithm not ES256, EdDSA or RS256");
	*alg_r = alg;
	return 0;
}

/* libfido2 compares the extensions in the authenticator data with those requested: the
 * authenticator may add credProtect or hmac-secret on its own, so they are requested here. */
static void cred_mirror_extensions(fido_cred_t *cred, const struct authdata *ad)
{
	cbor_item_t *ext = ad->ext != NULL ? cbor_load_all(ad->ext, ad->ext_len) : NULL;
	const cbor_item_t *v;

	if (ext == NULL)
		return;
	v = cbor_map_get(ext, "credProtect");
	if (v != NULL && cbor_isa_uint(v) && cbor_get_int(v) <= 3)
		fido_cred_set_prot(cred, (int)cbor_get_int(v));
	v = cbor_map_get(ext, "hmac-secret");
	if (v != NULL && cbor_is_bool(v) && cbor_get_bool(v))
		fido_cred_set_extensions(cred, FIDO_EXT_HMAC_SECRET);
	cbor_decref(&ext);
}

/* A libfido2 credential carrying everything its verify functions look at. NULL if libfido2
 * cannot read the authenticator data (e.g. a COSE key whose curve does not match its alg). */
static fido_cred_t *cred_build(const struct webauthn_rp *rp,
                               const struct webauthn_registration *reg, const struct attobj *att,
                               const struct authdata *ad, int alg)
{
	fido_cred_t *cred = fido_cred_new();

	if (cred == NULL || fido_cred_set_type(cred, alg) != FIDO_OK ||
	    fido_cred_set_rp(cred, rp->id, NULL) != FIDO_OK ||
	    fido_cred_set_clientdata(cred, reg->client_data, reg->client_data_len) != FIDO_OK ||
	    fido_cred_set_authdata_raw(cred, att->auth_data, att->auth_data_len) != FIDO_OK ||
	    fido_cred_set_fmt(cred, att->fmt) != FIDO_OK || fido_cred_pubkey_len(cred) == 0 ||
	    fido_cred_pubkey_len(cred) > WEBAUTHN_PUBKEY_MAX) {
		fido_cred_free(&cred);
		return NULL;
	}
	cred_mirror_extensions(cred, ad);
	return cred;
}

/* Hands the attestation statement to libfido2 in its CBOR form. */
static int cred_set_stmt(fido_cred_t *cred, const cbor_item_t *stmt)
{
	unsigned char *buf = NULL;
	size_t size = 0, len = cbor_serialize_alloc(stmt, &buf, &size);
	int r = len > 0 ? fido_cred_set_attstmt(cred, buf, len) : FIDO_ERR_INTERNAL;

	free(buf);
	return r == FIDO_OK ? 0 : -1;
}

/* §8.7: no statement at all. */
static int fmt_none(fido_cred_t *cred, const cbor_item_t *stmt, int alg, const char **reason_r)
{
	if (cbor_map_size(stmt) != 0)
		return refuse(reason_r, "attestation none: attStmt is not empty");
	return 0;
}

/* §8.2: with x5c a full attestation (signed by the certificate's key), without it a self
 * attestation (signed by the credential key, with its algorithm). */
static int fmt_packed(fido_cred_t *cred, const cbor_item_t *stmt, int alg, const char **reason_r)
{
	int r;

	if (cred_set_stmt(cred, stmt) < 0)
		return refuse(reason_r, "attestation packed: malformed attStmt");
	if (cbor_map_get(stmt, "x5c") != NULL) {
		r = fido_cred_verify(cred);
	} else {
		if (cbor_negint_value(cbor_map_get(stmt, "alg")) != alg)
			return refuse(reason_r, "attestation packed: alg is not the key's");
		r = fido_cred_verify_self(cred);
	}
	return r == FIDO_OK ? 0 : refuse(reason_r, "attestation packed: signature invalid");
}

/* §8.6: a U2F (CTAP1) authenticator's registration, as browsers present it. */
static int fmt_u2f(fido_cred_t *cred, const cbor_item_t *stmt, int alg, const char **reason_r)
{
	if (alg != WEBAUTHN_ALG_ES256 || cbor_map_get(stmt, "x5c") == NULL ||
	    cred_set_stmt(cred, stmt) < 0)
		return refuse(reason_r, "attestation fido-u2f: malformed attStmt");
	if (fido_cred_verify(cred) != FIDO_OK)
		return refuse(reason_r, "attestation fido-u2f: signature invalid");
	return 0;
}

struct webauthn_fmt {
	const char *name;
	int (*verify)(fido_cred_t *cred, const cbor_item_t *stmt, int alg, const char **reason_r);
};

static const struct webauthn_fmt webauthn_fmts[] = {
    {.name = "none", .verify = fmt_none},
    {.name = "packed", .verify = fmt_packed},
    {.name = "fido-u2f", .verify = fmt_u2f},
};

static const struct webauthn_fmt *webauthn_fmt_find(const char *name)
{
	for (size_t i = 0; i < sizeof(webauthn_fmts) / sizeof(webauthn_fmts[0]); i++)
		if (strcmp(webauthn_fmts[i].name, name) == 0)
			return &webauthn_fmts[i];
	return NULL;
}

static void key_from_cred(const fido_cred_t *cred, const struct authdata *ad, int alg,
                          struct webauthn_key *key)
{
	memcpy(key->id, ad->cred_id, ad->cred_id_len);
	key->id_len = ad->cred_id_len;
	key->alg = alg;
	key->pubkey_len = fido_cred_pubkey_len(cred);
	memcpy(key->pubkey, fido_cred_pubkey_ptr(cred), key->pubkey_len);
	key->sign_count = ad->sign_count;
}

/* Everything after clientDataJSON: the attestationObject and the data inside it. */
static int register_attestation(const struct webauthn_rp *rp,
                                const struct webauthn_registration *reg, struct attobj *att,
                                struct webauthn_key *key_r, struct authdata *ad,
                                const char **reason_r)
{
	const struct webauthn_fmt *fmt;
	fido_cred_t *cred;
	int alg, rc;

	if (attobj_parse(reg->attestation, reg->attestation_len, att, reason_r) < 0 ||
	    authdata_parse(att->auth_data, att->auth_data_len, ad, reason_r) < 0 ||
	    authdata_check(ad, rp, reason_r) < 0)
		return -1;
	if ((ad->flags & FLAG_AT) == 0)
		return refuse(reason_r, "authenticatorData: no attested credential");
	fmt = webauthn_fmt_find(att->fmt);
	if (fmt == NULL)
		return refuse(reason_r, "attestation format not supported");
	if (cose_key_alg(ad, &alg, reason_r) < 0)
		return -1;
	cred = cred_build(rp, reg, att, ad, alg);
	if (cred == NULL)
		return refuse(reason_r, "credential public key: malformed");
	rc = fmt->verify(cred, att->stmt, alg, reason_r);
	if (rc == 0)
		key_from_cred(cred, ad, alg, key_r);
	fido_cred_free(&cred);
	return rc;
}

enum webauthn_result webauthn_register(const struct webauthn_rp *rp,
                                       const unsigned char challenge[WEBAUTHN_CHALLENGE_LEN],
                                       const struct webauthn_registration *reg,
                                       struct webauthn_key *key_r,
                                       struct webauthn_outcome *outcome_r, const char **reason_r)
{
	struct attobj att = {0};
	struct authdata ad;
	int rc;

	webauthn_fido_init();
	memset(key_r, 0, sizeof(*key_r));
	memset(outcome_r, 0, sizeof(*outcome_r));
	if (client_data_check(reg->client_data, reg->client_data_len, "webauthn.create", rp,
	                      challenge, reason_r) < 0)
		return WEBAUTHN_REFUSED;
	rc = register_attestation(rp, reg, &att, key_r, &ad, reason_r);
	if (att.root != NULL)
		cbor_decref(&att.root);
	if (rc < 0)
		return WEBAUTHN_REFUSED;
	outcome_r->user_verified = (ad.flags & FLAG_UV) != 0;
	outcome_r->sign_count = ad.sign_count;
	return WEBAUTHN_OK;
}

/* ---- assertion (§7.2) ---- */

static int assert_signature(const struct webauthn_rp *rp, const struct webauthn_assertion *as,
                            const struct webauthn_key *key, const char **reason_r)
{
	const struct webauthn_alg_ops *ops = webauthn_alg_find(key->alg);
	fido_assert_t *fa;
	int r = FIDO_ERR_INVALID_ARGUMENT;

	if (ops == NULL || key->pubkey_len != ops->pubkey_len)
		return refuse(reason_r, "stored key: unknown algorithm or malformed");
	fa = fido_assert_new();
	if (fa != NULL && fido_assert_set_count(fa, 1) == FIDO_OK &&
	    fido_assert_set_rp(fa, rp->id) == FIDO_OK &&
	    fido_assert_set_clientdata(fa, as->client_data, as->client_data_len) == FIDO_OK &&
	    fido_assert_set_authdata_raw(fa, 0, as->auth_data, as->auth_data_len) == FIDO_OK &&
	    fido_assert_set_sig(fa, 0, as->sig, as->sig_len) == FIDO_OK &&
	    fido_assert_set_up(fa, FIDO_OPT_TRUE) == FIDO_OK)
		r = ops->verify(fa, key->pubkey, key->pubkey_len);
	fido_assert_free(&fa);
	return r == FIDO_OK ? 0 : refuse(reason_r, "assertion signature invalid");
}

static int assert_check(const struct webauthn_rp *rp,
                        const unsigned char challenge[WEBAUTHN_CHALLENGE_LEN],
                        const struct webauthn_assertion *as, const struct webauthn_key *key,
                        struct authdata *ad, const char **reason_r)
{
	if (as->auth_data_len > WEBAUTHN_AUTH_DATA_MAX || as->sig_len == 0 ||
	    as->sig_len > WEBAUTHN_SIG_MAX)
		return refuse(reason_r, "assertion: authenticatorData or signature size");
	if (client_data_check(as->client_data, as->client_data_len, "webauthn.get", rp, challenge,
	                      reason_r) < 0 ||
	    authdata_parse(as->auth_data, as->auth_data_len, ad, reason_r) < 0 ||
	    authdata_check(ad, rp, reason_r) < 0)
		return -1;
	if ((ad->flags & FLAG_AT) != 0)
		return refuse(reason_r, "authenticatorData: attested credential in an assertion");
	return assert_signature(rp, as, key, reason_r);
}

enum webauthn_result webauthn_assert(const struct webauthn_rp *rp,
                                     const unsigned char challenge[WEBAUTHN_CHALLENGE_LEN],
                                     const struct webauthn_assertion *as,
                                     const struct webauthn_key *key,
                                     struct webauthn_outcome *outcome_r, const char **reason_r)
{
	struct authdata ad;

	webauthn_fido_init();
	memset(outcome_r, 0, sizeof(*outcome_r));
	if (assert_check(rp, challenge, as, key, &ad, reason_r) < 0)
		return WEBAUTHN_REFUSED;
	outcome_r->user_verified = (ad.flags & FLAG_UV) != 0;
	outcome_r->sign_count = ad.sign_count;
	if (!webauthn_counter_ok(key->sign_count, ad.sign_count)) {
		*reason_r = "signature counter did not increase: a cloned key";
		return WEBAUTHN_CLONED;
	}
	return WEBAUTHN_OK;
}
