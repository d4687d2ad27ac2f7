/* IMAP sequence sets: see imap-seqset.h. */
#include "server/imap/imap-seqset.h"

#include "common/xalloc.h"

#include <ctype.h>

static int seq_number(const char **s, uint64_t *n_r)
{
	uint64_t n = 0;

	if (**s == '*') {
		(*s)++;
		*n_r = IMAP_SEQ_STAR;
		return 1;
	}
	if (**s < '1' || **s > '9')
		return -1;
	while (isdigit((unsigned char)**s)) {
		n = n * 10 + (uint64_t)(*(*s)++ - '0');
		if (n > UINT32_MAX)
			return -1;
	}
	*n_r = n;
	return 1;
}

int imap_seqset_parse(const char *str, struct imap_seq_range **ranges_r, unsigned int *count_r,
                      const char **error_r)
{
	struct imap_seq_range *ranges = NULL;
	unsigned int count = 0, alloc = 0;
	const char *s = str;

	for (;;) {
		uint64_t lo, hi;

		if (seq_number(&s, &lo) < 0)
			break;
		hi = lo;
		if (*s == ':' && (s++, seq_number(&s, &hi) < 0))
			break;
		if (count == alloc) {
			alloc = alloc == 0 ? 4 : alloc * 2;
			ranges = xreallocarray(ranges, alloc, sizeof(*ranges));
		}
		ranges[count].lo = lo < hi ? lo : hi;
		ranges[count++].hi = lo < hi ? hi : lo;
		if (*s == '\0') {
			*ranges_r = ranges;
			*count_r = count;
			return 1;
		}
		if (*s++ != ',')
			break;
	}
	xfree(&ranges);
	*error_r = "Invalid sequence set";
	return -1;
}

bool imap_seqset_contains(const struct imap_seq_range *ranges, unsigned int count, uint32_t n,
                          uint32_t star)
{
	for (unsigned int i = 0; i < count; i++) {
		uint64_t lo = ranges[i].lo == IMAP_SEQ_STAR ? star : ranges[i].lo;
		uint64_t hi = ranges[i].hi == IMAP_SEQ_STAR ? star : ranges[i].hi;

		if (lo > hi) {
			uint64_t t = lo;

			lo = hi;
			hi = t;
		}
		if (n >= lo && n <= hi)
			return true;
	}
	return false;
}
