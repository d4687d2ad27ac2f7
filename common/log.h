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
/* Logs and exits the process with status 1: for bugs and peer protocol violations. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
