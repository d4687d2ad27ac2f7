/* SEARCH and UID SEARCH: the command around the SEARCH engine (imap-search.h). */
#include "server/imap/imap-client.h"
#include "server/imap/imap-reply.h"
#include "server/imap/imap-search.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "server/conn.h"
#include "storage/storage.h"

int imap_search_indexes(struct imap_client *c, struct imap_search *search, size_t **indexes_r,
                        size_t *count_r)
{
	size_t *indexes = xcalloc((size_t)c->known_count + 1, sizeof(size_t));
	size_t count = 0;
	const char *error;

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

/* Matches every message the client knows of; *matches_r holds sequence numbers or UIDs,
 * *modseq_r the highest MODSEQ among them. */
static int imap_search_run(struct imap_client *c, struct imap_search *search, uint32_t **matches_r,
                           size_t *count_r, uint64_t *modseq_r)
{
	size_t *indexes;

	if (imap_search_indexes(c, search, &indexes, count_r) < 0)
		return -1;
	*matches_r = xcalloc(*count_r + 1, sizeof(uint32_t));
	imap_search_numbers(c, indexes, *count_r, *matches_r);
	for (size_t i = 0; i < *count_r; i++) {
		if (mailbox_get(c->box, indexes[i])->modseq > *modseq_r)
			*modseq_r = mailbox_get(c->box, indexes[i])->modseq;
	}
	xfree(&indexes);
	return 0;
}

enum imap_cmd_result imap_cmd_search(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	struct imap_arg args = {.type = IMAP_ARG_LIST, .list = (struct imap_arg *)a, .count = n};
	struct imap_search *search;
	const char *error = "Invalid search.";
	bool bad_charset;
	uint32_t *matches;
	size_t count;
	uint64_t modseq = 0;
	struct buf out;

	if (n == 0)
		return imap_bad(c, "SEARCH needs search keys.");
	if (imap_search_parse(&args, &search, &bad_charset, &error) < 0) {
		if (!bad_charset)
			return imap_bad(c, error);
		imap_tagged(c, "NO", "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset.");
		return IMAP_CMD_OK;
	}
	if (imap_search_run(c, search, &matches, &count, &modseq) < 0) {
		imap_search_free(&search);
		imap_tagged(c, "NO", "[SERVERBUG] Search failed.");
		return IMAP_CMD_OK;
	}
	buf_init(&out);
	imap_search_render(search, c->tag, c->uid, matches, count, &out);
	if (imap_search_has_modseq(search))
		imap_search_modseq_render(c, imap_search_is_esearch(search), modseq, count, &out);
	buf_append_str(&out, "\r\n");
	conn_write(c->conn, out.data, out.len);
	buf_free(&out);
	xfree(&matches);
	imap_search_free(&search);
	imap_ok(c, "Search completed.");
	return IMAP_CMD_OK;
}
