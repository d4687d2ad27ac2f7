/*
 * IMAP keywords: a per-mailbox table of at most 64 names (index table kw, bit numbers given out
 * densely under the write lock) and a 64-bit set per message (msg.keywords). Changes bump a
 * sequence in the index; a sync reads the rows changed since the view's sequence, which is how
 * other sessions' STOREs reach the changed list.
 */
#include "storage/storage-private.h"

#include "common/xalloc.h"

#include <string.h>
#include <strings.h>

#define KEYWORD_LEN_MAX 100

int mailbox_keywords_reload(struct mailbox *box, const char **error_r)
{
	char *names[MAIL_INDEX_KEYWORDS_MAX];
	unsigned count;

	if (mail_index_keywords_load(box->index, names, &count, error_r) < 0)
		return -1;
	for (unsigned i = 0; i < box->kw_count; i++)
		xfree(&box->kw[i]);
	memcpy(box->kw, names, count * sizeof(names[0]));
	box->kw_count = count;
	return 0;
}

unsigned mailbox_keyword_count(const struct mailbox *box)
{
	return box->kw_count;
}

const char *mailbox_keyword_name(const struct mailbox *box, unsigned i)
{
	return i < box->kw_count ? box->kw[i] : NULL;
}

bool mailbox_keyword_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > KEYWORD_LEN_MAX || name[0] == '\\')
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p <= 0x20 || *p >= 0x7f || strchr("(){%*\"\\]", *p) != NULL)
			return false;
	}
	return true;
}

static int keyword_find(const struct mailbox *box, const char *name)
{
	for (unsigned i = 0; i < box->kw_count; i++) {
		if (strcasecmp(box->kw[i], name) == 0)
			return (int)i;
	}
	return -1;
}

/* Under the write lock: another session may have added names meanwhile. */
static int keyword_create(struct mailbox *box, const char *name)
{
	const char *error;
	int bit = -1;

	if (mail_index_begin(box->index, &error) < 0)
		return -1;
	if (mailbox_keywords_reload(box, &error) == 0) {
		bit = keyword_find(box, name);
		if (bit < 0 && box->kw_count < MAIL_INDEX_KEYWORDS_MAX &&
		    mail_index_keyword_add(box->index, box->kw_count, name, &error) == 0)
			bit = (int)box->kw_count;
	}
	if (bit < 0 || mail_index_commit(box->index, &error) < 0) {
		mail_index_rollback(box->index);
		return -1;
	}
	if (bit == (int)box->kw_count)
		box->kw[box->kw_count++] = xstrdup(name);
	return bit;
}

int mailbox_keyword_index(struct mailbox *box, const char *name, bool create)
{
	int bit = keyword_find(box, name);

	if (bit >= 0 || !create || !mailbox_keyword_valid(name))
		return bit;
	return keyword_create(box, name);
}

int mailbox_set_keywords(struct mailbox *box, size_t index, uint64_t set, uint64_t clear,
                         const char **error_r)
{
	struct msg_rec *m;
	uint64_t keywords, expected, modseq = 0;
	uint32_t seq;
	bool own;
	int ret;

	if (index >= box->count) {
		*error_r = mail_error_no_message;
		return -1;
	}
	m = &box->msgs[index];
	if (m->gone)
		return 0;
	expected = (m->mail.keywords & ~clear) | set;
	/* nothing to change, as far as the view knows: true when no session changed keywords
	 * since the view read them (else another session's change could be lost) */
	if (expected == m->mail.keywords &&
	    mail_index_keyword_seq(box->index, &seq, error_r) == 0 && seq == box->kwseq)
		return 1;
	own = !mail_index_in_transaction(box->index);
	if (own && mail_index_begin(box->index, error_r) < 0)
		return -1;
	ret = mail_index_set_keywords(box->index, m->mail.uid, set, clear, &keywords, &modseq,
	                              error_r);
	if (own && (ret < 0 || mail_index_commit(box->index, error_r) < 0)) {
		mail_index_rollback(box->index);
		return -1;
	}
	if (ret < 0)
		return -1;
	if (ret == 0) {
		m->gone = true; /* expunged by another session */
		return 0;
	}
	/* keywords another session changed meanwhile: the client is told at the next update */
	if (keywords != expected)
		mailbox_mark_changed(box, index);
	m->mail.keywords = keywords;
	m->mail.modseq = modseq;
	return 1;
}
