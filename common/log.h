/* Logging: stderr when in the foreground, syslog otherwise. Never pass a secret. */
#ifndef TWOFOLD_LOG_H
#define TWOFOLD_LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* ident: program name for syslog and the stderr prefix. */
void log_init(const char *ident, bool to_stderr);
void log_set_level(enum log_level level);
/* Prefix every line of this process with a role, e.g. "worker", "auth". */
void log_set_role(const char *role);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Client-supplied text (a user name, a client ID, a mailbox name) for a log line: as it is when
 * it is a plain token (ASCII letters, digits and . _ @ + - : /), else in double quotes with \" \\
 * and \xNN escapes for quotes, backslashes, controls and every non-ASCII byte, so that it can
 * neither end its field nor start another ("alice ip=192.0.2.1"). Text longer than
 * LOG_QUOTE_MAX bytes is cut and marked with "..." inside the quotes. NULL reads as "".
 * The result lives in one of LOG_QUOTE_SLOTS static buffers: pass it straight to one log call. */
#define LOG_QUOTE_MAX   256
#define LOG_QUOTE_SLOTS 8
const char *log_quote(const char *s);

/* Logs and exits the process with status 1: for bugs and peer protocol violations. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
