/* A mailbox index taken over from Dovecot (index-dovecot.h): a maildir Dovecot served keeps
 * its UIDVALIDITY, UIDs, keywords and POP3 UIDLs when twofold first opens it, or rebuilds an
 * index it lost. */
#include "storage/index-dovecot.h"
#include "storage/dovecot-keywords.h"
#include "storage/dovecot-uidlist.h"

#include "common/log.h"
#include "common/xalloc.h"

#include <string.h>
#include <strings.h>

bool index_dovecot_take(struct mail_index *idx, uint32_t *uidnext_r)
{
	if (dovecot_uidlist_read(idx->dirfd, &idx->dovecot) <= 0)
		return false;
	*uidnext_r = dovecot_uidlist_next_uid(idx->dovecot);
	idx->uidvalidity = dovecot_uidlist_uidvalidity(idx->dovecot);
	idx->dovecot_uidl = true;
	log_info("index: taking over %s: UIDVALIDITY %u, %zu UIDs, next UID %u",
	         DOVECOT_UIDLIST_FILE, idx->uidvalidity, dovecot_uidlist_count(idx->dovecot),
	         *uidnext_r);
	return true;
}

/* The keyword bit of each dovecot-keywords letter: a name the index has keeps its bit, a new
 * one gets the next (while there are free bits). */
static int index_dovecot_keywords(struct mail_index *idx, const struct dovecot_keywords *kw,
                                  const char **error_r)
{
	char *names[MAIL_INDEX_KEYWORDS_MAX];
	unsigned count, bit;
	int ret = 0;

	if (mail_index_keywords_load(idx, names, &count, error_r) < 0)
		return -1;
	for (unsigned letter = 0; letter < DOVECOT_KEYWORDS_MAX && ret == 0; letter++) {
		if (kw->names[letter] == NULL)
			continue;
		for (bit = 0; bit < count && strcasecmp(names[bit], kw->names[letter]) != 0; bit++)
			;
		if (bit == count && count < MAIL_INDEX_KEYWORDS_MAX) {
			ret = mail_index_keyword_add(idx, bit, kw->names[letter], error_r);
			names[count++] = xstrdup(kw->names[letter]);
		}
		if (bit < count)
			idx->dovecot_kw[letter] = (int8_t)bit;
	}
	for (unsigned i = 0; i < count; i++)
		xfree(&names[i]);
	return ret;
}

/* Before the rebuild of a mailbox taken over from Dovecot (its first sync, or one after the
 * index was lost): the UIDs of dovecot-uidlist, when it still has the mailbox's UIDVALIDITY,
 * and the keywords of dovecot-keywords. */
static int index_dovecot_prepare(struct mail_index *idx, const char **error_r)
{
	struct dovecot_keywords kw;
	int ret;

	if (idx->dovecot == NULL && dovecot_uidlist_read(idx->dirfd, &idx->dovecot) > 0 &&
	    dovecot_uidlist_uidvalidity(idx->dovecot) != idx->uidvalidity) {
		log_warn("index: %s has UIDVALIDITY %u, the mailbox %u: ignored",
		         DOVECOT_UIDLIST_FILE, dovecot_uidlist_uidvalidity(idx->dovecot),
		         idx->uidvalidity);
		dovecot_uidlist_free(&idx->dovecot);
	}
	memset(idx->dovecot_kw, -1, sizeof(idx->dovecot_kw));
	if (dovecot_keywords_read(idx->dirfd, &kw) <= 0)
		return 0;
	ret = index_dovecot_keywords(idx, &kw, error_r);
	dovecot_keywords_clear(&kw);
	return ret;
}

int index_dovecot_setup(struct mail_index *idx, const char **error_r)
{
	uint32_t uidl;
	int ret = index_meta_get(idx, "uidl", &uidl, error_r);

	if (ret < 0)
		return -1;
	idx->dovecot_uidl = ret > 0 && uidl == INDEX_UIDL_DOVECOT;
	if (idx->rebuild && idx->dovecot_uidl)
		return index_dovecot_prepare(idx, error_r);
	return 0;
}

bool mail_index_dovecot_uidl(const struct mail_index *idx)
{
	return idx->dovecot_uidl;
}

uint32_t mail_index_dovecot_uid(const struct mail_index *idx, const char *key)
{
	return idx->dovecot != NULL ? dovecot_uidlist_lookup(idx->dovecot, key) : 0;
}

uint64_t mail_index_dovecot_keywords(const struct mail_index *idx, const char *rest)
{
	uint64_t keywords = 0;

	if (!idx->rebuild || !idx->dovecot_uidl || strncmp(rest, ":2,", 3) != 0)
		return 0;
	for (const char *p = rest + 3; *p != '\0'; p++) {
		if (*p >= 'a' && *p <= 'z' && idx->dovecot_kw[*p - 'a'] >= 0)
			keywords |= 1ULL << idx->dovecot_kw[*p - 'a'];
	}
	return keywords;
}
