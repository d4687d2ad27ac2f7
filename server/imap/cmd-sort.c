/* SORT and THREAD, with their UID forms (RFC 5256): "SORT (criteria) charset search-keys" and
 * "THREAD algorithm charset search-keys". The search program is SEARCH's, with the charset the
 * command must name. */
#include "server/imap/imap-client.h"
#include "server/imap/imap-reply.h"
#include "server/imap/imap-search.h"
#include "server/imap/imap-sort.h"
#include "server/imap/imap-thread.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "server/conn.h"
#include "storage/storage.h"

#include <string.h>
#include <strings.h>

/* The search program of SORT as SEARCH's parser reads it: "[RETURN (...)] CHARSET charset
 * keys...", so that ESORT's return options (RFC 5267) are SEARCH's own. ret is the RETURN list
 * or NULL. */
static int imap_sort_search_parse(struct imap_client *c, const struct imap_arg *ret,
                                  const struct imap_arg *a, unsigned n,
                                  struct imap_search **search_r)
{
	static char charset[] = "CHARSET", ret_word[] = "RETURN";
	unsigned skip = ret != NULL ? 2 : 0;
	struct imap_arg *args = xcalloc((size_t)n + skip + 1, sizeof(*args));
	struct imap_arg prog = {.type = IMAP_ARG_LIST, .list = args, .count = n + skip + 1};
	const char *error = "Invalid search.";
	bool bad_charset;
	int r;

	if (ret != NULL) {
		args[0] = (struct imap_arg){.type = IMAP_ARG_ATOM, .str = ret_word, .str_len = 6};
		args[1] = *ret;
	}
	args[skip] = (struct imap_arg){.type = IMAP_ARG_ATOM, .str = charset, .str_len = 7};
	memcpy(args + skip + 1, a, n * sizeof(*args));
	r = imap_search_parse(&prog, search_r, &bad_charset, &error);
	xfree(&args);
	if (r == 0)
		return 0;
	if (bad_charset)
		imap_tagged(c, "NO", "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset.");
	else
		(void)imap_bad(c, error);
	return -1;
}

/* "* SORT n n n", or with RETURN an ESEARCH response whose MIN, MAX and ALL follow the sort
 * order (RFC 5267 section 3.1). */
static void imap_sort_reply(struct imap_client *c, const struct imap_search *search,
                            const size_t *indexes, size_t count)
{
	uint32_t *numbers;
	struct buf out;

	if (!imap_search_has_reply(search))
		return;
	numbers = xcalloc(count + 1, sizeof(uint32_t));
	imap_search_numbers(c, indexes, count, numbers);
	buf_init(&out);
	if (imap_search_is_esearch(search)) {
		imap_search_render(search, c->tag, c->uid, numbers, count, &out);
	} else {
		buf_append_str(&out, "* SORT");
		for (size_t i = 0; i < count; i++)
			buf_printf(&out, " %u", numbers[i]);
	}
	buf_append_str(&out, "\r\n");
	conn_write(c->conn, out.data, out.len);
	buf_free(&out);
	xfree(&numbers);
}

/* ESORT: "SORT RETURN (options) (criteria) ...". Skips the RETURN and its list in *a / *n and
 * sets *ret_r to the list (NULL without RETURN). -1 when RETURN has no list. */
static int imap_sort_return(const struct imap_arg **a, unsigned *n, const struct imap_arg **ret_r)
{
	const char *word;

	*ret_r = NULL;
	if (*n == 0 || !imap_arg_get_atom(&(*a)[0], &word) || strcasecmp(word, "RETURN") != 0)
		return 0;
	if (*n < 2 || (*a)[1].type != IMAP_ARG_LIST)
		return -1;
	*ret_r = &(*a)[1];
	*a += 2;
	*n -= 2;
	return 0;
}

enum imap_cmd_result imap_cmd_sort(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	const struct imap_arg *ret;
	struct imap_sort *sort;
	struct imap_search *search;
	const char *error = NULL;
	size_t *indexes = NULL, count = 0;

	if (imap_sort_return(&a, &n, &ret) < 0)
		return imap_bad(c, "RETURN needs a list of options.");
	if (n < 3)
		return imap_bad(c, "SORT needs sort criteria, a charset and search keys.");
	if (imap_sort_parse(&a[0], &sort, &error) < 0)
		return imap_bad(c, error);
	if (imap_sort_search_parse(c, ret, a + 1, n - 1, &search) < 0) {
		imap_sort_free(&sort);
		return IMAP_CMD_OK;
	}
	if (imap_search_tag_reused(c, search)) {
		imap_search_free(&search);
		imap_sort_free(&sort);
		return imap_bad(c, "Tag reuse.");
	}
	if (imap_search_indexes(c, search, &indexes, &count) < 0 ||
	    imap_sort_run(sort, c->box, indexes, count, &error) < 0) {
		if (error != NULL)
			log_error("imap user=%s: sort failed: %s", c->user, error);
		if ((imap_search_return(search) & IMAP_SEARCH_RETURN_SAVE) != 0)
			imap_searchres_clear(c); /* RFC 5182 2.1: "$" is then empty */
		imap_tagged(c, "NO", "[SERVERBUG] Sort failed.");
	} else {
		imap_sort_reply(c, search, indexes, count);
		imap_searchres_save(c, search, indexes, count);
		imap_search_keep(c, &search, &sort, indexes, count);
		imap_ok(c, "Sort completed.");
	}
	xfree(&indexes);
	imap_search_free(&search);
	imap_sort_free(&sort);
	return IMAP_CMD_OK;
}

/* The threads of the matching messages, "* THREAD (1 2)(3)". 0 ok, -1 error (*error_r). */
static int imap_thread_reply(struct imap_client *c, enum imap_thread_algorithm alg,
                             const size_t *indexes, size_t count, const char **error_r)
{
	struct imap_sort_keys *keys = xcalloc(count + 1, sizeof(*keys));
	struct imap_thread_msg *msgs = xcalloc(count + 1, sizeof(*msgs));
	uint32_t *numbers = xcalloc(count + 1, sizeof(uint32_t));
	struct mail_sizes sizes;
	struct buf out;
	int ret = 0;

	imap_search_numbers(c, indexes, count, numbers);
	for (size_t i = 0; i < count && ret == 0; i++) {
		sizes = (struct mail_sizes){.date = 0};
		ret = mailbox_msg_sizes(c->box, indexes[i], &sizes, error_r) < 0 ||
		              imap_sort_keys_load(c->box, indexes[i], &keys[i], error_r) < 0
		          ? -1
		          : 0;
		/* no readable Date: the internal date (RFC 5256 section 2.2) */
		msgs[i] = (struct imap_thread_msg){.number = numbers[i],
		                                   .date = keys[i].date != 0 ? keys[i].date : sizes.date,
		                                   .keys = &keys[i]};
	}
	if (ret == 0) {
		buf_init(&out);
		buf_append_str(&out, count > 0 ? "* THREAD " : "* THREAD");
		imap_thread_render(alg, msgs, count, &out);
		buf_append_str(&out, "\r\n");
		conn_write(c->conn, out.data, out.len);
		buf_free(&out);
	}
	for (size_t i = 0; i < count; i++)
		imap_sort_keys_clear(&keys[i]);
	xfree(&keys);
	xfree(&msgs);
	xfree(&numbers);
	return ret;
}

enum imap_cmd_result imap_cmd_thread(struct imap_client *c, const struct imap_arg *a, unsigned n)
{
	enum imap_thread_algorithm alg;
	struct imap_search *search;
	const char *name, *error = NULL;
	size_t *indexes = NULL, count = 0;

	if (n < 3)
		return imap_bad(c, "THREAD needs an algorithm, a charset and search keys.");
	if (!imap_arg_get_atom(&a[0], &name) || imap_thread_algorithm_parse(name, &alg) < 0)
		return imap_bad(c, "Unknown threading algorithm.");
	if (imap_sort_search_parse(c, NULL, a + 1, n - 1, &search) < 0)
		return IMAP_CMD_OK;
	if (imap_search_indexes(c, search, &indexes, &count) < 0 ||
	    imap_thread_reply(c, alg, indexes, count, &error) < 0) {
		if (error != NULL)
			log_error("imap user=%s: thread failed: %s", c->user, error);
		imap_tagged(c, "NO", "[SERVERBUG] Thread failed.");
	} else {
		imap_ok(c, "Thread completed.");
	}
	xfree(&indexes);
	imap_search_free(&search);
	return IMAP_CMD_OK;
}
