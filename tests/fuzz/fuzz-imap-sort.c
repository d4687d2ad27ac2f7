/*
 * What SORT reads from a message: any bytes as a header (the keys: date, base subject, first
 * addresses), as a Subject: value and as a Date: value. Checks that the base subject neither
 * starts nor ends with a space and is never longer than its decoded input allows, and that the
 * keys compare equal to themselves.
 */
#include "server/imap/imap-sort.h"
#include "server/imap/imap-subject.h"

#include "common/buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Encoded-words decode to at most a few times their length (charsets to UTF-8). */
#define SUBJECT_GROWTH_MAX 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct imap_sort_keys keys;
	struct buf base;
	time_t t;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	imap_sort_keys_parse((const char *)data, size, &keys);
	for (int i = 0; i < SORT_TEXT_COUNT; i++) {
		if (keys.text[i] == NULL || imap_subject_cmp(keys.text[i], keys.text[i]) != 0)
			abort();
	}
	imap_sort_keys_clear(&keys);
	buf_init(&base);
	imap_base_subject(text, &base);
	if (base.len > 0 && (base.data[0] == ' ' || base.data[base.len - 1] == ' '))
		abort();
	if (base.len > SUBJECT_GROWTH_MAX * size + 3)
		abort();
	buf_free(&base);
	(void)imap_sort_date_parse(text, &t);
	free(text);
	return 0;
}
