/*
 * THREAD over messages made from any bytes: each line "id|references|subject|date|reply" is a
 * message's keys. Both algorithms must write every message exactly once, with balanced
 * parentheses and no empty thread, whatever loops, duplicates and missing parents the
 * references make.
 */
#include "server/imap/imap-sort.h"
#include "server/imap/imap-thread.h"

#include "common/buf.h"
#include "common/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_THREAD_MAX_MSGS 200

static char *field(char **line)
{
	char *f = *line, *bar = strchr(f, '|');

	if (bar != NULL) {
		*bar = '\0';
		*line = bar + 1;
	} else {
		*line = f + strlen(f);
	}
	return xstrdup(f);
}

/* Each number 1..n exactly once, parentheses balanced, never "()". */
static void check_render(const char *s, size_t n)
{
	unsigned char *seen = calloc(n + 1, 1);
	int depth = 0;

	for (const char *p = s; *p != '\0';) {
		if (*p == '(' || *p == ')') {
			depth += *p == '(' ? 1 : -1;
			if (depth < 0 || (p[0] == '(' && p[1] == ')'))
				abort();
			p++;
		} else if (*p == ' ') {
			p++;
		} else {
			char *end;
			unsigned long v = strtoul(p, &end, 10);

			if (end == p || v == 0 || v > n || seen[v]++)
				abort();
			p = end;
		}
	}
	for (size_t i = 1; i <= n; i++) {
		if (!seen[i])
			abort();
	}
	if (depth != 0)
		abort();
	free(seen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xstrndup((const char *)data, size), *save = NULL;
	struct imap_sort_keys keys[FUZZ_THREAD_MAX_MSGS];
	struct imap_thread_msg msgs[FUZZ_THREAD_MAX_MSGS];
	size_t n = 0;

	for (char *line = strtok_r(text, "\n", &save); line != NULL && n < FUZZ_THREAD_MAX_MSGS;
	     line = strtok_r(NULL, "\n", &save), n++) {
		char *date;

		memset(&keys[n], 0, sizeof(keys[n]));
		for (int t = 0; t < SORT_TEXT_COUNT; t++)
			keys[n].text[t] = xstrdup("");
		xfree(&keys[n].text[SORT_TEXT_MESSAGE_ID]);
		keys[n].text[SORT_TEXT_MESSAGE_ID] = field(&line);
		xfree(&keys[n].text[SORT_TEXT_REFERENCES]);
		keys[n].text[SORT_TEXT_REFERENCES] = field(&line);
		xfree(&keys[n].text[SORT_TEXT_SUBJECT]);
		keys[n].text[SORT_TEXT_SUBJECT] = field(&line);
		date = field(&line);
		keys[n].reply = *line == '1';
		msgs[n] = (struct imap_thread_msg){.number = (uint32_t)n + 1,
		                                   .date = (time_t)strtol(date, NULL, 10) % 1000,
		                                   .keys = &keys[n]};
		xfree(&date);
	}
	for (int alg = IMAP_THREAD_ORDEREDSUBJECT; alg <= IMAP_THREAD_REFERENCES; alg++) {
		struct buf out;

		buf_init(&out);
		imap_thread_render((enum imap_thread_algorithm)alg, msgs, n, &out);
		check_render(out.len > 0 ? out.data : "", n);
		buf_free(&out);
	}
	for (size_t i = 0; i < n; i++)
		imap_sort_keys_clear(&keys[i]);
	xfree(&text);
	return 0;
}
