/* The base subject (RFC 5256 section 2.1), worked on a span [start, end) of the decoded text. */
#include "server/imap/imap-subject.h"

#include "common/buf.h"
#include "storage/mime-decode.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

struct span {
	const char *s;
	size_t start, end;
};

static bool span_starts(const struct span *sp, size_t at, const char *word)
{
	size_t n = strlen(word);

	return sp->end - at >= n && strncasecmp(sp->s + at, word, n) == 0;
}

/* Step 1: encoded-words decoded, tabs and line ends made spaces, runs of spaces one space. */
static void subject_decode(const char *subject, struct buf *out)
{
	struct buf raw;
	bool space = false;

	buf_init(&raw);
	mime_decode_words(subject, &raw);
	for (size_t i = 0; i < raw.len; i++) {
		char c = raw.data[i];
		bool ws = c == ' ' || c == '\t' || c == '\r' || c == '\n';

		if (ws && space)
			continue;
		space = ws;
		buf_append(out, ws ? " " : &c, 1);
	}
	buf_free(&raw);
}

/* Step 2: trailing "(fwd)" and white space, as often as they come. True when a "(fwd)" went. */
static bool subject_trim_trailer(struct span *sp)
{
	bool fwd = false;

	for (;;) {
		if (sp->end > sp->start && sp->s[sp->end - 1] == ' ') {
			sp->end--;
		} else if (sp->end - sp->start >= 5 && span_starts(sp, sp->end - 5, "(fwd)")) {
			sp->end -= 5;
			fwd = true;
		} else {
			return fwd;
		}
	}
}

/* subj-blob = "[" *BLOBCHAR "]" *WSP: the offset after it, or at itself when none starts there. */
static size_t subject_blob(const struct span *sp, size_t at)
{
	size_t p = at;

	if (p >= sp->end || sp->s[p] != '[')
		return at;
	for (p++; p < sp->end && sp->s[p] != '[' && sp->s[p] != ']'; p++)
		;
	if (p >= sp->end || sp->s[p] != ']')
		return at;
	for (p++; p < sp->end && sp->s[p] == ' '; p++)
		;
	return p;
}

/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":": the offset after it, or at. */
static size_t subject_refwd(const struct span *sp, size_t at)
{
	size_t p = at;

	if (span_starts(sp, p, "re"))
		p += 2;
	else if (span_starts(sp, p, "fwd"))
		p += 3;
	else if (span_starts(sp, p, "fw"))
		p += 2;
	else
		return at;
	while (p < sp->end && sp->s[p] == ' ')
		p++;
	p = subject_blob(sp, p);
	return p < sp->end && sp->s[p] == ':' ? p + 1 : at;
}

/* Step 3: subj-leader = (*subj-blob subj-refwd) / WSP, removed as long as one is there. True
 * when something went; *refwd set when a subj-refwd did. */
static bool subject_trim_leaders(struct span *sp, bool *refwd)
{
	bool trimmed = false;

	for (;;) {
		size_t p = sp->start, next;

		if (p < sp->end && sp->s[p] == ' ') {
			sp->start++;
			trimmed = true;
			continue;
		}
		while ((next = subject_blob(sp, p)) != p)
			p = next;
		if ((next = subject_refwd(sp, p)) == p)
			return trimmed;
		sp->start = next;
		trimmed = *refwd = true;
	}
}

/* Step 4: a leading subj-blob goes when something is left behind it. */
static bool subject_trim_blob(struct span *sp)
{
	size_t p = subject_blob(sp, sp->start);

	if (p == sp->start || p >= sp->end)
		return false;
	sp->start = p;
	return true;
}

bool imap_base_subject(const char *subject, struct buf *out)
{
	struct buf text;
	struct span sp;
	bool refwd = false;

	buf_init(&text);
	if (subject != NULL)
		subject_decode(subject, &text);
	sp = (struct span){.s = text.data, .start = 0, .end = text.len};
	for (;;) {
		refwd |= subject_trim_trailer(&sp);
		for (;;) { /* steps 3 and 4, until neither finds anything */
			bool leaders = subject_trim_leaders(&sp, &refwd), blob = subject_trim_blob(&sp);

			if (!leaders && !blob)
				break;
		}
		/* step 6: "[Fwd: ...]" unwrapped, then from step 2 again */
		if (!span_starts(&sp, sp.start, "[fwd:") || sp.end - sp.start < 6 ||
		    sp.s[sp.end - 1] != ']')
			break;
		sp.start += 5;
		sp.end--;
		refwd = true;
	}
	if (sp.end > sp.start)
		buf_append(out, sp.s + sp.start, sp.end - sp.start);
	buf_free(&text);
	return refwd;
}

int imap_subject_cmp(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;

	for (;; x++, y++) {
		unsigned cx = *x >= 'a' && *x <= 'z' ? *x - 32u : *x;
		unsigned cy = *y >= 'a' && *y <= 'z' ? *y - 32u : *y;

		if (cx != cy || cx == 0)
			return (int)cx - (int)cy;
	}
}
