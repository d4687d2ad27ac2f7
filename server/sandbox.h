/*
 * Confinement beyond chroot and uid: what a process may still do or reach if an attacker runs
 * code in it. sandbox_seccomp_* (server/sandbox-seccomp.c): a seccomp allow-list per process
 * kind; sandbox_audit_* (server/sandbox-audit.c): in the master, which call killed a child;
 * sandbox_landlock_* (server/sandbox-landlock.c) confines a worker after login to the user's
 * maildir with Landlock.
 */
#ifndef TWOFOLD_SANDBOX_H
#define TWOFOLD_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The process kinds with an allow-list of their own. */
enum sandbox_kind {
	SANDBOX_WORKER,         /* from its start: before login, and all a session needs */
	SANDBOX_WORKER_SESSION, /* stacked on SANDBOX_WORKER at login: one user's session */
	SANDBOX_AUTH,
	SANDBOX_KEY,
	SANDBOX_PORTAL, /* libmicrohttpd's threads: HTTPS, pages, requests to auth */
	SANDBOX_NOTICE, /* held-login notices into INBOXes the auth processes hand it */
	SANDBOX_WATCH,  /* IDLE's inotify watches on mailboxes the workers hand it */
	SANDBOX_KINDS
};

/* Sets no_new_privs and loads kind's seccomp filter: from now on any other system call (or a
 * listed one with arguments the list does not allow) kills the process with SIGSYS. Filters
 * stack: a later load only narrows. Call it while the process has one thread. 0, or -1 with
 * *error_r: the process must not go on. */
int sandbox_seccomp_load(enum sandbox_kind kind, const char **error_r);
/* The kind's name, for log lines. */
const char *sandbox_seccomp_name(enum sandbox_kind kind);

/* In the master, about a child that died of SIGSYS: the call its filter refused, as
 * "NAME (NUMBER)" in buf, from the kernel's audit record in its log (/dev/kmsg; waits up to
 * 0.2 s for the record to appear). 1 found; 0 not (not root, an audit daemon took the record,
 * the child was in another pid namespace). */
int sandbox_audit_find(pid_t pid, char *buf, size_t size);
/* Reads one /dev/kmsg record (rec[0..len), not terminated): 1 when it is the seccomp audit
 * record (type=1326) of pid, with the call's architecture token and number; else 0. */
int sandbox_audit_parse(const char *rec, size_t len, long pid, uint32_t *arch_r, int *nr_r);

/* The Landlock ABI version the kernel offers, 0 when it has none (too old, or disabled at
 * boot). Asked once per process; a forked child inherits the answer. */
int sandbox_landlock_abi(void);

/* In the master at start: says once in the log whether workers will be confined (info) or why
 * not (warning: an old kernel; the storage's RESOLVE_BENEATH opens still hold). */
void sandbox_landlock_report(void);

/* Confines the calling thread, and the threads and processes it starts afterwards (so call it
 * while the process has one thread), to the directory tree beneath dirfd: files and directories
 * there may be read, written, created, renamed, linked and removed; nothing else in the file
 * system can be opened or changed (EACCES), no symlink, device node, FIFO or socket file can be
 * made, nothing executed. Where the kernel has them, it can also neither bind nor connect a TCP
 * port (ABI 4), nor connect to an abstract UNIX socket or signal a process outside the
 * confinement (ABI 6). Sets no_new_privs. Cannot be undone: a second call only narrows.
 * 1 confined, 0 the kernel's Landlock cannot do it (below ABI 2, which a maildir needs for
 * renames between its directories; sandbox_landlock_report said so), -1 error (*error_r):
 * the process must not go on serving as if it were confined. */
int sandbox_landlock_confine(int dirfd, const char **error_r);

#endif
