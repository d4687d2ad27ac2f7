#include "storage/dovecot-keywords.h"
#include "storage/beneath.h"
#include "storage/storage-private.h"

#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

void dovecot_keywords_clear(struct dovecot_keywords *kw)
{
	for (size_t i = 0; i < DOVECOT_KEYWORDS_MAX; i++)
		xfree(&kw->names[i]);
}

/* One line (without its newline): "<number> <name>". NULL ok, else the reason it is broken. */
static const char *keywords_line(const char *line, size_t len, struct dovecot_keywords *kw)
{
	size_t num = 0, i = 0;
	char *name;

	if (len == 0)
		return NULL;
	for (; i < len && line[i] >= '0' && line[i] <= '9' && num < DOVECOT_KEYWORDS_MAX; i++)
		num = num * 10 + (size_t)(line[i] - '0');
	if (i == 0 || i == len || line[i] != ' ' || num >= DOVECOT_KEYWORDS_MAX)
		return "bad keyword number";
	if (kw->names[num] != NULL)
		return "keyword number listed twice";
	name = xstrndup(line + i + 1, len - i - 1);
	if (memchr(line + i + 1, '\0', len - i - 1) != NULL || !mailbox_keyword_valid(name)) {
		xfree(&name); /* a letter without a usable name stays without a keyword */
		return NULL;
	}
	kw->names[num] = name;
	return NULL;
}

int dovecot_keywords_parse(const void *data, size_t len, struct dovecot_keywords *kw,
                           const char **error_r)
{
	const char *s = data, *end = s + len;

	memset(kw, 0, sizeof(*kw));
	*error_r = len > DOVECOT_KEYWORDS_BYTES_MAX ? "file too big" : NULL;
	while (*error_r == NULL && s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));

		if (nl == NULL)
			break; /* an unterminated last line is not finished */
		*error_r = keywords_line(s, (size_t)(nl - s), kw);
		s = nl + 1;
	}
	if (*error_r == NULL)
		return 0;
	dovecot_keywords_clear(kw);
	return -1;
}

int dovecot_keywords_read(int dirfd, struct dovecot_keywords *kw)
{
	char text[DOVECOT_KEYWORDS_BYTES_MAX + 1];
	const char *error;
	ssize_t n;
	int err,
	    fd = beneath_open(dirfd, DOVECOT_KEYWORDS_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);

	memset(kw, 0, sizeof(*kw));
	if (fd < 0) {
		if (errno != ENOENT)
			log_warn("storage: %s unreadable, ignored: %s", DOVECOT_KEYWORDS_FILE,
			         strerror(errno));
		return 0;
	}
	n = read(fd, text, sizeof(text));
	err = errno;
	close(fd);
	if (n < 0) {
		log_warn("storage: %s unreadable, ignored: %s", DOVECOT_KEYWORDS_FILE,
		         strerror(err));
		return 0;
	}
	if (dovecot_keywords_parse(text, (size_t)n, kw, &error) < 0) {
		log_warn("storage: %s ignored: %s", DOVECOT_KEYWORDS_FILE, error);
		return 0;
	}
	return 1;
}
