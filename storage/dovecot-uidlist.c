#include "storage/dovecot-uidlist.h"
#include "storage/beneath.h"
#include "storage/maildir-name.h"

#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct dovecot_uidlist_rec {
	uint32_t uid;
	uint32_t key; /* offset in keys */
};

struct dovecot_uidlist {
	uint32_t uidvalidity;
	uint32_t next_uid;
	struct dovecot_uidlist_rec *recs; /* sorted by key once finished */
	size_t count, cap;
	struct buf keys; /* NUL-terminated keys */
};

struct dovecot_uidlist_parser {
	struct dovecot_uidlist *list;
	char line[DOVECOT_UIDLIST_LINE_MAX + 1];
	size_t line_len;
	size_t total;
	unsigned version; /* 0 until the header is read */
	uint32_t hdr_next_uid;
	uint32_t last_uid;
	const char *error; /* set once broken */
};

struct dovecot_uidlist_parser *dovecot_uidlist_parser_new(void)
{
	struct dovecot_uidlist_parser *p = xcalloc(1, sizeof(*p));

	p->list = xcalloc(1, sizeof(*p->list));
	buf_init(&p->list->keys);
	return p;
}

void dovecot_uidlist_free(struct dovecot_uidlist **listp)
{
	struct dovecot_uidlist *list = *listp;

	if (list == NULL)
		return;
	buf_free(&list->keys);
	free(list->recs);
	xfree(listp);
}

/* A decimal uint32 from *pp up to a space or the end; *pp moves past it. 1 ok, 0 not one. */
static int uidlist_number(const char **pp, uint32_t *num_r)
{
	const char *p = *pp;
	uint64_t num = 0;

	if (*p < '0' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		num = num * 10 + (uint64_t)(*p - '0');
		if (num > UINT32_MAX)
			return 0;
	}
	if (*p != ' ' && *p != '\0')
		return 0;
	*num_r = (uint32_t)num;
	*pp = p;
	return 1;
}

static void uidlist_skip_spaces(const char **pp)
{
	while (**pp == ' ')
		(*pp)++;
}

/* "1 <uidvalidity> <next uid>" */
static const char *uidlist_header_v1(struct dovecot_uidlist_parser *p, const char *s)
{
	if (!uidlist_number(&s, &p->list->uidvalidity))
		return "bad UIDVALIDITY in the header";
	uidlist_skip_spaces(&s);
	if (!uidlist_number(&s, &p->hdr_next_uid))
		return "bad next UID in the header";
	return NULL;
}

/* "3 V<uidvalidity> N<next uid> G<guid> ...": fields in any order, unknown ones skipped. */
static const char *uidlist_header_v3(struct dovecot_uidlist_parser *p, const char *s)
{
	while (*s != '\0') {
		char key = *s++;
		uint32_t *to = key == 'V'   ? &p->list->uidvalidity
		               : key == 'N' ? &p->hdr_next_uid
		                            : NULL;

		if (to != NULL && !uidlist_number(&s, to))
			return "bad number in the header";
		while (*s != ' ' && *s != '\0')
			s++;
		uidlist_skip_spaces(&s);
	}
	return NULL;
}

static const char *uidlist_header(struct dovecot_uidlist_parser *p, const char *s)
{
	const char *error;

	if ((s[0] != '1' && s[0] != '3') || s[1] != ' ')
		return "unsupported version";
	p->version = (unsigned)(s[0] - '0');
	error = p->version == 1 ? uidlist_header_v1(p, s + 2) : uidlist_header_v3(p, s + 2);
	if (error != NULL)
		return error;
	if (p->list->uidvalidity == 0 || p->hdr_next_uid == 0)
		return "no UIDVALIDITY or next UID in the header";
	return NULL;
}

/* Version 3 record fields before the name: "<key><value>" words up to one that starts with
 * ':'. Returns the name, or NULL when there is none. */
static const char *uidlist_skip_fields(const char *s)
{
	while (*s != '\0' && *s != ':') {
		while (*s != ' ' && *s != '\0')
			s++;
		uidlist_skip_spaces(&s);
	}
	return *s == ':' ? s + 1 : NULL;
}

static void uidlist_add(struct dovecot_uidlist *list, uint32_t uid, const char *name,
                        const struct maildir_name *parsed)
{
	if (list->count == list->cap) {
		list->cap = list->cap == 0 ? 256 : list->cap * 2;
		list->recs = xreallocarray(list->recs, list->cap, sizeof(*list->recs));
	}
	list->recs[list->count].uid = uid;
	list->recs[list->count].key = (uint32_t)list->keys.len;
	list->count++;
	maildir_name_key_to(name, parsed, buf_reserve(&list->keys, parsed->base_len + 1));
	buf_added(&list->keys, strlen(list->keys.data + list->keys.len) + 1);
}

/* "<uid> <name>" (version 1) or "<uid> [<fields>] :<name>" (version 3). */
static const char *uidlist_record(struct dovecot_uidlist_parser *p, const char *s)
{
	struct maildir_name parsed;
	uint32_t uid;

	if (!uidlist_number(&s, &uid) || *s != ' ')
		return "bad UID";
	if (uid <= p->last_uid)
		return "UIDs not ascending";
	if (uid == UINT32_MAX || (p->version == 1 && uid >= p->hdr_next_uid))
		return "UID at or above the next UID";
	if (p->list->count == DOVECOT_UIDLIST_RECORDS_MAX)
		return "too many records";
	p->last_uid = uid;
	uidlist_skip_spaces(&s);
	if (p->version == 3 && (s = uidlist_skip_fields(s)) == NULL)
		return "record without a file name";
	if (strchr(s, '/') != NULL || strlen(s) > NAME_MAX)
		return "bad file name";
	if (maildir_name_parse(s, &parsed) <= 0)
		return NULL; /* no message name: nothing to match, harmless */
	uidlist_add(p->list, uid, s, &parsed);
	return NULL;
}

static const char *uidlist_line(struct dovecot_uidlist_parser *p)
{
	p->line[p->line_len] = '\0';
	if (memchr(p->line, '\0', p->line_len) != NULL)
		return "NUL byte";
	if (p->version == 0)
		return uidlist_header(p, p->line);
	return uidlist_record(p, p->line);
}

int dovecot_uidlist_parser_feed(struct dovecot_uidlist_parser *p, const void *data, size_t len,
                                const char **error_r)
{
	const char *s = data, *end = s + len;

	if (p->error == NULL && len > DOVECOT_UIDLIST_BYTES_MAX - p->total)
		p->error = "file too big";
	p->total += len;
	while (p->error == NULL && s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = (size_t)((nl != NULL ? nl : end) - s);

		if (n > DOVECOT_UIDLIST_LINE_MAX - p->line_len) {
			p->error = "line too long";
			break;
		}
		memcpy(p->line + p->line_len, s, n);
		p->line_len += n;
		s += n;
		if (nl == NULL)
			break;
		s++;
		p->error = uidlist_line(p);
		p->line_len = 0;
	}
	*error_r = p->error;
	return p->error == NULL ? 0 : -1;
}

static int uidlist_key_cmp(const void *a, const void *b, void *keys)
{
	const struct dovecot_uidlist_rec *x = a, *y = b;
	int ret = strcmp((const char *)keys + x->key, (const char *)keys + y->key);

	if (ret != 0)
		return ret;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* Sorts by key. A name listed twice (Dovecot appends a file moved back after an expunge) keeps
 * its later, higher UID, as Dovecot does. */
static void uidlist_sort(struct dovecot_uidlist *list)
{
	size_t out = 0;

	if (list->count == 0)
		return;
	qsort_r(list->recs, list->count, sizeof(*list->recs), uidlist_key_cmp, list->keys.data);
	for (size_t i = 0; i < list->count; i++) {
		if (out > 0 && strcmp(list->keys.data + list->recs[out - 1].key,
		                      list->keys.data + list->recs[i].key) == 0)
			out--;
		list->recs[out++] = list->recs[i];
	}
	list->count = out;
}

int dovecot_uidlist_parser_finish(struct dovecot_uidlist_parser **pp,
                                  struct dovecot_uidlist **list_r, const char **error_r)
{
	struct dovecot_uidlist_parser *p = *pp;
	int ret = -1;

	*error_r = p->error;
	if (p->error == NULL && p->version == 0)
		*error_r = "no header";
	if (*error_r == NULL) {
		/* version 3 appends records without rewriting the header */
		p->list->next_uid =
		    p->hdr_next_uid > p->last_uid ? p->hdr_next_uid : p->last_uid + 1;
		uidlist_sort(p->list);
		*list_r = p->list;
		p->list = NULL;
		ret = 0;
	}
	dovecot_uidlist_free(&p->list);
	xfree(pp);
	return ret;
}

uint32_t dovecot_uidlist_uidvalidity(const struct dovecot_uidlist *list)
{
	return list->uidvalidity;
}

uint32_t dovecot_uidlist_next_uid(const struct dovecot_uidlist *list)
{
	return list->next_uid;
}

size_t dovecot_uidlist_count(const struct dovecot_uidlist *list)
{
	return list->count;
}

uint32_t dovecot_uidlist_lookup(const struct dovecot_uidlist *list, const char *key)
{
	size_t lo = 0, hi = list->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(key, list->keys.data + list->recs[mid].key);

		if (cmp == 0)
			return list->recs[mid].uid;
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

int dovecot_uidlist_read(int dirfd, struct dovecot_uidlist **list_r)
{
	struct dovecot_uidlist_parser *p;
	const char *error = NULL;
	char chunk[65536];
	ssize_t n;
	int err,
	    fd = beneath_open(dirfd, DOVECOT_UIDLIST_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);

	*list_r = NULL;
	if (fd < 0) {
		if (errno != ENOENT)
			log_warn("storage: %s unreadable, ignored: %s", DOVECOT_UIDLIST_FILE,
			         strerror(errno));
		return 0;
	}
	p = dovecot_uidlist_parser_new();
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		if (dovecot_uidlist_parser_feed(p, chunk, (size_t)n, &error) < 0)
			break;
	}
	err = n < 0 ? errno : 0;
	close(fd);
	if (dovecot_uidlist_parser_finish(&p, list_r, &error) == 0 && err != 0) {
		dovecot_uidlist_free(list_r);
		error = strerror(err);
	}
	if (*list_r == NULL) {
		log_warn("storage: %s ignored: %s", DOVECOT_UIDLIST_FILE, error);
		return 0;
	}
	return 1;
}
