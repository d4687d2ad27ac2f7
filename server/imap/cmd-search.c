/* SEARCH and UID SEARCH: the command around the SEARCH engine (imap-search.h), and the
 * search contexts RETURN (UPDATE) keeps (imap-context.h) with CANCELUPDATE. */
#include "server/imap/imap-client.h"
#include "server/imap/imap-reply.h"
#include "server/imap/imap-search.h"
#include "server/imap/imap-context.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "server/conn.h"
#include "storage/storage.h"

#include <string.h>

int imap_search_indexes(struct imap_client *c, struct imap_search *search, size_t **indexes_r,
                        size_t *count_r)
{
	size_t *indexes = xcalloc((size_t)c->known_count + 1, sizeof(size_t));
	size_t count = 0;
	const char *error;

	imap_search_set_saved(search, c->saved_uids, c->saved_count);
	for (size_t i = 0; i < c->known_count; i++) {
		int r;

		if (mailbox_msg_gone(c->box, i))
			continue;
		r = imap_search_match(search, c->box, i, (uint32_t)i + 1, c->known_count, &error);
		if (r < 0) {
			log_error("imap user=%s: search failed: %s", c->user, error);
			xfree(&indexes);
			return -1;
		}
		if (r > 0)
			indexes[count++] = i;
	}
	*indexes_r = indexes;
	*count_r = count;
	return 0;
}

void imap_search_numbers(const struct imap_client *c, const size_t *indexes, size_t count,
                         uint32_t *numbers)
{
	for (size_t i = 0; i < count; i++)
		numbers[i] = c->uid ? mailbox_get(c->box, indexes[i])->uid : (uint32_t)indexes[i] + 1;
}

/* The numbers of the matches (view indexes), *modseq_r the highest MODSEQ among them. */
static uint32_t *imap_search_matches(struct imap_client *c, const size_t *indexes, size_t count,
                                     uint64_t *modseq_r)
{
	uint32_t *matches = xcalloc(count + 1, sizeof(uint32_t));

	imap_search_numbers(c, indexes, count, matches);
	for (size_t i = 0; i < count; i++) {
		if (mailbox_get(c->box, indexes[i])->modseq > *modseq_r)
			*modseq_r = mailbox_get(c->box, indexes[i])->modseq;
	}
	return matches;
}

/* RETURN (UPDATE) on a tag that names a context already: BAD (RFC 5267 section 4.3). */
bool imap_search_tag_reused(struct imap_client *c, const struct imap_search *search)
{
	return (imap_search_return(search) & IMAP_SEARCH_RETURN_UPDATE) != 0 &&
	       imap_context_tag_in_use(c, c->tag);
}

void imap_search_keep(struct imap_client *c, struct imap_search **search, struct imap_sort **sort,
                      const size_t *indexes, size_t count)
{
	struct buf out;

	if ((imap_search_return(*search) & IMAP_SEARCH_RETURN_UPDATE) == 0 ||
	    imap_context_add(c, search, sort, indexes, count) > 0)
		return;
	buf_init(&out);
	buf_append_str(&out, "* NO [NOUPDATE ");
	imap_append_string(&out, c->tag, strlen(c->tag));
	buf_append_str(&out, "] Too many contexts.\r\n");
	conn_write(c->conn, out.data, out.len);
	buf_free(&out);
}

static void imap_search_reply(struct imap_client *c, struct imap_search **search,
                              const size_t *indexes, size_t count)
{
	uint64_t modseq = 0;
	uint32_t *matches = imap_search_matches(c, indexes, count, &modseq);
	struct buf out;

	buf_init(&out);
	imap_search_render(*search, c->tag, c->uid, matches, count, &out);
	if (imap_search_has_modseq(*search))
		imap_search_modseq_render(c, imap_search_is_esearch(*search), modseq, count, &out);
	buf_append_str(&out, "\r\n");
	if (imap_search_has_reply(*search))
		conn_write(c->conn, out.data, out.len);
	buf_free(&out);
	xfree(&matches);
	imap_searchres_save(c, *search, indexes, count);
	imap_search_keep(c, search, NULL, indexes, count);
}

enum imap_cmd_result imap_cmd_search(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	struct imap_arg args = {.type = IMAP_ARG_LIST, .list = (struct imap_arg *)a, .count = n};
	struct imap_search *search;
	const char *error = "Invalid search.";
	bool bad_charset;
	size_t *indexes, count;

	if (n == 0)
		return imap_bad(c, "SEARCH needs search keys.");
	if (imap_search_parse(&args, &search, &bad_charset, &error) < 0) {
		if (!bad_charset)
			return imap_bad(c, error);
		imap_tagged(c, "NO", "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset.");
		return IMAP_CMD_OK;
	}
	if (imap_search_tag_reused(c, search)) {
		imap_search_free(&search);
		return imap_bad(c, "Tag reuse.");
	}
	if (c->rev2)
		imap_search_force_esearch(search);
	if (imap_search_indexes(c, search, &indexes, &count) < 0) {
		if ((imap_search_return(search) & IMAP_SEARCH_RETURN_SAVE) != 0)
			imap_searchres_clear(c); /* RFC 5182 2.1: "$" is then empty */
		imap_search_free(&search);
		imap_tagged(c, "NO", "[SERVERBUG] Search failed.");
		return IMAP_CMD_OK;
	}
	imap_search_reply(c, &search, indexes, count);
	xfree(&indexes);
	imap_search_free(&search);
	imap_ok(c, "Search completed.");
	return IMAP_CMD_OK;
}

/* CANCELUPDATE "tag" ... (RFC 5267 section 4.3.5): every tag must name a context. */
enum imap_cmd_result imap_cmd_cancelupdate(struct imap_client *c, const struct imap_arg *a,
                                           unsigned n)
{
	const char *tag;

	if (n == 0)
		return imap_bad(c, "CANCELUPDATE needs the tags of searches.");
	for (unsigned i = 0; i < n; i++) {
		if (!imap_arg_get_string(&a[i], &tag) || !imap_context_tag_in_use(c, tag))
			return imap_bad(c, "No search with that tag is being updated.");
	}
	for (unsigned i = 0; i < n; i++) {
		if (imap_arg_get_string(&a[i], &tag))
			(void)imap_context_cancel(c, tag);
	}
	imap_ok(c, "Updates cancelled.");
	return IMAP_CMD_OK;
}
