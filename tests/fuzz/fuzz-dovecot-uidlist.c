/* dovecot-uidlist and dovecot-keywords lie in the user's maildir: anyone who could write there
 * (or a broken Dovecot) may have left anything. Feeds the input whole and in two pieces split
 * where its first byte says: both must agree, and an accepted list must be consistent. The same
 * bytes go to the keywords parser. */
#include "common/xalloc.h"
#include "storage/dovecot-keywords.h"
#include "storage/dovecot-uidlist.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dovecot_uidlist *parse(const uint8_t *data, size_t size, size_t split)
{
	struct dovecot_uidlist_parser *p = dovecot_uidlist_parser_new();
	struct dovecot_uidlist *list = NULL;
	const char *error = NULL;

	(void)dovecot_uidlist_parser_feed(p, data, split, &error);
	(void)dovecot_uidlist_parser_feed(p, data + split, size - split, &error);
	if (dovecot_uidlist_parser_finish(&p, &list, &error) < 0) {
		if (error == NULL || list != NULL)
			abort();
		return NULL;
	}
	if (p != NULL || list == NULL || dovecot_uidlist_uidvalidity(list) == 0 ||
	    dovecot_uidlist_next_uid(list) == 0 || dovecot_uidlist_count(list) > size / 4)
		abort();
	return list;
}

static void check_keywords(const uint8_t *data, size_t size)
{
	struct dovecot_keywords kw;
	const char *error = NULL;
	int ret = dovecot_keywords_parse(data, size, &kw, &error);

	for (size_t i = 0; i < DOVECOT_KEYWORDS_MAX; i++) {
		if (kw.names[i] != NULL &&
		    (ret < 0 || kw.names[i][0] == '\0' || strchr(kw.names[i], ' ') != NULL))
			abort();
	}
	if ((ret < 0) != (error != NULL))
		abort();
	dovecot_keywords_clear(&kw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dovecot_uidlist *whole, *split;

	if (size == 0)
		return 0;
	whole = parse(data + 1, size - 1, size - 1);
	split = parse(data + 1, size - 1, data[0] % size);
	if ((whole == NULL) != (split == NULL))
		abort();
	if (whole != NULL &&
	    (dovecot_uidlist_uidvalidity(whole) != dovecot_uidlist_uidvalidity(split) ||
	     dovecot_uidlist_next_uid(whole) != dovecot_uidlist_next_uid(split) ||
	     dovecot_uidlist_count(whole) != dovecot_uidlist_count(split)))
		abort();
	dovecot_uidlist_free(&whole);
	dovecot_uidlist_free(&split);
	check_keywords(data + 1, size - 1);
	return 0;
}
