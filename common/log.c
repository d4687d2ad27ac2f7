#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "twofold";
static const char *log_role = NULL;
static bool log_stderr = true;
static enum log_level log_max = LOG_LEVEL_INFO;

void log_init(const char *ident, bool to_stderr)
{
	log_ident = ident;
	log_stderr = to_stderr;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void log_set_level(enum log_level level)
{
	log_max = level;
}

void log_set_role(const char *role)
{
	log_role = role;
}

/* Log lines are single lines that a terminal shows as they are: control bytes from any source
 * are masked, and so are C1 controls in UTF-8 (0xc2 0x80..0x9f; U+009B is CSI). */
static void log_mask_controls(char *msg)
{
	for (unsigned char *p = (unsigned char *)msg; *p != '\0'; p++) {
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			p[0] = p[1] = '?';
			p++;
		} else if (*p < 0x20 || *p == 0x7f) {
			*p = '?';
		}
	}
}

static bool log_plain_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("._@+-:/", c) != NULL);
}

static bool log_plain_token(const char *s, size_t len)
{
	if (len == 0 || len > LOG_QUOTE_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!log_plain_char((unsigned char)s[i]))
			return false;
	return true;
}

/* Writes s[0..len) escaped into out, which has room for 4 bytes per input byte. */
static char *log_escape(char *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			*out++ = '\\';
			*out++ = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			*out++ = '\\';
			*out++ = 'x';
			*out++ = hex[c >> 4];
			*out++ = hex[c & 0xf];
		} else {
			*out++ = (char)c;
		}
	}
	return out;
}

const char *log_quote(const char *s)
{
	static char slots[LOG_QUOTE_SLOTS][4 * LOG_QUOTE_MAX + 8];
	static unsigned next;
	char *buf = slots[next++ % LOG_QUOTE_SLOTS], *o = buf;
	size_t len = s != NULL ? strnlen(s, LOG_QUOTE_MAX + 1) : 0;

	if (log_plain_token(s, len))
		return memcpy(buf, s, len + 1);
	*o++ = '"';
	o = log_escape(o, s, len > LOG_QUOTE_MAX ? LOG_QUOTE_MAX : len);
	if (len > LOG_QUOTE_MAX) {
		memcpy(o, "...", 3);
		o += 3;
	}
	*o++ = '"';
	*o = '\0';
	return buf;
}

static void log_vwrite(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	static const char *names[] = {"error", "warning", "info", "debug"};
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	char msg[2048];
	int n;

	if (level > log_max)
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	log_mask_controls(msg);
	if (log_stderr) {
		fprintf(stderr, "%s[%ld]: %s%s%s: %s\n", log_ident, (long)getpid(),
		        log_role != NULL ? log_role : "", log_role != NULL ? ": " : "",
		        names[level], msg);
	} else {
		syslog(prio[level], "%s%s%s", log_role != NULL ? log_role : "",
		       log_role != NULL ? ": " : "", msg);
	}
}

#define LOG_FN(fn, level)                                                                          \
	void fn(const char *fmt, ...)                                                              \
	{                                                                                          \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		log_vwrite(level, fmt, ap);                                                        \
		va_end(ap);                                                                        \
	}
LOG_FN(log_error, LOG_LEVEL_ERROR)
LOG_FN(log_warn, LOG_LEVEL_WARN)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_debug, LOG_LEVEL_DEBUG)

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
