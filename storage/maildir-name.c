#include "storage/maildir-name.h"

#include "common/xalloc.h"
#include "storage/storage.h"

#include <sodium.h>
#include <string.h>

static const struct {
	char letter;
	unsigned flag;
} maildir_letters[] = {
    {'D', MAIL_DRAFT}, {'F', MAIL_FLAGGED}, {'R', MAIL_ANSWERED},
    {'S', MAIL_SEEN},  {'T', MAIL_DELETED},
};

static unsigned maildir_letter_flag(char c)
{
	for (size_t i = 0; i < sizeof(maildir_letters) / sizeof(maildir_letters[0]); i++) {
		if (maildir_letters[i].letter == c)
			return maildir_letters[i].flag;
	}
	return 0;
}

unsigned maildir_info_flags(const char *info)
{
	unsigned flags = 0;

	for (; *info != '\0'; info++)
		flags |= maildir_letter_flag(*info);
	return flags;
}

/* Parses digits up to the end of the field (',' or end of base). 1 ok, 0 not a number. */
static int maildir_field_number(const char *p, const char *end, uint64_t max, uint64_t *num_r)
{
	uint64_t num = 0;

	if (p == end || *p == ',')
		return 0;
	for (; p < end && *p != ','; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		if (num > (max - (uint64_t)(*p - '0')) / 10)
			return 0;
		num = num * 10 + (uint64_t)(*p - '0');
	}
	*num_r = num;
	return 1;
}

static void maildir_name_fields(const char *name, struct maildir_name *r)
{
	const char *end = name + r->base_len;
	uint64_t num;

	for (const char *p = memchr(name, ',', r->base_len); p != NULL && p + 2 < end;
	     p = memchr(p + 1, ',', (size_t)(end - p - 1))) {
		if (p[2] != '=')
			continue;
		if (p[1] == 'S' && maildir_field_number(p + 3, end, UINT64_MAX, &num) > 0) {
			r->size = num;
			r->has_size = true;
		} else if (p[1] == 'W' && maildir_field_number(p + 3, end, UINT64_MAX, &num) > 0) {
			r->vsize = num;
			r->has_vsize = true;
		} else if (p[1] == 'U' && maildir_field_number(p + 3, end, UINT32_MAX, &num) > 0 &&
		           num > 0) {
			r->uid = (uint32_t)num;
			r->has_uid = true;
		}
	}
}

int maildir_name_parse(const char *name, struct maildir_name *r)
{
	const char *colon;

	memset(r, 0, sizeof(*r));
	if (name[0] == '\0' || name[0] == '.' || name[0] == ':')
		return 0;
	colon = strchr(name, ':');
	r->base_len = colon == NULL ? strlen(name) : (size_t)(colon - name);
	r->rest = name + r->base_len;
	if (strncmp(r->rest, ":2,", 3) == 0) {
		r->has_info = true;
		r->flags = maildir_info_flags(r->rest + 3);
	}
	maildir_name_fields(name, r);
	return 1;
}

char *maildir_rest_with_flags(const char *old_rest, unsigned flags)
{
	bool present[256] = {false};
	char *rest, *p;

	if (strncmp(old_rest, ":2,", 3) == 0) {
		for (const unsigned char *c = (const unsigned char *)old_rest + 3; *c != '\0';
		     c++) {
			if (maildir_letter_flag((char)*c) == 0 && *c > ' ' && *c != '/' && *c < 127)
				present[*c] = true;
		}
	}
	for (size_t i = 0; i < sizeof(maildir_letters) / sizeof(maildir_letters[0]); i++) {
		if ((flags & maildir_letters[i].flag) != 0)
			present[(unsigned char)maildir_letters[i].letter] = true;
	}
	rest = p = xmalloc(3 + 256 + 1);
	memcpy(p, ":2,", 3);
	p += 3;
	for (unsigned c = 1; c < 256; c++) {
		if (present[c])
			*p++ = (char)c;
	}
	*p = '\0';
	return rest;
}

/* Length of a ",S=123"-style field twofold adds or reads at p (p[0] == ','), 0 if none. */
static size_t maildir_field_len(const char *p, const char *end)
{
	const char *q = p + 3;

	if (end - p < 4 || (p[1] != 'S' && p[1] != 'W' && p[1] != 'U') || p[2] != '=')
		return 0;
	while (q < end && *q >= '0' && *q <= '9')
		q++;
	if (q == p + 3 || (q < end && *q != ','))
		return 0;
	return (size_t)(q - p);
}

void maildir_name_key_to(const char *name, const struct maildir_name *r, char *key)
{
	const char *end = name + r->base_len;
	char *o = key;

	for (const char *p = name; p < end;) {
		size_t skip = *p == ',' ? maildir_field_len(p, end) : 0;

		if (skip > 0) {
			p += skip;
			continue;
		}
		*o++ = *p++;
	}
	*o = '\0';
}

int maildir_name_time(const char *name, time_t *time_r)
{
	uint64_t t = 0;
	const char *p = name;

	for (; *p >= '0' && *p <= '9' && t < (1ULL << 40); p++)
		t = t * 10 + (uint64_t)(*p - '0');
	if (p == name || *p != '.' || t == 0 || t >= (1ULL << 40))
		return 0;
	*time_r = (time_t)t;
	return 1;
}

int maildir_key_uidl(const char *key, char hash_r[MAILDIR_UIDL_HASH_LEN + 1])
{
	size_t len = strlen(key);
	unsigned char hash[MAILDIR_UIDL_HASH_LEN / 2];

	for (size_t i = 0; i < len && len <= MAILDIR_UIDL_MAX; i++) {
		if (key[i] < 0x21 || key[i] > 0x7e)
			goto hashed;
	}
	if (len > 0 && len <= MAILDIR_UIDL_MAX)
		return 0;
hashed:
	crypto_generichash(hash, sizeof(hash), (const unsigned char *)key, len, NULL, 0);
	sodium_bin2hex(hash_r, MAILDIR_UIDL_HASH_LEN + 1, hash, sizeof(hash));
	return 1;
}
