/* Fuzz target for server/imap/imap-parser.c. The first byte picks the limits and a chunk size;
 * the rest is fed as client input, accepting every literal and resetting after each command, the
 * way a session loop would. A top-level literal of odd size after the first argument is taken
 * by the caller (its data skipped), as APPEND streams its message. Each command's tree is walked
 * and each atom tried as a sequence set, a UID set (QRESYNC's known-uids, set operations
 * checked against each other) and a MODSEQ, each list as CONDSTORE modifiers and SELECT
 * parameters (QRESYNC's included), each position as SEARCH's MODSEQ key,
 * and each list and section as FETCH items (BODY/BINARY sections, partials). */
#include "common/buf.h"
#include "common/xalloc.h"
#include "server/imap/imap-condstore.h"
#include "server/imap/imap-fetch.h"
#include "server/imap/imap-parser.h"
#include "server/imap/imap-seqset.h"
#include "server/imap/imap-uidset.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk_condstore(const struct imap_arg *arg)
{
	struct imap_fetch_mods fetch_mods;
	struct imap_select_params params;
	const char *error;
	uint64_t modseq;

	if (arg->type == IMAP_ARG_ATOM)
		(void)imap_modseq_parse(arg->str, (arg->str_len & 1) != 0, &modseq);
	if (arg->type != IMAP_ARG_LIST)
		return;
	(void)imap_fetch_mods_parse(arg, &fetch_mods, &error);
	(void)imap_store_mods_parse(arg, &modseq, &error);
	(void)imap_select_params_parse(arg, &params, &error);
	imap_select_params_free(&params);
	for (unsigned int i = 0; i < arg->count; i++) {
		int took = imap_search_modseq_parse(&arg->list[i], arg->count - i, &modseq);

		if (took > (int)(arg->count - i))
			__builtin_trap();
	}
}

/* A set must come out sorted and merged; a set minus itself is empty, and intersected with
 * itself unchanged. */
static void walk_uidset(const char *str)
{
	static const uint32_t present[] = {1, 2, 5, 9, 4000000000U};
	struct mailbox_uid_range *set, *out;
	size_t count, out_count;
	uint32_t *nums;
	struct buf text;

	if (imap_uidset_parse(str, 7, &set, &count) < 0)
		return;
	for (size_t i = 0; i < count; i++) {
		if (set[i].lo > set[i].hi || (i > 0 && (uint64_t)set[i - 1].hi + 1 >= set[i].lo))
			__builtin_trap();
	}
	imap_uidset_intersect(set, count, set, count, &out, &out_count);
	if (out_count != count || (count > 0 && memcmp(out, set, count * sizeof(*set)) != 0))
		__builtin_trap();
	xfree(&out);
	nums = xcalloc(count * 2 + 1, sizeof(*nums));
	for (size_t i = 0; i < count; i++)
		nums[i] = set[i].lo; /* ascending, in the set */
	imap_uidset_absent(set, count, nums, count, &out, &out_count);
	if (imap_uidset_size(out, out_count) + count != imap_uidset_size(set, count))
		__builtin_trap();
	xfree(&out);
	xfree(&nums);
	imap_uidset_absent(set, count, present, 5, &out, &out_count);
	buf_init(&text);
	imap_uidset_render(&text, out, out_count);
	buf_free(&text);
	xfree(&out);
	xfree(&set);
}

static void walk(const struct imap_arg *arg, unsigned int depth)
{
	struct imap_seq_range *ranges;
	unsigned int count;
	const char *error;

	if (arg->type == IMAP_ARG_ATOM &&
	    imap_seqset_parse(arg->str, &ranges, &count, &error) > 0) {
		(void)imap_seqset_contains(ranges, count, 7, 10);
		xfree(&ranges);
	}
	if (arg->type == IMAP_ARG_ATOM)
		walk_uidset(arg->str);
	if (arg->str != NULL && strlen(arg->str) > arg->str_len)
		__builtin_trap();
	if (arg->type == IMAP_ARG_LITERAL_TAKEN && arg->str != NULL)
		__builtin_trap();
	if (arg->type == IMAP_ARG_LIST || arg->type == IMAP_ARG_SECTION) {
		struct imap_fetch *fetch = NULL;

		if (imap_fetch_parse(arg, (arg->count & 1) != 0, &fetch, &error) == 0)
			imap_fetch_free(&fetch);
		else if (fetch != NULL)
			__builtin_trap();
	}
	walk_condstore(arg);
	for (unsigned int i = 0; i < arg->count; i++)
		walk(&arg->list[i], depth + 1);
}

static bool take_literal(const struct imap_parser *p)
{
	unsigned int index;

	return imap_parser_literal_top_level(p, &index) && index >= 1 &&
	       imap_parser_literal_size(p) % 2 == 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser_limits lim = imap_parser_limits_default;
	struct imap_parser *p;
	size_t chunk, pos = 1;

	if (size == 0)
		return 0;
	if (data[0] & 1)
		lim = imap_parser_limits_prelogin;
	lim.max_literal = 4096;
	chunk = (data[0] >> 1) == 0 ? size : (size_t)(data[0] >> 1);
	p = imap_parser_new(&lim);
	while (pos < size) {
		size_t n = size - pos < chunk ? size - pos : chunk, used;
		enum imap_parse_result r = imap_parser_feed(p, data + pos, n, &used);

		if (used > n)
			__builtin_trap();
		pos += used;
		if (imap_parser_command_size(p) > (uint64_t)size)
			__builtin_trap();
		if (r == IMAP_PARSE_LITERAL && take_literal(p)) {
			uint64_t skip = imap_parser_literal_size(p);

			r = imap_parser_literal_taken(p);
			pos += skip < size - pos ? (size_t)skip : size - pos;
		}
		if (r == IMAP_PARSE_DONE)
			walk(imap_parser_args(p), 0);
		if (r == IMAP_PARSE_ERROR && imap_parser_error(p) == NULL)
			__builtin_trap();
		if (r == IMAP_PARSE_ERROR && imap_parser_error_is_fatal(p))
			break;
	}
	imap_parser_free(&p);
	return 0;
}
