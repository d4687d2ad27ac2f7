/* WebAuthn verification (auth/webauthn.c) against a software authenticator written here. */
#include "test-authenticator.h"

static const struct webauthn_rp rp = {.id = TA_RP_ID, .origin = TA_ORIGIN};
static unsigned char challenge[WEBAUTHN_CHALLENGE_LEN];

static int setup(void **state)
{
	randombytes_buf(challenge, sizeof(challenge));
	return 0;
}

/* *key is written only on success: tests go on asserting with a key registered before. */
static enum webauthn_result do_register(const struct ta_reg *r, struct webauthn_key *key,
                                        const char **reason)
{
	struct webauthn_registration reg = ta_reg_view(r);
	struct webauthn_outcome out;
	struct webauthn_key got;
	enum webauthn_result res;

	*reason = NULL;
	res = webauthn_register(&rp, challenge, &reg, &got, &out, reason);
	if (res == WEBAUTHN_OK)
		*key = got;
	return res;
}

static enum webauthn_result do_assert(const struct ta_assert *a, const struct webauthn_key *key,
                                      struct webauthn_outcome *out, const char **reason)
{
	struct webauthn_assertion as = ta_assert_view(a);

	*reason = NULL;
	return webauthn_assert(&rp, challenge, &as, key, out, reason);
}

/* reason is read through a pointer: the call that sets it is an argument of the same call */
static void assert_refused(enum webauthn_result r, const char *const *reasonp, const char *expect)
{
	const char *reason = *reasonp;

	assert_int_equal(r, WEBAUTHN_REFUSED);
	assert_non_null(reason);
	if (strstr(reason, expect) == NULL)
		fail_msg("refused for '%s', expected '%s'", reason, expect);
}

/* Registers k with fmt and returns the stored form. */
static void register_ok(struct ta_key *k, enum ta_fmt fmt, struct webauthn_key *key)
{
	struct ta_reg r;
	const char *reason;

	ta_register(&r, k, fmt, challenge, TA_ORIGIN, TA_RP_ID, TA_UP);
	if (do_register(&r, key, &reason) != WEBAUTHN_OK)
		fail_msg("registration refused: %s", reason);
	ta_reg_free(&r);
	assert_int_equal(key->alg, k->alg);
	assert_int_equal(key->id_len, sizeof(k->id));
	assert_memory_equal(key->id, k->id, sizeof(k->id));
	assert_int_equal(key->sign_count, k->counter);
}

static void assert_ok(struct ta_key *k, struct webauthn_key *key)
{
	struct webauthn_outcome out;
	struct ta_assert a;
	const char *reason;

	ta_assert(&a, k, challenge);
	if (do_assert(&a, key, &out, &reason) != WEBAUTHN_OK)
		fail_msg("assertion refused: %s", reason);
	assert_int_equal(out.sign_count, k->counter);
	assert_false(out.user_verified);
	key->sign_count = out.sign_count;
	ta_assert_free(&a);
}

static void each_alg_roundtrip(int alg, enum ta_fmt fmt)
{
	struct webauthn_key key;
	struct ta_key k;

	ta_key_new(&k, alg);
	k.counter = 5;
	register_ok(&k, fmt, &key);
	assert_ok(&k, &key);
	assert_ok(&k, &key);
	ta_key_free(&k);
}

static void test_roundtrip_es256(void **state)
{
	each_alg_roundtrip(WEBAUTHN_ALG_ES256, TA_NONE);
	assert_string_equal(webauthn_alg_name(WEBAUTHN_ALG_ES256), "ES256");
}

static void test_roundtrip_eddsa(void **state)
{
	each_alg_roundtrip(WEBAUTHN_ALG_EDDSA, TA_NONE);
	assert_string_equal(webauthn_alg_name(WEBAUTHN_ALG_EDDSA), "EdDSA");
}

static void test_roundtrip_rs256(void **state)
{
	each_alg_roundtrip(WEBAUTHN_ALG_RS256, TA_NONE);
	assert_string_equal(webauthn_alg_name(WEBAUTHN_ALG_RS256), "RS256");
	assert_null(webauthn_alg_name(-35));
}

static void test_attestation_formats(void **state)
{
	each_alg_roundtrip(WEBAUTHN_ALG_ES256, TA_PACKED_SELF);
	each_alg_roundtrip(WEBAUTHN_ALG_EDDSA, TA_PACKED_SELF);
	each_alg_roundtrip(WEBAUTHN_ALG_RS256, TA_PACKED_SELF);
	each_alg_roundtrip(WEBAUTHN_ALG_ES256, TA_PACKED_FULL);
	each_alg_roundtrip(WEBAUTHN_ALG_ES256, TA_U2F);
}

/* Flips one byte of the attestation signature inside the attestationObject. */
static void test_attestation_bad_signature(void **state)
{
	const enum ta_fmt fmts[] = {TA_PACKED_SELF, TA_PACKED_FULL, TA_U2F};
	struct webauthn_key key;
	const char *reason;
	struct ta_key k;

	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	for (size_t i = 0; i < 3; i++) {
		struct ta_reg r;
		unsigned char *sig;

		ta_register(&r, &k, fmts[i], challenge, TA_ORIGIN, TA_RP_ID, TA_UP);
		sig = memmem(r.att.p, r.att.len, "csig", 4);
		assert_non_null(sig);
		sig[4 + 2 + 10] ^= 0x01; /* inside the DER signature after its byte string header */
		assert_refused(do_register(&r, &key, &reason), &reason, "signature invalid");
		ta_reg_free(&r);
	}
	ta_key_free(&k);
}

/* An authenticator adding credProtect on its own: the attestation still verifies. */
static void test_packed_self_with_extension(void **state)
{
	static const unsigned char ext[] = {0xa1, 0x6b, 'c', 'r', 'e', 'd', 'P',
	                                    'r',  'o',  't', 'e', 'c', 't', 0x02};
	struct webauthn_key key;
	const char *reason;
	struct tbuf e = {0};
	struct ta_key k;
	struct ta_reg r;

	tbuf_add(&e, ext, sizeof(ext));
	ta_key_new(&k, WEBAUTHN_ALG_EDDSA);
	r.cd = ta_client_data("webauthn.create", challenge, 32, TA_ORIGIN, NULL);
	r.ad = ta_auth_data(TA_RP_ID, TA_UP | TA_AT | TA_ED, &k, &e);
	r.att = ta_att_object("packed", ta_att_stmt(TA_PACKED_SELF, &k, &r.ad, &r.cd), &r.ad);
	if (do_register(&r, &key, &reason) != WEBAUTHN_OK)
		fail_msg("refused: %s", reason);
	ta_reg_free(&r);
	tbuf_free(&e);
	ta_key_free(&k);
}

/* Self attestation must use the credential key's own algorithm (§8.2). */
static void test_packed_self_alg_mismatch(void **state)
{
	struct webauthn_key key;
	const char *reason;
	struct ta_key k;
	struct ta_reg r;
	cbor_item_t *stmt;
	struct tbuf msg, sig;

	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	r.cd = ta_client_data("webauthn.create", challenge, 32, TA_ORIGIN, NULL);
	r.ad = ta_auth_data(TA_RP_ID, TA_UP | TA_AT, &k, NULL);
	msg = ta_signed_data(&r.ad, &r.cd);
	sig = ta_sign(&k, &msg);
	stmt = cbor_new_definite_map(2);
	ta_map_put(stmt, cbor_build_string("alg"), cbor_build_negint8(7)); /* EdDSA */
	ta_map_put(stmt, cbor_build_string("sig"), cbor_build_bytestring(sig.p, sig.len));
	r.att = ta_att_object("packed", stmt, &r.ad);
	assert_refused(do_register(&r, &key, &reason), &reason, "alg is not the key's");
	tbuf_free(&msg);
	tbuf_free(&sig);
	ta_reg_free(&r);
	ta_key_free(&k);
}

static void test_unsupported_format(void **state)
{
	struct webauthn_key key;
	const char *reason;
	struct ta_key k;
	struct ta_reg r;

	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	r.cd = ta_client_data("webauthn.create", challenge, 32, TA_ORIGIN, NULL);
	r.ad = ta_auth_data(TA_RP_ID, TA_UP | TA_AT, &k, NULL);
	r.att = ta_att_object("tpm", cbor_new_definite_map(0), &r.ad);
	assert_refused(do_register(&r, &key, &reason), &reason, "format not supported");
	tbuf_free(&r.att);
	/* "none" with a statement in it is not "none" */
	r.att = ta_att_object("none", ta_att_stmt(TA_PACKED_SELF, &k, &r.ad, &r.cd), &r.ad);
	assert_refused(do_register(&r, &key, &reason), &reason, "attStmt is not empty");
	ta_reg_free(&r);
	ta_key_free(&k);
}

static void test_wrong_type(void **state)
{
	struct webauthn_key key;
	struct webauthn_outcome out;
	const char *reason;
	struct ta_key k;
	struct ta_reg r;
	struct ta_assert a;

	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	register_ok(&k, TA_NONE, &key);
	/* a registration whose clientDataJSON says "webauthn.get" */
	ta_register(&r, &k, TA_NONE, challenge, TA_ORIGIN, TA_RP_ID, TA_UP);
	tbuf_free(&r.cd);
	r.cd = ta_client_data("webauthn.get", challenge, 32, TA_ORIGIN, NULL);
	assert_refused(do_register(&r, &key, &reason), &reason, "wrong type");
	ta_reg_free(&r);
	/* an assertion that says "webauthn.create", and one with no type */
	k.counter++;
	ta_assert_with(&a, &k, challenge, TA_ORIGIN, TA_RP_ID, TA_UP, "webauthn.create");
	assert_refused(do_assert(&a, &key, &out, &reason), &reason, "wrong type");
	ta_assert_free(&a);
	ta_assert_with(&a, &k, challenge, TA_ORIGIN, TA_RP_ID, TA_UP, "");
	assert_refused(do_assert(&a, &key, &out, &reason), &reason, "wrong type");
	ta_assert_free(&a);
	ta_key_free(&k);
}

static void test_wrong_challenge(void **state)
{
	unsigned char other[WEBAUTHN_CHALLENGE_LEN];
	struct webauthn_key key;
	struct webauthn_outcome out;
	const char *reason;
	struct ta_key k;
	struct ta_reg r;
	struct ta_assert a;

	ta_key_new(&k, WEBAUTHN_ALG_EDDSA);
	register_ok(&k, TA_NONE, &key);
	memcpy(other, challenge, sizeof(other));
	other[31] ^= 1;
	ta_register(&r, &k, TA_NONE, other, TA_ORIGIN, TA_RP_ID, TA_UP);
	assert_refused(do_register(&r, &key, &reason), &reason, "not the challenge issued");
	ta_reg_free(&r);
	k.counter++;
	ta_assert_with(&a, &k, other, TA_ORIGIN, TA_RP_ID, TA_UP, "webauthn.get");
	assert_refused(do_assert(&a, &key, &out, &reason), &reason, "not the challenge issued");
	ta_assert_free(&a);
	/* a prefix of the right challenge is not it either */
	a.cd = ta_client_data("webauthn.get", challenge, 31, TA_ORIGIN, NULL);
	a.ad = ta_auth_data(TA_RP_ID, TA_UP, &k, NULL);
	a.sig = (struct tbuf){0};
	ta_assert_resign(&a, &k);
	assert_refused(do_assert(&a, &key, &out, &reason), &reason, "not the challenge issued");
	ta_assert_free(&a);
	ta_key_free(&k);
}

static void test_wrong_origin(void **state)
{
	const char *origins[] = {
	    "https://evil.example.org:8443",   "https://portal.example.org",
	    "http://portal.example.org:8443",  "https://portal.example.org:8443/",
	    "https://PORTAL.example.org:8443", "https://portal.example.org:84430",
	};
	struct webauthn_key key;
	struct webauthn_outcome out;
	const char *reason;
	struct ta_key k;

	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	register_ok(&k, TA_NONE, &key);
	for (size_t i = 0; i < sizeof(origins) / sizeof(origins[0]); i++) {
		struct ta_reg r;
		struct ta_assert a;

		ta_register(&r, &k, TA_NONE, challenge, origins[i], TA_RP_ID, TA_UP);
		assert_refused(do_register(&r, &key, &reason), &reason, "wrong origin");
		ta_reg_free(&r);
		k.counter++;
		ta_assert_with(&a, &k, challenge, origins[i], TA_RP_ID, TA_UP, "webauthn.get");
		assert_refused(do_assert(&a, &key, &out, &reason), &reason, "wrong origin");
		ta_assert_free(&a);
	}
	ta_key_free(&k);
}

/* An assertion whose clientDataJSON has `extra` added, properly signed. */
static enum webauthn_result assert_extra(struct ta_key *k, const struct webauthn_key *key,
                                         const char *extra, const char **reason)
{
	struct webauthn_outcome out;
	struct ta_assert a;
	enum webauthn_result res;

	k->counter++;
	a.cd = ta_client_data("webauthn.get", challenge, 32, TA_ORIGIN, extra);
	a.ad = ta_auth_data(TA_RP_ID, TA_UP, k, NULL);
	a.sig = (struct tbuf){0};
	ta_assert_resign(&a, k);
	res = do_assert(&a, key, &out, reason);
	ta_assert_free(&a);
	return res;
}

static void test_cross_origin_and_token_binding(void **state)
{
	struct webauthn_key key;
	const char *reason;
	struct ta_key k;

	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	register_ok(&k, TA_NONE, &key);
	assert_int_equal(assert_extra(&k, &key, ",\"crossOrigin\":false", &reason), WEBAUTHN_OK);
	assert_refused(assert_extra(&k, &key, ",\"crossOrigin\":true", &reason), &reason,
	               "crossOrigin");
	assert_refused(assert_extra(&k, &key, ",\"crossOrigin\":\"false\"", &reason), &reason,
	               "crossOrigin");
	assert_int_equal(
	    assert_extra(&k, &key, ",\"tokenBinding\":{\"status\":\"supported\"}", &reason),
	    WEBAUTHN_OK);
	assert_refused(assert_extra(&k, &key,
	                            ",\"tokenBinding\":{\"status\":\"present\",\"id\":\"AA\"}",
	                            &reason),
	               &reason, "token binding");
	/* members a browser may add are ignored */
	assert_int_equal(assert_extra(&k, &key,
	                              ",\"other_keys_can_be_added_here\":\"do not compare "
	                              "clientDataJSON against a template\"",
	                              &reason),
	                 WEBAUTHN_OK);
	ta_key_free(&k);
}

static void test_wrong_rp_id_hash(void **state)
{
	struct webauthn_key key;
	struct webauthn_outcome out;
	const char *reason;
	struct ta_key k;
	struct ta_reg r;
	struct ta_assert a;

	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	register_ok(&k, TA_NONE, &key);
	ta_register(&r, &k, TA_NONE, challenge, TA_ORIGIN, "example.org", TA_UP);
	assert_refused(do_register(&r, &key, &reason), &reason, "rpIdHash");
	ta_reg_free(&r);
	k.counter++;
	ta_assert_with(&a, &k, challenge, TA_ORIGIN, "evil.example.org", TA_UP, "webauthn.get");
	assert_refused(do_assert(&a, &key, &out, &reason), &reason, "rpIdHash");
	ta_assert_free(&a);
	ta_key_free(&k);
}

static void test_user_presence_required_uv_recorded(void **state)
{
	struct webauthn_key key;
	struct webauthn_outcome out;
	const char *reason;
	struct ta_key k;
	struct ta_reg r;
	struct ta_assert a;

	ta_key_new(&k, WEBAUTHN_ALG_EDDSA);
	register_ok(&k, TA_NONE, &key);
	ta_register(&r, &k, TA_NONE, challenge, TA_ORIGIN, TA_RP_ID, TA_UV);
	assert_refused(do_register(&r, &key, &reason), &reason, "user presence");
	ta_reg_free(&r);
	k.counter++;
	ta_assert_with(&a, &k, challenge, TA_ORIGIN, TA_RP_ID, TA_UV, "webauthn.get");
	assert_refused(do_assert(&a, &key, &out, &reason), &reason, "user presence");
	ta_assert_free(&a);
	k.counter++;
	ta_assert_with(&a, &k, challenge, TA_ORIGIN, TA_RP_ID, TA_UP | TA_UV, "webauthn.get");
	assert_int_equal(do_assert(&a, &key, &out, &reason), WEBAUTHN_OK);
	assert_true(out.user_verified);
	ta_assert_free(&a);
	ta_key_free(&k);
}

static void test_counter_rule(void **state)
{
	struct webauthn_key key;
	struct webauthn_outcome out;
	const char *reason;
	struct ta_key k;
	struct ta_assert a;

	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	k.counter = 10;
	register_ok(&k, TA_NONE, &key);
	/* the same counter again, and a lower one: a second authenticator holds the key */
	const uint32_t clones[] = {10, 9, 0};
	for (size_t i = 0; i < 3; i++) {
		k.counter = clones[i];
		ta_assert_with(&a, &k, challenge, TA_ORIGIN, TA_RP_ID, TA_UP, "webauthn.get");
		assert_int_equal(do_assert(&a, &key, &out, &reason), WEBAUTHN_CLONED);
		assert_non_null(strstr(reason, "cloned"));
		ta_assert_free(&a);
	}
	/* a bad signature with a low counter is refused, not taken for a clone */
	ta_assert_with(&a, &k, challenge, TA_ORIGIN, TA_RP_ID, TA_UP, "webauthn.get");
	a.sig.p[a.sig.len - 1] ^= 1;
	assert_refused(do_assert(&a, &key, &out, &reason), &reason, "signature invalid");
	ta_assert_free(&a);
	/* an authenticator without a counter (always 0) is fine */
	key.sign_count = 0;
	k.counter = 0;
	ta_assert_with(&a, &k, challenge, TA_ORIGIN, TA_RP_ID, TA_UP, "webauthn.get");
	assert_int_equal(do_assert(&a, &key, &out, &reason), WEBAUTHN_OK);
	ta_assert_free(&a);
	assert_true(webauthn_counter_ok(0, 0));
	assert_true(webauthn_counter_ok(0, 1));
	assert_true(webauthn_counter_ok(7, UINT32_MAX));
	assert_false(webauthn_counter_ok(1, 0));
	assert_false(webauthn_counter_ok(UINT32_MAX, UINT32_MAX));
	ta_key_free(&k);
}

static void test_signature_of_another_key(void **state)
{
	struct webauthn_key key;
	struct webauthn_outcome out;
	const char *reason;
	struct ta_key k, other;
	struct ta_assert a;

	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	ta_key_new(&other, WEBAUTHN_ALG_ES256);
	register_ok(&k, TA_NONE, &key);
	other.counter = 100;
	ta_assert(&a, &other, challenge);
	assert_refused(do_assert(&a, &key, &out, &reason), &reason, "signature invalid");
	ta_assert_free(&a);
	/* a stored key of an algorithm we do not know, or of the wrong size */
	ta_assert(&a, &k, challenge);
	key.alg = -35;
	assert_refused(do_assert(&a, &key, &out, &reason), &reason, "stored key");
	key.alg = WEBAUTHN_ALG_ES256;
	key.pubkey_len = 32;
	assert_refused(do_assert(&a, &key, &out, &reason), &reason, "stored key");
	ta_assert_free(&a);
	ta_key_free(&other);
	ta_key_free(&k);
}

/* Each proper prefix of the registration field whose length is at `off` is refused. */
static void truncate_register(const struct ta_reg *r, size_t off, size_t full)
{
	struct webauthn_outcome out;
	struct webauthn_key key;
	const char *reason;

	for (size_t len = 0; len < full; len++) {
		struct webauthn_registration reg = ta_reg_view(r);

		*(size_t *)((char *)&reg + off) = len;
		assert_int_equal(webauthn_register(&rp, challenge, &reg, &key, &out, &reason),
		                 WEBAUTHN_REFUSED);
	}
}

static void truncate_assert(const struct ta_assert *a, const struct webauthn_key *key, size_t off,
                            size_t full)
{
	struct webauthn_outcome out;
	const char *reason;

	for (size_t len = 0; len < full; len++) {
		struct webauthn_assertion as = ta_assert_view(a);

		*(size_t *)((char *)&as + off) = len;
		assert_int_equal(webauthn_assert(&rp, challenge, &as, key, &out, &reason),
		                 WEBAUTHN_REFUSED);
	}
}

/* Every proper prefix of each input is refused, cleanly. */
static void test_truncated_inputs(void **state)
{
	struct webauthn_key key;
	const char *reason;
	struct ta_key k;
	struct ta_reg r;
	struct ta_assert a;

	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	ta_register(&r, &k, TA_PACKED_SELF, challenge, TA_ORIGIN, TA_RP_ID, TA_UP);
	assert_int_equal(do_register(&r, &key, &reason), WEBAUTHN_OK);
	truncate_register(&r, offsetof(struct webauthn_registration, attestation_len), r.att.len);
	truncate_register(&r, offsetof(struct webauthn_registration, client_data_len), r.cd.len);
	ta_reg_free(&r);
	ta_assert(&a, &k, challenge);
	truncate_assert(&a, &key, offsetof(struct webauthn_assertion, auth_data_len), a.ad.len);
	truncate_assert(&a, &key, offsetof(struct webauthn_assertion, sig_len), a.sig.len);
	truncate_assert(&a, &key, offsetof(struct webauthn_assertion, client_data_len), a.cd.len);
	ta_assert_free(&a);
	ta_key_free(&k);
}

/* authenticatorData with an attested credential built from these parts. */
static struct tbuf raw_auth_data(uint8_t flags, const void *id, size_t id_len, uint16_t len_field,
                                 const struct tbuf *cose, const void *tail, size_t tail_len)
{
	struct ta_key dummy = {.counter = 1};
	struct tbuf b = ta_auth_data(TA_RP_ID, flags & ~TA_AT, &dummy, NULL);
	unsigned char aaguid[16] = {0},
	              lf[2] = {(unsigned char)(len_field >> 8), (unsigned char)len_field};

	b.p[32] = flags;
	tbuf_add(&b, aaguid, 16);
	tbuf_add(&b, lf, 2);
	tbuf_add(&b, id, id_len);
	if (cose != NULL)
		tbuf_add(&b, cose->p, cose->len);
	tbuf_add(&b, tail, tail_len);
	return b;
}

static enum webauthn_result register_auth_data(const struct tbuf *ad, const char **reason)
{
	struct webauthn_key key;
	struct ta_reg r;
	enum webauthn_result res;

	r.cd = ta_client_data("webauthn.create", challenge, 32, TA_ORIGIN, NULL);
	r.ad = tbuf_copy(ad);
	r.att = ta_att_object("none", cbor_new_definite_map(0), &r.ad);
	res = do_register(&r, &key, reason);
	ta_reg_free(&r);
	return res;
}

static void test_malformed_auth_data(void **state)
{
	static const unsigned char id[16] = {1, 2, 3};
	static const unsigned char ext_ok[] = {0xa1, 0x6b, 'c', 'r', 'e', 'd', 'P',
	                                       'r',  'o',  't', 'e', 'c', 't', 0x02};
	static const unsigned char junk[] = {0x00};
	static const unsigned char not_map[] = {0x81, 0x00};
	const char *reason;
	struct ta_key k;
	struct tbuf cose, ad;

	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	cose = ta_cose_key(&k);
	ad = raw_auth_data(TA_UP | TA_AT, id, 16, 16, &cose, NULL, 0);
	assert_int_equal(register_auth_data(&ad, &reason), WEBAUTHN_OK);
	tbuf_free(&ad);
	/* extensions flag with a map: handled; without the flag the same bytes are trailing */
	ad = raw_auth_data(TA_UP | TA_AT | TA_ED, id, 16, 16, &cose, ext_ok, sizeof(ext_ok));
	assert_int_equal(register_auth_data(&ad, &reason), WEBAUTHN_OK);
	tbuf_free(&ad);
	ad = raw_auth_data(TA_UP | TA_AT, id, 16, 16, &cose, ext_ok, sizeof(ext_ok));
	assert_refused(register_auth_data(&ad, &reason), &reason, "trailing bytes");
	tbuf_free(&ad);
	ad = raw_auth_data(TA_UP | TA_AT | TA_ED, id, 16, 16, &cose, NULL, 0);
	assert_refused(register_auth_data(&ad, &reason), &reason, "malformed extensions");
	tbuf_free(&ad);
	ad = raw_auth_data(TA_UP | TA_AT | TA_ED, id, 16, 16, &cose, not_map, sizeof(not_map));
	assert_refused(register_auth_data(&ad, &reason), &reason, "malformed extensions");
	tbuf_free(&ad);
	ad = raw_auth_data(TA_UP | TA_AT, id, 16, 16, &cose, junk, sizeof(junk));
	assert_refused(register_auth_data(&ad, &reason), &reason, "trailing bytes");
	tbuf_free(&ad);
	/* credential id length: zero, beyond the data, above the limit */
	ad = raw_auth_data(TA_UP | TA_AT, id, 0, 0, &cose, NULL, 0);
	assert_refused(register_auth_data(&ad, &reason), &reason, "credential id length");
	tbuf_free(&ad);
	ad = raw_auth_data(TA_UP | TA_AT, id, 16, 40000, &cose, NULL, 0);
	assert_refused(register_auth_data(&ad, &reason), &reason, "credential id length");
	tbuf_free(&ad);
	ad = raw_auth_data(TA_UP | TA_AT, id, 16, 16, NULL, NULL, 0);
	assert_refused(register_auth_data(&ad, &reason), &reason, "credential public key");
	tbuf_free(&ad);
	/* no attested credential at all in a registration */
	ad = raw_auth_data(TA_UP, id, 0, 0, NULL, NULL, 0);
	ad.len = 37;
	assert_refused(register_auth_data(&ad, &reason), &reason, "no attested credential");
	tbuf_free(&ad);
	tbuf_free(&cose);
	ta_key_free(&k);
}

/* COSE keys with an algorithm we refuse, or whose parameters do not fit it. */
static void test_bad_cose_keys(void **state)
{
	static const unsigned char id[16] = {9};
	const char *reason;
	struct ta_key k;
	cbor_item_t *m;
	struct tbuf cose, ad;

	ta_key_new(&k, WEBAUTHN_ALG_EDDSA);
	m = ta_cose_item(&k);
	cbor_decref(&cbor_map_handle(m)[1].value);
	cbor_map_handle(m)[1].value = cbor_build_negint8(34); /* ES384 */
	cose = ta_serialize(m);
	ad = raw_auth_data(TA_UP | TA_AT, id, 16, 16, &cose, NULL, 0);
	assert_refused(register_auth_data(&ad, &reason), &reason, "algorithm not");
	tbuf_free(&ad);
	tbuf_free(&cose);
	m = ta_cose_item(&k);
	cbor_decref(&cbor_map_handle(m)[1].value);
	cbor_map_handle(m)[1].value = cbor_build_negint8(6); /* says ES256, is an OKP key */
	cose = ta_serialize(m);
	ad = raw_auth_data(TA_UP | TA_AT, id, 16, 16, &cose, NULL, 0);
	assert_refused(register_auth_data(&ad, &reason), &reason, "credential public key");
	tbuf_free(&ad);
	tbuf_free(&cose);
	ta_key_free(&k);
}

/* Hand-made CBOR: malformed, hostile or of the wrong shape, as an attestationObject. */
static void test_malformed_cbor(void **state)
{
	static const struct {
		const char *what;
		unsigned char bytes[16];
		size_t len;
	} cases[] = {
	    {"empty map", {0xa0}, 1},
	    {"array of 2^32 items", {0x9b, 0, 0, 0, 1, 0, 0, 0, 0, 0}, 10},
	    {"map of 2^62 pairs", {0xbb, 0x40, 0, 0, 0, 0, 0, 0, 0, 0}, 10},
	    {"bytes of 2^63", {0x5b, 0x80, 0, 0, 0, 0, 0, 0, 0, 0}, 10},
	    {"indefinite map", {0xbf, 0x63, 'f', 'm', 't', 0x64, 'n', 'o', 'n', 'e', 0xff}, 11},
	    {"tag", {0xc0, 0xa0}, 2},
	    {"float", {0xf9, 0x3c, 0x00}, 3},
	    {"reserved", {0x1c}, 1},
	    {"break", {0xff}, 1},
	    {"two items", {0xa0, 0xa0}, 2},
	    {"integer key", {0xa1, 0x01, 0x01}, 3},
	    {"fmt not text", {0xa1, 0x63, 'f', 'm', 't', 0x01}, 6},
	    {"duplicate fmt",
	     {0xa2, 0x63, 'f', 'm', 't', 0x61, 'a', 0x63, 'f', 'm', 't', 0x61, 'b'},
	     13},
	};
	const char *reason;
	struct webauthn_key key;
	struct webauthn_outcome out;
	struct tbuf cd = ta_client_data("webauthn.create", challenge, 32, TA_ORIGIN, NULL);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct webauthn_registration reg = {.client_data = cd.p,
		                                    .client_data_len = cd.len,
		                                    .attestation = cases[i].bytes,
		                                    .attestation_len = cases[i].len};

		reason = NULL;
		if (webauthn_register(&rp, challenge, &reg, &key, &out, &reason) !=
		        WEBAUTHN_REFUSED ||
		    strstr(reason, "attestationObject") == NULL)
			fail_msg("%s: not refused as attestationObject (%s)", cases[i].what,
			         reason != NULL ? reason : "accepted");
	}
	tbuf_free(&cd);
}

/* Nesting far beyond the bound (recursion in libcbor's free would overflow the stack). */
static void test_deep_cbor(void **state)
{
	const size_t depth = 200000;
	unsigned char *deep = malloc(depth + 1);
	struct tbuf cd = ta_client_data("webauthn.create", challenge, 32, TA_ORIGIN, NULL);
	struct webauthn_registration reg = {.client_data = cd.p,
	                                    .client_data_len = cd.len,
	                                    .attestation = deep,
	                                    .attestation_len = 9};
	struct webauthn_key key;
	struct webauthn_outcome out;
	const char *reason;

	memset(deep, 0x81, depth); /* [[[[...]]]] */
	deep[depth] = 0x00;
	assert_int_equal(webauthn_register(&rp, challenge, &reg, &key, &out, &reason),
	                 WEBAUTHN_REFUSED);
	reg.attestation_len = WEBAUTHN_ATTESTATION_MAX;
	assert_int_equal(webauthn_register(&rp, challenge, &reg, &key, &out, &reason),
	                 WEBAUTHN_REFUSED);
	reg.attestation_len = depth + 1; /* above the size limit as well */
	assert_int_equal(webauthn_register(&rp, challenge, &reg, &key, &out, &reason),
	                 WEBAUTHN_REFUSED);
	free(deep);
	tbuf_free(&cd);
}

/* A good registration with an extra member nested `depth` arrays deep. */
static enum webauthn_result register_nested(unsigned depth, const char **reason)
{
	struct webauthn_key key;
	struct ta_key k;
	struct ta_reg r;
	cbor_item_t *m, *inner = cbor_build_uint8(0);

	for (unsigned i = 0; i < depth; i++) {
		cbor_item_t *a = cbor_new_definite_array(1);

		assert_true(cbor_array_push(a, cbor_move(inner)));
		inner = a;
	}
	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	r.cd = ta_client_data("webauthn.create", challenge, 32, TA_ORIGIN, NULL);
	r.ad = ta_auth_data(TA_RP_ID, TA_UP | TA_AT, &k, NULL);
	m = cbor_new_definite_map(4);
	ta_map_put(m, cbor_build_string("fmt"), cbor_build_string("none"));
	ta_map_put(m, cbor_build_string("attStmt"), cbor_new_definite_map(0));
	ta_map_put(m, cbor_build_string("authData"), cbor_build_bytestring(r.ad.p, r.ad.len));
	ta_map_put(m, cbor_build_string("x"), inner);
	r.att = ta_serialize(m);
	enum webauthn_result res = do_register(&r, &key, reason);
	ta_reg_free(&r);
	ta_key_free(&k);
	return res;
}

/* Nesting is bounded at 8 levels, the attestationObject map being the first. */
static void test_cbor_depth_bound(void **state)
{
	const char *reason;

	assert_int_equal(register_nested(7, &reason), WEBAUTHN_OK);
	assert_refused(register_nested(8, &reason), &reason, "not a CBOR map");
	assert_refused(register_nested(500, &reason), &reason, "not a CBOR map");
}

/* An attestationObject whose members have the wrong types. */
static void test_attestation_member_types(void **state)
{
	struct webauthn_key key;
	const char *reason;
	struct ta_key k;
	struct ta_reg r;
	cbor_item_t *m;

	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	r.cd = ta_client_data("webauthn.create", challenge, 32, TA_ORIGIN, NULL);
	r.ad = ta_auth_data(TA_RP_ID, TA_UP | TA_AT, &k, NULL);
	m = cbor_new_definite_map(3);
	ta_map_put(m, cbor_build_string("fmt"), cbor_build_string("none"));
	ta_map_put(m, cbor_build_string("attStmt"), cbor_new_definite_map(0));
	ta_map_put(m, cbor_build_string("authData"), cbor_build_string("not bytes"));
	r.att = ta_serialize(m);
	assert_refused(do_register(&r, &key, &reason), &reason, "attestationObject");
	tbuf_free(&r.att);
	m = cbor_new_definite_map(3);
	ta_map_put(m, cbor_build_string("fmt"), cbor_build_string("none"));
	ta_map_put(m, cbor_build_string("attStmt"), cbor_new_definite_array(0));
	ta_map_put(m, cbor_build_string("authData"), cbor_build_bytestring(r.ad.p, r.ad.len));
	r.att = ta_serialize(m);
	assert_refused(do_register(&r, &key, &reason), &reason, "attestationObject");
	tbuf_free(&r.att);
	m = cbor_new_definite_map(2);
	ta_map_put(m, cbor_build_string("fmt"), cbor_build_string("none"));
	ta_map_put(m, cbor_build_string("authData"), cbor_build_bytestring(r.ad.p, r.ad.len));
	r.att = ta_serialize(m);
	assert_refused(do_register(&r, &key, &reason), &reason, "missing");
	ta_reg_free(&r);
	ta_key_free(&k);
}

static enum webauthn_result register_client_data(struct ta_key *k, const char *json, size_t len,
                                                 const char **reason)
{
	struct webauthn_key key;
	struct ta_reg r;
	enum webauthn_result res;

	ta_register(&r, k, TA_NONE, challenge, TA_ORIGIN, TA_RP_ID, TA_UP);
	tbuf_free(&r.cd);
	tbuf_add(&r.cd, json, len);
	res = do_register(&r, &key, reason);
	ta_reg_free(&r);
	return res;
}

static void test_malformed_client_data(void **state)
{
	static const char *const bad[] = {
	    "",
	    "{",
	    "[]",
	    "\"webauthn.create\"",
	    "null",
	    "{\"type\":\"webauthn.create\"}x",
	    "{\"type\":\"webauthn.create\",\"type\":\"webauthn.create\"}",
	    "{\"type\":1}",
	    "{\"type\":\"webauthn.create\\u0000\"}",
	    "{\"type\":\"\xff\"}",
	};
	char good[256], *big;
	const char *reason;
	struct ta_key k;
	struct tbuf cd;

	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(register_client_data(&k, bad[i], strlen(bad[i]), &reason),
		                 WEBAUTHN_REFUSED);
	/* the same fields twice (a second challenge must not slip past the first) */
	cd = ta_client_data("webauthn.create", challenge, 32, TA_ORIGIN, ",\"origin\":\"x\"");
	assert_refused(register_client_data(&k, (char *)cd.p, cd.len, &reason), &reason,
	               "not a JSON object");
	tbuf_free(&cd);
	/* challenge of the wrong JSON type */
	snprintf(good, sizeof(good),
	         "{\"type\":\"webauthn.create\",\"challenge\":[1],"
	         "\"origin\":\"%s\"}",
	         TA_ORIGIN);
	assert_refused(register_client_data(&k, good, strlen(good), &reason), &reason, "challenge");
	/* oversized: padded with spaces past the limit */
	cd = ta_client_data("webauthn.create", challenge, 32, TA_ORIGIN, NULL);
	big = calloc(1, WEBAUTHN_CLIENT_DATA_MAX + 2);
	memcpy(big, cd.p, cd.len);
	memset(big + cd.len, ' ', WEBAUTHN_CLIENT_DATA_MAX + 1 - cd.len);
	assert_int_equal(register_client_data(&k, big, WEBAUTHN_CLIENT_DATA_MAX, &reason),
	                 WEBAUTHN_OK);
	assert_refused(register_client_data(&k, big, WEBAUTHN_CLIENT_DATA_MAX + 1, &reason),
	               &reason, "not a JSON object");
	free(big);
	tbuf_free(&cd);
	ta_key_free(&k);
}

static void test_client_challenge(void **state)
{
	unsigned char got[WEBAUTHN_CHALLENGE_LEN];
	struct tbuf cd = ta_client_data("webauthn.get", challenge, 32, TA_ORIGIN, NULL);
	static const char *const bad[] = {
	    "{\"challenge\":\"AAAA\"}",
	    "{\"challenge\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}",
	    "{\"challenge\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+\"}",
	    "{\"challenge\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
	    "{\"challenge\":7}",
	    "{}",
	    "not json",
	};

	assert_int_equal(webauthn_client_challenge(cd.p, cd.len, got), 1);
	assert_memory_equal(got, challenge, sizeof(got));
	tbuf_free(&cd);
	cd = ta_client_data("webauthn.get", challenge, 31, TA_ORIGIN, NULL);
	assert_int_equal(webauthn_client_challenge(cd.p, cd.len, got), 0);
	tbuf_free(&cd);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
		    webauthn_client_challenge((const unsigned char *)bad[i], strlen(bad[i]), got),
		    0);
	static const char zeros[] =
	    "{\"challenge\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}";
	assert_int_equal(
	    webauthn_client_challenge((const unsigned char *)zeros, strlen(zeros), got), 1);
}

/* Attested credential data in an assertion is refused (§6.1: only in registrations). */
static void test_assertion_with_attested_data(void **state)
{
	struct webauthn_key key;
	struct webauthn_outcome out;
	const char *reason;
	struct ta_key k;
	struct ta_assert a;

	ta_key_new(&k, WEBAUTHN_ALG_ES256);
	register_ok(&k, TA_NONE, &key);
	k.counter++;
	ta_assert_with(&a, &k, challenge, TA_ORIGIN, TA_RP_ID, TA_UP | TA_AT, "webauthn.get");
	assert_refused(do_assert(&a, &key, &out, &reason), &reason, "attested credential");
	ta_assert_free(&a);
	ta_key_free(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_roundtrip_es256, setup),
	    cmocka_unit_test_setup(test_roundtrip_eddsa, setup),
	    cmocka_unit_test_setup(test_roundtrip_rs256, setup),
	    cmocka_unit_test_setup(test_attestation_formats, setup),
	    cmocka_unit_test_setup(test_attestation_bad_signature, setup),
	    cmocka_unit_test_setup(test_packed_self_with_extension, setup),
	    cmocka_unit_test_setup(test_packed_self_alg_mismatch, setup),
	    cmocka_unit_test_setup(test_unsupported_format, setup),
	    cmocka_unit_test_setup(test_wrong_type, setup),
	    cmocka_unit_test_setup(test_wrong_challenge, setup),
	    cmocka_unit_test_setup(test_wrong_origin, setup),
	    cmocka_unit_test_setup(test_cross_origin_and_token_binding, setup),
	    cmocka_unit_test_setup(test_wrong_rp_id_hash, setup),
	    cmocka_unit_test_setup(test_user_presence_required_uv_recorded, setup),
	    cmocka_unit_test_setup(test_counter_rule, setup),
	    cmocka_unit_test_setup(test_signature_of_another_key, setup),
	    cmocka_unit_test_setup(test_truncated_inputs, setup),
	    cmocka_unit_test_setup(test_malformed_auth_data, setup),
	    cmocka_unit_test_setup(test_bad_cose_keys, setup),
	    cmocka_unit_test_setup(test_malformed_cbor, setup),
	    cmocka_unit_test_setup(test_deep_cbor, setup),
	    cmocka_unit_test_setup(test_cbor_depth_bound, setup),
	    cmocka_unit_test_setup(test_attestation_member_types, setup),
	    cmocka_unit_test_setup(test_malformed_client_data, setup),
	    cmocka_unit_test_setup(test_client_challenge, setup),
	    cmocka_unit_test_setup(test_assertion_with_attested_data, setup),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
