/*
 * A software authenticator for the WebAuthn tests, written from the WebAuthn Level 2 and CTAP
 * specifications: ES256 and RS256 keys with OpenSSL, EdDSA (Ed25519) with libsodium; it builds
 * clientDataJSON, authenticatorData, COSE keys and attestation objects ("none", "packed" self and
 * full, "fido-u2f") byte by byte, so the code under test meets what a browser would hand over.
 */
#ifndef TWOFOLD_TEST_AUTHENTICATOR_H
#define TWOFOLD_TEST_AUTHENTICATOR_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cbor.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/webauthn.h"

#define TA_RP_ID  "portal.example.org"
#define TA_ORIGIN "https://portal.example.org:8443"

#define TA_UP 0x01
#define TA_UV 0x04
#define TA_AT 0x40
#define TA_ED 0x80

struct tbuf {
	unsigned char *p;
	size_t len;
};

static void tbuf_add(struct tbuf *b, const void *data, size_t len)
{
	b->p = realloc(b->p, b->len + len + 1);
	assert_non_null(b->p);
	if (len > 0)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

static void tbuf_free(struct tbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
}

static struct tbuf tbuf_copy(const struct tbuf *b)
{
	struct tbuf c = {0};

	tbuf_add(&c, b->p, b->len);
	return c;
}

/* A fixed RSA-2048 test key: generating one costs about a second, and a minute under valgrind,
 * for nothing the tests look at (each credential still gets its own id). */
static const char ta_rsa_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQC06PzE4ZnjQc3I\n"
    "bOL5Fg9ggsoAYv5+pyvOrI68XxGWooQuU/kISa72hpdKoGkuTidaZHuRmxo5gEV5\n"
    "RVrCYJHrtivjvGPijy4jfx2lmO62+YtN2xIqTzqjHFiwa1XQGMFH6QuWxSEKZxLl\n"
    "FLCs9lyX7upQEnNn068/T07hCAp0nCIiezrvHupkjt/9F5LExAUC5TJCQFaQ0bF3\n"
    "MvBpgvB3GGbD0TVJTUh56zoBFy1Js4ohXqolu+Ux7US90JGGb3S0ncjm0naOR9Mq\n"
    "M+kFNM4UjO8nFHq47YKiK8b80SX/sfyY9pDcpyBBFE2HpCHD48wrnBFMfiUCT28Y\n"
    "WwrYw3IfAgMBAAECggEAHLgwCIFYEL/Nj1fZ4HkkD8ozj0Qn6qtXRQQX1Mey3xsF\n"
    "qOUjz7EC2ZgcRHiaugMmNC9nfoIE88PtQ4dDFUCHacgNx6WMpdbdGD2B01wn6VxM\n"
    "RRvWEmlpgaNqYPdpNBP5+xSABntc923Njhhuw8aIhIYlJHkJYR413/MTLp48Kq6q\n"
    "OY9HG1Y9NsMF+amRSC8sD92DFUqHpsjBKAvp/wxydmdZZu3wRF+v9kuJPwiO5u9O\n"
    "8MfEysL12fHWixSWLbFagOx7TWfgl71qVL+tEmj88G3AS31i6VGC620NjUn2JVh1\n"
    "9Bl+Os6WJkzC33NKeYe4MUDlkaMp+9hrwPaC8StzAQKBgQDkY+b6I0WsNrzKzXcE\n"
    "pAYWKTV580bGT4AupxCw+v5y9FtGOM3jG6wle4HieI6d9LKd17Lp/ywZkjauQGpO\n"
    "+Wb66+ocjaGSZhqt2lisovj/9ujcEdW+DV0LDkhpDGz64yXGYlkCbGL4kMPmL3AQ\n"
    "+6XyxYbSKj8d2vN3eSuXOcR0oQKBgQDKx7IPIFyGyoFbcZUQypwq6ZehzIYW3c1U\n"
    "Vlt657ckK5bYV6brwr4Qo2HGS5CVP/wnC2aFIfEfEJzjI6iRCXPAsQG3uBdy4XVv\n"
    "qsAf41CWqxukOjYEQY02mFFhbLZdt+UB1pFLZ5W5h+OEq2qksVpyuAsKHpYkaPLc\n"
    "UwxRFQuuvwKBgGqyhWDMg6sts0tna7feTP2jaNk9Hw5ca7zfzbtwttjLcay/sufr\n"
    "sKOeLJK50Z7Xh26YK3yH+nlDxonnjAKzHzoQZsHKJPZ4/vPDcvPL+1nRZv4Q0vND\n"
    "2PjmRkvVQ0B+R9KDdaPdMOuA7hQmi0tT1TYys4aRuAThmiZxlDzE/xOhAoGAS+L7\n"
    "4elMdy0lx+Dz1jrcwrp0gpqVu8z54IwI5C//O8wMQZ5b23Mfyf46wwjYbOJrLPl5\n"
    "Pm17XRLMg7x+gvi0lvInIGgGbnmth0Kxb72UFS6nw4f9Ww5lGH9cRUd34A7H5y4z\n"
    "ZbK4N5yBKs8zs7qjjLcPepQDwFB+QrHZtCZaHuUCgYAYRAPwe0lqqIAaarGutQap\n"
    "ZkVhosKt3dhNB3orFebUIvEyRek0Cql56sqrGjWkcIbVwtk/c38I46XElAmQNnk5\n"
    "NOlwKrDTFmD6xRCp5qUra6Qf1AkmlzoBp6QsDPfIP/FDdnxOAkdo5wuySVY1j2cL\n"
    "/BxTlNXH/9fq5NuGMrexhA==\n"
    "-----END PRIVATE KEY-----\n";

static EVP_PKEY *ta_rsa_key(void)
{
	BIO *bio = BIO_new_mem_buf(ta_rsa_pem, -1);
	EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);

	BIO_free(bio);
	assert_non_null(pkey);
	return pkey;
}

/* One credential: its private key, id and signature counter. */
struct ta_key {
	int alg;
	EVP_PKEY *pkey; /* ES256, RS256 */
	unsigned char ed_pk[crypto_sign_PUBLICKEYBYTES], ed_sk[crypto_sign_SECRETKEYBYTES];
	unsigned char id[32];
	uint32_t counter;
};

static void ta_key_new(struct ta_key *k, int alg)
{
	memset(k, 0, sizeof(*k));
	k->alg = alg;
	randombytes_buf(k->id, sizeof(k->id));
	if (alg == WEBAUTHN_ALG_EDDSA)
		crypto_sign_keypair(k->ed_pk, k->ed_sk);
	else if (alg == WEBAUTHN_ALG_ES256)
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else
		k->pkey = ta_rsa_key();
	assert_true(alg == WEBAUTHN_ALG_EDDSA || k->pkey != NULL);
}

static void ta_key_free(struct ta_key *k)
{
	EVP_PKEY_free(k->pkey);
	sodium_memzero(k, sizeof(*k));
}

static void ta_bn(const EVP_PKEY *pkey, const char *param, unsigned char *out, int len)
{
	BIGNUM *bn = NULL;

	assert_int_equal(EVP_PKEY_get_bn_param(pkey, param, &bn), 1);
	assert_int_equal(BN_bn2binpad(bn, out, len), len);
	BN_free(bn);
}

static void ta_map_put(cbor_item_t *map, cbor_item_t *key, cbor_item_t *value)
{
	assert_true(cbor_map_add(
	    map, (struct cbor_pair){.key = cbor_move(key), .value = cbor_move(value)}));
}

static struct tbuf ta_serialize(cbor_item_t *item)
{
	struct tbuf b = {0};
	unsigned char *buf = NULL;
	size_t size = 0, len = cbor_serialize_alloc(item, &buf, &size);

	assert_true(len > 0);
	tbuf_add(&b, buf, len);
	free(buf);
	cbor_decref(&item);
	return b;
}

/* The credential public key as a COSE_Key (RFC 8152 §13; labels of RFC 8230 for RSA). */
static cbor_item_t *ta_cose_item(const struct ta_key *k)
{
	cbor_item_t *m = cbor_new_definite_map(5);
	unsigned char x[32], y[32], n[256], e[3];

	if (k->alg == WEBAUTHN_ALG_EDDSA) {
		ta_map_put(m, cbor_build_uint8(1), cbor_build_uint8(1)); /* kty OKP */
		ta_map_put(m, cbor_build_uint8(3), cbor_build_negint8(7));
		ta_map_put(m, cbor_build_negint8(0), cbor_build_uint8(6)); /* crv Ed25519 */
		ta_map_put(m, cbor_build_negint8(1), cbor_build_bytestring(k->ed_pk, 32));
	} else if (k->alg == WEBAUTHN_ALG_ES256) {
		ta_bn(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, x, 32);
		ta_bn(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, y, 32);
		ta_map_put(m, cbor_build_uint8(1), cbor_build_uint8(2)); /* kty EC2 */
		ta_map_put(m, cbor_build_uint8(3), cbor_build_negint8(6));
		ta_map_put(m, cbor_build_negint8(0), cbor_build_uint8(1)); /* crv P-256 */
		ta_map_put(m, cbor_build_negint8(1), cbor_build_bytestring(x, 32));
		ta_map_put(m, cbor_build_negint8(2), cbor_build_bytestring(y, 32));
	} else {
		ta_bn(k->pkey, OSSL_PKEY_PARAM_RSA_N, n, 256);
		ta_bn(k->pkey, OSSL_PKEY_PARAM_RSA_E, e, 3);
		ta_map_put(m, cbor_build_uint8(1), cbor_build_uint8(3)); /* kty RSA */
		ta_map_put(m, cbor_build_uint8(3), cbor_build_negint16(256));
		ta_map_put(m, cbor_build_negint8(0), cbor_build_bytestring(n, 256));
		ta_map_put(m, cbor_build_negint8(1), cbor_build_bytestring(e, 3));
	}
	return m;
}

static struct tbuf ta_cose_key(const struct ta_key *k)
{
	return ta_serialize(ta_cose_item(k));
}

/* Signs msg with an OpenSSL key (SHA-256; ECDSA gives DER, RSA PKCS#1 v1.5). */
static struct tbuf ta_sign_evp(EVP_PKEY *pkey, const struct tbuf *msg)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[512];
	size_t len = sizeof(sig);
	struct tbuf out = {0};

	assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &len, msg->p, msg->len), 1);
	EVP_MD_CTX_free(ctx);
	tbuf_add(&out, sig, len);
	return out;
}

static struct tbuf ta_sign(const struct ta_key *k, const struct tbuf *msg)
{
	unsigned char sig[crypto_sign_BYTES];
	struct tbuf out = {0};

	if (k->alg != WEBAUTHN_ALG_EDDSA)
		return ta_sign_evp(k->pkey, msg);
	crypto_sign_detached(sig, NULL, msg->p, msg->len, k->ed_sk);
	tbuf_add(&out, sig, sizeof(sig));
	return out;
}

/* clientDataJSON as a browser writes it, with `extra` (e.g. ",\"crossOrigin\":true") inside. */
static struct tbuf ta_client_data(const char *type, const unsigned char *challenge,
                                  size_t challenge_len, const char *origin, const char *extra)
{
	char b64[128], json[1024];
	struct tbuf b = {0};
	int n;

	sodium_bin2base64(b64, sizeof(b64), challenge, challenge_len,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	n = snprintf(json, sizeof(json),
	             "{\"type\":\"%s\",\"challenge\":\"%s\",\"origin\":\"%s\"%s}", type, b64,
	             origin, extra != NULL ? extra : "");
	assert_true(n > 0 && (size_t)n < sizeof(json));
	tbuf_add(&b, json, (size_t)n);
	return b;
}

/* authenticatorData (§6.1): rpIdHash, flags, counter, then with TA_AT the attested credential
 * (zero AAGUID, id, COSE key) and with ext (CBOR map) the extensions. */
static struct tbuf ta_auth_data(const char *rp_id, uint8_t flags, const struct ta_key *k,
                                const struct tbuf *ext)
{
	unsigned char hash[32], aaguid[16] = {0}, be[4];
	struct tbuf b = {0};

	crypto_hash_sha256(hash, (const unsigned char *)rp_id, strlen(rp_id));
	tbuf_add(&b, hash, 32);
	tbuf_add(&b, &flags, 1);
	be[0] = (unsigned char)(k->counter >> 24);
	be[1] = (unsigned char)(k->counter >> 16);
	be[2] = (unsigned char)(k->counter >> 8);
	be[3] = (unsigned char)k->counter;
	tbuf_add(&b, be, 4);
	if (flags & TA_AT) {
		unsigned char idlen[2] = {0, sizeof(k->id)};
		struct tbuf cose = ta_cose_key(k);

		tbuf_add(&b, aaguid, 16);
		tbuf_add(&b, idlen, 2);
		tbuf_add(&b, k->id, sizeof(k->id));
		tbuf_add(&b, cose.p, cose.len);
		tbuf_free(&cose);
	}
	if (ext != NULL)
		tbuf_add(&b, ext->p, ext->len);
	return b;
}

/* authenticatorData || SHA-256(clientDataJSON): what an authenticator signs (§6.3.3). */
static struct tbuf ta_signed_data(const struct tbuf *ad, const struct tbuf *cd)
{
	unsigned char cdh[32];
	struct tbuf m = tbuf_copy(ad);

	crypto_hash_sha256(cdh, cd->p, cd->len);
	tbuf_add(&m, cdh, 32);
	return m;
}

static struct tbuf ta_att_object(const char *fmt, cbor_item_t *stmt, const struct tbuf *ad)
{
	cbor_item_t *m = cbor_new_definite_map(3);

	ta_map_put(m, cbor_build_string("fmt"), cbor_build_string(fmt));
	ta_map_put(m, cbor_build_string("attStmt"), stmt);
	ta_map_put(m, cbor_build_string("authData"), cbor_build_bytestring(ad->p, ad->len));
	return ta_serialize(m);
}

/* A self-signed P-256 certificate for full and U2F attestation statements (DER). */
static struct tbuf ta_cert(EVP_PKEY *pkey)
{
	X509 *x = X509_new();
	unsigned char *der = NULL;
	struct tbuf b = {0};
	int len;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	                           (const unsigned char *)"twofold test attestation", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	assert_int_equal(X509_set_pubkey(x, pkey), 1);
	assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);
	len = i2d_X509(x, &der);
	assert_true(len > 0);
	tbuf_add(&b, der, (size_t)len);
	OPENSSL_free(der);
	X509_free(x);
	return b;
}

static cbor_item_t *ta_x5c(const struct tbuf *cert)
{
	cbor_item_t *a = cbor_new_definite_array(1);

	assert_true(cbor_array_push(a, cbor_move(cbor_build_bytestring(cert->p, cert->len))));
	return a;
}

/* The U2F registration signature base (§8.6): 0x00 || rpIdHash || cdh || id || 0x04 || x || y */
static struct tbuf ta_u2f_signed(const struct tbuf *ad, const struct tbuf *cd,
                                 const struct ta_key *k)
{
	unsigned char zero = 0, four = 4, cdh[32], x[32], y[32];
	struct tbuf m = {0};

	crypto_hash_sha256(cdh, cd->p, cd->len);
	ta_bn(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, x, 32);
	ta_bn(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, y, 32);
	tbuf_add(&m, &zero, 1);
	tbuf_add(&m, ad->p, 32);
	tbuf_add(&m, cdh, 32);
	tbuf_add(&m, k->id, sizeof(k->id));
	tbuf_add(&m, &four, 1);
	tbuf_add(&m, x, 32);
	tbuf_add(&m, y, 32);
	return m;
}

enum ta_fmt { TA_NONE, TA_PACKED_SELF, TA_PACKED_FULL, TA_U2F };

/* The attestation statement for fmt over (ad, cd), signed as that format prescribes. */
static cbor_item_t *ta_att_stmt(enum ta_fmt fmt, const struct ta_key *k, const struct tbuf *ad,
                                const struct tbuf *cd)
{
	cbor_item_t *stmt = cbor_new_definite_map(3);
	struct tbuf msg, sig, cert = {0};
	EVP_PKEY *att = NULL;

	if (fmt == TA_NONE)
		return stmt;
	msg = fmt == TA_U2F ? ta_u2f_signed(ad, cd, k) : ta_signed_data(ad, cd);
	if (fmt == TA_PACKED_SELF) {
		sig = ta_sign(k, &msg);
		ta_map_put(stmt, cbor_build_string("alg"),
		           k->alg == WEBAUTHN_ALG_RS256
		               ? cbor_build_negint16(256)
		               : cbor_build_negint8((uint8_t)(-1 - k->alg)));
	} else {
		att = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		cert = ta_cert(att);
		sig = ta_sign_evp(att, &msg);
		if (fmt == TA_PACKED_FULL)
			ta_map_put(stmt, cbor_build_string("alg"), cbor_build_negint8(6));
	}
	ta_map_put(stmt, cbor_build_string("sig"), cbor_build_bytestring(sig.p, sig.len));
	if (cert.len > 0)
		ta_map_put(stmt, cbor_build_string("x5c"), ta_x5c(&cert));
	EVP_PKEY_free(att);
	tbuf_free(&cert);
	tbuf_free(&sig);
	tbuf_free(&msg);
	return stmt;
}

/* A complete registration response (navigator.credentials.create()). */
struct ta_reg {
	struct tbuf cd, ad, att;
};

static void ta_register(struct ta_reg *r, struct ta_key *k, enum ta_fmt fmt,
                        const unsigned char challenge[WEBAUTHN_CHALLENGE_LEN], const char *origin,
                        const char *rp_id, uint8_t flags)
{
	r->cd = ta_client_data("webauthn.create", challenge, WEBAUTHN_CHALLENGE_LEN, origin, NULL);
	r->ad = ta_auth_data(rp_id, flags | TA_AT, k, NULL);
	r->att = ta_att_object(fmt == TA_NONE  ? "none"
	                       : fmt == TA_U2F ? "fido-u2f"
	                                       : "packed",
	                       ta_att_stmt(fmt, k, &r->ad, &r->cd), &r->ad);
}

static void ta_reg_free(struct ta_reg *r)
{
	tbuf_free(&r->cd);
	tbuf_free(&r->ad);
	tbuf_free(&r->att);
}

static struct webauthn_registration ta_reg_view(const struct ta_reg *r)
{
	return (struct webauthn_registration){.client_data = r->cd.p,
	                                      .client_data_len = r->cd.len,
	                                      .attestation = r->att.p,
	                                      .attestation_len = r->att.len};
}

/* A complete assertion response (navigator.credentials.get()); the counter goes up first. */
struct ta_assert {
	struct tbuf cd, ad, sig;
};

static void ta_assert_with(struct ta_assert *a, struct ta_key *k,
                           const unsigned char challenge[WEBAUTHN_CHALLENGE_LEN],
                           const char *origin, const char *rp_id, uint8_t flags, const char *type)
{
	struct tbuf msg;

	a->cd = ta_client_data(type, challenge, WEBAUTHN_CHALLENGE_LEN, origin, NULL);
	a->ad = ta_auth_data(rp_id, flags, k, NULL);
	msg = ta_signed_data(&a->ad, &a->cd);
	a->sig = ta_sign(k, &msg);
	tbuf_free(&msg);
}

static void ta_assert(struct ta_assert *a, struct ta_key *k,
                      const unsigned char challenge[WEBAUTHN_CHALLENGE_LEN])
{
	k->counter++;
	ta_assert_with(a, k, challenge, TA_ORIGIN, TA_RP_ID, TA_UP, "webauthn.get");
}

/* Signs whatever a->cd and a->ad hold now (after a test changed them). */
static void ta_assert_resign(struct ta_assert *a, const struct ta_key *k)
{
	struct tbuf msg = ta_signed_data(&a->ad, &a->cd);

	tbuf_free(&a->sig);
	a->sig = ta_sign(k, &msg);
	tbuf_free(&msg);
}

static void ta_assert_free(struct ta_assert *a)
{
	tbuf_free(&a->cd);
	tbuf_free(&a->ad);
	tbuf_free(&a->sig);
}

static struct webauthn_assertion ta_assert_view(const struct ta_assert *a)
{
	return (struct webauthn_assertion){.client_data = a->cd.p,
	                                   .client_data_len = a->cd.len,
	                                   .auth_data = a->ad.p,
	                                   .auth_data_len = a->ad.len,
	                                   .sig = a->sig.p,
	                                   .sig_len = a->sig.len};
}

#endif
