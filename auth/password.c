/*
 * Password hashes: Argon2id strings as libsodium's crypto_pwhash_str writes them.
 *
 * Verifying runs the same Argon2id with the reference library (libargon2) when it is built in
 * and the string is one libsodium writes ($argon2id$v=19$m=M,t=T,p=1$<16-byte salt>$<32-byte
 * hash>), because libargon2 lets us hand it the memory: one area per process, 2 MiB aligned and
 * advised for huge pages, kept from verify to verify. libsodium maps M KiB afresh for every
 * hash, so each verify also paid the kernel for faulting in, zeroing and unmapping 64 MiB (16384
 * pages), and its random block reads missed the TLB on 4 KiB pages: 190 ms per verify at 64 MiB,
 * t=2 on the bench machine, 105-120 ms with the kept area. The Argon2 work itself (every block of
 * the M KiB filled t times) is the same; libargon2 wipes the area after each hash
 * (clear_internal_memory) and compares the result in constant time (argon2_verify_ctx). Any
 * other string (argon2i, other lengths, p > 1) goes to crypto_pwhash_str_verify as before.
 *
 * The kept area costs the largest M seen (the configured pwhash_memlimit) of resident memory in
 * each process that verifies: the auth processes, not the workers. Not thread-safe (one area).
 */
#include "auth/password.h"
#include "auth/password-test.h"
#include "common/xalloc.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#ifdef TWOFOLD_HAVE_LIBARGON2
#include <argon2.h>
#include <sys/mman.h>
#endif

unsigned long password_verify_count;

char *password_hash(const char *password, size_t len, const struct password_params *params)
{
	char *out = xmalloc(crypto_pwhash_STRBYTES);

	if (crypto_pwhash_str(out, password, len, params->opslimit, params->memlimit) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

#ifdef TWOFOLD_HAVE_LIBARGON2

#define PASSWORD_SALT_LEN 16 /* crypto_pwhash_SALTBYTES */
#define PASSWORD_HASH_LEN 32 /* crypto_pwhash_str's tag length */
#define PASSWORD_HUGE     (2u << 20)
#define PASSWORD_MAX_KIB  (4u << 20) /* 4 GiB: larger m goes to libsodium */

struct password_area {
	uint8_t *map, *base; /* base: map aligned to PASSWORD_HUGE */
	size_t map_len, len;
};

static struct password_area password_area;

static void password_area_unmap(void)
{
	if (password_area.map != NULL)
		munmap(password_area.map, password_area.map_len);
	memset(&password_area, 0, sizeof(password_area));
}

static int password_area_grow(size_t bytes)
{
	size_t len = (bytes + PASSWORD_HUGE - 1) & ~(size_t)(PASSWORD_HUGE - 1);
	size_t map_len = len + PASSWORD_HUGE;
	uint8_t *map =
	    mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t aligned;

	if (map == MAP_FAILED)
		return -1;
	password_area_unmap();
	aligned = ((uintptr_t)map + PASSWORD_HUGE - 1) & ~(uintptr_t)(PASSWORD_HUGE - 1);
	password_area = (struct password_area){map, (uint8_t *)aligned, map_len, len};
	/* Both are hints: without transparent huge pages the kept area still saves the faults. */
	(void)madvise(password_area.base, len, MADV_HUGEPAGE);
	(void)madvise(map, map_len, MADV_DONTDUMP);
	return 0;
}

static int password_area_get(uint8_t **memory, size_t bytes)
{
	if (password_area.len < bytes && password_area_grow(bytes) < 0)
		return ARGON2_MEMORY_ALLOCATION_ERROR;
	*memory = password_area.base;
	return ARGON2_OK;
}

static void password_area_put(uint8_t *memory, size_t bytes)
{
	/* libargon2 has wiped it already; it stays mapped for the next verify */
	(void)memory;
	(void)bytes;
}

/* A decimal number without sign, leading zero or overflow, ending at *end. */
static const char *password_uint(const char *s, char end, uint32_t max, uint32_t *value_r)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9' || (*p == '0' && p[1] != end))
		return NULL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > max)
			return NULL;
	}
	if (*p != end)
		return NULL;
	*value_r = (uint32_t)v;
	return p + 1;
}

/* Decodes exactly len bytes of unpadded base64 ending at end ('\0' or '$'), canonical only. */
static const char *password_b64(const char *s, char end, unsigned char *out, size_t len)
{
	char again[PASSWORD_HASH_LEN * 2];
	const char *stop = strchr(s, end);
	size_t n, got;

	if (stop == NULL)
		return NULL;
	n = (size_t)(stop - s);
	if (n != sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL_NO_PADDING) - 1 ||
	    sodium_base642bin(out, len, s, n, NULL, &got, NULL,
	                      sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
	    got != len)
		return NULL;
	sodium_bin2base64(again, sizeof(again), out, len,
	                  sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	if (strncmp(again, s, n) != 0)
		return NULL;
	return end == '\0' ? stop : stop + 1;
}

struct password_phc {
	uint32_t m_kib, t;
	unsigned char salt[PASSWORD_SALT_LEN], tag[PASSWORD_HASH_LEN];
};

/* The crypto_pwhash_str shape of Argon2id; 0 when hash has another shape. */
static int password_parse(const char *hash, struct password_phc *phc)
{
	static const char prefix[] = "$argon2id$v=19$m=";
	uint32_t p = 0;
	const char *s = hash;

	if (strncmp(s, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	s += sizeof(prefix) - 1;
	if ((s = password_uint(s, ',', PASSWORD_MAX_KIB, &phc->m_kib)) == NULL ||
	    strncmp(s, "t=", 2) != 0 ||
	    (s = password_uint(s + 2, ',', UINT32_MAX, &phc->t)) == NULL ||
	    strncmp(s, "p=", 2) != 0 || (s = password_uint(s + 2, '$', 1, &p)) == NULL ||
	    (s = password_b64(s, '$', phc->salt, sizeof(phc->salt))) == NULL ||
	    (s = password_b64(s, '\0', phc->tag, sizeof(phc->tag))) == NULL)
		return 0;
	return p == 1 && phc->t >= 1 && phc->m_kib >= 8 ? 1 : 0;
}

/* 1 match, 0 mismatch, -1 not done here (another shape, no memory, ...). */
static int password_verify_kept(const char *hash, const char *password, size_t len)
{
	struct password_phc phc;
	unsigned char out[PASSWORD_HASH_LEN];
	argon2_context ctx;
	int r = -1;

	if (password_parse(hash, &phc) == 1 && len <= ARGON2_MAX_PWD_LENGTH) {
		ctx = (argon2_context){
		    .out = out,
		    .outlen = sizeof(out),
		    .pwd = (uint8_t *)(uintptr_t)password,
		    .pwdlen = (uint32_t)len,
		    .salt = phc.salt,
		    .saltlen = sizeof(phc.salt),
		    .t_cost = phc.t,
		    .m_cost = phc.m_kib,
		    .lanes = 1,
		    .threads = 1,
		    .version = ARGON2_VERSION_13,
		    .allocate_cbk = password_area_get,
		    .free_cbk = password_area_put,
		    .flags = ARGON2_DEFAULT_FLAGS,
		};
		switch (argon2_verify_ctx(&ctx, (const char *)phc.tag, Argon2_id)) {
		case ARGON2_OK:
			r = 1;
			break;
		case ARGON2_VERIFY_MISMATCH:
			r = 0;
			break;
		default:
			break;
		}
	}
	sodium_memzero(out, sizeof(out));
	sodium_memzero(&phc, sizeof(phc));
	return r;
}

#else

static int password_verify_kept(const char *hash, const char *password, size_t len)
{
	(void)hash;
	(void)password;
	(void)len;
	return -1;
}

#endif

int password_verify(const char *hash, const char *password, size_t len)
{
	int r;

	password_verify_count++;
	r = password_verify_kept(hash, password, len);
	if (r >= 0)
		return r;
	return crypto_pwhash_str_verify(hash, password, len) == 0 ? 1 : 0;
}

bool password_needs_rehash(const char *hash, const struct password_params *params)
{
	return crypto_pwhash_str_needs_rehash(hash, params->opslimit, params->memlimit) != 0;
}
