/* SORT: the criteria, each message's keys (the metadata cache, else its header) and the order. */
#include "server/imap/imap-sort.h"
#include "server/imap/imap-subject.h"

#include "common/buf.h"
#include "common/xalloc.h"
#include "storage/storage.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Bumped when what the keys are changes, so a cache filled by an older build is not read. */
#define SORT_CACHE_FIELD "sort1"
/* A header longer than this sorts by what its first part says. */
#define SORT_HEADER_MAX (256 * 1024)

enum sort_key {
	SORT_ARRIVAL,
	SORT_DATE,
	SORT_SIZE,
	SORT_TEXT, /* one of the header's texts: crit.text */
};

struct sort_crit {
	enum sort_key key;
	enum imap_sort_text text;
	bool reverse;
};

struct imap_sort {
	struct sort_crit crit[IMAP_SORT_MAX_KEYS];
	unsigned count;
	bool header; /* some criterion reads the header */
};

static const struct {
	const char *name;
	enum sort_key key;
	enum imap_sort_text text;
} sort_names[] = {
    {"ARRIVAL", SORT_ARRIVAL, 0},
    {"DATE", SORT_DATE, 0},
    {"SIZE", SORT_SIZE, 0},
    {"SUBJECT", SORT_TEXT, SORT_TEXT_SUBJECT},
    {"FROM", SORT_TEXT, SORT_TEXT_FROM},
    {"TO", SORT_TEXT, SORT_TEXT_TO},
    {"CC", SORT_TEXT, SORT_TEXT_CC},
    {"DISPLAYFROM", SORT_TEXT, SORT_TEXT_DISPLAYFROM},
    {"DISPLAYTO", SORT_TEXT, SORT_TEXT_DISPLAYTO},
};

static int sort_name(const char *name, struct sort_crit *crit)
{
	for (size_t i = 0; i < sizeof(sort_names) / sizeof(sort_names[0]); i++) {
		if (strcasecmp(name, sort_names[i].name) == 0) {
			crit->key = sort_names[i].key;
			crit->text = sort_names[i].text;
			return 0;
		}
	}
	return -1;
}

int imap_sort_parse(const struct imap_arg *criteria, struct imap_sort **sort_r,
                    const char **error_r)
{
	const struct imap_arg *list;
	unsigned count;
	struct imap_sort sort = {.count = 0};
	bool reverse = false;
	const char *name;

	if (!imap_arg_get_list(criteria, &list, &count) || count == 0) {
		*error_r = "SORT needs a list of sort criteria.";
		return -1;
	}
	for (unsigned i = 0; i < count; i++) {
		if (!imap_arg_get_atom(&list[i], &name)) {
			*error_r = "Sort criteria are atoms.";
			return -1;
		}
		if (strcasecmp(name, "REVERSE") == 0 && !reverse) {
			reverse = true;
			continue;
		}
		if (sort.count == IMAP_SORT_MAX_KEYS || sort_name(name, &sort.crit[sort.count]) < 0) {
			*error_r = sort.count == IMAP_SORT_MAX_KEYS ? "Too many sort criteria."
			                                            : "Unknown sort criterion.";
			return -1;
		}
		sort.crit[sort.count].reverse = reverse;
		sort.header |= sort.crit[sort.count].key == SORT_TEXT ||
		               sort.crit[sort.count].key == SORT_DATE;
		sort.count++;
		reverse = false;
	}
	if (reverse) {
		*error_r = "REVERSE must be followed by a sort criterion.";
		return -1;
	}
	*sort_r = xmalloc(sizeof(sort));
	**sort_r = sort;
	return 0;
}

void imap_sort_free(struct imap_sort **sort)
{
	xfree(sort);
}

/* ---- a message's keys ---- */

struct sort_rec {
	size_t index;
	time_t arrival;
	uint64_t size;
	struct imap_sort_keys keys;
};

static void sort_keys_put(struct mailbox *box, size_t index, const struct imap_sort_keys *keys)
{
	struct buf b;

	buf_init(&b);
	buf_printf(&b, "%lld %d", (long long)keys->date, keys->reply ? 1 : 0);
	for (int i = 0; i < SORT_TEXT_COUNT; i++) {
		buf_append(&b, "", 1);
		buf_append_str(&b, keys->text[i]);
	}
	(void)mailbox_cache_put(box, index, SORT_CACHE_FIELD, b.data, b.len);
	buf_free(&b);
}

/* The keys from the cache: 1, or 0 when not there (or not of this shape). */
static int sort_keys_get(struct mailbox *box, size_t index, struct imap_sort_keys *keys)
{
	struct buf b;
	const char *p, *end;
	int i = -1;

	buf_init(&b);
	if (mailbox_cache_get(box, index, SORT_CACHE_FIELD, &b) <= 0 || b.len == 0) {
		buf_free(&b);
		return 0;
	}
	memset(keys, 0, sizeof(*keys));
	for (p = b.data, end = b.data + b.len; p <= end && i < SORT_TEXT_COUNT; i++) {
		size_t n = strnlen(p, (size_t)(end - p));
		char *rest;

		if (i < 0) {
			keys->date = (time_t)strtoll(p, &rest, 10);
			keys->reply = strcmp(rest, " 1") == 0;
		} else {
			keys->text[i] = xstrndup(p, n);
		}
		p += n + 1;
	}
	buf_free(&b);
	if (i == SORT_TEXT_COUNT && p == end + 1)
		return 1;
	imap_sort_keys_clear(keys);
	return 0;
}

/* Reads the message's header (through its blank line, at most SORT_HEADER_MAX) into b. 1, 0
 * the message cannot be read (vanished, unavailable), -1 error. */
static int sort_read_header(struct mailbox *box, size_t index, struct buf *b,
                            const char **error_r)
{
	int fd = mailbox_msg_open(box, index, error_r);
	ssize_t n;

	if (fd < 0)
		return errno == ENOENT || mailbox_msg_gone(box, index) ||
		               mailbox_msg_unavailable(box, index)
		           ? 0
		           : -1;
	while (b->len < SORT_HEADER_MAX && (n = read(fd, buf_reserve(b, 8192), 8192)) > 0) {
		buf_added(b, (size_t)n);
		if (memmem(b->data, b->len, "\n\n", 2) != NULL ||
		    memmem(b->data, b->len, "\n\r\n", 3) != NULL)
			break;
	}
	close(fd);
	return 1;
}

int imap_sort_keys_load(struct mailbox *box, size_t index, struct imap_sort_keys *keys,
                        const char **error_r)
{
	struct buf header;
	int r;

	if (sort_keys_get(box, index, keys) > 0)
		return 0;
	buf_init(&header);
	r = sort_read_header(box, index, &header, error_r);
	if (r >= 0)
		imap_sort_keys_parse(header.data != NULL ? header.data : "", header.len, keys);
	if (r > 0)
		sort_keys_put(box, index, keys);
	buf_free(&header);
	return r < 0 ? -1 : 0;
}

static int sort_rec_load(const struct imap_sort *sort, struct mailbox *box, struct sort_rec *rec,
                         const char **error_r)
{
	struct mail_sizes sizes = {0};

	if (mailbox_msg_sizes(box, rec->index, &sizes, error_r) < 0)
		return -1;
	rec->arrival = sizes.date;
	rec->size = sizes.crlf_size;
	return sort->header ? imap_sort_keys_load(box, rec->index, &rec->keys, error_r) : 0;
}

/* ---- the order ---- */

static int sort_cmp_crit(const struct sort_crit *c, const struct sort_rec *a,
                         const struct sort_rec *b)
{
	time_t da, db;

	switch (c->key) {
	case SORT_ARRIVAL:
		return (a->arrival > b->arrival) - (a->arrival < b->arrival);
	case SORT_DATE:
		/* no readable Date: the internal date stands in (RFC 5256) */
		da = a->keys.date != 0 ? a->keys.date : a->arrival;
		db = b->keys.date != 0 ? b->keys.date : b->arrival;
		return (da > db) - (da < db);
	case SORT_SIZE:
		return (a->size > b->size) - (a->size < b->size);
	case SORT_TEXT:
		break;
	}
	return imap_subject_cmp(a->keys.text[c->text] != NULL ? a->keys.text[c->text] : "",
	                        b->keys.text[c->text] != NULL ? b->keys.text[c->text] : "");
}

static int sort_cmp(const void *x, const void *y, void *ctx)
{
	const struct imap_sort *sort = ctx;
	const struct sort_rec *a = x, *b = y;

	for (unsigned i = 0; i < sort->count; i++) {
		int r = sort_cmp_crit(&sort->crit[i], a, b);

		if (r != 0)
			return sort->crit[i].reverse ? -r : r;
	}
	return (a->index > b->index) - (a->index < b->index);
}

int imap_sort_run(const struct imap_sort *sort, struct mailbox *box, size_t *indexes,
                  size_t count, const char **error_r)
{
	struct sort_rec *recs = xcalloc(count + 1, sizeof(*recs));
	int ret = 0;

	for (size_t i = 0; i < count && ret == 0; i++) {
		recs[i].index = indexes[i];
		ret = sort_rec_load(sort, box, &recs[i], error_r);
	}
	if (ret == 0) {
		qsort_r(recs, count, sizeof(*recs), sort_cmp, (void *)sort);
		for (size_t i = 0; i < count; i++)
			indexes[i] = recs[i].index;
	}
	for (size_t i = 0; i < count; i++)
		imap_sort_keys_clear(&recs[i].keys);
	xfree(&recs);
	return ret;
}

int imap_sort_compare(const struct imap_sort *sort, struct mailbox *box, size_t a, size_t b,
                      int *cmp_r, const char **error_r)
{
	struct sort_rec ra = {.index = a}, rb = {.index = b};
	int ret = sort_rec_load(sort, box, &ra, error_r) < 0 ||
	                  sort_rec_load(sort, box, &rb, error_r) < 0
	              ? -1
	              : 0;

	if (ret == 0)
		*cmp_r = sort_cmp(&ra, &rb, (void *)sort);
	imap_sort_keys_clear(&ra.keys);
	imap_sort_keys_clear(&rb.keys);
	return ret;
}
